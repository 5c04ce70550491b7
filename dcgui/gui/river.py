"""The cluster river (Plots tab): how images flow between matched clusters, epoch to epoch.

``dcgui.core.analysis.river`` computes the columns and bands (on a worker: it reads every shown
epoch's assignments); this view draws them in a ``QGraphicsScene``, one path item per band or
"other" stub. Clicking a band selects the images that took it (A at epoch t -> B at t + 1) as
the shared selection, with source "river", and asks the window to show them in the Clusters
grid (``showImagesRequested``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QMouseEvent, QPainter, QPainterPath, QPen, QResizeEvent
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QLabel,
    QSpinBox,
    QToolTip,
    QWidget,
)

from dcgui.core.analysis.river import MAX_BANDS, Flows, River, band_members, river
from dcgui.gui.layout import hbox, vbox, wrapped_label
from dcgui.gui.session_model import SessionModel

MAX_COLUMNS = 40  # epochs drawn (the last ones); more would make every band a hairline
COLUMN_STEP = 140.0  # scene units between two epochs
HEIGHT = 600.0
NODE_W = 8.0
_PALETTE = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22"]


def _smooth(t: np.ndarray) -> np.ndarray:
    return 3 * t ** 2 - 2 * t ** 3


def _x_of_t(t: np.ndarray) -> np.ndarray:
    """x along a band (0..1 between its two columns) for the curve parameter t: both control
    points sit at mid-x, so x(t) = 1.5 t - 1.5 t^2 + t^3 (monotonic)."""
    return 1.5 * t - 1.5 * t ** 2 + t ** 3


def _t_of_x(u: float) -> float:
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if 1.5 * mid - 1.5 * mid ** 2 + mid ** 3 < u:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def band_path(xa: float, xb: float, a0: float, a1: float, b0: float, b1: float, path: QPainterPath) -> None:
    mid = (xa + xb) / 2
    path.moveTo(xa, a0)
    path.cubicTo(mid, a0, mid, b0, xb, b0)
    path.lineTo(xb, b1)
    path.cubicTo(mid, b1, mid, a1, xa, a1)
    path.closeSubpath()


def _pair_x(pair: int) -> tuple[float, float]:
    return pair * COLUMN_STEP + NODE_W / 2, (pair + 1) * COLUMN_STEP - NODE_W / 2


def hit_test(r: River, x: float, y: float) -> tuple[int, str, int] | None:
    """The band or stub under scene point (x, y): computed from the arrays, not from items, so
    the scene holds a few items per epoch pair instead of one per band."""
    pair = int(np.floor(x / COLUMN_STEP))
    if not 0 <= pair < len(r.flows):
        return None
    f = r.flows[pair]
    xa, xb = _pair_x(pair)
    if not xa <= x <= xb:
        return None
    yy = y / HEIGHT
    stub = (xb - xa) * 0.3
    if x <= xa + stub:
        hit = np.flatnonzero((f.out_y0 <= yy) & (yy <= f.out_y1))
        if len(hit):
            return (pair, "out", int(hit[0]))
    if x >= xb - stub:
        hit = np.flatnonzero((f.in_y0 <= yy) & (yy <= f.in_y1))
        if len(hit):
            return (pair, "in", int(hit[0]))
    s = float(_smooth(np.array(_t_of_x((x - xa) / (xb - xa)))))
    top = f.sy0 + (f.dy0 - f.sy0) * s
    bottom = f.sy1 + (f.dy1 - f.sy1) * s
    hit = np.flatnonzero((top <= yy) & (yy <= bottom))
    if not len(hit):
        return None
    return (pair, "band", int(hit[np.argmin(f.count[hit])]))  # the thinnest: the one you aimed at


def describe(r: River, key: tuple[int, str, int]) -> str:
    pair, kind, j = key
    f = r.flows[pair]
    if kind == "band":
        n = int(f.count[j])
        return (f"{n} image{'s' if n != 1 else ''}: cluster {int(f.src[j])} (epoch {f.epoch}) → "
                f"cluster {int(f.dst[j])} (epoch {f.epoch + 1})")
    if kind == "out":
        n = int(f.out_count[j])
        return f"{n} image{'s' if n != 1 else ''} of cluster {int(f.out_cluster[j])} (epoch {f.epoch}) in smaller flows"
    n = int(f.in_count[j])
    return f"{n} image{'s' if n != 1 else ''} of cluster {int(f.in_cluster[j])} (epoch {f.epoch + 1}) from smaller flows"


def key_path(r: River, key: tuple[int, str, int]) -> QPainterPath:
    pair, kind, j = key
    f = r.flows[pair]
    xa, xb = _pair_x(pair)
    p = QPainterPath()
    stub = (xb - xa) * 0.3
    if kind == "band":
        band_path(xa, xb, f.sy0[j] * HEIGHT, f.sy1[j] * HEIGHT, f.dy0[j] * HEIGHT, f.dy1[j] * HEIGHT, p)
    elif kind == "out":
        p.addRect(QRectF(xa, f.out_y0[j] * HEIGHT, stub, (f.out_y1[j] - f.out_y0[j]) * HEIGHT))
    else:
        p.addRect(QRectF(xb - stub, f.in_y0[j] * HEIGHT, stub, (f.in_y1[j] - f.in_y0[j]) * HEIGHT))
    return p


class RiverView(QGraphicsView):
    """Draws a ``River``: per epoch pair one path per colour (bands by source cluster) and one
    for the grey stubs, one path per column of nodes; clicks and tooltips use ``hit_test``."""

    bandClicked = Signal(object)  # (pair, "band" | "out" | "in", index)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setMouseTracking(True)
        self.river: River | None = None
        self.highlight: QGraphicsPathItem | None = None
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def set_river(self, r: River) -> int:
        """Draw ``r``; returns the number of scene items."""
        self.river = r
        self.highlight = None
        n = draw_river(self.scene(), r)
        self.fit()
        return n

    def key_at(self, pos: QPoint) -> tuple[int, str, int] | None:
        if self.river is None:
            return None
        p = self.mapToScene(pos)
        return hit_test(self.river, p.x(), p.y())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        key = self.key_at(event.position().toPoint())
        if key is not None and event.button() == Qt.MouseButton.LeftButton:
            self.bandClicked.emit(key)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        key = self.key_at(event.position().toPoint())
        if key is not None and self.river is not None:
            QToolTip.showText(event.globalPosition().toPoint(), describe(self.river, key), self)
            self.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
        else:
            QToolTip.hideText()
            self.viewport().unsetCursor()
        super().mouseMoveEvent(event)

    def set_highlight(self, key: tuple[int, str, int] | None) -> None:
        if self.highlight is not None:
            self.scene().removeItem(self.highlight)
            self.highlight = None
        if key is None or self.river is None:
            return
        colour = QColor("#ffcc00")
        colour.setAlpha(200)
        self.highlight = self.scene().addPath(key_path(self.river, key), QPen(QColor("#000000"), 1.5), QBrush(colour))
        self.highlight.setZValue(3)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit()

    def fit(self) -> None:
        rect = self.scene().itemsBoundingRect()
        if not rect.isEmpty():
            self.fitInView(rect.adjusted(-10, -10, 10, 10), Qt.AspectRatioMode.IgnoreAspectRatio)


def draw_river(scene: QGraphicsScene, r: River) -> int:
    """Fill ``scene`` with ``r`` (cleared first); returns the number of items."""
    scene.clear()
    grey = QColor("#9a9a9a")
    grey.setAlpha(110)
    colours = [QColor(name) for name in _PALETTE]
    for colour in colours:
        colour.setAlpha(110)
    none = QPen(Qt.PenStyle.NoPen)
    n = 0
    for i, f in enumerate(r.flows):
        xa, xb = _pair_x(i)
        sy0, sy1, dy0, dy1 = f.sy0 * HEIGHT, f.sy1 * HEIGHT, f.dy0 * HEIGHT, f.dy1 * HEIGHT
        paths = [QPainterPath() for _ in colours]
        for b in range(len(f.src)):
            band_path(xa, xb, sy0[b], sy1[b], dy0[b], dy1[b], paths[int(f.src[b]) % len(colours)])
        for path, colour in zip(paths, colours):
            if not path.isEmpty():
                scene.addPath(path, none, QBrush(colour))
                n += 1
        stubs = QPainterPath()
        stub = (xb - xa) * 0.3
        for j in range(len(f.out_cluster)):
            stubs.addRect(QRectF(xa, f.out_y0[j] * HEIGHT, stub, (f.out_y1[j] - f.out_y0[j]) * HEIGHT))
        for j in range(len(f.in_cluster)):
            stubs.addRect(QRectF(xb - stub, f.in_y0[j] * HEIGHT, stub, (f.in_y1[j] - f.in_y0[j]) * HEIGHT))
        if not stubs.isEmpty():
            scene.addPath(stubs, none, QBrush(grey))
            n += 1
    node_brush = QBrush(QColor("#333333"))
    for i, col in enumerate(r.columns):
        x = i * COLUMN_STEP - NODE_W / 2
        p = QPainterPath()
        for a, b in zip(col.y0 * HEIGHT, col.y1 * HEIGHT):
            p.addRect(QRectF(x, a, NODE_W, max(b - a, 0.5)))
        node = scene.addPath(p, none, node_brush)
        node.setZValue(1)
        label = QGraphicsSimpleTextItem(str(col.epoch))
        label.setPos(x, HEIGHT + 6)
        scene.addItem(label)
        n += 2
    return n


class RiverPanel(QWidget):
    """The river of the session's last epochs, with a status line; a view of the model."""

    showImagesRequested = Signal()

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.view = RiverView()
        self.view.bandClicked.connect(self._on_band)
        self.status = wrapped_label("")
        self.bands = QSpinBox()
        self.bands.setRange(1, 1000)
        self.bands.setValue(MAX_BANDS)
        self.bands.setToolTip("Bands drawn between two epochs (the largest flows); the rest of each cluster is a grey stub")
        self.bands.valueChanged.connect(lambda _v: self.reload())
        top = hbox((self.status, 1), QLabel("Bands per epoch pair:"), self.bands)
        vbox(top, (self.view, 1), parent=self, margins=0)
        self.river: River | None = None
        self.draw_seconds = 0.0
        self.selected_band = ""
        self._worker: Any = None
        self._generation = 0
        model.sessionChanged.connect(self.reload)
        model.epochsChanged.connect(lambda _n: self.reload())
        self.reload()

    def reload(self) -> None:
        """Recompute the river on a worker (it reads the epochs' assignments)."""
        from dcgui.gui.worker import GeneratorWorker, session_job

        self._generation += 1
        generation = self._generation
        store = self.model.store
        if store is None or store.last_epoch() < 2:
            self.view.scene().clear()
            self.view.river = self.river = None
            self.status.setText("The river appears after the second epoch: it shows how images move between clusters.")
            return
        path, last, max_bands = store.path, store.last_epoch(), self.bands.value()

        def compute(s: Any, control: Any) -> Any:
            first = max(1, last - MAX_COLUMNS + 1)
            arrays = []
            for e in range(first, last + 1):
                control.check()
                arrays.append(s.assignments(e))
                yield None
            k = max(int(s.cluster_sizes(last).size), int(max(int(a.max(initial=0)) for a in arrays)) + 1)
            return river(arrays, k, first_epoch=first, max_bands=max_bands)

        self.status.setText("Computing the river…")
        worker = GeneratorWorker(
            session_job(path, compute), name="river",
            returned=lambda r, g=generation: self._show(r) if g == self._generation else None,
            errored=lambda err, g=generation: self.status.setText(f"The river could not be computed: {err.message}")
            if g == self._generation else None)
        self._worker = worker
        worker.start()

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Block until the worker ended (tests only)."""
        return self._worker.wait(timeout_ms) if self._worker is not None else True

    def _show(self, r: River) -> None:
        t0 = time.perf_counter()
        self.river = r
        self.view.set_river(r)
        self.draw_seconds = time.perf_counter() - t0
        cols = r.columns
        self.status.setText(f"Epochs {cols[0].epoch}–{cols[-1].epoch}: {sum(len(f.src) for f in r.flows):,} bands. "
                            "Click a band to see its images in the Clusters grid; hover for the count.")

    def band_point(self, key: tuple[int, str, int]) -> QPointF:
        """A scene point inside band (or stub) ``key`` where no other band lies over it: just
        right of its source node, where the bands of a node are stacked side by side."""
        assert self.river is not None
        pair, kind, j = key
        f = self.river.flows[pair]
        xa, xb = _pair_x(pair)
        if kind == "band":
            return QPointF(xa + 2, (f.sy0[j] + f.sy1[j]) / 2 * HEIGHT)
        if kind == "out":
            return QPointF(xa + 2, (f.out_y0[j] + f.out_y1[j]) / 2 * HEIGHT)
        return QPointF(xb - 2, (f.in_y0[j] + f.in_y1[j]) / 2 * HEIGHT)

    def _on_band(self, key: tuple[int, str, int]) -> None:
        r, store = self.river, self.model.store
        if r is None or store is None:
            return
        pair, kind, j = key
        f: Flows = r.flows[pair]
        a, b = store.assignments(f.epoch), store.assignments(f.epoch + 1)
        if kind == "band":
            members = band_members(a, b, f, band=j)
            what = f"cluster {int(f.src[j])} (epoch {f.epoch}) → cluster {int(f.dst[j])} (epoch {f.epoch + 1})"
        elif kind == "out":
            members = band_members(a, b, f, other_from=int(f.out_cluster[j]))
            what = f"cluster {int(f.out_cluster[j])} (epoch {f.epoch}) → smaller flows"
        else:
            members = band_members(a, b, f, other_into=int(f.in_cluster[j]))
            what = f"smaller flows → cluster {int(f.in_cluster[j])} (epoch {f.epoch + 1})"
        self.view.set_highlight(key)
        self.selected_band = what
        self.status.setText(f"{len(members):,} images: {what}. Shown in the Clusters grid.")
        self.model.select_images(np.asarray(members).tolist(), "river")
        self.showImagesRequested.emit()
