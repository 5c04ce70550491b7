"""AMI per epoch: its cost against the clustering phase it is computed in, and against
scikit-learn's ``adjusted_mutual_info_score``.

The engine computes two AMIs with every epoch: against the labels and between consecutive
epochs (``dcgui.core.analysis.ami.ami``, exact). This script times both on assignments shaped
like a real run (10 classes each spread over k/10 clusters, half noise; the previous epoch
differs in 10 % of the images) and, as the reference, the k-means of the same N and k
(``dcgui.core.train.clustering.kmeans``, d = 256, 20 iterations: one phase of the epoch, so the share of
the whole epoch is smaller still). ``--sklearn`` also times scikit-learn (minutes at k = 10,000).

    python benchmarks/bench_ami.py [--n 100000 1000000] [--k 100 1000 10000] [--kmeans] [--sklearn]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _data

from dcgui.core.analysis.ami import ami
from dcgui.core.analysis.metrics import nmi


def assignments(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    per = max(k // 10, 1)
    own = (labels * per + rng.integers(0, per, n)) % k
    current = np.where(rng.random(n) < 0.5, own, rng.integers(0, k, n))
    prev = np.where(rng.random(n) < 0.1, rng.integers(0, k, n), current)
    return labels, prev, current


def timed(fn, reps: int = 3) -> float:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return _data.median(out)


def kmeans_seconds(n: int, k: int) -> float:
    from dcgui.core.train.clustering import kmeans

    rng = np.random.default_rng(1)
    centres = rng.standard_normal((max(k // 4, 2), 256)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] + 0.8 * rng.standard_normal((n, 256), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    t0 = time.perf_counter()
    kmeans(x, k, niter=20, seed=0)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--k", type=int, nargs="+", default=[100, 1000, 10_000])
    ap.add_argument("--kmeans", action="store_true", help="time k-means at each N <= 100,000 as the reference")
    ap.add_argument("--sklearn", action="store_true", help="also time scikit-learn at N <= 100,000")
    args = ap.parse_args(argv)
    lines = [f"### AMI per epoch ({time.strftime('%Y-%m-%d %H:%M')})", "",
             "`ami` (exact: sparse contingency table + E[MI] over pairs of distinct cluster sizes), "
             "both AMIs of an epoch (labels and previous epoch), medians of 3; NMI for scale; "
             "k-means (d = 256, 20 iterations) of the same N and k as the reference phase.", "",
             "| N | k | AMI labels + prev | NMI labels + prev | k-means | AMI / k-means | scikit-learn AMI prev |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for n in args.n:
        for k in args.k:
            labels, prev, current = assignments(n, k)
            t_ami = timed(lambda lab=labels, p=prev, c=current: (ami(lab, c), ami(p, c)))
            t_nmi = timed(lambda lab=labels, p=prev, c=current: (nmi(lab, c), nmi(p, c)))
            km = kmeans_seconds(n, k) if args.kmeans and n <= 100_000 else float("nan")
            share = f"{100 * t_ami / km:.3f} %" if km == km else "-"
            sk = "-"
            if args.sklearn and n <= 100_000:
                from sklearn.metrics import adjusted_mutual_info_score

                t0 = time.perf_counter()
                adjusted_mutual_info_score(prev, current)
                sk = f"{time.perf_counter() - t0:.1f} s"
            km_text = f"{km:.1f} s" if km == km else "-"
            lines.append(f"| {n:,} | {k:,} | {1000 * t_ami:.1f} ms | {1000 * t_nmi:.1f} ms | {km_text} | {share} | {sk} |")
            print(lines[-1], flush=True)
    _data.publish("ami", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
