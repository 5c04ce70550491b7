"""What a cluster's card shows: its purity and which members stand for it.

Members are picked in feature space (rows L2-normalised; centroids = normalised member means):
the ``per`` nearest to the centroid (typical), a seeded random sample (honest) and the ``per``
with the smallest margin between their own centroid and the nearest other one (the boundary:
where the cluster is unsure). Without features the card is a random sample of 3 x ``per``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Card:
    cluster: int
    nearest: list[int]
    sample: list[int]
    boundary: list[int]


def purity(assign: np.ndarray, labels: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(share of the majority label among each cluster's labelled members, that label), (k,)
    each; NaN / -1 for clusters without labelled members (or no labels at all)."""
    share = np.full(k, np.nan)
    major = np.full(k, -1, dtype=np.int64)
    if labels is None:
        return share, major
    assign = np.asarray(assign, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    has = labels >= 0
    if not has.any():
        return share, major
    m = int(labels[has].max()) + 1
    keys, counts = np.unique(assign[has] * m + labels[has], return_counts=True)
    cl, lab = keys // m, keys % m
    order = np.lexsort((-counts, cl))  # per cluster, its largest label first
    first = order[np.r_[True, cl[order][1:] != cl[order][:-1]]]
    total = np.bincount(assign[has], minlength=k)
    share[cl[first]] = counts[first] / total[cl[first]]
    major[cl[first]] = lab[first]
    return share, major


def centroids(features: np.ndarray, assign: np.ndarray, k: int) -> np.ndarray:
    """Normalised mean feature of each cluster (zero rows for empty clusters), float32 (k, d)."""
    x = np.asarray(features, dtype=np.float32)
    order = np.argsort(assign, kind="stable")
    sorted_ids = np.asarray(assign)[order]
    starts = np.searchsorted(sorted_ids, np.arange(k))
    sums = np.zeros((k, x.shape[1]), np.float64)
    present = np.unique(sorted_ids)
    if len(present):
        sums[present] = np.add.reduceat(x[order].astype(np.float64), starts[present], axis=0)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(np.float32)


def cards(assign: np.ndarray, k: int, clusters: list[int], per: int = 4,
          features: np.ndarray | None = None, seed: int = 0) -> list[Card]:
    """A card for each of ``clusters``: up to ``per`` nearest, sampled and boundary members.

    The three lists never repeat an image; the sample is drawn from what the other two left.
    """
    assign = np.asarray(assign, dtype=np.int64)
    rng = np.random.default_rng(seed)
    cent = centroids(features, assign, k) if features is not None else None
    out = []
    for c in clusters:
        members = np.flatnonzero(assign == c)
        nearest: list[int] = []
        boundary: list[int] = []
        if cent is not None and len(members):
            x = np.asarray(features)[members].astype(np.float32)
            x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
            sims = x @ cent.T  # (m, k): the card's members only
            own = sims[:, c].copy()
            sims[:, c] = -np.inf
            margin = own - sims.max(axis=1) if k > 1 else own
            nearest = members[np.argsort(-own, kind="stable")[:per]].tolist()
            taken = set(nearest)
            boundary = [int(i) for i in members[np.argsort(margin, kind="stable")] if i not in taken][:per]
        left = np.array(sorted(set(members.tolist()) - set(nearest) - set(boundary)), dtype=np.int64)
        # without features the card's whole budget (3 x per) is the random sample
        want = per if cent is not None else 3 * per
        sample = sorted(rng.choice(left, size=min(want, len(left)), replace=False).tolist()) if len(left) else []
        out.append(Card(int(c), [int(i) for i in nearest], [int(i) for i in sample], boundary))
    return out
