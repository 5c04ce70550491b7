"""Per-epoch cluster numbers for the cluster browser, computed once with numpy and kept for a few epochs.

A row of the list is a group of ``SessionStore.group_view`` (a cluster, a part of a split one, or
a merge), so each cached :class:`ClusterStats` is kept with the ``GroupView`` it counts. An epoch
number alone does not name a trained epoch: after "Resume from epoch…" epoch 5 is trained again,
so the cache holds one run's numbers (``SessionStore.epochs_run``) and forgets them for another.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from dcgui.gui.cluster_list import ClusterStats, compute_cluster_stats

if TYPE_CHECKING:
    from dcgui.core.analysis.groups import GroupView
    from dcgui.store import SessionStore

_STATS_EPOCHS = 4  # per-epoch numbers kept (each ~9 bytes per image)


class EpochStatsCache:
    """The last few epochs' :class:`ClusterStats` and the group views they count."""

    def __init__(self, capacity: int = _STATS_EPOCHS) -> None:
        self.capacity = capacity
        self._stats: OrderedDict[int, ClusterStats] = OrderedDict()
        self._views: dict[int, GroupView] = {}  # the groups each cached ClusterStats counts
        self._run: int | None = None  # the run the cached epochs belong to
        self.run_changed = False  # set when a compute found another run (mosaics are stale too)

    def get(self, epoch: int) -> ClusterStats | None:
        return self._stats.get(epoch)

    def view(self, epoch: int) -> GroupView | None:
        return self._views.get(epoch)

    def clear(self) -> None:
        self._stats.clear()
        self._views.clear()

    def compute(self, store: SessionStore, epoch: int, labels: np.ndarray | None) -> ClusterStats:
        """Per-epoch numbers, computed once with numpy (sizes, members, purity)."""
        run = store.epochs_run()
        if run != self._run:
            self.run_changed = self._run is not None
            self.clear()
            self._run = run
        hit = self._stats.get(epoch)
        if hit is not None:
            self._stats.move_to_end(epoch)
            return hit
        view = store.group_view(epoch)  # rows: the groups after the user's merges and splits
        k = max((g.code for g in view.groups), default=-1) + 1
        stats = compute_cluster_stats(epoch, view.labels, k, labels)
        self._stats[epoch] = stats
        self._views[epoch] = view
        while len(self._stats) > self.capacity:
            old, _ = self._stats.popitem(last=False)
            self._views.pop(old, None)
        return stats
