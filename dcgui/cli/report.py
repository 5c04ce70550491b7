"""``dcgui report SESSION --out report.html``: one self-contained HTML page about a session."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dcgui.cli.common import add_session_parser, drive, err, say
from dcgui.core.config import DEVICES


def register(sub: Any) -> None:
    p = add_session_parser(sub, "report", help="write one self-contained HTML report of a session",
                           description="Write one HTML file that opens offline in any browser (no script, "
                           "nothing loaded from the network): collection and settings, skipped files, "
                           "NMI/AMI/loss curves, cluster sizes, the cluster river, one card per cluster "
                           "(members nearest the centroid, a random sample, boundary members; name, group, "
                           "purity), duplicates and outliers in brief, evaluations, the edit log and the "
                           "exports. Paths are relative to the image folder unless --absolute-paths.", run=run)
    p.add_argument("--out", required=True, metavar="PATH", help="the HTML file to write (replaced if it exists)")
    p.add_argument("--absolute-paths", action="store_true",
                   help="show full paths (they may contain your home folder and user name)")
    p.add_argument("--device", choices=DEVICES, default=None,
                   help="where to compute the features the cards need (default: the session's setting)")


def run(args: argparse.Namespace) -> int:
    from dcgui.services.outputs import output_file
    from dcgui.services.report import ReportOptions, iter_report
    from dcgui.services.session import open_to_record

    out = output_file(args.out, args.session, "report")
    with open_to_record(args.session) as store:
        result = drive(iter_report(store, out, ReportOptions(absolute_paths=args.absolute_paths, device=args.device)))
        if store.readonly:
            err(f"note: {store.path} cannot be written, so this report is not listed in it")
        else:
            store.record_export("report", result.path, {"epoch": result.epoch, "bytes": result.bytes})
    say(f"wrote {result.path} ({result.bytes / 1e6:.1f} MB, {result.cards} cluster cards) in {result.seconds:.1f} s",
          file=sys.stderr)
    return 0
