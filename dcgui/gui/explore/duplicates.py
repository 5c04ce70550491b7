"""Explore › Duplicates: copies of one photo grouped at a pixel-difference threshold, and flags.

The detector (``dcgui.core.analysis.duplicates``) judges pairs from the cached thumbnails' pixels, so it
needs no trained network and does not depend on the epoch; it runs once per session in the
background. Counting groups at a threshold is a binary search over the complete-linkage
merges, so the count follows the slider live, a strip shows the counts at other settings, and
the groups are rebuilt once the slider rests. Flags are written through the model (no file is
ever deleted or moved), always after the preview (``dcgui.gui.edit_confirm``): which copy each
group keeps follows the rule the user picks (by default the most complete picture: the one the
others are crops or downscales of, ``dcgui.core.analysis.keep``), and the bulk actions leave
flags set by hand alone unless the user ticks the box that counts them. Edit ▸ Undo takes any
of them back.

Each tile says what a person needs to tell the copies apart (name, folder, pixels, file size,
date taken or modified) and why the rule keeps or passes over it; below the tiles the kept copy
and the selected one are shown large, side by side or flickering in one place. The review runs
from the keyboard: N / P next and previous group, K keep the selected copy, F flicker.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from collections.abc import Generator
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QListWidget,
    QSlider,
    QStyleOptionViewItem,
    QWidget,
)
from superqt.utils import qdebounced

from dcgui.core.analysis.duplicate_align import FINE
from dcgui.core.analysis.duplicates import (
    DEFAULT_THRESHOLD,
    MAX_DIFFERENCE,
    ImageInfo,
    NearDuplicateGroup,
    NearDuplicates,
)
from dcgui.core.analysis.keep import (
    DEFAULT_KEEP_RULE,
    KEEP_RULE_DETAILS,
    KEEP_RULES,
    keep_reasons,
    rank_members,
)
from dcgui.core.control import RunControl
from dcgui.core.numbers import human_bytes
from dcgui.core.pathtext import printable
from dcgui.gui.actions import registry_for
from dcgui.gui.edit_confirm import EditConfirmDialog, confirm_edit
from dcgui.gui.explore.common import ExploreTab, GridSelectionLink
from dcgui.gui.explore.duplicate_compare import DuplicateCompare
from dcgui.gui.explore.jobs import ExploreJobs
from dcgui.gui.layout import button, flow, hbox, quietly, splitter, vbox, wrapped_label
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
TILE = 160  # thumbnail side of the group's tiles: room for their caption lines
_RULE_SHORT = {"complete": "most complete", "largest": "largest file", "resolution": "most pixels",
               "oldest": "oldest file"}
WARN_STYLE = "color:#b9770e"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


class ThresholdBox(QDoubleSpinBox):
    """The threshold typed as a number. A value above the maximum is not refused keystroke by
    keystroke (Qt's spin box would keep the "0" of a typed "0.9" and show 0.00): it is accepted
    as typed and, when the entry ends, set to the maximum, with ``clamped(typed, used)``."""

    clamped = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setKeyboardTracking(False)  # the value changes when the entry ends, not at "0" of "0.9"

    def _number(self, text: str) -> float | None:
        t = text.strip().removeprefix(self.prefix()).removesuffix(self.suffix()).strip().replace(",", ".")
        try:
            return float(t)
        except ValueError:
            return None

    def validate(self, text: str, pos: int) -> Any:
        v = self._number(text)
        if v is not None and v > self.maximum():
            return QValidator.State.Intermediate, text, pos  # fixed up (clamped) when the entry ends
        return super().validate(text, pos)

    def fixup(self, text: str) -> str:
        v = self._number(text)
        if v is not None and v > self.maximum():
            self.clamped.emit(v, self.maximum())
            return self.textFromValue(self.maximum())
        return super().fixup(text)


class DuplicatesTab(ExploreTab):
    def __init__(self, model: SessionModel, jobs: ExploreJobs, thumbnails: AsyncPixmapCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(model, jobs, parent)
        self._dup: NearDuplicates | None = None
        self._info: ImageInfo | None = None
        self._groups: list[NearDuplicateGroup] = []
        self._stats: dict[str, np.ndarray] | None = None  # size, time, pixels: what keep rules compare
        self._crops: dict[int, set[int]] = {}  # image -> the images it is a crop of (pixel alignment)
        self._taken: dict[int, str] = {}  # EXIF capture date of grouped images (read on the worker)
        self._paths: list[str] = []
        self.dialog: EditConfirmDialog | None = None  # the last preview shown (tests)
        tip = ("Largest pixel difference between any two images of a group (0 = identical). Copies "
               "(resized, re-encoded, converted, EXIF-rotated, slightly cropped) differ by less than "
               f"~0.3; other shots of the same scene by more. Default {DEFAULT_THRESHOLD}, measured on real photos.")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, round(MAX_DIFFERENCE * STEPS))
        self.slider.setValue(round(DEFAULT_THRESHOLD * STEPS))
        self.slider.setToolTip(tip)
        self.spin = ThresholdBox()
        self.spin.setRange(0.0, MAX_DIFFERENCE)
        self.spin.setDecimals(2)
        self.spin.setSingleStep(1 / STEPS)
        self.spin.setValue(DEFAULT_THRESHOLD)
        self.spin.setToolTip(tip)
        self.count_label = QLabel()
        self.entry_note = QLabel()  # a typed threshold above the maximum: what was used instead
        self.entry_note.setStyleSheet(WARN_STYLE)
        self.entry_note.setVisible(False)
        self.spin.clamped.connect(self._on_clamped)
        self.tiny_note = wrapped_label()  # groups of tiny pictures: the pixels cannot tell
        self.tiny_note.setStyleSheet(WARN_STYLE)
        self.tiny_note.setVisible(False)
        self.strip_label = QLabel()
        self.strip_label.setToolTip("Groups and images at other settings (from the same merges: no recomputation)")
        self.slider.valueChanged.connect(self._on_slider)
        self.spin.valueChanged.connect(self._on_spin)
        # Regroup once the slider rests; the count is live.
        self._regroup_later = qdebounced(self._update_groups, timeout=200, parent=self)
        self.group_list = QListWidget()
        self.group_list.currentRowChanged.connect(self._show_group)
        self.members = ThumbnailGrid(thumbnails, self, caption_lines=5, thumb_size=TILE)
        self.link = GridSelectionLink(self.members, model, "duplicates")
        self.compare = DuplicateCompare(self)
        self.keep_rule = QComboBox()
        for rule, text in KEEP_RULES.items():
            self.keep_rule.addItem(f"Keep the {text}", rule)
            self.keep_rule.setItemData(self.keep_rule.count() - 1, f"Keeps {KEEP_RULE_DETAILS[rule]}.",
                                       Qt.ItemDataRole.ToolTipRole)
        self.keep_rule.setCurrentIndex(max(0, self.keep_rule.findData(DEFAULT_KEEP_RULE)))
        self.keep_rule.setToolTip("Which image of a group is kept (flagged 'keep'); the others are flagged "
                                  "'duplicate'. The default keeps the most complete picture: the copy the others "
                                  "are crops or downscales of (from the pixel alignment), then the largest file, "
                                  "then the oldest. Each tile says why.")
        self.keep_rule.currentIndexChanged.connect(lambda _i: self._after_flags())
        def current_row() -> int:
            return self.group_list.currentRow()

        self.keep_first_button = button(
            "Keep the rule's, flag the rest", lambda: self.flag_group(current_row()),
            tip="In this group, flag the image the rule keeps 'keep' and the others "
                "'duplicate' (you see the counts first). No file is deleted or moved.")
        self.keep_selected_button = button(
            "Keep selected, flag the rest", self._keep_selected,
            tip="Keep the copy selected in the group (K) and flag the others 'duplicate'; the next group is shown after")
        self.unflag_button = button(
            "Unflag group", lambda: self.unflag_group(current_row()),
            tip="Clear the flags a bulk action set on this group; flags you set by hand stay")
        self.dismiss_button = button(
            "Not duplicates", lambda: self.dismiss_group(current_row()),
            tip="These images are not copies of one photo: the group is left out of this list and of later "
                "detections, until one of its images changes (Edit ▸ Undo brings it back). No flag changes.")
        self.flag_all_button = button(
            "Flag all groups…", self.flag_all_groups,
            tip="In every group, keep one by the rule and flag the others 'duplicate' "
                "(you see the counts first). No file is deleted or moved.")
        top = hbox(QLabel("Difference ≤"), (self.slider, 2), self.spin, self.entry_note, (self.count_label, 2))
        buttons = flow(self.keep_rule, self.keep_first_button, self.keep_selected_button, self.unflag_button,
                       self.dismiss_button, self.flag_all_button)  # wraps in a narrow window
        tiles_and_compare = splitter(Qt.Orientation.Vertical, (self.members, 2), (self.compare, 3))
        tiles_and_compare.setCollapsible(0, False)
        # one row of tiles with all five caption lines stays visible above the comparison
        self.members.setMinimumHeight(self.members.itemDelegate().sizeHint(QStyleOptionViewItem(), QModelIndex())
                                      .height() + 2 * self.members.frameWidth() + 4)
        right = QWidget()
        vbox((tiles_and_compare, 1), buttons, parent=right, margins=0)
        split = splitter(Qt.Orientation.Horizontal, self.group_list, (right, 3))
        vbox(top, self.strip_label, self.tiny_note, (split, 1), parent=self)
        model.flagsChanged.connect(lambda _i: self._after_flags())
        model.editsChanged.connect(self._after_edit)  # "not duplicates" done, undone or redone
        self.members.selectionModel().selectionChanged.connect(lambda *_: self.update_enabled())
        self.members.selectionModel().currentChanged.connect(lambda *_: self._show_compare())
        self.review_actions = self._make_review_actions()

    # -- ExploreTab -----------------------------------------------------------------------------
    def reset(self) -> None:
        self._dup, self._info, self._groups, self._stats = None, None, [], None
        self._crops, self._taken, self._paths = {}, {}, []
        self.group_list.clear()
        self.link.show([])
        self.compare.clear()
        self.tiny_note.setVisible(False)
        self.count_label.setText("")
        self.strip_label.setText("")

    def trained(self) -> bool:
        return self.model.store is not None  # pixels only: no trained network needed

    def _on_epoch(self, _epoch: int) -> None:
        # the groups come from the pixels, not the epoch: keep them, and let a running detection
        # finish (following a training live changes the epoch every few seconds)
        if self._dup is None and not self.jobs.pending("duplicates"):
            super()._on_epoch(_epoch)

    def needs_run(self) -> bool:
        return self._dup is None

    def run(self) -> None:
        def work(store: SessionStore, _f: es.SessionFeatures | None, control: RunControl
                 ) -> Generator[Any, None, Any]:
            found = yield from ds.iter_session_near_duplicates(store, control=control)
            return found, ds.image_info(store), ds.taken_dates(store, found, control)

        def done(value: Any) -> None:
            self._dup, self._info, self._taken = value
            self._crops = self._dup.crops_of()
            self._paths = self.model.store.image_paths() if self.model.store is not None else []
            self.compare.set_paths(self.model.store.path_guard if self.model.store is not None else None)
            self._show_strip()
            self._on_slider(self.slider.value())
            self._update_groups()
            self.say(f"Copies among {self._dup.n:,} images, judged from their pixels: every two images of a "
                     "group differ by at most the threshold.")

        self.count_label.setText("Comparing images…")
        self.jobs.submit("duplicates", self, work, done, need_features=False, per_epoch=False)

    def update_enabled(self) -> None:
        writable = self.model.writable
        grp = self.group_list.currentRow()
        has_group = writable and 0 <= grp < len(self._groups)
        for b in (self.keep_first_button, self.unflag_button, self.dismiss_button):
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
        return int(rank_members(grp.members, self.rule, stats, self._crops)[0]) if stats is not None else grp.keep

    def reasons(self, grp: NearDuplicateGroup) -> dict[int, str]:
        """Image -> why the rule keeps it or passes over it."""
        stats = self._image_stats()
        return keep_reasons(grp.members, self.rule, stats, self._crops) if stats is not None else {}

    def next_group(self, step: int = 1) -> None:
        """Show the next (``step`` 1) or previous (-1) group."""
        if self._groups:
            row = self.group_list.currentRow()
            self.group_list.setCurrentRow(max(0, min(len(self._groups) - 1, row + step)))

    def flag_group(self, row: int, keep: int | None = None) -> EditConfirmDialog | None:
        """Group ``row``: ``keep`` on the image the rule keeps (or ``keep``, chosen by the user),
        ``duplicate`` on the others; after the preview."""
        if not 0 <= row < len(self._groups) or self.model.store is None:
            return None
        grp = self._groups[row]
        if keep is None:
            return self._confirm(keep_one_edit(self.model.store, [grp.members], self.rule,
                                               f"keep one of group {row + 1}", crops_of=self._crops))
        return self._confirm(keep_chosen_edit(grp.members, keep,
                                              f"keep the selected image of group {row + 1}, flag the rest"),
                             then_next=True)

    def unflag_group(self, row: int) -> EditConfirmDialog | None:
        """Clear what bulk actions flagged in group ``row``; hand-set flags stay (the preview counts them)."""
        if not 0 <= row < len(self._groups):
            return None
        return self._confirm(unflag_edit(self._groups[row].members, f"unflag group {row + 1}"))

    def dismiss_group(self, row: int) -> None:
        """Group ``row`` is not duplicates: one undoable edit; it stays away until an image changes."""
        store = self.model.store
        if not 0 <= row < len(self._groups) or store is None or not self.model.writable:
            return
        pending = self.model.apply_edit(ds.dismiss_edit(store, self._groups[row].members))
        if pending is not None:
            pending.then(lambda applied: self._update_groups() if applied is not None else None)

    def _after_edit(self) -> None:
        if self._dup is not None and self._info is not None and self.model.store is not None:
            self._update_groups()

    def flag_all_groups(self) -> EditConfirmDialog | None:
        """Keep one per group at the current threshold (by the rule) and flag the others."""
        if not self._groups or self.model.store is None:
            return None
        return self._confirm(keep_one_edit(self.model.store, [g.members for g in self._groups], self.rule,
                                           "flag all groups", crops_of=self._crops))

    # -- internals ------------------------------------------------------------------------------
    def _confirm(self, edit: Edit, then_next: bool = False) -> EditConfirmDialog | None:
        if not self.model.writable:  # (the buttons are disabled then)
            return None
        row = self.group_list.currentRow()

        def advance(_result: Any) -> None:  # the keyboard review goes on with the next group
            if then_next and self.group_list.currentRow() == row:
                self.next_group(1)

        self.dialog = confirm_edit(self, edit, self.model.preview_edit, self.model.apply_edit, done=advance)
        return self.dialog

    def _make_review_actions(self) -> dict[str, QAction]:
        """The review's keys (defined in ``dcgui.gui.actions``), active while focus is in this tab."""
        reg = registry_for(self.model)
        slots: dict[str, Any] = {"duplicates.next": lambda: self.next_group(1),
                                 "duplicates.previous": lambda: self.next_group(-1),
                                 "duplicates.keep": self._keep_selected,
                                 "duplicates.flicker": self.compare.toggle_flicker,
                                 "duplicates.dismiss": lambda: self.dismiss_group(self.group_list.currentRow())}
        bound = {action_id: reg.bind(action_id, slot, self) for action_id, slot in slots.items()}
        self.compare.hint.setText("Keys: " + " · ".join(
            f"{a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)} {reg.specs[i].text.lower()}"
            for i, a in bound.items()))
        return bound

    def _image_stats(self) -> dict[str, np.ndarray] | None:
        if self._stats is None and self.model.store is not None:
            self._stats = self.model.store.image_stats()
        return self._stats

    def _keep_selected(self) -> None:
        sel = self.members.selected_images()
        if len(sel) == 1:
            self.flag_group(self.group_list.currentRow(), keep=sel[0])
        else:  # nothing or several selected: K alone must not look as if it did nothing
            self.say("Select one copy to keep (the others of the group are flagged 'duplicate').", transient=True)

    def _show_strip(self) -> None:
        if self._dup is None:
            return
        cells = [f"≤ {t:.1f}: {_plural(g, 'group')} / {_plural(n, 'image')}" for t, g, n in self._dup.counts(STRIP)]
        self.strip_label.setText("   ·   ".join(cells))

    def _on_spin(self, v: float) -> None:
        if v < self.spin.maximum():
            self.entry_note.setVisible(False)
        self.slider.setValue(round(v * STEPS))

    def _on_clamped(self, typed: float, used: float) -> None:
        self.entry_note.setText(f"{typed:g} is above the largest difference ({used:.2f}): {used:.2f} is used")
        self.entry_note.setVisible(True)

    def _on_slider(self, value: int) -> None:
        t = value / STEPS
        if abs(self.spin.value() - t) > 1e-9:
            with quietly(self.spin):
                self.spin.setValue(t)
        if self._dup is None:
            return
        groups, images = self._dup.count(t)  # a binary search: live while dragging
        self.count_label.setText(f"<b>{_plural(groups, 'group')}</b> · {_plural(images, 'image')} · "
                                 f"{images - groups:,} would be flagged")
        self._regroup_later()

    def _update_groups(self) -> None:
        if self._dup is None or self._info is None:
            return
        row = self.group_list.currentRow()
        groups = ds.groups_at(self._dup, self.threshold, self._info)
        # groups marked "not duplicates" stay away (until one of their images changes)
        store = self.model.store
        try:
            self._groups = ds.without_dismissed(store, groups) if store is not None else groups
        except sqlite3.ProgrammingError:  # the session was closed while the detection ran: show them all
            self._groups = groups
        with quietly(self.group_list):
            self.group_list.clear()
            for g, grp in enumerate(self._groups, start=1):
                self.group_list.addItem(self._group_text(g, grp))
        # the count says what the list holds: groups marked "not duplicates" are not in it
        shown = sum(len(g.members) for g in self._groups)
        hidden = len(groups) - len(self._groups)
        self.count_label.setText(
            f"<b>{_plural(len(self._groups), 'group')}</b> · {_plural(shown, 'image')} · "
            f"{shown - len(self._groups):,} would be flagged"
            + (f" · {_plural(hidden, 'group')} marked not duplicates" if hidden else ""))
        if self._groups:
            self.group_list.setCurrentRow(row if 0 <= row < len(self._groups) else 0)
        else:
            self.link.show([])
            self.compare.clear("No copies at this threshold")
        n_tiny = sum(1 for g in self._groups if self._tiny(g))
        self.tiny_note.setText(
            f"{_plural(n_tiny, 'group')} of pictures smaller than {FINE} px (marked “small”): at that size the "
            "pixel check cannot tell a copy from a similar picture (two plain shirts look alike to it). "
            "Compare them before flagging." if n_tiny else "")
        self.tiny_note.setVisible(n_tiny > 0)
        self.update_enabled()

    def _tiny(self, grp: NearDuplicateGroup) -> bool:
        """Whether the pixel check saw ``grp`` at less than its full detail (under FINE px)."""
        if self._info is None:
            return False
        m = grp.members
        return bool(np.any(np.maximum(self._info.width[m], self._info.height[m]) < FINE))

    def _group_text(self, g: int, grp: NearDuplicateGroup) -> str:
        flags = self.model.flags
        n_flagged = sum(1 for i in grp.rest if flags.get(int(i)) == "duplicate")
        text = f"Group {g}: {_plural(len(grp.members), 'image')}, differ ≤ {grp.difference:.2f}"
        if self._tiny(grp):
            text += " · small: check by eye"
        return text + (f" ({n_flagged} flagged)" if n_flagged else "")

    def _show_group(self, row: int) -> None:
        if not 0 <= row < len(self._groups):
            self.link.show([])
            return
        grp = self._groups[row]
        members = [int(i) for i in grp.members]
        self.link.show(members, self._captions(grp), [self._facts(i, grp) for i in members])
        self._show_compare()  # the kept copy beside the first one the rule passes over, until one is picked
        self.update_enabled()

    def _name(self, i: int) -> tuple[str, str]:
        """(file name, folder) of image ``i``, printable."""
        rel = PurePosixPath(self._paths[i]) if 0 <= i < len(self._paths) else PurePosixPath(f"image {i}")
        folder = str(rel.parent)
        return printable(rel.name), printable(folder if folder != "." else "(top folder)")

    def _date(self, i: int) -> str:
        """EXIF capture date when the file has one, else its modification date."""
        if self._taken.get(i):
            return f"taken {self._taken[i]}"
        if self._info is None:
            return ""
        t = _dt.datetime.fromtimestamp(int(self._info.mtime_ns[i]) / 1e9)
        return f"modified {t:%Y-%m-%d %H:%M}"

    def _facts(self, i: int, grp: NearDuplicateGroup | None = None) -> str:
        """Everything about one copy, one fact a line (tooltips, the comparison)."""
        if self._info is None:
            return ""
        name, folder = self._name(i)
        lines = [name, f"in {folder}", f"{self._info.width[i]} × {self._info.height[i]} px · "
                 f"{human_bytes(int(self._info.file_size[i]))}", self._date(i)]
        if grp is not None:
            reason = self.reasons(grp).get(i, "")
            kept = i == self.keeper(grp)
            lines.append(("Kept by the rule: " if kept else "Flagged by the rule: ") + reason)
        return "\n".join(lines)

    def _captions(self, grp: NearDuplicateGroup) -> list[str]:
        flags = self.model.flags
        keeper = self.keeper(grp)
        reasons = self.reasons(grp)
        out = []
        for i in grp.members.tolist():
            name, folder = self._name(i)
            dims = (f"{self._info.width[i]}×{self._info.height[i]} · {human_bytes(int(self._info.file_size[i]))}"
                    if self._info is not None else "")
            # the kept tile names the rule in short; the full sentence is in its tooltip and below
            verdict = f"KEEP: {_RULE_SHORT[self.rule]}" if i == keeper else reasons.get(i, "")
            if flags.get(i):
                verdict = f"[{flags[i]}] {verdict}"
            out.append("\n".join((name, folder, dims, self._date(i)[:-6], verdict)))
        return out

    def _show_compare(self) -> None:
        row = self.group_list.currentRow()
        if not 0 <= row < len(self._groups):
            self.compare.clear()
            return
        grp = self._groups[row]
        keeper = self.keeper(grp)
        cur = self.members.currentIndex()
        other = self.members.grid_model().image_index(cur.row()) if cur.isValid() else None
        if other == keeper or other not in set(grp.members.tolist()):
            other = next((int(i) for i in grp.members if int(i) != keeper), None)
        rel = self._paths
        self.compare.show_pair(keeper, rel[keeper] if keeper < len(rel) else "", self._facts(keeper, grp),
                               other, rel[other] if other is not None and other < len(rel) else "",
                               self._facts(other, grp) if other is not None else "")

    def _after_flags(self) -> None:
        """Flags changed (here or anywhere): the group texts and captions say so."""
        for g, grp in enumerate(self._groups):
            item = self.group_list.item(g)
            if item is not None:
                item.setText(self._group_text(g + 1, grp))
        row = self.group_list.currentRow()
        if 0 <= row < len(self._groups):
            self.members.grid_model().set_captions(self._captions(self._groups[row]))
            self._show_compare()
