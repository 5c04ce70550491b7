"""Near-duplicate groups: copies of one photograph (resized, re-encoded, shrunk, slightly
cropped, converted, EXIF-rotated), never different photographs of one scene.

Three steps, each a generator with progress (``iter_near_duplicates`` runs them all):

1. **Signatures** of every image from the cache's thumbnail (EXIF orientation already applied):
   a 64-bit perceptual hash (``imagehash.phash``) and an 8 x 8 colour miniature (zero mean, unit
   norm). Cheap, stored in the session, reused.
2. **Candidate pairs**, never all pairs: images whose hashes differ in at most ``HASH_RADIUS``
   bits (faiss multi-index hashing: re-encodes, resizes and format changes land there); the
   ``NEIGHBOURS`` nearest miniatures of each image (crops move the hash but not the miniature);
   and, when given, the nearest learned features (DeepCluster's "same kind of picture").
3. **Pair differences** from the pixels (``duplicate_align``): the worst block's residual after
   aligning the two thumbnails (same framing, or one a crop of the other). 0 = identical;
   copies stay below ~0.3; a burst shot or another photo of the scene is above.

Groups are **complete linkage** on these differences: at threshold ``t`` every pair inside a
group differs by at most ``t``, so a group never chains A ~ B ~ C into different pictures.
Missing pairs inside a small connected set are computed, not assumed. The merges form a forest
whose edges carry the merge height, so the number of groups and images for *every* threshold
is a binary search (the slider), and the groups at ``t`` are the forest's components.
"""

from __future__ import annotations

import heapq
import io
import os
import time
import zipfile
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from dcgui.core.analysis import duplicate_align as align
from dcgui.core.analysis.neighbours import GRAPH_EXACT_LIMIT, FeatureIndex
from dcgui.core.control import RunControl
from dcgui.core.events import PHASE_PAIRS, PHASE_PAIRS_GROUPS, PHASE_SIGNATURES, PhaseProgress

if TYPE_CHECKING:
    from dcgui.core.images.cache import ImageCache


HASH_BITS = 64
HASH_RADIUS = 8  # candidates: pHash distance <= this (copies measured <= 6 on 128-px thumbnails)
TINY_SIDE = 8
NEIGHBOURS = 6  # nearest miniatures per image (a crop's original was within the 3 nearest)
FEATURE_NEIGHBOURS = 6
CROP_GATE = 0.65  # miniature cosine under which no crop is searched (crops measured >= 0.70)
EASY = 0.15  # a same-framing difference under this needs no crop search
MAX_DIFFERENCE = 0.6  # pairs that differ more are dropped: the slider's upper end
# The default threshold: measured on real photographs (benchmarks/results_duplicates.md).
DEFAULT_THRESHOLD = 0.30
COMPLETE_LIMIT = 64  # connected sets up to this size get every missing pair computed
CROP_RATIO = 0.95  # one image shows at most this share of the other's area: it is a crop of it
PAIR_CHUNK = 64  # pairs per task: a stop waits for at most one task per thread (~0.3 s)
LINKAGE_CHECK = 2048  # merges between two looks at the stop flag
SIGNATURE_VERSION = 1


@dataclass(frozen=True)
class Signatures:
    """Per image: ``phash`` (N, 8) uint8 (64 bits), ``tiny`` (N, 192) float32 unit rows."""

    phash: np.ndarray
    tiny: np.ndarray

    def __len__(self) -> int:
        return len(self.phash)

    def save(self, path: Path, key: str) -> None:
        """Write to ``path`` (atomically, under a temporary name of its own: the window and a
        command may save at once) with the identity ``key`` of the images they describe."""
        from dcgui.core.fsutil import atomic_writer

        with atomic_writer(Path(path)) as fh:
            np.savez(fh, phash=self.phash, tiny=self.tiny, key=np.array(key),
                     version=np.array(SIGNATURE_VERSION))

    @classmethod
    def load(cls, path: Path, key: str) -> Signatures | None:
        """The signatures saved at ``path`` for ``key``; None when absent, stale or unreadable."""
        try:
            with np.load(path, allow_pickle=False) as z:
                if int(z["version"]) != SIGNATURE_VERSION or str(z["key"]) != key:
                    return None
                return cls(z["phash"].astype(np.uint8), z["tiny"].astype(np.float32))
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
            return None  # a truncated file (a crash mid-write of an old version) is computed again


def signature(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pHash as 8 bytes, miniature as 192 floats) of one (H, W, 3) uint8 thumbnail."""
    import imagehash

    im = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    bits = np.packbits(imagehash.phash(im, hash_size=8).hash.ravel())
    tiny = np.asarray(im.resize((TINY_SIDE, TINY_SIDE), Image.Resampling.BOX), np.float32).ravel()
    tiny -= tiny.mean()
    norm = float(np.linalg.norm(tiny))
    return bits, (tiny / norm if norm > 1e-6 else tiny)


Thumbnail = Callable[[int], np.ndarray]


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _in_chunks_on_threads(work: Callable[[int], None], n: int, chunk: int, phase: str,
                          control: RunControl | None, t0: float) -> Generator[PhaseProgress, None, None]:
    """Run ``work(start)`` for every chunk start of ``0..n-1`` on a thread pool, a few chunks per
    step, so a stop is honoured and progress reported between steps (a chunk not yet started
    when the stop comes is skipped)."""
    starts = list(range(0, n, chunk))
    window = 2 * _workers()

    def run(start: int) -> None:
        if control is None or not control.stop_requested:
            work(start)

    with ThreadPoolExecutor(_workers(), thread_name_prefix="dcgui-neardup") as pool:
        for k in range(0, len(starts), window):
            if control is not None:
                control.check()
            list(pool.map(run, starts[k:k + window]))
            if control is not None:
                control.check()
            done = min(n, starts[min(k + window, len(starts)) - 1] + chunk)
            yield PhaseProgress(phase, done, n, images_per_second=done / max(time.perf_counter() - t0, 1e-9))


def iter_signatures(thumbnail: Thumbnail, n: int, control: RunControl | None = None,
                    chunk: int = 256) -> Generator[PhaseProgress, None, Signatures]:
    """Signatures of images ``0..n-1`` (``thumbnail(i)``: image i's RGB thumbnail), on threads."""
    phash = np.zeros((n, HASH_BITS // 8), np.uint8)
    tiny = np.zeros((n, TINY_SIDE * TINY_SIDE * 3), np.float32)
    t0 = time.perf_counter()
    yield PhaseProgress(PHASE_SIGNATURES, 0, n)

    def work(start: int) -> None:
        for i in range(start, min(start + chunk, n)):
            phash[i], tiny[i] = signature(thumbnail(i))

    yield from _in_chunks_on_threads(work, n, chunk, PHASE_SIGNATURES, control, t0)
    return Signatures(phash, tiny)


def thumbnail_reader(jpeg: Callable[[int], bytes]) -> Thumbnail:
    """A ``Thumbnail`` from a function giving image i's thumbnail JPEG bytes (the cache's)."""
    def read(i: int) -> np.ndarray:
        with Image.open(io.BytesIO(jpeg(i))) as im:
            return np.asarray(im.convert("RGB"))
    return read


# ---------------------------------------------------------------------------------------------
# candidate pairs
# ---------------------------------------------------------------------------------------------
def _unique_pairs(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(M, 2) int64 unordered pairs (a < b), each once, self-pairs dropped."""
    i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
    keep = (i != j) & (i >= 0) & (j >= 0)
    a, b = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])
    pairs = np.unique(np.stack([a, b], axis=1), axis=0) if len(a) else np.zeros((0, 2), np.int64)
    return pairs.astype(np.int64)


def hash_pairs(phash: np.ndarray, radius: int = HASH_RADIUS) -> np.ndarray:
    """Pairs whose 64-bit hashes differ in at most ``radius`` bits (all of them up to 7 bits:
    4 tables of 16 bits probed with 1 flipped bit; most beyond)."""
    import faiss

    n = len(phash)
    if n < 2:
        return np.zeros((0, 2), np.int64)
    index = faiss.IndexBinaryMultiHash(HASH_BITS, 4, 16)
    index.nflip = 1
    index.add(np.ascontiguousarray(phash, dtype=np.uint8))
    lims, _, ids = index.range_search(np.ascontiguousarray(phash, dtype=np.uint8), radius + 1)
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(lims.astype(np.int64)))
    return _unique_pairs(rows, ids)


def knn_pairs(x: np.ndarray, k: int, min_cosine: float = -1.0) -> np.ndarray:
    """Each row's ``k`` nearest rows by cosine (exact up to GRAPH_EXACT_LIMIT rows, IVF above),
    kept where the cosine is at least ``min_cosine``."""
    n = len(x)
    if n < 2:
        return np.zeros((0, 2), np.int64)
    index = FeatureIndex(x, exact_limit=GRAPH_EXACT_LIMIT)
    k = min(k, n - 1)
    rows_all, cols_all = [], []
    for start in range(0, n, 4096):
        rows = np.arange(start, min(start + 4096, n))
        sims, ids = index.search_excluding(rows, k)
        ok = sims >= min_cosine
        rows_all.append(np.repeat(rows, k)[ok.ravel()])
        cols_all.append(ids.ravel()[ok.ravel()])
    return _unique_pairs(np.concatenate(rows_all), np.concatenate(cols_all))


def candidate_pairs(sig: Signatures, features: np.ndarray | None = None) -> np.ndarray:
    """Union of hash, miniature and (given) learned-feature neighbour pairs, (M, 2) a < b,
    without the pairs whose miniatures disagree too much for a copy or a crop (CROP_GATE)."""
    parts = [hash_pairs(sig.phash), knn_pairs(sig.tiny, NEIGHBOURS, CROP_GATE)]
    if features is not None:
        if len(features) != len(sig):
            raise ValueError(f"{len(features)} feature rows for {len(sig)} images: use the features "
                             "of the same images")
        parts.append(knn_pairs(features, FEATURE_NEIGHBOURS))
    pairs = _unique_pairs(np.concatenate([p[:, 0] for p in parts]), np.concatenate([p[:, 1] for p in parts]))
    cos = np.einsum("ij,ij->i", sig.tiny[pairs[:, 0]], sig.tiny[pairs[:, 1]]) if len(pairs) else np.zeros(0)
    return pairs[cos >= CROP_GATE]


# ---------------------------------------------------------------------------------------------
# pair differences
# ---------------------------------------------------------------------------------------------
class PairJudge:
    """Pixel difference of image pairs, preparing each image once per batch."""

    def __init__(self, thumbnail: Thumbnail, sig: Signatures) -> None:
        self.thumbnail = thumbnail
        self.sig = sig

    def differences(self, pairs: np.ndarray) -> np.ndarray:
        """float32 difference per pair row (``inf`` for "not the same picture at all")."""
        return self.judge(pairs)[0]

    def judge(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(difference, content ratio) per pair row (i, j): the ratio is the area of the photo
        j shows over the area i shows when one is a crop of the other, else 1 (the same framing,
        or two overlapping crops)."""
        prepared: dict[int, align.Prepared] = {}

        def get(i: int) -> align.Prepared:
            p = prepared.get(i)
            if p is None:
                p = prepared[i] = align.prepare(self.thumbnail(i))
            return p

        out = np.empty(len(pairs), np.float32)
        ratio = np.ones(len(pairs), np.float32)
        for r, (i, j) in enumerate(pairs.tolist()):
            a, b = get(i), get(j)
            d = align.identity_difference(a, b)
            if d > EASY and float(self.sig.tiny[i] @ self.sig.tiny[j]) >= CROP_GATE:
                dc, rc = align.crop_fit(a, b)
                if dc < d:
                    d, ratio[r] = dc, rc
            out[r] = d
        return out, ratio


def iter_pair_differences(judge: PairJudge, pairs: np.ndarray, control: RunControl | None = None,
                          chunk: int = PAIR_CHUNK, phase: str = PHASE_PAIRS,
                          ) -> Generator[PhaseProgress, None, tuple[np.ndarray, np.ndarray]]:
    """(differences, content ratios) of all ``pairs`` (``PairJudge.judge``) on threads, with
    progress under ``phase``; a stop is honoured within one chunk per thread."""
    m = len(pairs)
    out = np.empty(m, np.float32)
    ratio = np.ones(m, np.float32)
    t0 = time.perf_counter()
    yield PhaseProgress(phase, 0, m)
    order = np.lexsort((pairs[:, 1], pairs[:, 0])) if m else np.zeros(0, np.int64)

    def work(start: int) -> None:
        rows = order[start:start + chunk]
        out[rows], ratio[rows] = judge.judge(pairs[rows])

    yield from _in_chunks_on_threads(work, m, chunk, phase, control, t0)
    return out, ratio


# ---------------------------------------------------------------------------------------------
# complete linkage
# ---------------------------------------------------------------------------------------------
def union_prefix_counts(n: int, edge_i: np.ndarray, edge_j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joining ``n`` images along the edges in order (a forest: no edge closes a cycle), the number
    of groups of >= 2 images and of images in them after the first m edges, for every m. A
    threshold then maps to its counts with one ``searchsorted`` (the duplicate sliders)."""
    parent = np.arange(n, dtype=np.int64)
    size = np.ones(n, dtype=np.int64)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = int(parent[root])
        while parent[x] != root:  # path compression
            parent[x], x = root, int(parent[x])
        return root

    m = len(edge_i)
    groups = np.zeros(m + 1, dtype=np.int64)
    images = np.zeros(m + 1, dtype=np.int64)
    g = im = 0
    for e, (i, j) in enumerate(zip(edge_i.tolist(), edge_j.tolist())):
        ri, rj = find(i), find(j)
        si, sj = int(size[ri]), int(size[rj])
        g += 1 - (si > 1) - (sj > 1)
        im += (si == 1) + (sj == 1)
        if si < sj:
            ri, rj = rj, ri
        parent[rj] = ri
        size[ri] = si + sj
        groups[e + 1], images[e + 1] = g, im
    return groups, images


def _components(n: int, pairs: np.ndarray) -> list[np.ndarray]:
    """Connected sets (of >= 2 images) of the pair graph."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(pairs) == 0:
        return []
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, comp = connected_components(g, directed=False)
    order = np.argsort(comp, kind="stable")
    bounds = np.flatnonzero(np.diff(comp[order])) + 1
    return [c for c in np.split(order, bounds) if len(c) > 1]


def complete_linkage(pairs: np.ndarray, diffs: np.ndarray, limit: float,
                     control: RunControl | None = None) -> np.ndarray:
    """Complete-linkage merges over a sparse set of pair differences (a missing pair counts as
    infinitely different): rows (leaf of one cluster, leaf of the other, height), heights
    non-decreasing, only merges at height <= ``limit``. Every pair inside a merged cluster has
    a known difference <= its height. A stop asked through ``control`` is honoured every
    ``LINKAGE_CHECK`` steps (``StopRequested``)."""
    # dist[a][b] = (largest difference across a x b, number of known cross pairs)
    members: dict[int, list[int]] = {}
    dist: dict[int, dict[int, tuple[float, int]]] = {}
    for (i, j), d in zip(pairs.tolist(), diffs.tolist()):
        if d > limit:
            continue
        members.setdefault(i, [i])
        members.setdefault(j, [j])
        dist.setdefault(i, {})[j] = (d, 1)
        dist.setdefault(j, {})[i] = (d, 1)
    heap = [(d, i, j) for i, nb in dist.items() for j, (d, _) in nb.items() if i < j]
    heapq.heapify(heap)
    merges: list[tuple[int, int, float]] = []
    next_id = max(members, default=-1) + 1
    steps = 0
    while heap:
        steps += 1
        if control is not None and steps % LINKAGE_CHECK == 0:
            control.check()
        d, a, b = heapq.heappop(heap)
        if a not in members or b not in members:
            continue  # a cluster that has merged since
        ma, mb = members.pop(a), members.pop(b)
        merges.append((ma[0], mb[0], d))
        c = next_id
        next_id += 1
        members[c] = ma + mb
        da, db = dist.pop(a), dist.pop(b)
        dc: dict[int, tuple[float, int]] = {}
        for x in (set(da) | set(db)) - {a, b}:
            ha, ka = da.get(x, (0.0, 0))
            hb, kb = db.get(x, (0.0, 0))
            dc[x] = (max(ha, hb), ka + kb)
            nx = dist[x]
            nx.pop(a, None)
            nx.pop(b, None)
            nx[c] = dc[x]
            if ka + kb == len(members[c]) * len(members[x]):  # every cross pair known
                heapq.heappush(heap, (max(ha, hb), min(c, x), max(c, x)))
        dist[c] = dc
    out = np.zeros((len(merges), 3), np.float64)
    if merges:
        out[:] = np.array(merges, np.float64)
    return out


@dataclass(frozen=True)
class NearDuplicateGroup:
    """Images judged copies of one picture. ``difference`` is the largest difference between
    two of them (the height at which complete linkage formed the group)."""

    members: np.ndarray  # int64 image indices (see ``NearDuplicates.groups`` for the order)
    difference: float

    @property
    def keep(self) -> int:
        """The first member: the one a "keep one" rule keeps by default."""
        return int(self.members[0])

    @property
    def rest(self) -> np.ndarray:
        return self.members[1:]


class NearDuplicates:
    """Complete-linkage near-duplicate groups at every threshold, and the pairs behind them.

    ``pairs`` (M, 2) and ``differences`` (M,) are every judged pair (including the ones
    completed inside connected sets); ``merge_i/j`` and ``merge_height`` the linkage forest.
    """

    def __init__(self, n: int, pairs: np.ndarray, differences: np.ndarray, merges: np.ndarray,
                 ratios: np.ndarray | None = None) -> None:
        self.n = int(n)
        self.pairs = pairs
        self.differences = differences
        # per pair (i, j): area of the photo j shows over the area i shows (PairJudge.judge)
        self.ratios = np.ones(len(pairs), np.float32) if ratios is None else np.asarray(ratios, np.float32)
        order = np.argsort(merges[:, 2], kind="stable") if len(merges) else np.zeros(0, np.int64)
        self.merge_i = merges[order, 0].astype(np.int64) if len(merges) else np.zeros(0, np.int64)
        self.merge_j = merges[order, 1].astype(np.int64) if len(merges) else np.zeros(0, np.int64)
        self.merge_height = merges[order, 2].astype(np.float64) if len(merges) else np.zeros(0)
        # complete-linkage merges join groups as a forest does: counted the same way
        self._groups_after, self._images_after = union_prefix_counts(self.n, self.merge_i, self.merge_j)

    def crops_of(self) -> dict[int, set[int]]:
        """Image -> the images it is a crop of (it shows at most ``CROP_RATIO`` of their area),
        from the pixel alignment of the judged pairs. A downscale is no crop: it shows the whole
        picture (the keep rule tells those apart by their pixels)."""
        out: dict[int, set[int]] = {}
        if len(self.pairs) == 0:
            return out
        r = self.ratios
        for (i, j) in self.pairs[r < CROP_RATIO].tolist():
            out.setdefault(int(j), set()).add(int(i))
        inv = r > 1.0 / CROP_RATIO
        for (i, j) in self.pairs[inv].tolist():
            out.setdefault(int(i), set()).add(int(j))
        return out

    def _merges_at(self, threshold: float) -> int:
        return int(np.searchsorted(self.merge_height, float(threshold), side="right"))

    def count(self, threshold: float) -> tuple[int, int]:
        """(number of groups, number of images in them) at ``threshold``: a binary search."""
        m = self._merges_at(threshold)
        return int(self._groups_after[m]), int(self._images_after[m])

    def counts(self, thresholds: Sequence[float]) -> list[tuple[float, int, int]]:
        """(threshold, groups, images) for each threshold (a slider's ticks)."""
        return [(float(t), *self.count(t)) for t in thresholds]

    def group_labels(self, threshold: float) -> np.ndarray:
        """Group id per image at ``threshold`` (-1 for images in no group)."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        m = self._merges_at(threshold)
        labels = np.full(self.n, -1, np.int64)
        if m == 0:
            return labels
        g = coo_matrix((np.ones(m), (self.merge_i[:m], self.merge_j[:m])), shape=(self.n, self.n))
        _, comp = connected_components(g, directed=False)
        sizes = np.bincount(comp)
        grouped = sizes[comp] > 1
        labels[grouped] = comp[grouped]
        return labels

    def groups(self, threshold: float, prefer: np.ndarray | None = None) -> list[NearDuplicateGroup]:
        """The groups at ``threshold``, largest first (ties: smallest image index first).

        Members are ordered by ``prefer`` (highest first, e.g. file size or pixel count), then by
        image index; without ``prefer`` by image index.
        """
        labels = self.group_labels(threshold)
        idx = np.flatnonzero(labels >= 0)
        if len(idx) == 0:
            return []
        idx = idx[np.argsort(labels[idx], kind="stable")]
        bounds = np.flatnonzero(np.diff(labels[idx])) + 1
        m = self._merges_at(threshold)
        root_height: dict[int, float] = {}
        for i, h in zip(self.merge_i[:m].tolist(), self.merge_height[:m].tolist()):
            lab = int(labels[i])
            root_height[lab] = max(root_height.get(lab, 0.0), h)
        out = []
        for members in np.split(idx, bounds):
            if prefer is not None:
                members = members[np.argsort(-np.asarray(prefer, np.float64)[members], kind="stable")]
            out.append(NearDuplicateGroup(members.astype(np.int64), root_height[int(labels[members[0]])]))
        out.sort(key=lambda g: (-len(g.members), int(g.members.min())))
        return out


def iter_near_duplicates(
    thumbnail: Thumbnail, n: int, features: np.ndarray | None = None,
    signatures: Signatures | None = None, control: RunControl | None = None,
    exclude: np.ndarray | None = None,
) -> Generator[PhaseProgress, None, tuple[Signatures, NearDuplicates]]:
    """Signatures (unless given), candidate pairs, their differences, complete linkage.
    ``exclude``: images in no group (files that are gone: only their old thumbnail is left)."""
    sig = signatures if signatures is not None else (yield from iter_signatures(thumbnail, n, control))
    if len(sig) != n:
        raise ValueError(f"signatures of {len(sig)} images for a collection of {n}: compute them again")
    pairs = candidate_pairs(sig, features)
    if exclude is not None and len(exclude) and len(pairs):
        pairs = pairs[~np.isin(pairs, np.asarray(exclude, np.int64)).any(axis=1)]
    judge = PairJudge(thumbnail, sig)
    diffs, ratios = yield from iter_pair_differences(judge, pairs, control)
    keep = diffs <= MAX_DIFFERENCE
    pairs, diffs, ratios = pairs[keep], diffs[keep], ratios[keep]
    # complete the small connected sets: a pair no index proposed may still be a copy pair
    known = {(int(a), int(b)) for a, b in pairs}
    missing: list[tuple[int, int]] = []
    for comp in _components(n, pairs):
        if control is not None:
            control.check()
        if len(comp) <= COMPLETE_LIMIT:
            c = np.sort(comp)
            ii, jj = np.triu_indices(len(c), 1)
            missing.extend((int(c[a]), int(c[b])) for a, b in zip(ii, jj) if (int(c[a]), int(c[b])) not in known)
    if missing:
        extra = np.array(missing, np.int64)
        # a phase of its own: under "Comparing images" the bar went back (88 % -> 71 %)
        extra_d, extra_r = yield from iter_pair_differences(judge, extra, control, phase=PHASE_PAIRS_GROUPS)
        ok = extra_d <= MAX_DIFFERENCE
        pairs = np.concatenate([pairs, extra[ok]])
        diffs = np.concatenate([diffs, extra_d[ok]])
        ratios = np.concatenate([ratios, extra_r[ok]])
    merges = complete_linkage(pairs, diffs, MAX_DIFFERENCE, control)
    return sig, NearDuplicates(n, pairs, diffs, merges, ratios)




# ---------------------------------------------------------------------------------------------
# what a "keep one" rule needs to know about each image
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageInfo:
    """Per image (index order): file size in bytes, width and height as displayed (pixels),
    modification time (ns since the epoch)."""

    file_size: np.ndarray  # int64
    width: np.ndarray  # int64
    height: np.ndarray  # int64
    mtime_ns: np.ndarray  # int64

    @property
    def pixels(self) -> np.ndarray:
        return self.width * self.height


def image_info(cache: ImageCache) -> ImageInfo:
    """``ImageInfo`` of an ``ImageCache`` (its records and original sizes; no file is read)."""
    records = cache.records
    sizes = np.asarray(cache.original_sizes, np.int64).reshape(-1, 2)
    return ImageInfo(
        file_size=np.array([r.size for r in records], np.int64),
        width=sizes[:, 0].copy(), height=sizes[:, 1].copy(),
        mtime_ns=np.array([r.mtime_ns for r in records], np.int64),
    )
