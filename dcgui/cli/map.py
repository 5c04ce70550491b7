"""``dcgui map SESSION``: compute (and cache) the 2-D UMAP map of the session."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dcgui.cli.common import add_session_parser, drive, network_flags, say


def register(sub: Any) -> None:
    p = add_session_parser(sub, "map", help="compute (and cache) the 2-D UMAP map of the session",
                   description="UMAP of the features (PCA to 50 dims first); cached in the session's data "
                   "folder, so the GUI's Map tab opens at once afterwards.", run=run)
    p.add_argument("--csv", type=Path, metavar="OUT", help="also write index,path,x,y,cluster,label")
    network_flags(p)


def run(args: argparse.Namespace) -> int:
    from dcgui.core.csvfile import write_csv
    from dcgui.services import explore
    from dcgui.services.outputs import output_file
    from dcgui.services.session import open_session

    if args.csv:
        output_file(args.csv, args.session, "CSV file")
    with open_session(args.session) as store:
        epoch = explore.resolve_epoch(store, args.epoch)
        coords = drive(explore.iter_session_map(store, epoch, args.device))
        say(f"2-D map of {len(coords)} images at epoch {epoch}: {explore.map_path(store, epoch)}",
            file=sys.stderr if str(args.csv) == "-" else None)  # stdout is the CSV then
        if not args.csv:
            return 0
        paths = store.image_paths()
        assign = store.assignments(epoch) if 0 < epoch <= store.last_epoch() else None
        labels, names = store.labels(), store.label_names()
    rows = ([i, paths[i], round(float(x), 5), round(float(y), 5), "" if assign is None else int(assign[i]),
             names[labels[i]] if labels is not None and labels[i] >= 0 else ""] for i, (x, y) in enumerate(coords))
    write_csv(args.csv, ["index", "path", "x", "y", "cluster", "label"], rows)  # numbers stay numbers
    if str(args.csv) != "-":
        say(f"written to {args.csv}")
    return 0
