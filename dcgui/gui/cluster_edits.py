"""Merging, splitting and dissolving clusters from the cluster browser's list.

The flows ask the user (a name, a number of parts), then go to the model; a split runs k-means on
a worker and shows its parts before anything is written (``split_dialog.SplitJob``).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtWidgets import QInputDialog, QWidget

from dcgui.core.analysis.groups import KIND_PART
from dcgui.gui.browser_part import BrowserPart
from dcgui.gui.split_dialog import SplitJob

if TYPE_CHECKING:
    from dcgui.store import AppliedEdit


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


class ClusterEdits(BrowserPart):
    """The merge / split / dissolve commands of one cluster browser."""

    def merge_selected_clusters(self) -> bool:
        """Merge the clusters (or parts, or groups) selected in the list into one named group."""
        codes = [c for c in self.b.cluster_view.selected_clusters() if not self.b.cluster_model.is_excluded_row(c)]
        stats = self.b.stats()
        if len(codes) < 2 or stats is None:
            self.b.model.message.emit("Select two or more clusters in the list first (Ctrl+click)")
            return False
        titles = [self.b.cluster_model.title(c) for c in codes]
        name = ask_merge_name(self.b, titles, int(sum(int(stats.sizes[c]) for c in codes)))
        if name is None:
            return False
        pending = self.b.model.merge_groups(codes, name or None)
        if pending is None:
            return False

        def landed(applied: AppliedEdit | None) -> None:  # from its worker: the list shows the new group
            if applied is not None and applied.preview.group_id is not None:
                self._select_key(f"g{applied.preview.group_id}")

        pending.then(landed)
        return True

    def split_current_cluster(self) -> SplitJob | None:
        """Split the active cluster into N parts: k-means on a worker, then the preview dialog.
        On a part, the whole cluster is split again (the new split replaces the old one)."""
        c = self.b.model.active_cluster
        view = self.b.cluster_model.view
        stats = self.b.stats()
        if c is None or view is None or stats is None or self.b.model.store is None:
            self.b.model.message.emit("Select a cluster in the list first")
            return None
        if self.b.cluster_model.is_excluded_row(c):
            self.b.model.message.emit("The excluded images are in no cluster at this epoch: unflag them to bring them back")
            return None
        g = view.group(c)
        if g.kind not in ("cluster", KIND_PART):
            self.b.model.message.emit(f"{g.title} is a merged group: split one of its clusters, or dissolve it first")
            return None
        cluster = g.clusters[0]
        size = int(np.count_nonzero(self.b.model.store.assignments(self.b.model.epoch) == cluster))
        title = self.b.model.cluster_title(cluster)
        parts = ask_split_parts(self.b, title, size)
        if parts is None:
            return None
        if size < parts:
            self.b.model.message.emit(f"{title} has {size} images: it cannot be split into {parts} parts")
            return None
        job = SplitJob(self.b, self.b.model, self.b.thumbnails, cluster, parts, title)
        job.proposed.connect(lambda dialog: dialog.applied.connect(lambda _r: self._select_key(f"{cluster}.1")))
        self.b.split_job = job
        return job

    def dissolve_current_group(self) -> bool:
        """Dissolve the active merged group, or undo the split the active part belongs to."""
        c = self.b.model.active_cluster
        g = self.b.cluster_model.group(c) if c is not None else None
        if g is None:
            self.b.model.message.emit("Select a merged group (g…) or a part of a split cluster (12.1) first")
            return False
        return self.b.model.dissolve_group(g.code) is not None

    def _select_key(self, key: str) -> None:
        view = self.b.cluster_model.view
        if view is None:
            return
        with contextlib.suppress(KeyError):  # gone meanwhile (another window undid it)
            self.b.select_cluster(view.find(key).code)
