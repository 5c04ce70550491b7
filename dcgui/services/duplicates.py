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
from typing import TYPE_CHECKING, Any

import numpy as np

from dcgui.core.analysis import duplicates as neardup
from dcgui.core.analysis.duplicates import ImageInfo, NearDuplicateGroup, NearDuplicates, Signatures
from dcgui.core.analysis.keep import DEFAULT_KEEP_RULE, CropsOf, rank_members
from dcgui.core.control import RunControl
from dcgui.core.events import Event
from dcgui.services.explore import explore_dir, open_cache
from dcgui.services.freshness import FreshImages, iter_check_files
from dcgui.store.edits import DismissDuplicates

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


def iter_session_signatures(store: SessionStore, control: RunControl | None = None) -> Generator[Event, None, Signatures]:
    """The pixel signatures of the session's thumbnails (loaded, or computed and stored; files
    changed on disk since the cache was built are signed from their pixels as they are now)."""
    sig, _cache, _fresh, _read = yield from _signatures(store, control)
    return sig


def _signatures(
    store: SessionStore, control: RunControl | None, fresh: FreshImages | None = None,
) -> Generator[Event, None, tuple[Signatures, ImageCache, FreshImages, Any]]:
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
    return sig, cache, fresh, read


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
    fresh: FreshImages | None = None,
) -> Generator[Event, None, NearDuplicates]:
    """The session's ``NearDuplicates`` (signatures loaded or computed and stored first).

    The files are checked against the cache first (``fresh``: that check, already made): a file
    changed since the cache was built is judged by its pixels as they are now, never by its old
    thumbnail; a missing or unreadable one is in no group (no "keep one" can act on it)."""
    sig, cache, fresh, read = yield from _signatures(store, control, fresh)
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


def info_stats(info: ImageInfo) -> dict[str, np.ndarray]:
    """``info`` under the names a keep rule reads (``SessionStore.image_stats()``'s)."""
    return {"size": info.file_size, "width": info.width, "height": info.height, "mtime_ns": info.mtime_ns}


def groups_at(found: NearDuplicates, threshold: float, info: ImageInfo,
              crops_of: CropsOf | None = None) -> list[NearDuplicateGroup]:
    """Groups at ``threshold``; in each the image the default keep rule keeps first (the most
    complete picture, then the largest file, then the oldest; ``keep.rank_members``)."""
    crops = found.crops_of() if crops_of is None else crops_of
    stats = info_stats(info)
    out = []
    for g in found.groups(threshold):
        out.append(NearDuplicateGroup(rank_members(g.members, DEFAULT_KEEP_RULE, stats, crops), g.difference))
    return out


def taken_dates(store: SessionStore, found: NearDuplicates, control: RunControl | None = None) -> dict[int, str]:
    """Image -> EXIF capture date ("2021-07-03 14:22:05") of every image that is in a group at the
    loosest threshold and has one. Reads file headers: call it off the GUI thread."""
    from dcgui.core.analysis.duplicates import MAX_DIFFERENCE
    from dcgui.core.images.exif import photo_facts

    paths, guard = store.image_paths(), store.path_guard
    out: dict[int, str] = {}
    for k, i in enumerate(np.flatnonzero(found.group_labels(MAX_DIFFERENCE) >= 0).tolist()):
        if control is not None and k % 64 == 0:
            control.check()
        try:
            taken = photo_facts(guard.image(paths[i], i)).taken
        except Exception:  # a file that moved or a row outside the folder: the mtime is shown instead
            continue
        if taken:
            out[i] = taken
    return out


def group_key(store: SessionStore, members: np.ndarray) -> tuple[str, list[str]]:
    """(key, paths) of a near-duplicate group: a hash of its members' paths, file sizes and
    mtimes as the last scan saw them (the detection itself reads that scan's cache), so a "not
    duplicates" decision holds until one of the images changes (the next scan records it) or the
    group gains or loses an image. No file is read: the window calls it on its own thread."""
    paths = store.image_paths()
    stats = store.image_stats()
    items = sorted((paths[int(i)], int(stats["size"][int(i)]), int(stats["mtime_ns"][int(i)])) for i in members)
    h = hashlib.sha1(b"not-duplicates 1\n")
    for p, size, mtime in items:
        h.update(f"{p}\0{size}\0{mtime}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest(), [p for p, _, _ in items]


def dismiss_edit(store: SessionStore, members: np.ndarray) -> DismissDuplicates:
    """The undoable edit "these images are not duplicates" (``store.apply_edit`` it)."""
    key, paths = group_key(store, members)
    return DismissDuplicates(key, paths)


def without_dismissed(store: SessionStore, groups: list[NearDuplicateGroup]) -> list[NearDuplicateGroup]:
    """``groups`` less those the person marked "not duplicates" (while none of their images changed)."""
    dismissed = store.dismissed_duplicates()
    if not dismissed:
        return list(groups)
    return [g for g in groups if group_key(store, g.members)[0] not in dismissed]
