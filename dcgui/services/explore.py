"""Exploring a session: its features at an epoch, and the queries built on them.

Every long step is a generator of events that *returns* its result, so the same code drives the
CLI (progress bars) and the GUI (a ``GeneratorWorker``). Features (``.npz``: rows + the mean
removed) and 2-D maps (``.npy``) are cached in ``store.derived_cache_dir/explore``, keyed by the epoch,
the checkpoint's sha256 and the image list, so a retrained epoch or a changed folder never
reuses stale rows. Writes are atomic, so the GUI and the CLI can share them.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dcgui.core.analysis.neighbours import FeatureIndex, normalize_rows
from dcgui.core.analysis.outliers import outlier_scores, top_outliers
from dcgui.core.control import RunControl
from dcgui.core.errors import DcguiError
from dcgui.core.events import PHASE_OUTLIERS, Event, Message, PhaseProgress
from dcgui.core.fsutil import atomic_writer
from dcgui.services.freshness import FreshImages, iter_check_files
from dcgui.services.session import choose_epoch, load_network

if TYPE_CHECKING:
    from dcgui.core.images.cache import ImageCache
    from dcgui.store import SessionStore

EXPLORE_DIR = "explore"
FEATURES_VERSION = 1  # bump when the way features are computed changes: old files are ignored


# ---------------------------------------------------------------------------------------------
# epochs, keys, files
# ---------------------------------------------------------------------------------------------
def resolve_epoch(store: SessionStore, epoch: int | None) -> int:
    """The epoch whose network computes the features (None = the latest trained epoch)."""
    return choose_epoch(store, epoch, "network")


def _checkpoint_identity(store: SessionStore, epoch: int) -> str:
    for e, path, sha in store.checkpoints():
        if e == epoch:
            if sha:
                return sha
            st = Path(path).stat()  # no recorded hash: size + mtime still change on rewrite
            return f"{st.st_size}:{st.st_mtime_ns}"
    raise DcguiError(f"{store.path.name} has no checkpoint of epoch {epoch}")


def cache_key(store: SessionStore, epoch: int) -> str:
    """Short hash of everything the features of ``epoch`` depend on."""
    cfg = store.config
    h = hashlib.sha1()
    h.update(json.dumps([FEATURES_VERSION, epoch, cfg.arch, cfg.image_size, cfg.cache_size,
                         _checkpoint_identity(store, epoch)]).encode())
    h.update("\n".join(store.image_paths()).encode("utf-8", "surrogatepass"))  # names may not be UTF-8
    # The files as the cache decoded them: a file re-decoded by a later scan gives other features.
    stats = store.image_stats()
    h.update(stats["size"].tobytes() + stats["mtime_ns"].tobytes())
    return h.hexdigest()[:16]


def explore_dir(store: SessionStore) -> Path:
    return Path(store.derived_cache_dir) / EXPLORE_DIR  # the user's cache dir on read-only media


def features_path(store: SessionStore, epoch: int) -> Path:
    return explore_dir(store) / f"features_e{epoch:04d}_{cache_key(store, epoch)}.npz"


def map_path(store: SessionStore, epoch: int, fresh: FreshImages | None = None) -> Path:
    """The cached map of ``epoch``; ``fresh``: files changed since the cache was built are part of
    the key (the map then rests on their features as they are now)."""
    key = cache_key(store, epoch)
    if fresh is not None and not fresh.clean:
        h = hashlib.sha1(key.encode())
        for arr in (fresh.refreshed, fresh.stale, fresh.size, fresh.mtime_ns):
            h.update(np.ascontiguousarray(arr, np.int64).tobytes())
        key = h.hexdigest()[:16]
    return explore_dir(store) / f"map_e{epoch:04d}_{key}.npy"


def _atomic_save(path: Path, write: Any) -> None:
    """Atomic: a reader (the GUI and the CLI at once) sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as fh:
        write(fh)
    # Older files of the same kind and epoch (another checkpoint / image list) are dead weight.
    kind, ep = path.name.split("_")[:2]
    for old in path.parent.glob(f"{kind}_{ep}_*{path.suffix}"):
        if old != path:
            old.unlink(missing_ok=True)


def _save_npy(path: Path, array: np.ndarray) -> None:
    _atomic_save(path, lambda fh: np.save(fh, array))


def _save_features(path: Path, features: np.ndarray, mean: np.ndarray) -> None:
    _atomic_save(path, lambda fh: np.savez(fh, features=features, mean=mean))


def _load_features(path: Path, rows: int) -> tuple[np.ndarray, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            feats, mean = z["features"], z["mean"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # damaged (truncated) or from an older layout: recompute
    if feats.ndim != 2 or len(feats) != rows or mean.shape != (feats.shape[1],):
        return None
    return feats, mean


def _load_npy(path: Path, rows: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None  # damaged (a crash mid-write of an old version): recompute
    return arr if arr.ndim == 2 and len(arr) == rows else None


# ---------------------------------------------------------------------------------------------
# features
# ---------------------------------------------------------------------------------------------
def open_cache(store: SessionStore) -> ImageCache:
    """The session's decoded-image cache (read-only), checked against its image list."""
    from dcgui.core.images.cache import ImageCache

    size = store.config.cache_size
    try:
        cache = ImageCache.open(store.cache_dir, size)
    except DcguiError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise DcguiError(f"the image cache of {store.path.name} in {store.cache_dir} cannot be read ({exc}): "
                         "open the session in dcgui or run `dcgui train` once to rebuild it") from exc
    if [r.relpath for r in cache.records] != store.image_paths():
        raise DcguiError(f"the image cache in {store.cache_dir} does not match the images of {store.path.name} "
                         "(the folder changed): open the session again to rebuild the cache")
    return cache


def open_pixels(store: SessionStore) -> np.ndarray:
    """Decoded pixels of every image (uint8 (N, S, S, 3) memory map), row i = image i."""
    return open_cache(store).pixels


def iter_pixels_features(
    store: SessionStore, epoch: int, pixels: np.ndarray, device: str | None = None,
    control: RunControl | None = None,
) -> Generator[Event, None, np.ndarray]:
    """Raw backbone features (float32 (N, d)) of ``pixels`` with checkpoint ``epoch``: the same
    centre view and ``embed`` as the engine's feature pass."""
    from dcgui.core.train.features import iter_features

    model, config, dev = load_network(store, epoch, device)
    feats = yield from iter_features(model, pixels, config.image_size, max(2 * config.batch_size, 2), dev,
                                     control=control, epoch=epoch, representation=True)
    return feats


def centre_normalize(raw: np.ndarray, mean: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(L2-normalised ``raw - mean``, mean); ``mean`` defaults to the rows' own mean.

    Pooled post-ReLU features are all non-negative, so raw cosine similarities crowd near 1 for
    every pair (0.94 between different classes on the test shapes) and no threshold separates a
    copy from a neighbour; with the collection mean removed they spread over [-1, 1] (-0.2).
    """
    raw = np.nan_to_num(np.asarray(raw, dtype=np.float32))
    if mean is None:
        mean = raw.mean(axis=0, dtype=np.float64).astype(np.float32) if len(raw) else np.zeros(raw.shape[1], np.float32)
    return normalize_rows(raw - mean), mean


@dataclass(frozen=True)
class SessionFeatures:
    """A session's features at one epoch: ``features`` (N, d) are ``raw - mean``, L2-normalised.

    ``project`` maps the raw features of any other image (a new file) into the same space.
    """

    epoch: int
    features: np.ndarray
    mean: np.ndarray
    # Images whose file is missing or unreadable now: their rows are the cache's old facts, and
    # results leave them out. (Changed files' rows are already recomputed from the disk.)
    stale: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def project(self, raw: np.ndarray) -> np.ndarray:
        return centre_normalize(np.atleast_2d(raw), self.mean)[0]


def iter_session_embedding(
    store: SessionStore, epoch: int | None = None, device: str | None = None,
    control: RunControl | None = None, fresh: FreshImages | None = None,
) -> Generator[Event, None, SessionFeatures]:
    """``SessionFeatures`` of every image at ``epoch`` (default: latest); cached on disk.

    The files are checked against the cache first (``dcgui.services.freshness``; ``fresh``: that
    check, already made): a file changed since the cache was built gets its features from its
    pixels as they are now, a missing one is marked ``stale``."""
    epoch = resolve_epoch(store, epoch)
    cache = open_cache(store)
    if fresh is None:
        fresh = yield from iter_check_files(store, cache)
    path = features_path(store, epoch)
    cached = _load_features(path, store.n_images)
    if cached is not None:
        feats, mean = cached
    else:
        pixels = cache.pixels
        yield Message(f"computing features of {len(pixels)} images with the network of epoch {epoch}")
        raw = yield from iter_pixels_features(store, epoch, pixels, device, control)
        feats, mean = centre_normalize(raw)
        _save_features(path, feats, mean)  # what the cache holds; changed files are redone each time
    rows = fresh.refreshed
    if len(rows):
        raw = yield from iter_pixels_features(store, epoch, np.stack([fresh.pixels[int(i)] for i in rows]),
                                              device, control)
        feats = feats.copy()
        feats[rows] = centre_normalize(raw, mean)[0]
    return SessionFeatures(epoch, feats, mean, fresh.stale)


def iter_session_features(
    store: SessionStore, epoch: int | None = None, device: str | None = None,
    control: RunControl | None = None,
) -> Generator[Event, None, np.ndarray]:
    """Centred, L2-normalised features (float32 (N, d)) of the session at ``epoch``, cached."""
    emb = yield from iter_session_embedding(store, epoch, device, control)
    return emb.features


# ---------------------------------------------------------------------------------------------
# new images
# ---------------------------------------------------------------------------------------------
def find_image_index(store: SessionStore, path: Path) -> int | None:
    """Image index of ``path`` when it is one of the session's usable images, else None."""
    try:
        rel = Path(path).resolve().relative_to(Path(store.folder).resolve()).as_posix()
    except (ValueError, OSError):
        return None
    try:
        return store.image_paths().index(rel)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# queries
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Neighbour:
    rank: int
    index: int
    score: float
    path: str  # relative to the session's folder


@dataclass(frozen=True)
class SimilarResult:
    epoch: int
    query: str  # the query's path (relative when inside the folder)
    query_index: int | None  # its image index when it is one of the session's images
    neighbours: list[Neighbour]

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "query": self.query, "query_index": self.query_index,
                "results": [n.__dict__ for n in self.neighbours]}


def iter_similar(
    store: SessionStore, query: int | str | os.PathLike[str], n: int = 20, epoch: int | None = None,
    device: str | None = None, control: RunControl | None = None,
    features: SessionFeatures | None = None, index: FeatureIndex | None = None,
) -> Generator[Event, None, SimilarResult]:
    """The ``n`` most similar images of the session to ``query`` (an image index, or an image file
    inside or outside the folder). Pass ``features``/``index`` (of ``features.epoch``) to reuse them."""
    if features is None:
        features = yield from iter_session_embedding(store, epoch, device, control)
    epoch = features.epoch
    index = index or FeatureIndex(features.features)
    paths = store.image_paths()
    qpath: Path | None = None
    if isinstance(query, int | np.integer):
        qi: int | None = int(query)
        if not 0 <= int(query) < len(paths):
            raise IndexError(f"image index {query} is out of range (the session has {len(paths)} images)")
        label = paths[int(query)]
    else:
        qpath = Path(query)
        if not qpath.is_file():
            raise DcguiError(f"the query image {qpath} does not exist: give the path of an image file")
        qi = find_image_index(store, qpath)
        label = paths[qi] if qi is not None else str(qpath)
    if qi is not None:
        sims, ids = index.neighbours_of(qi, n)
    else:
        from dcgui.core.images.cache import decode_square

        assert qpath is not None  # an index query always has qi
        pixels = decode_square(qpath, store.config.cache_size)[None]
        raw = yield from iter_pixels_features(store, epoch, pixels, device, control)
        s, i = index.search(features.project(raw), n)
        sims, ids = s[0], i[0]
    stale = set(features.stale.tolist())
    if stale:  # a missing file's features are the cache's old facts: not a result
        sims, ids = index.neighbours_of(qi, n + len(stale)) if qi is not None else (sims, ids)
    kept = [(float(s), int(i)) for s, i in zip(sims, ids) if i >= 0 and int(i) not in stale][:n]
    out = [Neighbour(r + 1, i, s, paths[i]) for r, (s, i) in enumerate(kept)]
    return SimilarResult(epoch, label, qi, out)


@dataclass(frozen=True)
class Outlier:
    rank: int
    index: int
    score: float  # 1 - cosine similarity to the nearest centroid
    cluster: int  # its own (matched) cluster at that epoch
    path: str
    group: str = ""  # the key of the group it is shown in ("12", "12.2", "g5")
    cluster_name: str = ""  # that group's name, else "cluster 12" ("cluster 12 part 2", "group g5")


def iter_session_outliers(
    store: SessionStore, epoch: int | None = None, n: int = 50, device: str | None = None,
    control: RunControl | None = None, features: np.ndarray | None = None,
) -> Generator[Event, None, list[Outlier]]:
    """The ``n`` images farthest from every cluster centroid of ``epoch`` (default: latest).

    Centroids: mean of the normalised features of each (matched) cluster's members at ``epoch``.
    """
    epoch = choose_epoch(store, epoch, "clusters")  # centroids need the epoch's clusters
    stale = np.zeros(0, np.int64)
    if features is None:
        emb = yield from iter_session_embedding(store, epoch, device, control)
        features, stale = emb.features, emb.stale
    yield PhaseProgress(PHASE_OUTLIERS, 0, 1, epoch)
    assign = store.assignments(epoch)
    scores = outlier_scores(features, assign)
    scores[stale] = -np.inf  # a missing file is no outlier: its row is the cache's old facts
    yield PhaseProgress(PHASE_OUTLIERS, 1, 1, epoch)
    paths = store.image_paths()
    view = store.group_view(epoch)
    out = []
    ranked = [int(i) for i in top_outliers(scores, n + len(stale)) if np.isfinite(scores[i])][:n]
    for r, i in enumerate(ranked):
        if view.labels[i] < 0:  # left out of this epoch's clustering (flagged exclude)
            out.append(Outlier(r + 1, i, float(scores[i]), -1, paths[i], "", "excluded"))
            continue
        g = view.of_image(i)
        out.append(Outlier(r + 1, i, float(scores[i]), int(assign[i]), paths[i], g.key, g.title))
    return out


def iter_session_map(
    store: SessionStore, epoch: int | None = None, device: str | None = None,
    control: RunControl | None = None, features: np.ndarray | None = None,
) -> Generator[Event, None, np.ndarray]:
    """2-D UMAP coordinates (float32 (N, 2)) of the session at ``epoch``, cached on disk."""
    from dcgui.core.analysis.maps import iter_map_2d

    epoch = resolve_epoch(store, epoch)
    fresh = yield from iter_check_files(store, open_cache(store))
    path = map_path(store, epoch, fresh)
    cached = _load_npy(path, store.n_images)
    if cached is not None:
        return cached
    if features is None:
        emb = yield from iter_session_embedding(store, epoch, device, control, fresh=fresh)
        features = emb.features
    yield Message(f"computing the 2-D map of {len(features)} images (UMAP)")
    coords = yield from iter_map_2d(features, control=control)
    _save_npy(path, coords)
    return coords


# ---------------------------------------------------------------------------------------------
# another (labelled) folder, for evaluation
# ---------------------------------------------------------------------------------------------
def iter_folder_pixels(
    store: SessionStore, folder: Path, control: RunControl | None = None,
) -> Generator[Event, None, tuple[np.ndarray, np.ndarray, list[str]]]:
    """Decoded pixels (the session's cache size), label per image and class names of a folder
    with one sub-folder per class. Cached under the session's data folder for the next run."""
    from dcgui.core.images.cache import ImageCache
    from dcgui.core.images.collection import iter_scan

    folder = Path(folder)
    if not folder.is_dir():
        raise DcguiError(f"the labelled folder {folder} does not exist: give a folder with one sub-folder per class")
    result = yield from iter_scan(folder, control)
    labels = result.labels
    if not result.label_names or labels is None:
        raise DcguiError(f"the folder {folder} has no class sub-folders (every image must sit in a top-level "
                         "sub-folder named after its class, with at least 2 classes)")
    digest = hashlib.sha1(str(folder.resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:12]
    derived = Path(store.derived_cache_dir)  # the user's cache dir when the session is read-only
    cache_dir = (Path(store.data_dir) if derived == Path(store.cache_dir) else derived) / "eval_cache" / digest
    cache = yield from ImageCache.iter_build(cache_dir, folder, result.images, store.config.cache_size,
                                             workers=store.config.workers, control=control)
    by_path = dict(zip((r.relpath for r in result.images), labels))
    y = np.array([by_path[r.relpath] for r in cache.records], dtype=np.int64)
    if cache.failed:
        yield Message(f"{len(cache.failed)} image(s) of {folder} could not be decoded and are left out", "warning")
    return cache.pixels, y, list(result.label_names)
