"""Explore › Map: every image as a point of a 2-D map (UMAP of the epoch's features).

The lasso and the rectangle select images in the model, so a selection made here shows in the
cluster browser's grid and image pane (and in every other list); a selection made elsewhere is
outlined here. The selected images are listed beside the map, lazily.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QWidget,
)

from dcgui.core.control import RunControl
from dcgui.gui.edit_confirm import EditConfirmDialog, confirm_flags
from dcgui.gui.explore.common import ExploreTab
from dcgui.gui.explore.jobs import ExploreJobs
from dcgui.gui.explore.map_view import MapView
from dcgui.gui.help import definitions_html
from dcgui.gui.layout import button, flow, hbox, splitter, vbox
from dcgui.gui.session_model import SOURCE_TEXT, SessionModel, describe_selection
from dcgui.gui.thumbnail_grid import ThumbnailGrid
from dcgui.gui.thumbnails import AsyncPixmapCache
from dcgui.services import explore as es

if TYPE_CHECKING:
    from dcgui.store import SessionStore


class MapTab(ExploreTab):
    """``showInGridRequested()``: the user wants the selection in the cluster browser."""

    showInGridRequested = Signal()

    def __init__(self, model: SessionModel, jobs: ExploreJobs, thumbnails: AsyncPixmapCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(model, jobs, parent)
        self._coords: np.ndarray | None = None
        self.labels_available = False
        # The map over epochs: each epoch's layout aligned with its neighbour's (services.maps),
        # kept here by epoch so that going back (or playing again) is instant.
        self._aligned_maps: dict[int, np.ndarray] = {}
        self.aligned = QCheckBox("Aligned over epochs")
        self.aligned.setToolTip("Each epoch's map starts from its neighbour's and is rotated to match it, so moving "
                                "the epoch slider (or Play) shows the clusters forming")
        self.aligned.toggled.connect(lambda _on: self._on_epoch(self.model.epoch))
        self.play_button = QPushButton("▶ Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Step through the epochs with the aligned map (each map is computed once, then cached)")
        self.play_button.toggled.connect(self._on_play)
        self._timer = QTimer(self)
        self._timer.setInterval(1200)
        self._timer.timeout.connect(self._play_step)
        self.map_view = MapView(thumbnails)
        self.map_view.setWhatsThis("<p>Each point is an image, placed by a UMAP of this epoch's features: "
                                    "neighbours on the map are neighbours in feature space.</p>"
                                    + definitions_html(["UMAP", "epoch"]))
        self.map_view.selectionChanged.connect(lambda ids: model.select_images(ids, "map"))
        self.map_view.pointActivated.connect(model.request_similar)
        self.colour_by = QComboBox()
        self.colour_by.addItem("Colour by cluster", "cluster")
        self.colour_by.addItem("Colour by label", "label")
        self.colour_by.currentIndexChanged.connect(lambda _: self._recolour())
        self.mode_group = QButtonGroup(self)
        mode_row = QHBoxLayout()
        for i, (mode, text, tip) in enumerate((
            ("pan", "Pan / zoom", "Drag to pan, wheel to zoom"),
            ("lasso", "Lasso", "Drag a free shape around points to select them (Shift adds)"),
            ("rect", "Rectangle", "Drag a rectangle to select points (Shift adds)"),
        )):
            b = QRadioButton(text)
            b.setToolTip(tip)
            b.setProperty("mode", mode)
            self.mode_group.addButton(b, i)
            mode_row.addWidget(b)
            if mode == "pan":
                b.setChecked(True)
        self.mode_group.buttonClicked.connect(lambda b: self.map_view.set_mode(b.property("mode")))
        self.selection_label = QLabel("No selection")
        self.clear_button = button("Clear", model.clear_selection)
        self.keep_button = button("Flag 'keep'", lambda: self.flag_selection("keep"))
        self.exclude_button = button("Flag 'exclude'", lambda: self.flag_selection("exclude"))
        self.group_button = button("Add to group…", self._add_to_group,
                                   tip="Keep the selected images as a named group (saved in the session)")
        self.show_in_grid_button = button("Show in the grid",
                                          tip="Show the selected images in the Clusters tab's grid and image pane")
        self.show_in_grid_button.clicked.connect(self.showInGridRequested)
        # Three groups that wrap onto more lines in a narrow window (one long row set the
        # window's minimum width to 1,240 px, and a longer selection text widened it further).
        top = flow(hbox(self.colour_by, self.aligned, self.play_button, mode_row, margins=0), self.selection_label,
                   hbox(self.clear_button, self.keep_button, self.exclude_button, self.group_button,
                        self.show_in_grid_button, margins=0), spacing=16)
        # The selection, listed lazily beside the map; a click shows that image in the image pane.
        self.selection_grid = ThumbnailGrid(thumbnails, self, thumb_size=64)
        self.selection_grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.selection_grid.selectionModel().currentChanged.connect(self._on_selection_current)
        self.selection_grid.imageActivated.connect(model.request_similar)
        split = splitter(Qt.Orientation.Horizontal, (self.map_view, 4), (self.selection_grid, 1))
        split.setSizes([700, 220])
        split.setChildrenCollapsible(False)
        vbox(top, (split, 1), parent=self)
        model.selectionChanged.connect(self._on_selection)
        model.clusterDataChanged.connect(lambda _c: self._recolour())
        self.dialog: EditConfirmDialog | None = None  # the last preview shown (tests)

    def flag_selection(self, flag: str) -> EditConfirmDialog | None:
        """Flag the map's selection (a lasso often takes many images: the preview first)."""
        sel = self.model.selection
        self.dialog = confirm_flags(self, self.model, sel, flag,
                                    what=describe_selection(len(sel), len(sel), self.model.selection_source))
        return self.dialog

    @property
    def coords(self) -> np.ndarray | None:
        return self._coords

    # -- ExploreTab -----------------------------------------------------------------------------
    def _on_session_labels(self) -> None:
        store = self.model.store
        self.labels_available = store is not None and store.labels() is not None
        self.colour_by.model().item(1).setEnabled(self.labels_available)  # type: ignore[attr-defined]
        if not self.labels_available:
            self.colour_by.setCurrentIndex(0)
        super()._on_session()

    def reset(self) -> None:
        self._coords = None
        if self.model.store is None:
            self._aligned_maps = {}
        if not (self.aligned.isChecked() and self.map_view.point_count):
            # the aligned map keeps the last epoch's points until the next one arrives (no blink)
            self.map_view.set_points(np.zeros((0, 2)))
        self._on_selection()

    def _on_session(self) -> None:
        self._aligned_maps = {}
        self.play_button.setChecked(False)
        self._on_session_labels()

    def _on_epoch(self, _epoch: int) -> None:
        self._on_session_labels()  # another epoch of the same session: the aligned maps stay

    def needs_run(self) -> bool:
        return self._coords is None

    def update_enabled(self) -> None:
        has_sel = bool(self.model.selection)
        for b in (self.keep_button, self.exclude_button, self.group_button):
            b.setEnabled(self.model.writable and has_sel)
        self.clear_button.setEnabled(has_sel)
        self.show_in_grid_button.setEnabled(has_sel)

    def run(self) -> None:
        if self.aligned.isChecked():
            self._run_aligned()
            return

        def work(store: SessionStore, f: es.SessionFeatures, control: RunControl) -> Generator[Any, None, Any]:
            return (yield from es.iter_session_map(store, f.epoch, control=control, features=f.features))

        # (a result that arrives after "Aligned over epochs" was ticked is not shown)
        self.jobs.submit("map", self, work, lambda c: None if self.aligned.isChecked() else self._show_map(c))

    def _run_aligned(self) -> None:
        epoch = self.model.epoch
        cached = self._aligned_maps.get(epoch)
        if cached is not None:
            self._show_map(cached)
            return

        def work(store: SessionStore, _f: Any, control: RunControl) -> Generator[Any, None, Any]:
            from dcgui.services.maps import iter_aligned_map

            coords = yield from iter_aligned_map(store, epoch, control=control)
            return epoch, coords

        def done(value: tuple[int, np.ndarray]) -> None:
            e, coords = value
            self._aligned_maps[e] = coords
            if e == self.model.epoch:
                self._show_map(coords)

        self.say(f"Computing the aligned map of epoch {epoch}…", transient=True)
        self.jobs.submit("map", self, work, done, need_features=False)

    def _on_play(self, on: bool) -> None:
        self.play_button.setText("⏸ Pause" if on else "▶ Play")
        if not on:
            self._timer.stop()
            return
        if not self.aligned.isChecked():
            self.aligned.setChecked(True)
        if self.model.epoch >= self.model.last_epoch > 1:
            self.model.set_epoch(1)  # from the start
        self._timer.start()

    def _play_step(self) -> None:
        """Next epoch once this one's map is shown (a map still computing holds the play)."""
        if self._coords is None or not self.isVisible():
            return
        if self.model.epoch >= self.model.last_epoch:
            self.play_button.setChecked(False)
            return
        self.model.set_epoch(self.model.epoch + 1)

    # -- internals ------------------------------------------------------------------------------
    def _show_map(self, coords: np.ndarray) -> None:
        self._coords = coords
        ids, names = self._colours()
        self.map_view.set_points(coords, ids, names, captions=self.model.paths)
        self.map_view.set_selection(self.model.selection, emit=False)
        kind = "aligned with its neighbours, " if self.aligned.isChecked() else ""
        self.say(f"2-D map of {len(coords):,} images (UMAP of the epoch-{self.model.epoch} features, {kind}epoch "
                 f"{self.model.epoch} of {self.model.last_epoch}). Hover for a preview; double-click a point for its "
                 "neighbours; the lasso selects.")

    def _colours(self) -> tuple[np.ndarray | None, list[str] | None]:
        store = self.model.store
        if store is None:
            return None, None
        if self.colour_by.currentData() == "label":
            labels = store.labels()
            if labels is not None:
                return labels, store.label_names()
        epoch = self.model.epoch
        if 1 <= epoch <= store.last_epoch():
            view = self.model.group_view  # merges and splits: the colours and names of the cluster list
            if view is not None and view.epoch == epoch:
                codes = view.labels
                n = int(codes.max()) + 1 if len(codes) else 0
                return codes, [self.model.cluster_title(c) for c in range(n)]
            assign = store.assignments(epoch)
            k = int(assign.max()) + 1 if len(assign) else 0
            return assign, [self.model.cluster_title(c) for c in range(k)]
        return None, None

    def _recolour(self) -> None:
        if self._coords is not None:
            self.map_view.set_colours(*self._colours())

    def _on_selection(self) -> None:
        sel = self.model.selection
        n = len(sel)
        where = SOURCE_TEXT.get(self.model.selection_source, "elsewhere")  # where it was made, always said
        self.selection_label.setText(f"{n:,} image{'s' if n != 1 else ''} chosen {where}" if n else "No selection")
        if self.map_view.point_count and self.model.selection_source != "map":
            self.map_view.set_selection(sel, emit=False)
        self.selection_grid.set_images(np.asarray(sel, dtype=np.int64))
        self.update_enabled()

    def _add_to_group(self) -> None:
        from dcgui.gui.cluster_commands import ask_group_name

        sel = self.model.selection
        name = ask_group_name(self, sorted(self.model.groups), len(sel)) if sel else None
        if name:
            self.model.save_group(name, sel)

    def _on_selection_current(self, current: Any, _previous: Any) -> None:
        if current.isValid():
            self.model.set_current_image(self.selection_grid.grid_model().image_index(current.row()))
