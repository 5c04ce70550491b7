"""A session's corrections as the engine's steering (issue 24; METHOD.md "Steering").

``steering_at(store, epoch)`` reads, at the moment the engine is about to cluster ``epoch``, the
images flagged exclude and the merges and splits made at earlier epochs, and turns them into a
``dcgui.core.train.steering.Steering``: a merge's images are its members at the epoch it was made (what
the person saw), a split's parts the members of its cluster at that epoch, by part.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from dcgui.core.analysis.groups import GroupView
from dcgui.core.train.steering import Steering, build_steering

if TYPE_CHECKING:
    from dcgui.store import SessionStore

EXCLUDE = "exclude"  # the one flag that takes an image out of the method


def excluded_indices(store: SessionStore) -> np.ndarray:
    """Image indices flagged exclude (int64, ascending)."""
    return np.array(sorted(i for i, f in store.image_flags().items() if f == EXCLUDE), dtype=np.int64)


def steering_at(store: SessionStore, epoch: int) -> Steering:
    """The exclusions and constraints the clustering of ``epoch`` respects.

    Groups made at epoch ``epoch`` or later (a session rewound with ``--from-epoch``), or on an
    epoch no longer recorded, do not apply."""
    n = store.n_images
    last = store.last_epoch()
    splits, merges = store.cluster_groups()
    groups: list[tuple[int, str, list[np.ndarray]]] = []
    for s in splits:
        if not 0 < s.epoch < epoch or s.epoch > last:
            continue
        members = store.cluster_members(s.epoch, s.cluster)
        labels = np.asarray(s.labels)[members]
        groups.append((s.id, "split", [members[labels == p] for p in range(s.parts)]))
    views: dict[int, GroupView] = {}
    for m in merges:
        if not 0 < m.epoch < epoch or m.epoch > last:
            continue
        view = views.get(m.epoch)
        if view is None:
            view = views[m.epoch] = store.group_view(m.epoch)
        try:
            g = view.find(f"g{m.id}")
        except KeyError:
            continue  # every unit was taken over by a later merge: nothing of it is shown
        groups.append((m.id, "merge", [view.members(g.code)]))
    return build_steering(n, excluded_indices(store), groups)


def steering_provider(store: SessionStore) -> Callable[[int], Steering]:
    """What ``DeepCluster(steering=...)`` calls at every epoch (on the trainer's thread)."""
    return lambda epoch: steering_at(store, epoch)
