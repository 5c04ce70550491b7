"""Explore › Outliers: the images farthest from every cluster of the epoch, each with the name of
the cluster (or the user's merged group or split part) it is in."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QWidget

from dcgui.core.control import RunControl
from dcgui.gui.edit_confirm import EditConfirmDialog, confirm_flags
from dcgui.gui.explore.common import ExploreTab, GridSelectionLink, count_spin
from dcgui.gui.explore.jobs import ExploreJobs
from dcgui.gui.layout import button, hbox, vbox, wrapped_label
from dcgui.gui.session_model import SessionModel, describe_selection
from dcgui.gui.thumbnail_grid import ThumbnailGrid
from dcgui.gui.thumbnails import AsyncPixmapCache
from dcgui.services import explore as es

if TYPE_CHECKING:
    from dcgui.store import SessionStore


class OutliersTab(ExploreTab):
    def __init__(self, model: SessionModel, jobs: ExploreJobs, thumbnails: AsyncPixmapCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(model, jobs, parent)
        self._outliers: list[es.Outlier] | None = None
        self.dialog: EditConfirmDialog | None = None
        self.count = count_spin(2000, 60, self.run)
        explain = wrapped_label("Images far from every cluster of this epoch, most unusual first. Score = 1 − cosine "
                                "similarity to the nearest cluster centroid (the mean feature of its members).")
        self.grid = ThumbnailGrid(thumbnails, self, caption_lines=2)
        self.link = GridSelectionLink(self.grid, model, "outliers")
        self.exclude_button = button("Flag selected as 'exclude'", self.exclude_selected,
                                     tip="Mark the selected images so exports and curation leave them out")
        vbox(hbox((explain, 1), self.count, self.exclude_button), self.link.banner, (self.grid, 1), parent=self)
        self.grid.selectionModel().selectionChanged.connect(lambda *_: self.update_enabled())
        model.clusterDataChanged.connect(lambda _c: self._show())
        model.clusterGroupsChanged.connect(self._show)

    def exclude_selected(self) -> EditConfirmDialog | None:
        """Flag the selected images 'exclude' (several: after the preview)."""
        chosen = self.grid.selected_images()
        m = self.model
        what = describe_selection(len(chosen), max(len(m.selection), len(chosen)), m.selection_source or "outliers")
        self.dialog = confirm_flags(self, m, chosen, "exclude", what=what)
        return self.dialog

    @property
    def outliers(self) -> list[es.Outlier] | None:
        return self._outliers

    def reset(self) -> None:
        self._outliers = None
        self.link.show([])

    def needs_run(self) -> bool:
        return self._outliers is None

    def update_enabled(self) -> None:
        self.exclude_button.setEnabled(self.model.writable and bool(self.grid.selected_images()))

    def run(self) -> None:
        if not self.trained():
            return
        n = self.count.value()

        def work(store: SessionStore, f: es.SessionFeatures, control: RunControl) -> Generator[Any, None, Any]:
            return (yield from es.iter_session_outliers(store, f.epoch, n, control=control, features=f.features))

        def done(result: list[es.Outlier]) -> None:
            self._outliers = result
            self.say(f"The {len(result)} images farthest from every cluster of epoch {self.model.epoch}. "
                     "Double-click one for its neighbours.")
            self._show()

        self.jobs.submit("outliers", self, work, done)

    def title(self, o: es.Outlier) -> str:
        """The user's name of the outlier's cluster or group now (names change while shown)."""
        view = self.model.group_view
        if view is not None and len(view.labels) > o.index:
            return view.of_image(o.index).title
        return o.cluster_name or self.model.cluster_title(o.cluster)

    def _show(self) -> None:
        if self._outliers is None:
            return
        titles = [self.title(o) for o in self._outliers]
        self.link.show([o.index for o in self._outliers],
                       [f"{o.rank}. {o.score:.3f}\n{t}" for o, t in zip(self._outliers, titles)],
                       [f"outlier score {o.score:.4f} ({t})" for o, t in zip(self._outliers, titles)])
