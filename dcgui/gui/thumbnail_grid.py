"""The thumbnail grid: a virtualised icon view over the image indices of one cluster.

The model holds only an int64 array of image indices (10k or 100k rows cost 80-800 kB); the
delegate paints a placeholder and asks the shared :class:`AsyncPixmapCache` for the row's
thumbnail, which arrives later through ``dataChanged`` for exactly that row. Nothing slow runs
in ``paint()``: a dictionary lookup and one ``drawPixmap``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence, Sized

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
    QPolygonF,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from dcgui.core.pathtext import printable
from dcgui.gui.thumbnails import AsyncPixmapCache, fit_rect, paint_placeholder

ImageIndexRole = Qt.ItemDataRole.UserRole + 1
ThumbnailRole = Qt.ItemDataRole.UserRole + 2  # the cached QPixmap, or None (never triggers a load)
FlagRole = Qt.ItemDataRole.UserRole + 3  # "keep" / "exclude" / "duplicate" / None
PathRole = Qt.ItemDataRole.UserRole + 4  # path relative to the session's folder
ErrorRole = Qt.ItemDataRole.UserRole + 5  # why the thumbnail could not be loaded
LabelRole = Qt.ItemDataRole.UserRole + 6  # ground-truth label name, or None

FLAG_COLOURS = {"keep": QColor(46, 160, 67), "exclude": QColor(218, 54, 51), "duplicate": QColor(219, 140, 20)}
MIN_THUMB, MAX_THUMB, DEFAULT_THUMB = 48, 256, 112
LAYOUT_BATCH = 2000


class ThumbnailGridModel(QAbstractListModel):
    """Rows are image indices (int64 array); roles expose thumbnail, flag, path and label."""

    def __init__(self, loader: AsyncPixmapCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self._indices = np.zeros(0, dtype=np.int64)
        self._sorted = True
        self._order = np.zeros(0, dtype=np.int64)  # argsort of _indices when not ascending
        self._n = 0
        self._flags: dict[int, str] = {}
        self._paths: Sequence[str] = ()
        self._labels: np.ndarray | None = None
        self._label_names: Sequence[str] = ()
        self._captions: Sequence[str] | None = None  # one per row (similarity, rank...), or none
        self._tips: Sequence[str] | None = None  # extra tooltip line per row
        loader.ready.connect(self._on_ready)
        loader.sourceChanged.connect(self._on_source)

    # -- content ---------------------------------------------------------------------------------
    def set_images(self, indices: np.ndarray | Sequence[int], captions: Sequence[str] | None = None,
                   tooltips: Sequence[str] | None = None) -> None:
        """Show these image indices (a cluster's members, a search result), in this order, with an
        optional caption and tooltip line per row."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        for what, seq in (("captions", captions), ("tooltips", tooltips)):
            if seq is not None and len(seq) != idx.size:
                raise ValueError(f"{len(seq)} {what} for {idx.size} images: give one per image")
        self.beginResetModel()
        self._captions = list(captions) if captions is not None else None
        self._tips = list(tooltips) if tooltips is not None else None
        self._indices = idx
        self._n = int(idx.size)
        self._sorted = bool(idx.size < 2 or np.all(idx[1:] > idx[:-1]))
        self._order = np.zeros(0, dtype=np.int64) if self._sorted else np.argsort(idx, kind="stable")
        self.endResetModel()

    def set_metadata(self, paths: Sequence[str], labels: np.ndarray | None, label_names: Sequence[str]) -> None:
        """Per-image paths and labels of the session (for tooltips and the image pane)."""
        self._paths = paths
        self._labels = labels
        self._label_names = label_names

    def set_flags(self, flags: dict[int, str]) -> None:
        """Replace the image flags; repaint the rows whose flag changed."""
        old, self._flags = self._flags, dict(flags)
        changed = [i for i in set(old) | set(self._flags) if old.get(i) != self._flags.get(i)]
        self._emit_rows([r for r in map(self.row_of, changed) if r is not None], [FlagRole])

    def update_flags(self, flags: dict[int, str], changed: Iterable[int]) -> None:
        """Take the flags of the images ``changed`` from ``flags``; repaint their rows (O(changed)).
        More changes than rows (a bulk edit of 100k images): a copy and one repaint of every row,
        which is faster than 100k lookups."""
        if not isinstance(changed, Sized):
            changed = list(changed)
        if len(changed) > max(2000, self._n):
            self._flags = dict(flags)
            if self._n:
                self.dataChanged.emit(self.index(0), self.index(self._n - 1), [FlagRole])
            return
        rows = []
        for i in changed:
            flag = flags.get(int(i))
            if flag is None:
                self._flags.pop(int(i), None)
            else:
                self._flags[int(i)] = flag
            row = self.row_of(int(i))
            if row is not None:
                rows.append(row)
        self._emit_rows(rows, [FlagRole])

    @property
    def indices(self) -> np.ndarray:
        return self._indices

    def image_index(self, row: int) -> int:
        return int(self._indices[row])

    def row_of(self, image_index: Hashable) -> int | None:
        """The row showing ``image_index``, or None (O(log n))."""
        if not isinstance(image_index, int | np.integer) or self._n == 0:
            return None
        if self._sorted:
            row = int(np.searchsorted(self._indices, image_index))
            return row if row < self._n and self._indices[row] == image_index else None
        pos = int(np.searchsorted(self._indices, image_index, sorter=self._order))
        if pos < self._n and self._indices[self._order[pos]] == image_index:
            return int(self._order[pos])
        return None

    def set_captions(self, captions: Sequence[str]) -> None:
        """New captions for the rows shown (e.g. a flag was set): repaints, keeps the selection."""
        if len(captions) != self._n:
            raise ValueError(f"{len(captions)} captions for {self._n} images: give one per image")
        self._captions = list(captions)
        if self._n:
            self.dataChanged.emit(self.index(0), self.index(self._n - 1), [Qt.ItemDataRole.DisplayRole])

    def flag(self, image_index: int) -> str | None:
        return self._flags.get(int(image_index))

    def path(self, image_index: int) -> str | None:
        return self._paths[image_index] if 0 <= image_index < len(self._paths) else None

    def label(self, image_index: int) -> str | None:
        if self._labels is None or not 0 <= image_index < len(self._labels):
            return None
        lab = int(self._labels[image_index])
        return self._label_names[lab] if 0 <= lab < len(self._label_names) else None

    # -- Qt model interface ------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        # Called twice per item during layout: keep it trivial.
        return 0 if parent.isValid() else self._n

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        row = index.row()
        if not index.isValid() or row >= self._n:
            return None
        i = int(self._indices[row])
        if role == ImageIndexRole:
            return i
        if role == ThumbnailRole:
            return self.loader.pixmap(i)
        if role == FlagRole:
            return self._flags.get(i)
        if role == PathRole:
            return self.path(i)
        if role == LabelRole:
            return self.label(i)
        if role == ErrorRole:
            return self.loader.error(i)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._captions[row] if self._captions is not None else None
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [printable(self.path(i) or f"image {i}")]  # Qt drops bytes that are not UTF-8
            if self._tips is not None and self._tips[row]:
                lines.append(self._tips[row])
            label = self.label(i)
            if label:
                lines.append(f"label: {label}")
            if i in self._flags:
                lines.append(f"flag: {self._flags[i]}")
            err = self.loader.error(i)
            if err:
                lines.append(f"thumbnail: {err}")
            return "\n".join(lines)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return printable(self.path(i) or "")
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # -- internals ---------------------------------------------------------------------------------
    def _on_ready(self, keys: list[Hashable]) -> None:
        self._emit_rows([r for r in map(self.row_of, keys) if r is not None], [ThumbnailRole])

    def _on_source(self) -> None:
        if self._n:  # every row repaints and asks the new source for its thumbnail
            self.dataChanged.emit(self.index(0), self.index(self._n - 1), [ThumbnailRole])

    def _emit_rows(self, rows: list[int], roles: list[int]) -> None:
        """dataChanged for exactly these rows, merged into contiguous ranges."""
        if not rows:
            return
        rows.sort()
        start = prev = rows[0]
        for r in [*rows[1:], None]:
            if r is not None and r == prev + 1:
                prev = r
                continue
            self.dataChanged.emit(self.index(start), self.index(prev), roles)
            if r is not None:
                start = prev = r


class ThumbnailDelegate(QStyledItemDelegate):
    """Paints the thumbnail (or a placeholder while it loads), selection and the flag badge."""

    def __init__(self, loader: AsyncPixmapCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.thumb_size = DEFAULT_THUMB
        self.padding = 4
        self.painted_pixmaps = 0  # counters for the view's framePainted signal
        self.painted_placeholders = 0
        self.caption_lines = 0  # lines of text under each thumbnail (0: none)
        self._line_height = QFontMetrics(parent.font() if parent is not None else QFont()).height()

    def caption_height(self) -> int:
        return self.caption_lines * self._line_height

    def cell_size(self) -> QSize:
        side = self.thumb_size + 2 * self.padding
        return QSize(side, side + self.caption_height())

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.cell_size()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        key = index.data(ImageIndexRole)
        if key is None:
            return
        model = index.model()
        flag = model.flag(key) if isinstance(model, ThumbnailGridModel) else index.data(FlagRole)
        cell = QRect(option.rect)  # type: ignore[attr-defined]
        caption_h = self.caption_height()
        box = cell.adjusted(self.padding, self.padding, -self.padding, -self.padding - caption_h)
        palette: QPalette = option.palette  # type: ignore[attr-defined]
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if selected:
            hl = palette.color(QPalette.ColorRole.Highlight)
            fill = QColor(hl)
            fill.setAlpha(70)
            path = QPainterPath()
            path.addRoundedRect(QRectF(cell).adjusted(1, 1, -1, -1), 5, 5)
            painter.fillPath(path, fill)
        pixmap = self.loader.request(key)  # lazy: only rows being painted are ever loaded
        if pixmap is not None:
            target = fit_rect(pixmap.deviceIndependentSize().toSize(), box)
            if flag == "exclude":
                painter.setOpacity(0.4)
            painter.drawPixmap(target, pixmap, QRectF(pixmap.rect()))
            painter.setOpacity(1.0)
            self.painted_pixmaps += 1
        else:
            paint_placeholder(painter, box, palette, failed=self.loader.error(key) is not None)
            self.painted_placeholders += 1
        if selected:
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 2.5))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(cell).adjusted(2, 2, -2, -2), 5, 5)
        if flag:
            paint_flag_badge(painter, box, flag)
        if caption_h:
            text = index.data(Qt.ItemDataRole.DisplayRole)
            if text:
                painter.setPen(palette.color(QPalette.ColorRole.Text))
                area = QRect(cell.left() + 2, box.bottom() + 2, cell.width() - 4, caption_h)
                fm = painter.fontMetrics()
                lines = [fm.elidedText(t, Qt.TextElideMode.ElideRight, area.width())
                         for t in str(text).splitlines()[: self.caption_lines]]
                painter.drawText(area, int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop), "\n".join(lines))
        painter.restore()


def paint_flag_badge(painter: QPainter, box: QRect, flag: str) -> None:
    """A round badge in the top-right corner: check (keep), cross (exclude), two squares (duplicate).

    Drawn with lines, not glyphs, so it looks the same whatever fonts are installed.
    """
    d = max(12.0, min(22.0, box.width() * 0.2))
    r = QRectF(box.right() - d - 1, box.top() + 1, d, d)
    painter.setPen(QPen(QColor(255, 255, 255), 1.5))
    painter.setBrush(FLAG_COLOURS.get(flag, QColor(120, 120, 120)))
    painter.drawEllipse(r)
    pen = QPen(QColor(255, 255, 255), max(1.5, d / 9))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    x, y = r.x(), r.y()
    if flag == "keep":
        painter.drawPolyline(QPolygonF([QPointF(x + d * 0.28, y + d * 0.52), QPointF(x + d * 0.44, y + d * 0.68),
                                        QPointF(x + d * 0.72, y + d * 0.34)]))
    elif flag == "exclude":
        a, b = d * 0.32, d * 0.68
        painter.drawLine(QPointF(x + a, y + a), QPointF(x + b, y + b))
        painter.drawLine(QPointF(x + a, y + b), QPointF(x + b, y + a))
    else:
        s = d * 0.3
        painter.drawRect(QRectF(x + d * 0.26, y + d * 0.26, s, s))
        painter.drawRect(QRectF(x + d * 0.44, y + d * 0.44, s, s))


class ThumbnailGrid(QListView):
    """A virtualised icon grid with uniform cells, multi-selection and Ctrl+wheel zoom."""

    framePainted = Signal(int, int)  # rows painted with a thumbnail, rows painted as placeholder
    thumbSizeChanged = Signal(int)

    imageActivated = Signal(int)  # double-click or Enter on an image

    def __init__(self, loader: AsyncPixmapCache, parent: QWidget | None = None, caption_lines: int = 0,
                 thumb_size: int = DEFAULT_THUMB) -> None:
        super().__init__(parent)
        self.loader = loader
        self._model = ThumbnailGridModel(loader, self)
        self._delegate = ThumbnailDelegate(loader, self)
        self._delegate.caption_lines = caption_lines
        self._delegate.thumb_size = int(max(MIN_THUMB, min(MAX_THUMB, thumb_size)))
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)  # no drag-to-rearrange: rows are the cluster's order
        self.setResizeMode(QListView.ResizeMode.Adjust)
        # Batched: the first screen is laid out and painted at once, the rest of a 100k cluster
        # follows in slices between events (one pass over 100k rows takes ~0.3-0.8 s).
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(LAYOUT_BATCH)
        self.setUniformItemSizes(True)
        self.setWrapping(True)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setSpacing(0)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionRectVisible(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setDragEnabled(False)
        self.setMouseTracking(False)
        self.setItemDelegate(self._delegate)
        self.setModel(self._model)
        self._apply_size()
        wanted = self._is_wanted
        loader.add_wanted(wanted)
        self.destroyed.connect(lambda *_: loader.remove_wanted(wanted))
        self.activated.connect(lambda ix: self.imageActivated.emit(self._model.image_index(ix.row())))

    # -- API ----------------------------------------------------------------------------------
    def grid_model(self) -> ThumbnailGridModel:
        return self._model

    @property
    def thumb_size(self) -> int:
        return self._delegate.thumb_size

    def set_thumb_size(self, px: int) -> None:
        px = int(max(MIN_THUMB, min(MAX_THUMB, px)))
        if px == self._delegate.thumb_size:
            return
        current = self.currentIndex()
        self._delegate.thumb_size = px
        self._apply_size()
        if current.isValid():
            self.scrollTo(current, QAbstractItemView.ScrollHint.PositionAtCenter)
        self.thumbSizeChanged.emit(px)

    def zoom_in(self) -> None:
        self.set_thumb_size(round(self.thumb_size * 1.25))

    def zoom_out(self) -> None:
        self.set_thumb_size(round(self.thumb_size / 1.25))

    def current_image(self) -> int | None:
        """Image index of the current row (the keyboard focus), None when there is none."""
        current = self.currentIndex()
        return self._model.image_index(current.row()) if current.isValid() else None

    def selected_images(self) -> list[int]:
        """Image indices of the selected rows, in row order."""
        rows = sorted(ix.row() for ix in self.selectionModel().selectedIndexes())
        return [self._model.image_index(r) for r in rows]

    def set_images(self, indices: np.ndarray | Sequence[int], captions: Sequence[str] | None = None,
                   tooltips: Sequence[str] | None = None) -> None:
        """Show these images (see ``ThumbnailGridModel.set_images``), scrolled to the top."""
        self.loader.discard_pending()  # the previous list's queued thumbnails are stale
        self._model.set_images(indices, captions, tooltips)
        self.scrollToTop()

    def image_indices(self) -> list[int]:
        return [int(i) for i in self._model.indices]

    def select_images(self, indices: Sequence[int] | np.ndarray, current: int | None = None) -> None:
        """Select the rows showing ``indices`` (others are deselected), without emitting twice."""
        sel = self.selectionModel()
        selection = QItemSelection()
        for i in indices:
            row = self._model.row_of(int(i))
            if row is not None:
                ix = self._model.index(row)
                selection.select(ix, ix)
        sel.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        row = self._model.row_of(int(current)) if current is not None else None
        if row is not None:
            ix = self._model.index(row)
            sel.setCurrentIndex(ix, QItemSelectionModel.SelectionFlag.NoUpdate)
            self.scrollTo(ix)

    def has_thumbnail(self, image_index: int) -> bool:
        """True once the real thumbnail (not the placeholder) can be painted for this image."""
        return self._model.row_of(int(image_index)) is not None and self.loader.pixmap(int(image_index)) is not None

    def visible_rows(self) -> range:
        """Rows whose cells intersect the viewport (arithmetic on the uniform grid)."""
        n = self._model.rowCount()
        if n == 0:
            return range(0)
        self.executeDelayedItemsLayout()  # a fresh model is laid out lazily: geometry first
        first = self.visualRect(self._model.index(0))
        grid = self.gridSize()
        cols = max(1, (self.viewport().width() - first.left()) // max(1, grid.width()))
        top = -first.top()  # content offset of the viewport's top edge
        line0 = max(0, top // grid.height())
        line1 = (top + self.viewport().height()) // grid.height()
        return range(min(n, line0 * cols), min(n, (line1 + 1) * cols))

    # -- internals ----------------------------------------------------------------------------
    def _apply_size(self) -> None:
        cell = self._delegate.cell_size()
        self.setGridSize(self._fitted(cell))
        self.setIconSize(QSize(self._delegate.thumb_size, self._delegate.thumb_size))
        self.verticalScrollBar().setSingleStep(max(8, cell.height() // 3))
        self.doItemsLayout()

    def _fitted(self, cell: QSize) -> QSize:
        """Cells widened so the columns fill the viewport: no empty strip at the right edge."""
        avail = self.viewport().width() - 1
        cols = max(1, avail // max(1, cell.width()))
        return QSize(max(cell.width(), avail // cols), cell.height())

    def resizeEvent(self, e: QResizeEvent) -> None:
        super().resizeEvent(e)
        grid = self._fitted(self._delegate.cell_size())
        if grid != self.gridSize():
            self.setGridSize(grid)

    def _is_wanted(self, key: Hashable) -> bool:
        """Still worth decoding: the row exists and is on screen (or within a screen of it)."""
        row = self._model.row_of(key)
        if row is None or not self.isVisible():
            return False
        rect = self.visualRect(self._model.index(row))
        h = self.viewport().height()
        return rect.intersects(self.viewport().rect().adjusted(0, -h, 0, h))

    def paintEvent(self, e: QPaintEvent) -> None:
        self._delegate.painted_pixmaps = 0
        self._delegate.painted_placeholders = 0
        super().paintEvent(e)
        self.framePainted.emit(self._delegate.painted_pixmaps, self._delegate.painted_placeholders)

    def wheelEvent(self, e: QWheelEvent) -> None:
        if e.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = e.angleDelta().y() / 120
            if steps > 0:
                self.zoom_in()
            elif steps < 0:
                self.zoom_out()
            e.accept()
            return
        super().wheelEvent(e)
