"""k-means: faiss (the CPU path) vs ``kmeans_torch`` (the GPU path), side by side on this machine.

``kmeans_torch`` is what ``clustering.kmeans`` runs when the engine's device is CUDA. Without a
GPU this measures it on the CPU, on the same data and seed as faiss: seconds (medians of
alternating repetitions), the k-means objective of each, and the agreement of the two partitions
(NMI). Data: N unit-norm rows at d = 256 drawn around k/4 centres (clustered, like whitened
DeepCluster features). With ``--device cuda`` the torch side runs on the GPU.

    python benchmarks/bench_kmeans_torch.py [--n 100000] [--k 1000] [--reps 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data

from dcgui.core.analysis.metrics import nmi
from dcgui.core.train.clustering import kmeans, kmeans_torch


def data(n: int, k: int, d: int = 256, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(k // 4, 2), d)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] + 0.8 * rng.standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    x = data(args.n, args.k)
    t_faiss: list[float] = []
    t_torch: list[float] = []
    for rep in range(args.reps):
        t0 = time.perf_counter()
        ref = kmeans(x, args.k, args.iters, seed=rep)
        t_faiss.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours = kmeans_torch(x, args.k, args.iters, seed=rep, device=device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t_torch.append(time.perf_counter() - t0)
        print(f"rep {rep}: faiss {t_faiss[-1]:.1f} s (objective {ref.objective:.1f}), kmeans_torch "
              f"{t_torch[-1]:.1f} s (objective {ours.objective:.1f}), NMI {nmi(ref.assign, ours.assign):.3f}",
              flush=True)
    mf, mt = statistics.median(t_faiss), statistics.median(t_torch)
    _data.publish("kmeans_torch", [
        f"### k-means: faiss vs `kmeans_torch` ({time.strftime('%Y-%m-%d %H:%M')})", "",
        f"N = {args.n:,}, d = 256, k = {args.k:,}, {args.iters} iterations, same data and seed; "
        f"medians of {args.reps} alternating repetitions; torch side on `{args.device}`.", "",
        "| | faiss (CPU path) | `kmeans_torch` (GPU path) |", "|---|---:|---:|",
        f"| seconds | {mf:.1f} | {mt:.1f} |",
        f"| objective (last rep) | {ref.objective:.1f} | {ours.objective:.1f} |",
        f"| NMI between the two partitions (last rep) | {nmi(ref.assign, ours.assign):.3f} | |",
    ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
