"""A session's corrections as the engine's steering (issue 24; METHOD.md "Steering").

``steering_at(store, epoch)`` reads, at the moment the engine is about to cluster ``epoch``, the
images flagged exclude and the merges and splits made at earlier epochs, as a
``dcgui.core.train.steering.Steering``: a merge's images are its members at the epoch it was made
(what the person saw), a split's parts the members of its cluster at that epoch, by part. The
store derives those member sets (``SessionStore.steering``), and shows later epochs' groups
where the sets landed (``SessionStore.group_view``): the training and the window use one fact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dcgui.core.train.steering import Steering

if TYPE_CHECKING:
    from dcgui.store import SessionStore


def steering_at(store: SessionStore, epoch: int) -> Steering:
    """The exclusions and constraints the clustering of ``epoch`` respects.

    Groups made at epoch ``epoch`` or later (a session rewound with ``--from-epoch``), or on an
    epoch no longer recorded, do not apply."""
    return store.steering(epoch)


def steering_provider(store: SessionStore) -> Callable[[int], Steering]:
    """What ``DeepCluster(steering=...)`` calls at every epoch (on the trainer's thread)."""
    return lambda epoch: steering_at(store, epoch)
