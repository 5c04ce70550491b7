"""Are a session's cached facts still true of the files on disk?

The decoded-image cache (pixels, thumbnails) is built from each file as it was at the scan, and
every derived result (features, near-duplicate signatures, the 2-D map) rests on it. A photo
replaced under the same name, edited, or deleted afterwards would be judged from its old
pixels: a duplicate group with a picture that is no longer a copy, a "keep one" flag on the
only remaining original. So before a result is shown or acted on, every file is checked
against the cache's record (byte size and modification time: one ``stat`` per file: 0.14 s for
20,000 files on a warm disk cache, measured on the loaded build machine) and:

- a **changed** file is decoded again, exactly as the cache does, and its facts are recomputed
  from those fresh pixels (``FreshImages.pixels`` / ``thumbnail``);
- a **missing** or now unreadable file is **stale**: results leave it out of anything that
  suggests an action (duplicate groups) and say so.

Nothing is written to the cache (a viewer never rebuilds it); the next ``dcgui train`` does.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from dcgui.core.events import Event, Message
from dcgui.core.pathtext import terminal_text

if TYPE_CHECKING:
    from dcgui.core.images.cache import ImageCache
    from dcgui.store import SessionStore

SHOWN = 5  # file names listed in a note before "and N more"


@dataclass
class FreshImages:
    """What the disk says about the cache's images (index order = the session's image indices)."""

    paths: list[str]
    changed: np.ndarray  # indices whose file has another size or mtime than the cache's record
    stale: np.ndarray  # indices whose file is missing or can no longer be decoded: left out
    size: np.ndarray  # int64 byte size now (the recorded one where stale)
    mtime_ns: np.ndarray  # int64 modification time now (the recorded one where stale)
    pixels: dict[int, np.ndarray] = field(default_factory=dict)  # changed i -> fresh cache square
    thumbs: dict[int, bytes] = field(default_factory=dict)  # changed i -> fresh thumbnail JPEG

    @property
    def refreshed(self) -> np.ndarray:
        """Changed files decoded again (their facts are recomputed, not taken from the cache)."""
        return np.array(sorted(self.pixels), np.int64)

    @property
    def clean(self) -> bool:
        return not len(self.changed) and not len(self.stale)

    def note(self) -> str | None:
        """One line for the user naming the changed and the missing files, or None."""
        parts = []
        if len(self.refreshed):
            parts.append(f"{len(self.refreshed)} file(s) changed on disk since the image cache was built and were "
                         f"read again: {self._names(self.refreshed)}")
        if len(self.stale):
            parts.append(f"{len(self.stale)} file(s) are missing or unreadable and are left out: "
                         f"{self._names(self.stale)}")
        if not parts:
            return None
        return "; ".join(parts) + " (`dcgui train` brings the cache up to date)"

    def _names(self, rows: np.ndarray) -> str:
        names = ", ".join(terminal_text(self.paths[int(i)]) for i in rows[:SHOWN])
        return names + (f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else "")


def check_files(store: SessionStore, cache: ImageCache) -> FreshImages:
    """Compare every file with the cache's record (size, mtime), and decode the changed ones
    again. The file paths go through the session's path guard (a doctored row is refused)."""
    from dcgui.core.images.cache import decode_like_cache

    files = store.image_files()
    size = np.array([r.size for r in cache.records], np.int64)
    mtime = np.array([r.mtime_ns for r in cache.records], np.int64)
    changed: list[int] = []
    stale: list[int] = []
    for i, f in enumerate(files):
        try:
            st = os.stat(f)
        except OSError:
            stale.append(i)
            continue
        if st.st_size != size[i] or st.st_mtime_ns != mtime[i]:
            changed.append(i)
            size[i], mtime[i] = st.st_size, st.st_mtime_ns
    fresh = FreshImages(store.image_paths(), np.array(changed, np.int64), np.array(stale, np.int64), size, mtime)
    gone = []
    for i in changed:
        decoded = decode_like_cache(files[i], cache.size)
        if isinstance(decoded, str):  # replaced by something that is no longer an image
            gone.append(i)
            continue
        fresh.pixels[i], fresh.thumbs[i] = decoded
    if gone:
        fresh.stale = np.union1d(fresh.stale, np.array(gone, np.int64))
    return fresh


def iter_check_files(store: SessionStore, cache: ImageCache) -> Generator[Event, None, FreshImages]:
    """``check_files``, announcing what changed as a warning ``Message`` (the CLI prints it, the
    window shows it)."""
    fresh = check_files(store, cache)
    note = fresh.note()
    if note:
        yield Message(note, "warning")
    return fresh
