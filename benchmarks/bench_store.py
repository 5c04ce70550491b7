"""Benchmark of the session store at ImageNet-like scale.

Builds a synthetic session of N images x E epochs (default 200,000 x 100, k = 1000) whose
assignments behave like a real run: images sorted by path sit in class folders, each class
spreads over ~10 clusters (over-clustering), epoch 1 is half noise, and each later epoch
reassigns a shrinking fraction of images (30% -> 5%). Raw k-means ids are a fresh random
permutation of the matched ids every epoch, as in a real run.

Reports the file size and median times of ``record_epoch``, ``cluster_members`` (cold: a fresh
read-only connection, and warm: the decoded epoch cached) and ``image_history`` (cold), and
writes a markdown table to ``benchmarks/results_store.md``.

    python benchmarks/bench_store.py [--images 200000] [--epochs 100] [--k 1000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dcgui.core.config import TrainConfig  # noqa: E402
from dcgui.core.events import EpochFinished, EpochMetrics  # noqa: E402
from dcgui.core.images.collection import ImageRecord  # noqa: E402
from dcgui.store import SessionStore  # noqa: E402


def synthetic_epochs(n: int, k: int, epochs: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """Yield (matched, mapping) per epoch with realistic stability between epochs."""
    rng = np.random.default_rng(seed)
    n_classes = max(k // 10, 1)
    cls = np.minimum(np.arange(n) * n_classes // n, n_classes - 1)
    homes = rng.permutation(k)[: n_classes * 10].reshape(n_classes, -1)
    own = homes[cls, rng.integers(0, homes.shape[1], n)]
    matched = np.where(rng.random(n) < 0.5, own, rng.integers(0, k, n))
    for e in range(1, epochs + 1):
        if e > 1:
            frac = 0.05 + 0.25 * np.exp(-(e - 2) / 10)
            move = rng.random(n) < frac
            towards_class = rng.random(n) < 0.7
            new = np.where(towards_class, homes[cls, rng.integers(0, homes.shape[1], n)], rng.integers(0, k, n))
            matched = np.where(move, new, matched)
        yield matched.astype(np.int32), rng.permutation(k).astype(np.int32)


def metrics(e: int, k: int, matched: np.ndarray) -> EpochMetrics:
    sizes = np.bincount(matched, minlength=k)
    nz = sizes[sizes > 0]
    return EpochMetrics(
        epoch=e, nmi_prev=None if e == 1 else 0.8, nmi_labels=0.5, ari_labels=0.2, loss=2.0,
        kmeans_objective=1.0, k=k, empty_clusters=int((sizes == 0).sum()), min_cluster=int(nz.min()),
        max_cluster=int(nz.max()), size_entropy=0.95, seconds_features=60.0, seconds_clustering=30.0,
        seconds_training=120.0, images_per_second=2000.0, n_images=int(matched.size),
    )


def median_ms(fn, reps: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for i in range(reps):
        t = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200_000)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=50, help="queries per measurement")
    ap.add_argument("--keep", type=Path, help="build the session in this folder and keep it")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results_store.md")
    ap.add_argument("--append", action="store_true", help="add this run's table to --out instead of replacing it")
    args = ap.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="dcgui-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "bench.dcgui"
    for stale in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm")):
        stale.unlink(missing_ok=True)
    n, k, n_epochs = args.images, args.k, args.epochs
    rng = np.random.default_rng(1)
    try:
        store = SessionStore.create(path, work / "photos", TrainConfig(k=k))
        records = [ImageRecord(f"class_{i * (k // 10) // n:04d}/img_{i:07d}.jpg", 100_000, 0, None) for i in range(n)]
        t = time.perf_counter()
        store.set_images(records, [], None)
        t_images = time.perf_counter() - t

        record_ms = []
        for e, (matched, mapping) in enumerate(synthetic_epochs(n, k, n_epochs), start=1):
            inverse = np.argsort(mapping).astype(np.int32)
            ev = EpochFinished(metrics(e, k, matched), inverse[matched], matched, mapping,
                               str(store.checkpoint_dir / f"epoch_{e:04d}.pt"), "0" * 64)
            t = time.perf_counter()
            store.record_epoch(ev)
            record_ms.append((time.perf_counter() - t) * 1000)
            if e % 10 == 0:
                print(f"epoch {e}/{n_epochs}: record_epoch {record_ms[-1]:.0f} ms", file=sys.stderr)
        store.close()
        size_mb = path.stat().st_size / 1e6

        reader = SessionStore.open(path, readonly=True)
        chunk = reader.chunk_size
        epochs = rng.integers(1, n_epochs + 1, args.reps)
        clusters = rng.integers(0, k, args.reps)
        images = rng.integers(0, n, args.reps)

        def members_cold(i: int) -> None:
            reader.epoch_data.clear_cache()  # measure a decode of the whole epoch every time
            reader.cluster_members(int(epochs[i]), int(clusters[i]))

        cold_members = median_ms(members_cold, args.reps)
        reader.cluster_members(int(epochs[0]), 0)
        warm_members = median_ms(lambda i: reader.cluster_members(int(epochs[0]), int(clusters[i])), args.reps)
        history = median_ms(lambda i: reader.image_history(int(images[i])), args.reps)
        t = time.perf_counter()
        reader.epochs()
        t_epochs = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        fresh = SessionStore.open(path, readonly=True)
        fresh.image_paths()
        t_open = (time.perf_counter() - t) * 1000
        fresh.close()
        # Sanity: the history of an image agrees with the epochs' full assignments.
        i = int(images[0])
        hist = reader.image_history(i)
        assert hist.shape == (n_epochs,)
        assert all(hist[e - 1] == reader.assignments(e)[i] for e in (1, n_epochs // 2 or 1, n_epochs))
        reader.close()
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    rows = [
        ("file size", f"{size_mb:.1f} MB ({size_mb * 1e6 / (n * n_epochs):.2f} bytes per image-epoch)"),
        ("set_images (all rows)", f"{t_images * 1000:.0f} ms"),
        ("record_epoch (median of all epochs, one transaction, fsync)", f"{statistics.median(record_ms):.1f} ms"),
        ("cluster_members, cold (decode the epoch)", f"{cold_members:.2f} ms"),
        ("cluster_members, warm (epoch in the LRU)", f"{warm_members:.2f} ms"),
        ("image_history (one blob per epoch)", f"{history:.2f} ms"),
        ("epochs() (all metric rows)", f"{t_epochs:.2f} ms"),
        ("open read-only + image_paths()", f"{t_open:.0f} ms"),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    title = "# Session store benchmark\n\n" if not args.append else "\n"
    text = title + f"""## {n:,} images x {n_epochs} epochs, k = {k}

Synthetic session: **{n:,} images x {n_epochs} epochs, k = {k}** (`benchmarks/bench_store.py
--images {n} --epochs {n_epochs} --k {k}`). Assignments are realistic rather than uniform: images
sit in class folders, each class spreads over ~10 clusters, epoch 1 is half noise and each later
epoch reassigns a shrinking fraction (30% -> 5%) of images; raw k-means ids are a fresh
permutation every epoch.

Medians over {args.reps} random queries, on a read-only connection opened after writing.
"Cold" clears the store's small LRU of decoded epochs before each query.
Machine: {platform.machine()}, {platform.system()}, {os.cpu_count()} cores shared with other work (load
average {os.getloadavg()[0]:.1f} at the end of the run), Python {platform.python_version()}, SQLite
{sqlite3.sqlite_version}, local disk. Chunk size {chunk} images.

| measurement | result |
|---|---|
{table}
"""
    if args.append and args.out.exists():
        text = args.out.read_text() + text
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
