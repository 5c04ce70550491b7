"""Similar images (nearest neighbours), outliers and the 2-D map on features with planted structure."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dcgui.core.analysis.maps import points_in_polygon
from dcgui.core.analysis.neighbours import (
    FeatureIndex,
    iter_knn_graph,
    knn_graph,
    normalize_rows,
)
from dcgui.core.analysis.outliers import outlier_scores, top_outliers
from dcgui.core.control import RunControl, StopRequested, drain
from dcgui.core.events import PHASE_MAP, PHASE_MAP_GRAPH, PhaseProgress


def clustered(n_clusters: int = 5, per: int = 40, d: int = 64, noise: float = 0.1, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm cluster centres + Gaussian noise: within-cluster cosine ~0.6, across ~0."""
    rng = np.random.default_rng(seed)
    centres = normalize_rows(rng.normal(size=(n_clusters, d)))
    labels = np.repeat(np.arange(n_clusters), per)
    x = centres[labels] + noise * rng.normal(size=(len(labels), d)).astype(np.float32)
    return x.astype(np.float32), labels


@pytest.fixture
def planted() -> dict:
    """200 clustered images + 3 near-duplicate pairs, one triple, one exact copy, one outlier."""
    x, labels = clustered()
    rng = np.random.default_rng(1)
    extra, groups = [], []
    n = len(x)
    for src in (3, 50, 120):  # pairs: a slightly perturbed copy (a re-encoded photo)
        extra.append(x[src] + 0.004 * rng.normal(size=x.shape[1]))
        groups.append({src, n + len(extra) - 1})
    triple = {170}
    for _ in range(2):
        extra.append(x[170] + 0.004 * rng.normal(size=x.shape[1]))
        triple.add(n + len(extra) - 1)
    groups.append(triple)
    extra.append(x[10].copy())  # an exact copy
    groups.append({10, n + len(extra) - 1})
    centres = np.stack([normalize_rows(x[labels == c])[:].mean(0) for c in range(5)])
    # outlier: orthogonal to every cluster centre
    v = rng.normal(size=x.shape[1])
    q, _ = np.linalg.qr(centres.T)
    v = v - q @ (q.T @ v)
    extra.append(v)
    outlier = n + len(extra) - 1
    feats = np.vstack([x, np.array(extra, dtype=np.float32)])
    assign = np.concatenate([labels, labels[[3, 50, 120, 170, 170, 10]], [0]])
    return {"x": feats, "groups": [sorted(g) for g in groups], "outlier": outlier, "assign": assign}


def test_normalize_rows_handles_zero_and_nan_rows() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0], [np.nan, 1.0]])
    out = normalize_rows(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], [0.6, 0.8], rtol=1e-6)
    assert (out[1:] == 0).all()


def test_index_does_not_copy_features_that_are_already_normalised() -> None:
    x = normalize_rows(clustered()[0])
    assert FeatureIndex(x).features is x
    raw = clustered()[0]
    index = FeatureIndex(raw)
    assert index.features is not raw
    np.testing.assert_allclose(np.linalg.norm(index.features, axis=1), 1.0, rtol=1e-5)


def test_neighbours_find_the_same_cluster_and_exclude_self() -> None:
    x, labels = clustered()
    index = FeatureIndex(x)
    sims, ids = index.neighbours_of(7, 10)
    assert 7 not in ids
    assert (labels[ids] == labels[7]).all()
    assert np.all(np.diff(sims) <= 1e-6)  # best first
    # a query from outside: its nearest image is the one it was derived from
    q = x[42] + 0.01 * np.random.default_rng(3).normal(size=x.shape[1])
    s, i = index.search(q, 3)
    assert i[0, 0] == 42 and s[0, 0] > 0.99


def test_search_rejects_features_of_another_network() -> None:
    index = FeatureIndex(clustered()[0])
    with pytest.raises(ValueError, match="64"):
        index.search(np.ones((1, 32)), 3)


def test_self_exclusion_with_exact_duplicates() -> None:
    x = np.repeat(np.eye(4, dtype=np.float32), 3, axis=0)  # 4 groups of 3 identical rows
    index = FeatureIndex(x)
    sims, ids = index.search_excluding(np.arange(12), 2)
    assert not (ids == np.arange(12)[:, None]).any()
    assert (ids // 3 == np.arange(12)[:, None] // 3).all()  # the other two copies
    np.testing.assert_allclose(sims, 1.0, atol=1e-6)


def test_ivf_index_agrees_with_exact_on_clustered_data() -> None:
    x, _ = clustered(n_clusters=20, per=100, d=32, noise=0.05)
    exact = FeatureIndex(x)
    approx = FeatureIndex(x, exact_limit=100, nprobe=32)
    assert exact.exact and not approx.exact
    _, ie = exact.search_excluding(np.arange(0, 2000, 20), 10)
    _, ia = approx.search_excluding(np.arange(0, 2000, 20), 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ie, ia)])
    assert recall > 0.9


def test_knn_graph_yields_progress_and_can_be_stopped() -> None:
    x, _ = clustered()
    index = FeatureIndex(x)
    events = []
    gen = iter_knn_graph(index, 5, batch=50)
    sims, ids = None, None
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            sims, ids = stop.value
            break
    assert all(isinstance(e, PhaseProgress) for e in events)
    assert [e.done for e in events] == [0, 50, 100, 150, 200]
    assert ids.shape == (200, 5) and sims.shape == (200, 5)
    control = RunControl()
    control.stop()
    with pytest.raises(StopRequested):
        drain(iter_knn_graph(index, 5, control=control))


def test_outlier_is_ranked_first(planted: dict) -> None:
    x, assign = planted["x"], planted["assign"]
    scores = outlier_scores(x, assign)
    assert scores.shape == (len(x),)
    top = top_outliers(scores, 5)
    assert top[0] == planted["outlier"]
    assert scores[planted["outlier"]] > 0.9  # orthogonal to every centroid: similarity ~0
    assert np.median(scores) < 0.4


def test_outliers_skip_empty_clusters() -> None:
    # empty clusters (zero rows, similarity 0) never count as "nearest": a point pointing away
    # from the only centroid scores above 1
    x = np.array([[1.0, 0.0], [1.0, 0.2], [-1.0, -0.3]], dtype=np.float32)
    scores = outlier_scores(x, np.array([0, 0, 0]), k=3)
    c = normalize_rows(normalize_rows(x).sum(0, keepdims=True))[0]
    assert scores[2] == pytest.approx(1 - normalize_rows(x)[2] @ c, rel=1e-5)
    assert scores[2] > 1


def test_outliers_need_matching_assignments() -> None:
    with pytest.raises(ValueError, match="same epoch"):
        outlier_scores(np.ones((3, 2)), np.array([0, 1]))


def test_knn_graph_excludes_self_and_sorts_best_first() -> None:
    x, _ = clustered()
    sims, ids = knn_graph(FeatureIndex(x), 3)
    assert ids.shape == (200, 3)
    assert (ids != np.arange(200)[:, None]).all()
    assert (np.diff(sims, axis=1) <= 1e-6).all()


def test_points_in_a_concave_polygon() -> None:
    """An L shape: the notch is outside; vertices given in either orientation."""
    ell = np.array([[0, 0], [4, 0], [4, 1], [1, 1], [1, 4], [0, 4]], dtype=float)
    pts = np.array([[0.5, 0.5], [3.5, 0.5], [0.5, 3.5], [2.5, 2.5], [5, 5], [-1, 0.5], [3.9, 0.99]])
    expected = [True, True, True, False, False, False, True]
    assert points_in_polygon(pts, ell).tolist() == expected
    assert points_in_polygon(pts, ell[::-1]).tolist() == expected
    assert not points_in_polygon(pts, ell[:2]).any()  # fewer than 3 vertices: nothing


def test_points_in_polygon_matches_plain_ray_casting() -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(20_000, 2)) * 5
    angles = np.linspace(0, 2 * np.pi, 150, endpoint=False)
    radius = 4 + 5 * rng.random(150)  # a spiky star: many concave vertices
    poly = np.c_[radius * np.cos(angles), radius * np.sin(angles)]
    x, y = pts[:, 0], pts[:, 1]
    ref = np.zeros(len(pts), dtype=bool)
    xj, yj = poly[-1]
    for xi, yi in poly:
        with np.errstate(divide="ignore", invalid="ignore"):
            ref ^= ((yi > y) != (yj > y)) & (x < (xj - xi) * (y - yi) / (yj - yi) + xi)
        xj, yj = xi, yi
    got = points_in_polygon(pts, poly)
    assert (got == ref).all() and 0 < got.sum() < len(pts)


# ---------------------------------------------------------------------------------------------
# 2-D map
# ---------------------------------------------------------------------------------------------
def _separation(coords: np.ndarray, labels: np.ndarray) -> float:
    """Mean distance to the own cluster's 2-D centre / mean distance between 2-D centres."""
    centres = np.stack([coords[labels == c].mean(0) for c in np.unique(labels)])
    within = np.mean([np.linalg.norm(coords[labels == c] - centres[c], axis=1).mean() for c in np.unique(labels)])
    between = np.mean([np.linalg.norm(a - b) for i, a in enumerate(centres) for b in centres[i + 1:]])
    return float(within / between)


@pytest.mark.slow
def test_map_separates_clusters_and_subsample_path_places_everyone() -> None:
    from dcgui.core.analysis.maps import iter_map_2d, pca_reduce

    x, labels = clustered(n_clusters=3, per=100, d=64, noise=0.1)
    assert pca_reduce(x, 10).shape == (300, 10)
    events: list[PhaseProgress] = []
    times: list[float] = []
    gen = iter_map_2d(x, fit_limit=200, fit_sample=150, seed=0)
    while True:
        try:
            events.append(next(gen))
            times.append(time.perf_counter())
        except StopIteration as stop:
            coords = stop.value
            break
    assert coords.shape == (300, 2) and np.isfinite(coords).all()
    # the phases are reported: the graph and first layout (no count) before the epochs, and no
    # silence between two reports (the map used to sit at 0 % through UMAP's first layout)
    phases = [e.phase for e in events]
    assert PHASE_MAP_GRAPH in phases and phases.index(PHASE_MAP_GRAPH) < len(phases) - 1
    assert all(e.total == 0 for e in events if e.phase == PHASE_MAP_GRAPH)
    last_graph = max(i for i, p in enumerate(phases) if p == PHASE_MAP_GRAPH)
    assert all(p == PHASE_MAP for p in phases[last_graph + 1:])
    assert max(np.diff(times)) < 2.5  # (the GIL is shared with numba compiling UMAP on a busy machine)
    counted = [e for e in events if e.phase == PHASE_MAP]
    assert counted[0].done == 0 and counted[-1].done == 300
    assert [e.done for e in counted] == sorted(e.done for e in counted)
    assert _separation(coords, labels) < 0.3


def test_map_stops_when_asked() -> None:
    from dcgui.core.analysis.maps import iter_map_2d

    control = RunControl()
    gen = iter_map_2d(clustered()[0], control=control)
    assert next(gen).done == 0
    control.stop()
    with pytest.raises(StopRequested):
        drain(gen)


def test_map_of_tiny_collections() -> None:
    from dcgui.core.analysis.maps import map_2d

    assert map_2d(np.zeros((0, 8))).shape == (0, 2)
    coords = map_2d(np.eye(3, 8))
    assert coords.shape == (3, 2) and len(np.unique(coords[:, 0])) == 3
