"""Hungarian matching of cluster ids across epochs: correctness against dense LSA, and speed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from dcgui.core.analysis.matching import match_clusters


def _is_permutation(mapping: np.ndarray, k: int) -> bool:
    return mapping.dtype == np.int32 and np.array_equal(np.sort(mapping), np.arange(k))


def _overlap(prev: np.ndarray, cur: np.ndarray, mapping: np.ndarray) -> int:
    return int((mapping[cur] == prev).sum())


def test_first_epoch_is_the_identity() -> None:
    mapping = match_clusters(None, np.array([2, 0, 1, 1]), 3)
    assert mapping.tolist() == [0, 1, 2] and mapping.dtype == np.int32


def test_recovers_a_known_permutation_with_noise() -> None:
    rng = np.random.default_rng(0)
    k, n = 50, 5000
    prev = rng.integers(0, k, n)
    perm = rng.permutation(k)  # raw id of the cluster that was prev id c: perm[c]
    cur = perm[prev]
    noisy = rng.random(n) < 0.3
    cur[noisy] = rng.integers(0, k, noisy.sum())
    mapping = match_clusters(prev, cur, k)
    assert _is_permutation(mapping, k)
    np.testing.assert_array_equal(mapping[perm], np.arange(k))
    assert (mapping[cur] == prev).mean() > 0.7


@pytest.mark.parametrize("seed", range(5))
def test_total_overlap_is_maximal(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k, n = 12, 60  # sparse overlaps, some clusters empty on either side
    prev = rng.integers(0, k - 2, n)
    cur = rng.integers(2, k, n)
    mapping = match_clusters(prev, cur, k)
    assert _is_permutation(mapping, k)
    table = np.zeros((k, k))
    np.add.at(table, (cur, prev), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    assert _overlap(prev, cur, mapping) == int(table[rows, cols].sum())


def test_unmatched_clusters_take_the_free_ids_deterministically() -> None:
    prev = np.array([0, 0, 1, 1])
    cur = np.array([3, 3, 3, 3])  # raw 3 overlaps prev 0 and 1 equally; raw 0-2 are empty
    a = match_clusters(prev, cur, 4)
    b = match_clusters(prev, cur, 4)
    assert _is_permutation(a, 4) and np.array_equal(a, b)
    assert a[3] in (0, 1)
    assert a[:3].tolist() == sorted(set(range(4)) - {int(a[3])})


def test_previous_ids_outside_k_and_bad_input() -> None:
    mapping = match_clusters(np.array([7, 7, 1]), np.array([0, 0, 1]), 3)  # k changed on resume
    assert _is_permutation(mapping, 3) and mapping[1] == 1
    with pytest.raises(ValueError, match="different numbers of images"):
        match_clusters(np.zeros(3, int), np.zeros(4, int), 2)
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        match_clusters(None, np.array([0, 2]), 2)


@pytest.mark.slow  # a wall-clock bound: meaningful on an idle machine only
def test_fast_for_many_clusters() -> None:
    rng = np.random.default_rng(1)
    k, n = 2000, 200_000
    prev = rng.integers(0, k, n)
    perm = rng.permutation(k)
    cur = perm[prev]
    noisy = rng.random(n) < 0.4
    cur[noisy] = rng.integers(0, k, noisy.sum())
    t0 = time.perf_counter()
    mapping = match_clusters(prev, cur, k)
    assert time.perf_counter() - t0 < 10.0
    np.testing.assert_array_equal(mapping[perm], np.arange(k))
