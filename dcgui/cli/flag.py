"""``dcgui flag SESSION --exclude|--keep|--clear PATH...``: flag images by their paths, one edit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dcgui.cli.common import add_session_parser, apply_confirmed, say
from dcgui.core.errors import DcguiError


def register(sub: Any) -> None:
    p = add_session_parser(
        sub, "flag", help="flag images exclude / keep, or clear their flags, by path (one undoable edit)",
        description="Flag the images PATH (relative to the session's image folder, as `dcgui clusters` writes "
        "them) as one edit that `dcgui undo` takes back. 'exclude' takes an image out of the training from the "
        "next epoch on (it gets no cluster; see --no-steer of `dcgui train`); 'keep' only marks it. More than "
        "one image: what would change is shown first and --yes applies it, as for the bulk actions.", run=run)
    what = p.add_mutually_exclusive_group(required=True)
    # the paths follow the action: `dcgui flag S --exclude a.jpg b.jpg`
    what.add_argument("--exclude", nargs="*", metavar="PATH",
                      help="leave these images out of the clustering and the training (paths relative to the "
                      "session's image folder)")
    what.add_argument("--keep", nargs="*", metavar="PATH", help="mark these images to keep")
    what.add_argument("--clear", nargs="*", metavar="PATH", help="remove these images' flags")
    p.add_argument("--from-file", type=Path, metavar="F",
                   help="read the paths from F, one per line (blank lines and lines starting with # ignored)")
    p.add_argument("--yes", action="store_true", help="apply a change to more than one image (after the summary)")


def chosen(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """(the flag asked for, None to clear; the paths given with it)."""
    for flag in ("exclude", "keep", "clear"):
        given = getattr(args, flag)
        if given is not None:
            return (None if flag == "clear" else flag), list(given)
    raise DcguiError("choose --exclude, --keep or --clear")


def read_paths(args: argparse.Namespace, paths: list[str]) -> list[str]:
    if args.from_file is not None:
        try:
            text = args.from_file.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            raise DcguiError(f"cannot read the list of paths {args.from_file}: {exc.strerror or exc}") from None
        paths += [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not paths:
        raise DcguiError("name the images to flag: PATH ... (relative to the session's image folder) or --from-file F")
    return paths


def run(args: argparse.Namespace) -> int:
    from dcgui.services.flags import flag_paths_edit
    from dcgui.services.session import open_session

    flag, given = chosen(args)
    paths = read_paths(args, given)
    with open_session(args.session, readonly=False) as store:
        applied = apply_confirmed(store, flag_paths_edit(store, paths, flag), args.yes, small=1)
        if applied is None:
            return 0
    say(applied.preview.describe())
    if applied.record is not None:
        print(f"stored in {args.session} (undo: dcgui undo {args.session})", file=sys.stderr)
    return 0
