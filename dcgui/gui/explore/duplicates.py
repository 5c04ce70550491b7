"""Explore › Duplicates: groups of near-identical images at a similarity threshold, and flags.

The neighbour index is built once per epoch in the background; counting groups at a threshold
is a binary search, so the count follows the slider live and the groups are rebuilt once it
rests. Flags are written through the model (no file is ever deleted or moved).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from dcgui.core.control import RunControl
from dcgui.core.explore import DEFAULT_DUPLICATE_THRESHOLD, DuplicateGroup, DuplicateIndex
from dcgui.gui.explore.common import ExploreTab, GridSelectionLink
from dcgui.gui.explore.jobs import ExploreJobs
from dcgui.gui.session_model import SessionModel
from dcgui.gui.thumbnail_grid import ThumbnailGrid
from dcgui.gui.thumbnails import AsyncPixmapCache
from dcgui.services import explore as es

if TYPE_CHECKING:
    from dcgui.store import SessionStore

SLIDER_MIN = 0.5  # the duplicate index keeps neighbour pairs down to this similarity


class DuplicatesTab(ExploreTab):
    def __init__(self, model: SessionModel, jobs: ExploreJobs, thumbnails: AsyncPixmapCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(model, jobs, parent)
        self._dup: DuplicateIndex | None = None
        self._sizes: np.ndarray | None = None
        self._groups: list[DuplicateGroup] = []
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(int(SLIDER_MIN * 1000), 1000)
        self.slider.setValue(int(DEFAULT_DUPLICATE_THRESHOLD * 1000))
        self.slider.setToolTip("Images whose features have at least this cosine similarity (through a chain "
                               "of nearest neighbours) form a group. 1.0 = identical.")
        self.spin = QDoubleSpinBox()
        self.spin.setRange(SLIDER_MIN, 1.0)
        self.spin.setDecimals(3)
        self.spin.setSingleStep(0.001)
        self.spin.setValue(DEFAULT_DUPLICATE_THRESHOLD)
        self.count_label = QLabel()
        self.slider.valueChanged.connect(self._on_slider)
        self.spin.valueChanged.connect(lambda v: self.slider.setValue(round(v * 1000)))
        self._groups_timer = QTimer(self)
        self._groups_timer.setSingleShot(True)
        self._groups_timer.setInterval(200)  # regroup once the slider rests; the count is live
        self._groups_timer.timeout.connect(self._update_groups)
        self.group_list = QListWidget()
        self.group_list.currentRowChanged.connect(self._show_group)
        self.members = ThumbnailGrid(thumbnails, self, caption_lines=1)
        self.link = GridSelectionLink(self.members, model, "duplicates")
        self.keep_first_button = QPushButton("Keep first, flag the rest")
        self.keep_first_button.setToolTip("Flag every image of this group but the first (the largest file) as "
                                          "'duplicate'. No file is deleted or moved.")
        self.keep_first_button.clicked.connect(lambda: self.flag_group(self.group_list.currentRow()))
        self.keep_selected_button = QPushButton("Keep selected, flag the rest")
        self.keep_selected_button.clicked.connect(self._keep_selected)
        self.unflag_button = QPushButton("Unflag group")
        self.unflag_button.setToolTip("Clear the 'duplicate' flag of every image of this group")
        self.unflag_button.clicked.connect(lambda: self.unflag_group(self.group_list.currentRow()))
        self.flag_all_button = QPushButton("Flag all groups")
        self.flag_all_button.setToolTip("In every group, keep the first (largest file) and flag the others as "
                                        "'duplicate'. No file is deleted or moved.")
        self.flag_all_button.clicked.connect(self.flag_all_groups)
        top = QHBoxLayout()
        top.addWidget(QLabel("Similarity ≥"))
        top.addWidget(self.slider, 2)
        top.addWidget(self.spin)
        top.addWidget(self.count_label, 2)
        buttons = QHBoxLayout()
        for b in (self.keep_first_button, self.keep_selected_button, self.unflag_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.flag_all_button)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.members, 1)
        rl.addLayout(buttons)
        split = QSplitter()
        split.addWidget(self.group_list)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        model.flagsChanged.connect(lambda _i: self._after_flags())
        self.members.selectionModel().selectionChanged.connect(lambda *_: self.update_enabled())

    # -- ExploreTab -----------------------------------------------------------------------------
    def reset(self) -> None:
        self._dup, self._sizes, self._groups = None, None, []
        self.group_list.clear()
        self.link.show([])
        self.count_label.setText("")

    def needs_run(self) -> bool:
        return self._dup is None

    def run(self) -> None:
        def work(store: SessionStore, f: es.SessionFeatures, control: RunControl) -> Generator[Any, None, Any]:
            _, dup = yield from es.iter_session_duplicates(store, control=control, features=f.features)
            return dup, es.file_sizes(store)

        def done(value: Any) -> None:
            self._dup, self._sizes = value
            self._on_slider(self.slider.value())
            self._update_groups()
            self.say(f"Near-duplicates among {self._dup.n:,} images (epoch {self.model.epoch}): move the slider; "
                     "groups are joined through each image's 8 nearest neighbours.")

        self.count_label.setText("Finding neighbours…")
        self.jobs.submit("duplicates", self, work, done)

    def update_enabled(self) -> None:
        writable = self.model.writable
        grp = self.group_list.currentRow()
        has_group = writable and 0 <= grp < len(self._groups)
        for b in (self.keep_first_button, self.unflag_button):
            b.setEnabled(has_group)
        self.keep_selected_button.setEnabled(has_group and len(self.members.selected_images()) == 1)
        self.flag_all_button.setEnabled(writable and bool(self._groups))
        if not writable and self.model.store is not None:
            for b in (self.keep_first_button, self.unflag_button, self.keep_selected_button, self.flag_all_button):
                b.setToolTip("The session is open read-only: flags cannot be saved.")

    # -- API ------------------------------------------------------------------------------------
    @property
    def groups(self) -> list[DuplicateGroup]:
        return self._groups

    @property
    def index(self) -> DuplicateIndex | None:
        return self._dup

    @property
    def threshold(self) -> float:
        return self.slider.value() / 1000.0

    def set_threshold(self, t: float) -> None:
        """Move the slider to ``t`` and regroup now (a drag regroups once the slider rests)."""
        self.slider.setValue(round(t * 1000))
        self._groups_timer.stop()
        self._update_groups()

    def duplicate_count(self) -> tuple[int, int]:
        """(groups, images) at the slider's threshold (0, 0 before the index exists)."""
        return self._dup.count(self.threshold) if self._dup is not None else (0, 0)

    def flag_group(self, row: int, keep: int | None = None) -> int:
        """Flag every image of group ``row`` but ``keep`` (default: its first) as 'duplicate'."""
        if not 0 <= row < len(self._groups):
            return 0
        grp = self._groups[row]
        keep = grp.keep if keep is None else int(keep)
        rest = [int(i) for i in grp.members if int(i) != keep]
        self.model.set_flag(rest, "duplicate")
        if self.model.flags.get(keep) == "duplicate":
            self.model.set_flag([keep], None)  # the one kept now is no longer a duplicate
        return len(rest)

    def unflag_group(self, row: int) -> None:
        if 0 <= row < len(self._groups):
            flags = self.model.flags
            self.model.set_flag([int(i) for i in self._groups[row].members if flags.get(int(i)) == "duplicate"], None)

    def flag_all_groups(self) -> int:
        """Keep the first of every group at the current threshold and flag the others."""
        rest = [int(i) for g in self._groups for i in g.rest]
        return self.model.set_flag(rest, "duplicate")

    # -- internals ------------------------------------------------------------------------------
    def _keep_selected(self) -> None:
        sel = self.members.selected_images()
        if len(sel) == 1:
            self.flag_group(self.group_list.currentRow(), keep=sel[0])

    def _on_slider(self, value: int) -> None:
        t = value / 1000.0
        if abs(self.spin.value() - t) > 1e-9:
            self.spin.blockSignals(True)
            self.spin.setValue(t)
            self.spin.blockSignals(False)
        if self._dup is None:
            return
        groups, images = self._dup.count(t)  # a binary search: live while dragging
        self.count_label.setText(f"<b>{groups:,}</b> groups · {images:,} images · "
                                 f"{images - groups:,} would be flagged")
        self._groups_timer.start()

    def _update_groups(self) -> None:
        feats = self.jobs.features
        if self._dup is None or feats is None:
            return
        row = self.group_list.currentRow()
        self._groups = self._dup.groups(self.threshold, feats.features, prefer=self._sizes)
        self.group_list.blockSignals(True)
        self.group_list.clear()
        for g, grp in enumerate(self._groups, start=1):
            self.group_list.addItem(self._group_text(g, grp))
        self.group_list.blockSignals(False)
        if self._groups:
            self.group_list.setCurrentRow(row if 0 <= row < len(self._groups) else 0)
        else:
            self.link.show([])
        self.update_enabled()

    def _group_text(self, g: int, grp: DuplicateGroup) -> str:
        flags = self.model.flags
        n_flagged = sum(1 for i in grp.rest if flags.get(int(i)) == "duplicate")
        text = f"Group {g}: {len(grp.members)} images, similarity ≥ {float(grp.similarity_to_first.min()):.3f}"
        return text + (f" ({n_flagged} flagged)" if n_flagged else "")

    def _show_group(self, row: int) -> None:
        if not 0 <= row < len(self._groups):
            self.link.show([])
            return
        grp = self._groups[row]
        self.link.show([int(i) for i in grp.members], self._captions(grp),
                       [f"similarity to the first {float(s):.4f}" for s in grp.similarity_to_first])
        self.update_enabled()

    def _captions(self, grp: DuplicateGroup) -> list[str]:
        flags = self.model.flags
        out = []
        for j, (i, s) in enumerate(zip(grp.members, grp.similarity_to_first)):
            tag = "keep" if j == 0 else f"{float(s):.3f}"
            if flags.get(int(i)):
                tag += f" · {flags[int(i)]}"
            out.append(tag)
        return out

    def _after_flags(self) -> None:
        """Flags changed (here or anywhere): the group texts and captions say so."""
        for g, grp in enumerate(self._groups):
            item = self.group_list.item(g)
            if item is not None:
                item.setText(self._group_text(g + 1, grp))
        row = self.group_list.currentRow()
        if 0 <= row < len(self._groups):
            self.members.grid_model().set_captions(self._captions(self._groups[row]))
