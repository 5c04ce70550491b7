"""Seconds for dcgui's clustering step on this machine: k-means (20 iterations) and PCA-whitening.

k-means: ``dcgui.core.train.clustering.kmeans`` (faiss, no subsampling, final nearest-centroid
assignment) on N = 10k, 100k, 1M L2-normalised points of d = 256 (what PCA-whitening + L2
produces), k = 100, 1,000, 10,000. The data are a mixture of 2,000 Gaussian blobs, so
the clusters are not degenerate.

A k-means iteration costs ~N*k*d multiply-adds whatever the data, so the run is planned from
the measured rate: a configuration whose predicted 20-iteration time is within ``--budget``
seconds is run in full; a larger one runs 1 iteration (plus the final assignment: 2 passes) and
is scaled to 20 iterations + assignment (21 passes) -- marked "1 iter x 21/2"; one where even that
would exceed the budget is predicted from the best measured rate -- marked "extrapolated".

PCA-whitening + L2 (``pca_whiten_l2``, to 256 dims) is timed for the feature widths of the
backbones (smallnet 256, ResNet-18 512, ResNet-50 2048, AlexNet/VGG 4096) at N = 10k and 100k,
and extrapolated to 1M along the line through the two measurements (the D x D
eigendecomposition is a fixed cost; covariance N*D^2 and projection N*D*256 grow with N).

    python benchmarks/bench_kmeans.py [--budget 90] [--sizes 10000,100000,1000000] [--ks 100,1000,10000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data

from dcgui.core.train.clustering import kmeans, pca_whiten_l2

D = 256
FEAT_DIMS = {"smallnet": 256, "resnet18": 512, "resnet50": 2048, "alexnet_bn / vgg16_bn": 4096}


def mixture(n: int, d: int, seed: int = 0, blobs: int = 2000) -> np.ndarray:
    """``n`` unit vectors around ``blobs`` random centres (chunked: no float64 temporaries of n x d)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((blobs, d)).astype(np.float32)
    out = np.empty((n, d), np.float32)
    for a in range(0, n, 65536):
        b = min(a + 65536, n)
        lab = rng.integers(0, blobs, b - a)
        chunk = centres[lab] + 0.7 * rng.standard_normal((b - a, d), dtype=np.float32)
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        out[a:b] = chunk
    return out


def time_kmeans(x: np.ndarray, k: int, niter: int) -> float:
    t0 = time.perf_counter()
    kmeans(x, k, niter=niter, seed=1)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--ks", default="100,1000,10000")
    ap.add_argument("--niter", type=int, default=20)
    ap.add_argument("--budget", type=float, default=90.0, help="seconds allowed for one full measurement")
    ap.add_argument("--pca-sizes", default="10000,100000")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    ks = [int(s) for s in args.ks.split(",")]
    passes = args.niter + 1  # iterations + the final nearest-centroid assignment

    # Calibrate: a small full run gives seconds per (N*k*d) multiply-add of one pass.
    x = mixture(20_000, D, seed=9)
    t = time_kmeans(x, 500, 4)
    rate = 5 * 20_000 * 500 * D / t  # multiply-adds per second
    print(f"calibration: {rate / 1e9:.1f} G multiply-adds/s (20k x 500, 4 iterations: {t:.1f} s)", flush=True)
    # Plan and extrapolate with the rate of the largest measured problem (BLAS is most efficient
    # there; small problems under-estimate it).
    measured: list[tuple[int, float]] = [(20_000 * 500 * D, rate)]

    def rate_now() -> float:
        return max(measured)[1]

    rows: list[tuple[int, int, float, str]] = []
    for n in sizes:
        x = mixture(n, D, seed=n)
        for k in ks:
            if k > n:
                continue
            work = n * k * D
            predicted = passes * work / rate_now()
            if predicted <= args.budget:
                secs = time_kmeans(x, k, args.niter)
                how = "measured"
                measured.append((work, passes * work / secs))
            elif 2 * work / rate_now() <= args.budget:
                t1 = time_kmeans(x, k, 1)
                secs = t1 * passes / 2
                how = f"1 iter ({t1:.0f} s) x {passes}/2"
                measured.append((work, 2 * work / t1))
            else:
                secs = passes * work / rate_now()
                how = f"**extrapolated** at {rate_now() / 1e9:.1f} G/s"
            rows.append((n, k, secs, how))
            print(f"N={n:>9,} k={k:>6,}: {secs:8.1f} s  ({how})", flush=True)
        del x
        gc.collect()

    pca_sizes = [int(s) for s in args.pca_sizes.split(",")]
    pca_rows: list[tuple[str, int, list[float], float]] = []
    for name, fd in FEAT_DIMS.items():
        secs_list = []
        for n in pca_sizes:
            f = np.random.default_rng(0).standard_normal((n, fd), dtype=np.float32)
            t0 = time.perf_counter()
            pca_whiten_l2(f, 256)
            secs_list.append(time.perf_counter() - t0)
            del f
            gc.collect()
            print(f"PCA {name} D={fd} N={n:,}: {secs_list[-1]:.1f} s", flush=True)
        if len(pca_sizes) >= 2:  # affine in N: a fixed eigendecomposition (D^3) + per-row work
            slope = max(0.0, (secs_list[-1] - secs_list[0]) / (pca_sizes[-1] - pca_sizes[0]))
            est = secs_list[-1] + slope * (1_000_000 - pca_sizes[-1])
        else:
            est = secs_list[-1] * 1_000_000 / pca_sizes[-1]
        pca_rows.append((name, fd, secs_list, est))

    lines = [f"### k-means and PCA-whitening ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"`dcgui.core.train.clustering.kmeans`, d={D}, {args.niter} iterations + final assignment, faiss "
             f"({faiss.omp_get_max_threads()} OpenMP threads), L2-normalised mixture data. Rate on the largest measured problem "
             f"{rate_now() / 1e9:.1f} G multiply-adds/s. Seconds:", "",
             "| N \\ k | " + " | ".join(f"{k:,}" for k in ks) + " |",
             "|---|" + "---:|" * len(ks)]
    for n in sizes:
        cells = []
        for k in ks:
            hit = [r for r in rows if r[0] == n and r[1] == k]
            if not hit:
                cells.append("-")
                continue
            _, _, secs, how = hit[0]
            tag = "" if how == "measured" else (" (extrap.)" if "extrapolated" in how else " (1 it x21/2)")
            cells.append(f"{secs:,.1f}{tag}")
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    lines += ["", "How each cell was obtained: " + "; ".join(
        f"{n:,}x{k:,}: {how}" for n, k, _, how in rows) + ".", "",
        "PCA-whitening to 256 + L2 (`pca_whiten_l2`), seconds (1M extrapolated with a straight line "
        "through the two measured N: a fixed eigendecomposition cost plus a per-row cost):", "",
        "| features | D | " + " | ".join(f"N={n:,}" for n in pca_sizes) + " | N=1M (extrap.) |",
        "|---|---:|" + "---:|" * (len(pca_sizes) + 1)]
    for name, fd, secs_list, est in pca_rows:
        lines.append(f"| {name} | {fd} | " + " | ".join(f"{s:.1f}" for s in secs_list) + f" | {est:,.0f} |")
    _data.publish("kmeans", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
