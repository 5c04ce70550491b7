"""Split a cluster: k-means on its images, the parts side by side, then accept or cancel.

``SplitPreviewDialog`` shows a ``SplitProposal`` (``dcgui.services.edits.iter_split_proposal``,
computed on a worker thread): one column per part with its size, the images nearest its centre
and a field for its name. Accept stores the split through the session's edit log (Ctrl+Z undoes
it); Cancel stores nothing. Opened with ``open()``, not ``exec()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from dcgui.core.groups import SplitProposal
from dcgui.gui.thumbnail_grid import ThumbnailGrid
from dcgui.gui.thumbnails import AsyncPixmapCache
from dcgui.services.edits import split_edit
from dcgui.store.edits import SplitCluster

COLUMN_WIDTH = 240


class SplitPreviewDialog(QDialog):
    """The parts of ``proposal`` side by side. ``applied(result)`` after Accept."""

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
            col = QVBoxLayout()
            head = QLabel(f"<b>{c}.{p + 1}</b>: {size:,} image{'s' if size != 1 else ''}")
            name = QLineEdit()
            name.setPlaceholderText(f"name of {c}.{p + 1} (optional)")
            grid = ThumbnailGrid(thumbnails, row)
            grid.setMinimumWidth(COLUMN_WIDTH)
            grid.set_images([int(i) for i in sample])
            col.addWidget(head)
            col.addWidget(name)
            col.addWidget(grid, 1)
            columns.addLayout(col)
            self.names.append(name)
            self.grids.append(grid)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(row)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.accept_button = self.buttons.addButton("Accept split", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(scroll, 1)
        lay.addWidget(self.buttons)
        self.resize(min(1400, 80 + (COLUMN_WIDTH + 20) * proposal.parts), 560)

    def edit(self) -> SplitCluster:
        """The edit Accept stores (with the names typed)."""
        return split_edit(self.proposal, [n.text().strip() or None for n in self.names])

    def accept(self) -> None:
        result = self._apply(self.edit())
        super().accept()
        self.applied.emit(result)
