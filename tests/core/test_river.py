"""The cluster river's arrays: nodes sized by cluster, bands that account for every image, at
most ``max_bands`` bands per pair with the rest as one stub per cluster, and band members."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from dcgui.core.analysis.river import band_members, river


def _run(n: int, k: int, epochs: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, k, n)
    out = [x]
    for _ in range(epochs - 1):
        x = np.where(rng.random(n) < 0.2, rng.integers(0, k, n), x)
        out.append(x)
    return out


def test_small_river_is_exact() -> None:
    a = np.array([0, 0, 0, 1, 1, 2])
    b = np.array([0, 0, 1, 1, 1, 1])
    r = river([a, b], k=3)
    left, right = r.columns
    assert left.cluster.tolist() == [0, 1, 2] and left.size.tolist() == [3, 2, 1]
    assert right.cluster.tolist() == [0, 1] and right.size.tolist() == [2, 4]
    f = r.flows[0]
    assert sorted(zip(f.src.tolist(), f.dst.tolist(), f.count.tolist())) == [(0, 0, 2), (0, 1, 1), (1, 1, 2), (2, 1, 1)]
    assert len(f.out_cluster) == 0 and len(f.in_cluster) == 0
    # bands tile each node exactly: heights sum to the node's height, stacked from its top
    for c in (0, 1, 2):
        sel = f.src == c
        y0, y1 = left.span(c)
        assert f.sy0[sel].min() == pytest.approx(y0) and f.sy1[sel].max() == pytest.approx(y1)
        assert (f.sy1[sel] - f.sy0[sel]).sum() == pytest.approx(y1 - y0)
    for c in (0, 1):
        sel = f.dst == c
        y0, y1 = right.span(c)
        assert f.dy0[sel].min() == pytest.approx(y0) and (f.dy1[sel] - f.dy0[sel]).sum() == pytest.approx(y1 - y0)
    band = int(np.flatnonzero((f.src == 0) & (f.dst == 1))[0])
    assert band_members(a, b, f, band=band).tolist() == [2]


def test_large_k_keeps_the_largest_bands_and_stubs_the_rest() -> None:
    xs = _run(4000, 1000, 3)
    r = river(xs, k=1000, max_bands=200)
    for f, (a, b) in zip(r.flows, itertools.pairwise(xs)):
        assert len(f.src) == 200
        _keys, counts = np.unique(a * 1000 + b, return_counts=True)
        assert f.count.min() >= np.sort(counts)[-200]  # the largest flows
        # every image is in a band or in its source's stub, and in a band or its destination's stub
        sizes_a = np.bincount(a, minlength=1000)
        sent = np.bincount(f.src, weights=f.count, minlength=1000) + np.bincount(f.out_cluster, weights=f.out_count, minlength=1000)
        np.testing.assert_array_equal(sent, sizes_a)
        sizes_b = np.bincount(b, minlength=1000)
        got = np.bincount(f.dst, weights=f.count, minlength=1000) + np.bincount(f.in_cluster, weights=f.in_count, minlength=1000)
        np.testing.assert_array_equal(got, sizes_b)
        c = int(f.out_cluster[0])
        members = band_members(a, b, f, other_from=c)
        assert len(members) == int(f.out_count[0]) and (a[members] == c).all()
        c = int(f.in_cluster[0])
        assert len(band_members(a, b, f, other_into=c)) == int(f.in_count[0])


def test_speed_4000_images_20_epochs() -> None:
    xs = _run(4000, 100, 20)
    t0 = time.perf_counter()
    r = river(xs, k=100)
    assert time.perf_counter() - t0 < 1.0
    assert len(r.columns) == 20 and len(r.flows) == 19
