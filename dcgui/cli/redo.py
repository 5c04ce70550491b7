"""``dcgui redo SESSION [--steps N]``: take back the last undos."""

from __future__ import annotations

import argparse
from typing import Any

from dcgui.cli import undo
from dcgui.cli.common import add_session_parser


def register(sub: Any) -> None:
    p = add_session_parser(sub, "redo", help="redo edits that were undone",
                   description="Redo the last N undone edits, in the order they were made. A new edit "
                   "after an undo drops the undone ones (as in any editor).")
    p.add_argument("--steps", type=int, default=1, metavar="N", help="how many edits to redo (default 1)")
    p.set_defaults(func=run, redo=True)


def run(args: argparse.Namespace) -> int:
    """Undo's code with ``redo=True``: the two differ only in direction."""
    return undo.run(args)
