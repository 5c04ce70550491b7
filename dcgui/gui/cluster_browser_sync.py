"""How the cluster browser follows the model: each model signal redraws the list, the grid and the pane.

``ClusterBrowserSync`` holds the browser's model -> view slots and the drawing they share (which
cluster or selection the grid shows, its title, the row selected in the list, the image in the
pane). It changes nothing in the model except to keep it consistent with what can be shown (an
active cluster the list hides, an image that left the grid).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QItemSelectionModel, QModelIndex
from PySide6.QtWidgets import QAbstractItemView

from dcgui.gui.browser_part import BrowserPart
from dcgui.gui.cluster_list import mosaic_loader
from dcgui.gui.layout import quietly
from dcgui.gui.session_model import SOURCE_TEXT

if TYPE_CHECKING:
    from dcgui.core.analysis.groups import GroupView
    from dcgui.gui.cluster_browser import ClusterBrowser



class ClusterBrowserSync(BrowserPart):
    """The browser's slots for the model's signals."""

    def __init__(self, browser: ClusterBrowser) -> None:
        super().__init__(browser)
        # True while the list's own click or key moves the current row: Qt then updates the
        # selection itself (Ctrl toggles, Shift extends, a right-click on a selected row keeps
        # it), and forcing the active row selected here undid that (Ctrl+click cleared it).
        self.row_from_view = False
        # The group the user chose, by key ("12", "12.1", "g3") and clusters: codes are per epoch,
        # so another epoch finds it by key, else by its first cluster (before a split or merge).
        self.chosen: tuple[str, tuple[int, ...]] | None = None
        self.resetting_rows = False
        self._translating = False

    def on_session(self) -> None:
        store = self.b.model.store
        self.b._stats.clear()
        self.b._showing_selection = False
        self.b.mosaics.reset(None)
        self.b.image_pane.clear()
        if store is None:
            self.b._labels, self.b._label_names = None, []
            self.b.image_pane.set_folder(None)
            self.show_empty("Open a session to browse its clusters")
            return
        self.b._labels = store.labels()
        self.b._label_names = store.label_names()
        self.b.image_pane.set_folder(store.path_guard)
        self.b.grid_model.set_metadata(self.b.model.paths, self.b._labels, self.b._label_names)
        self.b.grid_model.set_flags(self.b.model.flags)
        self.on_epoch(self.b.model.epoch)

    def on_collection(self) -> None:
        store = self.b.model.store
        if store is None:
            return
        self.b._labels = store.labels()
        self.b._label_names = store.label_names()
        self.b.grid_model.set_metadata(self.b.model.paths, self.b._labels, self.b._label_names)
        self.b.grid_model.set_flags(self.b.model.flags)

    def on_epochs(self, last: int) -> None:
        if last == 0:
            self.show_empty("No epoch yet: clusters appear here when the first epoch finishes")

    def on_epoch(self, epoch: int) -> None:
        store = self.b.model.store
        if store is None:
            return
        if epoch < 1 or epoch > store.last_epoch():
            self.show_empty("No epoch yet: clusters appear here when the first epoch finishes")
            return
        stats = self.b._epoch_stats(epoch)
        self.set_rows(lambda: self.b.cluster_model.set_epoch_data(
            stats, self.b.model.cluster_user_data(), self.b._label_names, self.b._stats.view(epoch)))
        c = self.code_at(self.b._stats.view(epoch), self.b.model.active_cluster)
        if c is None or not 0 <= c < stats.k or self.b.cluster_model.row_of_cluster(c) is None:
            c = self.first_visible_cluster()
        if c != self.b.model.active_cluster:
            self._translating = True  # the user's choice stays what it was
            try:
                self.b.model.set_active_cluster(c)  # -> _on_active_cluster shows it
            finally:
                self._translating = False
        else:
            self.reselect_cluster()
            if not self.b._showing_selection:
                self.show_cluster(c)
            else:
                self.update_title()
        self.on_current_image(self.b.model.current_image)  # its cluster at this epoch
        self.b._update_action_state()

    def set_rows(self, change: Any) -> None:
        """New rows for the list: the current row Qt moves meanwhile is not the user's choice
        (it made the browser jump to the first row's group on another epoch)."""
        self.resetting_rows = True
        try:
            change()
        finally:
            self.resetting_rows = False

    def code_at(self, view: GroupView | None, code: int | None) -> int | None:
        """The code, in ``view``, of the group the user chose (``code`` when nothing is known)."""
        if view is None or self.chosen is None:
            return code
        key, clusters = self.chosen
        try:
            return view.find(key).code
        except KeyError:  # not at this epoch: the group its first cluster is in here
            for cluster in clusters:
                here = view.of_cluster(cluster)
                if here:
                    return here[0].code
        return code

    def on_active_cluster(self, c: int | None) -> None:
        if not self._translating:
            view = self.b._stats.view(self.b.model.epoch)
            g = view.get(c) if view is not None else None
            self.chosen = (g.key, g.clusters) if g is not None else None
        self.reselect_cluster()
        self.b._showing_selection = False
        self.show_cluster(c)
        # The pane must not keep an image of another cluster (nor one selected elsewhere).
        members = self.members(c)
        current = self.b.model.current_image
        if current is not None and (members is None or not np.isin(current, members)):
            self.b.model.set_current_image(None)

    def on_selection(self) -> None:
        source = self.b.model.selection_source
        if source == "grid" or self.b._updating_grid:
            return
        sel = self.b.model.selection
        members = self.members(self.b.model.active_cluster)
        in_cluster = members is not None and bool(sel) and bool(np.isin(np.asarray(sel), members).all())
        if not sel and self.b._showing_selection:
            self.b.show_active_cluster()
            return
        if sel and not in_cluster and source != "cluster":
            self.b._showing_selection = True
            self.set_grid(np.asarray(sel, dtype=np.int64))
            self.update_title()
            c = self.b.model.active_cluster
            self.b.back_button.setText(f"Back to {self.b.model.cluster_title(c)}" if c is not None else "Back to the cluster")
            self.b.back_button.setVisible(True)
            self.b.clear_button.setVisible(True)
        self.with_grid_update(lambda: self.b.grid.select_images(sel, self.b.model.current_image))
        self.b._update_action_state()

    def on_current_image(self, i: int | None) -> None:
        row = self.b.grid_model.row_of(i) if i is not None else None
        if i is None or row is None:  # the pane shows an image of the grid beside it, or none
            self.b.image_pane.clear()
            return
        if self.b.grid.currentIndex().row() != row:
            self.with_grid_update(lambda: self.b.grid.selectionModel().setCurrentIndex(
                self.b.grid_model.index(row), QItemSelectionModel.SelectionFlag.NoUpdate))
        self.show_image(i)

    def on_flags(self, changed: list[int]) -> None:
        self.b.grid_model.update_flags(self.b.model.flags, changed)  # the changed images alone
        if self.b.image_pane.image_index is not None:
            self.show_image(self.b.image_pane.image_index)

    def on_cluster_data(self, clusters: list[int]) -> None:
        self.b.cluster_model.set_user_data(self.b.model.cluster_user_data())
        self.update_title()
        if self.b.image_pane.image_index is not None:
            self.show_image(self.b.image_pane.image_index)

    def on_cluster_groups(self) -> None:
        """Merges or splits changed (an edit, an undo, another window): the rows are new. The
        active row stays on the same group when it still exists."""
        view = self.b.cluster_model.view
        c = self.b.model.active_cluster
        old = view.get(c) if view is not None else None
        key = old.key if old is not None else None
        self.b._stats.clear()
        self.on_cache()  # mosaics are keyed by (epoch, code): codes now mean other groups
        epoch = self.b.model.epoch
        if self.b.model.store is None or not 1 <= epoch <= self.b.model.last_epoch:
            return
        stats = self.b._epoch_stats(epoch)
        new = self.b._stats.view(epoch)
        self.set_rows(lambda: self.b.cluster_model.set_epoch_data(
            stats, self.b.model.cluster_user_data(), self.b._label_names, new))
        found = new.lookup(key) if new is not None else None
        target = found.code if found is not None else None
        if target is None or self.b.cluster_model.row_of_cluster(target) is None:
            target = self.first_visible_cluster()
        if target != self.b.model.active_cluster:
            self.b.model.set_active_cluster(target)
        else:
            self.reselect_cluster()
            if not self.b._showing_selection:
                self.show_cluster(target)
        self.b._update_action_state()

    def on_cache(self) -> None:
        cache = self.b.images.cache
        if cache is None:
            self.b.mosaics.reset(None)
            return
        self.b.mosaics.reset(mosaic_loader(self.b._stats.get, cache.thumbnail_jpeg, self.b.devicePixelRatioF()))
        if self.b.image_pane.image_index is not None:
            self.show_image(self.b.image_pane.image_index)  # the cache knows the original size
        self.b.grid.viewport().update()  # repaint: placeholders now request their thumbnails
        self.b.cluster_view.viewport().update()

    def show_empty(self, message: str) -> None:
        self.set_rows(lambda: self.b.cluster_model.set_epoch_data(None, {}, []))
        self.set_grid(np.zeros(0, dtype=np.int64))
        self.b.cluster_title.setText(message)
        self.b.back_button.setVisible(False)
        self.b.clear_button.setVisible(False)
        self.b._update_action_state()

    def members(self, c: int | None) -> np.ndarray | None:
        stats = self.b.stats()
        if c is None or stats is None or not 0 <= c < stats.k:
            return None
        return stats.members(c)

    def first_visible_cluster(self) -> int | None:
        """The first non-empty cluster the list shows (in its sort order), else its first row."""
        m = self.b.cluster_model
        stats = m.stats
        if stats is None or m.rowCount() == 0:
            return None
        for row in range(m.rowCount()):
            c = m.cluster_at(row)
            if stats.sizes[c] > 0:
                return c
        return m.cluster_at(0)

    def set_grid(self, indices: np.ndarray) -> None:
        self.with_grid_update(lambda: self.b.grid.set_images(indices))
        # Another cluster, epoch or selection: the pane keeps its image only if the grid has it
        # ("Back to cluster N", a new epoch, a typed epoch left it showing a stale one).
        shown = self.b.image_pane.image_index
        if shown is not None and self.b.grid_model.row_of(shown) is None:
            self.b.image_pane.clear()

    def with_grid_update(self, change: Any) -> None:
        self.b._updating_grid = True
        try:
            change()
        finally:
            self.b._updating_grid = False
        self.b._update_action_state()

    def show_cluster(self, c: int | None) -> None:
        members = self.members(c)
        self.b.back_button.setVisible(False)
        self.b.clear_button.setVisible(False)
        if members is None or self.b.cluster_model.row_of_cluster(c) is None:  # type: ignore[arg-type]
            self.set_grid(np.zeros(0, dtype=np.int64))
            self.b.cluster_title.setText("No cluster matches the filter" if self.b.cluster_model.stats is not None
                                       and self.b.cluster_model.rowCount() == 0 else "No cluster selected")
            self.b._update_action_state()
            return
        self.set_grid(members)
        keep = self.b.model.current_image
        sel = [i for i in self.b.model.selection if self.b.grid_model.row_of(i) is not None]
        if sel or keep is not None:
            self.with_grid_update(lambda: self.b.grid.select_images(sel, keep))
        self.update_title()

    def update_title(self) -> None:
        if self.b._showing_selection:
            n = self.b.grid_model.rowCount()
            where = SOURCE_TEXT.get(self.b.model.selection_source, "elsewhere")
            self.b.cluster_title.setText(f"Selection: {n:,} image{'s' if n != 1 else ''} chosen {where}")
            return
        c, stats = self.b.model.active_cluster, self.b.stats()
        if c is None or stats is None or not 0 <= c < stats.k:
            return
        n = int(stats.sizes[c])
        text = f"{self.b.cluster_model.title(c)} — {n:,} image{'s' if n != 1 else ''}"
        p = float(stats.purity[c])
        if not np.isnan(p):
            text += f" — {p:.0%} {self.b.cluster_model.majority_label(c)}"
        self.b.cluster_title.setText(text)

    def reselect_cluster(self) -> None:
        """Select the row of the active cluster (after an epoch switch, filter or sort)."""
        c = self.b.model.active_cluster
        sel = self.b.cluster_view.selectionModel()
        row = self.b.cluster_model.row_of_cluster(c) if c is not None else None
        if self.row_from_view:
            return  # the view's click or key: Qt selects as a file manager does
        with quietly(sel):
            if row is None:
                sel.clearSelection()
                sel.setCurrentIndex(QModelIndex(), QItemSelectionModel.SelectionFlag.NoUpdate)
            else:
                ix = self.b.cluster_model.index(row, 0)
                if sel.isRowSelected(row, QModelIndex()):  # among the selected rows: keep them all
                    if ix != sel.currentIndex():
                        sel.setCurrentIndex(ix, QItemSelectionModel.SelectionFlag.NoUpdate)
                else:
                    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
                    sel.setCurrentIndex(ix, flags)
        self.b.cluster_view.viewport().update()
        if row is not None:
            self.b.cluster_view.scrollTo(self.b.cluster_model.index(row, 0), QAbstractItemView.ScrollHint.EnsureVisible)

    def show_image(self, i: int) -> None:
        store = self.b.model.store
        if store is None:
            return
        try:
            info = store.image_info(i)
            history = store.image_history(i)
        except (IndexError, KeyError) as exc:
            self.b.image_pane.clear(str(exc))
            return
        cache = self.b.images.cache
        if cache is not None and i < len(cache.original_sizes) and not info.get("width"):
            w, h = (int(v) for v in cache.original_sizes[i])
            info = {**info, "width": w, "height": h}
        epoch = self.b.model.epoch
        cluster = int(history[epoch - 1]) if 0 < epoch <= history.size else None
        view = self.b.model.group_view  # its merge or split part at the epoch shown: the list's name
        if cluster is not None and view is not None and view.epoch == epoch and 0 <= i < view.labels.size:
            cluster = int(view.labels[i])
        self.b.image_pane.show_image(i, info, history, epoch, cluster, self.b.model.cluster_title, self.b._label_names)
