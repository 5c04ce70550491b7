"""Command-line exploration of a trained session: similar, duplicates, outliers, map, eval.

``dcgui.cli`` calls ``register(subparsers)``; each command sets ``func(args) -> int`` (exit
status). Progress bars go to stderr, results to stdout, so output can be piped.

    dcgui similar SESSION IMAGE [-n 20] [--epoch E] [--json]
    dcgui duplicates SESSION --csv OUT [--threshold T] [--epoch E] [--flag]
    dcgui outliers SESSION [-n 20] [--epoch E] [--json]
    dcgui map SESSION [--csv OUT] [--epoch E]
    dcgui eval SESSION [LABELED_FOLDER] [--epoch E] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

from dcgui.core.config import DEVICES
from dcgui.core.errors import DcguiError
from dcgui.core.events import Message, PhaseProgress
from dcgui.core.explore import DEFAULT_DUPLICATE_THRESHOLD

_SESSION_HELP = "session file (.dcgui)"


def register(subparsers: Any) -> None:
    """Add the exploration commands to the main parser's sub-parsers action."""
    p = subparsers.add_parser(
        "similar", help="the images most similar to IMAGE under the session's network",
        description="Nearest neighbours of IMAGE (cosine similarity of the backbone features, centred on the "
                    "collection mean), a file inside "
                    "or outside the session's folder. Prints rank, score and path.")
    p.add_argument("session", type=Path, metavar="SESSION", help=_SESSION_HELP)
    p.add_argument("image", type=Path, metavar="IMAGE", help="the query image file (inside or outside the folder)")
    p.add_argument("-n", type=int, default=20, metavar="N", help="number of results (default 20)")
    _common(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_similar)

    p = subparsers.add_parser(
        "duplicates", help="near-duplicate groups as CSV (flags only, never deletes)",
        description="Groups of images whose features have cosine similarity >= THRESHOLD (joined through "
                    "chains of nearest neighbours). In each group the largest file is kept; with --flag the "
                    "others get the 'duplicate' flag in the session. No file is ever deleted.")
    p.add_argument("session", type=Path, metavar="SESSION", help=_SESSION_HELP)
    p.add_argument("--csv", type=Path, required=True, metavar="OUT",
                   help="output CSV: group,path,similarity_to_first,keep (path relative to the folder)")
    p.add_argument("--threshold", type=float, default=DEFAULT_DUPLICATE_THRESHOLD, metavar="T",
                   help=f"cosine similarity in (0, 1] (default {DEFAULT_DUPLICATE_THRESHOLD})")
    p.add_argument("--flag", action="store_true", help="also flag every image but the first of each group as "
                   "'duplicate' in the session")
    _common(p)
    p.set_defaults(func=cmd_duplicates)

    p = subparsers.add_parser(
        "outliers", help="images far from every cluster, for review",
        description="Score = 1 - cosine similarity to the nearest cluster centroid of the epoch (centroid = "
                    "mean of the normalised features of the cluster's members). Highest first.")
    p.add_argument("session", type=Path, metavar="SESSION", help=_SESSION_HELP)
    p.add_argument("-n", type=int, default=20, metavar="N", help="number of images (default 20)")
    _common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_outliers)

    p = subparsers.add_parser(
        "map", help="compute (and cache) the 2-D UMAP map of the session",
        description="UMAP of the features (PCA to 50 dims first); cached in the session's data folder, so "
                    "the GUI's Map tab opens at once afterwards.")
    p.add_argument("session", type=Path, metavar="SESSION", help=_SESSION_HELP)
    p.add_argument("--csv", type=Path, metavar="OUT", help="also write index,path,x,y,cluster,label")
    _common(p)
    p.set_defaults(func=cmd_map)

    p = subparsers.add_parser(
        "eval", help="kNN / linear probe / NMI on a labelled folder, vs the random initialisation",
        description="Evaluates the frozen network of EPOCH and of epoch 0 (random initialisation) on a folder "
                    "with one sub-folder per class: kNN (k=20, cosine, weights exp(sim/0.07); leave-one-out on "
                    "the session's own folder, a stratified 50/50 split otherwise), a linear probe (logistic "
                    "regression on standardised features, stratified 50/50 split, fixed seed) and NMI of "
                    "k-means (k = number of classes) against the labels.")
    p.add_argument("session", type=Path, metavar="SESSION", help=_SESSION_HELP)
    p.add_argument("labeled_folder", type=Path, nargs="?", default=None, metavar="LABELED_FOLDER",
                   help="folder with class sub-folders (default: the session's own folder)")
    _common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epoch", type=int, default=None, metavar="E",
                   help="epoch of the network (default: the latest; 0 = random initialisation)")
    p.add_argument("--device", choices=DEVICES, default=None,
                   help="where to compute features (default: the session's setting)")


# ---------------------------------------------------------------------------------------------
# plumbing
# ---------------------------------------------------------------------------------------------
def _drive(gen: Generator[Any, Any, Any], quiet: bool = False) -> Any:
    """Run an exploration generator with a progress bar per phase on stderr; return its value."""
    from tqdm import tqdm

    bar: Any = None
    phase = None
    try:
        while True:
            try:
                ev = next(gen)
            except StopIteration as stop:
                return stop.value
            if quiet:
                continue
            if isinstance(ev, PhaseProgress):
                if bar is None or ev.phase != phase:
                    if bar is not None:
                        bar.close()
                    phase = ev.phase
                    # disable=None: bars only on a terminal, so logs and pipes stay clean
                    bar = tqdm(total=ev.total, desc=ev.phase, unit="img", file=sys.stderr, leave=False,
                               disable=None, dynamic_ncols=True, mininterval=0.2)
                bar.total = ev.total
                bar.n = ev.done
                bar.refresh()
            elif isinstance(ev, Message):
                (bar.write if bar is not None else lambda s: print(s, file=sys.stderr))(ev.text)
    finally:
        if bar is not None:
            bar.close()


def _open(path: Path, readonly: bool = True) -> Any:
    from dcgui.store import SessionStore

    if not Path(path).is_file():
        raise DcguiError(f"the session file {path} does not exist: give the path of a NAME.dcgui file")
    return SessionStore.open(path, readonly=readonly)


EXIT_USAGE = 2  # user errors, as the main `dcgui` command and argparse do


def _fail(exc: BaseException) -> int:
    print(f"dcgui: error: {exc}", file=sys.stderr)
    return EXIT_USAGE


def _run(args: argparse.Namespace, body: Any, readonly: bool = True) -> int:
    try:
        store = _open(args.session, readonly)
    except (DcguiError, ValueError, OSError) as exc:
        return _fail(exc)
    try:
        return int(body(store))
    except (DcguiError, ValueError, OSError, IndexError, KeyError) as exc:
        return _fail(exc)
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------
def cmd_similar(args: argparse.Namespace) -> int:
    from dcgui.core import explore_session as es

    if args.n < 1:
        return _fail(ValueError("-n must be at least 1"))

    def body(store: Any) -> int:
        res = _drive(es.iter_similar(store, args.image, args.n, args.epoch, args.device))
        files = store.image_files([nb.index for nb in res.neighbours])  # rows checked to lie inside the folder
        if args.json:
            d = res.to_dict()
            for r, file in zip(d["results"], files):
                r["path"] = str(file)
            print(json.dumps(d, indent=2))
            return 0
        print(f"# images most similar to {res.query} (epoch {res.epoch})")
        print(f"{'rank':>4}  {'score':>6}  path")
        for nb, file in zip(res.neighbours, files):
            print(f"{nb.rank:>4}  {nb.score:>6.3f}  {file}")
        return 0

    return _run(args, body)


def cmd_duplicates(args: argparse.Namespace) -> int:
    from dcgui.core import explore_session as es

    if not 0 < args.threshold <= 1:
        return _fail(ValueError(f"--threshold {args.threshold} must be a cosine similarity in (0, 1], e.g. 0.95"))

    def body(store: Any) -> int:
        feats, dup = _drive(es.iter_session_duplicates(store, args.epoch, args.device))
        groups = es.duplicate_groups(store, dup, feats, args.threshold)
        paths = store.image_paths()
        from dcgui.store.paths import check_output

        check_output(args.csv, store.path, "CSV file")
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with open(args.csv, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["group", "path", "similarity_to_first", "keep"])
            for g, grp in enumerate(groups, start=1):
                for j, (i, s) in enumerate(zip(grp.members, grp.similarity_to_first)):
                    w.writerow([g, paths[int(i)], f"{float(s):.4f}", int(j == 0)])
        n_images = sum(len(g.members) for g in groups)
        msg = (f"{len(groups)} group(s), {n_images} images at similarity >= {args.threshold}: "
               f"{n_images - len(groups)} could go; written to {args.csv}")
        if args.flag:
            flagged = es.flag_duplicates(store, groups)
            msg += f"; {flagged} flagged 'duplicate' in {store.path.name} (no file deleted)"
        print(msg)
        return 0

    return _run(args, body, readonly=not args.flag)


def cmd_outliers(args: argparse.Namespace) -> int:
    from dcgui.core import explore_session as es

    def body(store: Any) -> int:
        res = _drive(es.iter_session_outliers(store, args.epoch, args.n, args.device))
        files = store.image_files([o.index for o in res])  # rows checked to lie inside the folder
        if args.json:
            print(json.dumps([{**o.__dict__, "path": str(file)} for o, file in zip(res, files)], indent=2))
            return 0
        print(f"{'rank':>4}  {'score':>6}  {'cluster':>7}  path")
        for o, file in zip(res, files):
            print(f"{o.rank:>4}  {o.score:>6.3f}  {o.cluster:>7}  {file}")
        return 0

    return _run(args, body)


def cmd_map(args: argparse.Namespace) -> int:
    from dcgui.core import explore_session as es

    def body(store: Any) -> int:
        if args.csv:
            from dcgui.store.paths import check_output

            check_output(args.csv, store.path, "CSV file")
        epoch = es.resolve_epoch(store, args.epoch)
        coords = _drive(es.iter_session_map(store, epoch, args.device))
        print(f"2-D map of {len(coords)} images at epoch {epoch}: {es.map_path(store, epoch)}")
        if args.csv:
            paths = store.image_paths()
            assign = store.assignments(epoch) if 0 < epoch <= store.last_epoch() else None
            labels, names = store.labels(), store.label_names()
            with open(args.csv, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["index", "path", "x", "y", "cluster", "label"])
                for i, (x, y) in enumerate(coords):
                    lab = names[labels[i]] if labels is not None and labels[i] >= 0 else ""
                    w.writerow([i, paths[i], f"{x:.5f}", f"{y:.5f}",
                                "" if assign is None else int(assign[i]), lab])
            print(f"written to {args.csv}")
        return 0

    return _run(args, body)


def cmd_eval(args: argparse.Namespace) -> int:
    from dcgui.core.evaluate import iter_evaluate

    def body(store: Any) -> int:
        report = _drive(iter_evaluate(store, args.labeled_folder, args.epoch, args.device))
        print(report.to_json() if args.json else report.to_table())
        return 0

    return _run(args, body)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (the main ``dcgui`` command embeds these sub-commands)."""
    parser = argparse.ArgumentParser(prog="dcgui")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
