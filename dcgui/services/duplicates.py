"""A session's near-duplicates: signatures stored beside the cache, groups, image facts, flags.

Pixel signatures come from the decode cache's thumbnails and are stored in
``store.cache_dir/explore`` keyed by the cache's image list (path, size, mtime), so they are
computed once per collection and survive retraining. Learned features, when the caller has
them (the GUI's Explore panel computes them anyway), only add candidate pairs: every group is
decided by the pixels (``dcgui.core.analysis.duplicates``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dcgui.core.analysis import duplicates as neardup
from dcgui.core.analysis.duplicates import ImageInfo, NearDuplicateGroup, NearDuplicates, Signatures
from dcgui.core.control import RunControl
from dcgui.core.events import Event
from dcgui.services.explore import explore_dir, open_cache

if TYPE_CHECKING:
    from dcgui.core.images.cache import ImageCache
    from dcgui.store import SessionStore


def signatures_key(cache: ImageCache) -> str:
    """Short hash of what the signatures depend on: the cached images (path, size, mtime)."""
    h = hashlib.sha1(f"neardup {neardup.SIGNATURE_VERSION} {cache.size}\n".encode())
    for r in cache.records:
        h.update(f"{r.relpath}\0{r.size}\0{r.mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def signatures_path(store: SessionStore, key: str) -> Path:
    return explore_dir(store) / f"neardup_signatures_{key}.npz"


def iter_session_signatures(store: SessionStore, control: RunControl | None = None) -> Generator[Event, None, Signatures]:
    """The pixel signatures of the session's thumbnails (loaded, or computed and stored)."""
    sig, _cache = yield from _signatures(store, control)
    return sig


def _signatures(store: SessionStore, control: RunControl | None) -> Generator[Event, None, tuple[Signatures, ImageCache]]:
    cache = open_cache(store)
    read = neardup.thumbnail_reader(cache.thumbnail_jpeg)
    key = signatures_key(cache)
    path = signatures_path(store, key)
    sig = Signatures.load(path, key)
    if sig is None:
        sig = yield from neardup.iter_signatures(read, len(cache), control)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            sig.save(path, key)
        except OSError:
            pass  # a read-only session folder: computed again next time, nothing lost
    return sig, cache


def identical_groups(sig: Signatures, min_similarity: float = 0.995) -> list[np.ndarray]:
    """Groups of images whose thumbnails are (nearly) identical: the same pHash and miniatures
    with cosine >= ``min_similarity``. Cheap (one sort): the report's "in brief" view; resized,
    re-encoded or cropped copies need ``iter_session_near_duplicates``."""
    keys = np.ascontiguousarray(sig.phash).view(np.dtype((np.void, sig.phash.shape[1]))).ravel()
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    cuts = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    out = []
    for run in np.split(order, cuts):
        if len(run) < 2:
            continue
        first = run[0]
        same = run[sig.tiny[run] @ sig.tiny[first] >= min_similarity]
        if len(same) > 1:
            out.append(np.sort(same))
    return sorted(out, key=lambda g: (-len(g), int(g[0])))


def iter_session_near_duplicates(
    store: SessionStore, features: np.ndarray | None = None, control: RunControl | None = None,
) -> Generator[Event, None, NearDuplicates]:
    """The session's ``NearDuplicates`` (signatures loaded or computed and stored first)."""
    sig, cache = yield from _signatures(store, control)
    read = neardup.thumbnail_reader(cache.thumbnail_jpeg)
    _, found = yield from neardup.iter_near_duplicates(read, len(cache), features, sig, control)
    return found


def image_info(store: SessionStore) -> ImageInfo:
    """File size, displayed width and height and mtime of every image (from the cache index)."""
    return neardup.image_info(open_cache(store))


def groups_at(found: NearDuplicates, threshold: float, info: ImageInfo) -> list[NearDuplicateGroup]:
    """Groups at ``threshold``; in each the largest file (the least compressed copy) first, then
    the most pixels, then path order."""
    order = np.lexsort((info.pixels, info.file_size))  # ascending: file size, then pixels
    rank = np.empty(len(order), np.float64)
    rank[order] = np.arange(len(order))
    return found.groups(threshold, prefer=rank)
