"""The session's image list: paths (stored by ``dcgui.store.names``), sizes, labels, the files
skipped by the scan, the user's flags and named groups of images, read by image index."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dcgui.core.errors import DcguiError
from dcgui.core.pathtext import printable
from dcgui.store.database import Database
from dcgui.store.edits import IMAGE_GROUPS_KEY
from dcgui.store.info import SessionInfo
from dcgui.store.names import name_from_db, name_to_db

if TYPE_CHECKING:
    from dcgui.core.images.collection import ImageRecord


class Images:
    """The ``images`` and ``image_flags`` tables. ``last_epoch`` tells whether epochs are recorded
    (their assignments are addressed by image index, so the list may no longer change)."""

    def __init__(self, database: Database, info: SessionInfo, last_epoch: Callable[[], int]) -> None:
        self._db = database
        self._info = info
        self._last_epoch = last_epoch
        self._writes = 0  # our own replace() commits (the image list's cache key)

    def check_list(self, paths: Sequence[str]) -> None:
        """Raise ``DcguiError`` when ``paths`` (usable images, in order) differ from a trained
        session's: its stored assignments address images by index."""
        last = self._last_epoch()
        if last > 0:
            old = self.shared_paths()
            if old != list(paths):
                added = sorted(set(paths) - set(old))
                removed = sorted(set(old) - set(paths))
                example = f", e.g. {printable((added or removed)[0])}" if added or removed else ""
                raise DcguiError(
                    f"the images in {self._info.folder} changed since epoch {last} of {self._db.path.name} was trained "
                    f"({len(added)} added, {len(removed)} removed or now unreadable{example}): restore the "
                    "folder, or start a new session for the changed folder. Nothing was changed: the "
                    "trained epochs can still be explored"
                )

    def replace(
        self,
        records: Sequence[ImageRecord],
        skipped: list[tuple[str, str]],
        label_names: list[str] | None = None,
        sizes: np.ndarray | None = None,
    ) -> None:
        """Replace the image list (usable ``records`` in image-index order + skipped files).

        ``sizes``: optional (N, 2) full-resolution (width, height) per record, e.g. the cache's
        ``original_sizes``.

        User flags of paths that remain are kept. Once epochs are recorded the usable images must
        stay the same (their indices address every stored assignment): a changed folder raises
        ``DcguiError`` instead of silently misattributing clusters.
        """
        paths = [r.relpath for r in records]
        if len(set(paths)) != len(paths):
            raise ValueError("set_images: the image list contains the same path twice")
        self.check_list(paths)
        if sizes is not None and np.shape(sizes) != (len(records), 2):
            raise ValueError(f"set_images: sizes has shape {np.shape(sizes)}, expected ({len(records)}, 2)")
        dims = [(int(w), int(h)) for w, h in sizes] if sizes is not None else [(None, None)] * len(records)
        ok = set(paths)
        rows: list[tuple[Any, ...]] = [
            (i, name_to_db(r.relpath), int(r.size), int(r.mtime_ns), w, h, name_to_db(r.label), "ok", None)
            for i, (r, (w, h)) in enumerate(zip(records, dims))
        ]
        rows += [(None, name_to_db(p), None, None, None, None, None, "skipped", reason)
                 for p, reason in skipped if p not in ok]
        if label_names is not None:
            names = sorted(label_names)
        else:  # the scanner's rule: labels only when every image has one
            names = sorted({r.label for r in records if r.label}) if all(r.label for r in records) else []
        with self._db.write() as db:
            db.execute("DELETE FROM images")
            db.conn.executemany(  # plain executemany: 4x faster than insert_all for 200k rows
                "INSERT INTO images (idx, path, size, mtime_ns, width, height, label, status, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute("DELETE FROM image_flags WHERE path NOT IN (SELECT path FROM images)")
            db["meta"].upsert({"key": "label_names", "value": json.dumps(names)}, pk="key")
        self._writes += 1

    def _version(self) -> tuple[str, int, int]:
        """Changes when another connection commits, or when this one replaces the image list. Not
        on this connection's other commits: every user edit commits, and re-reading 100k paths
        after each click took 0.15 s."""
        return ("images", self._db.data_version(), self._writes)

    def shared_paths(self) -> list[str]:
        """``paths()`` without the copy: the cached list itself, which the caller must not change."""
        def read() -> list[str]:
            rows = self._db.conn.execute("SELECT path FROM images WHERE idx IS NOT NULL ORDER BY idx")
            return [name_from_db(r[0]) for r in rows]

        return self._db.cached("image_paths", read, self._version())

    def paths(self) -> list[str]:
        """Usable images' paths (relative to the folder), in image-index order."""
        return list(self.shared_paths())

    @property
    def count(self) -> int:
        return len(self.shared_paths())

    def count_now(self) -> int:
        """The number of usable images the file holds now: one indexed COUNT, not the re-read of
        100k paths that ``count`` makes after any other connection's commit (a poll that asks
        "was the folder rescanned?" after every edit and epoch)."""
        with self._db.checked():
            return int(self._db.conn.execute("SELECT COUNT(*) FROM images WHERE idx IS NOT NULL").fetchone()[0])

    def files(self, indices: Iterable[int] | None = None) -> list[Path]:
        """The files of images ``indices`` (default: all), all checked; one bad row refuses all."""
        paths = self.shared_paths()
        rows = range(len(paths)) if indices is None else [int(i) for i in indices]
        bad = [i for i in rows if not 0 <= i < len(paths)]
        if bad:
            raise IndexError(f"image index {bad[0]} is out of range (the session has {len(paths)} images)")
        return self._info.path_guard.images([paths[i] for i in rows], rows)

    def skipped(self) -> list[tuple[str, str]]:
        with self._db.checked():
            rows = self._db.conn.execute("SELECT path, reason FROM images WHERE idx IS NULL ORDER BY path").fetchall()
        return [(name_from_db(p), r or "") for p, r in rows]

    def label_names(self) -> list[str]:
        return list(self._info.get_meta("label_names", []))

    def labels(self) -> np.ndarray | None:
        """Ground-truth label index per image (int32, -1 = none), or None without labels."""
        names = self.label_names()
        if not names:
            return None
        lookup = {n: i for i, n in enumerate(names)}
        with self._db.checked():
            rows = self._db.conn.execute("SELECT label FROM images WHERE idx IS NOT NULL ORDER BY idx").fetchall()
        return np.array([lookup.get(name_from_db(r[0]), -1) for r in rows], dtype=np.int32)

    def info(self, i: int) -> dict[str, Any]:
        """Path, size, mtime_ns, width, height, label and flag of image ``i``."""
        with self._db.checked():
            cur = self._db.conn.execute(
                "SELECT i.path, i.size, i.mtime_ns, i.width, i.height, i.label, f.flag, f.source FROM images i "
                "LEFT JOIN image_flags f ON f.path = i.path WHERE i.idx = ?",
                (int(i),),
            )
            row = cur.fetchone()
        if row is None:
            raise IndexError(f"image index {i} is out of range (the session has {self.count} images)")
        keys = ("path", "size", "mtime_ns", "width", "height", "label", "flag", "flag_source")
        info = dict(zip(keys, row))
        info["path"], info["label"] = name_from_db(info["path"]), name_from_db(info["label"])
        return info

    def stats(self) -> dict[str, np.ndarray]:
        """Per image (index order): file ``size`` (bytes), ``mtime_ns``, ``width``, ``height``
        (int64; 0 where unknown): what the "keep one" rules compare."""
        def read() -> dict[str, np.ndarray]:
            rows = self._db.conn.execute(
                "SELECT size, mtime_ns, width, height FROM images WHERE idx IS NOT NULL ORDER BY idx").fetchall()
            cols = list(zip(*rows)) if rows else [(), (), (), ()]
            return {name: np.array([0 if v is None else int(v) for v in col], dtype=np.int64)
                    for name, col in zip(("size", "mtime_ns", "width", "height"), cols)}

        return {k: v.copy() for k, v in self._db.cached("image_stats", read, self._version()).items()}

    def flags(self) -> dict[int, str]:
        """Image index -> flag for every flagged usable image."""
        return {i: f for i, (f, _) in self.flag_sources().items()}

    def flag_sources(self) -> dict[int, tuple[str, str]]:
        """Image index -> (flag, who set it: "hand" or "bulk") for every flagged usable image."""
        with self._db.checked():
            rows = self._db.conn.execute(
                "SELECT i.idx, f.flag, f.source FROM image_flags f JOIN images i ON i.path = f.path "
                "WHERE i.idx IS NOT NULL"
            ).fetchall()
        return {int(i): (str(f), str(s)) for i, f, s in rows}

    # Named groups (a selection the user kept under a name) are stored as {name: [path, ...]} in
    # the meta table, keyed by path like the flags, so a group survives a rescan that shifts image
    # indices; no schema change needed for a small feature.
    def groups(self) -> dict[str, list[int]]:
        """Group name -> image indices (sorted), for every named group; images no longer in the
        session are left out."""
        raw = self._info.get_meta(IMAGE_GROUPS_KEY, {})
        if not isinstance(raw, dict):
            return {}
        index = {p: i for i, p in enumerate(self.shared_paths())}
        return {str(name): sorted({index[p] for p in paths if p in index})
                for name, paths in raw.items() if isinstance(paths, list)}
