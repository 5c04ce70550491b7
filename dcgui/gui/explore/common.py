"""What every Explore tab shares: its own status line, the compute-when-shown rule, and the link
between a tab's image grid and the model's shared selection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QSpinBox, QWidget

from dcgui.gui.explore.jobs import ExploreJobs
from dcgui.gui.layout import button, hbox
from dcgui.gui.session_model import SessionModel, describe_selection
from dcgui.gui.thumbnail_grid import ThumbnailGrid
from dcgui.gui.worker import WorkerError

ERROR_STYLE = "color:#c0392b"


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ExploreTab(QWidget):
    """A sub-tab of Explore. It computes its content when shown for an epoch that has none (a user
    who never opens the map never pays for UMAP), and keeps its own status text, so switching
    tabs never shows another tab's message.

    Subclasses implement ``reset()`` (forget results), ``needs_run()`` and ``run()``."""

    statusChanged = Signal()

    def __init__(self, model: SessionModel, jobs: ExploreJobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.jobs = jobs
        self.status = ""
        self.status_tip = ""
        self._transient = False
        model.sessionChanged.connect(self._on_session)
        model.epochChanged.connect(self._on_epoch)

    # -- status line ---------------------------------------------------------------------------
    def say(self, text: str, transient: bool = False) -> None:
        """Show ``text`` in this tab's status line; a transient one is cleared when its job ends."""
        self.status, self.status_tip, self._transient = text, "", transient
        self.statusChanged.emit()

    def show_error(self, err: WorkerError) -> None:
        self.status = f"<span style='{ERROR_STYLE}'>{escape(err.message)}</span>"
        self.status_tip, self._transient = err.details, False
        self.statusChanged.emit()

    def job_ended(self) -> None:
        if self._transient:
            self.say("")

    # -- compute when shown --------------------------------------------------------------------
    def trained(self) -> bool:
        return self.model.store is not None and self.model.epoch >= 1

    def refresh(self) -> None:
        """Start this tab's computation if it is visible and its result is missing."""
        if self.model.store is None or not self.isVisible():
            return
        if not self.trained():
            self.say("Train at least one epoch: exploring uses the network trained on your images.")
            return
        if self.needs_run():
            self.run()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def _on_session(self) -> None:
        self.reset()
        self.say("")
        self.update_enabled()
        self.refresh()

    def _on_epoch(self, _epoch: int) -> None:
        self._on_session()  # another epoch: the same fresh start

    # -- for subclasses ------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the results of the previous session or epoch and clear the views."""

    def needs_run(self) -> bool:
        return False

    def run(self) -> None:
        """Queue this tab's computation."""

    def update_enabled(self) -> None:
        """Enable the buttons that make sense now."""


class GridSelectionLink:
    """Keeps a tab's grid and the model's shared selection in step, both ways, without echoes:
    selecting rows selects those images everywhere; a selection made elsewhere selects the rows of
    this grid that show those images. Double-click asks for "More like this"."""

    def __init__(self, grid: ThumbnailGrid, model: SessionModel, source: str) -> None:
        self.grid, self.model, self.source = grid, model, source
        self._quiet = False
        # Where a selection shown here came from, with a one-click clear (the tab places it).
        self.banner = QWidget()
        self.banner_text = QLabel(self.banner)
        self.banner_text.setWordWrap(True)
        clear = button("Clear selection", model.clear_selection, tip="Forget the selection in every tab")
        hbox((self.banner_text, 1), clear, parent=self.banner, margins=0)
        self.banner.setVisible(False)
        grid.selectionModel().selectionChanged.connect(self._from_grid)
        grid.selectionModel().currentChanged.connect(self._current_from_grid)
        grid.imageActivated.connect(model.request_similar)
        model.selectionChanged.connect(self._from_model)

    def _from_grid(self, *args: Any) -> None:
        if not self._quiet:
            self.model.select_images(self.grid.selected_images(), self.source, current=self.grid.current_image())

    def _current_from_grid(self, *args: Any) -> None:
        current = self.grid.current_image()
        if current is not None and not self._quiet:
            self.model.set_current_image(current)

    def _from_model(self) -> None:
        if self.model.selection_source == self.source:
            self._update_banner()
            return
        self._reselect()

    def _reselect(self, new_content: Callable[[], None] | None = None) -> None:
        """Select the shared selection's rows (after ``new_content`` filled the grid) without
        sending it back to the model, then update the banner."""
        self._quiet = True
        try:
            if new_content is not None:
                new_content()
            self.grid.select_images(self.model.selection, self.model.current_image)
        finally:
            self._quiet = False
        self._update_banner()

    def _update_banner(self) -> None:
        """"20 of the 191 images chosen on the map are selected here", while a selection made in
        another view selects rows of this grid."""
        sel, source = self.model.selection, self.model.selection_source
        here = len(self.grid.selected_images()) if sel and source != self.source else 0
        if here:
            self.banner_text.setText(f"{describe_selection(here, len(sel), source)[:1].upper()}"
                                     f"{describe_selection(here, len(sel), source)[1:]} "
                                     f"{'are' if here != 1 else 'is'} selected here.")
        self.banner.setVisible(bool(here))

    def show(self, indices: Any, captions: Any = None, tooltips: Any = None) -> None:
        """New content for the grid, with the shared selection re-applied to it."""
        self._reselect(lambda: self.grid.set_images(indices, captions, tooltips))


def count_spin(maximum: int, value: int, on_change: Any) -> QSpinBox:
    """"Show N images": how many results a tab lists; a change (typed or stepped) reruns it."""
    spin = QSpinBox()
    spin.setRange(1, maximum)
    spin.setValue(value)
    spin.setPrefix("Show ")
    spin.setSuffix(" images")
    spin.setKeyboardTracking(False)
    spin.valueChanged.connect(lambda _: on_change())
    return spin
