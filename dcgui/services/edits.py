"""The user's edits of a session as the window and the command line make them.

Each function here turns what the user asked ("merge 3, 7 and g2", "split 12 into 3") into an
edit of ``dcgui.store.edits`` (flags: ``dcgui.services.flags``; names, tags, notes:
``dcgui.services.clusters``). Nothing is written
here: callers show ``store.preview_edit(edit)`` when it touches more than one image, then
``store.apply_edit(edit)`` writes it and logs its inverse, so Ctrl+Z / ``dcgui undo`` take it back.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from dcgui.core.analysis.groups import (
    KIND_MERGE,
    KIND_PART,
    GroupView,
    SplitProposal,
    parse_key,
    propose_split,
    units_for_keys,
)
from dcgui.core.control import RunControl
from dcgui.core.errors import DcguiError
from dcgui.core.events import Event, Message
from dcgui.store.edits import MergeClusters, SplitCluster

if TYPE_CHECKING:
    from dcgui.store import SessionStore
    from dcgui.store.editlog import EditRecord


def group_view(store: SessionStore, epoch: int) -> GroupView:
    """The clusters of ``epoch`` with the user's merges and splits; a clear error without one."""
    try:
        return store.group_view(epoch)
    except KeyError as exc:
        raise DcguiError(f"{store.path.name}: {exc.args[0]}") from None


def merge_edit(store: SessionStore, epoch: int, keys: Sequence[str], name: str | None = None,
               view: GroupView | None = None) -> MergeClusters:
    """Merge the clusters / parts / groups ``keys`` of ``epoch`` into one group ``name``
    (``view``: the window's ``group_view`` of ``epoch``, read already)."""
    if view is None or view.epoch != epoch:
        view = group_view(store, epoch)
    try:
        units, found = units_for_keys(view, keys)
    except KeyError as exc:
        raise DcguiError(str(exc.args[0])) from None
    return MergeClusters(epoch, units, name, found)


def split_cluster_id(store: SessionStore, epoch: int, key: str) -> int:
    """The k-means cluster ``key`` names, if it can be split at ``epoch`` (a split cluster can be
    split again: the new split replaces the old one from ``epoch`` on)."""
    view = group_view(store, epoch)
    try:
        kind, c, _ = parse_key(key)
    except KeyError as exc:
        raise DcguiError(str(exc.args[0])) from None
    if kind == KIND_PART:
        raise DcguiError(f"{key} is a part of cluster {c}: split cluster {c} again into more parts instead")
    if kind == KIND_MERGE:
        try:
            g = view.find(key)
        except KeyError as exc:
            raise DcguiError(str(exc.args[0])) from None
        raise DcguiError(f"{g.key} is a merged group: split one of its clusters "
                         f"({', '.join(str(x) for x in g.clusters)}) instead")
    if not 0 <= c < view.k:
        raise DcguiError(f"cluster {c} does not exist at epoch {epoch} (k={view.k})")
    return c


def iter_split_proposal(
    store: SessionStore, epoch: int, cluster: int, parts: int, device: str | None = None,
    control: RunControl | None = None, features: np.ndarray | None = None, seed: int = 0,
) -> Generator[Event, None, SplitProposal]:
    """k-means of cluster ``cluster``'s members at ``epoch`` into ``parts`` parts, on the features
    of that epoch's network (computed once, then cached): a proposal to look at, not an edit."""
    from dcgui.services.explore import iter_session_features

    members = store.cluster_members(epoch, cluster)
    if not 2 <= parts <= len(members):
        raise DcguiError(f"cluster {cluster} has {len(members)} images at epoch {epoch}: it can be split "
                         f"into 2 to {min(len(members), 64)} parts, not {parts}")
    if features is None:
        features = yield from iter_session_features(store, epoch, device, control)
    yield Message(f"splitting cluster {cluster} ({len(members)} images) into {parts} parts")
    try:
        return propose_split(features, store.assignments(epoch), epoch, cluster, parts, seed=seed)
    except ValueError as exc:
        raise DcguiError(str(exc)) from None


def split_edit(proposal: SplitProposal, names: Iterable[str | None] = ()) -> SplitCluster:
    """The edit that accepts ``proposal`` (optionally naming its parts)."""
    return SplitCluster(proposal.epoch, proposal.cluster, proposal.labels, tuple(names))


def undo_or_redo(store: SessionStore, steps: int = 1, redo: bool = False) -> list[EditRecord]:
    """Take back the last ``steps`` edits (``redo``: the last undos), newest first; the records done."""
    if steps < 1:
        raise DcguiError(f"--steps {steps} must be at least 1")
    return store.redo(steps) if redo else store.undo(steps)
