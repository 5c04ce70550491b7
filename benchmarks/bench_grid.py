"""Benchmark of the cluster browser's thumbnail grid at 100k images.

Setup: a real ``SessionStore`` of N images (default 100,000) with two epochs and a complete
image cache in the session's cache folder, which the window opens as in a real session: its
thumbnail pack holds P distinct 128-px JPEG thumbnails that the N rows point into (row i ->
thumbnail i mod P), so every thumbnail read goes through the cache's memory-mapped pack
without decoding 100k files first.

* Epoch 1: ten clusters of N/10 images (10,000 at N = 100k).
* Epoch 2: one cluster holding all images but one.

Measured, in a shown ``ClusterBrowser`` (1280x800, offscreen raster platform):

1. **Switch to a 10k cluster** (the target: < 200 ms): time from selecting the cluster's row in
   the cluster list to the end of the first paint in which every visible cell shows its
   thumbnail. Thumbnails are decoded cold (the LRU is emptied before each trial); median of
   ``--trials``. Also the first paint at all (placeholders) and a warm switch back.
2. **Scrolling at 100k**: the all-images cluster; page-down steps and small wheel-like steps,
   each followed by a synchronous repaint: the frame time (what decides smoothness), then the
   time until that page's thumbnails are all painted. And the LRU's size afterwards (bounded).

Writes ``benchmarks/results_grid.md``.

    python benchmarks/bench_grid.py [--images 100000] [--trials 9] [--pages 60]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image  # noqa: E402
from PySide6 import __version__ as pyside_version  # noqa: E402
from PySide6.QtCore import QCoreApplication, QElapsedTimer, QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from dcgui.core.config import TrainConfig  # noqa: E402
from dcgui.core.events import EpochFinished, EpochMetrics  # noqa: E402
from dcgui.core.images.cache import _Index, _Row, _write_index  # noqa: E402 - the on-disk format, as a build writes it
from dcgui.core.images.collection import ImageRecord  # noqa: E402
from dcgui.store import SessionStore  # noqa: E402
from tests.conftest import make_shape_image  # noqa: E402

N_CLASSES = 10


def _jpeg(i: int, rng: np.random.Generator) -> bytes:
    """A 128x96 (or 96x128) JPEG like the cache's thumbnails, from a generated shape image."""
    img = Image.fromarray(make_shape_image(i % 4, rng, 128))
    img = img.resize((128, 96) if i % 3 else (96, 128))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def build(tmp: Path, n: int, pool: int) -> SessionStore:
    """A session of ``n`` images whose image cache (in the session's own cache folder, where the
    window opens it) is complete: its index names a thumbnail pack of ``pool`` distinct JPEGs
    (row i -> thumbnail i mod pool) and a sparse pixel file (the grid never reads pixels)."""
    rng = np.random.default_rng(0)
    thumbs = [_jpeg(i, rng) for i in range(pool)]
    lengths = np.array([len(t) for t in thumbs], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    folder = tmp / "photos"
    folder.mkdir()
    records = [ImageRecord(f"class_{i * N_CLASSES // n}/img_{i:06d}.jpg", 150_000 + i % 997, 0,
                           f"class_{i * N_CLASSES // n}") for i in range(n)]
    store = SessionStore.create(tmp / "bench.dcgui", folder, TrainConfig(k=N_CLASSES, image_size=32))
    size, cache_dir = store.config.cache_size, store.cache_dir
    (cache_dir / "thumbs_bench.bin").write_bytes(b"".join(thumbs))
    with open(cache_dir / "data_bench.u8", "wb") as fh:
        fh.truncate(n * size * size * 3)  # sparse: takes no disk
    rows = [_Row(r, 4000, 3000, "data_bench.u8", i, "thumbs_bench.bin", int(offsets[i % pool]),
                 int(lengths[i % pool])) for i, r in enumerate(records)]
    _write_index(cache_dir, _Index(size, True, rows, []))
    store.set_images(records, [], [f"class_{c}" for c in range(N_CLASSES)])
    a1 = (np.arange(n) % N_CLASSES).astype(np.int32)  # ten clusters of n/10, interleaved
    a2 = np.zeros(n, np.int32)
    a2[-1] = 1
    for e, a in ((1, a1), (2, a2)):
        m = EpochMetrics(epoch=e, nmi_prev=None, nmi_labels=None, ari_labels=None, loss=1.0, kmeans_objective=1.0,
                         k=N_CLASSES, empty_clusters=0, min_cluster=1, max_cluster=n, size_entropy=1.0,
                         seconds_features=1, seconds_clustering=1, seconds_training=1, images_per_second=1,
                         n_images=n)
        store.record_epoch(EpochFinished(m, a, a, np.arange(N_CLASSES, dtype=np.int32)))
    return store


class Frames:
    """Records (time, cells painted with a thumbnail, placeholders) of every grid paint."""

    def __init__(self, grid: Any) -> None:
        self.log: list[tuple[float, int, int]] = []
        grid.framePainted.connect(self._on)

    def _on(self, pix: int, placeholders: int) -> None:
        self.log.append((time.perf_counter(), pix, placeholders))

    wait_s = 10.0  # --wait: a loaded machine's decode threads may need longer

    def wait_complete(self, since: int, timeout_s: float | None = None) -> tuple[float, float] | None:
        """(time of the first paint after ``since``, time of the first paint with no placeholder)."""
        loop = QEventLoop()
        end = time.perf_counter() + (self.wait_s if timeout_s is None else timeout_s)
        while time.perf_counter() < end:
            new = self.log[since:]
            done = [t for t, pix, ph in new if ph == 0 and pix > 0]
            if done:
                return new[0][0], done[0]
            QTimer.singleShot(1, loop.quit)
            loop.exec()
        return None


def select(browser: Any, c: int) -> None:
    m = browser.cluster_model
    browser.cluster_view.setCurrentIndex(m.index(m.row_of_cluster(c), 0))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def pyside_drops_references() -> bool:
    """PySide6 6.12.0 on Python < 3.12 returns None (and Signal.emit's True) without a reference:
    every such call lowers None's count by one until the interpreter aborts ("deallocating None")."""
    from PySide6.QtCore import QObject

    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(200):
        obj.setObjectName("probe")
    return sys.getrefcount(None) < before - 100


def main() -> int:
    if pyside_drops_references():
        print(f"PySide6 {pyside_version} on Python {platform.python_version()} loses a reference to None on every "
              "call that returns nothing: scrolling 100k thumbnails aborts the interpreter. Run this benchmark "
              "with PySide6-Essentials 6.11 (or Python >= 3.12, where None is immortal).", file=sys.stderr)
        return 2
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--pool", type=int, default=2000, help="distinct thumbnails in the pack")
    ap.add_argument("--trials", type=int, default=9)
    ap.add_argument("--pages", type=int, default=60)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results_grid.md")
    ap.add_argument("--wait", type=float, default=10.0,
                    help="seconds to wait for a page's thumbnails before giving up (raise it on a loaded machine)")
    args = ap.parse_args()
    Frames.wait_s = args.wait

    app = QApplication.instance() or QApplication([])
    from dcgui.gui.cluster_browser import ClusterBrowser
    from dcgui.gui.session_images import SessionImages
    from dcgui.gui.session_model import SessionModel

    tmp = Path(tempfile.mkdtemp(prefix="bench_grid_"))
    t = time.perf_counter()
    store = build(tmp, args.images, args.pool)
    print(f"built a session of {args.images:,} images in {time.perf_counter() - t:.1f} s", flush=True)

    model = SessionModel()
    browser = ClusterBrowser(model, SessionImages(model))
    browser.resize(1280, 800)
    browser.show()
    QCoreApplication.processEvents()
    t = time.perf_counter()
    model.open(store)
    while browser.images.cache is None and time.perf_counter() - t < 120:  # opened off the GUI thread
        QCoreApplication.processEvents()
    if browser.images.cache is None:
        print(f"the window did not open the image cache: {browser.images.status}", file=sys.stderr)
        return 1
    set_session_s = time.perf_counter() - t
    model.set_follow_live(False)
    model.set_epoch(1)
    frames = Frames(browser.grid)
    grid = browser.grid
    QCoreApplication.processEvents()

    # 1. switching to a 10k cluster, cold thumbnails
    cold, first_paint, warm = [], [], []
    for trial in range(args.trials):
        c = trial % N_CLASSES
        other = (c + 1) % N_CLASSES
        select(browser, other)
        frames.wait_complete(len(frames.log))
        browser.thumbnails.clear_cache()  # decode cold
        mark = len(frames.log)
        t0 = time.perf_counter()
        select(browser, c)
        got = frames.wait_complete(mark)
        if got is None:
            print("timed out waiting for thumbnails", file=sys.stderr)
            return 1
        first_paint.append(got[0] - t0)
        cold.append(got[1] - t0)
        assert browser.grid_model.rowCount() == int(store.cluster_sizes(1)[c])
        select(browser, other)  # warm: back to a cluster whose first screen is cached
        frames.wait_complete(len(frames.log))
        mark = len(frames.log)
        t0 = time.perf_counter()
        select(browser, c)
        got = frames.wait_complete(mark)
        assert got is not None
        warm.append(got[1] - t0)
        print(f"trial {trial}: cold {cold[-1] * 1e3:.1f} ms, first paint {first_paint[-1] * 1e3:.1f} ms, "
              f"warm {warm[-1] * 1e3:.1f} ms", flush=True)
    visible = len(grid.visible_rows())
    cluster_size = int(store.cluster_sizes(1)[0])

    # 2. the 100k cluster: switching, then scrolling
    mark = len(frames.log)
    t0 = time.perf_counter()
    model.set_epoch(2)
    select(browser, 0)
    got = frames.wait_complete(mark)
    assert got is not None
    big_switch = got[1] - t0
    big_rows = browser.grid_model.rowCount()
    bar = grid.verticalScrollBar()
    page_frames, page_complete = [], []
    for _ in range(args.pages):
        mark = len(frames.log)
        timer = QElapsedTimer()
        timer.start()
        bar.setValue(bar.value() + bar.pageStep())
        grid.viewport().repaint()
        page_frames.append(timer.nsecsElapsed() / 1e6)
        got = frames.wait_complete(mark)
        assert got is not None
        page_complete.append((got[1] - got[0]) * 1e3 + page_frames[-1])
    step_frames = []
    for _ in range(300):  # wheel-like steps: thumbnails of the next line arrive as it scrolls in
        timer = QElapsedTimer()
        timer.start()
        bar.setValue(bar.value() + bar.singleStep())
        grid.viewport().repaint()
        step_frames.append(timer.nsecsElapsed() / 1e6)
        QCoreApplication.processEvents()
    lru = len(browser.thumbnails.cache)
    lru_mb = browser.thumbnails.cache.total_size / 2**20
    jump_frames = []
    for frac in np.linspace(0.05, 0.95, 19):  # dragging the scroll bar far: nothing decoded yet
        timer = QElapsedTimer()
        timer.start()
        bar.setValue(int(bar.maximum() * frac))
        grid.viewport().repaint()
        jump_frames.append(timer.nsecsElapsed() / 1e6)
    QCoreApplication.processEvents()

    load = os.getloadavg()
    lines = [
        "# Thumbnail grid benchmark (`benchmarks/bench_grid.py`)",
        "",
        f"{args.images:,} images, a real `SessionStore` and `ImageCache` (thumbnail pack of {args.pool:,} distinct "
        f"128-px JPEGs, rows pointing into it); `ClusterBrowser` 1280x800, {visible} cells visible at the default "
        f"thumbnail size; platform `{app.platformName()}`, PySide6 {pyside_version}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPU cores (load average {load[0]:.1f} during the run: the machine is shared, so these are "
        "upper bounds).",
        "",
        "| measurement | median | p90 | target |",
        "|---|---|---|---|",
        f"| select a cluster of {cluster_size:,} → first paint with every visible thumbnail (cold decode) | "
        f"{statistics.median(cold) * 1e3:.1f} ms | {pct(cold, 90) * 1e3:.1f} ms | < 200 ms |",
        f"| select a cluster of {cluster_size:,} → first paint (placeholders) | "
        f"{statistics.median(first_paint) * 1e3:.1f} ms | {pct(first_paint, 90) * 1e3:.1f} ms | |",
        f"| select a cluster of {cluster_size:,} → complete paint (thumbnails cached) | "
        f"{statistics.median(warm) * 1e3:.1f} ms | {pct(warm, 90) * 1e3:.1f} ms | |",
        f"| select the cluster of {big_rows:,} images → complete paint (one run) | {big_switch * 1e3:.1f} ms | | |",
        f"| scroll one page in the {big_rows:,}-image cluster: frame time | {statistics.median(page_frames):.2f} ms | "
        f"{pct(page_frames, 90):.2f} ms | < 16 ms |",
        f"| scroll one page: until that page's thumbnails are all painted | {statistics.median(page_complete):.1f} ms | "
        f"{pct(page_complete, 90):.1f} ms | |",
        f"| wheel step ({bar.singleStep()} px): frame time | {statistics.median(step_frames):.2f} ms | "
        f"{pct(step_frames, 90):.2f} ms | < 16 ms |",
        f"| jump far with the scroll bar: frame time (placeholders) | {statistics.median(jump_frames):.2f} ms | "
        f"{pct(jump_frames, 90):.2f} ms | < 16 ms |",
        "",
        f"After scrolling {args.pages} pages and 300 wheel steps the thumbnail LRU holds {lru:,} pixmaps "
        f"({lru_mb:.0f} MB; bound: {browser.thumbnails.cache.capacity:,} pixmaps / "
        f"{(browser.thumbnails.cache.max_size or 0) / 2**20:.0f} MB). opening the session (cache included) took {set_session_s * 1e3:.0f} ms "
        f"(paths, labels and flags of {args.images:,} images; the cache opens off the GUI thread). "
        f"{args.trials} trials per cold/warm switch.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    browser.close()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
