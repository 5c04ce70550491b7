"""``dcgui redo SESSION [--steps N]``: take back the last undos."""

from __future__ import annotations

from typing import Any

from dcgui.cli.common import SESSION_HELP, add_parser
from dcgui.cli.undo import run


def register(sub: Any) -> None:
    p = add_parser(sub, "redo", help="redo edits that were undone",
                   description="Redo the last N undone edits, in the order they were made. A new edit "
                   "after an undo drops the undone ones (as in any editor).")
    p.add_argument("session", metavar="SESSION", help=SESSION_HELP)
    p.add_argument("--steps", type=int, default=1, metavar="N", help="how many edits to redo (default 1)")
    p.set_defaults(func=run, redo=True)
