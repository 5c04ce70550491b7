"""The session's thumbnails, shared by every image list and the map.

One bounded :class:`AsyncPixmapCache` per window (an image's thumbnail decoded for the grid is
reused by "Similar", the map's hover and the duplicate groups), fed from the session's decoded
image cache. The cache's index can be large (a JSON row per image), so it is opened on a pool
thread; the result comes back on the GUI thread as ``cacheChanged``.

A new session has no image cache until training (``dcgui train`` or the window) has decoded the images:
that is a normal state, not an error. The service waits quietly and opens the cache when the
model says the collection is ready or a new epoch arrives; only a damaged or mismatched cache is
reported.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal

from dcgui.gui.session_model import SessionModel
from dcgui.gui.thumbnails import AsyncPixmapCache, image_from_jpeg

if TYPE_CHECKING:
    from dcgui.core.images.cache import ImageCache

WAITING = "Thumbnails appear once training has decoded the images into the session's cache."


class _Relay(QObject):
    opened = Signal(int, object, str, bool)  # request id, ImageCache | None, error, still being built


class SessionImages(QObject):
    """``thumbnails`` (keys: image indices) and ``cache`` (the open ``ImageCache`` or None).

    ``cacheChanged()`` fires when the cache was opened or dropped; ``status`` says why there are
    no thumbnails (empty when there are)."""

    cacheChanged = Signal()

    def __init__(self, model: SessionModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model
        # Bounded: 4,000 thumbnails, about 200 MB at most whatever the collection's size.
        self.thumbnails = AsyncPixmapCache(capacity=4000, max_bytes=192 << 20, max_in_flight=32, batch=8, parent=self)
        self.cache: ImageCache | None = None
        self.status = ""
        self._requests = itertools.count(1)
        self._request = 0
        self._opening = False
        self._relay = _Relay()
        self._relay.opened.connect(self._on_opened, Qt.ConnectionType.QueuedConnection)
        model.sessionChanged.connect(self._on_session)
        model.collectionChanged.connect(self._retry)
        model.epochsChanged.connect(lambda _n: self._retry())

    def _on_session(self) -> None:
        self._request = next(self._requests)  # late opens for the previous session are ignored
        self._opening = False
        self.cache = None
        self.thumbnails.reset(None)
        self.status = ""
        self.cacheChanged.emit()
        self._open_async()

    def _retry(self) -> None:
        if self.cache is None and not self._opening:
            self._open_async()

    def _open_async(self) -> None:
        store = self.model.store
        if store is None:
            return
        request, relay = self._request, self._relay
        cache_dir, size, paths = store.cache_dir, store.config.cache_size, list(self.model.paths)
        self._opening = True

        def job() -> None:
            from dcgui.core.images.cache import ImageCache

            if not ImageCache.built(cache_dir, size):
                relay.opened.emit(request, None, WAITING, True)
                return
            try:
                cache = ImageCache.open(cache_dir, size)
            except Exception as exc:
                relay.opened.emit(request, None, str(exc), False)
                return
            if [r.relpath for r in cache.records] != paths:
                relay.opened.emit(request, None, f"the image cache in {cache_dir} does not match the session's "
                                                 "images: prepare the session again to rebuild it", False)
                return
            relay.opened.emit(request, cache, "", False)

        QThreadPool.globalInstance().start(job)

    def _on_opened(self, request: int, cache: ImageCache | None, error: str, building: bool) -> None:
        if request != self._request:
            return
        self._opening = False
        self.cache = cache
        self.status = error
        if cache is None:
            self.thumbnails.reset(None)
            if error and not building:
                self.model.message.emit(f"Thumbnails unavailable: {error}")
        else:
            jpeg = cache.thumbnail_jpeg
            self.thumbnails.reset(lambda i: image_from_jpeg(jpeg(int(i))))
        self.cacheChanged.emit()

    def wait_opened(self) -> bool:
        """True once no open is in flight (tests)."""
        return not self._opening
