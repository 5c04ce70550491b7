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


def _stack(col: Column, node: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """Bands of ``count`` images stacked top-down inside their node of ``col`` (``node``: each
    band's row in ``col``; the bands of a node are consecutive, in drawing order), then what is
    left of each node as a grey stub. Returns the bands' y0 and y1 and the stubs' (cluster, size,
    y0, y1)."""
    scale = (col.y1[0] - col.y0[0]) / col.size[0] if len(col.size) else 0.0
    before = np.concatenate([[0], np.cumsum(count)[:-1]])
    first_of_node = np.concatenate([[0], np.cumsum(np.bincount(node, minlength=len(col.cluster)))[:-1]])
    offset = before - np.concatenate([[0], np.cumsum(count)])[first_of_node[node]]
    y0 = col.y0[node] + offset * scale
    used = np.bincount(node, weights=count, minlength=len(col.cluster)).astype(np.int64)
    rest = col.size - used
    has = rest > 0
    return y0, y0 + count * scale, (col.cluster[has], rest[has], col.y0[has] + used[has] * scale, col.y1[has])


def _flows(left: Column, right: Column, a: np.ndarray, b: np.ndarray, k: int, max_bands: int) -> Flows:
    keys, counts = np.unique(a.astype(np.int64) * k + b, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:max_bands]
    top = np.sort(order)  # by (src, dst): the order of bands inside a source node
    src, dst, count = keys[top] // k, keys[top] % k, counts[top]
    # left side: within each source node, bands in destination order, then the "other" stub
    sy0, sy1, out_stubs = _stack(left, np.searchsorted(left.cluster, src), count)
    # right side: within each destination node, bands in source order, then the "other" stub
    by_dst = np.lexsort((src, dst))
    dy0, dy1 = np.empty(len(count)), np.empty(len(count))
    dy0[by_dst], dy1[by_dst], in_stubs = _stack(right, np.searchsorted(right.cluster, dst[by_dst]), count[by_dst])
    return Flows(left.epoch, src, dst, count.astype(np.int64), sy0, sy1, dy0, dy1, *out_stubs, *in_stubs)


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
