"""Clustering agreement (NMI, ARI) and cluster-size statistics, fast for N = 1M and k = 10,000.

Both scores are computed from the sparse contingency table (only the non-zero cells, found by
one sort of the paired labels), so no dense k x k table is ever built.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _contingency(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero cells of the contingency table of ``a`` vs ``b``.

    Returns (row sums, column sums, row of each cell, column of each cell, count of each cell).
    """
    a = np.asarray(a).ravel()
    b = np.asarray(b).ravel()
    if a.shape != b.shape:
        raise ValueError(f"the two labelings have different lengths ({a.size} and {b.size})")
    ia, ib = _dense_ids(a), _dense_ids(b)
    rows, cols = np.bincount(ia), np.bincount(ib)
    nb = max(len(cols), 1)
    if len(rows) * nb >= 2**62:  # the paired key would overflow: renumber both (never for real sizes)
        ia, ib = np.unique(ia, return_inverse=True)[1].ravel(), np.unique(ib, return_inverse=True)[1].ravel()
        rows, cols, nb = np.bincount(ia), np.bincount(ib), max(int(ib.max()) + 1, 1)
    keys, cells = np.unique(ia * nb + ib, return_counts=True)  # the one sort
    return rows, cols, keys // nb, keys % nb, cells


def _dense_ids(labels: np.ndarray) -> np.ndarray:
    """Labels as int64 ids in [0, m): used as they are when already small non-negative ints
    (cluster ids, skipping a sort; absent ids are empty rows), else renumbered."""
    if labels.size and np.issubdtype(labels.dtype, np.integer):
        lo, hi = int(labels.min()), int(labels.max())
        if lo >= 0 and hi < 4 * labels.size + 1024:
            return labels.astype(np.int64, copy=False)
    return np.unique(labels, return_inverse=True)[1].astype(np.int64).ravel()


def _entropy(counts: np.ndarray, n: int) -> float:
    p = counts[counts > 0] / n
    return float(-(p * np.log(p)).sum())


def nmi(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised mutual information with the geometric normalisation I(A;B) / sqrt(H(A) H(B)).

    This is the paper's definition (scikit-learn's ``average_method='geometric'``). Degenerate
    cases, as scikit-learn: both labelings single-cluster (identical partitions) or empty -> 1.0;
    exactly one single-cluster (no information shared) -> 0.0.
    """
    rows, cols, r, c, cells = _contingency(a, b)
    n = int(rows.sum())
    n_a, n_b = np.count_nonzero(rows), np.count_nonzero(cols)
    if n_a == n_b and n_a <= 1:
        return 1.0
    h_a, h_b = _entropy(rows, n), _entropy(cols, n)
    if h_a == 0.0 or h_b == 0.0:
        return 0.0
    nij = cells.astype(np.float64)
    mi = float((nij / n * (np.log(nij) + np.log(n) - np.log(rows[r]) - np.log(cols[c]))).sum())
    return float(min(max(mi / np.sqrt(h_a * h_b), 0.0), 1.0))


def ari(a: np.ndarray, b: np.ndarray) -> float:
    """Adjusted Rand index (Hubert & Arabie), from the pair-confusion counts as scikit-learn.

    1.0 for identical partitions (including both single-cluster); about 0 for independent ones;
    exact integer arithmetic, so no overflow for N = 1M.
    """
    rows, cols, _, _, cells = _contingency(a, b)
    n = int(rows.sum())
    sum_sq = int((cells.astype(np.int64) ** 2).sum())
    sum_rows_sq = int((rows.astype(np.int64) ** 2).sum())
    sum_cols_sq = int((cols.astype(np.int64) ** 2).sum())
    tp = sum_sq - n
    fp = sum_cols_sq - sum_sq
    fn = sum_rows_sq - sum_sq
    tn = n * n - fp - fn - sum_sq
    if fn == 0 and fp == 0:
        return 1.0
    return float(2 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)))


def cluster_size_stats(assign: np.ndarray, k: int) -> dict[str, Any]:
    """Sizes of the ``k`` clusters and a summary that shows collapse.

    ``empty``: clusters with no image; ``min``: the smallest *non-empty* cluster (0 when none);
    ``max``: the largest; ``entropy``: entropy of the size distribution divided by log(k), so 1.0
    means perfectly even clusters and values near 0 mean one cluster holds almost everything
    (1.0 for k = 1, 0.0 with no images); ``sizes``: int64 (k,).
    """
    assign = np.asarray(assign).ravel()
    if k < 1:
        raise ValueError(f"k={k} must be at least 1")
    if assign.size and (assign.min() < 0 or assign.max() >= k):
        raise ValueError(f"cluster ids must be in [0, {k}), got [{assign.min()}, {assign.max()}]")
    sizes = np.bincount(assign.astype(np.int64), minlength=k).astype(np.int64)
    n = int(sizes.sum())
    nonempty = sizes[sizes > 0]
    if n == 0:
        entropy = 0.0
    elif k == 1:
        entropy = 1.0
    else:
        entropy = _entropy(nonempty, n) / float(np.log(k))
    return {
        "empty": int(k - len(nonempty)),
        "min": int(nonempty.min()) if len(nonempty) else 0,
        "max": int(sizes.max()) if n else 0,
        "entropy": float(min(max(entropy, 0.0), 1.0)),
        "sizes": sizes,
    }
