"""AMI (dcgui.core.analysis.ami) against scikit-learn's reference implementation, and the
property it exists for: about 0 for independent labelings at any k, where NMI grows with k."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.metrics.cluster._expected_mutual_info_fast import expected_mutual_information

from dcgui.core.analysis import ami as ami_module
from dcgui.core.analysis.ami import ami, expected_mutual_info
from dcgui.core.analysis.metrics import nmi


@pytest.mark.parametrize(("n", "ka", "kb", "seed"), [(50, 3, 4, 0), (1000, 10, 50, 1), (3000, 100, 30, 2),
                                                     (2000, 2, 2, 3), (400, 40, 40, 4), (7, 7, 3, 5)])
def test_matches_scikit_learn(n: int, ka: int, kb: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, ka, n)
    b = np.where(rng.random(n) < 0.5, a % kb, rng.integers(0, kb, n))  # partly dependent
    assert ami(a, b) == pytest.approx(adjusted_mutual_info_score(a, b), abs=1e-9)
    assert ami(b, a) == pytest.approx(ami(a, b), abs=1e-12)


def test_expected_mutual_information_is_exact() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 30, 800), rng.integers(0, 25, 800)
    table = contingency_matrix(a, b, sparse=True)
    reference = expected_mutual_information(table, 800)
    rows, cols = np.bincount(a), np.bincount(b)
    assert expected_mutual_info(rows, cols) == pytest.approx(reference, rel=1e-10)


def test_chunked_sum_equals_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    a, b = rng.integers(0, 60, 5000), rng.integers(0, 70, 5000)
    whole = expected_mutual_info(np.bincount(a), np.bincount(b))
    monkeypatch.setattr(ami_module, "_CHUNK_TERMS", 17)  # many small blocks, one pair each at least
    assert expected_mutual_info(np.bincount(a), np.bincount(b)) == pytest.approx(whole, rel=1e-12)


def test_chance_level_is_zero_at_large_k_where_nmi_is_not() -> None:
    rng = np.random.default_rng(9)
    n = 20_000
    labels = rng.integers(0, 10, n)
    clusters = rng.integers(0, 2000, n)  # independent of the labels
    assert nmi(labels, clusters) > 0.1  # NMI rewards the many small clusters
    assert abs(ami(labels, clusters)) < 0.01


def test_degenerate_cases() -> None:
    x = np.array([0, 0, 1, 1, 2])
    assert ami(x, x) == pytest.approx(1.0)
    assert ami(x, 7 - x) == pytest.approx(1.0)  # renumbering changes nothing
    assert ami(np.zeros(5, int), np.zeros(5, int)) == 1.0
    assert ami(np.zeros(5, int), x) == 0.0
    assert ami(np.array([], int), np.array([], int)) == 1.0
    with pytest.raises(ValueError, match="different lengths"):
        ami(x, x[:3])
