"""The Explore tab: Similar / Duplicates / Outliers / Map / Evaluation, one module each.

This container only lays the sub-tabs out, shows the visible sub-tab's own status line, the
shared progress bar and Stop button, and accepts image files dropped on it (they are queried in
Similar). The sub-tabs are views of the model; their computations share one job queue.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QLabel,
    QProgressBar,
    QTabWidget,
    QWidget,
)

from dcgui.core.events import PhaseProgress, phase_label
from dcgui.core.images.imageio import IMAGE_EXTENSIONS
from dcgui.gui.explore.common import ExploreTab
from dcgui.gui.explore.duplicates import DuplicatesTab
from dcgui.gui.explore.evaluation import EvaluationTab
from dcgui.gui.explore.jobs import ExploreJobs
from dcgui.gui.explore.map_tab import MapTab
from dcgui.gui.explore.outliers import OutliersTab
from dcgui.gui.explore.similar import SimilarTab
from dcgui.gui.layout import button, hbox, vbox, wrapped_label
from dcgui.gui.session_model import SessionModel
from dcgui.gui.thumbnails import AsyncPixmapCache

TAB_SIMILAR, TAB_DUPLICATES, TAB_OUTLIERS, TAB_MAP, TAB_EVAL = range(5)


def _image_files(event: QDragEnterEvent | QDropEvent) -> list[Path]:
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls()
            if u.isLocalFile() and Path(u.toLocalFile()).suffix.lower() in IMAGE_EXTENSIONS]


class ExplorePanel(QWidget):
    """``showInGridRequested()``: show the current selection in the cluster browser (the window
    switches tabs)."""

    showInGridRequested = Signal()

    def __init__(self, model: SessionModel, thumbnails: AsyncPixmapCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.jobs = ExploreJobs(model, self)  # first: it drops old work before the tabs ask for new
        self.similar = SimilarTab(model, self.jobs, thumbnails)
        self.duplicates = DuplicatesTab(model, self.jobs, thumbnails)
        self.outliers = OutliersTab(model, self.jobs, thumbnails)
        self.map = MapTab(model, self.jobs, thumbnails)
        self.evaluation = EvaluationTab(model, self.jobs)
        self.setAcceptDrops(True)

        self.tabs = QTabWidget()
        for tab, title in ((self.similar, "Similar"), (self.duplicates, "Duplicates"), (self.outliers, "Outliers"),
                           (self.map, "Map"), (self.evaluation, "Evaluation")):
            self.tabs.addTab(tab, title)
            tab.statusChanged.connect(lambda t=tab: self._show_status(t))
        self.tabs.currentChanged.connect(lambda _i: self._show_status(self.current_tab()))

        self.status = wrapped_label()
        # the phase in a label of its own: inside a 240-px bar "Computing features 70%" was cut
        self.progress_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(True)
        self.progress.setFormat("%p%")
        self.stop_button = button("Stop", self.jobs.stop, tip="Stop the computation running for this tab")
        bar = hbox((self.status, 1), self.progress_label, self.progress, self.stop_button)
        vbox((self.tabs, 1), bar, parent=self, margins=4)

        self.jobs.busyChanged.connect(self._set_busy)
        self.jobs.progress.connect(self._on_progress)
        self.map.showInGridRequested.connect(self.showInGridRequested)
        model.similarRequested.connect(self.show_similar)
        self._set_busy(False)

    # -- API --------------------------------------------------------------------------------------
    def current_tab(self) -> ExploreTab:
        tab = self.tabs.currentWidget()
        assert isinstance(tab, ExploreTab)
        return tab

    def show_similar(self, image_index: int) -> None:
        self.tabs.setCurrentIndex(TAB_SIMILAR)
        self.similar.show_similar(image_index)

    def query_file(self, path: Path) -> None:
        self.tabs.setCurrentIndex(TAB_SIMILAR)
        self.similar.query_file(path)

    def stop(self) -> None:
        self.jobs.stop()

    @property
    def busy(self) -> bool:
        return self.jobs.busy

    def wait(self, timeout_ms: int = 60_000) -> bool:
        return self.jobs.wait(timeout_ms)

    # -- drag and drop ------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.model.store is not None and _image_files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        files = _image_files(event)
        if self.model.store is None or not files:
            event.ignore()
            return
        event.acceptProposedAction()
        self.query_file(files[0])

    # -- internals ----------------------------------------------------------------------------------
    def _show_status(self, tab: ExploreTab) -> None:
        if tab is self.tabs.currentWidget():
            self.status.setText(tab.status)
            self.status.setToolTip(tab.status_tip)

    def _on_progress(self, ev: PhaseProgress) -> None:
        self.progress_label.setText(phase_label(ev.phase).text)
        if ev.total <= 0:  # a phase without a count (the map's first layout): a busy bar, not 0 %
            self.progress.setRange(0, 0)
            return
        self.progress.setRange(0, ev.total)
        self.progress.setValue(min(ev.done, ev.total))

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.progress_label.setVisible(busy)
        self.stop_button.setVisible(busy)
        if not busy:
            self.progress.reset()
            self.progress_label.setText("")
