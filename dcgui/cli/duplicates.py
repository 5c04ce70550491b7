"""``dcgui duplicates SESSION --csv OUT``: near-duplicate groups (flags only, never deletes)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dcgui.cli.common import add_session_parser, apply_confirmed, drive, say
from dcgui.core.analysis.duplicates import DEFAULT_THRESHOLD, MAX_DIFFERENCE
from dcgui.core.analysis.keep import DEFAULT_KEEP_RULE, KEEP_RULE_DETAILS, KEEP_RULES
from dcgui.core.errors import InvalidValue


def register(sub: Any) -> None:
    p = add_session_parser(sub, "duplicates", help="near-duplicate groups as CSV (flags only, never deletes)",
                   description="Groups of copies of one photo (resized, re-encoded, shrunk, slightly cropped, "
                   "converted, EXIF-rotated), judged from the pixels of the cached thumbnails; different photos "
                   "of one scene stay apart. Every two images of a group differ by at most THRESHOLD (no "
                   "chaining). In each group one image is kept by the --keep rule. --flag shows what flagging would "
                   "change (the kept image 'keep', the others 'duplicate'; flags you set by hand are left alone) "
                   "and --flag --yes does it, as one edit that `dcgui undo` takes back. No file is ever deleted. "
                   "Needs no trained network.", run=run)
    p.add_argument("--csv", type=Path, metavar="OUT",
                   help="output CSV: group,path,keep,file_size,width,height,group_difference,reason "
                   "(path relative to the folder; reason: why the rule keeps or passes over the image)")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="T",
                   help=f"largest pixel difference inside a group, in [0, {MAX_DIFFERENCE}] (default "
                   f"{DEFAULT_THRESHOLD}, chosen on real photos: benchmarks/results_duplicates.md); lower is stricter")
    p.add_argument("--keep", choices=list(KEEP_RULES), default=DEFAULT_KEEP_RULE,
                   help="which image of a group to keep: " + "; ".join(f"{k} = {v}" for k, v in KEEP_RULE_DETAILS.items())
                   + f" (default {DEFAULT_KEEP_RULE})")
    p.add_argument("--flag", action="store_true", help="flag the kept image of each group 'keep' and the others "
                   "'duplicate' in the session: shows what would change; add --yes to do it")
    p.add_argument("--yes", action="store_true", help="with --flag: apply the flags (after the summary)")
    p.add_argument("--dismiss", type=int, metavar="GROUP",
                   help="mark group GROUP (its number in the CSV, at the same --threshold) 'not duplicates': "
                   "one edit (`dcgui undo` takes it back); the group is left out of later detections until one "
                   "of its images changes")
    p.add_argument("--include-hand-set", action="store_true",
                   help="with --flag: also change flags you set by hand (left alone by default)")


def run(args: argparse.Namespace) -> int:
    from dcgui.core.analysis.keep import keep_reasons, rank_members
    from dcgui.core.csvfile import write_csv
    from dcgui.services import duplicates
    from dcgui.services.explore import open_cache
    from dcgui.services.flags import keep_one_edit
    from dcgui.services.freshness import iter_check_files
    from dcgui.services.outputs import output_file
    from dcgui.services.session import open_session

    if not 0 <= args.threshold <= MAX_DIFFERENCE:
        raise InvalidValue(f"--threshold {args.threshold} must be a difference in [0, {MAX_DIFFERENCE}], "
                         f"e.g. {DEFAULT_THRESHOLD}")
    if (args.yes or args.include_hand_set) and not args.flag:
        raise InvalidValue("--yes and --include-hand-set go with --flag")
    if args.csv is None and args.dismiss is None:
        raise InvalidValue("give --csv OUT (the groups) or --dismiss GROUP (a group that is not duplicates)")
    if args.dismiss is not None and args.flag:
        raise InvalidValue("--dismiss and --flag are two edits: run them one after the other")
    if args.csv is not None:
        output_file(args.csv, args.session, "CSV file", make_folder=True)
    writable = (args.flag and args.yes) or args.dismiss is not None
    with open_session(args.session, readonly=not writable) as store:
        # Every file against the disk first: a changed one is judged as it is now, a missing one
        # is in no group, so no flag is ever decided from the cache's old facts.
        fresh = drive(iter_check_files(store, open_cache(store)))
        found = drive(duplicates.iter_session_near_duplicates(store, fresh=fresh))
        info = duplicates.image_info(store, fresh)
        crops = found.crops_of()
        # the groups the person marked "not duplicates" stay away until one of their images changes
        groups = duplicates.without_dismissed(store, duplicates.groups_at(found, args.threshold, info, crops))
        if args.dismiss is not None:
            if not 1 <= args.dismiss <= len(groups):
                raise InvalidValue(f"--dismiss {args.dismiss}: there are {len(groups)} group(s) at threshold "
                                 f"{args.threshold}; give a number from the CSV's group column (1-{len(groups)})")
            dismissed = store.apply_edit(duplicates.dismiss_edit(store, groups[args.dismiss - 1].members))
            say(f"{dismissed.preview.summary}: left out of later detections until one of them changes "
                  f"(undo: dcgui undo {args.session})")
            if args.csv is None:
                return 0
            groups = duplicates.without_dismissed(store, groups)
        paths = store.image_paths()
        stats = {**store.image_stats(), "size": fresh.size, "mtime_ns": fresh.mtime_ns}
        rows = []
        for g, grp in enumerate(groups, start=1):
            # the --keep rule's order: the kept image first
            reasons = keep_reasons(grp.members, args.keep, stats, crops)
            for j, i in enumerate(rank_members(grp.members, args.keep, stats, crops).tolist()):
                rows.append([g, paths[i], int(j == 0), int(info.file_size[i]), int(info.width[i]),
                             int(info.height[i]), f"{grp.difference:.4f}", reasons[i]])  # difference >= 0
        write_csv(args.csv, ["group", "path", "keep", "file_size", "width", "height", "group_difference", "reason"],
                  rows)
        n_images = sum(len(g.members) for g in groups)
        ng = len(groups)
        msg = (f"{ng} group{'' if ng == 1 else 's'}, {n_images} image{'' if n_images == 1 else 's'} at difference "
               f"<= {args.threshold}: {n_images - ng} could go; written to {args.csv}")
        say(msg, file=sys.stderr if str(args.csv) == "-" else None)  # stdout is the CSV then
        if not args.flag:
            return 0
        edit = keep_one_edit(store, [g.members for g in groups], args.keep, "flag duplicate groups",
                             include_hand_set=args.include_hand_set, crops_of=crops)
        applied = apply_confirmed(store, edit, args.yes, what="apply these flags")
        if applied is None:
            return 0
    say(applied.preview.describe())
    say(f"flags stored in {args.session} (no file deleted; undo: dcgui undo {args.session})")
    return 0
