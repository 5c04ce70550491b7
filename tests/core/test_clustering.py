"""PCA-whitening + L2 and faiss k-means on small real arrays, including degenerate inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcgui.core.analysis.metrics import nmi
from dcgui.core.train.clustering import (
    KMeansResult,
    all_finite,
    kmeans,
    kmeans_torch,
    pca_output_dim,
    pca_whiten_l2,
)


def _correlated(n: int, d: int, seed: int = 0, spread: float = 1e3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scales = np.geomspace(100.0, 100.0 / spread, d)  # very unequal variances: whitening must undo them
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return ((rng.standard_normal((n, d)) * scales) @ basis.T + 5.0).astype(np.float32)


def test_whitening_gives_isotropic_unit_rows() -> None:
    x = _correlated(4000, 48)
    y = pca_whiten_l2(x, 16)
    assert y.shape == (4000, 16) and y.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)
    # Whitened Gaussian rows projected on the unit sphere: covariance I / dim.
    cov = np.cov(y, rowvar=False) * 16
    assert np.abs(cov - np.eye(16)).max() < 0.15
    # without whitening the first principal direction would dominate
    assert np.linalg.eigvalsh(cov).max() < 1.3


def test_input_is_not_modified_and_non_finite_values_are_guarded() -> None:
    x = _correlated(300, 20)
    x[0] = 0.0
    x[1, 3] = np.nan
    x[2, 5] = np.inf
    x[3] = -np.inf
    before = x.copy()
    y = pca_whiten_l2(x, 8)
    assert np.isfinite(y).all() and y.shape == (300, 8)
    assert np.all(np.linalg.norm(y, axis=1) <= 1 + 1e-5)
    np.testing.assert_array_equal(np.isnan(x), np.isnan(before))
    np.testing.assert_array_equal(x[~np.isnan(x)], before[~np.isnan(before)])


def test_output_width_rule() -> None:
    assert pca_output_dim(n=1000, d=4096, dim=256) == 256
    assert pca_output_dim(n=1000, d=64, dim=256) == 64  # d < dim
    assert pca_output_dim(n=40, d=256, dim=256) == 39  # n - 1 centred rows span n - 1 directions
    assert pca_output_dim(n=1, d=8, dim=4) == 0
    assert pca_whiten_l2(_correlated(40, 256), 256).shape == (40, 39)
    assert pca_whiten_l2(_correlated(500, 12, spread=100), 256).shape == (500, 12)


def test_rank_deficient_and_constant_features() -> None:
    rng = np.random.default_rng(0)
    # 5 true directions embedded in 64 dims (collapsed features): the 59 empty ones are dropped
    x = (rng.standard_normal((400, 5)) @ rng.standard_normal((5, 64))).astype(np.float32)
    y = pca_whiten_l2(x, 32)
    assert y.shape == (400, 5) and np.isfinite(y).all()
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)
    same = np.ones((10, 8), dtype=np.float32)
    z = pca_whiten_l2(same, 4)
    assert z.shape == (10, 1) and not z.any()
    assert pca_whiten_l2(np.zeros((1, 8), np.float32), 4).shape == (1, 1)
    with pytest.raises(ValueError, match="2-D"):
        pca_whiten_l2(np.zeros(8, np.float32))


def _blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((3, 8)) * 10
    labels = np.repeat(np.arange(3), 60)
    return (centres[labels] + rng.standard_normal((180, 8))).astype(np.float32), labels


def test_kmeans_finds_separated_clusters_and_reports_its_objective() -> None:
    x, labels = _blobs()
    res = kmeans(x, 3, niter=20, seed=1)
    assert isinstance(res, KMeansResult)
    assert res.assign.dtype == np.int64 and res.assign.shape == (180,)
    assert res.centroids.shape == (3, 8) and res.centroids.dtype == np.float32
    # the partition equals the truth up to renaming
    pairs = {(int(a), int(b)) for a, b in zip(labels, res.assign)}
    assert len(pairs) == 3 and len({b for _, b in pairs}) == 3
    # assignment = nearest centroid; objective = sum of squared distances to it
    d2 = ((x[:, None, :] - res.centroids[None]) ** 2).sum(-1)
    # faiss and numpy sum in different orders: the assigned centroid is the nearest up to round-off
    assigned = d2[np.arange(len(x)), res.assign]
    np.testing.assert_allclose(assigned, d2.min(1), rtol=1e-4, atol=1e-4)
    assert res.objective == pytest.approx(d2.min(1).sum(), rel=1e-4)


def test_kmeans_seed_changes_the_result_and_the_same_seed_repeats_it() -> None:
    x = np.random.default_rng(0).standard_normal((500, 4)).astype(np.float32)  # no true clusters
    a, b, c = kmeans(x, 20, seed=1), kmeans(x, 20, seed=1), kmeans(x, 20, seed=2)
    np.testing.assert_array_equal(a.assign, b.assign)
    assert not np.array_equal(a.assign, c.assign)
    assert len(np.unique(a.assign)) == 20


def test_kmeans_with_duplicates_and_more_clusters_than_distinct_points(capfd) -> None:
    points = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    x = np.repeat(points, 50, axis=0)
    res = kmeans(x, 10, seed=3)
    assert res.assign.min() >= 0 and res.assign.max() < 10
    assert len(np.unique(res.assign)) <= 4  # identical points share their nearest centroid
    for p in range(4):  # every copy of a point lands in the same cluster
        assert len(np.unique(res.assign[p * 50:(p + 1) * 50])) == 1
    assert res.objective == pytest.approx(0.0, abs=1e-3)


def test_kmeans_uses_every_point_without_warnings(capfd) -> None:
    x, _ = _blobs(1)
    kmeans(x, 30, seed=0)  # 180 points < 39 * k: faiss would warn with its defaults
    assert "WARNING" not in capfd.readouterr().err


def test_kmeans_rejects_bad_input() -> None:
    x, _ = _blobs()
    with pytest.raises(ValueError, match="k=200 is larger than the number of images"):
        kmeans(x, 200)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        kmeans(bad, 3)


def test_inplace_whitening_reuses_the_feature_buffer_and_matches_the_copy() -> None:
    x = _correlated(3000, 64)
    x[7] = np.nan  # a broken row counts as zeros in both
    expected = pca_whiten_l2(x.copy(), 48)
    buffer = x.copy()
    y = pca_whiten_l2(buffer, 48, inplace=True, chunk_rows=500)  # several chunks
    assert np.shares_memory(y, buffer)  # the features are never held twice
    # Another summation order (chunks, SIMD width, AMX) moves float32 unit rows by ~1e-6 at most;
    # a wrong chunk, row or component would be off by ~0.1.
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    # the same path twice is bit-for-bit the same
    np.testing.assert_array_equal(pca_whiten_l2(x.copy(), 48, inplace=True, chunk_rows=500), y)
    # without inplace the same call leaves its input alone
    before = x.copy()
    pca_whiten_l2(x, 48, chunk_rows=500)
    np.testing.assert_array_equal(np.isnan(x), np.isnan(before))
    # inputs that cannot take the output (read-only, float64) fall back to a new array
    ro = x.copy()
    ro.setflags(write=False)
    assert not np.shares_memory(pca_whiten_l2(ro, 8, inplace=True), ro)
    assert pca_whiten_l2(x.astype(np.float64), 8, inplace=True).dtype == np.float32


def test_all_finite_checks_every_chunk() -> None:
    x = np.ones((10, 3), np.float32)
    assert all_finite(x, chunk_rows=3)
    x[9, 2] = np.inf  # in the last, partial chunk
    assert not all_finite(x, chunk_rows=3)


def test_torch_kmeans_matches_faiss_on_the_same_data() -> None:
    # kmeans_torch is what a CUDA device runs; the same code runs here on the CPU.
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((20, 16)) * 4
    truth = rng.integers(0, 20, 3000)
    x = (centres[truth] + rng.standard_normal((3000, 16))).astype(np.float32)
    ours = kmeans_torch(x, 20, niter=20, seed=5)
    ref = kmeans(x, 20, niter=20, seed=5)
    assert ours.assign.dtype == np.int64 and ours.centroids.shape == (20, 16)
    # the objective is the sum of squared distances to the returned centroids, like faiss's
    own = ((x - ours.centroids[ours.assign]) ** 2).sum()
    assert ours.objective == pytest.approx(float(own), rel=1e-4)
    assert ours.objective <= ref.objective * 1.15  # as good a local optimum, up to initialisation luck
    assert nmi(truth, ours.assign) > 0.9 and nmi(ours.assign, ref.assign) > 0.85
    again = kmeans_torch(x, 20, niter=20, seed=5)
    np.testing.assert_array_equal(again.assign, ours.assign)  # seeded
    assert not np.array_equal(kmeans_torch(x, 20, niter=20, seed=6).assign, ours.assign)


def test_torch_kmeans_refills_empty_clusters_and_allows_duplicates() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((5, 8)).astype(np.float32)
    x = np.repeat(base, 10, axis=0)  # 5 distinct points, k = 8: some clusters must stay empty
    res = kmeans_torch(x, 8, niter=10, seed=1)
    assert np.isfinite(res.centroids).all() and res.objective == pytest.approx(0.0, abs=1e-3)  # float32 round-off
    assert len(np.unique(res.assign)) == 5
    # a real empty cluster mid-run: far outliers as seeds, then refilled by splitting
    y = np.concatenate([rng.standard_normal((200, 4)), [[1e3, 0, 0, 0]]]).astype(np.float32)
    res = kmeans_torch(y, 6, niter=10, seed=2)
    assert np.bincount(res.assign, minlength=6).min() >= 1


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_kmeans_on_a_cuda_device_runs_kmeans_torch_there() -> None:
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((20, 16)) * 4
    truth = rng.integers(0, 20, 3000)
    x = (centres[truth] + rng.standard_normal((3000, 16))).astype(np.float32)
    gpu = kmeans(x, 20, niter=20, seed=5, device=torch.device("cuda"))
    cpu = kmeans_torch(x, 20, niter=20, seed=5)  # the same algorithm on the CPU
    own = ((x - gpu.centroids[gpu.assign]) ** 2).sum()
    assert gpu.objective == pytest.approx(float(own), rel=1e-4)
    # different devices sum in different orders: the same partition up to a few boundary points
    assert nmi(gpu.assign, cpu.assign) > 0.95 and nmi(truth, gpu.assign) > 0.9
    assert gpu.objective == pytest.approx(cpu.objective, rel=0.02)
