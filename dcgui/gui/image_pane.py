"""The image pane: one image at full resolution, its facts, and its cluster across epochs.

The original file is decoded in a worker thread (``dcgui.core.images.imageio.load_rgb``: EXIF
orientation, any colour mode) at most at screen resolution; the GUI thread only scales the
decoded image to the pane, at the screen's device pixel ratio so it stays sharp on high-DPI
displays, and only once the user stops resizing.
"""

from __future__ import annotations

import colorsys
import html
import itertools
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QRect, QRectF, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QSizePolicy,
    QToolTip,
    QWidget,
)
from superqt import QElidingLabel
from superqt.utils import qdebounced

from dcgui.core.images.exif import PhotoFacts, photo_facts
from dcgui.core.numbers import human_bytes
from dcgui.core.pathtext import printable
from dcgui.gui.layout import Stretch, button, hbox, vbox
from dcgui.gui.thumbnails import fit_rect

if TYPE_CHECKING:
    from dcgui.store.paths import SessionPaths

DECODE_MAX_SIDE = 2560  # enough for a full-screen pane on a 4K display at scale 1.5


def cluster_colour(c: int) -> QColor:
    """A stable, well-spread colour per matched cluster id (golden-ratio hues)."""
    if c < 0:
        return QColor(150, 150, 150)
    h = (c * 0.618033988749895) % 1.0
    s = 0.55 + 0.3 * ((c * 7) % 3) / 2
    v = 0.92 - 0.18 * ((c * 5) % 2)
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return QColor.fromRgbF(r, g, b)


def decode_for_display(path: Path, max_side: int = DECODE_MAX_SIDE) -> tuple[QImage, tuple[int, int] | None]:
    """Decode ``path`` (worker thread): the display image and the original size after EXIF rotation.

    Raises ``ImageDecodeError`` whose message names the file and says what is wrong with it.
    """
    from PIL import Image

    from dcgui.core.images.imageio import load_rgb

    rgb = load_rgb(path, max_side=max_side)  # EXIF orientation applied, any mode -> RGB
    size: tuple[int, int] | None = None
    try:
        with Image.open(path) as im:  # header only: the true pixel size before draft-mode shrinking
            w, h = im.size
            size = (h, w) if im.getexif().get(0x0112, 1) in (5, 6, 7, 8) else (w, h)
    except (OSError, ValueError):
        pass  # decodable by load_rgb but odd header: the size line falls back to the cache's
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    data = rgb.tobytes()
    image = QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888).copy()
    return image, size


def session_file(paths: SessionPaths | None, rel: str, i: int) -> Path:
    """Row ``i``'s file (``rel``), checked to lie inside the session's folder; call it on the
    worker (``DisplayDecodes.decode``): a row leading outside the folder is never opened."""
    return paths.image(rel, i) if paths is not None else Path(rel)


def display_side(view: QWidget) -> int:
    """The longest side worth decoding for ``view``: its size at the screen's pixel ratio, with
    room to grow, within [512, DECODE_MAX_SIDE]."""
    px = max(view.width(), view.height()) * view.devicePixelRatioF() * 1.5
    return min(DECODE_MAX_SIDE, max(512, round(px)))


class DisplayDecodes(QObject):
    """Files decoded for display on the thread pool; only the newest batch reaches ``on_done``.

    ``begin()`` starts a batch (the results of earlier ones are dropped: the user moved on);
    ``decode(tag, path, max_side, facts)`` adds a file to it. ``on_done(tag, image, size, facts,
    error)`` runs on the GUI thread: ``image`` None with ``error`` saying why (the file's name is in
    it); ``size`` the original pixel size; ``facts`` the photo's EXIF facts when asked for.
    ``path`` is a callable run on the worker, so that a row's path is checked off the GUI thread.
    """

    _done = Signal(int, int, object, object, object, str)  # batch, tag, image, size, facts, error

    def __init__(self, on_done: Callable[[int, QImage | None, tuple[int, int] | None,
                                          PhotoFacts | None, str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._batches = itertools.count(1)
        self._batch = 0
        self._on_done = on_done
        self._done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def begin(self) -> None:
        self._batch = next(self._batches)

    def decode(self, tag: int, path: Callable[[], Path], max_side: int, facts: bool = False) -> None:
        batch, done = self._batch, self._done

        def job() -> None:
            try:
                p = path()
                image, size = decode_for_display(p, max_side)
                done.emit(batch, tag, image, size, photo_facts(p) if facts else None, "")
            except Exception as exc:  # shown in the view; the message names the file
                done.emit(batch, tag, None, None, None, str(exc) or type(exc).__name__)

        QThreadPool.globalInstance().start(job)

    def _deliver(self, batch: int, tag: int, image: QImage | None, size: tuple[int, int] | None,
                 facts: PhotoFacts | None, error: str) -> None:
        if batch == self._batch:
            self._on_done(tag, image, size, facts, error)


class ImageView(QWidget):
    """Paints one image scaled to fit, re-scaled smoothly once resizing pauses."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._scaled: QPixmap | None = None
        self._message = ""
        self._rescale_later = qdebounced(self._rescale, timeout=80, parent=self)  # once resizing pauses
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_image(self, image: QImage | None, message: str = "") -> None:
        self._image = image
        self._message = message
        self._scaled = None
        self._rescale()

    def image(self) -> QImage | None:
        return self._image

    def sizeHint(self) -> QSize:
        return QSize(320, 320)

    def _target(self) -> QRectF:
        assert self._image is not None
        return fit_rect(self._image.size(), QRectF(self.rect()).adjusted(4, 4, -4, -4))

    def _rescale(self) -> None:
        if self._image is None or self._image.isNull():
            self._scaled = None
            self.update()
            return
        target = self._target()
        dpr = self.devicePixelRatioF()
        w, h = max(1, round(target.width() * dpr)), max(1, round(target.height() * dpr))
        # Scaled once to the pane's physical pixels, so paint() is a 1:1 blit, sharp at any DPR.
        pixmap = QPixmap.fromImage(self._image.scaled(w, h, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                      Qt.TransformationMode.SmoothTransformation))
        pixmap.setDevicePixelRatio(dpr)
        self._scaled = pixmap
        self.update()

    def resizeEvent(self, e: QResizeEvent) -> None:
        super().resizeEvent(e)
        self._rescale_later()  # rescale once the user stops dragging the splitter

    def paintEvent(self, e: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Window).darker(104))
        if self._image is not None and not self._image.isNull() and self._scaled is not None:
            target = self._target()
            size = self._scaled.deviceIndependentSize()
            if abs(size.width() - target.width()) < 1.5 and abs(size.height() - target.height()) < 1.5:
                painter.drawPixmap(target.topLeft(), self._scaled)
            else:  # mid-resize: stretch the last pixmap (fast) until the timer rescales it
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
                painter.drawPixmap(target, self._scaled, QRectF(self._scaled.rect()))
        elif self._message:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect().adjusted(8, 8, -8, -8), int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self._message)
        painter.end()


class ClusterHistoryStrip(QWidget):
    """One cell per epoch, coloured by the image's matched cluster; the current epoch outlined."""

    epochClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._history = np.zeros(0, dtype=np.int32)
        self._epoch = 0
        self._names: Callable[[int], str] = lambda c: f"cluster {c}"
        self._empty_text = ""
        self.setMinimumHeight(22)
        self.setMaximumHeight(26)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_history(self, history: np.ndarray, epoch: int, names: Callable[[int], str] | None = None,
                    empty_text: str = "") -> None:
        """``empty_text`` is shown when there is no history (nothing when no image is shown)."""
        self._history = np.asarray(history, dtype=np.int32)
        self._epoch = epoch
        self._empty_text = empty_text
        if names is not None:
            self._names = names
        changes = int(np.count_nonzero(np.diff(self._history[self._history >= 0]))) if self._history.size > 1 else 0
        times = "once" if changes == 1 else f"{changes} times"
        self.setToolTip("Cluster of this image at each epoch (one cell per epoch; the outlined one is shown; "
                        f"click a cell to show that epoch). It changed cluster {'never' if changes == 0 else times}.")
        self.update()

    def legend_html(self, max_runs: int = 5) -> str:
        """The strip's legend: one colour swatch per run of epochs in one cluster, with its name
        and epochs ("■ cluster 3 ep. 1–4"), latest runs last; older runs summarised."""
        h = self._history
        if h.size == 0:
            return ""
        runs: list[tuple[int, int, int]] = []  # (cluster, first epoch, last epoch)
        for j, c in enumerate(h.tolist(), start=1):
            if runs and runs[-1][0] == c:
                runs[-1] = (c, runs[-1][1], j)
            else:
                runs.append((c, j, j))
        cells = []
        for c, a, b in runs[-max_runs:]:
            name = html.escape(self._names(c) if c >= 0 else "not recorded")
            epochs = f"ep. {a}" if a == b else f"ep. {a}–{b}"
            cells.append(f"<span style='color:{cluster_colour(c).name()}'>■</span>&nbsp;{name} {epochs}")
        older = len(runs) - max_runs
        lead = f"{older} earlier change{'s' if older != 1 else ''} · " if older > 0 else ""
        return lead + " · ".join(cells) + " · outlined: the epoch shown"

    def history(self) -> np.ndarray:
        return self._history

    def _cell(self, x: float) -> int | None:
        n = self._history.size
        if n == 0 or self.width() <= 0:
            return None
        j = int(x / (self.width() / n))
        return j if 0 <= j < n else None

    def paintEvent(self, e: QPaintEvent) -> None:
        painter = QPainter(self)
        n = self._history.size
        if n == 0:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), int(Qt.AlignmentFlag.AlignVCenter), self._empty_text)
            return
        w = self.width() / n
        h = self.height()
        for j, c in enumerate(self._history.tolist()):
            painter.fillRect(QRectF(j * w, 2, max(1.0, w - (1 if w > 4 else 0)), h - 4), cluster_colour(int(c)))
        if 1 <= self._epoch <= n:
            painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Text), 2))
            painter.drawRect(QRectF((self._epoch - 1) * w + 1, 1, max(2.0, w - 2), h - 2))
        painter.end()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        j = self._cell(e.position().x())
        if j is not None:
            c = int(self._history[j])
            text = f"epoch {j + 1}: " + (self._names(c) if c >= 0 else "no cluster (excluded, or not recorded)")
            QToolTip.showText(e.globalPosition().toPoint(), text, self, QRect(), 3000)
        super().mouseMoveEvent(e)

    def mousePressEvent(self, e: QMouseEvent) -> None:
        j = self._cell(e.position().x())
        if j is not None and e.button() == Qt.MouseButton.LeftButton:
            self.epochClicked.emit(j + 1)
        super().mousePressEvent(e)


class ImagePane(QWidget):
    """Full image + path, pixel size, file size, label, flag, cluster history and "More like this"."""

    moreLikeThis = Signal(int)
    epochClicked = Signal(int)
    openFolderRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._folder: SessionPaths | None = None
        self._index: int | None = None
        self._info: dict = {}
        self._decodes = DisplayDecodes(self._on_decoded, self)

        self.view = ImageView(self)
        self.path_label = QElidingLabel(self)  # one line, elided in the middle: a long path must not widen the pane
        self.path_label.setElideMode(Qt.TextElideMode.ElideMiddle)
        self.path_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.size_label = QLabel(self)
        self.label_label = QLabel(self)
        self.flag_label = QLabel(self)
        self.cluster_label = QLabel(self)
        self.history = ClusterHistoryStrip(self)
        self.history.epochClicked.connect(self.epochClicked)
        self.more_button = button("More like this", self._more,
                                  tip="Find the images nearest to this one in the network's feature space")
        self.folder_button = button("Show in folder", self._open_folder,
                                    tip="Open the folder holding this file in the system file manager")

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.addRow("File", self.path_label)
        form.addRow("Size", self.size_label)
        form.addRow("Label", self.label_label)
        form.addRow("Flag", self.flag_label)
        form.addRow("Cluster", self.cluster_label)
        form.addRow("History", self.history)
        self.history_legend = QLabel(self)  # what the strip's colours mean
        self.history_legend.setTextFormat(Qt.TextFormat.RichText)
        self.history_legend.setWordWrap(True)
        form.addRow("", self.history_legend)
        vbox((self.view, 1), form, hbox(self.more_button, self.folder_button, Stretch(1)), parent=self, margins=4)
        self.clear()

    # -- API ----------------------------------------------------------------------------------------
    @property
    def image_index(self) -> int | None:
        return self._index

    def set_folder(self, folder: SessionPaths | None) -> None:
        """The session's paths (``SessionStore.path_guard``): rows become files only inside its folder."""
        self._folder = folder

    def clear(self, message: str = "Select an image to see it here") -> None:
        self._index = None
        self._decodes.begin()  # late decodes of the old image are ignored
        self.view.set_image(None, message)
        for w in (self.path_label, self.size_label, self.label_label, self.flag_label, self.cluster_label):
            w.setText("")
        self.history.set_history(np.zeros(0, dtype=np.int32), 0)
        self.history_legend.setText("")
        self.more_button.setEnabled(False)
        self.folder_button.setEnabled(False)

    def show_image(self, i: int, info: dict, history: np.ndarray, epoch: int, cluster: int | None,
                   cluster_title: Callable[[int], str] | None = None, label_names: Sequence[str] = ()) -> None:
        """Show image ``i`` (``info``: ``SessionStore.image_info(i)``); decoding starts off-thread."""
        title = cluster_title or (lambda c: f"cluster {c}")
        same = i == self._index
        self._index = i
        rel = str(info.get("path") or "")
        paths = self._folder
        self.path_label.setText(printable(rel))  # a name that is not UTF-8 shows as caf\xe9.jpg
        self.path_label.setToolTip(printable(paths.folder / rel) if paths is not None else printable(rel))
        self._set_size_text(info, None)
        self.label_label.setText(str(info.get("label") or "—"))
        flag = info.get("flag")
        self.flag_label.setText(str(flag) if flag else "—")
        self.cluster_label.setText(f"{title(cluster)} at epoch {epoch}" if cluster is not None else "—")
        self.history.set_history(history, epoch, title, empty_text="no epoch yet")
        self.history_legend.setText(self.history.legend_html())
        self.more_button.setEnabled(True)
        self.folder_button.setEnabled(self._folder is not None)
        self._info = info
        if same and self.view.image() is not None:
            return  # only the facts changed (a flag, another epoch): keep the decoded pixels
        self.view.set_image(None, "Loading…")
        self._decodes.begin()
        self._decodes.decode(i, partial(session_file, paths, rel, i), display_side(self.view), facts=True)

    # -- internals ---------------------------------------------------------------------------------
    def _set_size_text(self, info: dict, size: tuple[int, int] | None, facts: PhotoFacts | None = None) -> None:
        w, h = size if size else (info.get("width"), info.get("height"))
        pixels = f"{w} × {h} px" if w and h else "… px"
        text = f"{pixels} · {human_bytes(info.get('size'))}"
        if facts is not None and facts.summary():
            text += f" · {facts.summary()}"  # EXIF capture date and camera
        self.size_label.setText(text)

    def _on_decoded(self, _i: int, image: QImage | None, size: tuple[int, int] | None,
                    facts: PhotoFacts | None, error: str) -> None:
        if image is None:
            self.view.set_image(None, f"Cannot show this image: {error}")
            return
        self.view.set_image(image)
        self._set_size_text(self._info, size, facts)

    def _more(self) -> None:
        if self._index is not None:
            self.moreLikeThis.emit(self._index)

    def _open_folder(self) -> None:
        if self._index is not None:
            self.openFolderRequested.emit(self._index)


__all__ = ["ClusterHistoryStrip", "ImagePane", "ImageView", "cluster_colour", "decode_for_display"]
