"""PCA-whitening + L2 normalisation and k-means with faiss: DeepCluster's steps 3 and 4 (METHOD.md)."""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

# Whitened directions whose variance is below this fraction of the largest are numerically zero
# (float32 round-off, collapsed or duplicated features); whitening them would blow noise up to
# unit variance, or divide by zero, so they are dropped.
RANK_TOLERANCE = 1e-6
_EPS = 1e-12


def _finite_float32(x: np.ndarray) -> np.ndarray:
    """C-contiguous float32 without NaN/inf (non-finite values become 0; the input is not modified)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)  # a copy
    return x


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation in place; zero rows stay zero instead of becoming NaN."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x /= np.maximum(norms, _EPS)
    return x


def pca_output_dim(n: int, d: int, dim: int) -> int:
    """The number of whitened dimensions to ask faiss for: ``min(dim, d, n - 1)``.

    ``n`` centred rows span at most ``n - 1`` directions, so asking for more would whiten
    directions of zero variance (division by zero). Directions that are numerically zero for
    other reasons are dropped afterwards (``RANK_TOLERANCE``).
    """
    return max(0, min(dim, d, n - 1))


def pca_whiten_l2(x: np.ndarray, dim: int = 256) -> np.ndarray:
    """PCA to ``dim`` dimensions with whitening (eigen_power -0.5), then row-wise L2 normalisation.

    Fitted on all rows (faiss's ``max_points_per_d`` subsampling is disabled). Output width is
    ``min(dim, d, n - 1)`` minus any numerically-zero directions; when nothing varies (every row
    equal) the result is one all-zero column. NaN/inf in the input are treated as 0 and the
    input array is never modified. Returns float32 ``(n, width)``.
    """
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array (images x dims), got shape {x.shape}")
    if dim < 1:
        raise ValueError(f"pca dim={dim} must be at least 1")
    x = _finite_float32(x)
    n, d = x.shape
    k = pca_output_dim(n, d, dim)
    if k == 0:
        return np.zeros((n, 1), dtype=np.float32)
    pca = faiss.PCAMatrix(d, k, -0.5)
    pca.max_points_per_d = n // d + 2  # train on every row, never a subsample
    pca.train(x)
    eig = faiss.vector_to_array(pca.eigenvalues)[:k]  # descending
    top = float(eig[0]) if len(eig) else 0.0
    if not np.isfinite(top) or top <= 0:
        return np.zeros((n, 1), dtype=np.float32)
    rank = int(np.count_nonzero(eig > RANK_TOLERANCE * top))
    y = pca.apply(x)
    if rank < k:
        y = np.ascontiguousarray(y[:, :rank])
    np.nan_to_num(y, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return l2_normalise(y)


@dataclass
class KMeansResult:
    assign: np.ndarray  # int64 (n,), nearest centroid of each row
    centroids: np.ndarray  # float32 (k, d)
    objective: float  # sum of squared distances of the rows to their assigned centroid


def kmeans(x: np.ndarray, k: int, niter: int = 20, seed: int = 0) -> KMeansResult:
    """Plain-L2 k-means (faiss): one run, no subsampling, then a nearest-centroid assignment.

    Pass a new ``seed`` every epoch (METHOD.md step 4). Duplicate points and ``k`` larger than the
    number of distinct points are allowed; some clusters then end up empty.
    """
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array (images x dims), got shape {x.shape}")
    n, d = x.shape
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k={k!r} must be a positive number of clusters")
    k = int(k)
    if k > n:
        raise ValueError(f"k={k} is larger than the number of images ({n}): use k <= {n}")
    if niter < 1:
        raise ValueError(f"niter={niter} must be at least 1 (paper: 20)")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError("k-means input contains NaN or inf: clean the features first (pca_whiten_l2 does)")
    clus = faiss.Clustering(d, k)
    clus.niter = int(niter)
    clus.nredo = 1
    clus.seed = int(seed) & 0x7FFFFFFF
    clus.spherical = False
    clus.verbose = False
    clus.max_points_per_centroid = min(n // k + 1, 2**31 - 1)  # never subsample the rows
    clus.min_points_per_centroid = 1  # small collections are fine: no warning
    index = faiss.IndexFlatL2(d)
    clus.train(x, index)
    centroids = faiss.vector_to_array(clus.centroids).reshape(k, d).astype(np.float32, copy=False)
    # Assign with the final centroids (faiss's last iteration assigned with the previous ones).
    index.reset()
    index.add(centroids)
    dist, idx = index.search(x, 1)
    return KMeansResult(
        assign=idx[:, 0].astype(np.int64),
        centroids=centroids,
        objective=float(dist[:, 0].astype(np.float64).sum()),
    )
