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

This file builds the widgets and passes the user's input to the model. Its parts, one job each:
``cluster_browser_sync`` (the model's signals -> the widgets), ``cluster_commands`` (what the
registry's actions do, the context menus), ``cluster_edits`` (merge / split / dissolve) and
``cluster_stats_cache`` (per-epoch numbers); the actions themselves are rows of ``gui/actions.py``.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QLabel,
    QMenu,
    QSlider,
    QToolBar,
    QToolButton,
    QWidget,
)

from dcgui.gui.actions import registry_for
from dcgui.gui.cluster_browser_sync import ClusterBrowserSync
from dcgui.gui.cluster_commands import ClusterCommands
from dcgui.gui.cluster_edits import ClusterEdits
from dcgui.gui.cluster_list import (
    ClusterListModel,
    ClusterListPanel,
    ClusterStats,
)
from dcgui.gui.cluster_stats_cache import EpochStatsCache
from dcgui.gui.edit_confirm import EditConfirmDialog
from dcgui.gui.image_pane import ImagePane
from dcgui.gui.layout import hbox, splitter, vbox
from dcgui.gui.session_images import SessionImages
from dcgui.gui.session_model import SessionModel
from dcgui.gui.split_dialog import SplitJob
from dcgui.gui.thumbnail_grid import MAX_THUMB, MIN_THUMB, ThumbnailGrid
from dcgui.gui.thumbnails import AsyncPixmapCache


class ClusterBrowser(QWidget):
    """Browse the clusters of the model's epoch; curate clusters and images; export them."""

    def __init__(self, model: SessionModel, images: SessionImages, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.images = images
        self._stats = EpochStatsCache()
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
        self.clear_button = QToolButton(self)  # one click: no selection anywhere, back to the cluster
        self.clear_button.setText("Clear selection")
        self.clear_button.setToolTip("Forget the selection made elsewhere (every tab) and show the cluster")
        self.clear_button.clicked.connect(self.model.clear_selection)
        self.clear_button.setVisible(False)

        # The commands are rows of the action registry; cluster_commands / cluster_edits carry them out.
        self.action_registry = reg = registry_for(model)
        self.edits = ClusterEdits(self)
        self.sync = ClusterBrowserSync(self)  # the model -> view slots (gui/cluster_browser_sync.py)
        self.commands = ClusterCommands(self)
        self.commands.bind(reg)
        for name in ("keep", "exclude", "duplicate", "clear", "group", "select_all", "copy", "open_folder", "more",
                     "zoom_in", "zoom_out"):
            setattr(self, f"act_{name}", reg.action(f"grid.{name}"))
        for name in ("export", "export_csv", "rename", "tags", "notes", "merge", "split", "dissolve"):
            setattr(self, f"act_{name}", reg.action(f"clusters.{name}"))
        self.act_export_clusters = self.act_export
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
        self.groups_menu.aboutToShow.connect(self.commands._fill_groups_menu)
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

        top = hbox((self.cluster_title, 1), self.back_button, self.clear_button, QLabel("Size", self), self.zoom_slider,
                   margins=0)

        center = QWidget(self)
        vbox(top, self.toolbar, (self.grid, 1), parent=center, margins=0, spacing=2)

        self.splitter = splitter(Qt.Orientation.Horizontal, (self.cluster_panel, 2), (center, 5), (self.image_pane, 3),
                                 parent=self)
        self.splitter.setSizes([420, 620, 340])
        self.splitter.setChildrenCollapsible(False)

        vbox((self.splitter, 1), parent=self, margins=4)

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
        self.image_pane.openFolderRequested.connect(self.commands._open_folder_of)
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self.commands._grid_menu)
        self.cluster_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.cluster_view.customContextMenuRequested.connect(self.commands._cluster_menu)

        # -- the model's changes come back to the widgets ------------------------------------------------
        model.sessionChanged.connect(self.sync.on_session)
        model.collectionChanged.connect(self.sync.on_collection)
        model.epochsChanged.connect(self.sync.on_epochs)
        model.epochChanged.connect(self.sync.on_epoch)
        model.activeClusterChanged.connect(self.sync.on_active_cluster)
        model.selectionChanged.connect(self.sync.on_selection)
        model.currentImageChanged.connect(self.sync.on_current_image)
        model.flagsChanged.connect(self.sync.on_flags)
        model.clusterDataChanged.connect(self.sync.on_cluster_data)
        model.clusterGroupsChanged.connect(self.sync.on_cluster_groups)
        images.cacheChanged.connect(self.sync.on_cache)
        self.sync.on_session()

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

    # =============================================================================================
    # view -> model
    # =============================================================================================
    def _on_cluster_row(self, current: QModelIndex, previous: QModelIndex) -> None:
        if not current.isValid() or self.sync.resetting_rows:
            return
        c = self.cluster_model.cluster_at(current.row())
        if c == self.model.active_cluster:
            if self._showing_selection:
                self.show_active_cluster()
            return
        self.sync.row_from_view = True
        try:
            self.model.set_active_cluster(c)
        finally:
            self.sync.row_from_view = False

    def _on_cluster_selection(self, *args: object) -> None:
        self.model.select_clusters(self.cluster_view.selected_clusters())
        self._update_action_state()  # "Merge selected clusters…" follows the selection

    def _after_filter(self) -> None:
        """The list was filtered or sorted: the grid must not show a cluster the list hides."""
        c = self.model.active_cluster
        if self.cluster_model.stats is None or self.sync.resetting_rows:  # new rows: the sync chooses
            return
        if c is None or self.cluster_model.row_of_cluster(c) is None:
            first = self.sync.first_visible_cluster()
            if first != c:
                self.model.set_active_cluster(first)
                return
        self.sync.reselect_cluster()

    def _on_grid_current(self, current: QModelIndex, previous: QModelIndex) -> None:
        if current.isValid() and not self._updating_grid:
            self.model.set_current_image(self.grid_model.image_index(current.row()))

    def _on_grid_selection(self, *args: object) -> None:
        self._update_action_state()
        if self._updating_grid:
            return
        self.model.select_images(self.grid.selected_images(), "grid", current=self.grid.current_image())

    def show_active_cluster(self) -> None:
        """Leave the selection view: show the active cluster's members again."""
        self._showing_selection = False
        self.back_button.setVisible(False)
        self.clear_button.setVisible(False)
        self.sync.reselect_cluster()
        self.sync.show_cluster(self.model.active_cluster)

    # =============================================================================================
    # internals
    # =============================================================================================

    def _epoch_stats(self, epoch: int) -> ClusterStats:
        assert self.model.store is not None
        stats = self._stats.compute(self.model.store, epoch, self._labels)
        if self._stats.run_changed:  # epochs set aside and trained again: the mosaics are another run's
            self._stats.run_changed = False
            self.sync.on_cache()
        return stats

    def _update_action_state(self, *args: object) -> None:
        """Tell the action registry what its enabled-rules read from these widgets."""
        c = self.model.active_cluster
        g = self.cluster_model.group(c) if c is not None else None
        sel = self.grid.selectionModel()
        excluded = self.cluster_model.is_excluded_row
        self.action_registry.publish(grid_selection=bool(sel is not None and sel.hasSelection()), browsing=self.stats() is not None,
                             selected_clusters=len([s for s in self.cluster_view.selected_clusters() if not excluded(s)]),
                             active_group_kind=g.kind if g is not None else None,
                             active_excluded=c is not None and excluded(c))














