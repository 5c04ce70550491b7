"""The kinds of user edit, each planned as row changes against the session's current rows.

``SessionStore.preview_edit(edit)`` plans an edit and says what it would change (an
``EditPreview``: counts, and how many hand-set flags it would change or leave alone) without
writing; ``SessionStore.apply_edit(edit)`` plans it again inside the write transaction, writes it
and logs its inverse (``dcgui.store.editlog``), so the preview and the edit follow one rule and
no caller can change user data without the log.

Flag provenance: every flag is set either by ``HAND`` (the user picked these images) or by a
``BULK`` action (a rule picked them: "keep one per duplicate group", "unflag group"). A bulk
action never changes a hand-set flag unless the user asked for it (``override_hand``); a hand
edit may, and its preview counts how many.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from dcgui.core.analysis.groups import MAX_PARTS, Unit
from dcgui.core.errors import InvalidValue, SessionFileError
from dcgui.store import editlog
from dcgui.store.database import Database, damaged_advice, now
from dcgui.store.editlog import EditRecord, RowChange

if TYPE_CHECKING:  # annotations only: both import this module's constants
    from dcgui.store.epochs import EpochData
    from dcgui.store.images import Images

HAND = "hand"
BULK = "bulk"
SOURCES = (HAND, BULK)
IMAGE_FLAGS = ("keep", "exclude", "duplicate")
CLUSTER_FIELDS = ("name", "tags", "notes")
IMAGE_GROUPS_KEY = "image_groups"  # meta row: {name: [path, ...]}


class Reader(Protocol):
    """What planning may read (inside the transaction that then applies the plan)."""

    def image_paths(self) -> list[str]: ...
    def rows(self, table: str, keys: Iterable[Any] | None = None) -> dict[Any, dict[str, Any]]: ...
    def next_group_id(self) -> int: ...
    def epoch_k(self, epoch: int) -> int: ...


@dataclass(frozen=True)
class EditPreview:
    """What an edit would change. ``rows == 0``: nothing (applying it logs nothing)."""

    kind: str
    summary: str
    rows: int
    images: int = 0  # images the edit addresses
    changed: int = 0  # images whose flag would change
    unchanged: int = 0  # images that already carry the asked flag
    hand_changed: int = 0  # hand-set flags the edit would change
    hand_kept: int = 0  # hand-set flags a bulk action leaves as they are
    transitions: tuple[tuple[str | None, str | None, int], ...] = ()  # (old flag, new flag, images)
    group_id: int | None = None  # the merge or split a MergeClusters / SplitCluster creates

    def describe(self) -> str:
        """Several lines for a confirmation dialog or the command line."""
        if not self.images:
            return self.summary if self.rows else f"{self.summary}: nothing to change"
        lines = [f"{self.summary}: {self.images:,} image{'s' if self.images != 1 else ''}"]
        for old, new, n in self.transitions:
            lines.append(f"  {n:,} × {old or 'no flag'} → {new or 'no flag'}")
        if self.unchanged:
            lines.append(f"  {self.unchanged:,} already as asked")
        if self.hand_changed:
            lines.append(f"  {self.hand_changed:,} of the changes replace a flag you set by hand")
        if self.hand_kept:
            lines.append(f"  {self.hand_kept:,} flag{'s' if self.hand_kept != 1 else ''} you set by hand "
                         "left as they are")
        if not self.changed:
            lines.append("  nothing to change")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "summary": self.summary, "rows": self.rows, "images": self.images,
                "changed": self.changed, "unchanged": self.unchanged, "hand_changed": self.hand_changed,
                "hand_kept": self.hand_kept, "group_id": self.group_id,
                "transitions": [{"from": a, "to": b, "images": n} for a, b, n in self.transitions]}


@dataclass(frozen=True)
class Plan:
    preview: EditPreview
    changes: list[RowChange]


class Edit(Protocol):
    @property
    def kind(self) -> str: ...

    def plan(self, reader: Reader) -> Plan: ...


# ---------------------------------------------------------------------------------------------
# flags
# ---------------------------------------------------------------------------------------------
def flags_text(targets: Mapping[int, str | None]) -> str:
    """What setting ``targets`` (image -> flag, None: unflag) does, in a few words: "flag 1,200
    images “exclude”", "unflag 3 images", "change the flags of 5 images" (the edit log's summary,
    the Undo menu, the preview's title)."""
    flags = set(targets.values())
    n = len(targets)
    what = f"{n:,} image{'s' if n != 1 else ''}"
    if len(flags) == 1:
        (flag,) = flags
        return f"unflag {what}" if flag is None else f"flag {what} “{flag}”"
    return f"change the flags of {what}"


@dataclass(frozen=True)
class SetFlags:
    """Give images new flags: ``targets[i]`` is image i's new flag (None clears it).

    ``source``: ``HAND`` or ``BULK`` (see the module docstring); ``action`` names it in the log
    ("keep one per group (largest file)"); ``override_hand`` lets a bulk action change hand-set
    flags too (the user confirmed it after the preview).
    """

    targets: Mapping[int, str | None]
    source: str = HAND
    action: str = ""
    override_hand: bool = False
    kind: str = "flags"

    @classmethod
    def same(cls, indices: int | Iterable[int], flag: str | None, source: str = HAND, action: str = "",
             override_hand: bool = False) -> SetFlags:
        idx = [int(indices)] if isinstance(indices, int | np.integer) else [int(i) for i in indices]
        return cls({i: flag for i in idx}, source, action, override_hand)

    def _summary(self) -> str:
        return self.action or flags_text(self.targets)

    def plan(self, reader: Reader) -> Plan:
        if self.source not in SOURCES:
            raise InvalidValue(f"flag source {self.source!r} is unknown: use {HAND!r} or {BULK!r}")
        paths = reader.image_paths()
        n = len(paths)
        for i, flag in self.targets.items():
            if not 0 <= int(i) < n:
                raise IndexError(f"image index {i} is out of range (the session has {n} images)")
            if flag is not None and flag not in IMAGE_FLAGS:
                raise InvalidValue(f"image flag {flag!r} is unknown: use one of {', '.join(IMAGE_FLAGS)} or None")
        small = len(self.targets) < 2000
        current = reader.rows("image_flags", [paths[int(i)] for i in self.targets] if small else None)
        changes: list[RowChange] = []
        moves: Counter[tuple[str | None, str | None]] = Counter()
        unchanged = hand_changed = hand_kept = 0
        bulk, hand = self.source == BULK, self.source == HAND
        for i, flag in self.targets.items():
            path = paths[int(i)]
            before = current.get(path)
            old, old_source = (before["flag"], before["source"]) if before else (None, None)
            if old == flag:
                unchanged += 1
                if flag is not None and hand and old_source != HAND:
                    # the user set by hand what a rule had set: from now on it is theirs
                    changes.append(RowChange("image_flags", path, before, {"flag": flag, "source": HAND}))
                continue
            if old_source == HAND:
                if bulk and not self.override_hand:
                    hand_kept += 1
                    continue
                hand_changed += 1
            moves[(old, flag)] += 1
            after = None if flag is None else {"flag": flag, "source": self.source}
            changes.append(RowChange("image_flags", path, before, after))
        order = sorted(moves.items(), key=lambda kv: (-kv[1], str(kv[0][0]), str(kv[0][1])))
        preview = EditPreview(self.kind, self._summary(), len(changes), images=len(self.targets),
                              changed=sum(moves.values()), unchanged=unchanged, hand_changed=hand_changed,
                              hand_kept=hand_kept, transitions=tuple((a, b, n) for (a, b), n in order))
        return Plan(preview, changes)


# ---------------------------------------------------------------------------------------------
# cluster names, tags, notes
# ---------------------------------------------------------------------------------------------
def _clean_value(field_: str, value: Any) -> str | None:
    if field_ == "name":
        return (value or "").strip() or None
    if field_ == "tags":
        clean = [t.strip() for t in (value or []) if t and t.strip()]
        return json.dumps(clean) if clean else None
    return value or None


@dataclass(frozen=True)
class SetClusterField:
    """Name, tags (a list) or notes of matched cluster ``cluster``."""

    cluster: int
    field: str
    value: Any
    kind: str = "cluster"

    def plan(self, reader: Reader) -> Plan:
        if self.field not in CLUSTER_FIELDS:
            raise InvalidValue(f"cluster field {self.field!r} is unknown: use one of {', '.join(CLUSTER_FIELDS)}")
        c = int(self.cluster)
        before = reader.rows("cluster_user", [c]).get(c)
        row: dict[str, Any] = dict(before) if before else dict.fromkeys(CLUSTER_FIELDS)
        row[self.field] = _clean_value(self.field, self.value)
        after = None if all(row[f] is None for f in CLUSTER_FIELDS) else row
        same = (before or None) == after
        value = row[self.field]
        if self.field == "name":
            summary = f"name cluster {c} “{value}”" if value else f"clear the name of cluster {c}"
        elif self.field == "tags":
            summary = f"tag cluster {c}: {', '.join(json.loads(value))}" if value else f"clear the tags of cluster {c}"
        else:
            summary = f"edit the notes of cluster {c}" if value else f"clear the notes of cluster {c}"
        changes = [] if same else [RowChange("cluster_user", c, before, after)]
        return Plan(EditPreview(self.kind, summary, len(changes)), changes)


# ---------------------------------------------------------------------------------------------
# merges and splits
# ---------------------------------------------------------------------------------------------
def _group_row(reader: Reader, gid: int, kind: str | None = None) -> dict[str, Any]:
    row = reader.rows("cluster_groups", [int(gid)]).get(int(gid))
    if row is None or (kind is not None and row["kind"] != kind):
        what = {"merge": "merged group", "split": "split"}.get(kind or "", "group")
        raise KeyError(f"{what} {gid} does not exist in this session (it was undone or dissolved)")
    return row


def _new_group_plan(kind: str, gid: int, summary: str, **columns: Any) -> Plan:
    """The plan that adds cluster group ``gid`` of ``kind`` (a merge or a split): one row of
    ``cluster_groups`` from ``columns``, every other column NULL."""
    row: dict[str, Any] = dict.fromkeys(editlog.TABLES["cluster_groups"].columns)
    row.update(kind=kind, created=now(), **columns)
    return Plan(EditPreview(kind, summary, 1, group_id=gid), [RowChange("cluster_groups", gid, None, row)])


@dataclass(frozen=True)
class MergeClusters:
    """Merge ``units`` (whole clusters and split parts of ``epoch``) into one group ``name``.

    A unit in an older merge moves to this one (the older merge keeps the rest).
    """

    epoch: int
    units: Sequence[Unit]
    name: str | None = None
    labels: Sequence[str] = ()  # the keys the user chose, for the log
    kind: str = "merge"

    def plan(self, reader: Reader) -> Plan:
        units = sorted(set(self.units))
        if len(units) < 2:
            raise InvalidValue("merging needs at least two clusters or parts")
        k = reader.epoch_k(self.epoch)
        for u in units:
            if not 0 <= u.cluster < k:
                raise KeyError(f"cluster {u.cluster} does not exist at epoch {self.epoch} (k={k})")
            if u.split is not None:
                s = _group_row(reader, u.split, "split")
                if s["cluster"] != u.cluster or not 0 <= int(u.part or 0) < int(s["parts"]):
                    raise KeyError(f"split {u.split} has no part {int(u.part or 0) + 1} of cluster {u.cluster}")
        gid = reader.next_group_id()
        name = (self.name or "").strip() or None
        what = ", ".join(self.labels) if self.labels else ", ".join(
            str(u.cluster) if u.split is None else f"{u.cluster}.{int(u.part or 0) + 1}" for u in units)
        summary = f"merge {what} into g{gid}" + (f" “{name}”" if name else "") + f" (epoch {self.epoch})"
        return _new_group_plan(self.kind, gid, summary, epoch=int(self.epoch), name=name,
                               units=json.dumps([u.to_json() for u in units]))


@dataclass(frozen=True)
class SplitCluster:
    """Split matched cluster ``cluster`` of ``epoch`` into parts; ``labels``: every image's part."""

    epoch: int
    cluster: int
    labels: np.ndarray
    names: Sequence[str | None] = ()
    kind: str = "split"
    extra: dict[str, Any] = field(default_factory=dict)

    def plan(self, reader: Reader) -> Plan:
        k = reader.epoch_k(self.epoch)
        if not 0 <= int(self.cluster) < k:
            raise KeyError(f"cluster {self.cluster} does not exist at epoch {self.epoch} (k={k})")
        labels = np.asarray(self.labels)
        n = len(reader.image_paths())
        if labels.shape != (n,):
            raise InvalidValue(f"a split labels every image: got {labels.shape[0] if labels.ndim else 0} labels for {n} images")
        parts = int(labels.max()) + 1 if n else 0
        if not 2 <= parts <= MAX_PARTS or labels.min() < 0:
            raise InvalidValue(f"a split has 2 to {MAX_PARTS} parts numbered from 0; got labels in "
                             f"[{labels.min() if n else 0}, {parts - 1}]")
        names = [(str(x).strip() or None) if x else None for x in self.names] + [None] * parts
        gid = reader.next_group_id()
        summary = f"split cluster {self.cluster} into {parts} parts (epoch {self.epoch})"
        return _new_group_plan(self.kind, gid, summary, epoch=int(self.epoch), cluster=int(self.cluster), parts=parts,
                               labels=zlib.compress(labels.astype("<u2").tobytes(), 6),
                               names=json.dumps(names[:parts]))


@dataclass(frozen=True)
class RenameGroup:
    """Name merged group ``group_id``, or part ``part`` (0-based) of split ``group_id``."""

    group_id: int
    name: str | None
    part: int | None = None
    kind: str = "rename"

    def plan(self, reader: Reader) -> Plan:
        before = _group_row(reader, self.group_id, "merge" if self.part is None else "split")
        after = dict(before)
        name = (self.name or "").strip() or None
        if self.part is None:
            after["name"] = name
            label = f"g{self.group_id}"
        else:
            names = json.loads(before["names"] or "[]")
            if not 0 <= int(self.part) < int(before["parts"]):
                raise KeyError(f"cluster {before['cluster']} has no part {int(self.part) + 1}")
            names += [None] * (int(before["parts"]) - len(names))
            names[int(self.part)] = name
            after["names"] = json.dumps(names)
            label = f"{before['cluster']}.{int(self.part) + 1}"
        summary = f"name {label} “{name}”" if name else f"clear the name of {label}"
        changes = [] if after == before else [RowChange("cluster_groups", int(self.group_id), before, after)]
        return Plan(EditPreview(self.kind, summary, len(changes)), changes)


@dataclass(frozen=True)
class DissolveGroup:
    """Remove a merge (its clusters are shown on their own again) or a split (the cluster whole)."""

    group_id: int
    kind: str = "dissolve"

    def plan(self, reader: Reader) -> Plan:
        before = _group_row(reader, self.group_id)
        if before["kind"] == "merge":
            summary = f"dissolve group g{self.group_id}" + (f" “{before['name']}”" if before["name"] else "")
        else:
            summary = f"undo the split of cluster {before['cluster']} (split {self.group_id})"
        return Plan(EditPreview(self.kind, summary, 1), [RowChange("cluster_groups", int(self.group_id), before, None)])


# ---------------------------------------------------------------------------------------------
# named groups of images (a selection kept under a name)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SetImageGroup:
    """Keep exactly ``indices`` under ``name`` (replacing it); ``None`` deletes the group."""

    name: str
    indices: Sequence[int] | None
    kind: str = "image group"

    def plan(self, reader: Reader) -> Plan:
        clean = " ".join(str(self.name).split())
        if not clean:
            raise InvalidValue("a group needs a name: type one or more characters")
        paths = reader.image_paths()
        before = reader.rows("meta", [IMAGE_GROUPS_KEY]).get(IMAGE_GROUPS_KEY)
        try:
            stored = json.loads(before["value"]) if before else {}
        except ValueError:
            stored = {}
        groups = dict(stored) if isinstance(stored, dict) else {}
        if self.indices is None:
            groups.pop(clean, None)
            summary = f"delete the group “{clean}”"
        else:
            idx = sorted({int(i) for i in self.indices})
            bad = [i for i in idx if not 0 <= i < len(paths)]
            if bad:
                raise IndexError(f"image index {bad[0]} is out of range (the session has {len(paths)} images)")
            groups[clean] = [paths[i] for i in idx]
            summary = f"group “{clean}”: {len(idx)} image{'s' if len(idx) != 1 else ''}"
        after = {"value": json.dumps(groups)}
        changes = [] if before == after else [RowChange("meta", IMAGE_GROUPS_KEY, before, after)]
        return Plan(EditPreview(self.kind, summary, len(changes)), changes)


# ---------------------------------------------------------------------------------------------
# applying: every change of user data goes through Editor.apply, which logs its inverse
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AppliedEdit:
    """What an applied edit changed; ``record``: its log entry (None when it changed nothing)."""

    preview: EditPreview
    record: EditRecord | None
    changes: tuple[RowChange, ...] = ()  # the rows written: a view updates from these alone


class _Reader:
    """``Reader`` over the session's connection (the caller holds its lock)."""

    def __init__(self, database: Database, images: Images, epoch_data: EpochData) -> None:
        self._db = database
        self._images = images
        self._epochs = epoch_data

    def image_paths(self) -> list[str]:
        return self._images.shared_paths()

    def rows(self, table: str, keys: Iterable[Any] | None = None) -> dict[Any, dict[str, Any]]:
        return editlog.read_rows(self._db.conn, table, keys)

    def next_group_id(self) -> int:
        conn = self._db.conn
        seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'cluster_groups'").fetchone()
        top = conn.execute("SELECT MAX(id) FROM cluster_groups").fetchone()[0]
        return max(int(seq[0]) if seq else 0, int(top or 0)) + 1

    def epoch_k(self, epoch: int) -> int:
        return self._epochs.row(epoch)[0]


class Editor:
    """Previews, applies, undoes and redoes edits on one session file (``dcgui.store.editlog``)."""

    def __init__(self, database: Database, images: Images, epoch_data: EpochData) -> None:
        self._db = database
        self._reader = _Reader(database, images, epoch_data)

    def preview(self, edit: Edit) -> EditPreview:
        """What ``edit`` would change now, without writing (also on a read-only store)."""
        with self._db.lock:
            return edit.plan(self._reader).preview

    def apply(self, edit: Edit) -> AppliedEdit:
        """Apply ``edit`` and log it, in one transaction. An edit that changes nothing is not logged."""
        with self._db.write() as db:
            plan = edit.plan(self._reader)
            record = None
            if plan.changes:
                editlog.write_rows(db.conn, plan.changes, forward=True)
                record = editlog.append(db.conn, now(), edit.kind, plan.preview.summary, plan.changes)
        return AppliedEdit(plan.preview, record, tuple(plan.changes))

    def set_image_flag(self, indices: int | Iterable[int], flag: str | None, source: str = HAND,
                       action: str = "") -> AppliedEdit:
        """Flag images ``keep`` / ``exclude`` / ``duplicate``; ``None`` clears the flag. One logged
        edit (``source``: ``HAND`` or ``BULK``)."""
        return self.apply(SetFlags.same(indices, flag, source, action))

    def set_image_group(self, name: str, indices: Iterable[int] | None) -> AppliedEdit:
        """Store group ``name`` with exactly ``indices`` (replacing it); ``None`` deletes it.
        One logged edit."""
        return self.apply(SetImageGroup(name, None if indices is None else list(indices)))

    def set_cluster_field(self, c: int, field_: str, value: Any) -> AppliedEdit:
        """Set a cluster's ``name`` / ``tags`` / ``notes`` (``CLUSTER_FIELDS``); one logged edit."""
        return self.apply(SetClusterField(c, field_, value))

    def undo(self, steps: int = 1) -> list[EditRecord]:
        """Undo the last ``steps`` edits (fewer when the log has fewer); newest first."""
        with self._damaged_edit("undone"), self._db.write() as db:
            return editlog.undo(db.conn, steps)

    def redo(self, steps: int = 1) -> list[EditRecord]:
        """Redo the last ``steps`` undone edits, in the order they were made."""
        with self._damaged_edit("redone"), self._db.write() as db:
            return editlog.redo(db.conn, steps)

    @contextlib.contextmanager
    def _damaged_edit(self, verb: str) -> Iterator[None]:
        """A damaged edit-log row: the store's damage message (the transaction rolled back)."""
        try:
            yield
        except editlog.DamagedEdit as exc:
            advice = damaged_advice(self._db.path)
            raise SessionFileError(f"{exc} in {self._db.path}: nothing was {verb}. The other edits and every "
                                   f"epoch are intact; {advice[0].lower()}{advice[1:]}") from exc

    def log(self) -> list[EditRecord]:
        """Every edit, oldest first; undone ones (the redo stack) are marked ``undone``."""
        with self._db.lock:
            return editlog.history(self._db.conn)

    def next_undo_redo(self) -> tuple[EditRecord | None, EditRecord | None]:
        """(what undo would undo, what redo would redo): for menu texts."""
        with self._db.lock:
            return editlog.peek(self._db.conn)

    def log_token(self) -> tuple[int, ...]:
        """Changes whenever an edit is applied, undone, redone or archived (by any connection):
        a window that saw this token has seen every user edit, and need not re-read 100k flags
        after another connection's commit (a trainer's epoch) that changed none."""
        with self._db.checked():
            row = self._db.conn.execute(
                "SELECT COUNT(*), MAX(id), TOTAL(undone = 1), TOTAL(undone = ?) FROM edits", (editlog.ARCHIVED,)).fetchone()
        return tuple(int(v or 0) for v in row)


# ---------------------------------------------------------------------------------------------
# "not duplicates": a near-duplicate group the person has looked at and dismissed
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DismissDuplicates:
    """Remember that the images ``paths`` (relative) are not duplicates of each other.

    ``key`` identifies the group with its files' sizes and mtimes
    (``dcgui.services.duplicates.group_key``), so the group comes back once one of them changes.
    """

    key: str
    paths: Sequence[str]
    kind: str = "not duplicates"

    def plan(self, reader: Reader) -> Plan:
        if len(self.paths) < 2:
            raise ValueError("a group of near-duplicates has at least two images")
        before = reader.rows("dismissed_duplicates", [self.key]).get(self.key)
        first = self.paths[0]
        summary = f"not duplicates: {first} and {len(self.paths) - 1} other image{'s' if len(self.paths) > 2 else ''}"
        if before is not None:
            return Plan(EditPreview(self.kind, summary, 0), [])
        after = {"paths": json.dumps(list(self.paths)), "created": now()}
        return Plan(EditPreview(self.kind, summary, 1, images=0),
                    [RowChange("dismissed_duplicates", self.key, None, after)])
