"""``dcgui edits SESSION``: the log of the user's edits, newest last (what undo and redo take)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from dcgui.cli.common import add_session_parser, json_flag, say


def register(sub: Any) -> None:
    p = add_session_parser(sub, "edits", help="list the edits made to a session (flags, names, merges, ...)",
                   description="Every edit of the session's user data (image flags, cluster names, tags "
                   "and notes, merges, splits, bulk actions), oldest first, as stored in the session file. "
                   "`dcgui undo` takes back the last one not undone; undone ones (marked 'undone') can "
                   "be redone with `dcgui redo` until a new edit is made.", run=run)
    json_flag(p, "machine-readable output")


def run(args: argparse.Namespace) -> int:
    from dcgui.services.session import open_session

    with open_session(args.session) as store:
        log = store.edit_log()
    if args.json:
        say(json.dumps([r.to_dict() for r in log], indent=2))
        return 0
    if not log:
        say("no edits yet")
        return 0
    say(f"{'id':>5}  {'time (UTC)':<25}  {'state':<6}  edit")
    for r in log:
        say(f"{r.id:>5}  {r.time:<25}  {'undone' if r.undone else 'archived' if r.archived else 'done':<6}  {r.summary}")
    return 0
