"""Stable cluster identities across epochs: Hungarian matching of k-means ids on image overlap.

k-means numbers its clusters arbitrarily each epoch. To show "the same" cluster over time, each
new (raw) cluster gets the display id of the previous epoch's cluster it shares the most images
with, maximising the total overlap under a one-to-one constraint (METHOD.md pitfalls).

A dense k x k assignment is too slow for k = 10,000, but the overlap table is sparse (at most
one non-zero cell per image), so the maximum-weight matching is solved on the sparse overlap
graph with scipy's LAPJVsp (``min_weight_full_bipartite_matching``). Clusters left unmatched
(no overlap with any free partner) take the remaining ids in ascending order.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import min_weight_full_bipartite_matching


def max_overlap_matching(rows: np.ndarray, cols: np.ndarray, weight: np.ndarray, k: int) -> np.ndarray:
    """Maximum-weight (not necessarily perfect) matching of a sparse k x k bipartite graph.

    Returns ``match`` of length k with ``match[row] = col`` or -1. Positive weights only.

    LAPJVsp needs a *full* matching to exist, so each side gets k dummy partners: row i may pair
    with dummy column i', column j with dummy row j', and dummy row j' with dummy column i' for
    every real edge (i, j). Any matching M of real edges extends to a perfect matching (edge
    (i, j) in M pairs j' with i'; unmatched nodes use their own dummy), and every perfect
    matching has exactly 2k edges, so with real edges costing B - w and dummy edges B
    (B > max w keeps every cost non-zero, as LAPJVsp requires) the minimum-cost perfect
    matching costs 2kB - w(M): it is the maximum-weight M.
    """
    if len(rows) == 0:
        return np.full(k, -1, dtype=np.int64)
    w = weight.astype(np.float64)
    big = float(w.max()) + 1.0
    ar = np.arange(k, dtype=np.int64)
    r = np.concatenate([rows, ar, k + ar, k + cols])  # real, row->dummy col, dummy row->col, dummy-dummy
    c = np.concatenate([cols, k + ar, ar, k + rows])
    cost = np.concatenate([big - w, np.full(2 * k, big), np.full(len(rows), big)])
    graph = sparse.csr_array((cost, (r, c)), shape=(2 * k, 2 * k))
    row_ind, col_ind = min_weight_full_bipartite_matching(graph)
    match = np.full(k, -1, dtype=np.int64)
    real = (row_ind < k) & (col_ind < k)
    match[row_ind[real]] = col_ind[real]
    return match


def match_clusters(prev_matched: np.ndarray | None, cur_raw: np.ndarray, k: int) -> np.ndarray:
    """``mapping[raw_id] = matched_id``: a permutation of ``range(k)`` (int32).

    ``prev_matched``: the previous epoch's display ids per image (None for the first epoch, which
    gives the identity). ``cur_raw``: this epoch's k-means ids, same images in the same order.
    Maximises the number of images that keep their display id; deterministic. Previous ids
    outside ``range(k)`` (a run resumed with another k) simply overlap with nothing, and so do
    images with id -1 in either epoch (left out of the clustering).
    """
    cur = np.asarray(cur_raw).ravel().astype(np.int64)
    if k < 1:
        raise ValueError(f"k={k} must be at least 1")
    if cur.size and (cur.min() < -1 or cur.max() >= k):
        raise ValueError(f"cluster ids must be in [0, {k}), got [{cur.min()}, {cur.max()}]")
    identity = np.arange(k, dtype=np.int32)
    if prev_matched is None:
        return identity
    prev = np.asarray(prev_matched).ravel().astype(np.int64)
    if prev.shape != cur.shape:
        raise ValueError(
            f"previous and current assignments cover different numbers of images "
            f"({prev.size} and {cur.size}): the collection changed; start a new session"
        )
    keep = (prev >= 0) & (prev < k) & (cur >= 0)
    keys, counts = np.unique(cur[keep] * k + prev[keep], return_counts=True)
    match = max_overlap_matching(keys // k, keys % k, counts, k)

    mapping = np.full(k, -1, dtype=np.int64)
    matched = match >= 0
    mapping[matched] = match[matched]
    free_ids = np.setdiff1d(identity, mapping[matched], assume_unique=True)
    mapping[~matched] = free_ids  # both ascending: deterministic
    return mapping.astype(np.int32)
