"""``dcgui undo SESSION [--steps N]``: take back the last edits (also those made in the window)."""

from __future__ import annotations

import argparse
from typing import Any

from dcgui.cli.common import add_session_parser, say, steps_flag


def register(sub: Any) -> None:
    p = add_session_parser(sub, "undo", help="undo the last edits of a session",
                   description="Undo the last N edits of the session's user data (flags, names, tags, notes, "
                   "merges, splits, bulk actions), newest first, exactly as they were before: another flag, "
                   "who set it, or none. Works on edits made in the window and after reopening the session. "
                   "`dcgui redo` takes the undo back; `dcgui edits` lists the log.", run=run, redo=False)
    steps_flag(p, "undo")


def run(args: argparse.Namespace) -> int:
    from dcgui.services.edits import undo_or_redo
    from dcgui.services.session import open_session

    verb = "redo" if args.redo else "undo"
    with open_session(args.session, readonly=False) as store:
        done = undo_or_redo(store, args.steps, args.redo)
        undo_next, redo_next = store.next_undo_redo()
    if not done:
        say(f"nothing to {verb}" + ("" if args.redo else ": the session has no edit left to undo"))
        return 0
    for r in done:
        say(f"{'redone' if args.redo else 'undone'}: {r.summary}")
    if len(done) < args.steps:
        say(f"({len(done)} of {args.steps}: no more edits to {verb})")
    nxt = redo_next if args.redo else undo_next
    if nxt is not None:
        say(f"next {verb}: {nxt.summary}")
    return 0
