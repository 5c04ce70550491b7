"""PCA-whitening + L2 normalisation and k-means with faiss: DeepCluster's steps 3 and 4 (METHOD.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import faiss
import numpy as np
import torch

# Whitened directions whose variance is below this fraction of the largest are numerically zero
# (float32 round-off, collapsed or duplicated features); whitening them would blow noise up to
# unit variance, or divide by zero, so they are dropped.
RANK_TOLERANCE = 1e-6
_EPS = 1e-12


FINITE_CHUNK_ROWS = 65_536  # rows per step of the finiteness check: never a bool copy of it all


def all_finite(x: np.ndarray, chunk_rows: int = FINITE_CHUNK_ROWS) -> bool:
    """``np.isfinite(x).all()`` without a full-size boolean temporary."""
    return all(bool(np.isfinite(x[a:a + chunk_rows]).all()) for a in range(0, len(x), chunk_rows))


def pca_output_dim(n: int, d: int, dim: int) -> int:
    """The number of whitened dimensions to keep at most: ``min(dim, d, n - 1)``.

    ``n`` centred rows span at most ``n - 1`` directions, so asking for more would whiten
    directions of zero variance (division by zero). Directions that are numerically zero for
    other reasons are dropped afterwards (``RANK_TOLERANCE``).
    """
    return max(0, min(dim, d, n - 1))


# Sums a float64 tensor over the ranks of a distributed run (``distributed.sharded_pca_whiten_l2``).
Reduce = Callable[[torch.Tensor], torch.Tensor]


def pca_whiten_l2(
    x: np.ndarray,
    dim: int = 256,
    *,
    inplace: bool = False,
    chunk_rows: int = 16_384,
    device: torch.device | None = None,
    reduce: Reduce | None = None,
    fit_mask: np.ndarray | None = None,
) -> np.ndarray:
    """PCA to ``dim`` dimensions with whitening (each component scaled by eigenvalue**-0.5), then L2.

    The same transform as faiss ``PCAMatrix(d, dim, eigen_power=-0.5)`` fitted on every row (no
    subsampling), up to the sign of each component, which k-means ignores. The mean and the
    covariance are accumulated in float64 over chunks of ``chunk_rows`` rows (on ``device``), and
    the transform is applied chunk by chunk, so no full-size temporary is ever made: the output is
    the only other ``n x width`` matrix, and with ``inplace=True`` (float32 C-contiguous input)
    it is written over the input's own buffer, so the features are never held twice.

    Output width is ``min(dim, d, n - 1)`` minus any numerically-zero directions (below
    ``RANK_TOLERANCE`` of the largest variance); when nothing varies the result is one all-zero
    column. NaN/inf count as 0 and zero rows stay zero. Without ``inplace`` the input is never
    modified. ``reduce`` (distributed runs) sums the moments over ranks, so every rank gets the
    transform fitted on all rows and applies it to its own. ``fit_mask`` (bool, one per row):
    fit on those rows only (steering leaves excluded images out), transform every row.
    Returns float32 ``(n, width)``.
    """
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array (images x dims), got shape {x.shape}")
    if dim < 1:
        raise ValueError(f"pca dim={dim} must be at least 1")
    n_local, d = x.shape
    dev = device or torch.device("cpu")
    s1 = torch.zeros(d, dtype=torch.float64, device=dev)
    s2 = torch.zeros((d, d), dtype=torch.float64, device=dev)
    if fit_mask is not None and np.asarray(fit_mask).shape != (n_local,):
        raise ValueError(f"fit_mask has shape {np.asarray(fit_mask).shape}, expected ({n_local},)")
    n_fit = n_local if fit_mask is None else int(np.count_nonzero(fit_mask))
    for a in range(0, n_local, chunk_rows):
        c = _clean_chunk(x[a:a + chunk_rows], dev).double()
        if fit_mask is not None:
            c = c[torch.from_numpy(np.asarray(fit_mask[a:a + chunk_rows], dtype=bool)).to(dev)]
        s1 += c.sum(dim=0)
        s2.addmm_(c.T, c)
    stats = torch.cat([torch.tensor([float(n_fit)], dtype=torch.float64, device=dev), s1, s2.reshape(-1)])
    del s1, s2
    if reduce is not None:
        stats = reduce(stats)
    n = int(stats[0])
    out_dim = pca_output_dim(n, d, dim)
    if n < 1 or out_dim == 0:
        return np.zeros((n_local, 1), dtype=np.float32)
    mean = stats[1:1 + d] / n
    cov = stats[1 + d:].reshape(d, d) / n - torch.outer(mean, mean)
    evals, evecs = torch.linalg.eigh((cov + cov.T) / 2)  # ascending
    order = torch.argsort(evals, descending=True)[:out_dim]
    evals = evals[order]
    top = float(evals[0])
    if not np.isfinite(top) or top <= 0:
        return np.zeros((n_local, 1), dtype=np.float32)
    keep = int((evals > RANK_TOLERANCE * top).sum())
    proj = (evecs[:, order[:keep]] * torch.rsqrt(evals[:keep])).float()  # (d, keep)
    mean32 = mean.float()
    writable = inplace and x.dtype == np.float32 and x.flags.c_contiguous and x.flags.writeable
    if writable:
        # Row i of the output lands at flat offset i*keep <= i*d, i.e. over input rows already
        # read (each chunk is read into a tensor before its output is written).
        out = x.reshape(-1)[: n_local * keep].reshape(n_local, keep)
    else:
        out = np.empty((n_local, keep), dtype=np.float32)
    for a in range(0, n_local, chunk_rows):
        c = _clean_chunk(x[a:a + chunk_rows], dev)
        y = torch.nan_to_num((c - mean32) @ proj, nan=0.0, posinf=0.0, neginf=0.0)
        y = y / y.norm(dim=1, keepdim=True).clamp_min(_EPS)
        out[a:a + len(y)] = y.cpu().numpy()
    return out


def _clean_chunk(rows: np.ndarray, device: torch.device) -> torch.Tensor:
    """A float32 copy of ``rows`` on ``device`` with NaN/inf replaced by 0 (the input is untouched)."""
    t = torch.from_numpy(np.array(rows, dtype=np.float32))  # a copy: safe for read-only memmaps
    return t.to(device).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)


@dataclass
class KMeansResult:
    assign: np.ndarray  # int64 (n,), nearest centroid of each row
    centroids: np.ndarray  # float32 (k, d)
    objective: float  # sum of squared distances of the rows to their assigned centroid


def kmeans(x: np.ndarray, k: int, niter: int = 20, seed: int = 0, device: torch.device | None = None,
           weights: np.ndarray | None = None) -> KMeansResult:
    """Plain-L2 k-means: one run, no subsampling, then a nearest-centroid assignment.

    faiss on the CPU; with a CUDA ``device`` the same algorithm in torch on the GPU
    (``kmeans_torch``: at 1M x k=10,000 the CPU's k-means would outlast the rest of the epoch).
    Pass a new ``seed`` every epoch (METHOD.md step 4). Duplicate points and ``k`` larger than the
    number of distinct points are allowed; some clusters then end up empty. ``weights`` (n,):
    each row counts that many times in the centroid means (steering's collapsed sets).
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
    if not all_finite(x):
        raise ValueError("k-means input contains NaN or inf: clean the features first (pca_whiten_l2 does)")
    w = None if weights is None else np.ascontiguousarray(weights, dtype=np.float32)
    if w is not None and (w.shape != (n,) or not (w > 0).all()):
        raise ValueError(f"k-means weights must be {n} positive numbers, one per row")
    if device is not None and device.type == "cuda":
        return kmeans_torch(x, k, niter, seed, device, weights=w)
    clus = faiss.Clustering(d, k)
    clus.niter = int(niter)
    clus.nredo = 1
    clus.seed = int(seed) & 0x7FFFFFFF
    clus.spherical = False
    clus.verbose = False
    clus.max_points_per_centroid = min(n // k + 1, 2**31 - 1)  # never subsample the rows
    clus.min_points_per_centroid = 1  # small collections are fine: no warning
    index = faiss.IndexFlatL2(d)
    clus.train(x, index, w)
    centroids = faiss.vector_to_array(clus.centroids).reshape(k, d).astype(np.float32, copy=False)
    # Assign with the final centroids (faiss's last iteration assigned with the previous ones).
    index.reset()
    index.add(centroids)
    dist, idx = index.search(x, 1)
    d = dist[:, 0].astype(np.float64)
    return KMeansResult(
        assign=idx[:, 0].astype(np.int64),
        centroids=centroids,
        objective=float(d.sum() if w is None else (d * w).sum()),
    )


def nearest_centroid(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The nearest centroid (L2) of every row of ``x`` (int64)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    c = np.ascontiguousarray(centroids, dtype=np.float32)
    index = faiss.IndexFlatL2(c.shape[1])
    index.add(c)
    return index.search(x, 1)[1][:, 0].astype(np.int64)


ASSIGN_CHUNK_BYTES = 256 * 2**20  # distance block (rows x k float32) per assignment step


def kmeans_torch(x: np.ndarray, k: int, niter: int = 20, seed: int = 0,
                 device: torch.device | None = None, weights: np.ndarray | None = None) -> KMeansResult:
    """faiss's k-means (``Clustering`` with ``IndexFlatL2``) in torch, for GPUs.

    Same steps as faiss: k distinct random rows as the initial centroids, ``niter`` rounds of
    nearest-centroid assignment (float32 ``x.c`` blocks: argmin of ``|c|^2 - 2 x.c``) and
    centroid = mean of its rows; an empty cluster takes half of a large one (chosen with
    probability proportional to its size, as faiss's ``split_clusters``: the centroid is copied
    and the two copies nudged apart by a relative 1/1024). Then a final assignment with the final
    centroids. Inputs are validated by ``kmeans``.
    """
    dev = device or torch.device("cpu")
    n, d = x.shape
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(seed) & 0x7FFFFFFF)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(dev)
    wt = None if weights is None else torch.from_numpy(np.asarray(weights, dtype=np.float64)).to(dev)
    centroids = xt[torch.randperm(n, generator=gen)[:k].to(dev)].clone()
    rows = max(1, ASSIGN_CHUNK_BYTES // (4 * k))
    for _ in range(int(niter)):
        sums = torch.zeros((k, d), dtype=torch.float64, device=dev)
        counts = torch.zeros(k, dtype=torch.int64, device=dev)
        mass = torch.zeros(k, dtype=torch.float64, device=dev)
        c_sq = (centroids * centroids).sum(dim=1)  # once per iteration, not per block
        for a in range(0, n, rows):  # assignment and the new sums block by block: no n x d copy
            xb = xt[a:a + rows]
            idx, _ = _assign_block(xb, centroids, c_sq)
            if wt is None:
                sums.index_add_(0, idx, xb.double())
                counts += torch.bincount(idx, minlength=k)
            else:
                wb = wt[a:a + rows]
                sums.index_add_(0, idx, xb.double() * wb[:, None])
                mass.index_add_(0, idx, wb)
                counts += torch.bincount(idx, minlength=k)
        denom = counts.double() if wt is None else mass
        centroids = (sums / denom.clamp_min(1e-12).unsqueeze(1)).float()
        _split_empty(centroids, counts, gen)
    assign = torch.empty(n, dtype=torch.int64, device=dev)
    dist = torch.empty(n, dtype=torch.float32, device=dev)
    c_sq = (centroids * centroids).sum(dim=1)
    for a in range(0, n, rows):
        assign[a:a + rows], dist[a:a + rows] = _assign_block(xt[a:a + rows], centroids, c_sq)
    return KMeansResult(
        assign=assign.cpu().numpy().astype(np.int64),
        centroids=centroids.cpu().numpy(),
        objective=float(dist.double().sum() if wt is None else (dist.double() * wt).sum()),
    )


def _assign_block(xb: torch.Tensor, c: torch.Tensor, c_sq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centroid of every row of ``xb`` and the squared distance to it (``c_sq`` = |c|^2)."""
    scores = torch.addmm(c_sq, xb, c.T, alpha=-2.0)  # |c|^2 - 2 x.c
    best, idx = scores.min(dim=1)
    return idx, (best + (xb * xb).sum(dim=1)).clamp_min(0)


def _split_empty(centroids: torch.Tensor, counts: torch.Tensor, gen: torch.Generator) -> None:
    """faiss's ``split_clusters``: every empty cluster takes over half of a populous one."""
    sizes = counts.cpu().double()
    n = float(sizes.sum())
    k = len(sizes)
    for empty in torch.nonzero(sizes == 0).flatten().tolist():
        if n <= k:  # fewer rows than clusters: nothing to split
            return
        # a cluster with p ~ (size - 1) / (n - k), as faiss, so singletons are never split
        p = (sizes - 1).clamp_min(0)
        donor = int(torch.multinomial(p / p.sum(), 1, generator=gen))
        centroids[empty] = centroids[donor]
        eps = 1.0 / 1024
        sign = torch.ones(centroids.shape[1], device=centroids.device)
        sign[1::2] = -1  # faiss alternates the nudge per dimension
        centroids[empty] *= 1 + eps * sign
        centroids[donor] *= 1 - eps * sign
        sizes[empty] = sizes[donor] // 2
        sizes[donor] -= sizes[empty]
