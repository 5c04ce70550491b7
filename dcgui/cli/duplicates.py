"""``dcgui duplicates SESSION --csv OUT``: near-duplicate groups (flags only, never deletes)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from dcgui.cli.common import SESSION_HELP, add_parser, drive, network_flags
from dcgui.core.explore import DEFAULT_DUPLICATE_THRESHOLD


def register(sub: Any) -> None:
    p = add_parser(sub, "duplicates", help="near-duplicate groups as CSV (flags only, never deletes)",
                   description="Groups of images whose features have cosine similarity >= THRESHOLD (joined "
                   "through chains of nearest neighbours). In each group the largest file is kept; with "
                   "--flag the others get the 'duplicate' flag in the session. No file is ever deleted.")
    p.add_argument("session", type=Path, metavar="SESSION", help=SESSION_HELP)
    p.add_argument("--csv", type=Path, required=True, metavar="OUT",
                   help="output CSV: group,path,similarity_to_first,keep (path relative to the folder)")
    p.add_argument("--threshold", type=float, default=DEFAULT_DUPLICATE_THRESHOLD, metavar="T",
                   help=f"cosine similarity in (0, 1] (default {DEFAULT_DUPLICATE_THRESHOLD})")
    p.add_argument("--flag", action="store_true", help="also flag every image but the first of each group as "
                   "'duplicate' in the session")
    network_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dcgui.core.fsutil import atomic_writer
    from dcgui.services import explore
    from dcgui.services.session import open_session
    from dcgui.store.paths import check_output

    if not 0 < args.threshold <= 1:
        raise ValueError(f"--threshold {args.threshold} must be a cosine similarity in (0, 1], e.g. 0.95")
    check_output(args.csv, args.session, "CSV file")
    with open_session(args.session, readonly=not args.flag) as store:
        feats, dup = drive(explore.iter_session_duplicates(store, args.epoch, args.device))
        groups = explore.duplicate_groups(store, dup, feats, args.threshold)
        paths = store.image_paths()
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(args.csv, text=True) as fh:
            w = csv.writer(fh)
            w.writerow(["group", "path", "similarity_to_first", "keep"])
            for g, grp in enumerate(groups, start=1):
                for j, (i, s) in enumerate(zip(grp.members, grp.similarity_to_first)):
                    w.writerow([g, paths[int(i)], f"{float(s):.4f}", int(j == 0)])
        n_images = sum(len(g.members) for g in groups)
        msg = (f"{len(groups)} group(s), {n_images} images at similarity >= {args.threshold}: "
               f"{n_images - len(groups)} could go; written to {args.csv}")
        if args.flag:
            flagged = explore.flag_duplicates(store, groups)
            msg += f"; {flagged} flagged 'duplicate' in {store.path.name} (no file deleted)"
    print(msg)
    return 0
