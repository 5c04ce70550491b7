"""The cluster browser: cluster list | thumbnail grid | image pane, for one epoch of a session.

The main window embeds one ``ClusterBrowser``, gives it the GUI-thread ``SessionStore``
(``set_session``) and calls ``refresh()`` whenever the trainer commits an epoch. Everything the
browser shows comes from the store (assignments, names, flags) and the decoded-image cache
(thumbnails); per-epoch numbers are computed once with numpy and cached. Thumbnails, mosaics,
full images and the cache itself are loaded off the GUI thread.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QItemSelectionModel, QModelIndex, QObject, Qt, QThreadPool, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QSlider,
    QSpinBox,
    QSplitter,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dcgui.gui import curation
from dcgui.gui.cluster_list import (
    COL_NAME,
    COL_TAGS,
    ClusterListModel,
    ClusterListPanel,
    ClusterStats,
    compute_cluster_stats,
    mosaic_loader,
)
from dcgui.gui.image_pane import ImagePane
from dcgui.gui.thumbnail_grid import MAX_THUMB, MIN_THUMB, ThumbnailGrid
from dcgui.gui.thumbnails import AsyncPixmapCache, image_from_jpeg
from dcgui.store.paths import UnsafeSessionPath

if TYPE_CHECKING:
    from dcgui.core.cache import ImageCache
    from dcgui.gui.worker import GeneratorWorker
    from dcgui.store import SessionStore

_STATS_EPOCHS = 4  # per-epoch numbers kept (each ~9 bytes per image)


class _CacheRelay(QObject):
    opened = Signal(int, object, str)  # session generation, ImageCache | None, error


class ClusterBrowser(QWidget):
    """Browse the clusters of one epoch; curate clusters and images; export them."""

    moreLikeThis = Signal(int)  # image index
    epochChanged = Signal(int)
    statusMessage = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store: SessionStore | None = None
        self._cache: ImageCache | None = None
        self._epoch = 0
        self._follow_live = True
        self._cluster: int | None = None  # matched id of the cluster on show (stable across epochs)
        self._stats: OrderedDict[int, ClusterStats] = OrderedDict()
        self._paths: list[str] = []
        self._labels: np.ndarray | None = None
        self._label_names: list[str] = []
        self._flags: dict[int, str] = {}
        self._session_gen = itertools.count(1)
        self._session_id = 0
        self._cache_relay = _CacheRelay()
        self._cache_relay.opened.connect(self._on_cache_opened, Qt.ConnectionType.QueuedConnection)

        # Bounded caches: 4,000 thumbnails (about 200 MB at most), 1,500 mosaics (about 12 MB).
        self.thumbnails = AsyncPixmapCache(capacity=4000, max_bytes=192 << 20, max_in_flight=32, batch=8, parent=self)
        self.mosaics = AsyncPixmapCache(capacity=1500, max_bytes=32 << 20, max_in_flight=8, batch=2, parent=self)

        # -- widgets --------------------------------------------------------------------------------
        self.cluster_model = ClusterListModel(self.mosaics, self)
        self.cluster_model.set_name = self._persist_name
        self.cluster_model.set_tags = self._persist_tags
        self.cluster_model.errorOccurred.connect(self._report_error)
        self.cluster_model.userDataEdited.connect(self._on_user_data_edited)
        self.cluster_panel = ClusterListPanel(self.cluster_model, self)
        self.cluster_view = self.cluster_panel.view
        self.grid = ThumbnailGrid(self.thumbnails, self)
        self.grid_model = self.grid.grid_model()
        self.image_pane = ImagePane(self)

        self.epoch_spin = QSpinBox(self)
        self.epoch_spin.setRange(0, 0)
        self.epoch_spin.setKeyboardTracking(False)
        self.epoch_spin.setToolTip("Epoch whose clusters are shown")
        self.epoch_of = QLabel("of 0", self)
        self.follow_check = QCheckBox("Follow live", self)
        self.follow_check.setChecked(True)
        self.follow_check.setToolTip("Jump to each new epoch as training commits it, keeping the selected cluster")
        self.zoom_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.zoom_slider.setRange(MIN_THUMB, MAX_THUMB)
        self.zoom_slider.setValue(self.grid.thumb_size)
        self.zoom_slider.setFixedWidth(120)
        self.zoom_slider.setToolTip("Thumbnail size (Ctrl+= / Ctrl+-, or Ctrl+wheel)")
        self.cluster_title = QLabel(self)
        self.cluster_title.setTextFormat(Qt.TextFormat.PlainText)
        font = self.cluster_title.font()
        font.setBold(True)
        self.cluster_title.setFont(font)

        self._build_actions()
        self.toolbar = QToolBar(self)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for a in (self.act_keep, self.act_exclude, self.act_clear):
            self.toolbar.addAction(a)
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.act_copy)
        self.toolbar.addAction(self.act_open_folder)
        self.toolbar.addSeparator()
        export_button = QToolButton(self)
        export_button.setText("Export")
        export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        export_menu = QMenu(export_button)
        export_menu.addAction(self.act_export_clusters)
        export_menu.addAction(self.act_export_csv)
        export_button.setMenu(export_menu)
        self.toolbar.addWidget(export_button)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("Epoch", self))
        top.addWidget(self.epoch_spin)
        top.addWidget(self.epoch_of)
        top.addWidget(self.follow_check)
        top.addSpacing(12)
        top.addWidget(self.cluster_title, 1)
        top.addWidget(QLabel("Size", self))
        top.addWidget(self.zoom_slider)

        center = QWidget(self)
        cl = QVBoxLayout(center)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(2)
        cl.addWidget(self.toolbar)
        cl.addWidget(self.grid, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.cluster_panel)
        self.splitter.addWidget(center)
        self.splitter.addWidget(self.image_pane)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setStretchFactor(2, 3)
        self.splitter.setSizes([420, 620, 340])
        self.splitter.setChildrenCollapsible(False)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.splitter, 1)

        # -- connections -----------------------------------------------------------------------------
        self.epoch_spin.valueChanged.connect(self._on_spin)
        self.follow_check.toggled.connect(self._on_follow_toggled)
        self.zoom_slider.valueChanged.connect(self.grid.set_thumb_size)
        self.grid.thumbSizeChanged.connect(self.zoom_slider.setValue)
        self.cluster_view.selectionModel().currentRowChanged.connect(self._on_cluster_row)
        self.cluster_model.modelReset.connect(self._reselect_cluster)
        self.grid.selectionModel().currentChanged.connect(self._on_grid_current)
        self.grid.selectionModel().selectionChanged.connect(self._update_action_state)
        self.grid.doubleClicked.connect(lambda ix: self._show_image(self.grid_model.image_index(ix.row())))
        self.image_pane.moreLikeThis.connect(self.moreLikeThis)
        self.image_pane.epochClicked.connect(self._on_history_epoch)
        self.image_pane.openFolderRequested.connect(self._open_folder_of)
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._grid_menu)
        self.cluster_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.cluster_view.customContextMenuRequested.connect(self._cluster_menu)
        self._show_empty("Open a session to browse its clusters")

    # =============================================================================================
    # public API (used by the main window)
    # =============================================================================================
    def set_session(self, store: SessionStore | None) -> None:
        """Show ``store`` (the GUI thread's store; user data is written through it), or nothing."""
        self._session_id = next(self._session_gen)  # late cache opens of a previous session are ignored
        self._store = store
        self._cache = None
        self._stats.clear()
        self._epoch = 0
        self._cluster = None
        self.thumbnails.reset(None)
        self.mosaics.reset(None)
        self.image_pane.clear()
        if store is None:
            self._paths, self._labels, self._label_names, self._flags = [], None, [], {}
            self.image_pane.set_folder(None)
            self._show_empty("Open a session to browse its clusters")
            return
        self._paths = store.image_paths()
        self._labels = store.labels()
        self._label_names = store.label_names()
        self._flags = store.image_flags()
        self.image_pane.set_folder(store.path_guard)
        self.grid_model.set_metadata(self._paths, self._labels, self._label_names)
        self.grid_model.set_flags(self._flags)
        self._open_cache_async()
        last = store.last_epoch()
        self._set_epoch_range(last)
        if last == 0:
            self._show_empty("No epoch yet: clusters appear here when the first epoch finishes")
            return
        self.set_epoch(last)

    def set_image_cache(self, cache: ImageCache | None) -> None:
        """Use an already open cache (saves opening it again); it must match the session's images."""
        self._session_id = next(self._session_gen)
        self._on_cache_opened(self._session_id, cache, "" if cache is not None else "no image cache")

    def set_epoch(self, epoch: int) -> None:
        """Show epoch ``epoch``'s assignments, keeping the selected cluster identity."""
        store = self._store
        if store is None:
            return
        last = store.last_epoch()
        if last == 0:
            self._show_empty("No epoch yet: clusters appear here when the first epoch finishes")
            return
        if not 1 <= epoch <= last:
            raise ValueError(f"epoch {epoch} does not exist in {store.path.name}: choose an epoch from 1 to {last}")
        self._set_epoch_range(last)
        changed = epoch != self._epoch
        self._epoch = epoch
        stats = self._epoch_stats(epoch)
        keep = self._cluster
        self.cluster_model.set_epoch_data(stats, store.cluster_user_data(), self._label_names)
        if keep is None or not 0 <= keep < stats.k:
            nonempty = np.flatnonzero(stats.sizes > 0)
            keep = int(nonempty[0]) if nonempty.size else None
        self._cluster = keep
        self._reselect_cluster()
        self._show_cluster(keep)
        self._refresh_image_pane()
        self.epoch_spin.blockSignals(True)
        self.epoch_spin.setValue(epoch)
        self.epoch_spin.blockSignals(False)
        if changed:
            self.epochChanged.emit(epoch)

    def refresh(self) -> None:
        """A new epoch was committed (or user data changed elsewhere): update, follow if live."""
        store = self._store
        if store is None:
            return
        last = store.last_epoch()
        self._set_epoch_range(last)
        if self._cache is None:
            self._open_cache_async()  # the session may have been prepared since
        if last == 0:
            return
        if self._epoch == 0 or (self._follow_live and last != self._epoch):
            self.set_epoch(last)
            return
        self.cluster_model.set_user_data(store.cluster_user_data())
        self._set_flags(store.image_flags())

    @property
    def follow_live(self) -> bool:
        return self._follow_live

    @follow_live.setter
    def follow_live(self, value: bool) -> None:
        value = bool(value)
        self._follow_live = value
        if self.follow_check.isChecked() != value:
            self.follow_check.setChecked(value)
        if value and self._store is not None:
            last = self._store.last_epoch()
            if last and last != self._epoch:
                self.set_epoch(last)

    # -- read-only accessors (tests, main window) --------------------------------------------------
    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def current_cluster(self) -> int | None:
        return self._cluster

    def select_cluster(self, c: int) -> None:
        """Show cluster ``c`` (matched id) and select its row."""
        self._cluster = int(c)
        self._reselect_cluster()
        self._show_cluster(self._cluster)

    def selected_clusters(self) -> list[int]:
        return self.cluster_view.selected_clusters()

    def selected_images(self) -> list[int]:
        return self.grid.selected_images()

    def stats(self) -> ClusterStats | None:
        return self._stats.get(self._epoch)

    # =============================================================================================
    # curation
    # =============================================================================================
    def flag_selected(self, flag: str | None) -> None:
        """Flag the grid's selected images (``keep`` / ``exclude`` / ``duplicate``; None clears)."""
        store = self._store
        indices = self.grid.selected_images()
        if store is None or not indices:
            self.statusMessage.emit("Select images in the grid first (click, Shift+click, Ctrl+A)")
            return
        try:
            store.set_image_flag(indices, flag)
        except Exception as exc:
            self._report_error(f"Could not flag images in {store.path.name}: {exc}")
            return
        flags = dict(self._flags)
        for i in indices:
            if flag is None:
                flags.pop(i, None)
            else:
                flags[i] = flag
        self._set_flags(flags)
        what = f"flagged “{flag}”" if flag else "unflagged"
        self.statusMessage.emit(f"{len(indices):,} image{'s' if len(indices) != 1 else ''} {what}")

    def copy_selected_paths(self) -> None:
        paths = self._abs_paths(self.grid.selected_images())
        if not paths:
            self.statusMessage.emit("Select images in the grid first")
            return
        curation.copy_paths_to_clipboard(paths)
        self.statusMessage.emit(f"Copied {len(paths):,} path{'s' if len(paths) != 1 else ''} to the clipboard")

    def open_containing_folder(self) -> None:
        i = self.image_pane.image_index
        if i is None:
            selected = self.grid.selected_images()
            i = selected[0] if selected else None
        if i is None:
            self.statusMessage.emit("Select an image first")
            return
        self._open_folder_of(i)

    def export_selected_clusters(self) -> curation.ExportClustersDialog | None:
        """Open the export dialog (dry-run summary first) for the selected clusters."""
        clusters = self.cluster_view.selected_clusters() or ([self._cluster] if self._cluster is not None else [])
        if self._store is None or not clusters:
            self.statusMessage.emit("Select one or more clusters in the list first")
            return None
        return curation.export_clusters(self, self._store, self._epoch, clusters, self.statusMessage.emit,
                                        self.cluster_model.title)

    def export_csv(self, path: Path | None = None) -> GeneratorWorker | None:
        """Write ``path,cluster,cluster_name`` of the epoch (asks for the file unless given)."""
        if self._store is None or self._epoch == 0:
            self.statusMessage.emit("No epoch to export yet")
            return None
        return curation.export_assignments_csv(self, self._store, self._epoch, self.statusMessage.emit, path)

    def rename_current_cluster(self) -> None:
        row = self.cluster_model.row_of_cluster(self._cluster) if self._cluster is not None else None
        if row is not None:
            ix = self.cluster_model.index(row, COL_NAME)
            self.cluster_view.setCurrentIndex(ix)
            self.cluster_view.edit(ix)

    def edit_current_tags(self) -> None:
        row = self.cluster_model.row_of_cluster(self._cluster) if self._cluster is not None else None
        if row is not None:
            ix = self.cluster_model.index(row, COL_TAGS)
            self.cluster_view.setCurrentIndex(ix)
            self.cluster_view.edit(ix)

    def edit_current_notes(self) -> None:
        c, store = self._cluster, self._store
        if c is None or store is None:
            return
        text, ok = QInputDialog.getMultiLineText(self, f"Notes on cluster {self.cluster_model.title(c)}",
                                                 "Notes (saved in the session file):", self.cluster_model.notes(c))
        if not ok:
            return
        try:
            store.set_cluster_notes(c, text)
        except Exception as exc:
            self._report_error(f"Could not save notes in {store.path.name}: {exc}")
            return
        self.cluster_model.set_user_data(store.cluster_user_data())
        self.statusMessage.emit(f"Saved notes on cluster {self.cluster_model.title(c)}")

    # =============================================================================================
    # internals
    # =============================================================================================
    def _build_actions(self) -> None:
        def action(text: str, slot: Any, keys: list[str] | None = None, tip: str = "",
                   widget: QWidget | None = None) -> QAction:
            a = QAction(text, self)
            if keys:
                a.setShortcuts([QKeySequence(k) for k in keys])
                # Only while that widget has focus: K / X / Ctrl+C must not fire in the filter box.
                a.setShortcutContext(Qt.ShortcutContext.WidgetShortcut if widget is not None
                                     else Qt.ShortcutContext.WidgetWithChildrenShortcut)
            tip_keys = f" ({', '.join(keys)})" if keys else ""
            a.setToolTip(tip + tip_keys if tip else text + tip_keys)
            a.setStatusTip(tip or text)
            a.triggered.connect(slot)
            (widget or self).addAction(a)
            return a

        g = self.grid
        self.act_keep = action("Keep", lambda: self.flag_selected("keep"), ["K"], "Flag the selected images “keep”", g)
        self.act_exclude = action("Exclude", lambda: self.flag_selected("exclude"), ["X"],
                                  "Flag the selected images “exclude”", g)
        self.act_duplicate = action("Duplicate", lambda: self.flag_selected("duplicate"), ["D"],
                                    "Flag the selected images “duplicate”", g)
        self.act_clear = action("Clear flag", lambda: self.flag_selected(None), ["0", "Backspace"],
                                "Remove the flag of the selected images", g)
        self.act_select_all = action("Select all", self.grid.selectAll, ["Ctrl+A"], "Select every image of the cluster", g)
        self.act_copy = action("Copy paths", self.copy_selected_paths, ["Ctrl+C"],
                               "Copy the selected images' full paths to the clipboard", g)
        self.act_open_folder = action("Open folder", self.open_containing_folder, None,
                                      "Open the folder containing the image in the file manager")
        self.act_more = action("More like this", self._more_like_selected, None,
                               "Find the images nearest to this one in feature space")
        self.act_export_clusters = action("Export selected clusters to folders…", self.export_selected_clusters, None,
                                          "Copy or link the selected clusters' images into one folder per cluster")
        self.act_export_csv = action("Export CSV…", lambda: self.export_csv(), None,
                                     "Write path,cluster for every image of this epoch")
        self.act_rename = action("Rename cluster…", self.rename_current_cluster, ["F2"], "Name the cluster")
        self.act_tags = action("Edit tags…", self.edit_current_tags, None, "Comma-separated tags of the cluster")
        self.act_notes = action("Notes…", self.edit_current_notes, None, "Free-text notes on the cluster")
        self.act_zoom_in = action("Larger thumbnails", self.grid.zoom_in, ["Ctrl+=", "Ctrl++"])
        self.act_zoom_out = action("Smaller thumbnails", self.grid.zoom_out, ["Ctrl+-"])
        self._update_action_state()

    def _update_action_state(self, *args: object) -> None:
        has = self.grid.selectionModel().hasSelection() if self.grid.selectionModel() else False
        for a in (self.act_keep, self.act_exclude, self.act_duplicate, self.act_clear, self.act_copy):
            a.setEnabled(has)
        for a in (self.act_export_clusters, self.act_export_csv):
            a.setEnabled(self._store is not None and self._epoch > 0)

    def _show_empty(self, message: str) -> None:
        self.cluster_model.set_epoch_data(None, {}, [])
        self.grid_model.set_images(np.zeros(0, dtype=np.int64))
        self.cluster_title.setText(message)
        self._set_epoch_range(0 if self._store is None else self._store.last_epoch())
        self._update_action_state()

    def _set_epoch_range(self, last: int) -> None:
        self.epoch_spin.blockSignals(True)
        self.epoch_spin.setRange(1 if last else 0, last)
        self.epoch_spin.setEnabled(last > 1)
        self.epoch_spin.blockSignals(False)
        self.epoch_of.setText(f"of {last}")

    def _epoch_stats(self, epoch: int) -> ClusterStats:
        """Per-epoch numbers, computed once with numpy (sizes, members, purity)."""
        hit = self._stats.get(epoch)
        if hit is not None:
            self._stats.move_to_end(epoch)
            return hit
        assert self._store is not None
        assign = self._store.assignments(epoch)
        k = int(self._store.cluster_sizes(epoch).size)
        stats = compute_cluster_stats(epoch, assign, k, self._labels)
        self._stats[epoch] = stats
        while len(self._stats) > _STATS_EPOCHS:
            self._stats.popitem(last=False)
        return stats

    def _show_cluster(self, c: int | None) -> None:
        stats = self._stats.get(self._epoch)
        if c is None or stats is None or not 0 <= c < stats.k:
            self.grid_model.set_images(np.zeros(0, dtype=np.int64))
            self.cluster_title.setText("No cluster selected")
            self._update_action_state()
            return
        self.thumbnails.discard_pending()  # the previous cluster's queued thumbnails are stale
        members = stats.members(c)
        keep_image = self.image_pane.image_index
        self.grid_model.set_images(members)
        self.grid.scrollToTop()
        if keep_image is not None:
            row = self.grid_model.row_of(keep_image)
            if row is not None:  # the image on show is still in this cluster: keep it selected
                ix = self.grid_model.index(row)
                self.grid.selectionModel().setCurrentIndex(ix, QItemSelectionModel.SelectionFlag.ClearAndSelect)
                self.grid.scrollTo(ix)
        self._update_title()
        self._update_action_state()

    def _update_title(self) -> None:
        c, stats = self._cluster, self._stats.get(self._epoch)
        if c is None or stats is None:
            return
        n = int(stats.sizes[c])
        text = f"Cluster {self.cluster_model.title(c)} — {n:,} image{'s' if n != 1 else ''}"
        p = float(stats.purity[c])
        if not np.isnan(p):
            text += f" — {p:.0%} {self.cluster_model.majority_label(c)}"
        self.cluster_title.setText(text)

    def _reselect_cluster(self) -> None:
        """Select the row of the cluster on show (after an epoch switch, filter or sort)."""
        c = self._cluster
        sel = self.cluster_view.selectionModel()
        row = self.cluster_model.row_of_cluster(c) if c is not None else None
        sel.blockSignals(True)
        try:
            if row is None:
                sel.clearSelection()
                sel.setCurrentIndex(QModelIndex(), QItemSelectionModel.SelectionFlag.NoUpdate)
            else:
                ix = self.cluster_model.index(row, 0)
                flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
                sel.setCurrentIndex(ix, flags)
        finally:
            sel.blockSignals(False)
        self.cluster_view.viewport().update()
        if row is not None:
            self.cluster_view.scrollTo(self.cluster_model.index(row, 0), QAbstractItemView.ScrollHint.EnsureVisible)

    def _on_cluster_row(self, current: QModelIndex, previous: QModelIndex) -> None:
        if not current.isValid():
            return
        c = self.cluster_model.cluster_at(current.row())
        if c == self._cluster and self.grid_model.rowCount() > 0:
            return
        self._cluster = c
        self._show_cluster(c)

    def _on_grid_current(self, current: QModelIndex, previous: QModelIndex) -> None:
        if current.isValid():
            self._show_image(self.grid_model.image_index(current.row()))

    def _show_image(self, i: int) -> None:
        store = self._store
        if store is None:
            return
        try:
            info = store.image_info(i)
            history = store.image_history(i)
        except (IndexError, KeyError) as exc:
            self.image_pane.clear(str(exc))
            return
        if self._cache is not None and i < len(self._cache.original_sizes) and not info.get("width"):
            w, h = (int(v) for v in self._cache.original_sizes[i])
            info = {**info, "width": w, "height": h}
        cluster = int(history[self._epoch - 1]) if 0 < self._epoch <= history.size else None
        self.image_pane.show_image(i, info, history, self._epoch, cluster, self.cluster_model.title, self._label_names)

    def _refresh_image_pane(self) -> None:
        if self.image_pane.image_index is not None:
            self._show_image(self.image_pane.image_index)

    def _set_flags(self, flags: dict[int, str]) -> None:
        self._flags = flags
        self.grid_model.set_flags(flags)
        self._refresh_image_pane()

    def _on_spin(self, value: int) -> None:
        if self._store is None or value < 1:
            return
        last = self._store.last_epoch()
        if value != last and self._follow_live:
            self.follow_live = False  # the user went back in time: stop jumping to new epochs
        self.set_epoch(value)

    def _on_follow_toggled(self, checked: bool) -> None:
        if checked != self._follow_live:
            self.follow_live = checked

    def _on_history_epoch(self, epoch: int) -> None:
        if self._store is not None and 1 <= epoch <= self._store.last_epoch():
            if epoch != self._store.last_epoch():
                self.follow_live = False
            self.set_epoch(epoch)

    def _persist_name(self, c: int, name: str | None) -> None:
        assert self._store is not None
        self._store.set_cluster_name(c, name)

    def _persist_tags(self, c: int, tags: list[str]) -> None:
        assert self._store is not None
        self._store.set_cluster_tags(c, tags)

    def _on_user_data_edited(self, c: int) -> None:
        if c == self._cluster:
            self._update_title()
        self.statusMessage.emit(f"Saved cluster {self.cluster_model.title(c)}")

    def _report_error(self, message: str) -> None:
        self.statusMessage.emit(message)
        from dcgui.gui.errors import show_error

        show_error(self, message, title="dcgui: cluster browser")

    def _abs_paths(self, indices: list[int]) -> list[Path]:
        """The files of images ``indices``; none (with the reason shown) when a row leads outside the folder."""
        if self._store is None:
            return []
        try:
            return self._store.image_files([i for i in indices if 0 <= i < len(self._paths)])
        except UnsafeSessionPath as exc:
            self._report_error(str(exc))
            return []

    def _open_folder_of(self, i: int) -> None:
        paths = self._abs_paths([i])
        if paths and not curation.open_containing_folder(paths[0]):
            self.statusMessage.emit(f"Could not open the folder {paths[0].parent}: is a file manager installed?")

    def _more_like_selected(self) -> None:
        i = self.image_pane.image_index
        if i is None:
            sel = self.grid.selected_images()
            i = sel[0] if sel else None
        if i is not None:
            self.moreLikeThis.emit(i)

    def _grid_menu(self, pos: Any) -> None:
        menu = QMenu(self)
        for a in (self.act_keep, self.act_exclude, self.act_duplicate, self.act_clear):
            menu.addAction(a)
        menu.addSeparator()
        for a in (self.act_select_all, self.act_copy, self.act_open_folder, self.act_more):
            menu.addAction(a)
        menu.popup(self.grid.viewport().mapToGlobal(pos))

    def _cluster_menu(self, pos: Any) -> None:
        menu = QMenu(self)
        for a in (self.act_rename, self.act_tags, self.act_notes):
            menu.addAction(a)
        menu.addSeparator()
        menu.addAction(self.act_export_clusters)
        menu.addAction(self.act_export_csv)
        menu.popup(self.cluster_view.viewport().mapToGlobal(pos))

    # -- the image cache (opened off the GUI thread: its index of 100k rows is a large JSON) ------
    def _open_cache_async(self) -> None:
        store = self._store
        if store is None:
            return
        session_id = self._session_id
        cache_dir, size, paths = store.cache_dir, store.config.cache_size, list(self._paths)
        relay = self._cache_relay

        def job() -> None:
            from dcgui.core.cache import ImageCache

            try:
                cache = ImageCache.open(cache_dir, size)
            except Exception as exc:
                relay.opened.emit(session_id, None, str(exc))
                return
            if [r.relpath for r in cache.records] != paths:
                relay.opened.emit(session_id, None, f"the image cache in {cache_dir} does not match the session's "
                                                    "images: prepare the session again to rebuild it")
                return
            relay.opened.emit(session_id, cache, "")

        QThreadPool.globalInstance().start(job)

    def _on_cache_opened(self, session_id: int, cache: ImageCache | None, error: str) -> None:
        if session_id != self._session_id:
            return
        self._cache = cache
        if cache is None:
            self.thumbnails.reset(None)
            self.mosaics.reset(None)
            if error and self._store is not None:
                self.statusMessage.emit(f"Thumbnails unavailable: {error}")
            return
        jpeg = cache.thumbnail_jpeg
        self.thumbnails.reset(lambda i: image_from_jpeg(jpeg(int(i))))
        self.mosaics.reset(mosaic_loader(self._stats.get, jpeg, self.devicePixelRatioF()))
        self.grid.viewport().update()  # repaint: placeholders now request their thumbnails
        self.cluster_view.viewport().update()
