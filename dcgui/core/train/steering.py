"""A person's corrections as constraints on the next clustering (issue 24; METHOD.md "Steering").

* **Exclude**: an excluded image is left out of the method: not in the PCA fit, not in the
  k-means, no pseudo-label (``-1``), never a training sample. It is still embedded.
* **Merge = must-link**: the images a person saw in a merged group at the epoch of the merge get
  one pseudo-label at every later epoch, so they are trained as one class.
* **Split = cannot-link**: each part of a split cluster is trained as one class, and the parts of
  one split get different pseudo-labels.

Arrays in, arrays out: ``build_steering`` turns the members of the groups (read from a session
by ``dcgui.services.steering``) into disjoint *sets* (one pseudo-label each) and *apart* groups
(sets that must differ); ``constrained_assign`` applies them after k-means. The mechanism (a
constrained assignment to the k-means centroids, chosen by measurement over k-means on
collapsed sets: docs/QUALITY.md) is described in METHOD.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Steering:
    """What the next clustering must respect, over the images of the collection (row order).

    ``excluded``: bool (n,), images left out of the method. ``sets``: disjoint arrays of image
    indices (no excluded image), each to get one pseudo-label. ``apart``: tuples of indices into
    ``sets`` whose sets get pairwise different pseudo-labels. ``merges`` / ``splits``: how many
    merged groups and split clusters the sets come from (what the window reports). ``origins``:
    per set, the group it stands for, ``(merge id, None)`` or ``(split id, part)``, so the cluster
    list shows the group where its set landed (``dcgui.core.analysis.groups.resolve_groups``).
    """

    excluded: np.ndarray
    sets: tuple[np.ndarray, ...] = ()
    apart: tuple[tuple[int, ...], ...] = ()
    merges: int = 0
    splits: int = 0
    origins: tuple[tuple[int, int | None], ...] = ()

    @property
    def n_excluded(self) -> int:
        return int(np.count_nonzero(self.excluded))

    @property
    def n_constraints(self) -> int:
        return self.merges + self.splits

    @property
    def is_empty(self) -> bool:
        return self.n_excluded == 0 and not self.sets

    @classmethod
    def none(cls, n: int) -> Steering:
        return cls(np.zeros(n, dtype=bool))


def build_steering(
    n: int,
    excluded: np.ndarray | Sequence[int] | None,
    groups: Sequence[tuple[int, str, Sequence[np.ndarray]]],
) -> Steering:
    """The constraints of the groups a person made, newest taking precedence.

    ``groups``: ``(id, kind, parts)`` per stored group, ``kind`` ``"merge"`` (one part: its
    members when it was made) or ``"split"`` (one array per part). Ids give the order in which
    they were made: a later group takes its images from an earlier one (as the cluster list shows
    them). A split's cannot-link then holds between the sets that hold most of each part's
    images, so merging part 2 of a split with another cluster keeps it apart from part 1.
    Excluded images are dropped from every set; sets left empty are dropped.
    """
    excl = np.zeros(n, dtype=bool)
    if excluded is not None:
        e = np.asarray(excluded)
        if e.dtype == bool:
            if e.shape != (n,):
                raise ValueError(f"excluded mask has shape {e.shape}, expected ({n},)")
            excl = e.copy()
        else:
            excl[e.astype(np.int64)] = True
    owner = np.full(n, -1, dtype=np.int64)  # set number of each image (latest group wins)
    specs: list[tuple[str, list[int], list[np.ndarray]]] = []  # kind, set numbers, members per part
    n_sets = 0
    merge_sets: list[int] = []
    origin: list[tuple[int, int | None]] = []  # per set number: (group id, part; None for a merge)
    for gid, kind, parts in sorted(groups, key=lambda g: g[0]):
        numbers, kept = [], []
        for p, members in enumerate(parts):
            m = np.asarray(members, dtype=np.int64)
            m = m[(m >= 0) & (m < n)]
            if kind == "merge":
                # A merge that takes most of an older merge's images extends that group (the
                # person merged the group with more): the rest of it joins too.
                prev = owner[m]
                for old in merge_sets:
                    held = owner == old
                    if held.any() and 2 * int(np.count_nonzero(prev == old)) > int(held.sum()):
                        owner[held] = n_sets
                merge_sets.append(n_sets)
            owner[m] = n_sets
            origin.append((int(gid), None if kind == "merge" else p))
            numbers.append(n_sets)
            kept.append(m)
            n_sets += 1
        specs.append((kind, numbers, kept))
    owner[excl] = -1
    # Renumber the sets that still hold images, in order
    sizes = np.bincount(owner[owner >= 0], minlength=n_sets)
    alive = np.flatnonzero(sizes > 0)
    new_id = np.full(n_sets, -1, dtype=np.int64)
    new_id[alive] = np.arange(len(alive))
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(n_sets + 1))
    sets = tuple(np.sort(order[bounds[s]:bounds[s + 1]]) for s in alive)
    apart: list[tuple[int, ...]] = []
    merges = splits = 0
    for kind, numbers, kept in specs:
        if kind == "merge":
            if any(new_id[s] >= 0 and sizes[s] >= 2 for s in numbers):
                merges += 1
            continue
        # Each part is represented by the set that now holds most of its images (a later merge
        # may have taken some or all of them).
        reps: list[int] = []
        for m in kept:
            o = owner[m]
            o = o[o >= 0]
            if len(o):
                reps.append(int(new_id[np.bincount(o).argmax()]))
        reps = list(dict.fromkeys(reps))
        if len(reps) >= 2:
            apart.append(tuple(reps))
            splits += 1
    return Steering(excl, sets, tuple(apart), merges, splits, tuple(origin[s] for s in alive))


def constrained_assign(
    x: np.ndarray, centroids: np.ndarray, assign: np.ndarray, sets: Sequence[np.ndarray],
) -> tuple[np.ndarray, int]:
    """k-means' ``assign`` with every set moved, whole, to a centroid of its own; returns
    (assign, moved).

    Moving a set to centroid c costs ``sum ||x_i - c||^2 = |S| ||mean - c||^2 + const``; the sets
    get pairwise different centroids with the least total cost (Hungarian assignment over the k
    centroids), so two merged groups, or the parts of a split, never share a pseudo-label. (Sets
    left free to share would all drift to the centroid nearest the collection's mean: large
    merged groups' means are close to it.) With more sets than centroids, the largest k sets get
    their own and the others the nearest. ``x``, ``assign`` and the sets are over the same rows;
    ``moved``: rows whose label changed.
    """
    from scipy.optimize import linear_sum_assignment

    out = np.asarray(assign, dtype=np.int64).copy()
    if not len(sets):
        return out, 0
    c = np.asarray(centroids, dtype=np.float64)
    k = len(c)
    means = np.stack([np.asarray(x[s], dtype=np.float64).mean(axis=0) for s in sets])
    size = np.array([len(s) for s in sets], dtype=np.float64)
    # cost[s, j] = |S| * ||mean_s - c_j||^2
    d2 = (means * means).sum(1)[:, None] - 2 * means @ c.T + (c * c).sum(1)[None, :]
    cost = size[:, None] * np.maximum(d2, 0.0)
    target = np.argmin(cost, axis=1)
    own = np.argsort(-size, kind="stable")[:k]  # the sets that get a centroid of their own
    r, cols = linear_sum_assignment(cost[own])
    target[own[r]] = cols
    for s, members in enumerate(sets):
        out[members] = target[s]
    moved = int(np.count_nonzero(out != np.asarray(assign)))
    return out, moved


def collapse_sets(x: np.ndarray, sets: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows for a k-means that respects must-link: each set replaced by its mean with weight |S|.

    The weighted k-means of these rows has the same objective as the must-link-constrained
    k-means of ``x`` (up to a constant), so its centroids are fitted with the sets held together.
    Returns (rows, weights): the free rows first (row order), then one mean per set.
    """
    n = len(x)
    in_set = np.zeros(n, dtype=bool)
    for s in sets:
        in_set[s] = True
    free = np.flatnonzero(~in_set)
    means = [np.asarray(x[s], dtype=np.float32).mean(axis=0) for s in sets]
    rows = np.concatenate([np.asarray(x[free], dtype=np.float32)] + [m[None, :] for m in means]) \
        if means else np.asarray(x, dtype=np.float32)
    weights = np.concatenate([np.ones(len(free), np.float32), np.array([len(s) for s in sets], np.float32)])
    return np.ascontiguousarray(rows), weights
