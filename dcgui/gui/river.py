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
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QMouseEvent, QPainter, QPainterPath, QPen, QResizeEvent
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dcgui.core.analysis.river import MAX_BANDS, Flows, River, band_members, river
from dcgui.gui.session_model import SessionModel

MAX_COLUMNS = 40  # epochs drawn (the last ones); more would make every band a hairline
COLUMN_STEP = 140.0  # scene units between two epochs
HEIGHT = 600.0
NODE_W = 8.0
_PALETTE = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22"]


class _BandItem(QGraphicsPathItem):
    """One band or stub; ``key``: (pair index, "band" | "out" | "in", index)."""

    def __init__(self, path: QPainterPath, key: tuple[int, str, int], colour: QColor, tip: str) -> None:
        super().__init__(path)
        self.key = key
        self.base = colour
        self.setBrush(QBrush(colour))
        self.setPen(QPen(Qt.PenStyle.NoPen))
        self.setToolTip(tip)
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def set_highlight(self, on: bool) -> None:
        c = QColor(self.base)
        c.setAlpha(230 if on else self.base.alpha())
        self.setBrush(QBrush(c))
        self.setPen(QPen(QColor("#000000"), 1.2) if on else QPen(Qt.PenStyle.NoPen))
        self.setZValue(2 if on else 0)


class RiverView(QGraphicsView):
    bandClicked = Signal(object)  # _BandItem.key

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        item = self.itemAt(event.position().toPoint())
        if isinstance(item, _BandItem) and event.button() == Qt.MouseButton.LeftButton:
            self.bandClicked.emit(item.key)
            event.accept()
            return
        super().mousePressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit()

    def fit(self) -> None:
        rect = self.scene().itemsBoundingRect()
        if not rect.isEmpty():
            self.fitInView(rect.adjusted(-10, -10, 10, 10), Qt.AspectRatioMode.IgnoreAspectRatio)


def draw_river(scene: QGraphicsScene, r: River) -> dict[tuple[int, str, int], _BandItem]:
    """Fill ``scene`` with ``r`` (cleared first); returns the clickable items by key."""
    scene.clear()
    items: dict[tuple[int, str, int], _BandItem] = {}
    grey = QColor("#9a9a9a")
    grey.setAlpha(110)
    colours = [QColor(c) for c in _PALETTE]
    for c in colours:
        c.setAlpha(110)
    for i, f in enumerate(r.flows):
        xa, xb = i * COLUMN_STEP + NODE_W / 2, (i + 1) * COLUMN_STEP - NODE_W / 2
        mid = (xa + xb) / 2
        sy0, sy1, dy0, dy1 = f.sy0 * HEIGHT, f.sy1 * HEIGHT, f.dy0 * HEIGHT, f.dy1 * HEIGHT
        for b in range(len(f.src)):
            p = QPainterPath()
            p.moveTo(xa, sy0[b])
            p.cubicTo(mid, sy0[b], mid, dy0[b], xb, dy0[b])
            p.lineTo(xb, dy1[b])
            p.cubicTo(mid, dy1[b], mid, sy1[b], xa, sy1[b])
            p.closeSubpath()
            src, dst, n = int(f.src[b]), int(f.dst[b]), int(f.count[b])
            tip = f"{n} image{'s' if n != 1 else ''}: cluster {src} (epoch {f.epoch}) → cluster {dst} (epoch {f.epoch + 1})"
            item = _BandItem(p, (i, "band", b), colours[src % len(colours)], tip)
            scene.addItem(item)
            items[item.key] = item
        stub = (xb - xa) * 0.3
        for j in range(len(f.out_cluster)):
            p = QPainterPath()
            p.addRect(QRectF(xa, f.out_y0[j] * HEIGHT, stub, (f.out_y1[j] - f.out_y0[j]) * HEIGHT))
            c, n = int(f.out_cluster[j]), int(f.out_count[j])
            item = _BandItem(p, (i, "out", j), grey, f"{n} image{'s' if n != 1 else ''} of cluster {c} (epoch {f.epoch}) "
                             "in smaller flows")
            scene.addItem(item)
            items[item.key] = item
        for j in range(len(f.in_cluster)):
            p = QPainterPath()
            p.addRect(QRectF(xb - stub, f.in_y0[j] * HEIGHT, stub, (f.in_y1[j] - f.in_y0[j]) * HEIGHT))
            c, n = int(f.in_cluster[j]), int(f.in_count[j])
            item = _BandItem(p, (i, "in", j), grey, f"{n} image{'s' if n != 1 else ''} of cluster {c} (epoch "
                             f"{f.epoch + 1}) from smaller flows")
            scene.addItem(item)
            items[item.key] = item
    node_brush = QBrush(QColor("#333333"))
    for i, col in enumerate(r.columns):
        x = i * COLUMN_STEP - NODE_W / 2
        p = QPainterPath()
        for a, b in zip(col.y0 * HEIGHT, col.y1 * HEIGHT):
            p.addRect(QRectF(x, a, NODE_W, max(b - a, 0.5)))
        node = scene.addPath(p, QPen(Qt.PenStyle.NoPen), node_brush)
        node.setZValue(1)
        label = QGraphicsSimpleTextItem(str(col.epoch))
        label.setPos(x, HEIGHT + 6)
        scene.addItem(label)
    return items


class RiverPanel(QWidget):
    """The river of the session's last epochs, with a status line; a view of the model."""

    showImagesRequested = Signal()

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.view = RiverView()
        self.view.bandClicked.connect(self._on_band)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.bands = QSpinBox()
        self.bands.setRange(1, 1000)
        self.bands.setValue(MAX_BANDS)
        self.bands.setToolTip("Bands drawn between two epochs (the largest flows); the rest of each cluster is a grey stub")
        self.bands.valueChanged.connect(lambda _v: self.reload())
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(QLabel("Bands per epoch pair:"))
        top.addWidget(self.bands)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        self.river: River | None = None
        self.items: dict[tuple[int, str, int], _BandItem] = {}
        self.draw_seconds = 0.0
        self._selected: _BandItem | None = None
        self._worker: Any = None
        self._generation = 0
        model.sessionChanged.connect(self.reload)
        model.epochsChanged.connect(lambda _n: self.reload())
        self.reload()

    def reload(self) -> None:
        """Recompute the river on a worker (it reads the epochs' assignments)."""
        from dcgui.gui.worker import GeneratorWorker

        self._generation += 1
        generation = self._generation
        store = self.model.store
        if store is None or store.last_epoch() < 2:
            self.view.scene().clear()
            self.items, self.river = {}, None
            self.status.setText("The river appears after the second epoch: it shows how images move between clusters.")
            return
        path, last, max_bands = store.path, store.last_epoch(), self.bands.value()

        def factory(control: Any) -> Any:
            from dcgui.store import SessionStore

            s = SessionStore.open(path, readonly=True)
            try:
                first = max(1, last - MAX_COLUMNS + 1)
                arrays = []
                for e in range(first, last + 1):
                    control.check()
                    arrays.append(s.assignments(e))
                    yield None
                k = max(int(s.cluster_sizes(last).size), int(max(int(a.max(initial=0)) for a in arrays)) + 1)
                return river(arrays, k, first_epoch=first, max_bands=max_bands)
            finally:
                s.close()

        self.status.setText("Computing the river…")
        worker = GeneratorWorker(factory, name="river")
        worker.returned.connect(lambda r, g=generation: self._show(r) if g == self._generation else None)
        worker.errored.connect(lambda err, g=generation: self.status.setText(f"The river could not be computed: {err.message}")
                               if g == self._generation else None)
        self._worker = worker
        worker.start()

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Block until the worker ended (tests only)."""
        return self._worker.wait(timeout_ms) if self._worker is not None else True

    def _show(self, r: River) -> None:
        t0 = time.perf_counter()
        self.river = r
        self._selected = None
        self.items = draw_river(self.view.scene(), r)
        self.view.fit()
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
        xa, xb = pair * COLUMN_STEP + NODE_W / 2, (pair + 1) * COLUMN_STEP - NODE_W / 2
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
        if self._selected is not None:
            self._selected.set_highlight(False)
        self._selected = self.items.get(key)
        if self._selected is not None:
            self._selected.set_highlight(True)
        self.selected_band = what
        self.status.setText(f"{len(members):,} images: {what}. Shown in the Clusters grid.")
        self.model.select_images(np.asarray(members).tolist(), "river")
        self.showImagesRequested.emit()
