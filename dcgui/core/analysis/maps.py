"""The 2-D map of a collection: PCA to 50 dims, then UMAP, as a generator with progress.

UMAP's cost grows with the number of points; above ``fit_limit`` images it is fitted on a random
subsample and the remaining images are placed from their nearest fitted neighbours in chunks
(progress and stop between chunks). The kNN graph UMAP starts from is computed exactly by faiss
instead of UMAP's NN-descent. Measured times are in ``benchmarks/results_explore.md``.
"""

from __future__ import annotations

import re
import threading
import time
import warnings
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from dcgui.core.analysis.neighbours import normalize_rows
from dcgui.core.control import RunControl, drain
from dcgui.core.events import PHASE_MAP, PHASE_MAP_GRAPH, PhaseProgress

FIT_LIMIT = 50_000  # fit on all images up to here, on a subsample above
FIT_SAMPLE = 20_000  # size of that subsample
TRANSFORM_CHUNK = 10_000


def pca_reduce(x: np.ndarray, dim: int = 50, fit_rows: int = 20_000, seed: int = 0) -> np.ndarray:
    """Project rows onto their top ``dim`` principal axes (no whitening), float32.

    The axes are fitted on at most ``fit_rows`` random rows (a 4096-d covariance from all rows of
    a large collection would cost more than UMAP itself, for the same axes).
    """
    x = np.asarray(x, dtype=np.float32)
    n, d = x.shape
    if d <= dim:
        return np.ascontiguousarray(x - x.mean(axis=0))
    rng = np.random.default_rng(seed)
    sample = x[np.sort(rng.choice(n, size=fit_rows, replace=False))] if n > fit_rows else x
    mean = sample.mean(axis=0, dtype=np.float64)
    centred = (sample - mean).astype(np.float64)
    cov = centred.T @ centred / max(len(sample) - 1, 1)
    _, vecs = np.linalg.eigh(cov)  # ascending eigenvalues
    axes = vecs[:, ::-1][:, :dim].astype(np.float32)
    return np.ascontiguousarray((x - mean.astype(np.float32)) @ axes)


def _umap_knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact Euclidean kNN (self included) by faiss, in the form UMAP's ``precomputed_knn`` takes.

    Much faster than UMAP's own NN-descent here (BLAS instead of numba, no JIT compile on first
    use): 10k x 50 dims in ~0.3 s on one core.
    """
    import faiss

    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    d2, ids = index.search(x, k)
    return ids.astype(np.int64), np.sqrt(np.maximum(d2, 0.0)).astype(np.float32)


def _place_by_neighbours(fit_x: np.ndarray, fit_coords: np.ndarray, x: np.ndarray, k: int = 8) -> np.ndarray:
    """2-D position of each row of ``x``: the inverse-distance weighted mean of the positions of
    its ``k`` nearest fitted points (what UMAP's ``transform`` starts from, without its NN-descent
    index; placed points land inside the cluster their neighbours form)."""
    import faiss

    index = faiss.IndexFlatL2(fit_x.shape[1])
    index.add(fit_x)
    d2, ids = index.search(np.ascontiguousarray(x), k)
    w = 1.0 / (np.sqrt(np.maximum(d2, 0.0)) + 1e-3)
    w /= w.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", w, fit_coords[ids]).astype(np.float32)


class _EpochSink:
    """A file for UMAP's tqdm bar (format "{n}/{total}"): remembers the latest epoch count."""

    def __init__(self) -> None:
        self.done = 0
        self.total = 0

    def write(self, text: str) -> None:
        m = _EPOCHS.search(text)
        if m:
            self.done, self.total = int(m.group(1)), int(m.group(2))

    def flush(self) -> None:
        pass


_EPOCHS = re.compile(r"(\d+)/(\d+)")


def _fit_with_progress(make_reducer: Callable[[], Any], x: np.ndarray, sink: _EpochSink, n: int,
                       control: RunControl | None, t0: float) -> Generator[PhaseProgress, None, np.ndarray]:
    """``make_reducer().fit_transform(x)`` on a helper thread (importing umap, which loads numba,
    happens there too), yielding progress (UMAP's epochs mapped onto the images being fitted)
    and checking ``control`` every 0.25 s.

    On stop the generator ends at once; the helper finishes its fit in the background (numba's
    loop cannot be interrupted) and its result is dropped.
    """
    out: dict[str, Any] = {}

    def fit() -> None:
        try:
            with warnings.catch_warnings():
                # UMAP warns it cannot `transform` without its NN-descent index: never asked to
                warnings.filterwarnings("ignore", message=".*transform.*", category=UserWarning)
                warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
                out["coords"] = make_reducer().fit_transform(x)
        except BaseException as exc:  # re-raised in the generator's thread below
            out["error"] = exc

    helper = threading.Thread(target=fit, name="dcgui-umap-fit", daemon=True)
    helper.start()
    m = len(x)
    while helper.is_alive():
        helper.join(0.25)
        if control is not None:
            control.check()
        if not sink.total:
            # UMAP's fuzzy graph, spectral first layout (and numba compiling on first use, ~20 s):
            # no count to report, so the phase says what runs (total 0: a busy indicator)
            yield PhaseProgress(PHASE_MAP_GRAPH, 0, 0)
            continue
        done = int(sink.done / sink.total * m)
        yield PhaseProgress(PHASE_MAP, min(done, m - 1), n,
                            images_per_second=done / max(time.perf_counter() - t0, 1e-9))
    if "error" in out:
        raise out["error"]
    return np.asarray(out["coords"], dtype=np.float32)


def iter_map_2d(
    features: np.ndarray,
    *,
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    pca_dim: int = 50,
    n_epochs: int | None = None,
    fit_limit: int = FIT_LIMIT,
    fit_sample: int = FIT_SAMPLE,
    control: RunControl | None = None,
    init: np.ndarray | None = None,
) -> Generator[PhaseProgress, None, np.ndarray]:
    """2-D coordinates (float32 (N, 2)) of L2-normalised ``features``; yields ``PhaseProgress``:
    first ``PHASE_MAP_GRAPH`` with no count (PCA, neighbours, UMAP's graph and first layout),
    then ``PHASE_MAP`` in images placed (UMAP's optimisation epochs mapped onto the fitted images,
    then the others placed).

    Up to ``fit_limit`` images UMAP is fitted on all of them; above, on ``fit_sample`` random
    images, and the others are placed from their nearest fitted neighbours in chunks.
    ``n_epochs`` None: UMAP's default (500 below 10k points, 200 above). ``init`` (N, 2): start
    from these positions (the previous epoch's map: the map over epochs moves little between
    epochs) instead of the spectral layout.
    """
    n = len(features)
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    yield PhaseProgress(PHASE_MAP, 0, n)
    if n < 4:  # UMAP needs a few points; a line keeps the map defined for tiny collections
        coords = np.zeros((n, 2), dtype=np.float32)
        coords[:, 0] = np.arange(n)
        yield PhaseProgress(PHASE_MAP, n, n)
        return coords
    t0 = time.perf_counter()
    yield PhaseProgress(PHASE_MAP_GRAPH, 0, 0)
    x = pca_reduce(normalize_rows(features), pca_dim, seed=seed)
    fit_idx = np.arange(n)
    if n > fit_limit:
        fit_idx = np.sort(np.random.default_rng(seed).choice(n, size=fit_sample, replace=False))
    fit_x = np.ascontiguousarray(x[fit_idx])
    k = min(n_neighbors, len(fit_idx) - 1)
    knn = _umap_knn(fit_x, k)
    if control is not None:
        control.check()
    yield PhaseProgress(PHASE_MAP_GRAPH, 0, 0)

    sink = _EpochSink()

    def make_reducer() -> Any:
        import umap  # lazy: importing umap loads numba (about 2 s)

        return umap.UMAP(
            n_neighbors=k, min_dist=min_dist, n_epochs=n_epochs,
            random_state=seed, n_jobs=1,  # reproducible maps (a seed makes UMAP single-threaded anyway)
            init=_init(init, fit_idx) if init is not None else "spectral" if len(fit_idx) > 2 * k + 2 else "random",
            precomputed_knn=knn,
            # UMAP's epoch bar, enabled without `verbose` (no prints), written into our sink
            tqdm_kwds={"disable": False, "file": sink, "bar_format": "{n}/{total}", "mininterval": 0.2},
        )

    fitted = yield from _fit_with_progress(make_reducer, fit_x, sink, n, control, t0)
    coords = np.empty((n, 2), dtype=np.float32)
    coords[fit_idx] = fitted
    done = len(fit_idx)
    yield PhaseProgress(PHASE_MAP, done, n, images_per_second=done / (time.perf_counter() - t0))
    if done < n:
        rest = np.setdiff1d(np.arange(n), fit_idx, assume_unique=True)
        for start in range(0, len(rest), TRANSFORM_CHUNK):
            if control is not None:
                control.check()
            part = rest[start:start + TRANSFORM_CHUNK]
            coords[part] = _place_by_neighbours(fit_x, fitted, x[part])
            done += len(part)
            yield PhaseProgress(PHASE_MAP, done, n, images_per_second=done / (time.perf_counter() - t0))
    return coords


def _init(init: np.ndarray, fit_idx: np.ndarray) -> np.ndarray:
    """Start positions for UMAP: the given ones, rescaled to UMAP's initial box (it expects the
    spectral layout's scale, about [0, 10]) and made distinct (equal rows stall the gradient)."""
    x = np.asarray(init, dtype=np.float64)[fit_idx]
    x = x - x.mean(axis=0)
    x = 10.0 * x / max(float(np.abs(x).max()), 1e-9)
    jitter = np.random.default_rng(0).normal(scale=1e-4, size=x.shape)
    return (x + jitter).astype(np.float32)


def map_2d(features: np.ndarray, **kwargs: Any) -> np.ndarray:
    """``iter_map_2d`` run to the end."""
    return drain(iter_map_2d(features, **kwargs))


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Boolean mask of the (N, 2) ``points`` inside the closed ``polygon`` (M, 2) (even-odd rule).

    A point's horizontal ray toggles at each edge spanning its y: with the points sorted by y,
    each edge touches only the points of its y-span (a ``searchsorted`` slice), so the cost is
    about N x (edges crossing a horizontal line) instead of N x M: a 200-vertex lasso over 100k
    points takes tens of milliseconds.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    inside = np.zeros(len(pts), dtype=bool)
    if len(poly) < 3 or len(pts) == 0:
        return inside
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    cand = np.flatnonzero((pts[:, 0] >= lo[0]) & (pts[:, 0] <= hi[0]) & (pts[:, 1] >= lo[1]) & (pts[:, 1] <= hi[1]))
    order = cand[np.argsort(pts[cand, 1], kind="stable")]
    ys = pts[order, 1]
    hit = np.zeros(len(pts), dtype=bool)
    xj, yj = poly[-1]
    for xi, yi in poly:
        if yi != yj:
            # (yi > y) != (yj > y)  <=>  min(yi, yj) <= y < max(yi, yj)
            a, b = np.searchsorted(ys, [min(yi, yj), max(yi, yj)], side="left")
            if b > a:
                idx = order[a:b]
                x_at = (xj - xi) * (pts[idx, 1] - yi) / (yj - yi) + xi
                hit[idx] ^= pts[idx, 0] < x_at
        xj, yj = xi, yi
    inside[cand] = hit[cand]
    return inside
