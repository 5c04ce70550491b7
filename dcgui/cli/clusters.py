"""``dcgui clusters SESSION --csv OUT``: every image's cluster at an epoch, as CSV."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dcgui.cli.common import add_session_parser, epoch_flag, say
from dcgui.services.outputs import output_file

COLUMNS = ("path", "cluster")  # the command's contract: a prefix of the one cluster-table schema


def register(sub: Any) -> None:
    p = add_session_parser(sub, "clusters", help="write every image's cluster at an epoch as CSV",
                   description="Write one row per image, `path,cluster` (path relative to the session's "
                   "folder; cluster ids matched across epochs, as shown in the window). The cluster is empty for an image "
                   "that epoch left out of the clustering (flagged exclude while steering was on).", run=run)
    epoch_flag(p, "epoch (default: the latest)")
    p.add_argument("--csv", required=True, metavar="OUT", help="CSV file to write ('-' for stdout)")
    p.add_argument("--groups", action="store_true",
                   help="also write cluster_name, group and group_name: the group each image is shown in "
                   "after your merges and splits (12, 12.2 for part 2 of split cluster 12, g5 for a merge; with "
                   "steering on, a group made at an earlier epoch is the cluster its images were trained into)")


def run(args: argparse.Namespace) -> int:
    from dcgui.services.curation import CLUSTER_COLUMNS, cluster_table, write_cluster_table
    from dcgui.services.session import choose_epoch, open_session

    columns = CLUSTER_COLUMNS if args.groups else COLUMNS
    out = output_file(args.csv, args.session, "CSV file")  # "-": standard output
    with open_session(args.session) as store:
        epoch = choose_epoch(store, args.epoch, "clusters")
        rows = cluster_table(store, epoch, absolute=False, columns=columns)
    write_cluster_table(out, rows, columns)
    if str(out) != "-":
        say(f"wrote {len(rows)} rows (epoch {epoch}) to {out}", file=sys.stderr)
    return 0
