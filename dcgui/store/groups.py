"""The user's view of the clusters: their names, tags and notes, the stored merges and splits,
an epoch's clusters with those applied (``dcgui.core.analysis.groups``), and the steering they
give the next clusterings (``dcgui.core.train.steering``).

One fact, one place: what a merge or split *is* for steering (its member set: the images it held
at the epoch it was made) is derived here from that epoch's stored assignments, and both the
training (``steering``) and the display of later epochs (``view``) use it.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import numpy as np

from dcgui.core.analysis.groups import (
    GroupView,
    MemberSet,
    MergeDef,
    SplitDef,
    Unit,
    current_splits,
    resolve_groups,
)
from dcgui.core.train.steering import Steering, build_steering
from dcgui.store.database import Database
from dcgui.store.epochs import EpochData
from dcgui.store.images import Images
from dcgui.store.info import SessionInfo

EXCLUDE = "exclude"  # the one flag that takes an image out of the method (steering)
Members = dict[int, tuple[str, list[np.ndarray]]]  # group id -> (kind, its members per part when made)


class Groups:
    """Reads the ``cluster_user`` and ``cluster_groups`` tables (changed only by edits)."""

    def __init__(self, database: Database, epoch_data: EpochData, images: Images, info: SessionInfo) -> None:
        self._db = database
        self._epochs = epoch_data
        self._images = images
        self._info = info

    def cluster_user_data(self) -> dict[int, dict[str, Any]]:
        """Matched cluster id -> {"name": str | None, "tags": list[str], "notes": str}."""
        with self._db.checked():
            rows = self._db.conn.execute("SELECT cluster, name, tags, notes FROM cluster_user ORDER BY cluster").fetchall()
        return {int(c): {"name": n, "tags": json.loads(t) if t else [], "notes": notes or ""} for c, n, t, notes in rows}

    def dismissed_duplicates(self) -> set[str]:
        """Keys of the near-duplicate groups marked "not duplicates" (``services.duplicates``)."""
        with self._db.checked():
            return {str(r[0]) for r in self._db.conn.execute("SELECT key FROM dismissed_duplicates")}

    def cluster_groups(self) -> tuple[list[SplitDef], list[MergeDef]]:
        """Every stored split and merge, by id."""
        def read() -> tuple[list[SplitDef], list[MergeDef]]:
            rows = self._db.conn.execute(
                "SELECT id, kind, epoch, cluster, labels, units, name, names FROM cluster_groups ORDER BY id").fetchall()
            splits, merges = [], []
            for gid, kind, epoch, cluster, labels, units, name, names in rows:
                if kind == "split":
                    lab = np.frombuffer(zlib.decompress(labels), dtype="<u2").astype(np.int16)
                    lab.setflags(write=False)
                    splits.append(SplitDef(int(gid), int(epoch), int(cluster), lab, tuple(json.loads(names or "[]"))))
                else:
                    us = tuple(Unit.from_json(u) for u in json.loads(units or "[]"))
                    merges.append(MergeDef(int(gid), int(epoch), us, name))
            return splits, merges

        splits, merges = self._db.cached("cluster_groups", read)
        return list(splits), list(merges)

    def view(self, epoch: int) -> GroupView:
        """The clusters of ``epoch`` with the user's merges and splits applied
        (``dcgui.core.analysis.groups``); with steering on, a group made at an earlier epoch is
        shown where its member set landed at ``epoch``."""
        return self._view(epoch, self._members() if self._info.config.steer else None)

    def steering(self, epoch: int) -> Steering:
        """The exclusions and constraints the clustering of ``epoch`` respects (METHOD.md
        "Steering"): images flagged exclude, and one set per merge and per split part made at an
        earlier epoch that is still recorded (groups made at ``epoch`` or later, e.g. on a session
        rewound with ``--from-epoch``, do not apply)."""
        return self._steering(epoch, self._members())

    def _steering(self, epoch: int, members: Members) -> Steering:
        excluded = np.array(sorted(i for i, f in self._images.flags().items() if f == EXCLUDE), dtype=np.int64)
        splits, merges = self.cluster_groups()
        # splitting a cluster again replaces its earlier split, for the training as in the list
        counted = {s.id: s.epoch for s in current_splits(splits, epoch - 1)} | {m.id: m.epoch for m in merges}
        groups = [(gid, kind, parts) for gid, (kind, parts) in members.items() if 0 < counted.get(gid, 0) < epoch]
        return build_steering(self._images.count, excluded, groups)

    def _view(self, epoch: int, members: Members | None) -> GroupView:
        k, _, _ = self._epochs.row(epoch)
        splits, merges = self.cluster_groups()
        names = {c: d["name"] for c, d in self.cluster_user_data().items()}
        sets: list[MemberSet] | None = None
        if members is not None:
            steer = self._steering(epoch, members)
            sets = [(gid, part, s) for (gid, part), s in zip(steer.origins, steer.sets, strict=True)]
        return resolve_groups(epoch, self._epochs.matched(epoch), k, splits, merges, names, sets)

    def _members(self) -> Members:
        """Every recorded group's members at the epoch it was made (what the person saw), by part:
        a split's parts are its cluster's images at that epoch by part; a merge's members are its
        group's images in that epoch's view, which itself follows the groups made before it
        (steering on), so epochs are resolved in order. Cached until the session changes."""
        def compute() -> Members:
            splits, merges = self.cluster_groups()
            last = self._epochs.last()
            out: Members = {}
            for s in splits:
                if 0 < s.epoch <= last:
                    held = self._epochs.cluster_members(s.epoch, s.cluster)
                    labels = np.asarray(s.labels)[held]
                    out[s.id] = ("split", [held[labels == p] for p in range(s.parts)])
            steer = self._info.config.steer
            for epoch in sorted({m.epoch for m in merges if 0 < m.epoch <= last}):
                view = self._view(epoch, out if steer else None)  # only groups made before epoch count
                for m in merges:
                    if m.epoch != epoch:
                        continue
                    try:
                        g = view.find(f"g{m.id}")
                    except KeyError:
                        continue  # every unit was taken over by a later merge: nothing of it is shown
                    out[m.id] = ("merge", [view.members(g.code)])
            return out

        return self._db.cached("group_members", compute)
