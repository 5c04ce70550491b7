"""``dcgui outliers SESSION``: images far from every cluster, for review."""

from __future__ import annotations

import argparse
import json
from typing import Any

from dcgui.cli.common import (
    add_session_parser,
    count_flag,
    drive,
    json_flag,
    network_flags,
    say,
)


def register(sub: Any) -> None:
    p = add_session_parser(sub, "outliers", help="images far from every cluster, for review",
                   description="Score = 1 - cosine similarity to the nearest cluster centroid of the epoch "
                   "(centroid = mean of the normalised features of the cluster's members). Highest first.",
                   run=run)
    count_flag(p, "images")
    network_flags(p)
    json_flag(p)


def run(args: argparse.Namespace) -> int:
    from dcgui.services import explore
    from dcgui.services.session import open_session

    with open_session(args.session) as store:
        res = drive(explore.iter_session_outliers(store, args.epoch, args.n, args.device))
        files = store.image_files([o.index for o in res])  # checked to lie inside the folder
    if args.json:
        say(json.dumps([{**o.__dict__, "path": str(file)} for o, file in zip(res, files)], indent=2))
        return 0
    width = max([7, *(len(o.cluster_name) for o in res)])
    say(f"{'rank':>4}  {'score':>6}  {'cluster':<{width}}  path")
    for o, file in zip(res, files):
        say(f"{o.rank:>4}  {o.score:>6.3f}  {o.cluster_name:<{width}}  {file}")
    return 0
