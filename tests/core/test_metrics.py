"""NMI / ARI against scikit-learn, degenerate cases, cluster-size statistics, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from dcgui.core.analysis.metrics import ari, cluster_size_stats, nmi


def _sk_nmi(a: np.ndarray, b: np.ndarray) -> float:
    return float(normalized_mutual_info_score(a, b, average_method="geometric"))


@pytest.mark.parametrize(("n", "ka", "kb", "seed"), [(50, 3, 5, 0), (1000, 10, 10, 1), (5000, 100, 37, 2), (7, 7, 2, 3)])
def test_random_labelings_match_sklearn(n: int, ka: int, kb: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, ka, n)
    b = np.where(rng.random(n) < 0.6, a % kb, rng.integers(0, kb, n))  # partly related
    assert nmi(a, b) == pytest.approx(_sk_nmi(a, b), abs=1e-9)
    assert ari(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-9)
    assert nmi(a, b) == pytest.approx(nmi(b, a), abs=1e-12)


def test_label_values_do_not_matter() -> None:
    rng = np.random.default_rng(4)
    a = rng.integers(0, 6, 300)
    b = rng.integers(0, 4, 300)
    renamed = np.array([-7, 3, 1000, 42, 5, 9])[a]  # arbitrary, non-contiguous ids
    assert nmi(renamed, b) == pytest.approx(nmi(a, b), abs=1e-12)
    assert ari(renamed, b) == pytest.approx(ari(a, b), abs=1e-12)
    assert nmi(a, (a + 3) % 6) == pytest.approx(1.0) and ari(a, (a + 3) % 6) == pytest.approx(1.0)


def test_degenerate_cases() -> None:
    one = np.zeros(10, dtype=int)
    other = np.zeros(10, dtype=int) + 4
    varied = np.arange(10) % 3
    assert nmi(one, other) == 1.0 == _sk_nmi(one, other)  # identical (single-cluster) partitions
    assert nmi(one, varied) == 0.0 == _sk_nmi(one, varied)  # one side carries no information
    assert ari(one, other) == 1.0 == adjusted_rand_score(one, other)
    assert ari(one, varied) == pytest.approx(adjusted_rand_score(one, varied))
    singletons = np.arange(10)
    assert nmi(singletons, singletons[::-1]) == pytest.approx(1.0)
    assert ari(singletons, singletons[::-1]) == 1.0 == adjusted_rand_score(singletons, singletons[::-1])
    assert nmi(np.array([], int), np.array([], int)) == 1.0
    with pytest.raises(ValueError, match="different lengths"):
        nmi(one, varied[:5])


def _large_labelings() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    n, k = 200_000, 2000
    a = rng.integers(0, k, n)
    return a, np.where(rng.random(n) < 0.5, a, rng.integers(0, k, n))


def test_large_labelings_are_exact() -> None:
    a, b = _large_labelings()
    assert nmi(a, b) == pytest.approx(_sk_nmi(a, b), abs=1e-9)
    assert ari(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-9)


@pytest.mark.slow  # a wall-clock bound: meaningful on an idle machine only
def test_large_labelings_are_fast() -> None:
    a, b = _large_labelings()
    t0 = time.perf_counter()
    nmi(a, b), ari(a, b)
    assert time.perf_counter() - t0 < 5.0


def test_cluster_size_stats() -> None:
    assign = np.array([0, 0, 0, 1, 3, 3])
    stats = cluster_size_stats(assign, 5)
    assert stats["sizes"].tolist() == [3, 1, 0, 2, 0] and stats["sizes"].dtype == np.int64
    assert (stats["empty"], stats["min"], stats["max"]) == (2, 1, 3)
    p = np.array([3, 1, 2]) / 6
    assert stats["entropy"] == pytest.approx(-(p * np.log(p)).sum() / np.log(5))
    even = cluster_size_stats(np.arange(100) % 4, 4)
    assert even["entropy"] == pytest.approx(1.0) and even["empty"] == 0
    collapsed = cluster_size_stats(np.zeros(100, dtype=int), 4)
    assert collapsed["entropy"] == 0.0 and collapsed["max"] == 100 and collapsed["empty"] == 3
    nothing = cluster_size_stats(np.array([], dtype=int), 3)
    assert (nothing["empty"], nothing["min"], nothing["max"], nothing["entropy"]) == (3, 0, 0, 0.0)
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        cluster_size_stats(np.array([0, 4]), 4)
