"""The user's view of the clusters: their names, tags and notes, the stored merges and splits,
and an epoch's clusters with those applied (``dcgui.core.analysis.groups``)."""

from __future__ import annotations

import json
import zlib
from typing import Any

import numpy as np

from dcgui.core.analysis.groups import GroupView, MergeDef, SplitDef, Unit, resolve_groups
from dcgui.store.database import Database
from dcgui.store.epochs import EpochData


class Groups:
    """Reads the ``cluster_user`` and ``cluster_groups`` tables (changed only by edits)."""

    def __init__(self, database: Database, epoch_data: EpochData) -> None:
        self._db = database
        self._epochs = epoch_data

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
        """The clusters of ``epoch`` with the user's merges and splits applied (``dcgui.core.analysis.groups``)."""
        k, _, _ = self._epochs.row(epoch)
        splits, merges = self.cluster_groups()
        names = {c: d["name"] for c, d in self.cluster_user_data().items()}
        return resolve_groups(epoch, self._epochs.matched(epoch), k, splits, merges, names)
