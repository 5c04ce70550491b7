"""``dcgui similar SESSION IMAGE``: the images most similar to IMAGE under the session's network."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dcgui.cli.common import (
    add_session_parser,
    count_flag,
    drive,
    json_flag,
    network_flags,
    say,
)
from dcgui.core.errors import InvalidValue


def register(sub: Any) -> None:
    p = add_session_parser(sub, "similar", help="the images most similar to IMAGE under the session's network",
                   description="Nearest neighbours of IMAGE (cosine similarity of the backbone features, centred "
                   "on the collection mean), a file inside or outside the session's folder. Prints rank, "
                   "score and path.", run=run)
    p.add_argument("image", type=Path, metavar="IMAGE", help="the query image file (inside or outside the folder)")
    count_flag(p, "results")
    network_flags(p)
    json_flag(p, "print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from dcgui.services import explore
    from dcgui.services.session import open_session

    if args.n < 1:
        raise InvalidValue("-n must be at least 1")
    with open_session(args.session) as store:
        res = drive(explore.iter_similar(store, args.image, args.n, args.epoch, args.device))
        files = store.image_files([nb.index for nb in res.neighbours])  # checked to lie inside the folder
    if args.json:
        d = res.to_dict()
        for r, file in zip(d["results"], files):
            r["path"] = str(file)
        say(json.dumps(d, indent=2))
        return 0
    say(f"# images most similar to {res.query} (epoch {res.epoch})")
    say(f"{'rank':>4}  {'score':>6}  path")
    for nb, file in zip(res.neighbours, files):
        say(f"{nb.rank:>4}  {nb.score:>6.3f}  {file}")
    return 0
