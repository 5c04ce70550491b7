"""Uniform sampling over the non-empty clusters, by original image id (METHOD.md step 5)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dcgui.core.train.sampler import uniform_cluster_sample


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _shuffled_assign(sizes: dict[int, int], seed: int = 0) -> np.ndarray:
    assign = np.concatenate([np.full(s, c) for c, s in sizes.items()])
    return _rng(seed + 100).permutation(assign)  # image ids and cluster order unrelated


def test_each_non_empty_cluster_gets_an_equal_share() -> None:
    assign = _shuffled_assign({0: 1000, 1: 100, 2: 10, 3: 1})
    ids = uniform_cluster_sample(assign, len(assign), _rng())
    assert ids.dtype == np.int64 and ids.shape == (1111,)
    assert ids.min() >= 0 and ids.max() < len(assign)
    counts = np.bincount(assign[ids], minlength=4)  # ids are original image ids
    assert counts.max() - counts.min() <= 1 and counts.sum() == 1111
    assert counts.min() >= 1111 // 4 - 1


def test_large_clusters_give_distinct_members_small_ones_repeat_every_member_evenly() -> None:
    assign = _shuffled_assign({0: 1000, 1: 10})
    ids = uniform_cluster_sample(assign, 400, _rng())
    big = ids[assign[ids] == 0]
    small = ids[assign[ids] == 1]
    assert len(np.unique(big)) == len(big)  # without replacement
    per_member = np.bincount(small, minlength=len(assign))[np.flatnonzero(assign == 1)]
    assert per_member.min() >= 19 and per_member.max() <= 20  # 200 draws over 10 images


def test_empty_clusters_are_skipped() -> None:
    assign = _shuffled_assign({0: 30, 5: 20, 9: 5})  # clusters 1-4 and 6-8 are empty
    ids = uniform_cluster_sample(assign, 55, _rng())
    counts = np.bincount(assign[ids], minlength=10)
    assert set(np.flatnonzero(counts)) == {0, 5, 9}
    assert counts[[0, 5, 9]].min() >= 18


def test_one_cluster_holding_everything() -> None:
    assign = np.zeros(50, dtype=np.int64)
    ids = uniform_cluster_sample(assign, 50, _rng())
    np.testing.assert_array_equal(np.sort(ids), np.arange(50))  # every image once
    more = uniform_cluster_sample(assign, 120, _rng())
    assert np.bincount(more, minlength=50).min() >= 2  # every image at least twice


def test_deterministic_given_the_rng_and_shuffled() -> None:
    assign = _shuffled_assign({0: 40, 1: 40, 2: 40})
    a = uniform_cluster_sample(assign, 120, _rng(1))
    b = uniform_cluster_sample(assign, 120, _rng(1))
    c = uniform_cluster_sample(assign, 120, _rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # shuffled: not grouped by cluster
    assert (np.diff(assign[a]) != 0).sum() > 40


def test_smaller_and_larger_epochs_than_the_collection() -> None:
    assign = _shuffled_assign({0: 60, 1: 30, 2: 10})
    assert len(uniform_cluster_sample(assign, 0, _rng())) == 0
    few = uniform_cluster_sample(assign, 9, _rng())
    assert len(few) == 9 and np.bincount(assign[few], minlength=3).tolist() == [3, 3, 3]
    many = uniform_cluster_sample(assign, 3000, _rng())
    assert len(many) == 3000 and np.bincount(assign[many]).tolist() == [1000, 1000, 1000]


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        uniform_cluster_sample(np.array([], dtype=np.int64), 5, _rng())
    # -1: left out of the clustering (an excluded image): never drawn; all left out is an error
    assert uniform_cluster_sample(np.array([0, -1]), 2, _rng()).tolist() == [0, 0]
    with pytest.raises(ValueError, match="left out"):
        uniform_cluster_sample(np.array([-1, -1]), 2, _rng())
    with pytest.raises(ValueError, match="1-D"):
        uniform_cluster_sample(np.zeros((2, 2), dtype=np.int64), 2, _rng())


def test_fast_for_large_collections() -> None:
    assign = _rng(3).integers(0, 5000, 200_000)
    t0 = time.perf_counter()
    ids = uniform_cluster_sample(assign, len(assign), _rng())
    assert time.perf_counter() - t0 < 5.0
    counts = np.bincount(assign[ids], minlength=5000)
    assert counts.max() - counts.min() <= 1
