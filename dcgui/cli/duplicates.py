"""``dcgui duplicates SESSION --csv OUT``: near-duplicate groups (flags only, never deletes)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from dcgui.cli.common import add_session_parser, drive
from dcgui.core.neardup import DEFAULT_THRESHOLD, MAX_DIFFERENCE


def register(sub: Any) -> None:
    p = add_session_parser(sub, "duplicates", help="near-duplicate groups as CSV (flags only, never deletes)",
                   description="Groups of copies of one photo (resized, re-encoded, shrunk, slightly cropped, "
                   "converted, EXIF-rotated), judged from the pixels of the cached thumbnails; different photos "
                   "of one scene stay apart. Every two images of a group differ by at most THRESHOLD (no "
                   "chaining). In each group the largest file comes first; with --flag the others get the "
                   "'duplicate' flag in the session. No file is ever deleted. Needs no trained network.")
    p.add_argument("--csv", type=Path, required=True, metavar="OUT",
                   help="output CSV: group,path,keep,file_size,width,height,group_difference "
                   "(path relative to the folder)")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="T",
                   help=f"largest pixel difference inside a group, in [0, {MAX_DIFFERENCE}] (default "
                   f"{DEFAULT_THRESHOLD}, chosen on real photos: benchmarks/results_duplicates.md); lower is stricter")
    p.add_argument("--flag", action="store_true", help="also flag every image but the first of each group as "
                   "'duplicate' in the session")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dcgui.core.fsutil import atomic_writer
    from dcgui.services import duplicates
    from dcgui.services.session import open_session
    from dcgui.store.paths import check_output

    if not 0 <= args.threshold <= MAX_DIFFERENCE:
        raise ValueError(f"--threshold {args.threshold} must be a difference in [0, {MAX_DIFFERENCE}], "
                         f"e.g. {DEFAULT_THRESHOLD}")
    check_output(args.csv, args.session, "CSV file")
    with open_session(args.session, readonly=not args.flag) as store:
        found = drive(duplicates.iter_session_near_duplicates(store))
        info = duplicates.image_info(store)
        groups = duplicates.groups_at(found, args.threshold, info)
        paths = store.image_paths()
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(args.csv, text=True) as fh:
            w = csv.writer(fh)
            w.writerow(["group", "path", "keep", "file_size", "width", "height", "group_difference"])
            for g, grp in enumerate(groups, start=1):
                for j, i in enumerate(grp.members.tolist()):
                    w.writerow([g, paths[i], int(j == 0), int(info.file_size[i]), int(info.width[i]),
                                int(info.height[i]), f"{grp.difference:.4f}"])
        n_images = sum(len(g.members) for g in groups)
        msg = (f"{len(groups)} group(s), {n_images} images at difference <= {args.threshold}: "
               f"{n_images - len(groups)} could go; written to {args.csv}")
        if args.flag:
            flagged = duplicates.flag_duplicates(store, groups)
            msg += f"; {flagged} flagged 'duplicate' in {store.path.name} (no file deleted)"
    print(msg)
    return 0
