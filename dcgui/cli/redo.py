"""``dcgui redo SESSION [--steps N]``: take back the last undos."""

from __future__ import annotations

import argparse
from typing import Any

from dcgui.cli import undo
from dcgui.cli.common import add_session_parser, steps_flag


def register(sub: Any) -> None:
    p = add_session_parser(sub, "redo", help="redo edits that were undone",
                   description="Redo the last N undone edits, in the order they were made. A new edit "
                   "after an undo drops the undone ones (as in any editor).", run=run, redo=True)
    steps_flag(p, "redo")


def run(args: argparse.Namespace) -> int:
    """Undo's code with ``redo=True``: the two differ only in direction."""
    return undo.run(args)
