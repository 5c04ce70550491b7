"""Explore › Similar: the nearest images to one image (of the collection or any file)."""

from __future__ import annotations

from collections.abc import Generator, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImageReader, QPixmap
from PySide6.QtWidgets import (
    QLabel,
    QWidget,
)

from dcgui.core.analysis.neighbours import FeatureIndex
from dcgui.core.control import RunControl
from dcgui.core.images.imageio import IMAGE_EXTENSIONS
from dcgui.core.pathtext import printable
from dcgui.gui.explore.common import ExploreTab, GridSelectionLink, count_spin, escape
from dcgui.gui.explore.jobs import ExploreJobs
from dcgui.gui.files import ask_open_file
from dcgui.gui.layout import Stretch, button, hbox, vbox
from dcgui.gui.session_model import SessionModel
from dcgui.gui.thumbnail_grid import ThumbnailGrid
from dcgui.gui.thumbnails import AsyncPixmapCache
from dcgui.services import explore as es

if TYPE_CHECKING:
    from dcgui.store import SessionStore

QUERY_SIDE = 128


class SimilarTab(ExploreTab):
    def __init__(self, model: SessionModel, jobs: ExploreJobs, thumbnails: AsyncPixmapCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(model, jobs, parent)
        self.thumbnails = thumbnails
        self._query: int | Path | None = None
        self._index: FeatureIndex | None = None
        self._shown = False
        self.query_image = QLabel()
        self.query_image.setFixedSize(QUERY_SIDE, QUERY_SIDE)
        self.query_image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.query_image.setFrameShape(QLabel.Shape.StyledPanel)
        self.query_image.setScaledContents(False)
        self.query_caption = QLabel("Drop an image file here, open one, or use “More like this” on an image "
                                    "in the cluster browser: its nearest neighbours under the network of the "
                                    "shown epoch appear below (cosine similarity of the features).")
        self.query_caption.setWordWrap(True)
        self.open_image_button = button(
            "Open image…", self._choose_query_file,
            tip="Find the images most similar to any image file, inside or outside the folder")
        self.count = count_spin(500, 40, self.run)
        self.grid = ThumbnailGrid(thumbnails, self, caption_lines=2)
        self.link = GridSelectionLink(self.grid, model, "similar")
        caption = vbox((self.query_caption, 1), hbox(self.open_image_button, self.count, Stretch(1)))
        top = hbox(self.query_image, (caption, 1))
        vbox(top, self.link.banner, (self.grid, 1), parent=self)
        thumbnails.ready.connect(self._query_thumb_ready)
        model.flagsChanged.connect(lambda _i: self._recaption())
        self._results: list[es.Neighbour] = []

    # -- API ------------------------------------------------------------------------------------
    @property
    def query(self) -> int | Path | None:
        return self._query

    def show_similar(self, image_index: int) -> None:
        """The nearest neighbours of image ``image_index`` ("More like this")."""
        if self.model.store is None:
            return
        self._query = int(image_index)
        self._show_query()
        self.run()

    def query_file(self, path: Path) -> None:
        """The images most similar to any image file (dropped on the window, or opened)."""
        store = self.model.store
        if store is None:
            return
        path = Path(path)
        inside = es.find_image_index(store, path)
        self._query = inside if inside is not None else path
        self._show_query()
        self.run()

    # -- ExploreTab -----------------------------------------------------------------------------
    def reset(self) -> None:
        self._index = None
        self._shown = False
        self._results = []
        self.link.show([])
        if self.model.store is None:
            self._query = None
            self.query_image.setPixmap(QPixmap())

    def needs_run(self) -> bool:
        return self._query is not None and not self._shown

    def update_enabled(self) -> None:
        self.open_image_button.setEnabled(self.trained())

    def run(self) -> None:
        if self.model.store is None or self._query is None or not self.trained():
            return
        query, n, index = self._query, self.count.value(), self._index

        def work(store: SessionStore, f: es.SessionFeatures, control: RunControl) -> Generator[Any, None, Any]:
            idx = index or FeatureIndex(f.features)
            res = yield from es.iter_similar(store, query, n, control=control, features=f, index=idx)
            return idx, res

        def done(value: Any) -> None:
            self._index, res = value
            self._show_result(res)

        self.jobs.submit("similar", self, work, done)

    # -- internals ------------------------------------------------------------------------------
    def _show_query(self) -> None:
        q = self._query
        if isinstance(q, int):
            pixmap = self.thumbnails.request(q)  # None: it arrives through _query_thumb_ready
            self._set_query_pixmap(pixmap)
            self.query_caption.setText(f"Images most similar to <b>{escape(printable(self.model.paths[q]))}</b> "
                                       f"(image {q}, epoch {self.model.epoch})")
        elif isinstance(q, Path):
            # Decoded at thumbnail scale (a camera JPEG at full size would stall the GUI thread).
            reader = QImageReader(str(q))
            reader.setAutoTransform(True)
            size = reader.size()
            if size.isValid():
                reader.setScaledSize(size.scaled(QUERY_SIDE - 8, QUERY_SIDE - 8, Qt.AspectRatioMode.KeepAspectRatio))
            image = reader.read()
            self._set_query_pixmap(QPixmap.fromImage(image) if not image.isNull() else None)
            self.query_caption.setText(f"Images most similar to <b>{escape(str(q))}</b> (not in the collection; "
                                       f"epoch {self.model.epoch})")

    def _set_query_pixmap(self, pixmap: QPixmap | None) -> None:
        if pixmap is None or pixmap.isNull():
            self.query_image.setPixmap(QPixmap())
            return
        # Small images (28 px) are scaled up to the frame, large ones down.
        side = QUERY_SIDE - 8
        self.query_image.setPixmap(pixmap.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                                 Qt.TransformationMode.SmoothTransformation))

    def _query_thumb_ready(self, keys: list[Hashable]) -> None:
        if isinstance(self._query, int) and self._query in keys:
            self._set_query_pixmap(self.thumbnails.pixmap(self._query))

    def _show_result(self, res: es.SimilarResult) -> None:
        self._shown = True
        self._results = list(res.neighbours)
        self.link.show([nb.index for nb in self._results], self._captions(),
                       [f"similarity {nb.score:.4f}" for nb in self._results])
        self.say(f"{len(res.neighbours)} nearest images (epoch {res.epoch}). Double-click one for its own "
                 "neighbours.")

    def _captions(self) -> list[str]:
        flags = self.model.flags
        return [f"{nb.rank}. {nb.score:.3f}" + (f"\n{flags[nb.index]}" if nb.index in flags else "")
                for nb in self._results]

    def _recaption(self) -> None:
        if self._results:
            self.grid.grid_model().set_captions(self._captions())

    def _choose_query_file(self) -> None:
        exts = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
        if (path := ask_open_file(self, "Find similar images", "", f"Images ({exts})")):
            self.query_file(path)
