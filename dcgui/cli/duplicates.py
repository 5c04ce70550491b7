"""``dcgui duplicates SESSION --csv OUT``: near-duplicate groups (flags only, never deletes)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from dcgui.cli.common import SESSION_HELP, add_parser, drive, network_flags
from dcgui.core.explore import DEFAULT_DUPLICATE_THRESHOLD
from dcgui.core.keep import DEFAULT_KEEP_RULE, KEEP_RULES


def register(sub: Any) -> None:
    p = add_parser(sub, "duplicates", help="near-duplicate groups as CSV (flags only, never deletes)",
                   description="Groups of images whose features have cosine similarity >= THRESHOLD (joined "
                   "through chains of nearest neighbours). In each group one image is kept by the --keep "
                   "rule. --flag shows what flagging would change (the kept image 'keep', the others "
                   "'duplicate'; flags you set by hand are left alone) and --flag --yes does it, as one "
                   "edit that `dcgui undo` takes back. No file is ever deleted.")
    p.add_argument("session", type=Path, metavar="SESSION", help=SESSION_HELP)
    p.add_argument("--csv", type=Path, required=True, metavar="OUT",
                   help="output CSV: group,path,similarity_to_first,keep (path relative to the folder)")
    p.add_argument("--threshold", type=float, default=DEFAULT_DUPLICATE_THRESHOLD, metavar="T",
                   help=f"cosine similarity in (0, 1] (default {DEFAULT_DUPLICATE_THRESHOLD})")
    p.add_argument("--keep", choices=list(KEEP_RULES), default=DEFAULT_KEEP_RULE,
                   help="which image of a group to keep: " + ", ".join(f"{k} = {v}" for k, v in KEEP_RULES.items())
                   + f" (default {DEFAULT_KEEP_RULE})")
    p.add_argument("--flag", action="store_true", help="flag the kept image of each group 'keep' and the others "
                   "'duplicate' in the session: shows what would change; add --yes to do it")
    p.add_argument("--yes", action="store_true", help="with --flag: apply the flags (after the summary)")
    p.add_argument("--include-hand-set", action="store_true",
                   help="with --flag: also change flags you set by hand (left alone by default)")
    network_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from dcgui.core.fsutil import atomic_writer
    from dcgui.core.keep import rank_members
    from dcgui.services import explore
    from dcgui.services.edits import keep_one_edit
    from dcgui.services.session import open_session
    from dcgui.store.paths import check_output

    if not 0 < args.threshold <= 1:
        raise ValueError(f"--threshold {args.threshold} must be a cosine similarity in (0, 1], e.g. 0.95")
    if (args.yes or args.include_hand_set) and not args.flag:
        raise ValueError("--yes and --include-hand-set go with --flag")
    check_output(args.csv, args.session, "CSV file")
    with open_session(args.session, readonly=not (args.flag and args.yes)) as store:
        feats, dup = drive(explore.iter_session_duplicates(store, args.epoch, args.device))
        groups = explore.duplicate_groups(store, dup, feats, args.threshold)
        paths = store.image_paths()
        stats = store.image_stats()
        keepers = [int(rank_members(g.members, args.keep, stats)[0]) for g in groups]
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(args.csv, text=True) as fh:
            w = csv.writer(fh)
            w.writerow(["group", "path", "similarity_to_first", "keep"])
            for g, (grp, keeper) in enumerate(zip(groups, keepers), start=1):
                for i, s in zip(grp.members, grp.similarity_to_first):
                    w.writerow([g, paths[int(i)], f"{float(s):.4f}", int(int(i) == keeper)])
        n_images = sum(len(g.members) for g in groups)
        msg = (f"{len(groups)} group(s), {n_images} images at similarity >= {args.threshold}: "
               f"{n_images - len(groups)} could go; written to {args.csv}")
        if not args.flag:
            print(msg)
            return 0
        edit = replace(keep_one_edit(store, [g.members for g in groups], args.keep, "flag duplicate groups"),
                       override_hand=args.include_hand_set)
        print(msg)
        if not args.yes:
            print(store.preview_edit(edit).describe())
            print("nothing changed: add --yes to apply these flags")
            return 0
        applied = store.apply_edit(edit)
    print(applied.preview.describe())
    print(f"flags stored in {args.session} (no file deleted; undo: dcgui undo {args.session})")
    return 0
