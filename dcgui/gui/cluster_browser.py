"""The cluster browser: cluster list | thumbnail grid | image pane, for the epoch the model shows.

A view of :class:`SessionModel`: it subscribes to the epoch, the active cluster, the shared image
selection, the current image, flags and cluster names, and changes them only through the model.
The grid shows either the active cluster's members or, when images were selected elsewhere (a
lasso on the map, "Similar", duplicates, outliers, a named group) and they are not all in this
cluster, that selection. Per-epoch numbers are computed once with numpy and cached. Thumbnails,
mosaics, full images and the image cache are loaded off the GUI thread.

The list shows the epoch's groups (``SessionModel.group_view``): after the user merged or split
clusters, a row is a whole cluster, a part ("12.2") or a merge ("g5"), and "cluster" below means
such a row (its ``GroupView`` code). Merging, splitting (k-means, previewed side by side) and
dissolving are in the list's context menu; flagging more than one image shows its preview first.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QSlider,
    QSplitter,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dcgui.core.analysis.groups import KIND_PART, GroupView
from dcgui.core.errors import SessionFileError
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
from dcgui.gui.edit_confirm import EditConfirmDialog, confirm_flags
from dcgui.gui.image_pane import ImagePane
from dcgui.gui.session_images import SessionImages
from dcgui.gui.session_model import SessionModel
from dcgui.gui.split_dialog import SplitJob
from dcgui.gui.thumbnail_grid import MAX_THUMB, MIN_THUMB, ThumbnailGrid
from dcgui.gui.thumbnails import AsyncPixmapCache

if TYPE_CHECKING:
    from dcgui.gui.worker import GeneratorWorker

_STATS_EPOCHS = 4  # per-epoch numbers kept (each ~9 bytes per image)
SOURCE_TEXT = {"map": "on the map", "similar": "in Similar", "duplicates": "in a duplicate group",
               "outliers": "among the outliers", "group": "in a named group", "grid": "in the grid",
               "cluster": "in the cluster"}


def ask_group_name(parent: QWidget, names: list[str], n: int) -> str | None:
    """Ask for a group name (an existing one adds to it). Tests replace this."""
    name, ok = QInputDialog.getItem(parent, "Add to a named group",
                                    f"Group for the {n:,} selected image{'s' if n != 1 else ''} "
                                    "(a new name creates it; saved in the session):", names, 0, True)
    return (name.strip() or None) if ok else None


def ask_merge_name(parent: QWidget, titles: list[str], n_images: int) -> str | None:
    """Ask for the merged group's name ("" = unnamed; None = cancel). Tests replace this."""
    shown = ", ".join(titles[:6]) + (" …" if len(titles) > 6 else "")
    name, ok = QInputDialog.getText(parent, "Merge clusters",
                                    f"Merge {len(titles)} clusters ({shown}) into one group of {n_images:,} images.\n"
                                    "It follows these clusters to later epochs; Edit ▸ Undo takes it back.\n\n"
                                    "Name of the group (optional):")
    return name.strip() if ok else None


def ask_split_parts(parent: QWidget, title: str, size: int) -> int | None:
    """Ask into how many parts to split (None = cancel). Tests replace this."""
    top = max(2, min(size, 64))
    n, ok = QInputDialog.getInt(parent, "Split cluster", f"Split {title} ({size:,} images) into how many parts?\n"
                                "k-means on its images' features; you see the parts before accepting.", 2, 2, top)
    return int(n) if ok else None


class ClusterBrowser(QWidget):
    """Browse the clusters of the model's epoch; curate clusters and images; export them."""

    def __init__(self, model: SessionModel, images: SessionImages, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.images = images
        self._stats: OrderedDict[int, ClusterStats] = OrderedDict()
        self._views: dict[int, GroupView] = {}  # the groups each cached ClusterStats counts
        self.dialog: EditConfirmDialog | None = None  # the last confirmation shown (tests)
        self.split_job: SplitJob | None = None
        self._labels: np.ndarray | None = None
        self._label_names: list[str] = []
        self._showing_selection = False  # the grid shows a selection made elsewhere, not the cluster
        self._updating_grid = False  # our own grid changes are not the user's selection

        self.thumbnails = images.thumbnails
        # Bounded: 1,500 mosaics (about 12 MB).
        self.mosaics = AsyncPixmapCache(capacity=1500, max_bytes=32 << 20, max_in_flight=8, batch=2, parent=self)

        # -- widgets --------------------------------------------------------------------------------
        self.cluster_model = ClusterListModel(self.mosaics, self)
        self.cluster_model.set_name = model.rename_group
        self.cluster_model.set_tags = model.set_cluster_tags
        self.cluster_model.errorOccurred.connect(model.errorOccurred)
        self.cluster_panel = ClusterListPanel(self.cluster_model, self)
        self.cluster_view = self.cluster_panel.view
        self.grid = ThumbnailGrid(self.thumbnails, self)
        self.grid_model = self.grid.grid_model()
        self.image_pane = ImagePane(self)

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
        self.back_button = QToolButton(self)
        self.back_button.setText("Back to the cluster")
        self.back_button.setToolTip("Show the active cluster again instead of the selection")
        self.back_button.clicked.connect(self.show_active_cluster)
        self.back_button.setVisible(False)

        self._build_actions()
        self.toolbar = QToolBar(self)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for a in (self.act_keep, self.act_exclude, self.act_clear):
            self.toolbar.addAction(a)
        self.toolbar.addAction(self.act_group)
        self.groups_button = QToolButton(self)
        self.groups_button.setText("Groups")
        self.groups_button.setToolTip("Show a named group of images (saved in the session)")
        self.groups_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.groups_menu = QMenu(self.groups_button)
        self.groups_menu.aboutToShow.connect(self._fill_groups_menu)
        self.groups_button.setMenu(self.groups_menu)
        self.toolbar.addWidget(self.groups_button)
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
        top.addWidget(self.cluster_title, 1)
        top.addWidget(self.back_button)
        top.addWidget(QLabel("Size", self))
        top.addWidget(self.zoom_slider)

        center = QWidget(self)
        cl = QVBoxLayout(center)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(2)
        cl.addLayout(top)
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
        lay.addWidget(self.splitter, 1)

        # -- the user's actions go to the model --------------------------------------------------------
        self.zoom_slider.valueChanged.connect(self.grid.set_thumb_size)
        self.grid.thumbSizeChanged.connect(self.zoom_slider.setValue)
        self.cluster_view.selectionModel().currentRowChanged.connect(self._on_cluster_row)
        self.cluster_view.selectionModel().selectionChanged.connect(self._on_cluster_selection)
        self.cluster_model.modelReset.connect(self._after_filter)
        self.cluster_model.layoutChanged.connect(self._after_filter)
        self.grid.selectionModel().currentChanged.connect(self._on_grid_current)
        self.grid.selectionModel().selectionChanged.connect(self._on_grid_selection)
        self.grid.doubleClicked.connect(lambda ix: model.set_current_image(self.grid_model.image_index(ix.row())))
        self.image_pane.moreLikeThis.connect(model.request_similar)
        self.image_pane.epochClicked.connect(model.set_epoch)
        self.image_pane.openFolderRequested.connect(self._open_folder_of)
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._grid_menu)
        self.cluster_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.cluster_view.customContextMenuRequested.connect(self._cluster_menu)

        # -- the model's changes come back to the widgets ------------------------------------------------
        model.sessionChanged.connect(self._on_session)
        model.collectionChanged.connect(self._on_collection)
        model.epochsChanged.connect(self._on_epochs)
        model.epochChanged.connect(self._on_epoch)
        model.activeClusterChanged.connect(self._on_active_cluster)
        model.selectionChanged.connect(self._on_selection)
        model.currentImageChanged.connect(self._on_current_image)
        model.flagsChanged.connect(self._on_flags)
        model.clusterDataChanged.connect(self._on_cluster_data)
        model.clusterGroupsChanged.connect(self._on_cluster_groups)
        images.cacheChanged.connect(self._on_cache)
        self._on_session()

    # =============================================================================================
    # read-only accessors (tests, the window)
    # =============================================================================================
    @property
    def epoch(self) -> int:
        return self.model.epoch if self.stats() is not None else 0

    @property
    def current_cluster(self) -> int | None:
        return self.model.active_cluster

    @property
    def showing_selection(self) -> bool:
        return self._showing_selection

    def select_cluster(self, c: int) -> None:
        """Show cluster ``c`` (matched id) and select its row (the model decides; we follow)."""
        self.model.set_active_cluster(int(c))
        self.show_active_cluster()

    def selected_clusters(self) -> list[int]:
        return self.cluster_view.selected_clusters()

    def selected_images(self) -> list[int]:
        return self.grid.selected_images()

    def stats(self) -> ClusterStats | None:
        return self._stats.get(self.model.epoch)

    # =============================================================================================
    # model -> view
    # =============================================================================================
    def _on_session(self) -> None:
        store = self.model.store
        self._stats.clear()
        self._views.clear()
        self._showing_selection = False
        self.mosaics.reset(None)
        self.image_pane.clear()
        if store is None:
            self._labels, self._label_names = None, []
            self.image_pane.set_folder(None)
            self._show_empty("Open a session to browse its clusters")
            return
        self._labels = store.labels()
        self._label_names = store.label_names()
        self.image_pane.set_folder(store.path_guard)
        self.grid_model.set_metadata(self.model.paths, self._labels, self._label_names)
        self.grid_model.set_flags(self.model.flags)
        self._on_epoch(self.model.epoch)

    def _on_collection(self) -> None:
        store = self.model.store
        if store is None:
            return
        self._labels = store.labels()
        self._label_names = store.label_names()
        self.grid_model.set_metadata(self.model.paths, self._labels, self._label_names)
        self.grid_model.set_flags(self.model.flags)

    def _on_epochs(self, last: int) -> None:
        if last == 0:
            self._show_empty("No epoch yet: clusters appear here when the first epoch finishes")

    def _on_epoch(self, epoch: int) -> None:
        store = self.model.store
        if store is None:
            return
        if epoch < 1 or epoch > store.last_epoch():
            self._show_empty("No epoch yet: clusters appear here when the first epoch finishes")
            return
        stats = self._epoch_stats(epoch)
        self.cluster_model.set_epoch_data(stats, self.model.cluster_user_data(), self._label_names,
                                          self._views.get(epoch))
        c = self.model.active_cluster
        if c is None or not 0 <= c < stats.k or self.cluster_model.row_of_cluster(c) is None:
            c = self._first_visible_cluster()
        if c != self.model.active_cluster:
            self.model.set_active_cluster(c)  # -> _on_active_cluster shows it
        else:
            self._reselect_cluster()
            if not self._showing_selection:
                self._show_cluster(c)
            else:
                self._update_title()
        self._on_current_image(self.model.current_image)  # its cluster at this epoch
        self._update_action_state()

    def _on_active_cluster(self, c: int | None) -> None:
        self._reselect_cluster()
        self._showing_selection = False
        self._show_cluster(c)
        # The pane must not keep an image of another cluster (nor one selected elsewhere).
        members = self._members(c)
        current = self.model.current_image
        if current is not None and (members is None or not np.isin(current, members)):
            self.model.set_current_image(None)

    def _on_selection(self) -> None:
        source = self.model.selection_source
        if source == "grid" or self._updating_grid:
            return
        sel = self.model.selection
        members = self._members(self.model.active_cluster)
        in_cluster = members is not None and bool(sel) and bool(np.isin(np.asarray(sel), members).all())
        if not sel and self._showing_selection:
            self.show_active_cluster()
            return
        if sel and not in_cluster and source != "cluster":
            self._showing_selection = True
            self._set_grid(np.asarray(sel, dtype=np.int64))
            self._update_title()
            c = self.model.active_cluster
            self.back_button.setText(f"Back to {self.model.cluster_title(c)}" if c is not None else "Back to the cluster")
            self.back_button.setVisible(True)
        self._with_grid_update(lambda: self.grid.select_images(sel, self.model.current_image))
        self._update_action_state()

    def _on_current_image(self, i: int | None) -> None:
        if i is None:
            self.image_pane.clear()
            return
        row = self.grid_model.row_of(i)
        if row is not None and self.grid.currentIndex().row() != row:
            self._with_grid_update(lambda: self.grid.selectionModel().setCurrentIndex(
                self.grid_model.index(row), QItemSelectionModel.SelectionFlag.NoUpdate))
        self._show_image(i)

    def _on_flags(self, changed: list[int]) -> None:
        self.grid_model.update_flags(self.model.flags, changed)  # the changed images alone
        if self.image_pane.image_index is not None:
            self._show_image(self.image_pane.image_index)

    def _on_cluster_data(self, clusters: list[int]) -> None:
        self.cluster_model.set_user_data(self.model.cluster_user_data())
        self._update_title()
        if self.image_pane.image_index is not None:
            self._show_image(self.image_pane.image_index)

    def _on_cluster_groups(self) -> None:
        """Merges or splits changed (an edit, an undo, another window): the rows are new. The
        active row stays on the same group when it still exists."""
        view = self.cluster_model.view
        c = self.model.active_cluster
        key = None
        if view is not None and c is not None:
            try:
                key = view.group(c).key
            except KeyError:
                key = None
        self._stats.clear()
        self._views.clear()
        self._on_cache()  # mosaics are keyed by (epoch, code): codes now mean other groups
        epoch = self.model.epoch
        if self.model.store is None or not 1 <= epoch <= self.model.last_epoch:
            return
        stats = self._epoch_stats(epoch)
        new = self._views.get(epoch)
        self.cluster_model.set_epoch_data(stats, self.model.cluster_user_data(), self._label_names, new)
        target = None
        if key is not None and new is not None:
            try:
                target = new.find(key).code
            except KeyError:
                target = None
        if target is None or self.cluster_model.row_of_cluster(target) is None:
            target = self._first_visible_cluster()
        if target != self.model.active_cluster:
            self.model.set_active_cluster(target)
        else:
            self._reselect_cluster()
            if not self._showing_selection:
                self._show_cluster(target)
        self._update_action_state()

    def _on_cache(self) -> None:
        cache = self.images.cache
        if cache is None:
            self.mosaics.reset(None)
            return
        self.mosaics.reset(mosaic_loader(self._stats.get, cache.thumbnail_jpeg, self.devicePixelRatioF()))
        if self.image_pane.image_index is not None:
            self._show_image(self.image_pane.image_index)  # the cache knows the original size
        self.grid.viewport().update()  # repaint: placeholders now request their thumbnails
        self.cluster_view.viewport().update()

    # =============================================================================================
    # view -> model
    # =============================================================================================
    def _on_cluster_row(self, current: QModelIndex, previous: QModelIndex) -> None:
        if not current.isValid():
            return
        c = self.cluster_model.cluster_at(current.row())
        if c == self.model.active_cluster:
            if self._showing_selection:
                self.show_active_cluster()
            return
        self.model.set_active_cluster(c)

    def _on_cluster_selection(self, *args: object) -> None:
        self.model.select_clusters(self.cluster_view.selected_clusters())

    def _after_filter(self) -> None:
        """The list was filtered or sorted: the grid must not show a cluster the list hides."""
        c = self.model.active_cluster
        if self.cluster_model.stats is None:
            return
        if c is None or self.cluster_model.row_of_cluster(c) is None:
            first = self._first_visible_cluster()
            if first != c:
                self.model.set_active_cluster(first)
                return
        self._reselect_cluster()

    def _on_grid_current(self, current: QModelIndex, previous: QModelIndex) -> None:
        if current.isValid() and not self._updating_grid:
            self.model.set_current_image(self.grid_model.image_index(current.row()))

    def _on_grid_selection(self, *args: object) -> None:
        self._update_action_state()
        if self._updating_grid:
            return
        current = self.grid.currentIndex()
        cur = self.grid_model.image_index(current.row()) if current.isValid() else None
        self.model.select_images(self.grid.selected_images(), "grid", current=cur)

    def show_active_cluster(self) -> None:
        """Leave the selection view: show the active cluster's members again."""
        self._showing_selection = False
        self.back_button.setVisible(False)
        self._reselect_cluster()
        self._show_cluster(self.model.active_cluster)

    # =============================================================================================
    # curation
    # =============================================================================================
    def flag_selected(self, flag: str | None) -> None:
        """Flag the grid's selected images (``keep`` / ``exclude`` / ``duplicate``; None clears);
        more than one image: the preview first."""
        self.dialog = confirm_flags(self, self.model, self.grid.selected_images(), flag)

    def add_selection_to_group(self) -> None:
        sel = self.grid.selected_images()
        if not sel:
            self.model.message.emit("Select images first (click, Shift+click, Ctrl+A, or a lasso on the map)")
            return
        name = ask_group_name(self, sorted(self.model.groups), len(sel))
        if name:
            self.model.save_group(name, sel)

    def copy_selected_paths(self) -> None:
        paths = self._abs_paths(self.grid.selected_images())
        if not paths:
            self.model.message.emit("Select images in the grid first")
            return
        curation.copy_paths_to_clipboard(paths)
        self.model.message.emit(f"Copied {len(paths):,} path{'s' if len(paths) != 1 else ''} to the clipboard")

    def open_containing_folder(self) -> None:
        i = self.image_pane.image_index
        if i is None:
            selected = self.grid.selected_images()
            i = selected[0] if selected else None
        if i is None:
            self.model.message.emit("Select an image first")
            return
        self._open_folder_of(i)

    def export_selected_clusters(self) -> curation.ExportClustersDialog | None:
        """Open the export dialog (dry-run summary first) for the selected clusters."""
        c = self.model.active_cluster
        clusters = self.cluster_view.selected_clusters() or ([c] if c is not None else [])
        store = self.model.store
        view = self.cluster_model.view
        if store is None or not clusters or view is None:
            self.model.message.emit("Select one or more clusters in the list first")
            return None
        keys = [view.group(code).key for code in clusters]
        return curation.export_clusters(self, store, self.model.epoch, keys, self.model.message.emit,
                                        lambda key: view.find(key).title)

    def export_csv(self, path: Path | None = None) -> GeneratorWorker | None:
        """Write ``path,cluster,cluster_name`` of the epoch (asks for the file unless given)."""
        store = self.model.store
        if store is None or self.model.epoch == 0:
            self.model.message.emit("No epoch to export yet")
            return None
        return curation.export_assignments_csv(self, store, self.model.epoch, self.model.message.emit, path)

    def rename_current_cluster(self) -> None:
        self._edit_current(COL_NAME)

    def edit_current_tags(self) -> None:
        self._edit_current(COL_TAGS)

    def _edit_current(self, column: int) -> None:
        c = self.model.active_cluster
        row = self.cluster_model.row_of_cluster(c) if c is not None else None
        if row is not None:
            ix = self.cluster_model.index(row, column)
            self.cluster_view.setCurrentIndex(ix)
            self.cluster_view.edit(ix)

    def edit_current_notes(self) -> None:
        c = self.model.active_cluster
        if c is None or self.model.store is None:
            return
        if self.cluster_model.group(c) is not None:
            self.model.message.emit("Notes and tags belong to whole clusters: a part or a merged group has a name only")
            return
        text, ok = QInputDialog.getMultiLineText(self, f"Notes on {self.model.cluster_title(c)}",
                                                 "Notes (saved in the session file):", self.model.cluster_notes(c))
        if ok:
            self.model.set_cluster_notes(c, text)

    # =============================================================================================
    # merge, split, dissolve
    # =============================================================================================
    def merge_selected_clusters(self) -> bool:
        """Merge the clusters (or parts, or groups) selected in the list into one named group."""
        codes = self.cluster_view.selected_clusters()
        stats = self.stats()
        if len(codes) < 2 or stats is None:
            self.model.message.emit("Select two or more clusters in the list first (Ctrl+click)")
            return False
        titles = [self.cluster_model.title(c) for c in codes]
        name = ask_merge_name(self, titles, int(sum(int(stats.sizes[c]) for c in codes)))
        if name is None:
            return False
        applied = self.model.merge_groups(codes, name or None)
        if applied is None or applied.preview.group_id is None:
            return False
        self._select_key(f"g{applied.preview.group_id}")
        return True

    def split_current_cluster(self) -> SplitJob | None:
        """Split the active cluster into N parts: k-means on a worker, then the preview dialog.
        On a part, the whole cluster is split again (the new split replaces the old one)."""
        c = self.model.active_cluster
        view = self.cluster_model.view
        stats = self.stats()
        if c is None or view is None or stats is None or self.model.store is None:
            self.model.message.emit("Select a cluster in the list first")
            return None
        g = view.group(c)
        if g.kind not in ("cluster", KIND_PART):
            self.model.message.emit(f"{g.title} is a merged group: split one of its clusters, or dissolve it first")
            return None
        cluster = g.clusters[0]
        size = int(np.count_nonzero(self.model.store.assignments(self.model.epoch) == cluster))
        title = self.model.cluster_title(cluster)
        parts = ask_split_parts(self, title, size)
        if parts is None:
            return None
        if size < parts:
            self.model.message.emit(f"{title} has {size} images: it cannot be split into {parts} parts")
            return None
        job = SplitJob(self, self.model, self.thumbnails, cluster, parts, title)
        job.proposed.connect(lambda dialog: dialog.applied.connect(lambda _r: self._select_key(f"{cluster}.1")))
        self.split_job = job
        return job

    def dissolve_current_group(self) -> bool:
        """Dissolve the active merged group, or undo the split the active part belongs to."""
        c = self.model.active_cluster
        g = self.cluster_model.group(c) if c is not None else None
        if g is None:
            self.model.message.emit("Select a merged group (g…) or a part of a split cluster (12.1) first")
            return False
        return self.model.dissolve_group(g.code) is not None

    def _select_key(self, key: str) -> None:
        view = self.cluster_model.view
        if view is None:
            return
        with contextlib.suppress(KeyError):  # gone meanwhile (another window undid it)
            self.select_cluster(view.find(key).code)

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
        self.act_group = action("Add to group…", self.add_selection_to_group, ["G"],
                                "Keep the selected images as a named group (saved in the session)", g)
        self.act_select_all = action("Select all", self.grid.selectAll, ["Ctrl+A"], "Select every image of the grid", g)
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
        self.act_merge = action("Merge selected clusters…", self.merge_selected_clusters, None,
                                "One named group of the selected clusters (it follows them to later epochs)")
        self.act_split = action("Split cluster…", self.split_current_cluster, None,
                                "k-means on the cluster's images into N parts; the parts are shown before you accept")
        self.act_dissolve = action("Dissolve group", self.dissolve_current_group, None,
                                   "Show a merged group's clusters on their own again, or a split cluster whole")
        self.act_zoom_in = action("Larger thumbnails", self.grid.zoom_in, ["Ctrl+=", "Ctrl++"])
        self.act_zoom_out = action("Smaller thumbnails", self.grid.zoom_out, ["Ctrl+-"])
        self._update_action_state()

    def _update_action_state(self, *args: object) -> None:
        has = self.grid.selectionModel().hasSelection() if self.grid.selectionModel() else False
        for a in (self.act_keep, self.act_exclude, self.act_duplicate, self.act_clear, self.act_copy, self.act_group):
            a.setEnabled(has)
        for a in (self.act_export_clusters, self.act_export_csv):
            a.setEnabled(self.model.store is not None and self.model.epoch > 0)
        if hasattr(self, "act_merge"):
            writable = self.model.writable and self.stats() is not None
            c = self.model.active_cluster
            g = self.cluster_model.group(c) if c is not None else None
            self.act_merge.setEnabled(writable and len(self.cluster_view.selected_clusters()) >= 2)
            self.act_split.setEnabled(writable and c is not None)
            self.act_dissolve.setEnabled(writable and g is not None)
            self.act_dissolve.setText("Undo the split" if g is not None and g.kind == KIND_PART else "Dissolve group")

    def _fill_groups_menu(self) -> None:
        self.groups_menu.clear()
        groups = self.model.groups
        if not groups:
            none = QAction("No groups yet: select images, then “Add to group…”", self.groups_menu)
            none.setEnabled(False)
            self.groups_menu.addAction(none)
            return
        for name in sorted(groups):
            self.groups_menu.addAction(f"{name} ({len(groups[name]):,})", lambda n=name: self.model.select_group(n))
        self.groups_menu.addSeparator()
        delete = self.groups_menu.addMenu("Delete group")
        for name in sorted(groups):
            delete.addAction(name, lambda n=name: self.model.delete_group(n))

    def _show_empty(self, message: str) -> None:
        self.cluster_model.set_epoch_data(None, {}, [])
        self._set_grid(np.zeros(0, dtype=np.int64))
        self.cluster_title.setText(message)
        self.back_button.setVisible(False)
        self._update_action_state()

    def _epoch_stats(self, epoch: int) -> ClusterStats:
        """Per-epoch numbers, computed once with numpy (sizes, members, purity)."""
        hit = self._stats.get(epoch)
        if hit is not None:
            self._stats.move_to_end(epoch)
            return hit
        store = self.model.store
        assert store is not None
        view = store.group_view(epoch)  # rows: the groups after the user's merges and splits
        k = max((g.code for g in view.groups), default=-1) + 1
        stats = compute_cluster_stats(epoch, view.labels, k, self._labels)
        self._stats[epoch] = stats
        self._views[epoch] = view
        while len(self._stats) > _STATS_EPOCHS:
            old, _ = self._stats.popitem(last=False)
            self._views.pop(old, None)
        return stats

    def _members(self, c: int | None) -> np.ndarray | None:
        stats = self.stats()
        if c is None or stats is None or not 0 <= c < stats.k:
            return None
        return stats.members(c)

    def _first_visible_cluster(self) -> int | None:
        """The first non-empty cluster the list shows (in its sort order), else its first row."""
        m = self.cluster_model
        stats = m.stats
        if stats is None or m.rowCount() == 0:
            return None
        for row in range(m.rowCount()):
            c = m.cluster_at(row)
            if stats.sizes[c] > 0:
                return c
        return m.cluster_at(0)

    def _set_grid(self, indices: np.ndarray) -> None:
        self._with_grid_update(lambda: self.grid.set_images(indices))

    def _with_grid_update(self, change: Any) -> None:
        self._updating_grid = True
        try:
            change()
        finally:
            self._updating_grid = False
        self._update_action_state()

    def _show_cluster(self, c: int | None) -> None:
        members = self._members(c)
        self.back_button.setVisible(False)
        if members is None or self.cluster_model.row_of_cluster(c) is None:  # type: ignore[arg-type]
            self._set_grid(np.zeros(0, dtype=np.int64))
            self.cluster_title.setText("No cluster matches the filter" if self.cluster_model.stats is not None
                                       and self.cluster_model.rowCount() == 0 else "No cluster selected")
            self._update_action_state()
            return
        self._set_grid(members)
        keep = self.model.current_image
        sel = [i for i in self.model.selection if self.grid_model.row_of(i) is not None]
        if sel or keep is not None:
            self._with_grid_update(lambda: self.grid.select_images(sel, keep))
        self._update_title()

    def _update_title(self) -> None:
        if self._showing_selection:
            n = self.grid_model.rowCount()
            where = SOURCE_TEXT.get(self.model.selection_source, "elsewhere")
            self.cluster_title.setText(f"Selection: {n:,} image{'s' if n != 1 else ''} chosen {where}")
            return
        c, stats = self.model.active_cluster, self.stats()
        if c is None or stats is None or not 0 <= c < stats.k:
            return
        n = int(stats.sizes[c])
        text = f"{self.cluster_model.title(c)} — {n:,} image{'s' if n != 1 else ''}"
        p = float(stats.purity[c])
        if not np.isnan(p):
            text += f" — {p:.0%} {self.cluster_model.majority_label(c)}"
        self.cluster_title.setText(text)

    def _reselect_cluster(self) -> None:
        """Select the row of the active cluster (after an epoch switch, filter or sort)."""
        c = self.model.active_cluster
        sel = self.cluster_view.selectionModel()
        row = self.cluster_model.row_of_cluster(c) if c is not None else None
        sel.blockSignals(True)
        try:
            if row is None:
                sel.clearSelection()
                sel.setCurrentIndex(QModelIndex(), QItemSelectionModel.SelectionFlag.NoUpdate)
            else:
                ix = self.cluster_model.index(row, 0)
                if ix != sel.currentIndex() or not sel.isRowSelected(row, QModelIndex()):
                    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
                    sel.setCurrentIndex(ix, flags)
        finally:
            sel.blockSignals(False)
        self.cluster_view.viewport().update()
        if row is not None:
            self.cluster_view.scrollTo(self.cluster_model.index(row, 0), QAbstractItemView.ScrollHint.EnsureVisible)

    def _show_image(self, i: int) -> None:
        store = self.model.store
        if store is None:
            return
        try:
            info = store.image_info(i)
            history = store.image_history(i)
        except (IndexError, KeyError) as exc:
            self.image_pane.clear(str(exc))
            return
        cache = self.images.cache
        if cache is not None and i < len(cache.original_sizes) and not info.get("width"):
            w, h = (int(v) for v in cache.original_sizes[i])
            info = {**info, "width": w, "height": h}
        epoch = self.model.epoch
        cluster = int(history[epoch - 1]) if 0 < epoch <= history.size else None
        view = self.model.group_view  # its merge or split part at the epoch shown: the list's name
        if cluster is not None and view is not None and view.epoch == epoch and 0 <= i < view.labels.size:
            cluster = int(view.labels[i])
        self.image_pane.show_image(i, info, history, epoch, cluster, self.model.cluster_title, self._label_names)

    def _abs_paths(self, indices: list[int]) -> list[Path]:
        """The files of images ``indices``; none (with the reason shown) when a row leads outside the folder."""
        store = self.model.store
        if store is None:
            return []
        try:
            return store.image_files([i for i in indices if 0 <= i < len(self.model.paths)])
        except SessionFileError as exc:  # a row that leads outside the folder (UnsafeSessionPath)
            from dcgui.gui.errors import show_error

            self.model.message.emit(str(exc))
            show_error(self, str(exc), title="dcgui: cluster browser")
            return []

    def _open_folder_of(self, i: int) -> None:
        paths = self._abs_paths([i])
        if paths and not curation.open_containing_folder(paths[0]):
            self.model.message.emit(f"Could not open the folder {paths[0].parent}: is a file manager installed?")

    def _more_like_selected(self) -> None:
        i = self.image_pane.image_index
        if i is None:
            sel = self.grid.selected_images()
            i = sel[0] if sel else None
        if i is not None:
            self.model.request_similar(i)

    def _grid_menu(self, pos: Any) -> None:
        menu = QMenu(self)
        for a in (self.act_keep, self.act_exclude, self.act_duplicate, self.act_clear, self.act_group):
            menu.addAction(a)
        menu.addSeparator()
        for a in (self.act_select_all, self.act_copy, self.act_open_folder, self.act_more):
            menu.addAction(a)
        menu.popup(self.grid.viewport().mapToGlobal(pos))

    def _cluster_menu(self, pos: Any) -> None:
        self._update_action_state()
        menu = QMenu(self)
        for a in (self.act_rename, self.act_tags, self.act_notes):
            menu.addAction(a)
        menu.addSeparator()
        for a in (self.act_merge, self.act_split, self.act_dissolve):
            menu.addAction(a)
        menu.addSeparator()
        menu.addAction(self.act_export_clusters)
        menu.addAction(self.act_export_csv)
        menu.popup(self.cluster_view.viewport().mapToGlobal(pos))
