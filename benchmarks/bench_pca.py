"""PCA-whitening + L2: faiss ``PCAMatrix`` (today's ``pca_whiten_l2``) vs a LAPACK ``eigh`` path.

At wide features the fit is dominated by the D x D eigendecomposition, which faiss does with
LAPACK ``dsyev``; ``torch.linalg.eigh`` / ``numpy.linalg.eigh`` use the divide-and-conquer
``syevd``. The alternative measured here is ``dcgui.core.distributed.sharded_pca_whiten_l2`` in a
single process (float64 moments in chunks + ``torch.linalg.eigh``); its output equals
``pca_whiten_l2``'s up to the sign of each component (checked below on the Gram matrix of the
first rows). Variants alternate; medians are reported.

    python benchmarks/bench_pca.py [--n 20000] [--dims 512,2048] [--reps 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data

from dcgui.core.clustering import pca_whiten_l2
from dcgui.core.distributed import DistContext, sharded_pca_whiten_l2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dims", default="512,2048")
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args(argv)
    ctx = DistContext.from_env("cpu", env={})
    lines = [f"### PCA-whitening fit: faiss PCAMatrix vs torch eigh ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"N = {args.n:,} random features with a decaying spectrum, to 256 dims + L2; medians of "
             f"{args.reps} alternating repetitions; seconds.", "",
             "| D | faiss `pca_whiten_l2` | `sharded_pca_whiten_l2` (torch eigh) | speed-up | max Gram difference |",
             "|---:|---:|---:|---:|---:|"]
    for d in (int(x) for x in args.dims.split(",")):
        rng = np.random.default_rng(d)
        x = (rng.standard_normal((args.n, d), dtype=np.float32)
             * np.linspace(3.0, 0.1, d, dtype=np.float32))  # anisotropic, like real features
        t_faiss: list[float] = []
        t_torch: list[float] = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            a = pca_whiten_l2(x, 256)
            t_faiss.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = sharded_pca_whiten_l2(x, ctx, 256)
            t_torch.append(time.perf_counter() - t0)
        diff = float(np.abs(a[:500] @ a[:500].T - b[:500] @ b[:500].T).max())
        mf, mt = statistics.median(t_faiss), statistics.median(t_torch)
        lines.append(f"| {d} | {mf:.1f} | {mt:.1f} | {mf / mt:.1f}x | {diff:.1e} |")
        print(lines[-1], flush=True)
    lines += ["", f"Machine: {_data.machine()}."]
    text = "\n".join(lines)
    print("\n" + text)
    _data.write_section("pca", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
