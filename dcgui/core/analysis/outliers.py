"""Outliers: images far from every cluster centroid of a trained epoch.

Pure functions over numpy features and cluster assignments (row i = image i); a centroid is the
re-normalised mean of its members' normalised features.
"""

from __future__ import annotations

import numpy as np

from dcgui.core.analysis.neighbours import _faiss, as_normalized, normalize_rows


def _centroids(x: np.ndarray, assign: np.ndarray, k: int | None) -> tuple[np.ndarray, np.ndarray]:
    from scipy.sparse import csr_matrix

    assign = np.asarray(assign, dtype=np.int64)
    if len(assign) != len(x):
        raise ValueError(f"{len(assign)} assignments for {len(x)} feature rows: use the same epoch's "
                         "assignments and features")
    valid = np.flatnonzero(assign >= 0)
    k = int(k if k is not None else (assign[valid].max() + 1 if len(valid) else 0))
    counts = np.bincount(assign[valid], minlength=k)
    # sums per cluster as one sparse one-hot (k x N) product: no copy of x, no np.add.at
    onehot = csr_matrix((np.ones(len(valid), dtype=np.float32), (assign[valid], valid)), shape=(k, len(x)))
    sums = np.asarray(onehot @ x, dtype=np.float32)
    return normalize_rows(sums), counts > 0


def outlier_scores(features: np.ndarray, assign: np.ndarray, k: int | None = None) -> np.ndarray:
    """1 - cosine similarity to the nearest non-empty cluster centroid (float32, in [0, 2]).

    High = far from every cluster: an image no cluster describes well.
    """
    faiss = _faiss()
    x = as_normalized(features)
    centroids, nonempty = _centroids(x, assign, k)
    c = np.ascontiguousarray(centroids[nonempty])
    if len(c) == 0:
        raise ValueError("no cluster has a member: outliers need the assignments of a trained epoch")
    index = faiss.IndexFlatIP(c.shape[1])
    index.add(c)
    best, _ = index.search(x, 1)
    return (1.0 - best[:, 0]).astype(np.float32)


def top_outliers(scores: np.ndarray, n: int = 50) -> np.ndarray:
    """Indices of the ``n`` highest scores, highest first (ties: lower index first)."""
    scores = np.asarray(scores)
    n = max(0, min(int(n), len(scores)))
    order = np.lexsort((np.arange(len(scores)), -scores))
    return order[:n].astype(np.int64)
