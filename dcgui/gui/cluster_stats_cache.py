"""Per-epoch cluster numbers for the cluster browser, computed once with numpy and kept for a few epochs.

A row of the list is a group of ``SessionStore.group_view`` (a cluster, a part of a split one, or
a merge), so each cached :class:`ClusterStats` is kept with the ``GroupView`` it counts. An epoch
number alone does not name a trained epoch: after "Resume from epoch…" epoch 5 is trained again,
so the cache holds one run's numbers (``SessionStore.epochs_run``) and forgets them for another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dcgui.core.lru import LRU
from dcgui.gui.cluster_list import ClusterStats, compute_cluster_stats

if TYPE_CHECKING:
    from dcgui.core.analysis.groups import GroupView
    from dcgui.store import SessionStore

_STATS_EPOCHS = 4  # per-epoch numbers kept (each ~9 bytes per image)


class EpochStatsCache:
    """The last few epochs' :class:`ClusterStats` and the group views they count."""

    def __init__(self, capacity: int = _STATS_EPOCHS) -> None:
        # Each epoch's numbers with the groups they count.
        self._cached: LRU[int, tuple[ClusterStats, GroupView]] = LRU(capacity)
        self._run: int | None = None  # the run the cached epochs belong to
        self.run_changed = False  # set when a compute found another run (mosaics are stale too)

    def get(self, epoch: int) -> ClusterStats | None:
        hit = self._cached.get(epoch)
        return hit[0] if hit is not None else None

    def view(self, epoch: int) -> GroupView | None:
        hit = self._cached.get(epoch)
        return hit[1] if hit is not None else None

    def clear(self) -> None:
        self._cached.clear()

    def compute(self, store: SessionStore, epoch: int, labels: np.ndarray | None) -> ClusterStats:
        """Per-epoch numbers, computed once with numpy (sizes, members, purity)."""
        run = store.epochs_run()
        if run != self._run:
            self.run_changed = self._run is not None
            self.clear()
            self._run = run
        hit = self._cached.get(epoch)
        if hit is not None:
            return hit[0]
        view = store.group_view(epoch)  # rows: the groups after the user's merges and splits
        k = max((g.code for g in view.groups), default=-1) + 1
        stats = compute_cluster_stats(epoch, view.labels, k, labels)
        self._cached.put(epoch, (stats, view))
        return stats
