"""Naming, tagging and annotating clusters, and the user's groups, as both front ends do it.

Each function turns what the user typed into an edit of ``dcgui.store.edits`` (nothing is written
here): a cluster's name, tags or notes; the name of a merged group or a split part; dissolving a
merge or a split; a named group of images. The caller applies it (``SessionModel.apply_edit`` in
the window), so Ctrl+Z / ``dcgui undo`` take it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from dcgui.store.edits import DissolveGroup, RenameGroup, SetClusterField, SetImageGroup

if TYPE_CHECKING:
    from dcgui.core.analysis.groups import Group
    from dcgui.store.edits import Edit


def rename_cluster_edit(cluster: int, name: str | None) -> SetClusterField:
    """Name matched cluster ``cluster`` (blank clears the name)."""
    return SetClusterField(int(cluster), "name", (name or "").strip() or None)


def tag_cluster_edit(cluster: int, tags: Sequence[str]) -> SetClusterField:
    """Set the tags of ``cluster`` (blank tags are dropped)."""
    return SetClusterField(int(cluster), "tags", [t.strip() for t in tags if t and t.strip()])


def note_cluster_edit(cluster: int, notes: str) -> SetClusterField:
    """Set the notes of ``cluster`` ("" clears them)."""
    return SetClusterField(int(cluster), "notes", notes or "")


def rename_group_edit(group: Group, name: str | None) -> Edit:
    """Name ``group``: a cluster's own name, or that of a merged group or a split part."""
    if group.kind == "cluster":
        return rename_cluster_edit(group.clusters[0], name)
    assert group.group_id is not None
    return RenameGroup(group.group_id, name, group.part)


def dissolve_group_edit(group: Group) -> DissolveGroup | None:
    """Undo a merge (its clusters show on their own) or the split a part belongs to; None for a
    plain cluster, which has nothing to dissolve."""
    return None if group.group_id is None else DissolveGroup(group.group_id)


def image_group_name(name: str) -> str:
    """A group name as stored: runs of white space become one space."""
    return " ".join(str(name).split())


def image_group_edit(name: str, members: Iterable[int] | None) -> SetImageGroup:
    """Keep exactly ``members`` under ``name`` (None deletes the group)."""
    return SetImageGroup(image_group_name(name), None if members is None else sorted({int(i) for i in members}))
