"""The 2-D map of a collection: every image as a point (pyqtgraph), lasso/rectangle selection.

Stays usable at 100k points: one ``ScatterPlotItem`` per colour in pixel mode, each filled
with ``setData`` from coordinate arrays and a single brush (pyqtgraph's vectorised path; a brush
per point costs a Python loop per point), no pens, no antialiasing. Hover uses a KD-tree (not pyqtgraph's per-item hit test)
and shows the image's thumbnail next to the cursor. Selections are polygons in data
coordinates, tested with ``dcgui.core.analysis.maps.points_in_polygon``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QFrame, QLabel, QWidget

from dcgui.core.analysis.maps import points_in_polygon
from dcgui.gui.layout import vbox
from dcgui.gui.thumbnails import AsyncPixmapCache

MODES = ("pan", "lasso", "rect")
HOVER_RADIUS_PX = 8
POINT_SIZE = 6
UNASSIGNED = QColor(150, 150, 150)


def palette(n: int) -> list[QColor]:
    """``n`` distinguishable colours: golden-ratio hues, alternating saturation and value.

    Above 512 ids the colours repeat (k = 10,000 clusters cannot all be told apart by colour;
    neighbouring clusters still differ)."""
    out = []
    for i in range(max(0, min(n, 512))):
        hue = (i * 0.618033988749895) % 1.0
        sat = 0.55 + 0.35 * ((i // 2) % 2)
        val = 0.95 - 0.2 * (i % 2)
        out.append(QColor.fromHsvF(hue, sat, val))
    return out


class _SelectViewBox(pg.ViewBox):
    """A view box whose left-drag draws a lasso or a rectangle instead of panning, by mode."""

    def __init__(self, owner: MapView) -> None:
        super().__init__()
        self._owner = owner
        self.mode = "pan"
        self._path: list[tuple[float, float]] = []
        self._last_scene: QPointF | None = None

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:
        if self.mode == "pan" or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        scene = ev.scenePos()
        if ev.isStart():
            start = self.mapSceneToView(ev.buttonDownScenePos())
            self._path = [(start.x(), start.y())]
            self._last_scene = ev.buttonDownScenePos()
        # a vertex every 3 screen pixels keeps long lassos cheap to test
        if self._last_scene is None or (scene - self._last_scene).manhattanLength() >= 3 or ev.isFinish():
            p = self.mapSceneToView(scene)
            self._path.append((p.x(), p.y()))
            self._last_scene = scene
        polygon = self.current_polygon()
        self._owner._show_outline(polygon)
        if ev.isFinish():
            add = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            self._owner._finish_drag(polygon, add)
            self._path = []

    def current_polygon(self) -> np.ndarray:
        path = np.array(self._path, dtype=np.float64).reshape(-1, 2)
        if self.mode == "rect" and len(path) >= 2:
            (x0, y0), (x1, y1) = path[0], path[-1]
            return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        return path


class _Preview(QFrame):
    """The hovered image: thumbnail and caption, a child of the map so it works offscreen too."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setMaximumWidth(220)
        vbox(self.image, self.caption, parent=self, margins=4, spacing=2)
        self.hide()


class MapView(QWidget):
    """Scatter of the collection's 2-D map. ``selectionChanged(list[int])`` after each selection;
    ``pointActivated(int)`` on a double-click on a point."""

    selectionChanged = Signal(list)
    pointActivated = Signal(int)

    def __init__(self, loader: AsyncPixmapCache | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loader = loader
        self.view_box = _SelectViewBox(self)
        self.plot = pg.PlotWidget(viewBox=self.view_box)
        self.plot.setAspectLocked(False)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.layers: list[pg.ScatterPlotItem] = []  # one per colour, created on demand
        self.selected_scatter = pg.ScatterPlotItem(pxMode=True, size=POINT_SIZE + 4, antialias=False,
                                                   brush=None, pen=pg.mkPen(QColor(255, 150, 0), width=2))
        self.outline = pg.PlotCurveItem(pen=pg.mkPen(QColor(230, 120, 0), width=1.5, style=Qt.PenStyle.DashLine))
        for item in (self.selected_scatter, self.outline):
            self.plot.addItem(item)
        self.legend: pg.LegendItem | None = None
        self.preview = _Preview(self.plot)
        vbox(self.plot, parent=self, margins=0)

        self.coords = np.zeros((0, 2), dtype=np.float64)
        self._selected = np.zeros(0, dtype=np.int64)
        self._tree: Any = None
        self._captions: Sequence[str] = ()
        self._colour_ids: np.ndarray | None = None
        self._colour_names: list[str] | None = None
        self._hover: int | None = None
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        if loader is not None:
            loader.ready.connect(self._on_thumbs_ready)

    # -- data ---------------------------------------------------------------------------------
    @property
    def point_count(self) -> int:
        return len(self.coords)

    def set_points(self, coords: np.ndarray, colour_ids: np.ndarray | None = None,
                   colour_names: list[str] | None = None, captions: Sequence[str] = ()) -> None:
        """Show one point per image (row i = image i); colour ``colour_ids`` (-1: grey)."""
        from scipy.spatial import cKDTree

        self.coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
        self._captions = captions
        self._tree = cKDTree(self.coords) if len(self.coords) else None
        self._selected = np.zeros(0, dtype=np.int64)
        self.selected_scatter.setData([], [])
        self.outline.setData([], [])
        self._hide_preview()
        self.set_colours(colour_ids, colour_names)
        if len(self.coords):
            self.view_box.autoRange(padding=0.05)

    def set_colours(self, colour_ids: np.ndarray | None, names: list[str] | None = None) -> None:
        """Recolour every point by id (cluster or label); ``names`` adds a legend (<= 20)."""
        n = len(self.coords)
        ids = np.full(n, -1, dtype=np.int64) if colour_ids is None else np.asarray(colour_ids, dtype=np.int64)
        if len(ids) != n:
            raise ValueError(f"{len(ids)} colour ids for {n} points: give one per image")
        self._colour_ids, self._colour_names = ids, names
        n_col = int(ids.max()) + 1 if n and ids.max() >= 0 else 0
        colours = palette(n_col)
        # One scatter item per colour, each with a single brush: pyqtgraph then takes the
        # vectorised path (per-point brushes cost a Python loop per point: ~1 s per 100k).
        slot = np.where(ids >= 0, ids % max(len(colours), 1), len(colours))
        order = np.argsort(slot, kind="stable")
        bounds = np.searchsorted(slot[order], np.arange(len(colours) + 2))
        brushes = [QBrush(c) for c in colours] + [QBrush(UNASSIGNED)]
        while len(self.layers) < len(brushes):
            layer = pg.ScatterPlotItem(pxMode=True, size=POINT_SIZE, pen=None, antialias=False)
            layer.setZValue(-1)  # under the selection outline
            self.plot.addItem(layer)
            self.layers.append(layer)
        for j, layer in enumerate(self.layers):
            members = order[bounds[j]:bounds[j + 1]] if j < len(brushes) else order[:0]
            if len(members):
                layer.setData(x=self.coords[members, 0], y=self.coords[members, 1], brush=brushes[j],
                              pen=None, size=POINT_SIZE)
                layer.show()
            else:
                layer.setData([], [])
                layer.hide()
        self._update_legend(colours, names)

    @property
    def drawn_points(self) -> int:
        """Points handed to pyqtgraph, over every colour layer."""
        return sum(len(layer.data) for layer in self.layers)

    def _update_legend(self, colours: list[QColor], names: list[str] | None) -> None:
        if self.legend is not None:
            scene = self.legend.scene()
            if scene is not None:
                scene.removeItem(self.legend)
            self.legend = None
        if not names or len(names) > 20:
            return
        self.legend = pg.LegendItem(offset=(10, 10), labelTextSize="8pt")
        self.legend.setParentItem(self.plot.getPlotItem().vb)
        for i, name in enumerate(names):
            sample = pg.ScatterPlotItem(pen=None, brush=QBrush(colours[i % len(colours)]) if colours else None,
                                        size=8)
            self.legend.addItem(sample, name)

    # -- selection ----------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """"pan" (drag pans, wheel zooms), "lasso" or "rect" (drag selects; Shift adds)."""
        if mode not in MODES:
            raise ValueError(f"map mode {mode!r} is unknown: use one of {', '.join(MODES)}")
        self.view_box.mode = mode

    @property
    def mode(self) -> str:
        return self.view_box.mode

    def selected(self) -> list[int]:
        return [int(i) for i in self._selected]

    def set_selection(self, indices: Sequence[int] | np.ndarray, emit: bool = True) -> None:
        sel = np.unique(np.asarray(indices, dtype=np.int64))
        sel = sel[(sel >= 0) & (sel < len(self.coords))]
        self._selected = sel
        if len(sel):
            self.selected_scatter.setData(x=self.coords[sel, 0], y=self.coords[sel, 1])
        else:
            self.selected_scatter.setData([], [])
        if emit:
            self.selectionChanged.emit(self.selected())

    def select_polygon(self, polygon: np.ndarray, add: bool = False) -> list[int]:
        """Select the points inside ``polygon`` (data coordinates); ``add`` keeps the old ones."""
        inside = np.flatnonzero(points_in_polygon(self.coords, polygon))
        if add:
            inside = np.union1d(self._selected, inside)
        self.set_selection(inside)
        return self.selected()

    def clear_selection(self) -> None:
        self.set_selection([])

    def _show_outline(self, polygon: np.ndarray) -> None:
        if len(polygon) >= 2:
            closed = np.vstack([polygon, polygon[:1]])
            self.outline.setData(closed[:, 0], closed[:, 1])

    def _finish_drag(self, polygon: np.ndarray, add: bool) -> None:
        self.outline.setData([], [])
        self.select_polygon(polygon, add)

    # -- hover and click ----------------------------------------------------------------------
    def point_at(self, scene_pos: QPointF) -> int | None:
        """The image under ``scene_pos`` (within a few pixels), or None."""
        if self._tree is None or not self.view_box.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.view_box.mapSceneToView(scene_pos)
        px_w, px_h = self.view_box.viewPixelSize()
        if not (px_w > 0 and px_h > 0):
            return None
        # Nearest in data units, then check in screen pixels (the axes scale differently).
        _, i = self._tree.query([p.x(), p.y()])
        i = int(i)
        dx = (self.coords[i, 0] - p.x()) / px_w
        dy = (self.coords[i, 1] - p.y()) / px_h
        return i if dx * dx + dy * dy <= HOVER_RADIUS_PX ** 2 else None

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        i = self.point_at(scene_pos)
        if i is None:
            self._hide_preview()
            return
        widget_pos = self.plot.mapFromScene(scene_pos)
        self._show_preview(i, QPoint(int(widget_pos.x()), int(widget_pos.y())))

    def _on_mouse_clicked(self, ev: Any) -> None:
        if ev.double() and ev.button() == Qt.MouseButton.LeftButton:
            i = self.point_at(ev.scenePos())
            if i is not None:
                self.pointActivated.emit(i)

    def _show_preview(self, i: int, at: QPoint) -> None:
        self._hover = i
        caption = self._captions[i] if i < len(self._captions) else f"image {i}"
        ids = self._colour_ids
        if ids is not None and ids[i] >= 0:
            name = self._colour_names[ids[i]] if self._colour_names and ids[i] < len(self._colour_names) else f"cluster {ids[i]}"
            caption = f"{caption}\n{name}"
        self.preview.caption.setText(caption)
        pixmap = self._loader.request(i) if self._loader is not None else None
        if pixmap is not None:
            self.preview.image.setPixmap(pixmap)
            self.preview.image.show()
        else:
            self.preview.image.hide()
        self.preview.adjustSize()
        x = min(at.x() + 16, max(0, self.plot.width() - self.preview.width()))
        y = min(at.y() + 16, max(0, self.plot.height() - self.preview.height()))
        self.preview.move(x, y)
        self.preview.show()
        self.preview.raise_()

    def _hide_preview(self) -> None:
        self._hover = None
        self.preview.hide()

    @property
    def hovered(self) -> int | None:
        return self._hover

    def _on_thumbs_ready(self, keys: list[Hashable]) -> None:
        if self._hover is not None and self._hover in keys and self.preview.isVisible():
            pixmap = self._loader.pixmap(self._hover) if self._loader is not None else None
            if pixmap is not None:
                self.preview.image.setPixmap(pixmap)
                self.preview.image.show()
                self.preview.adjustSize()
