"""``dcgui eval SESSION [LABELED_FOLDER]``: kNN / linear probe / NMI vs the random initialisation."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dcgui.cli.common import add_session_parser, drive, json_flag, network_flags, say


def register(sub: Any) -> None:
    p = add_session_parser(sub, "eval", help="kNN / linear probe / NMI on a labelled folder, vs the random initialisation",
                   description="Evaluates the frozen network of EPOCH and of epoch 0 (random initialisation) on "
                   "a folder with one sub-folder per class: kNN (k=20, cosine, weights exp(sim/0.07); "
                   "leave-one-out on the session's own folder, a stratified 50/50 split otherwise), a linear "
                   "probe (logistic regression on standardised features, stratified 50/50 split, fixed seed) "
                   "and NMI of k-means (k = number of classes) against the labels.", run=run)
    p.add_argument("labeled_folder", type=Path, nargs="?", default=None, metavar="LABELED_FOLDER",
                   help="folder with class sub-folders (default: the session's own folder)")
    network_flags(p)
    json_flag(p)


def run(args: argparse.Namespace) -> int:
    from dcgui.services.evaluate import iter_evaluate
    from dcgui.services.session import open_session

    with open_session(args.session) as store:
        report = drive(iter_evaluate(store, args.labeled_folder, args.epoch, args.device))
    say(report.to_json() if args.json else report.to_table())
    return 0
