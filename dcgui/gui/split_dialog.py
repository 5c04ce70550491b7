"""Split a cluster: k-means on its images, the parts side by side, then accept or cancel.

``SplitPreviewDialog`` shows a ``SplitProposal`` (``dcgui.services.edits.iter_split_proposal``,
computed on a worker thread): one column per part with its size, the images nearest its centre
and a field for its name. Accept stores the split through the session's edit log (Ctrl+Z undoes
it); Cancel stores nothing. Opened with ``open()``, not ``exec()``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QWidget,
)

from dcgui.core.analysis.groups import SplitProposal
from dcgui.core.control import RunControl
from dcgui.core.events import Message, PhaseProgress
from dcgui.gui.layout import dialog_buttons, vbox
from dcgui.gui.session_model import SessionModel, deliver
from dcgui.gui.thumbnail_grid import ThumbnailGrid
from dcgui.gui.thumbnails import AsyncPixmapCache
from dcgui.gui.worker import GeneratorWorker, WorkerError, session_job, worker_progress
from dcgui.services.edits import iter_split_proposal, split_edit

if TYPE_CHECKING:
    from dcgui.store import SessionStore
    from dcgui.store.edits import SplitCluster

COLUMN_WIDTH = 240


class SplitPreviewDialog(QDialog):
    """The parts of ``proposal`` side by side. ``applied(result)`` once the split Accept stored
    has landed."""

    applied = Signal(object)

    def __init__(self, parent: QWidget | None, proposal: SplitProposal, thumbnails: AsyncPixmapCache,
                 apply: Callable[[SplitCluster], Any], title: str = "") -> None:
        super().__init__(parent)
        self.proposal = proposal
        self._apply = apply
        c = proposal.cluster
        self.setWindowTitle(f"Split {title or f'cluster {c}'} into {proposal.parts} parts")
        intro = QLabel(f"{title or f'Cluster {c}'} at epoch {proposal.epoch}: {len(proposal.members):,} images "
                       f"sorted into {proposal.parts} parts by k-means on their features. Each part shows the "
                       "images nearest its centre. Name the parts if you like, then accept; Edit ▸ Undo "
                       "takes the split back.")
        intro.setWordWrap(True)
        row = QWidget()
        columns = QHBoxLayout(row)
        self.names: list[QLineEdit] = []
        self.grids: list[ThumbnailGrid] = []
        for p, (size, sample) in enumerate(zip(proposal.sizes, proposal.samples)):
            head = QLabel(f"<b>{c}.{p + 1}</b>: {size:,} image{'s' if size != 1 else ''}")
            name = QLineEdit()
            name.setPlaceholderText(f"name of {c}.{p + 1} (optional)")
            grid = ThumbnailGrid(thumbnails, row)
            grid.setMinimumWidth(COLUMN_WIDTH)
            grid.set_images([int(i) for i in sample])
            columns.addLayout(vbox(head, name, (grid, 1)))
            self.names.append(name)
            self.grids.append(grid)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(row)
        self.accept_button = QPushButton("Accept split")
        self.buttons = dialog_buttons(self, QDialogButtonBox.StandardButton.Cancel, self.accept_button)
        vbox(intro, (scroll, 1), self.buttons, parent=self)
        self.resize(min(1400, 80 + (COLUMN_WIDTH + 20) * proposal.parts), 560)

    def edit(self) -> SplitCluster:
        """The edit Accept stores (with the names typed)."""
        return split_edit(self.proposal, [n.text().strip() or None for n in self.names])

    def accept(self) -> None:
        result = self._apply(self.edit())
        super().accept()
        deliver(result, self.applied.emit)  # once the split has landed (it is applied on a worker)


class SplitJob(QObject):
    """Computes a split proposal on a worker (features of the epoch, then k-means), with a progress
    dialog and Stop, then opens ``SplitPreviewDialog``. ``proposed(dialog)`` when it is shown."""

    proposed = Signal(object)

    def __init__(self, parent: QWidget, model: SessionModel, thumbnails: AsyncPixmapCache, cluster: int,
                 parts: int, title: str) -> None:
        super().__init__(parent)
        store = model.store
        if store is None:
            raise RuntimeError("no session is open")
        path, epoch = store.path, model.epoch
        self.dialog: SplitPreviewDialog | None = None

        def run(s: SessionStore, control: RunControl) -> Generator[Any, None, SplitProposal]:
            return iter_split_proposal(s, epoch, cluster, parts, control=control)

        self.worker = GeneratorWorker(session_job(path, run), name="split-cluster", parent=self)
        # cached features: no flash
        progress = worker_progress(self.worker, parent, f"Splitting {title} into {parts} parts…", "Split cluster")
        self.progress = progress

        def on_event(ev: object) -> None:
            if isinstance(ev, PhaseProgress) and ev.total:
                progress.setMaximum(ev.total)
                progress.setValue(ev.done)
            elif isinstance(ev, Message):
                progress.setLabelText(ev.text)

        def on_returned(proposal: SplitProposal) -> None:
            if model.store is None or model.store.path != path or model.epoch != epoch:
                return  # the user moved on: this proposal is for another epoch or session
            self.dialog = SplitPreviewDialog(parent, proposal, thumbnails, model.apply_edit, title)
            self.dialog.open()
            self.proposed.emit(self.dialog)

        def on_errored(err: WorkerError) -> None:
            from dcgui.gui.errors import show_error

            show_error(parent, err, title="Split cluster")

        self.worker.event.connect(on_event)
        self.worker.returned.connect(on_returned)
        self.worker.errored.connect(on_errored)
        self.worker.start()

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Tests: block until the worker thread has ended."""
        return self.worker.wait(timeout_ms)
