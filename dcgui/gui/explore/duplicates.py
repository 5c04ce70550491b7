"""Explore › Duplicates: copies of one photo grouped at a pixel-difference threshold, and flags.

The detector (``dcgui.core.analysis.duplicates``) judges pairs from the cached thumbnails' pixels, so it
needs no trained network and does not depend on the epoch; it runs once per session in the
background. Counting groups at a threshold is a binary search over the complete-linkage
merges, so the count follows the slider live, a strip shows the counts at other settings, and
the groups are rebuilt once the slider rests. Flags are written through the model (no file is
ever deleted or moved), always after the preview (``dcgui.gui.edit_confirm``): which copy each
group keeps follows the rule the user picks (largest file, highest resolution, oldest), and the
bulk actions leave flags set by hand alone unless the user ticks the box that counts them.
Edit ▸ Undo takes any of them back.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
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
from superqt.utils import qdebounced

from dcgui.core.analysis.duplicates import (
    DEFAULT_THRESHOLD,
    MAX_DIFFERENCE,
    ImageInfo,
    NearDuplicateGroup,
    NearDuplicates,
)
from dcgui.core.analysis.keep import DEFAULT_KEEP_RULE, KEEP_RULES, rank_members
from dcgui.core.control import RunControl
from dcgui.gui.edit_confirm import EditConfirmDialog, confirm_edit
from dcgui.gui.explore.common import ExploreTab, GridSelectionLink
from dcgui.gui.explore.jobs import ExploreJobs
from dcgui.gui.session_model import SessionModel
from dcgui.gui.thumbnail_grid import ThumbnailGrid
from dcgui.gui.thumbnails import AsyncPixmapCache
from dcgui.services import duplicates as ds
from dcgui.services import explore as es
from dcgui.services.flags import keep_chosen_edit, keep_one_edit, unflag_edit

if TYPE_CHECKING:
    from dcgui.store import SessionStore
    from dcgui.store.edits import Edit

STEPS = 100  # slider steps per unit of difference
STRIP = (0.1, 0.2, 0.3, 0.4, 0.5)  # the settings whose counts are always shown


class DuplicatesTab(ExploreTab):
    def __init__(self, model: SessionModel, jobs: ExploreJobs, thumbnails: AsyncPixmapCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(model, jobs, parent)
        self._dup: NearDuplicates | None = None
        self._info: ImageInfo | None = None
        self._groups: list[NearDuplicateGroup] = []
        self._stats: dict[str, np.ndarray] | None = None  # size, time, pixels: what keep rules compare
        self.dialog: EditConfirmDialog | None = None  # the last preview shown (tests)
        tip = ("Largest pixel difference between any two images of a group (0 = identical). Copies "
               "(resized, re-encoded, converted, EXIF-rotated, slightly cropped) differ by less than "
               f"~0.3; other shots of the same scene by more. Default {DEFAULT_THRESHOLD}, measured on real photos.")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, round(MAX_DIFFERENCE * STEPS))
        self.slider.setValue(round(DEFAULT_THRESHOLD * STEPS))
        self.slider.setToolTip(tip)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, MAX_DIFFERENCE)
        self.spin.setDecimals(2)
        self.spin.setSingleStep(1 / STEPS)
        self.spin.setValue(DEFAULT_THRESHOLD)
        self.spin.setToolTip(tip)
        self.count_label = QLabel()
        self.strip_label = QLabel()
        self.strip_label.setToolTip("Groups and images at other settings (from the same merges: no recomputation)")
        self.slider.valueChanged.connect(self._on_slider)
        self.spin.valueChanged.connect(lambda v: self.slider.setValue(round(v * STEPS)))
        # Regroup once the slider rests; the count is live.
        self._regroup_later = qdebounced(self._update_groups, timeout=200, parent=self)
        self.group_list = QListWidget()
        self.group_list.currentRowChanged.connect(self._show_group)
        self.members = ThumbnailGrid(thumbnails, self, caption_lines=1)
        self.link = GridSelectionLink(self.members, model, "duplicates")
        self.keep_rule = QComboBox()
        for rule, text in KEEP_RULES.items():
            self.keep_rule.addItem(f"Keep the {text}", rule)
        self.keep_rule.setCurrentIndex(max(0, self.keep_rule.findData(DEFAULT_KEEP_RULE)))
        self.keep_rule.setToolTip("Which image of a group is kept (flagged 'keep'); the others are flagged "
                                  "'duplicate'. Ties go to the next criterion, then to the path order.")
        self.keep_rule.currentIndexChanged.connect(lambda _i: self._after_flags())
        self.keep_first_button = QPushButton("Keep one, flag the rest")
        self.keep_first_button.setToolTip("In this group, flag the image the rule keeps 'keep' and the others "
                                          "'duplicate' (you see the counts first). No file is deleted or moved.")
        self.keep_first_button.clicked.connect(lambda: self.flag_group(self.group_list.currentRow()))
        self.keep_selected_button = QPushButton("Keep selected, flag the rest")
        self.keep_selected_button.clicked.connect(self._keep_selected)
        self.unflag_button = QPushButton("Unflag group")
        self.unflag_button.setToolTip("Clear the flags a bulk action set on this group; flags you set by hand stay")
        self.unflag_button.clicked.connect(lambda: self.unflag_group(self.group_list.currentRow()))
        self.flag_all_button = QPushButton("Flag all groups…")
        self.flag_all_button.setToolTip("In every group, keep one by the rule and flag the others 'duplicate' "
                                        "(you see the counts first). No file is deleted or moved.")
        self.flag_all_button.clicked.connect(self.flag_all_groups)
        top = QHBoxLayout()
        top.addWidget(QLabel("Difference ≤"))
        top.addWidget(self.slider, 2)
        top.addWidget(self.spin)
        top.addWidget(self.count_label, 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.keep_rule)
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
        lay.addWidget(self.strip_label)
        lay.addWidget(split, 1)
        model.flagsChanged.connect(lambda _i: self._after_flags())
        self.members.selectionModel().selectionChanged.connect(lambda *_: self.update_enabled())

    # -- ExploreTab -----------------------------------------------------------------------------
    def reset(self) -> None:
        self._dup, self._info, self._groups, self._stats = None, None, [], None
        self.group_list.clear()
        self.link.show([])
        self.count_label.setText("")
        self.strip_label.setText("")

    def trained(self) -> bool:
        return self.model.store is not None  # pixels only: no trained network needed

    def _on_epoch(self, _epoch: int) -> None:
        if self._dup is None:  # the groups do not depend on the epoch: keep them
            super()._on_epoch(_epoch)

    def needs_run(self) -> bool:
        return self._dup is None

    def run(self) -> None:
        def work(store: SessionStore, _f: es.SessionFeatures | None, control: RunControl
                 ) -> Generator[Any, None, Any]:
            found = yield from ds.iter_session_near_duplicates(store, control=control)
            return found, ds.image_info(store)

        def done(value: Any) -> None:
            self._dup, self._info = value
            self._show_strip()
            self._on_slider(self.slider.value())
            self._update_groups()
            self.say(f"Copies among {self._dup.n:,} images, judged from their pixels: every two images of a "
                     "group differ by at most the threshold.")

        self.count_label.setText("Comparing images…")
        self.jobs.submit("duplicates", self, work, done, need_features=False)

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
    def groups(self) -> list[NearDuplicateGroup]:
        return self._groups

    @property
    def index(self) -> NearDuplicates | None:
        return self._dup

    @property
    def info(self) -> ImageInfo | None:
        """File size, resolution and mtime per image (for a "keep one" rule)."""
        return self._info

    @property
    def threshold(self) -> float:
        return self.slider.value() / STEPS

    def set_threshold(self, t: float) -> None:
        """Move the slider to ``t`` and regroup now (a drag regroups once the slider rests)."""
        self.slider.setValue(round(t * STEPS))
        self._regroup_later.cancel()
        self._update_groups()

    def duplicate_count(self) -> tuple[int, int]:
        """(groups, images) at the slider's threshold (0, 0 before the index exists)."""
        return self._dup.count(self.threshold) if self._dup is not None else (0, 0)

    @property
    def rule(self) -> str:
        return str(self.keep_rule.currentData())

    def keeper(self, grp: NearDuplicateGroup) -> int:
        """The image of ``grp`` the rule keeps."""
        stats = self._image_stats()
        return int(rank_members(grp.members, self.rule, stats)[0]) if stats is not None else grp.keep

    def flag_group(self, row: int, keep: int | None = None) -> EditConfirmDialog | None:
        """Group ``row``: ``keep`` on the image the rule keeps (or ``keep``, chosen by the user),
        ``duplicate`` on the others; after the preview."""
        if not 0 <= row < len(self._groups) or self.model.store is None:
            return None
        grp = self._groups[row]
        if keep is None:
            return self._confirm(keep_one_edit(self.model.store, [grp.members], self.rule, f"keep one of group {row + 1}"))
        return self._confirm(keep_chosen_edit(grp.members, keep,
                                              f"keep the selected image of group {row + 1}, flag the rest"))

    def unflag_group(self, row: int) -> EditConfirmDialog | None:
        """Clear what bulk actions flagged in group ``row``; hand-set flags stay (the preview counts them)."""
        if not 0 <= row < len(self._groups):
            return None
        return self._confirm(unflag_edit(self._groups[row].members, f"unflag group {row + 1}"))

    def flag_all_groups(self) -> EditConfirmDialog | None:
        """Keep one per group at the current threshold (by the rule) and flag the others."""
        if not self._groups or self.model.store is None:
            return None
        return self._confirm(keep_one_edit(self.model.store, [g.members for g in self._groups], self.rule,
                                           "flag all groups"))

    # -- internals ------------------------------------------------------------------------------
    def _confirm(self, edit: Edit) -> EditConfirmDialog | None:
        if not self.model.writable:  # (the buttons are disabled then)
            return None
        self.dialog = confirm_edit(self, edit, self.model.preview_edit, self.model.apply_edit)
        return self.dialog

    def _image_stats(self) -> dict[str, np.ndarray] | None:
        if self._stats is None and self.model.store is not None:
            self._stats = self.model.store.image_stats()
        return self._stats

    def _keep_selected(self) -> None:
        sel = self.members.selected_images()
        if len(sel) == 1:
            self.flag_group(self.group_list.currentRow(), keep=sel[0])

    def _show_strip(self) -> None:
        if self._dup is None:
            return
        cells = [f"≤ {t:.1f}: {g:,} groups / {n:,} images" for t, g, n in self._dup.counts(STRIP)]
        self.strip_label.setText("   ·   ".join(cells))

    def _on_slider(self, value: int) -> None:
        t = value / STEPS
        if abs(self.spin.value() - t) > 1e-9:
            self.spin.blockSignals(True)
            self.spin.setValue(t)
            self.spin.blockSignals(False)
        if self._dup is None:
            return
        groups, images = self._dup.count(t)  # a binary search: live while dragging
        self.count_label.setText(f"<b>{groups:,}</b> groups · {images:,} images · "
                                 f"{images - groups:,} would be flagged")
        self._regroup_later()

    def _update_groups(self) -> None:
        if self._dup is None or self._info is None:
            return
        row = self.group_list.currentRow()
        self._groups = ds.groups_at(self._dup, self.threshold, self._info)
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

    def _group_text(self, g: int, grp: NearDuplicateGroup) -> str:
        flags = self.model.flags
        n_flagged = sum(1 for i in grp.rest if flags.get(int(i)) == "duplicate")
        text = f"Group {g}: {len(grp.members)} images, differ ≤ {grp.difference:.2f}"
        return text + (f" ({n_flagged} flagged)" if n_flagged else "")

    def _show_group(self, row: int) -> None:
        if not 0 <= row < len(self._groups):
            self.link.show([])
            return
        grp = self._groups[row]
        self.link.show([int(i) for i in grp.members], self._captions(grp),
                       [self._facts(int(i)) for i in grp.members])
        self.update_enabled()

    def _facts(self, i: int) -> str:
        if self._info is None:
            return ""
        return (f"{self._info.width[i]} x {self._info.height[i]} px, "
                f"{self._info.file_size[i] / 1024:,.0f} KB")

    def _captions(self, grp: NearDuplicateGroup) -> list[str]:
        flags = self.model.flags
        keeper = self.keeper(grp)
        out = []
        for i in grp.members.tolist():
            tag = ("kept by the rule · " if i == keeper else "") + (f"{self._info.width[i]}x{self._info.height[i]}"
                                                                   if self._info is not None else "")
            if flags.get(i):
                tag += f" · {flags[i]}"
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
