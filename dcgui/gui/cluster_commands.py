"""The cluster browser's commands on images and clusters, and its context menus.

Each command is a row of the action registry (``gui/actions.py``: text, keys, tip, enabled-rule);
``bind`` connects those rows to the methods here. Edits go to the model; flagging more than one
image shows its preview first (``edit_confirm``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog, QMenu, QWidget

from dcgui.core.errors import SessionFileError
from dcgui.gui import curation
from dcgui.gui.browser_part import BrowserPart
from dcgui.gui.cluster_list import COL_CLUSTER, COL_TAGS
from dcgui.gui.edit_confirm import confirm_flags
from dcgui.gui.session_model import describe_selection

if TYPE_CHECKING:
    from dcgui.gui.actions import ActionRegistry
    from dcgui.gui.worker import GeneratorWorker


def ask_group_name(parent: QWidget, names: list[str], n: int) -> str | None:
    """Ask for a group name (an existing one adds to it). Tests replace this."""
    name, ok = QInputDialog.getItem(parent, "Add to a named group",
                                    f"Group for the {n:,} selected image{'s' if n != 1 else ''} "
                                    "(a new name creates it; saved in the session):", names, 0, True)
    return (name.strip() or None) if ok else None


class ClusterCommands(BrowserPart):
    """What the cluster browser's actions do; see the module docstring."""

    def bind(self, reg: ActionRegistry) -> None:
        """Connect the registry's browser actions to these commands (shortcuts: the grid or the browser)."""
        b, g, edits = self.b, self.b.grid, self.b.edits
        for flag in ("keep", "exclude", "duplicate"):
            reg.bind(f"grid.{flag}", lambda _c=False, f=flag: self.flag_selected(f), g)
        for action_id, slot in (("grid.clear", lambda: self.flag_selected(None)),
                                ("grid.group", self.add_selection_to_group), ("grid.select_all", g.selectAll),
                                ("grid.copy", self.copy_selected_paths)):
            reg.bind(action_id, slot, g)
        for action_id, slot in (("grid.open_folder", self.open_containing_folder), ("grid.more", self._more_like_selected),
                                ("clusters.export", self.export_selected_clusters),
                                ("clusters.export_csv", lambda: self.export_csv()),
                                ("clusters.rename", self.rename_current_cluster), ("clusters.tags", self.edit_current_tags),
                                ("clusters.notes", self.edit_current_notes),
                                ("clusters.merge", edits.merge_selected_clusters),
                                ("clusters.split", edits.split_current_cluster),
                                ("clusters.dissolve", edits.dissolve_current_group),
                                ("grid.zoom_in", g.zoom_in), ("grid.zoom_out", g.zoom_out)):
            reg.bind(action_id, slot, b)

    def flag_selected(self, flag: str | None) -> None:
        """Flag the grid's selected images (``keep`` / ``exclude`` / ``duplicate``; None clears);
        more than one image: the preview first."""
        chosen = self.b.grid.selected_images()
        m = self.b.model
        what = describe_selection(len(chosen), max(len(m.selection), len(chosen)), m.selection_source or "grid")
        self.b.dialog = confirm_flags(self.b, m, chosen, flag, what=what)

    def add_selection_to_group(self) -> None:
        sel = self.b.grid.selected_images()
        if not sel:
            self.b.model.message.emit("Select images first (click, Shift+click, Ctrl+A, or a lasso on the map)")
            return
        name = ask_group_name(self.b, sorted(self.b.model.groups), len(sel))
        if name:
            self.b.model.save_group(name, sel)

    def copy_selected_paths(self) -> None:
        paths = self._abs_paths(self.b.grid.selected_images())
        if not paths:
            self.b.model.message.emit("Select images in the grid first")
            return
        curation.copy_paths_to_clipboard(paths)
        self.b.model.message.emit(f"Copied {len(paths):,} path{'s' if len(paths) != 1 else ''} to the clipboard")

    def _focused_image(self) -> int | None:
        """The image these commands act on: the one in the image pane, else the first selected."""
        i = self.b.image_pane.image_index
        if i is None:
            selected = self.b.grid.selected_images()
            i = selected[0] if selected else None
        return i

    def open_containing_folder(self) -> None:
        i = self._focused_image()
        if i is None:
            self.b.model.message.emit("Select an image first")
            return
        self._open_folder_of(i)

    def export_selected_clusters(self) -> curation.ExportClustersDialog | None:
        """Open the export dialog (dry-run summary first) for the selected clusters."""
        c = self.b.model.active_cluster
        clusters = self.b.cluster_view.selected_clusters() or ([c] if c is not None else [])
        clusters = [code for code in clusters if not self.b.cluster_model.is_excluded_row(code)]  # no folder
        store = self.b.model.store
        view = self.b.cluster_model.view
        if store is None or not clusters or view is None:
            self.b.model.message.emit("Select one or more clusters in the list first")
            return None
        keys = [view.group(code).key for code in clusters]
        return curation.export_clusters(self.b, store, self.b.model.epoch, keys, self.b.model.message.emit,
                                        lambda key: view.find(key).title)

    def export_csv(self, path: Path | None = None) -> GeneratorWorker | None:
        """Write ``path,cluster,cluster_name`` of the epoch (asks for the file unless given)."""
        store = self.b.model.store
        if store is None or self.b.model.epoch == 0:
            self.b.model.message.emit("No epoch to export yet")
            return None
        return curation.export_assignments_csv(self.b, store, self.b.model.epoch, self.b.model.message.emit, path)

    def rename_current_cluster(self) -> None:
        self._edit_current(COL_CLUSTER)  # the display name column renames

    def edit_current_tags(self) -> None:
        self._edit_current(COL_TAGS)

    def _edit_current(self, column: int) -> None:
        c = self.b.model.active_cluster
        row = self.b.cluster_model.row_of_cluster(c) if c is not None else None
        if row is not None:
            ix = self.b.cluster_model.index(row, column)
            self.b.cluster_view.setCurrentIndex(ix)
            self.b.cluster_view.edit(ix)

    def edit_current_notes(self) -> None:
        c = self.b.model.active_cluster
        if c is None or self.b.model.store is None:
            return
        if self.b.cluster_model.group(c) is not None:
            self.b.model.message.emit("Notes and tags belong to whole clusters: a part or a merged group has a name only")
            return
        text, ok = QInputDialog.getMultiLineText(self.b, f"Notes on {self.b.model.cluster_title(c)}",
                                                 "Notes (saved in the session file):", self.b.model.cluster_notes(c))
        if ok:
            self.b.model.set_cluster_notes(c, text)

    def _fill_groups_menu(self) -> None:
        self.b.groups_menu.clear()
        groups = self.b.model.groups
        if not groups:
            none = QAction("No groups yet: select images, then “Add to group…”", self.b.groups_menu)
            none.setEnabled(False)
            self.b.groups_menu.addAction(none)
            return
        for name in sorted(groups):
            self.b.groups_menu.addAction(f"{name} ({len(groups[name]):,})", lambda n=name: self.b.model.select_group(n))
        self.b.groups_menu.addSeparator()
        delete = self.b.groups_menu.addMenu("Delete group")
        for name in sorted(groups):
            delete.addAction(name, lambda n=name: self.b.model.delete_group(n))

    def _abs_paths(self, indices: list[int]) -> list[Path]:
        """The files of images ``indices``; none (with the reason shown) when a row leads outside the folder."""
        store = self.b.model.store
        if store is None:
            return []
        try:
            return store.image_files([i for i in indices if 0 <= i < len(self.b.model.paths)])
        except SessionFileError as exc:  # a row that leads outside the folder (UnsafeSessionPath)
            from dcgui.gui.errors import show_error

            self.b.model.message.emit(str(exc))
            show_error(self.b, str(exc), title="dcgui: cluster browser")
            return []

    def _open_folder_of(self, i: int) -> None:
        paths = self._abs_paths([i])
        if paths and not curation.open_containing_folder(paths[0]):
            self.b.model.message.emit(f"Could not open the folder {paths[0].parent}: is a file manager installed?")

    def _more_like_selected(self) -> None:
        i = self._focused_image()
        if i is not None:
            self.b.model.request_similar(i)

    def _grid_menu(self, pos: Any) -> None:
        self._popup(self.b.grid, pos, ("grid.keep", "grid.exclude", "grid.duplicate", "grid.clear", "grid.group", "",
                                       "grid.select_all", "grid.copy", "grid.open_folder", "grid.more"))

    def _cluster_menu(self, pos: Any) -> None:
        self.b._update_action_state()
        self._popup(self.b.cluster_view, pos, ("clusters.rename", "clusters.tags", "clusters.notes", "",
                                               "clusters.merge", "clusters.split", "clusters.dissolve", "",
                                               "clusters.export", "clusters.export_csv"))

    def _popup(self, view: Any, pos: Any, ids: tuple[str, ...]) -> None:
        """A context menu of registry actions ("" is a separator)."""
        menu = QMenu(self.b)
        for action_id in ids:
            if action_id:
                menu.addAction(self.b.action_registry.action(action_id))
            else:
                menu.addSeparator()
        menu.popup(view.viewport().mapToGlobal(pos))
