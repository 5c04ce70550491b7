"""``dcgui split SESSION --epoch E C --into N``: one cluster as N parts (k-means on its members)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dcgui.cli.common import add_session_parser, device_flag, drive, epoch_flag, say
from dcgui.core.errors import InvalidValue


def register(sub: Any) -> None:
    p = add_session_parser(sub, "split", help="split a cluster into N parts (k-means on its images)",
                   description="Split cluster C of epoch E into N parts by k-means on its images' features "
                   "(the network of epoch E). Prints each part's size and the images nearest its centre, "
                   "then stores the split (not with --dry-run). Parts are listed as C.1 ... C.N (largest "
                   "first) and follow the cluster to later epochs: every image of the collection is given "
                   "the part whose centre is nearest, so images that join C later have one too. Splitting "
                   "C again replaces the split from E on. Undo with `dcgui undo`.", run=run)
    epoch_flag(p, "epoch whose cluster to split (default: the latest)")
    p.add_argument("cluster", metavar="C", help="the cluster id (as in the window)")
    p.add_argument("--into", type=int, required=True, metavar="N", help="number of parts (2 or more)")
    p.add_argument("--names", metavar="A,B,...", help="names of the parts, largest first (optional)")
    p.add_argument("--samples", type=int, default=5, metavar="K", help="images shown per part (default 5)")
    p.add_argument("--dry-run", action="store_true", help="show the parts and store nothing")
    device_flag(p)


def run(args: argparse.Namespace) -> int:
    from dcgui.services.edits import iter_split_proposal, split_cluster_id, split_edit
    from dcgui.services.session import choose_epoch, open_session

    names = [n.strip() or None for n in args.names.split(",")] if args.names else []
    if len(names) > args.into:
        raise InvalidValue(f"--names gives {len(names)} names for {args.into} parts")
    with open_session(args.session, readonly=args.dry_run) as store:
        epoch = choose_epoch(store, args.epoch, "clusters")
        cluster = split_cluster_id(store, epoch, args.cluster)
        proposal = drive(iter_split_proposal(store, epoch, cluster, args.into, args.device))
        paths = store.image_paths()
        folder = Path(store.folder)
        say(f"cluster {cluster} at epoch {epoch}: {len(proposal.members)} images into {proposal.parts} parts")
        for p, (size, sample) in enumerate(zip(proposal.sizes, proposal.samples)):
            name = f" “{names[p]}”" if p < len(names) and names[p] else ""
            say(f"  {cluster}.{p + 1}{name}: {size} images, e.g.")
            for i in sample[:max(args.samples, 0)]:
                say(f"      {folder / paths[int(i)]}")
        if args.dry_run:
            say("dry run: nothing stored")
            return 0
        applied = store.apply_edit(split_edit(proposal, names))
    say(f"{applied.preview.summary} (undo: dcgui undo {args.session})")
    return 0
