"""PCA-whitening + L2: faiss ``PCAMatrix`` (dcgui's first implementation) vs ``pca_whiten_l2`` today.

``pca_whiten_l2`` now accumulates float64 moments in chunks, takes ``torch.linalg.eigh`` of the
D x D covariance and applies the transform chunk by chunk, written over its input
(``inplace=True``, as the engine calls it), so no second feature matrix exists. faiss
``PCAMatrix.train`` + ``apply`` + L2 is the reference: the outputs agree up to the sign of each
component (checked below on the Gram matrix of the first rows). Variants alternate; medians are
reported.

    python benchmarks/bench_pca.py [--n 20000] [--dims 256,512,2048] [--reps 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data

from dcgui.core.train.clustering import pca_whiten_l2


def faiss_pca_whiten_l2(x: np.ndarray, dim: int) -> np.ndarray:
    """The previous implementation: faiss PCAMatrix fitted on every row, applied, then L2."""
    pca = faiss.PCAMatrix(x.shape[1], dim, -0.5)
    pca.max_points_per_d = len(x) // x.shape[1] + 2
    pca.train(x)
    y = pca.apply(x)
    y /= np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    return y


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dims", default="256,512,2048")
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args(argv)
    lines = [f"### PCA-whitening: faiss PCAMatrix vs chunked `pca_whiten_l2` ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"N = {args.n:,} random features with a decaying spectrum, to 256 dims + L2; medians of "
             f"{args.reps} alternating repetitions; seconds.", "",
             "| D | faiss PCAMatrix | `pca_whiten_l2(inplace=True)` | speed-up | max Gram difference |",
             "|---:|---:|---:|---:|---:|"]
    for d in (int(x) for x in args.dims.split(",")):
        rng = np.random.default_rng(d)
        x = (rng.standard_normal((args.n, d), dtype=np.float32)
             * np.linspace(3.0, 0.1, d, dtype=np.float32))  # anisotropic, like real features
        t_faiss: list[float] = []
        t_torch: list[float] = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            a = faiss_pca_whiten_l2(x, 256)
            t_faiss.append(time.perf_counter() - t0)
            buf = x.copy()  # inplace overwrites its input: time it on a fresh copy
            t0 = time.perf_counter()
            b = pca_whiten_l2(buf, 256, inplace=True)
            t_torch.append(time.perf_counter() - t0)
        diff = float(np.abs(a[:500] @ a[:500].T - b[:500] @ b[:500].T).max())
        mf, mt = statistics.median(t_faiss), statistics.median(t_torch)
        lines.append(f"| {d} | {mf:.1f} | {mt:.1f} | {mf / mt:.1f}x | {diff:.1e} |")
        print(lines[-1], flush=True)
    _data.publish("pca", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
