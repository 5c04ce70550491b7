"""Lazy, bounded, off-thread pixmap loading for item views (thumbnail grid, cluster mosaics).

After orange3-imageanalytics' ``thumbnailview.py``: a view's delegate asks for a pixmap only
while it paints a row; the request is decoded on a thread pool with a bounded number in
flight, and the result comes back on the GUI thread keyed by the request key (an image index,
or a cluster id for mosaics), so the model can emit ``dataChanged`` for exactly those rows.
Unlike Orange's, the cache is an LRU bounded by count *and* bytes, so browsing 100k images
never grows memory without limit.

Stale requests are dropped lazily: before a queued key is handed to a worker, the consumer's
``wanted(key)`` callback is asked whether that row is still on screen (the user may have
scrolled away or switched cluster since it was painted).
"""

from __future__ import annotations

import itertools
import traceback
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from PySide6.QtCore import QObject, QRect, QRectF, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPalette, QPen, QPixmap

from dcgui.core.lru import LRU

# A loader turns a key into an image; it runs in a worker thread, so it must only touch
# thread-safe things (QImage, not QPixmap; its own store/cache handle, not the GUI's).
LoadFunction = Callable[[Any], QImage]

_POOL: QThreadPool | None = None


def thumbnail_pool() -> QThreadPool:
    """The thread pool shared by every pixmap loader of the GUI.

    Separate from ``QThreadPool.globalInstance()`` so thumbnail decoding never queues behind
    (or starves) other background work; two to four threads keep the GUI responsive on a
    laptop while decoding a screenful of 128-px JPEGs in a few milliseconds.
    """
    global _POOL
    if _POOL is None:
        _POOL = QThreadPool()
        _POOL.setObjectName("dcgui-thumbnails")
        _POOL.setMaxThreadCount(max(2, min(4, QThreadPool.globalInstance().maxThreadCount() // 2)))
        _POOL.setExpiryTimeout(30_000)
    return _POOL


def image_from_jpeg(data: bytes) -> QImage:
    """Decode JPEG bytes (thread-safe). Raises ``ValueError`` for data Qt cannot decode."""
    image = QImage.fromData(data, "JPG")  # type: ignore[arg-type]  # PySide6 takes str here, not bytes
    if image.isNull():
        image = QImage.fromData(data)  # not a JPEG after all: let Qt sniff the format
    if image.isNull():
        raise ValueError(f"thumbnail data of {len(data)} bytes is not a decodable image")
    return image


def pixmap_nbytes(pixmap: QPixmap) -> int:
    return pixmap.width() * pixmap.height() * max(1, pixmap.depth() // 8)


class PixmapLRU(LRU[Hashable, QPixmap]):
    """Least-recently-used pixmaps, bounded by ``capacity`` items and ``max_bytes``
    (``total_size``: the bytes held)."""

    def __init__(self, capacity: int = 4000, max_bytes: int = 256 * 1024 * 1024) -> None:
        super().__init__(capacity, max_bytes, pixmap_nbytes)


class _Relay(QObject):
    """Carries a worker's results to the GUI thread (it lives there; emits become queued)."""

    finished = Signal(int, object)  # generation, list[(key, QImage | None, error | None)]


class AsyncPixmapCache(QObject):
    """Pixmaps keyed by hashable keys, decoded off the GUI thread on demand.

    * ``request(key)`` returns the pixmap when cached, else queues the key and returns None;
      ``ready(keys)`` is emitted (on the GUI thread) once they are decoded or failed.
    * At most ``max_in_flight`` keys are being decoded at once, in jobs of ``batch`` keys.
    * ``wanted(key)`` (optional) is asked just before a queued key is started; keys no longer
      wanted are dropped without being decoded. Views sharing one cache each register their own
      test with ``add_wanted``; a key is decoded when any of them wants it.
    * ``reset(load)`` switches to another source (another session): queued keys are dropped and
      results of jobs still running for the old source are discarded when they arrive.
    """

    ready = Signal(list)
    sourceChanged = Signal()  # reset(): views repaint so their visible rows are requested again

    def __init__(
        self,
        load: LoadFunction | None = None,
        *,
        capacity: int = 4000,
        max_bytes: int = 256 * 1024 * 1024,
        max_in_flight: int = 32,
        batch: int = 8,
        wanted: Callable[[Any], bool] | None = None,
        pool: QThreadPool | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if max_in_flight < 1 or batch < 1:
            raise ValueError(f"AsyncPixmapCache: max_in_flight={max_in_flight} and batch={batch} must be at least 1")
        self._load = load
        self._lru = PixmapLRU(capacity, max_bytes)
        self._errors: OrderedDict[Hashable, str] = OrderedDict()
        self._queue: OrderedDict[Hashable, None] = OrderedDict()
        self._in_flight: set[Hashable] = set()
        self.max_in_flight = max_in_flight
        self.batch = batch
        self.wanted = wanted
        self._consumers: list[Callable[[Any], bool]] = []  # views sharing this cache (see add_wanted)
        self._pool = pool or thumbnail_pool()
        self._generation = itertools.count(1)
        self._current = next(self._generation)
        self._relay = _Relay()  # no parent: jobs hold a Python reference while they run
        self._relay.finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)
        # Requests made while a view paints are started right after the paint, in one go: the
        # paint is never slowed by workers starting (and taking the GIL) under it.
        self._pump_timer = QTimer(self)
        self._pump_timer.setSingleShot(True)
        self._pump_timer.setInterval(0)
        self._pump_timer.timeout.connect(self._pump)
        self.decoded = 0  # keys decoded since construction (for tests and benchmarks)
        self.dropped = 0  # stale keys dropped before decoding

    # -- queries -------------------------------------------------------------------------------
    @property
    def cache(self) -> PixmapLRU:
        return self._lru

    def pixmap(self, key: Hashable) -> QPixmap | None:
        """The cached pixmap of ``key``, without requesting it."""
        return self._lru.get(key)

    def error(self, key: Hashable) -> str | None:
        """Why ``key`` could not be loaded (None when it loaded or was never tried)."""
        return self._errors.get(key)

    def pending(self) -> int:
        return len(self._queue)

    def in_flight(self) -> int:
        return len(self._in_flight)

    def is_idle(self) -> bool:
        return not self._queue and not self._in_flight

    # -- requests ------------------------------------------------------------------------------
    def request(self, key: Hashable) -> QPixmap | None:
        """The pixmap of ``key``, or None after queueing it (a failed key is not retried)."""
        pixmap = self._lru.get(key)
        if pixmap is not None or self._load is None or key in self._errors:
            return pixmap
        if key not in self._in_flight:
            self._queue[key] = None
            self._queue.move_to_end(key)
            if not self._pump_timer.isActive():
                self._pump_timer.start()
        return None

    def discard_pending(self) -> None:
        """Forget every queued key (running jobs finish and are cached)."""
        self.dropped += len(self._queue)
        self._queue.clear()

    def clear_cache(self) -> None:
        """Forget decoded pixmaps and errors (keys load again when painted); the source stays."""
        self._lru.clear()
        self._errors.clear()

    def reset(self, load: LoadFunction | None) -> None:
        """Use another source: drop queued keys, cached pixmaps and errors; ignore old results."""
        self._load = load
        self._queue.clear()
        self._in_flight.clear()
        self._lru.clear()
        self._errors.clear()
        self._current = next(self._generation)
        self.sourceChanged.emit()

    def add_wanted(self, wanted: Callable[[Any], bool]) -> None:
        """One more view shows keys of this cache: a queued key is decoded if any view wants it."""
        self._consumers.append(wanted)

    def remove_wanted(self, wanted: Callable[[Any], bool]) -> None:
        if wanted in self._consumers:
            self._consumers.remove(wanted)

    # -- internals -----------------------------------------------------------------------------
    def _is_wanted(self, key: Hashable) -> bool:
        if self.wanted is None and not self._consumers:
            return True
        return (self.wanted is not None and self.wanted(key)) or any(f(key) for f in self._consumers)

    def _pump(self) -> None:
        load = self._load
        if load is None:
            return
        while self._queue and len(self._in_flight) < self.max_in_flight:
            room = min(self.batch, self.max_in_flight - len(self._in_flight))
            keys: list[Hashable] = []
            while self._queue and len(keys) < room:
                key, _ = self._queue.popitem(last=False)
                if not self._is_wanted(key):
                    self.dropped += 1  # scrolled away or another cluster: never decode it
                    continue
                keys.append(key)
            if not keys:
                break
            self._in_flight.update(keys)
            self._pool.start(_make_job(load, keys, self._current, self._relay))

    def _on_finished(self, generation: int, results: list[tuple[Hashable, QImage | None, str | None]]) -> None:
        if generation != self._current:
            return  # decoded for a previous source
        done: list[Hashable] = []
        for key, image, error in results:
            self._in_flight.discard(key)
            if image is not None:
                self._lru.put(key, QPixmap.fromImage(image))
                self.decoded += 1
            else:
                self._errors[key] = error or "could not be loaded"
                while len(self._errors) > self._lru.capacity:
                    self._errors.popitem(last=False)
            done.append(key)
        self._pump()
        if done:
            self.ready.emit(done)


def _make_job(load: LoadFunction, keys: Sequence[Hashable], generation: int, relay: _Relay) -> Callable[[], None]:
    def job() -> None:
        results: list[tuple[Hashable, QImage | None, str | None]] = []
        for key in keys:
            try:
                results.append((key, load(key), None))
            except Exception as exc:  # shown to the user as the item's tooltip
                reason = str(exc) or type(exc).__name__
                if not isinstance(exc, ValueError | OSError):
                    reason = f"{type(exc).__name__}: {reason}"
                    traceback.print_exc()
                results.append((key, None, reason))
        relay.finished.emit(generation, results)

    return job


# ---------------------------------------------------------------------------------------------
# painting helpers shared by the grid and the cluster list
# ---------------------------------------------------------------------------------------------
def fit_rect(size: QSize, box: QRect | QRectF) -> QRectF:
    """The largest rectangle of ``size``'s aspect ratio centred in ``box``."""
    box = QRectF(box)
    w, h = max(1, size.width()), max(1, size.height())
    scale = min(box.width() / w, box.height() / h)
    tw, th = w * scale, h * scale
    return QRectF(box.x() + (box.width() - tw) / 2, box.y() + (box.height() - th) / 2, tw, th)


def paint_placeholder(painter: QPainter, rect: QRect | QRectF, palette: QPalette, failed: bool = False) -> None:
    """A rounded tile where a thumbnail will appear; a crossed tile for an image that failed."""
    rect = QRectF(rect)
    base = palette.color(QPalette.ColorRole.Base)
    tile = base.darker(112) if base.lightness() > 128 else base.lighter(140)
    path = QPainterPath()
    path.addRoundedRect(rect, 4, 4)
    painter.fillPath(path, tile)
    if failed:
        pen = QPen(QColor(200, 60, 60), 2)
        painter.setPen(pen)
        m = min(rect.width(), rect.height()) * 0.3
        c = rect.center()
        painter.drawLine(c.x() - m / 2, c.y() - m / 2, c.x() + m / 2, c.y() + m / 2)
        painter.drawLine(c.x() - m / 2, c.y() + m / 2, c.x() + m / 2, c.y() - m / 2)


def compose_mosaic(images: Sequence[QImage], side: int, dpr: float = 1.0, gap: int = 1) -> QImage:
    """A ``side``×``side`` (logical px) 2×2 mosaic of ``images``, each centre-cropped to a square.

    Runs in worker threads: QImage and QPainter on a QImage are safe off the GUI thread.
    """
    px = max(2, round(side * dpr))
    out = QImage(px, px, QImage.Format.Format_ARGB32_Premultiplied)
    out.fill(Qt.GlobalColor.transparent)
    cell = (px - gap) // 2
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    for n, img in enumerate(images[:4]):
        if img.isNull():
            continue
        s = min(img.width(), img.height())
        src = QRect((img.width() - s) // 2, (img.height() - s) // 2, s, s)
        x = (n % 2) * (cell + gap)
        y = (n // 2) * (cell + gap)
        painter.drawImage(QRect(x, y, cell, cell), img, src)
    painter.end()
    out.setDevicePixelRatio(dpr)
    return out
