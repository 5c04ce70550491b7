"""``dcgui compare A.dcgui B.dcgui [...] --out compare.html``: several runs side by side."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dcgui.cli.common import add_parser, drive, say


def register(sub: Any) -> None:
    p = add_parser(sub, "compare", help="compare several sessions in one HTML page",
                   description="Write one self-contained HTML page with the NMI/AMI/loss curves of several "
                   "sessions in one plot each, their evaluation results where they have one, and each run's "
                   "settings with the differences highlighted. Sessions of different image folders are "
                   "allowed (with a warning line). The sessions are only read.", run=run)
    p.add_argument("sessions", type=Path, nargs="+", metavar="SESSION", help="two or more NAME.dcgui files")
    p.add_argument("--out", required=True, metavar="PATH", help="the HTML file to write (replaced if it exists)")
    p.add_argument("--absolute-paths", action="store_true", help="show full paths of sessions and folders")


def run(args: argparse.Namespace) -> int:
    from dcgui.core.errors import DcguiError
    from dcgui.services.compare import iter_compare

    if len(args.sessions) < 2:
        raise DcguiError("compare needs at least two session files: dcgui compare A.dcgui B.dcgui --out compare.html")
    result = drive(iter_compare(args.sessions, args.out, args.absolute_paths))
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    say(f"wrote {result.path} ({result.bytes / 1e3:.0f} kB) in {result.seconds:.1f} s", file=sys.stderr)
    return 0
