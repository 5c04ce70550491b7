"""Lazy, bounded, off-thread thumbnails: the LRU, the async loader on a real image cache, the grid model."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage, QPixmap

from tests.conftest import write_image_folder

pytest.importorskip("pytestqt")


def _drive(gen: Generator[Any, None, Any]) -> Any:
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


@pytest.fixture
def image_cache(tmp_path: Path) -> Any:
    """A real decoded-image cache of 24 generated PNGs (48 px)."""
    from dcgui.core.images.cache import ImageCache
    from dcgui.core.images.collection import scan

    folder = write_image_folder(tmp_path / "photos", n_per_class=8, classes=3, size=48)
    res = scan(folder)
    return _drive(ImageCache.iter_build(tmp_path / "cache", folder, res.images, 36, workers=1))


def _pixmap(w: int, h: int) -> QPixmap:
    p = QPixmap(w, h)
    p.fill(QColor(10, 20, 30))
    return p


def test_lru_bounded_by_count_and_bytes(qtbot: Any) -> None:
    from dcgui.gui.thumbnails import PixmapLRU

    lru = PixmapLRU(capacity=5, max_bytes=1 << 30)
    for i in range(20):
        lru.put(i, _pixmap(8, 8))
        assert len(lru) <= 5
    assert lru.keys() == [15, 16, 17, 18, 19] and lru.evictions == 15
    assert lru.get(15) is not None  # touching 15 makes 16 the oldest
    lru.put(20, _pixmap(8, 8))
    assert 16 not in lru and 15 in lru

    per = 16 * 16 * (_pixmap(16, 16).depth() // 8)
    by_bytes = PixmapLRU(capacity=1000, max_bytes=3 * per)
    for i in range(10):
        by_bytes.put(i, _pixmap(16, 16))
    assert len(by_bytes) == 3 and by_bytes.total_size == 3 * per
    with pytest.raises(ValueError, match="capacity"):
        PixmapLRU(capacity=0)


def test_async_loader_decodes_real_cache_off_thread_and_stays_bounded(qtbot: Any, image_cache: Any) -> None:
    from dcgui.gui.thumbnails import AsyncPixmapCache, image_from_jpeg

    loader = AsyncPixmapCache(lambda i: image_from_jpeg(image_cache.thumbnail_jpeg(i)),
                              capacity=10, max_in_flight=4, batch=3)
    ready: list[Any] = []
    loader.ready.connect(ready.extend)
    n = len(image_cache)
    assert n == 24
    assert all(loader.request(i) is None for i in range(n))  # nothing is decoded on the calling thread
    assert loader.in_flight() <= 4
    qtbot.waitUntil(loader.is_idle, timeout=5000)
    assert sorted(ready) == list(range(n))
    assert loader.decoded == n
    assert len(loader.cache) == 10  # the LRU bound holds after loading more than its capacity
    pix = loader.request(n - 1)
    assert pix is not None and pix.width() == 48
    assert loader.request(0) is None  # evicted long ago: queued again


def test_stale_requests_are_dropped_and_failures_reported(qtbot: Any) -> None:
    import threading

    from dcgui.gui.thumbnails import AsyncPixmapCache

    release = threading.Event()

    def load(key: int) -> QImage:
        if key == 0:
            release.wait(5)  # the first job runs while the user "scrolls away"
        if key == 3:
            raise ValueError("image 3 is truncated")
        img = QImage(4, 4, QImage.Format.Format_RGB32)
        img.fill(QColor(1, 2, 3))
        return img

    wanted = {0, 1, 2, 3}
    loader = AsyncPixmapCache(load, max_in_flight=1, batch=1, wanted=lambda k: k in wanted)
    for key in range(10):
        loader.request(key)
    qtbot.waitUntil(lambda: loader.in_flight() == 1, timeout=5000)
    wanted.clear()  # "the user scrolled away": keys still queued are never decoded
    wanted.add(3)
    release.set()
    qtbot.waitUntil(loader.is_idle, timeout=5000)
    assert loader.decoded == 1  # key 0 was already running when the others became stale
    assert loader.pixmap(0) is not None and loader.pixmap(1) is None
    assert loader.error(3) == "image 3 is truncated"
    assert loader.dropped == 8  # keys 1, 2 and 4-9


def test_reset_ignores_results_of_the_previous_source(qtbot: Any) -> None:
    from PySide6.QtCore import QThreadPool

    from dcgui.gui.thumbnails import AsyncPixmapCache

    def load(colour: int) -> Any:
        def f(key: int) -> QImage:
            img = QImage(2, 2, QImage.Format.Format_RGB32)
            img.fill(QColor(colour, 0, 0))
            return img

        return f

    pool = QThreadPool()
    loader = AsyncPixmapCache(load(200), pool=pool)
    loader.request(1)
    loader.reset(load(50))  # another session: whatever the old job delivers must be ignored
    pool.waitForDone()
    qtbot.wait(50)
    assert loader.pixmap(1) is None
    loader.request(1)
    qtbot.waitUntil(lambda: loader.pixmap(1) is not None, timeout=5000)
    pixmap = loader.pixmap(1)
    assert pixmap is not None and pixmap.toImage().pixelColor(0, 0).red() == 50


def test_grid_model_emits_data_changed_for_exactly_the_loaded_rows(qtbot: Any, image_cache: Any) -> None:
    from dcgui.gui.thumbnail_grid import ImageIndexRole, ThumbnailGridModel, ThumbnailRole
    from dcgui.gui.thumbnails import AsyncPixmapCache, image_from_jpeg

    loader = AsyncPixmapCache(lambda i: image_from_jpeg(image_cache.thumbnail_jpeg(i)))
    model = ThumbnailGridModel(loader)
    members = np.array([2, 5, 7, 11, 19, 23])
    model.set_images(members)
    assert model.rowCount() == 6 and model.row_of(11) == 3 and model.row_of(4) is None
    changed: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda a, b, roles: changed.append((a.row(), b.row())))
    assert model.index(1).data(ThumbnailRole) is None  # reading the role never starts a load
    assert loader.is_idle()
    for i in (5, 7, 23, 0):  # 0 is not in this cluster: no row to update
        loader.request(i)
    qtbot.waitUntil(loader.is_idle, timeout=5000)
    rows = sorted(r for a, b in changed for r in range(a, b + 1))
    assert rows == [1, 2, 5]
    assert model.index(2).data(ImageIndexRole) == 7
    assert isinstance(model.index(2).data(ThumbnailRole), QPixmap)


def test_grid_paints_placeholders_then_thumbnails_of_visible_rows_only(qtbot: Any, image_cache: Any) -> None:
    from dcgui.gui.thumbnail_grid import ThumbnailGrid, ThumbnailRole
    from dcgui.gui.thumbnails import AsyncPixmapCache, image_from_jpeg

    loader = AsyncPixmapCache(lambda i: image_from_jpeg(image_cache.thumbnail_jpeg(i)))
    grid = ThumbnailGrid(loader)
    qtbot.addWidget(grid)
    grid.set_thumb_size(64)
    grid.resize(300, 170)  # 4 columns × 2 lines of 72-px cells visible
    grid.show()
    qtbot.waitExposed(grid)
    frames: list[tuple[int, int]] = []
    grid.framePainted.connect(lambda a, b: frames.append((a, b)))
    grid.grid_model().set_images(np.arange(len(image_cache)))
    qtbot.waitUntil(lambda: bool(frames), timeout=5000)  # laid out and painted once (scroll bar shown)
    visible = list(grid.visible_rows())
    assert 0 < len(visible) < len(image_cache)
    qtbot.waitUntil(lambda: all(grid.grid_model().index(r).data(ThumbnailRole) is not None for r in visible),
                    timeout=5000)
    qtbot.waitUntil(lambda: bool(frames) and frames[-1][1] == 0, timeout=5000)
    assert frames[0][1] > 0  # the first frame showed placeholders: decoding never blocked painting
    loaded = set(loader.cache.keys())
    assert loaded >= set(visible) and len(loaded) <= 2 * len(visible)  # lazily, only rows on screen
