"""The cluster river: how images flow between the matched clusters of consecutive epochs.

Arrays in, arrays out (drawn by ``dcgui.gui.river`` and the report's SVG). Every epoch is a
column of nodes, one per non-empty matched cluster, stacked in cluster-id order with heights
proportional to their sizes (matched ids are stable, so a cluster that keeps its images flows
straight across). Between two columns the largest flows (at most ``max_bands``) are bands; what
a cluster sends or receives outside them is one grey "other" stub per cluster, so node heights
stay exact and nothing is hidden, while k = 1,000 draws a few hundred shapes per pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_BANDS = 200  # bands per epoch pair; the remaining flows of each cluster are one "other" stub
GAP_SHARE = 0.2  # share of a column's height left as gaps between its nodes


@dataclass(frozen=True)
class Column:
    """One epoch's nodes: cluster ``cluster[i]`` spans [``y0[i]``, ``y1[i]``) (0..1, top down)."""

    epoch: int
    cluster: np.ndarray  # int64 (m,): the non-empty matched clusters, ascending
    size: np.ndarray  # int64 (m,)
    y0: np.ndarray  # float64 (m,)
    y1: np.ndarray

    def span(self, c: int) -> tuple[float, float]:
        i = int(np.searchsorted(self.cluster, c))
        return float(self.y0[i]), float(self.y1[i])


@dataclass(frozen=True)
class Flows:
    """The bands from ``epoch`` to ``epoch + 1``: band i carries ``count[i]`` images from cluster
    ``src[i]`` ([``sy0``, ``sy1``) in the left column) to ``dst[i]`` ([``dy0``, ``dy1``) on the
    right). ``out_*``: per source cluster, its images that took no band (the "other" stub on the
    left, ``out_y0``..``out_y1``); ``in_*``: per destination cluster, its images that came by no
    band."""

    epoch: int
    src: np.ndarray
    dst: np.ndarray
    count: np.ndarray
    sy0: np.ndarray
    sy1: np.ndarray
    dy0: np.ndarray
    dy1: np.ndarray
    out_cluster: np.ndarray
    out_count: np.ndarray
    out_y0: np.ndarray
    out_y1: np.ndarray
    in_cluster: np.ndarray
    in_count: np.ndarray
    in_y0: np.ndarray
    in_y1: np.ndarray

    @property
    def n_shapes(self) -> int:
        return len(self.src) + len(self.out_cluster) + len(self.in_cluster)


@dataclass(frozen=True)
class River:
    columns: list[Column]
    flows: list[Flows]  # flows[i]: columns[i] -> columns[i + 1]


def _column(epoch: int, assign: np.ndarray, k: int) -> Column:
    sizes = np.bincount(assign, minlength=k).astype(np.int64)
    cluster = np.flatnonzero(sizes)
    size = sizes[cluster]
    n = max(int(size.sum()), 1)
    m = len(cluster)
    gap = GAP_SHARE / (m - 1) if m > 1 else 0.0
    scale = (1.0 - GAP_SHARE) / n if m > 1 else 1.0 / n
    y0 = np.concatenate([[0.0], np.cumsum(size * scale + gap)[:-1]])
    return Column(epoch, cluster.astype(np.int64), size, y0, y0 + size * scale)


def _flows(left: Column, right: Column, a: np.ndarray, b: np.ndarray, k: int, max_bands: int) -> Flows:
    scale_l = (left.y1[0] - left.y0[0]) / left.size[0] if len(left.size) else 0.0
    scale_r = (right.y1[0] - right.y0[0]) / right.size[0] if len(right.size) else 0.0
    keys, counts = np.unique(a.astype(np.int64) * k + b, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:max_bands]
    top = np.sort(order)  # by (src, dst): the order of bands inside a source node
    src, dst, count = keys[top] // k, keys[top] % k, counts[top]
    # left side: within each source node, bands in destination order, then the "other" stub
    li = np.searchsorted(left.cluster, src)
    before = np.concatenate([[0], np.cumsum(count)[:-1]])
    first_of_src = np.concatenate([[0], np.cumsum(np.bincount(li, minlength=len(left.cluster)))[:-1]])
    offset = before - np.concatenate([[0], np.cumsum(count)])[first_of_src[li]]
    sy0 = left.y0[li] + offset * scale_l
    sy1 = sy0 + count * scale_l
    used_l = np.bincount(li, weights=count, minlength=len(left.cluster)).astype(np.int64)
    rest_l = left.size - used_l
    has_l = rest_l > 0
    out_y0 = left.y0[has_l] + used_l[has_l] * scale_l
    # right side: within each destination node, bands in source order, then the "other" stub
    by_dst = np.lexsort((src, dst))
    ri = np.searchsorted(right.cluster, dst[by_dst])
    c_sorted = count[by_dst]
    before_r = np.concatenate([[0], np.cumsum(c_sorted)[:-1]])
    first_of_dst = np.concatenate([[0], np.cumsum(np.bincount(ri, minlength=len(right.cluster)))[:-1]])
    offset_r = before_r - np.concatenate([[0], np.cumsum(c_sorted)])[first_of_dst[ri]]
    dy0 = np.empty(len(count))
    dy0[by_dst] = right.y0[ri] + offset_r * scale_r
    dy1 = dy0 + count * scale_r
    used_r = np.bincount(ri, weights=c_sorted, minlength=len(right.cluster)).astype(np.int64)
    rest_r = right.size - used_r
    has_r = rest_r > 0
    in_y0 = right.y0[has_r] + used_r[has_r] * scale_r
    return Flows(
        left.epoch, src, dst, count.astype(np.int64), sy0, sy1, dy0, dy1,
        left.cluster[has_l], rest_l[has_l], out_y0, left.y1[has_l],
        right.cluster[has_r], rest_r[has_r], in_y0, right.y1[has_r],
    )


def river(assignments: list[np.ndarray], k: int, first_epoch: int = 1, max_bands: int = MAX_BANDS) -> River:
    """The river of matched ``assignments`` (one int array per epoch, same images, ids < k)."""
    arrays = [np.asarray(x, dtype=np.int64).ravel() for x in assignments]
    if any(len(x) != len(arrays[0]) for x in arrays):
        raise ValueError("every epoch's assignments must cover the same images")
    columns = [_column(first_epoch + i, x, k) for i, x in enumerate(arrays)]
    flows = [_flows(columns[i], columns[i + 1], arrays[i], arrays[i + 1], k, max_bands)
             for i in range(len(arrays) - 1)]
    return River(columns, flows)


def band_members(a: np.ndarray, b: np.ndarray, flows: Flows, band: int | None = None,
                 other_from: int | None = None, other_into: int | None = None) -> np.ndarray:
    """Image indices of one band (``band``: index into ``flows.src``), of the "other" stub of
    source cluster ``other_from`` (its images that took no band) or of destination cluster
    ``other_into`` (its images that came by no band); ascending."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if band is not None:
        return np.flatnonzero((a == flows.src[band]) & (b == flows.dst[band]))
    k = int(max(a.max(initial=0), b.max(initial=0), flows.src.max(initial=0), flows.dst.max(initial=0))) + 1
    banded = np.isin(a * k + b, flows.src * k + flows.dst)
    if other_from is not None:
        return np.flatnonzero((a == other_from) & ~banded)
    if other_into is not None:
        return np.flatnonzero((b == other_into) & ~banded)
    raise ValueError("band_members: give band, other_from or other_into")
