"""Does training beat the random initialisation, per CPU minute? Measured with the product's commands.

For each labelled collection (``benchmarks/build_collections.py`` builds them: ROOT/<name>/<class>/...):

    dcgui train ROOT/<name> --session S [flags]      # timed: the minutes column
    dcgui eval S --json                              # kNN leave-one-out (k=20, cosine) + linear probe,
                                                     # trained epoch vs epoch 0 (random init)
    dcgui info S --json                              # NMI(t-1, t) and NMI vs labels per epoch

and keeps one JSON per run under ``benchmarks/results_quality/cli/<collection>/<label>.json``
(a run whose JSON exists is not run again). ``table`` writes the tables of docs/QUALITY.md
between its ``<!-- quality.py:... -->`` markers and leaves everything else in that file alone.

Usage:
    python benchmarks/quality.py run LABEL [--collections photos clipart icons fashion] [--eval-epochs 10]
                                     [-- TRAIN FLAGS]
    python benchmarks/quality.py extend LABEL --epochs 60 [--eval-epochs 40]   # train a run on further
    python benchmarks/quality.py table
LABEL names the configuration (``defaults``, ``old-defaults``, ``no-sobel``...); LEVERS below says
what each one means in the tables. Sessions go to ROOT/sessions (outside the repository).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results_quality" / "cli"
DOC = REPO / "docs" / "QUALITY.md"
COLLECTIONS = ["photos", "clipart", "icons", "fashion"]
COLOUR = {"photos", "clipart", "icons"}

# Every configuration measured, with what it changes against the defaults of its time.
LEVERS: dict[str, str] = {
    "old-defaults": "defaults before issue 22 (smallnet 32 px, Sobel, paper's head, 20 epochs)",
    "defaults": "the defaults now (plain `dcgui train FOLDER --session S`)",
    "no-sobel": "colour input instead of the Sobel front end (`--no-sobel`), all else at the old defaults",
    "centroids": "DeepCluster-v2 centroid head with temperature 0.1 (`--head centroids`)",
    "crop0.3": "training crops of at least 30 % of the image (`--crop-scale-min 0.3`; paper: 8 % at 224 px), "
    "10 epochs, all else at the old defaults",
    "spe12500": "12,500 training images between two clusterings (`--samples-per-epoch 12500`: about 11 passes "
    "over 1,100 images, 98 batches; the old rule gave 4 passes, 34 batches), 10 epochs",
    "spe12500-crop0.3": "both of the above (`--samples-per-epoch 12500 --crop-scale-min 0.3`), 10 epochs",
    "demo-full": "the demo collection (4,000 Fashion-MNIST images, `ROOT/demo` = the extracted demo) at the "
    "demo's settings, the window's \"full run\": the new defaults with k = 50 (`--k 50`), 20 epochs",
    "spe12500-centroids": "12,500 images per clustering and the centroid head (`--samples-per-epoch 12500 "
    "--head centroids`), 10 epochs",
}


def dcgui(*args: str, capture: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "dcgui", *args], env=env, check=True, text=True,
                          capture_output=capture)


def _session(root: Path, collection: str, label: str) -> Path:
    return root / "sessions" / collection / f"{label}.dcgui"


def _evaluate(session: Path, epochs: list[int], result: dict[str, Any]) -> None:
    """``dcgui eval`` at each epoch not yet evaluated (epoch 0, the random init, comes with each)."""
    evals = result.setdefault("evals", {})
    for e in epochs:
        if str(e) not in evals:
            evals[str(e)] = json.loads(dcgui("eval", str(session), "--epoch", str(e), "--json").stdout)


def _train(root: Path, collection: str, session: Path, flags: list[str], result: dict[str, Any]) -> None:
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    dcgui("train", str(root / collection), "--session", str(session), "--no-progress", *flags, capture=False)
    result["train_minutes"] = result.get("train_minutes", 0.0) + (time.perf_counter() - t0) / 60
    result.setdefault("load_before", load)
    result["load_after"] = os.getloadavg()[0]
    info = json.loads(dcgui("info", str(session), "--json").stdout)
    result.update(config=info["config"], images=info["images"], epochs=info["epochs"])


def _save(out: Path, result: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))


def run_one(root: Path, collection: str, label: str, flags: list[str], eval_epochs: list[int]) -> Path:
    out = RESULTS / collection / f"{label}.json"
    if out.exists():
        print(f"{out} exists: skipped")
        return out
    session = _session(root, collection, label)
    if session.exists():
        raise SystemExit(f"{session} exists from an interrupted run: remove it (and {session}.d) first")
    session.parent.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"collection": collection, "label": label, "flags": flags}
    _train(root, collection, session, flags, result)
    last = len(result["epochs"])
    _evaluate(session, sorted({e for e in eval_epochs if 0 < e < last} | {last}), result)
    _save(out, result)
    print(f"{collection} {label}: {summary(result)}", flush=True)
    return out


def extend_one(root: Path, collection: str, label: str, epochs: int, eval_epochs: list[int]) -> None:
    """Train an earlier run's session on to ``epochs`` in total (the engine's settings do not depend
    on the total, so this is the run a fresh ``--epochs`` would give) and evaluate ``eval_epochs``
    (default: the last). A run stopped early (Ctrl-C: its JSON was never written) is picked up from
    its session; its minutes are then the epochs' own seconds (the decoding is not counted)."""
    out = RESULTS / collection / f"{label}.json"
    session = _session(root, collection, label)
    if out.exists():
        result = json.loads(out.read_text())
    else:
        info = json.loads(dcgui("info", str(session), "--json").stdout)
        result = {"collection": collection, "label": label, "flags": ["(stopped early, picked up)"],
                  "train_minutes": sum(e["seconds"] for e in info["epochs"]) / 60, "load_before": os.getloadavg()[0],
                  "config": info["config"], "images": info["images"], "epochs": info["epochs"]}
    legacy = result.pop("eval", None)  # results written before evals were kept per epoch
    if legacy is not None:
        result.setdefault("evals", {})[str(legacy["epoch"])] = legacy
    if epochs > len(result["epochs"]):
        _train(root, collection, session, ["--epochs", str(epochs)], result)
        result["flags"] = [*result["flags"], "--epochs", str(epochs)]
    last = len(result["epochs"])
    _evaluate(session, sorted({e for e in eval_epochs if 0 < e <= last} or {last}), result)
    _save(out, result)
    print(f"{collection} {label}: {summary(result)}", flush=True)


def _evals(r: dict[str, Any]) -> dict[int, dict[str, Any]]:
    if "eval" in r:
        return {int(r["eval"]["epoch"]): r["eval"]}
    return {int(e): v for e, v in r["evals"].items()}


def summary(r: dict[str, Any], epoch: int | None = None) -> dict[str, Any]:
    """The table's figures for the run ``r`` stopped at ``epoch`` (default: its last)."""
    evals = _evals(r)
    epoch = max(evals) if epoch is None else epoch
    rows = {row["epoch"]: row for row in evals[epoch]["rows"]}
    ep = r["epochs"][:epoch]
    nmi_l = [e["nmi_labels"] for e in ep]
    nmi_p = [e["nmi_prev"] for e in ep]
    # Minutes to this epoch: preparation (scan, decode) + the epochs' own seconds.
    all_s = sum(e["seconds"] for e in r["epochs"]) / 60
    prep = max(r["train_minutes"] - all_s, 0.0)
    return {
        "knn0": rows[0]["knn_acc"], "knn": rows[epoch]["knn_acc"],
        "lin0": rows[0]["linear_acc"], "lin": rows[epoch]["linear_acc"],
        "nmi_l1": nmi_l[0], "nmi_lN": nmi_l[-1],
        "nmi_p2": nmi_p[1] if len(nmi_p) > 1 else None, "nmi_pN": nmi_p[-1],
        "epochs": epoch, "minutes": prep + sum(e["seconds"] for e in ep) / 60, "load": r.get("load_before"),
    }


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _row(collection: str, label: str, s: dict[str, Any], with_label: bool) -> str:
    gain = 100 * (s["knn"] - s["knn0"])
    fig2 = (s["nmi_lN"] >= s["nmi_l1"] + 0.02) and s["nmi_p2"] is not None and s["nmi_pN"] > s["nmi_p2"]
    cells = [collection] + ([label] if with_label else []) + [
        f"{_f(s['knn0'])} -> {_f(s['knn'])}", f"**{gain:+.1f}**",
        f"{_f(s['lin0'])} -> {_f(s['lin'])}", f"{100 * (s['lin'] - s['lin0']):+.1f}",
        f"{_f(s['nmi_l1'])} -> {_f(s['nmi_lN'])}", f"{_f(s['nmi_p2'])} -> {_f(s['nmi_pN'])}",
        "yes" if fig2 else "no", str(s["epochs"]), f"{s['minutes']:.1f}", f"{s['load']:.1f}",
    ]
    return "| " + " | ".join(cells) + " |"


HEAD = ("| kNN random -> trained | kNN gain (pts) | linear random -> trained | linear gain | "
        "NMI vs labels ep. 1 -> last | NMI(t-1,t) ep. 2 -> last | Fig. 2 shape | epochs | train min | load |")


# Fields that do not change what is learned (or that quality.py sets itself for the machine).
_RUN_FIELDS = {"epochs", "threads", "workers", "device"}


def _is_default_now(r: dict[str, Any], root: Path) -> bool:
    """True when the run's settings are what a plain ``dcgui train`` would choose for its collection
    today (same rule as the command: size and class folders), epochs and threads aside."""
    from dcgui.core.config import default_config
    from dcgui.core.images.collection import scan

    folder = root / r["collection"]
    if not folder.is_dir():
        return False
    found = scan(folder)
    now = default_config(r["images"], "cpu", len(found.label_names) or None).to_dict()
    return all(now[k] == v for k, v in r["config"].items() if k not in _RUN_FIELDS)


def _main_epoch(r: dict[str, Any]) -> int:
    """The epoch the configuration itself stops at (a run extended later has more)."""
    return int(r.get("main_epoch", max(_evals(r))))


def load_results() -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for f in sorted(RESULTS.glob("*/*.json")):
        r = json.loads(f.read_text())
        out.setdefault(r["collection"], {})[r["label"]] = r
    return out


def tables(root: Path) -> dict[str, str]:
    res = load_results()
    colls = [c for c in COLLECTIONS if c in res] + sorted(set(res) - set(COLLECTIONS))
    defaults = ["| collection | configuration " + HEAD, "|---|---" + "|---:" * 10 + "|"]
    for c in colls:
        # The new defaults: the run labelled so, or else any run whose settings they are now.
        now = [lab for lab in ["defaults", *sorted(res[c])] if lab in res[c] and _is_default_now(res[c][lab], root)]
        if "old-defaults" in res[c]:
            r = res[c]["old-defaults"]
            same = bool(now) and now[0] == "old-defaults"
            name = "old defaults" + (" = **new defaults** (unchanged for this collection)" if same else "")
            defaults.append(_row(c, name, summary(r, _main_epoch(r)), True))
            if same:
                continue
        if now:
            r = res[c][now[0]]
            name = "**new defaults**" + ("" if now[0] == "defaults" else f" (= run `{now[0]}`)")
            defaults.append(_row(c, name, summary(r, _main_epoch(r)), True))
    labels = sorted({lab for c in colls for lab in res[c]} - {"old-defaults", "defaults"})
    levers = []
    for label in ["old-defaults", *labels]:
        levers.append(f"\n**{label}**: {LEVERS.get(label, label)}\n")
        levers += ["| collection " + HEAD, "|---" + "|---:" * 10 + "|"]
        for c in colls:
            if label in res[c]:
                for e in sorted(_evals(res[c][label])):
                    levers.append(_row(c, label, summary(res[c][label], e), False))
    return {"defaults": "\n".join(defaults), "levers": "\n".join(levers)}


def write_doc(root: Path) -> None:
    text = DOC.read_text()
    for name, body in tables(root).items():
        begin, end = f"<!-- quality.py:{name} begin -->", f"<!-- quality.py:{name} end -->"
        if begin not in text:
            raise SystemExit(f"{DOC} has no {begin} marker: add the pair {begin} / {end} where the table goes")
        i, j = text.index(begin), text.index(end)
        text = f"{text[:i]}{begin}\n{body}\n{text[j:]}"
    DOC.write_text(text)
    print(f"wrote the tables of {DOC}")


def main() -> int:
    argv = sys.argv[1:]
    flags: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, flags = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("label")
    r.add_argument("--collections", nargs="+", default=COLLECTIONS)
    r.add_argument("--root", type=Path, default=Path("/work/data"))
    r.add_argument("--eval-epochs", type=int, nargs="*", default=[10])
    x = sub.add_parser("extend", help="train an earlier run on to --epochs and evaluate --eval-epochs")
    x.add_argument("label")
    x.add_argument("--epochs", type=int, required=True)
    x.add_argument("--collections", nargs="+", default=COLLECTIONS)
    x.add_argument("--root", type=Path, default=Path("/work/data"))
    x.add_argument("--eval-epochs", type=int, nargs="*", default=[])
    t = sub.add_parser("table")
    t.add_argument("--root", type=Path, default=Path("/work/data"))
    args = p.parse_args(argv)
    if args.cmd == "run":
        for c in args.collections:
            run_one(args.root, c, args.label, flags, args.eval_epochs)
    elif args.cmd == "extend":
        for c in args.collections:
            extend_one(args.root, c, args.label, args.epochs, args.eval_epochs)
    else:
        write_doc(args.root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
