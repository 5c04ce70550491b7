"""Does DeepCluster learn on real data here? The paper's Fig. 2 shape and a kNN gain over the init.

Runs the real engine (``dcgui.core.train.engine.DeepCluster``) on N Fashion-MNIST training images at the
CPU defaults, then evaluates the frozen backbone of every few epochs with kNN (k=20, cosine,
temperature-weighted votes; bank = the N training images, queries = held-out test images),
always next to the same network at its random initialisation (epoch 0).

Usage: python benchmarks/quality.py [--n 20000] [--epochs 20] [--head reset|centroids] [--out DIR]
Data: Debian's dataset-fashion-mnist (``apt-get download dataset-fashion-mnist && dpkg -x ...``);
``--fm-dir`` points at the folder with the four idx .gz files.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dcgui.core.analysis.evaluate import knn_split_accuracy, linear_probe_accuracy
from dcgui.core.config import default_config
from dcgui.core.events import EpochFinished, Message
from dcgui.core.train.checkpoint import load_model
from dcgui.core.train.engine import DeepCluster
from dcgui.core.train.features import iter_features

FM_DIRS = [Path("/usr/share/datasets/fashion-mnist"), Path("/tmp/fm/usr/share/datasets/fashion-mnist")]


def load_idx(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(folder / f"{split}-images-idx3-ubyte.gz") as fh:
        images = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / f"{split}-labels-idx1-ubyte.gz") as fh:
        labels = np.frombuffer(fh.read(), np.uint8, offset=8).astype(np.int64)
    return images, labels


def to_cache_pixels(gray: np.ndarray, side: int) -> np.ndarray:
    """28x28 grey -> side x side RGB uint8, as the decode cache would store them."""
    out = np.empty((len(gray), side, side, 3), np.uint8)
    for i, g in enumerate(gray):
        out[i] = np.asarray(Image.fromarray(g).resize((side, side), Image.Resampling.BILINEAR).convert("RGB"))
    return out


def features_of(ckpt: Path, pixels: np.ndarray) -> np.ndarray:
    model, cfg = load_model(ckpt)
    gen = iter_features(model, pixels, cfg.image_size, 512, torch.device("cpu"), representation=True)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--n-test", type=int, default=5_000)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--head", default="reset", choices=["reset", "centroids"])
    p.add_argument("--k", type=int, default=0, help="0: the default for the collection")
    p.add_argument("--sobel", type=int, default=-1, help="-1: default, 0 off, 1 on")
    p.add_argument("--crop-min", type=float, default=0.0, help="RandomResizedCrop min scale (0: default)")
    p.add_argument("--lr", type=float, default=0.0, help="0: default")
    p.add_argument("--arch", default="", help="default: the CPU default")
    p.add_argument("--spe", type=float, default=0.0, help="samples per epoch as a multiple of N (0: default)")
    p.add_argument("--batch", type=int, default=0, help="batch size (0: default)")
    p.add_argument("--projection", type=int, default=-1, help="-1: default, 0 off, 1 on")
    p.add_argument("--eval-every", type=int, default=5)
    p.add_argument("--fm-dir", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("out/quality"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-only", action="store_true", help="evaluate the checkpoints of an earlier run")
    args = p.parse_args()
    fm = args.fm_dir or next((d for d in FM_DIRS if d.exists()), None)
    if fm is None:
        raise SystemExit("Fashion-MNIST idx files not found: apt-get download dataset-fashion-mnist && dpkg -x ... "
                         "then pass --fm-dir")
    rng = np.random.default_rng(args.seed)
    xtr, ytr = load_idx(fm, "train")
    xte, yte = load_idx(fm, "t10k")
    tr = np.sort(rng.choice(len(xtr), args.n, replace=False))
    te = np.sort(rng.choice(len(xte), args.n_test, replace=False))
    overrides: dict = {"epochs": args.epochs, "head": args.head, "seed": args.seed}
    if args.k:
        overrides["k"] = args.k
    if args.crop_min:
        overrides["crop_scale_min"] = args.crop_min
    if args.lr:
        overrides["lr"] = args.lr
    if args.arch:
        overrides["arch"] = args.arch
    if args.spe:
        overrides["samples_per_epoch"] = round(args.spe * args.n)
    if args.batch:
        overrides["batch_size"] = args.batch
    if args.projection >= 0:
        overrides["projection"] = bool(args.projection)
    if args.sobel >= 0:
        overrides["sobel"] = bool(args.sobel)
    cfg = default_config(args.n, "cpu", n_classes=10, **overrides)
    side = cfg.cache_size
    pix_tr, pix_te = to_cache_pixels(xtr[tr], side), to_cache_pixels(xte[te], side)
    labels_tr, labels_te = ytr[tr], yte[te]
    tag = (f"{args.head}_k{cfg.k}_sobel{int(cfg.sobel)}_crop{cfg.crop_scale_min}_lr{cfg.lr}_{cfg.arch}"
           f"_proj{int(cfg.projection)}_spe{cfg.samples_per_epoch}_b{cfg.batch_size}_n{args.n}_e{args.epochs}")
    out = args.out / tag
    out.mkdir(parents=True, exist_ok=True)
    print(f"config: {cfg.to_json()}", flush=True)

    torch.set_num_threads(max(torch.get_num_threads(), 1))
    rows: list[dict] = []
    previous_seconds = 0.0
    if args.eval_only and (out / "result.json").exists():
        previous = json.loads((out / "result.json").read_text())
        rows, previous_seconds = previous["epochs"], previous["train_seconds"]
    t0 = time.perf_counter()
    engine = DeepCluster(cfg, pix_tr, labels_tr, out / "checkpoints")
    for ev in [] if args.eval_only else engine.run():
        if isinstance(ev, Message):
            print("  ", ev.level, ev.text, flush=True)
        if isinstance(ev, EpochFinished):
            m = ev.metrics
            rows.append(m.to_dict())
            print(f"epoch {m.epoch:3d}  nmi_prev {m.nmi_prev if m.nmi_prev is None else round(m.nmi_prev, 3)}  "
                  f"nmi_labels {m.nmi_labels:.3f}  loss {m.loss:.3f}  empty {m.empty_clusters}  "
                  f"max {m.max_cluster}  {m.seconds:.1f}s ({m.images_per_second:.0f} img/s)", flush=True)
    train_seconds = previous_seconds or time.perf_counter() - t0

    evals = []
    for epoch in sorted({0, *range(args.eval_every, args.epochs + 1, args.eval_every), args.epochs}):
        ck = out / "checkpoints" / f"epoch_{epoch:04d}.pt"
        f_tr, f_te = features_of(ck, pix_tr), features_of(ck, pix_te)
        raw = knn_split_accuracy(f_tr, labels_tr, f_te, labels_te)
        # Pooled post-ReLU features are all non-negative, so raw cosines crowd near 1; centring on
        # the bank's mean (as dcgui's explore features do) makes cosine kNN meaningful.
        mean = f_tr.mean(axis=0, keepdims=True)
        acc = knn_split_accuracy(f_tr - mean, labels_tr, f_te - mean, labels_te)
        lin = linear_probe_accuracy(f_tr, labels_tr, f_te, labels_te)
        evals.append({"epoch": epoch, "knn_acc": acc, "knn_acc_uncentred": raw, "linear_acc": lin})
        print(f"epoch {epoch}: kNN (k=20, cosine, centred) {acc:.4f}  (uncentred {raw:.4f})  "
              f"linear probe {lin:.4f}", flush=True)
    result = {"config": cfg.to_dict(), "n_train": args.n, "n_test": args.n_test, "epochs": rows,
              "knn": evals, "train_seconds": train_seconds}
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(f"wrote {out / 'result.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
