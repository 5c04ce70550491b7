"""``dcgui curate SESSION --out DIR``: the photos into one folder per cluster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dcgui.cli.common import (
    Progress,
    add_session_parser,
    drive,
    epoch_flag,
    err,
    progress_flags,
    say,
)
from dcgui.core.errors import DcguiError

_VERBS = {"copy": "copy", "symlink": "link", "move": "move"}


def register(sub: Any) -> None:
    p = add_session_parser(sub, "curate", help="sort the photos into one folder per cluster",
                   description="Put every image of the session into DIR/<cluster>/, one sub-folder per "
                   "cluster or group, named as the window names it: your name when set, else cluster_0042, "
                   "cluster_0042.1 for part 1 of a split cluster, group_g5 for an unnamed merge "
                   "(`dcgui merge`, `dcgui split`). Never replaces "
                   "or deletes a file: an existing name gets a _1, _2 ... suffix. Images flagged "
                   "'exclude' are left out. A DIR inside the photo folder is refused.", run=run, mode="copy")
    epoch_flag(p, "epoch whose clusters to use (default: the latest)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--copy", dest="mode", action="store_const", const="copy", help="copy the files (default)")
    g.add_argument("--symlink", dest="mode", action="store_const", const="symlink", help="make symbolic links to the files")
    g.add_argument("--move", dest="mode", action="store_const", const="move",
                   help="move the files (the session can then no longer resume)")
    p.add_argument("--clusters", metavar="IDS", help="only these clusters or groups, e.g. 3,17,42 or 12.2,g5 "
                   "(default: all)")
    p.add_argument("--dry-run", action="store_true", help="print what would be done and change nothing")
    progress_flags(p)


def _parse_clusters(text: str | None) -> list[str] | None:
    if text is None:
        return None
    keys = list(dict.fromkeys(part for part in text.replace(" ", "").split(",") if part))
    if not keys:
        raise DcguiError(f"--clusters {text!r} is invalid: give cluster ids separated by commas, e.g. 3,17,42")
    return keys


def run(args: argparse.Namespace) -> int:
    from dcgui.services.curation import iter_curate, plan_curation, record_curation
    from dcgui.services.session import choose_epoch, open_session, open_to_record

    mode = args.mode
    out_dir = Path(args.out).expanduser().absolute()
    verb = _VERBS[mode]
    with (open_session(args.session) if args.dry_run else open_to_record(args.session)) as store:
        epoch = choose_epoch(store, args.epoch, "clusters")
        plan = plan_curation(store, epoch, out_dir, mode, _parse_clusters(args.clusters))
        if plan.error:
            raise DcguiError(plan.error)
        for warning in plan.warnings:
            err(f"warning: {warning}")
        left_out = f" ({plan.left_out} excluded images left out)" if plan.left_out else ""
        if args.dry_run:
            for src, dst in plan.ops:
                say(f"{verb} {src} -> {dst}")
            say(f"dry run: would {verb} {plan.n_files} files into {plan.n_folders} folders under {out_dir}"
                  f"{left_out}", file=sys.stderr)
            return 0
        result = drive(iter_curate(plan), Progress(args.progress))
        if store.readonly:  # a session on read-only media: sorting its photos elsewhere still works
            err(f"note: {store.path} cannot be written, so this curation is not listed in it")
        else:
            record_curation(store, plan, result, "curate")
    renamed = sum(1 for (src, dst) in result.done if dst.name != src.name)
    say(f"{verb} {len(result.done)} files into {plan.n_folders} folders under {out_dir}"
          f"{f'; {renamed} renamed to avoid replacing a file' if renamed else ''}", file=sys.stderr)
    for src, reason in result.failed:
        err(f"failed: {src}: {reason}")
    if mode == "move" and result.done:
        err(f"note: the moved files left {plan.folder}; this session can be browsed but no longer resumed")
    return 1 if result.failed else 0
