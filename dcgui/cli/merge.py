"""``dcgui merge SESSION --epoch E C1 C2 ... [--name NAME]``: several clusters as one group."""

from __future__ import annotations

import argparse
from typing import Any

from dcgui.cli.common import add_session_parser, epoch_flag, say


def register(sub: Any) -> None:
    p = add_session_parser(sub, "merge", help="merge clusters into one named group",
                   description="Merge clusters (ids as in the window: 12), parts of split clusters (12.2) "
                   "or merged groups (g5) of epoch E into one group. The group is stored in the session "
                   "on top of the clusters and follows them to later epochs (cluster ids are matched "
                   "from epoch to epoch); `dcgui clusters --groups` and `dcgui curate` use it (one folder "
                   "per group). Undo with `dcgui undo`.", run=run)
    epoch_flag(p, "epoch whose clusters you looked at (default: the latest)")
    p.add_argument("clusters", nargs="+", metavar="C", help="two or more clusters or groups: 12, 12.2, g5")
    p.add_argument("--name", metavar="NAME", help="the group's name (also its folder's name in `dcgui curate`)")


def run(args: argparse.Namespace) -> int:
    from dcgui.services.edits import merge_edit
    from dcgui.services.session import choose_epoch, open_session

    with open_session(args.session, readonly=False) as store:
        epoch = choose_epoch(store, args.epoch, "clusters")
        edit = merge_edit(store, epoch, args.clusters, args.name)
        applied = store.apply_edit(edit)
        group = store.group_view(epoch).find(f"g{applied.preview.group_id}")
    say(f"{applied.preview.summary}: {group.size} images at epoch {epoch} (undo: dcgui undo {args.session})")
    return 0
