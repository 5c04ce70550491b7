"""The window's commands, each defined once: id, text, shortcut, tip and when it is enabled.

``ACTIONS`` is the one table. ``ActionRegistry`` (one per :class:`SessionModel`, found with
:func:`registry_for`) makes one ``QAction`` per row; menus, context menus and toolbars add that
``QAction`` instead of building their own, and the view that carries the command out connects to it
with :meth:`ActionRegistry.bind`. Enabled-rules and text-rules are functions of the model and of
the few facts a view publishes about its own widgets (``publish``: whether the grid has a
selection, how many clusters the list selects); they are re-evaluated whenever the model changes.
Help ▸ Keyboard shortcuts (:class:`ShortcutsDialog`) is generated from the same table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QStyle,
    QTableWidgetItem,
    QWidget,
)

from dcgui.core.analysis.groups import KIND_PART
from dcgui.gui.layout import dialog_buttons, read_only_table, vbox
from dcgui.gui.session_model import IDLE, PAUSED, RUNNING, SessionModel

Key = str | QKeySequence.StandardKey
Rule = Callable[[SessionModel, dict[str, Any]], bool]
TextRule = Callable[[SessionModel, dict[str, Any]], tuple[str, str]]  # (text, tooltip)

# Where a shortcut fires: the grid only while it has focus (K / X / Ctrl+C must not fire in the
# filter box); the browser while focus is inside it; the window from any page.
GRID, BROWSER, WINDOW, DUPLICATES = "grid", "browser", "window", "duplicates"
_CONTEXT = {GRID: Qt.ShortcutContext.WidgetShortcut, BROWSER: Qt.ShortcutContext.WidgetWithChildrenShortcut,
            WINDOW: Qt.ShortcutContext.WindowShortcut,
            DUPLICATES: Qt.ShortcutContext.WidgetWithChildrenShortcut}  # while focus is in the Duplicates tab


@dataclass(frozen=True)
class ActionSpec:
    """One command of the window."""

    id: str
    text: str
    keys: tuple[Key, ...] = ()
    tip: str = ""
    enabled: Rule | None = None  # None: always enabled
    label: TextRule | None = None  # text and tooltip that follow the state (Undo <what>)
    scope: str = WINDOW
    icon: QStyle.StandardPixmap | None = None
    checkable: bool = False
    role: QAction.MenuRole | None = None


def key_text(key: Key) -> str:
    seq = QKeySequence(key)
    return seq.toString(QKeySequence.SequenceFormat.NativeText)


# -- rules ------------------------------------------------------------------------------------------
def _grid_selection(m: SessionModel, f: dict[str, Any]) -> bool:
    return bool(f.get("grid_selection", False))


def _has_epoch(m: SessionModel, f: dict[str, Any]) -> bool:
    return m.store is not None and m.epoch > 0


def _browsing(m: SessionModel, f: dict[str, Any]) -> bool:
    return m.writable and bool(f.get("browsing", False))


def _a_cluster(m: SessionModel, f: dict[str, Any]) -> bool:
    """The active row is a cluster or group (not the "Excluded" row of left-out images)."""
    return not f.get("active_excluded", False)


def _dissolve_label(m: SessionModel, f: dict[str, Any]) -> tuple[str, str]:
    text = "Undo the split" if f.get("active_group_kind") == KIND_PART else "Dissolve group"
    return text, "Show a merged group's clusters on their own again, or a split cluster whole"


def _undo_label(which: int, word: str) -> TextRule:
    def label(m: SessionModel, f: dict[str, Any]) -> tuple[str, str]:
        rec = m.next_undo_redo()[which]
        return (f"&{word} {rec.summary}" if rec else f"&{word}"), ""
    return label


def _start_label(m: SessionModel, f: dict[str, Any]) -> tuple[str, str]:
    last = int(f.get("train_last_epoch", 0))
    if f.get("train_state") == PAUSED:
        return "Resume", "Resume training (Ctrl+Enter)"
    if last > 0:
        return "Resume training", f"Continue from epoch {last + 1} (Ctrl+Enter)"
    return "Start training", "Start training (Ctrl+Enter)"


def _flag(text: str, flag: str, key: str) -> ActionSpec:
    return ActionSpec(f"grid.{flag}", text, (key,), f"Flag the selected images “{flag}”", _grid_selection, scope=GRID)


ACTIONS: tuple[ActionSpec, ...] = (
    # -- File -------------------------------------------------------------------------------------
    ActionSpec("file.new", "&New session from folder…", (QKeySequence.StandardKey.New,)),
    ActionSpec("file.open", "&Open session…", (QKeySequence.StandardKey.Open,)),
    ActionSpec("file.demo", "Open &demo collection"),
    ActionSpec("file.export_backbone", "&Export backbone…", ("Ctrl+E",),
               enabled=lambda m, f: bool(f.get("session_open")) and bool(f.get("checkpoints"))),
    ActionSpec("file.export_csv", "Export cluster &CSV…",
               enabled=lambda m, f: bool(f.get("session_open")) and m.last_epoch > 0),
    ActionSpec("file.relink", "Re&link folder…", tip="The photos moved: point the session at their new folder",
               enabled=lambda m, f: bool(f.get("session_open")) and m.writable
               and f.get("train_state", IDLE) == IDLE),
    ActionSpec("file.export_report", "Export &report…",
               tip="One HTML page about this session that opens offline in any browser",
               enabled=lambda m, f: bool(f.get("session_open"))),  # an untrained session's report says so
    ActionSpec("file.compare", "Co&mpare with…", tip="This session's curves and settings next to other sessions'",
               enabled=lambda m, f: bool(f.get("session_open"))),
    ActionSpec("file.close", "&Close session", (QKeySequence.StandardKey.Close,),
               enabled=lambda m, f: bool(f.get("session_open"))),
    ActionSpec("file.quit", "&Quit", (QKeySequence.StandardKey.Quit,), role=QAction.MenuRole.QuitRole),
    # -- Edit -------------------------------------------------------------------------------------
    ActionSpec("edit.undo", "&Undo", (QKeySequence.StandardKey.Undo,),
               enabled=lambda m, f: m.writable and not m.edit_busy and m.next_undo_redo()[0] is not None,
               label=_undo_label(0, "Undo")),
    ActionSpec("edit.redo", "&Redo", ("Ctrl+Shift+Z", "Ctrl+Y"),
               enabled=lambda m, f: m.writable and not m.edit_busy and m.next_undo_redo()[1] is not None,
               label=_undo_label(1, "Redo")),
    # -- Training ---------------------------------------------------------------------------------
    ActionSpec("train.start", "Start training", ("Ctrl+Return", "Ctrl+Enter"),
               enabled=lambda m, f: bool(f.get("train_ready")) and f.get("train_state", IDLE) in (IDLE, PAUSED),
               label=_start_label, icon=QStyle.StandardPixmap.SP_MediaPlay),
    ActionSpec("train.pause", "Pause", ("Ctrl+P",), "Pause after the current batch (Ctrl+P); nothing is lost",
               enabled=lambda m, f: f.get("train_state", IDLE) == RUNNING, icon=QStyle.StandardPixmap.SP_MediaPause),
    ActionSpec("train.stop", "Stop", ("Ctrl+.",), "Stop after the current batch (Ctrl+.); finished epochs are kept "
               "and training can be resumed later",
               enabled=lambda m, f: f.get("train_state", IDLE) in (RUNNING, PAUSED),
               icon=QStyle.StandardPixmap.SP_MediaStop),
    ActionSpec("train.rewind", "Resume from epoch…", (), "Continue training from an earlier epoch (e.g. when a later "
               "checkpoint is damaged); the later epochs are kept in an archive session",
               enabled=lambda m, f: bool(f.get("train_ready")) and f.get("train_state", IDLE) == IDLE
               and int(f.get("train_last_epoch", 0)) > 0),
    # -- View -------------------------------------------------------------------------------------
    ActionSpec("view.clusters", "Clusters", ("Ctrl+1",)),
    ActionSpec("view.plots", "Plots", ("Ctrl+2",)),
    ActionSpec("view.explore", "Explore", ("Ctrl+3",)),
    ActionSpec("view.skipped", "Skipped files", ("Ctrl+4",)),
    ActionSpec("view.follow", "&Follow live", ("F5",), checkable=True),
    ActionSpec("view.start_page", "&Start page"),
    # -- Help -------------------------------------------------------------------------------------
    ActionSpec("help.method", "&How DeepCluster works", (), "The method step by step, and where each setting acts"),
    ActionSpec("help.glossary", "&Glossary", (), "NMI, AMI, ARI, k, epoch, purity, Sobel, projection head, centroid, "
               "kNN, linear probe, UMAP, pseudo-label: what each means here"),
    ActionSpec("help.whats_this", "What's &This?", ("Shift+F1",), "Click any plot title or setting to read what it "
               "means"),
    ActionSpec("help.shortcuts", "&Keyboard shortcuts"),
    ActionSpec("help.about", "&About dcgui", role=QAction.MenuRole.AboutRole),
    # -- the cluster browser: images in the grid --------------------------------------------------
    _flag("Keep", "keep", "K"),
    _flag("Exclude", "exclude", "X"),
    _flag("Duplicate", "duplicate", "D"),
    ActionSpec("grid.clear", "Clear flag", ("0", "Backspace"), "Remove the flag of the selected images",
               _grid_selection, scope=GRID),
    ActionSpec("grid.group", "Add to group…", ("G",), "Keep the selected images as a named group (saved in the session)",
               _grid_selection, scope=GRID),
    ActionSpec("grid.select_all", "Select all", ("Ctrl+A",), "Select every image of the grid", scope=GRID),
    ActionSpec("grid.copy", "Copy paths", ("Ctrl+C",), "Copy the selected images' full paths to the clipboard",
               _grid_selection, scope=GRID),
    ActionSpec("grid.open_folder", "Open folder", (), "Open the folder containing the image in the file manager",
               scope=BROWSER),
    ActionSpec("grid.more", "More like this", (), "Find the images nearest to this one in feature space", scope=BROWSER),
    ActionSpec("grid.zoom_in", "Larger thumbnails", ("Ctrl+=", "Ctrl++"), scope=BROWSER),
    ActionSpec("grid.zoom_out", "Smaller thumbnails", ("Ctrl+-",), scope=BROWSER),
    # -- the cluster browser: clusters in the list ------------------------------------------------
    ActionSpec("clusters.export", "Export selected clusters to folders…", (),
               "Copy or link the selected clusters' images into one folder per cluster", _has_epoch, scope=BROWSER),
    ActionSpec("clusters.export_csv", "Export CSV…", (), "Write path,cluster for every image of this epoch",
               _has_epoch, scope=BROWSER),
    ActionSpec("clusters.rename", "Rename cluster…", ("F2",), "Name the cluster", _a_cluster, scope=BROWSER),
    ActionSpec("clusters.tags", "Edit tags…", (), "Comma-separated tags of the cluster", _a_cluster, scope=BROWSER),
    ActionSpec("clusters.notes", "Notes…", (), "Free-text notes on the cluster", _a_cluster, scope=BROWSER),
    ActionSpec("clusters.merge", "Merge selected clusters…", (),
               "One named group of the selected clusters (it follows them to later epochs)",
               lambda m, f: _browsing(m, f) and int(f.get("selected_clusters", 0)) >= 2, scope=BROWSER),
    ActionSpec("clusters.split", "Split cluster…", (),
               "k-means on the cluster's images into N parts; the parts are shown before you accept",
               lambda m, f: _browsing(m, f) and m.active_cluster is not None and not f.get("active_excluded"),
               scope=BROWSER),
    ActionSpec("clusters.dissolve", "Dissolve group", (),
               "Show a merged group's clusters on their own again, or a split cluster whole",
               lambda m, f: _browsing(m, f) and f.get("active_group_kind") is not None,
               label=_dissolve_label, scope=BROWSER),
    # -- Explore > Duplicates: the review from the keyboard ---------------------------------------
    ActionSpec("duplicates.next", "Next duplicate group", ("N", "PgDown"), "Show the next group of copies",
               scope=DUPLICATES),
    ActionSpec("duplicates.previous", "Previous duplicate group", ("P", "PgUp"), "Show the previous group of copies",
               scope=DUPLICATES),
    ActionSpec("duplicates.keep", "Keep this copy, flag the rest", ("K",), "Keep the selected copy of the group and "
               "flag the others 'duplicate' (after the preview); then the next group", lambda m, f: m.writable,
               scope=DUPLICATES),
    ActionSpec("duplicates.dismiss", "Not duplicates", ("Shift+N",), "These images are not copies of one photo: "
               "the group leaves the list (Edit > Undo brings it back)", lambda m, f: m.writable, scope=DUPLICATES),
    ActionSpec("duplicates.flicker", "Flicker the two copies", ("F",), "Show the kept copy and the selected one in "
               "turn in one place: a crop or a changed detail jumps out", scope=DUPLICATES),
)

_MISSING = object()

# Model signals after which every rule is evaluated again.
_MODEL_SIGNALS = ("sessionChanged", "epochsChanged", "epochChanged", "activeClusterChanged", "selectionChanged",
                  "clusterSelectionChanged", "clusterGroupsChanged", "editsChanged", "trainingStateChanged",
                  "editBusyChanged")


class ActionRegistry(QObject):
    """One ``QAction`` per :data:`ACTIONS` row for one model; see the module docstring."""

    def __init__(self, model: SessionModel, specs: Iterable[ActionSpec] = ACTIONS) -> None:
        super().__init__(model)
        self.setObjectName("dcgui-actions")
        self.model = model
        self.specs: dict[str, ActionSpec] = {}
        self.facts: dict[str, Any] = {}
        self._actions: dict[str, QAction] = {}
        self._slots: dict[str, Any] = {}
        style = QApplication.style() if QApplication.instance() is not None else None
        for spec in specs:
            if spec.id in self.specs:
                raise ValueError(f"action {spec.id!r} is defined twice")
            a = QAction(spec.text, self)
            a.setObjectName(spec.id)
            if spec.icon is not None and style is not None:
                a.setIcon(style.standardIcon(spec.icon))
            if spec.keys:
                a.setShortcuts([QKeySequence(k) for k in spec.keys])
                a.setShortcutContext(_CONTEXT[spec.scope])
            self._set_tips(a, spec, spec.tip)
            a.setCheckable(spec.checkable)
            if spec.role is not None:
                a.setMenuRole(spec.role)
            self.specs[spec.id] = spec
            self._actions[spec.id] = a
        for name in _MODEL_SIGNALS:
            getattr(model, name).connect(self.update)
        self.update()

    @staticmethod
    def _set_tips(a: QAction, spec: ActionSpec, tip: str) -> None:
        plain = spec.text.replace("&", "")
        keys = ", ".join(key_text(k) for k in spec.keys)
        if keys and not (tip and key_text(spec.keys[0]) in tip):
            a.setToolTip(f"{tip or plain} ({keys})")
        else:
            a.setToolTip(tip or plain)
        a.setStatusTip(spec.tip or plain)

    def action(self, action_id: str) -> QAction:
        return self._actions[action_id]

    def actions(self) -> list[QAction]:
        return list(self._actions.values())

    def bind(self, action_id: str, slot: Callable[..., Any], *widgets: QWidget,
             signal: str = "triggered") -> QAction:
        """Make ``slot`` carry the command out (replacing an earlier binding) and let ``widgets``
        receive its shortcut (the scope says while which of them has focus)."""
        a = self._actions[action_id]
        sig = getattr(a, signal)
        old = self._slots.pop(action_id, None)
        if old is not None:
            sig.disconnect(old)
        sig.connect(slot)
        self._slots[action_id] = slot
        for w in widgets:
            w.addAction(a)
        return a

    def publish(self, **facts: Any) -> None:
        """A view says something about its own widgets that a rule reads; rules run again."""
        if any(self.facts.get(k, _MISSING) != v for k, v in facts.items()):
            self.facts.update(facts)
            self.update()

    def update(self, *_args: object) -> None:
        m, f = self.model, self.facts
        for action_id, spec in self.specs.items():
            a = self._actions[action_id]
            if spec.enabled is not None:
                a.setEnabled(bool(spec.enabled(m, f)))
            if spec.label is not None:
                text, tip = spec.label(m, f)
                a.setText(text)
                if tip:
                    a.setToolTip(tip)

    def shortcuts(self) -> list[tuple[str, str, str]]:
        """(text, keys, tip) of every action that has a shortcut, in the table's order."""
        return [(spec.text.replace("&", ""), ", ".join(key_text(k) for k in spec.keys), spec.tip)
                for spec in self.specs.values() if spec.keys]


def registry_for(model: SessionModel) -> ActionRegistry:
    """The model's registry (made on first use; it lives as long as the model)."""
    found = model.findChild(ActionRegistry, "dcgui-actions")
    return found if isinstance(found, ActionRegistry) else ActionRegistry(model)


class ShortcutsDialog(QDialog):
    """Help ▸ Keyboard shortcuts: every registered action that has a shortcut."""

    def __init__(self, registry: ActionRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = registry.shortcuts()
        self.table = read_only_table(["Action", "Shortcut", "What it does"], len(rows))
        for r, (name, keys, tip) in enumerate(rows):
            for key in keys.split(", "):  # the Shortcut column says it: not again in the text
                tip = tip.replace(f" ({key})", "")
            for c, text in enumerate((name, keys, tip)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(r, c, item)
        self.table.setWordWrap(True)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.resizeColumnsToContents()
        # Rows as tall as their wrapped text, again whenever the stretched column changes width
        # (a fixed row cut "finished epochs are kept and training can …").
        self.table.horizontalHeader().sectionResized.connect(lambda *_: self.table.resizeRowsToContents())
        vbox(self.table, dialog_buttons(self, QDialogButtonBox.StandardButton.Close), parent=self)
        self.resize(640, 520)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.table.resizeRowsToContents()

    def listed(self) -> list[tuple[str, str]]:
        """(action, shortcut) per row, as shown (tests)."""
        def text(r: int, c: int) -> str:
            item = self.table.item(r, c)
            return item.text() if item is not None else ""
        return [(text(r, 0), text(r, 1)) for r in range(self.table.rowCount())]
