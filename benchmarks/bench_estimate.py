"""Expected time vs real time: the estimate the New-session dialog and the demo question show,
then the real run of the same configuration, back to back (same machine load).

For each configuration: ``estimate_run_seconds`` (measured on this machine, as the GUI does), then
a real ``iter_train_file`` run from a fresh session (scan, decode into the cache, every epoch with
its checkpoint and SQLite commit), timed wall-clock. Prints estimate, real, ratio (estimate/real)
and where the real time went (cache build, features, clustering, training, per-epoch overhead),
and the 1-minute load average before each pair.

    python benchmarks/bench_estimate.py                 # all configurations
    python benchmarks/bench_estimate.py --only demo-quick
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data

from dcgui.core.config import TrainConfig, default_config
from dcgui.core.events import CollectionReady, EpochFinished
from dcgui.core.images.collection import scan
from dcgui.core.train.estimate import PhaseTimes, estimate_run_seconds, measure_rates

THREADS = max(1, (os.cpu_count() or 2) - 1)  # what the window's worker uses (torch_threads_for_worker)


def _demo_folder() -> Path:
    from dcgui.core.images.demo import extract_demo

    target = _data.BENCH_DIR / "demo"
    return extract_demo(target)


def configs() -> dict[str, Callable[[], tuple[Path, TrainConfig]]]:
    from dcgui.gui.main_window import DEMO_QUICK_EPOCHS, demo_config

    def demo(epochs: int | None) -> Callable[[], tuple[Path, TrainConfig]]:
        def make() -> tuple[Path, TrainConfig]:
            cfg = demo_config("cpu")
            return _demo_folder(), cfg.replace(epochs=epochs or cfg.epochs)
        return make

    def photos(n: int, **over: object) -> Callable[[], tuple[Path, TrainConfig]]:
        def make() -> tuple[Path, TrainConfig]:
            folder = _data.photo_folder(n)
            return folder, default_config(n, "cpu", **over)  # type: ignore[arg-type]
        return make

    return {
        "demo-quick": demo(DEMO_QUICK_EPOCHS),
        "demo-full": demo(None),
        "photos-200-defaults": photos(200, epochs=3),
        "photos-200-k8": photos(200, epochs=3, k=8),
        "photos-200-k100": photos(200, epochs=3, k=100),
    }


def run_pair(name: str, make: Callable[[], tuple[Path, TrainConfig]]) -> dict[str, float | str]:
    import torch

    from dcgui.services.training import create_session, iter_train_file

    folder, cfg = make()
    n = len(scan(folder).images)
    load = os.getloadavg()[0]
    torch.set_num_threads(THREADS)
    t0 = time.perf_counter()
    rates = measure_rates(cfg, n, threads=THREADS, folder=folder)
    measure_s = time.perf_counter() - t0
    estimate = estimate_run_seconds(cfg, n, rates, cached=False)
    parts = PhaseTimes.from_rates(cfg, n, rates)
    setup = n / rates.decode_images_per_s if rates.decode_images_per_s else 0.0
    with tempfile.TemporaryDirectory() as tmp:
        session = Path(tmp) / "bench.dcgui"
        create_session(session, folder, cfg).close()
        t0 = time.perf_counter()
        t_ready = t0
        last = t0
        epochs: list[float] = []
        phases = {"features": 0.0, "clustering": 0.0, "training": 0.0}
        for ev in iter_train_file(session, default_threads=THREADS):
            now = time.perf_counter()
            if isinstance(ev, CollectionReady):
                t_ready = last = now
            elif isinstance(ev, EpochFinished):
                m = ev.metrics
                epochs.append(now - last)
                last = now
                phases["features"] += m.seconds_features
                phases["clustering"] += m.seconds_clustering
                phases["training"] += m.seconds_training
        real = time.perf_counter() - t0
    overhead = sum(epochs) - sum(phases.values())
    row: dict[str, float | str] = {
        "name": name, "n": n, "epochs": cfg.epochs, "k": cfg.k, "load": load, "measure_s": measure_s,
        "estimate": estimate, "real": real, "ratio": estimate / real, "prepare": t_ready - t0,
        "first_epoch": epochs[0] if epochs else 0.0, "later_epoch": _data.median(epochs[1:]) if len(epochs) > 1 else 0.0,
        **phases, "overhead": overhead,
        "est_setup": setup, **{f"est_{p}": cfg.epochs * parts.get(p) for p in ("features", "clustering", "training")},
        "est_overhead": cfg.epochs * parts.overhead,
    }
    print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="configuration names (default: all)")
    ap.add_argument("--no-publish", action="store_true", help="print only; leave results.md alone")
    args = ap.parse_args()
    table = configs()
    rows = [run_pair(name, make) for name, make in table.items() if not args.only or name in args.only]
    lines = ["## Expected time vs real time (bench_estimate.py)", "",
             "Estimate: `measure_rates` + `estimate_run_seconds` (what the New-session dialog and the demo "
             "question show), measured right before the real run from a fresh session (scan, cache, epochs, "
             "checkpoints, SQLite). Ratio = estimate / real (goal: 0.75-1.25). Load: 1-min load average "
             "before the pair.", "",
             "| configuration | images | epochs | k | load | estimate s | real s | ratio | prepare s "
             "| 1st epoch s | later epoch s | overhead s (all epochs) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['n']} | {r['epochs']} | {r['k']} | {r['load']:.1f} | {r['estimate']:.0f} "
                     f"| {r['real']:.0f} | {r['ratio']:.2f} | {r['prepare']:.1f} | {r['first_epoch']:.1f} "
                     f"| {r['later_epoch']:.1f} | {r['overhead']:.1f} |")
    if args.no_publish:
        print("\n".join(lines))
    else:
        _data.publish("bench_estimate", lines)


if __name__ == "__main__":
    main()
