"""Which images one training epoch visits: uniform over the non-empty clusters (METHOD.md step 5).

Without it a dominant cluster dominates the loss and DeepCluster collapses further. The reference
``UnifLabelSampler`` + ``ReassignedDataset`` pair mixes original image ids with positions in
cluster order and so loses the uniformity; this works on image ids throughout.
"""

from __future__ import annotations

import numpy as np


def uniform_cluster_sample(assign: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` image ids (int64), about ``n / k'`` from each of the ``k'`` non-empty clusters, shuffled.

    Each non-empty cluster contributes ``ceil(n / k')`` draws: a cluster at least that large
    gives that many distinct members; a smaller one repeats its members, each ``floor`` or
    ``ceil`` of ``ceil(n / k') / size`` times (every member is used; which ones get the extra
    repeat is random). The pooled draws are shuffled and truncated to ``n``, so each cluster
    keeps ``ceil(n / k')`` or slightly fewer. Empty clusters are simply absent; one cluster
    holding everything gives ``n`` distinct images (or repeats when ``n`` exceeds the images).
    Deterministic given ``rng``'s state; vectorised (no loop over clusters). Images with a
    negative id (left out of the clustering: steering's exclusions) are never drawn.
    """
    assign = np.asarray(assign)
    if assign.ndim != 1:
        raise ValueError(f"assignments must be 1-D (one cluster id per image), got shape {assign.shape}")
    if n < 0:
        raise ValueError(f"n={n} must be >= 0")
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if assign.size == 0:
        raise ValueError("cannot sample images: the assignment is empty (no images)")
    if not np.issubdtype(assign.dtype, np.integer):
        raise ValueError(f"assignments must be integer cluster ids, got {assign.dtype}")
    pool = None
    if assign.min() < 0:
        pool = np.flatnonzero(assign >= 0)
        if pool.size == 0:
            raise ValueError("cannot sample images: every image is left out of the clustering")
        assign = assign[pool]

    # Members of each cluster in random order, clusters in ascending id order.
    order = np.lexsort((rng.random(assign.size), assign))
    if pool is not None:
        order = pool[order]
    sizes = np.bincount(assign)
    nonempty = np.flatnonzero(sizes)
    sizes = sizes[nonempty]
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    per = -(-n // len(nonempty))  # ceil(n / k')

    # Draw j of a cluster is member (j mod size) of its random permutation: distinct members
    # for a large cluster, every member about equally often for a small one.
    j = np.arange(per, dtype=np.int64)
    pos = starts[:, None] + j[None, :] % sizes[:, None]
    ids = np.asarray(order)[pos.ravel()]
    rng.shuffle(ids)
    return ids[:n].astype(np.int64, copy=False)
