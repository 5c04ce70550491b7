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
from dcgui.services.freshness import FreshImages, iter_check_files

if TYPE_CHECKING:
    from dcgui.core.images.cache import ImageCache
    from dcgui.store import SessionStore


def signatures_key(cache: ImageCache) -> str:
    """Short hash of what the signatures depend on: the cached images (path, size, mtime)."""
    h = hashlib.sha1(f"neardup {neardup.SIGNATURE_VERSION} {cache.size}\n".encode())
    for r in cache.records:  # a name that is not valid UTF-8 holds surrogate escapes
        h.update(f"{r.relpath}\0{r.size}\0{r.mtime_ns}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


def signatures_path(store: SessionStore, key: str) -> Path:
    return explore_dir(store) / f"neardup_signatures_{key}.npz"


def iter_session_near_duplicates(
    store: SessionStore, features: np.ndarray | None = None, control: RunControl | None = None,
    fresh: FreshImages | None = None,
) -> Generator[Event, None, NearDuplicates]:
    """The session's ``NearDuplicates`` (signatures loaded or computed and stored first).

    The files are checked against the cache first (``fresh``: that check, already made): a file
    changed since the cache was built is judged by its pixels as they are now, never by its old
    thumbnail; a missing or unreadable one is in no group (no "keep one" can act on it)."""
    cache = open_cache(store)
    if fresh is None:
        fresh = yield from iter_check_files(store, cache)
    key = signatures_key(cache)
    path = signatures_path(store, key)
    sig = Signatures.load(path, key)
    if sig is None:
        sig = yield from neardup.iter_signatures(neardup.thumbnail_reader(cache.thumbnail_jpeg), len(cache), control)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            sig.save(path, key)
        except OSError:
            pass  # a read-only session folder: computed again next time, nothing lost

    def jpeg(i: int) -> bytes:
        return fresh.thumbs.get(i) or cache.thumbnail_jpeg(i)

    read = neardup.thumbnail_reader(jpeg)
    if len(fresh.refreshed):
        phash, tiny = sig.phash.copy(), sig.tiny.copy()
        for i in fresh.refreshed.tolist():
            phash[i], tiny[i] = neardup.signature(read(i))
        sig = Signatures(phash, tiny)
    _, found = yield from neardup.iter_near_duplicates(read, len(cache), features, sig, control,
                                                       exclude=fresh.stale)
    return found


def image_info(store: SessionStore, fresh: FreshImages | None = None) -> ImageInfo:
    """File size, displayed width and height and mtime of every image (from the cache index;
    ``fresh``: sizes and mtimes as they are on disk now)."""
    info = neardup.image_info(open_cache(store))
    if fresh is not None:
        info = ImageInfo(fresh.size.copy(), info.width, info.height, fresh.mtime_ns.copy())
    return info


def groups_at(found: NearDuplicates, threshold: float, info: ImageInfo) -> list[NearDuplicateGroup]:
    """Groups at ``threshold``; in each the largest file (the least compressed copy) first, then
    the most pixels, then path order."""
    order = np.lexsort((info.pixels, info.file_size))  # ascending: file size, then pixels
    rank = np.empty(len(order), np.float64)
    rank[order] = np.arange(len(order))
    return found.groups(threshold, prefer=rank)
