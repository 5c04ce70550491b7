"""Nearest neighbours by cosine similarity over plain numpy feature arrays (row i = image i).

Similarity is always the cosine similarity of L2-normalised rows, computed as an inner product by
faiss: ``FeatureIndex`` (exact, or IVF for large collections) and the all-pairs kNN graph that
near-duplicates and the evaluation build on. ``dcgui.services.explore`` feeds them a session's
backbone features.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager

import numpy as np

from dcgui.core.control import RunControl, drain
from dcgui.core.events import PHASE_NEIGHBOURS, PhaseProgress

# Above this many images an IVF index replaces the exact one for single queries ("more like
# this": 20 ms at 100k x 256 on one core), and above GRAPH_EXACT_LIMIT for the all-pairs kNN
# graph of near-duplicates, which grows as N^2: at 100k on 2 busy cores 292 s exact, 25 s IVF
# with recall@8 1.000 on clustered features (benchmarks/results_explore.md).
EXACT_LIMIT = 200_000
GRAPH_EXACT_LIMIT = 50_000
SMALL_BATCH = 64  # fewer queries than this run single-threaded (see _one_omp_thread)


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32, C-contiguous). Zero and non-finite rows become 0."""
    x = np.array(x, dtype=np.float32, copy=True, order="C")
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array (images x dims), got shape {x.shape}")
    bad = ~np.isfinite(x).all(axis=1)
    x[bad] = 0.0
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 1e-12)
    return x


def as_normalized(x: np.ndarray) -> np.ndarray:
    """``x`` itself when it already is float32, C-contiguous, finite, with unit (or zero) rows;
    else ``normalize_rows(x)``. Saves a copy of a 100k x 4096 matrix (1.6 GB) per index."""
    if (isinstance(x, np.ndarray) and x.ndim == 2 and x.dtype == np.float32 and x.flags.c_contiguous
            and len(x) and np.isfinite(x).all()):
        norms = np.linalg.norm(x, axis=1)
        if np.all((np.abs(norms - 1.0) < 1e-4) | (norms == 0.0)):
            return x
    return normalize_rows(x)


@contextmanager
def _one_omp_thread() -> Iterator[None]:
    """Run a small faiss search on the calling thread alone.

    For a handful of queries OpenMP's thread wake-up costs more than the search: on a busy
    2-core machine one query on 10k images took 43 ms with 2 threads and 0.2 ms with 1.
    ``omp_set_num_threads`` sets the calling thread's value only, so other threads' faiss
    work (the engine's k-means) is unaffected.
    """
    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _faiss():  # type: ignore[no-untyped-def]
    import faiss  # lazy: keeps `import dcgui.core.analysis.neighbours` cheap

    return faiss


class FeatureIndex:
    """Nearest neighbours by cosine similarity over a fixed set of features.

    Exact (``IndexFlatIP``) up to ``exact_limit`` images; above it an ``IndexIVFFlat`` with
    ``4*sqrt(N)`` lists (at most N/39) probed ``nprobe`` at a time (approximate, much faster
    for the all-pairs kNN graph). ``features`` are normalised here (not copied when they
    already are); pass raw or normalised rows.
    """

    def __init__(self, features: np.ndarray, exact_limit: int = EXACT_LIMIT, nprobe: int = 16,
                 seed: int = 0) -> None:
        faiss = _faiss()
        self.features = as_normalized(features)
        n, d = self.features.shape
        if n == 0:
            raise ValueError("cannot build a neighbour index over 0 images")
        self.exact = n <= exact_limit
        if self.exact:
            index = faiss.IndexFlatIP(d)
        else:
            nlist = max(1, min(int(4 * math.sqrt(n)), n // 39))  # >= 39 training points per list
            quantizer = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(seed)
            train = self.features[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
            index.train(train)
            index.nprobe = nprobe
        index.add(self.features)
        self.index = index

    @property
    def n(self) -> int:
        return int(self.features.shape[0])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities float32 (q, k), ids int64 (q, k)), best first; id -1 where none found."""
        q = normalize_rows(np.atleast_2d(queries))
        if q.shape[1] != self.features.shape[1]:
            raise ValueError(f"query has {q.shape[1]} dims but the index has {self.features.shape[1]}: "
                             "embed it with the same network and epoch")
        k = max(1, min(int(k), self.n))
        if len(q) < SMALL_BATCH:
            with _one_omp_thread():
                sims, ids = self.index.search(q, k)
        else:
            sims, ids = self.index.search(q, k)
        sims[ids < 0] = -np.inf
        return sims, ids.astype(np.int64)

    def neighbours_of(self, i: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest other images of image ``i`` (itself excluded)."""
        sims, ids = self.search_excluding(np.array([i]), k)
        return sims[0], ids[0]

    def search_excluding(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """kNN of images ``rows`` among the others: each image's own row is removed.

        Searches k+1 and drops the image itself; where exact duplicates tie with it and push it out
        of the k+1, the last (worst) hit is dropped instead.
        """
        rows = np.asarray(rows, dtype=np.int64)
        k = max(1, min(int(k), self.n - 1))
        sims, ids = self.search(self.features[rows], k + 1)
        if ids.shape[1] < k + 1:  # only possible when n == 1 (handled by the min above)
            return sims, ids
        drop = ids == rows[:, None]
        missing = ~drop.any(axis=1)
        drop[missing, -1] = True
        keep = ~drop
        return sims[keep].reshape(len(rows), k), ids[keep].reshape(len(rows), k)


def iter_knn_graph(
    index: FeatureIndex, k: int, batch: int = 4096, control: RunControl | None = None
) -> Generator[PhaseProgress, None, tuple[np.ndarray, np.ndarray]]:
    """All-pairs kNN (self excluded): (sims float32 (N, k), ids int64 (N, k)), in batches with progress."""
    n = index.n
    k = max(1, min(int(k), n - 1))
    sims = np.empty((n, k), dtype=np.float32)
    ids = np.empty((n, k), dtype=np.int64)
    t0 = time.perf_counter()
    yield PhaseProgress(PHASE_NEIGHBOURS, 0, n)
    for start in range(0, n, batch):
        if control is not None:
            control.check()
        rows = np.arange(start, min(start + batch, n))
        s, i = index.search_excluding(rows, k)
        sims[rows], ids[rows] = s, i
        done = int(rows[-1]) + 1
        yield PhaseProgress(PHASE_NEIGHBOURS, done, n,
                            images_per_second=done / max(time.perf_counter() - t0, 1e-9))
    return sims, ids


def knn_graph(index: FeatureIndex, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``iter_knn_graph`` run to the end."""
    return drain(iter_knn_graph(index, k))
