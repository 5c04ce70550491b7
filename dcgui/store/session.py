"""The session store: one SQLite file per DeepCluster session.

Design (see docs/ARCHITECTURE.md, "dcgui.store"):

* **Crash safety.** WAL journal, ``synchronous=FULL`` and one ``BEGIN IMMEDIATE`` transaction per
  epoch. WAL alone already survives a killed process at any moment (a commit is one append to the
  ``-wal`` file; a torn append is ignored on recovery). FULL also fsyncs the WAL at each commit, so
  an epoch the trainer reported as saved survives a power cut as well. That costs one fsync per
  commit, and commits are rare here (one per epoch, minutes apart, plus occasional user edits),
  so the stronger guarantee is nearly free. ``busy_timeout`` lets a viewer's write (a cluster
  name) wait for the trainer's epoch commit instead of failing.
* **Readers.** Viewers open the file with a ``mode=ro`` URI: they can never change it, and WAL
  lets them read while a trainer writes. ``data_version()`` (``PRAGMA data_version``) tells them
  cheaply whether another connection committed since they last looked.
* **Compact assignments.** Per (epoch, chunk of ``CHUNK_SIZE`` images) one zlib blob of matched
  ids in the smallest unsigned dtype; per epoch the ``mapping[raw] = matched`` array. Raw ids are
  derived (``raw = inverse[matched]``), never stored twice. "Members of cluster c at epoch e"
  decodes one epoch (N / CHUNK_SIZE blobs, LRU-cached); "history of image i" decodes the start of
  one blob per epoch.
* **Never damage a user's file.** A file is first opened read-only and checked (SQLite magic,
  application id, schema version); a damaged file, another program's database or a file from a
  newer dcgui raises ``SessionFileError`` and is not touched. Older schemas are migrated in one
  transaction when the file is opened writable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import sqlite3
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import sqlite_utils

from dcgui._version import __version__
from dcgui.core.analysis.groups import GroupView, MergeDef, SplitDef, Unit, resolve_groups
from dcgui.core.config import TrainConfig
from dcgui.core.errors import DcguiError, SessionFileError
from dcgui.core.events import EpochFinished, EpochMetrics
from dcgui.core.fsutil import disk_full_error
from dcgui.core.pathtext import printable
from dcgui.core.train.checkpoint import checkpoint_name
from dcgui.store import editlog, schema
from dcgui.store.editlog import EditRecord
from dcgui.store.edits import (
    HAND,
    IMAGE_GROUPS_KEY,
    Edit,
    EditPreview,
    SetClusterField,
    SetFlags,
    SetImageGroup,
)
from dcgui.store.lock import TrainerLock
from dcgui.store.names import name_from_db as _name_from_db
from dcgui.store.names import name_to_db as _name_to_db
from dcgui.store.paths import SessionPaths

if TYPE_CHECKING:
    from dcgui.core.images.collection import ImageRecord

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 10_000
_QUICK_CHECK_LINES = 3  # problems quoted in the error message
_ASSIGN_CACHE = 8  # decoded epochs kept (200k images: 0.8 MB each)
_METRIC_FIELDS = [f.name for f in dataclasses.fields(EpochMetrics)]
_OPTIONAL_METRICS = {"nmi_prev", "nmi_labels", "ari_labels", "ami_prev", "ami_labels"}

T = TypeVar("T")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _torch_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def _untouched(path: Path) -> str:
    return f"the file was left untouched; choose another session file or restore {path.name} from a backup"


def _damaged_advice(path: Path) -> str:
    return (f"Restore {path.name} from a backup, or start a new session on the same folder "
            "(the photos themselves are not affected)")


# SQLite's primary result codes (sqlite3.Error.sqlite_errorcode & 0xFF)
_SQLITE_BUSY, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 5, 8, 10, 11, 13, 26


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in str(exc)


def _sqlite_error(path: Path, exc: sqlite3.DatabaseError, need: int = 0) -> DcguiError | None:
    """The user-facing error for an SQLite failure on ``path``; ``None`` for a programming error."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if _is_damage(exc):
        return SessionFileError(f"{path} is damaged ({exc}); nothing more is written to it. {_damaged_advice(path)}")
    if code == _SQLITE_FULL:
        return disk_full_error(path, need)
    if code == _SQLITE_IOERR:
        return SessionFileError(f"a read or write of {path} failed ({exc}): check that its disk is still "
                                "connected and healthy, then open the session again")
    if code == _SQLITE_BUSY:
        return SessionFileError(f"{path} is busy: another program has been writing it for over "
                                f"{BUSY_TIMEOUT_MS // 1000} s; close that program and try again")
    if code == _SQLITE_READONLY:
        return SessionFileError(f"{path} cannot be written ({exc}): open it read-only, or copy it to a "
                                "writable folder")
    return None


def _encode_ids(ids: np.ndarray, dtype: np.dtype) -> bytes:
    return zlib.compress(np.ascontiguousarray(ids, dtype=dtype).tobytes(), 6)


class SessionStore:
    """A DeepCluster session on disk: config, images, per-epoch metrics and assignments, user data.

    Thread use: an instance may be handed to another thread (calls are serialised by a lock), but
    open one instance per concurrent user (e.g. ``open(path, readonly=True)`` for a viewer).
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self.path = path
        self.readonly = readonly
        self._conn = conn
        self.db = sqlite_utils.Database(conn, execute_plugins=False)
        self._lock = threading.RLock()
        self._damage: str | None = None  # set once damage is seen: nothing more is written
        self._local_writes = 0  # PRAGMA data_version ignores our own commits: count them here
        self._image_writes = 0  # our own set_images commits (the image list's cache key)
        self._cache: dict[str, tuple[tuple[int, int], Any]] = {}
        self._assign_cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._assign_cache_key: tuple[int, int] = (-1, -1)
        self._guard: SessionPaths | None = None
        self._trainer_lock: TrainerLock | None = None
        with self._checked():
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'chunk_size'").fetchone()
        self.chunk_size = int(row[0]) if row else schema.CHUNK_SIZE

    # ---------------------------------------------------------------------------------------
    # opening / creating
    # ---------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike[str], folder: str | os.PathLike[str], config: TrainConfig,
               meta: dict[str, Any] | None = None) -> SessionStore:
        """Create a new session file (and its ``NAME.dcgui.d`` folder); error if the file exists.

        The file is built under a temporary name and renamed, so a crash never leaves a
        half-initialised session behind; ``meta`` entries (``get_meta``) are part of it.
        """
        path = Path(path).absolute()
        folder = Path(folder).absolute()
        if path.exists():
            raise SessionFileError(f"{path} already exists: open it to continue that session, or choose a new file name")
        if not path.parent.is_dir():
            raise SessionFileError(f"cannot create {path}: the folder {path.parent} does not exist")
        tmp = path.with_name(path.name + ".creating")
        for stale in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
            stale.unlink(missing_ok=True)  # our own leftover from a crashed create
        conn = _connect(tmp, readonly=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            db = sqlite_utils.Database(conn, execute_plugins=False)
            with _immediate(conn):
                for migration in schema.MIGRATIONS:
                    migration(db)
                version = len(schema.MIGRATIONS)
                db["session"].insert(
                    {
                        "id": 1,
                        "config": config.to_json(),
                        "folder": _name_to_db(str(folder)),
                        "folder_rel": _name_to_db(_relpath_or_none(folder, path.parent)),
                        "created": _now(),
                        "dcgui_version": __version__,
                        "torch_version": _torch_version(),
                        "python_version": platform.python_version(),
                        "schema_version": version,
                    }
                )
                for key, value in (meta or {}).items():
                    db["meta"].upsert({"key": key, "value": json.dumps(value)}, pk="key")
                conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {version}")
        finally:
            conn.close()  # checkpoints the WAL into the main file and removes -wal/-shm
        if path.exists():  # someone else created it meanwhile: keep theirs
            tmp.unlink(missing_ok=True)
            raise SessionFileError(f"{path} already exists: open it to continue that session, or choose a new file name")
        os.replace(tmp, path)
        store = cls.open(path)
        for d in (store.data_dir, store.cache_dir, store.checkpoint_dir):
            d.mkdir(parents=True, exist_ok=True)
        return store

    @classmethod
    def open(cls, path: str | os.PathLike[str], readonly: bool = False) -> SessionStore:
        """Open a session file; ``readonly`` for viewers (the file is never written through it).

        Raises ``SessionFileError`` for a missing, damaged or foreign file or one written by a
        newer dcgui, without modifying it. An older schema is upgraded in one transaction when
        opened writable.
        """
        path = Path(path).absolute()
        version = _inspect(path)  # read-only checks before any writable connection exists
        current = len(schema.MIGRATIONS)
        if readonly:
            if version < current:
                raise SessionFileError(
                    f"{path} uses an older session format (schema {version} < {current}): open it once "
                    "without read-only (e.g. in the dcgui window) to upgrade it"
                )
            conn = _connect(path, readonly=True)
            return cls(path, conn, readonly=True)
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
            raise SessionFileError(f"{path} (or its folder) is not writable: open it read-only or copy it elsewhere")
        conn = _connect(path, readonly=False)
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            if version < current:
                _migrate(conn, path)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise SessionFileError(f"{path} cannot be opened for writing ({exc}); {_untouched(path)}") from exc
        except BaseException:
            conn.close()
            raise
        return cls(path, conn, readonly=False)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self.release_trainer()

    def claim_trainer(self, command: str | None = None) -> None:
        """Become the session's only trainer until ``close()`` / ``release_trainer()``.

        Raises ``SessionBusyError`` at once, naming the other process, when another trainer holds
        it. Readers never call this. ``command`` describes this process in the refusal others see.
        """
        if self.readonly:
            raise SessionFileError(f"{self.path} was opened read-only: open it writable to train it")
        with self._lock:
            if self._trainer_lock is None:
                lock = TrainerLock(self.path, command)
                lock.acquire()
                self._trainer_lock = lock

    def release_trainer(self) -> None:
        with self._lock:
            lock, self._trainer_lock = self._trainer_lock, None
        if lock is not None:
            lock.release()

    @property
    def is_trainer(self) -> bool:
        return self._trainer_lock is not None

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SessionStore({str(self.path)!r}{', readonly' if self.readonly else ''})"

    # ---------------------------------------------------------------------------------------
    # internals
    # ---------------------------------------------------------------------------------------
    @contextmanager
    def _checked(self, need: int = 0) -> Iterator[None]:
        """Serialise use of the connection and turn SQLite's errors into ones that say what to do.

        ``need``: bytes the write about to happen adds (for the disk-full message)."""
        with self._lock:
            try:
                yield
            except sqlite3.DatabaseError as exc:
                err = _sqlite_error(self.path, exc, need)
                if err is None:
                    raise
                if _is_damage(exc):
                    self._damage = str(exc)
                raise err from exc

    @contextmanager
    def _write(self, need: int = 64 << 10) -> Iterator[sqlite_utils.Database]:
        """One write transaction. IMMEDIATE takes the write lock up front, so a concurrent writer
        waits (busy_timeout) instead of failing half-way when upgrading a read lock."""
        if self.readonly:
            raise SessionFileError(f"{self.path} was opened read-only: open it writable to change it")
        if self._damage is not None:
            raise SessionFileError(
                f"{self.path} is damaged ({self._damage}); nothing more is written to it. {_damaged_advice(self.path)}"
            )
        with self._checked(need), _immediate(self._conn):
            yield self.db
            self._local_writes += 1

    def _version_key(self) -> tuple[int, int]:
        return (self.data_version(), self._local_writes)

    def _cached(self, name: str, compute: Callable[[], T], key: Any = None) -> T:
        """Memoise a whole-table read until this or another connection commits (or, with
        ``key``, until that value changes)."""
        with self._checked():
            key = self._version_key() if key is None else key
            hit = self._cache.get(name)
            if hit is not None and hit[0] == key:
                return hit[1]  # type: ignore[no-any-return]
            value = compute()
            self._cache[name] = (key, value)
            return value

    def _scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        with self._checked():
            row = self._conn.execute(sql, tuple(params)).fetchone()
        return None if row is None else row[0]

    def _session_row(self) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            rows = list(self.db.query("SELECT * FROM session WHERE id = 1"))
            if not rows:
                raise SessionFileError(f"{self.path} has no session record; {_untouched(self.path)}")
            return rows[0]

        return self._cached("session", read)

    # ---------------------------------------------------------------------------------------
    # session
    # ---------------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".d")

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def checkpoint_dir(self) -> Path:
        return self.data_dir / "checkpoints"

    @property
    def derived_cache_dir(self) -> Path:
        """Where caches computed from the session (features, maps) go: its own cache folder, or,
        when that cannot be written (a session on read-only media or a write-protected copy), a
        folder for this session in the user's cache directory."""
        if _writable(self.cache_dir):
            return self.cache_dir
        import hashlib

        import platformdirs

        key = hashlib.sha1(f"{self.path}\n{self.created}".encode("utf-8", "surrogatepass")).hexdigest()[:16]
        name = printable(self.path.stem).replace("\\", "_")
        return Path(platformdirs.user_cache_dir("dcgui")) / "sessions" / f"{name}-{key}"

    @property
    def folder(self) -> Path:
        """The image folder: the stored absolute path, or, when the session file was moved
        together with its photos, the stored path relative to the session file."""
        row = self._session_row()
        absolute = Path(_name_from_db(row["folder"]))
        if absolute.is_dir():
            return absolute
        if row.get("folder_rel"):
            moved = (self.path.parent / _name_from_db(row["folder_rel"])).resolve()
            if moved.is_dir():
                return moved
        return absolute

    @property
    def path_guard(self) -> SessionPaths:
        """Turns this session's rows into file paths inside its folders (``dcgui.store.paths``)."""
        folder = self.folder
        with self._lock:
            guard = self._guard
            if guard is None or guard.folder != folder:
                guard = self._guard = SessionPaths(folder, self.path)
            return guard

    def image_files(self, indices: Iterable[int] | None = None) -> list[Path]:
        """The files of images ``indices`` (default: all), all checked; one bad row refuses all."""
        paths = self._paths()
        rows = range(len(paths)) if indices is None else [int(i) for i in indices]
        bad = [i for i in rows if not 0 <= i < len(paths)]
        if bad:
            raise IndexError(f"image index {bad[0]} is out of range (the session has {len(paths)} images)")
        return self.path_guard.images([paths[i] for i in rows], rows)

    def set_folder(self, folder: str | os.PathLike[str]) -> None:
        """Point the session at its images' new location (after the user moved them)."""
        folder = Path(folder).absolute()
        with self._write() as db:
            db["session"].update(1, {"folder": _name_to_db(str(folder)),
                                     "folder_rel": _name_to_db(_relpath_or_none(folder, self.path.parent))})

    @property
    def config(self) -> TrainConfig:
        text = self._session_row()["config"]
        try:
            return TrainConfig.from_json(text)
        except (ValueError, TypeError) as exc:
            raise SessionFileError(f"{self.path}: the stored configuration is not usable ({exc})") from exc

    def set_config(self, cfg: TrainConfig) -> None:
        with self._write() as db:
            db["session"].update(1, {"config": cfg.to_json()})

    @property
    def created(self) -> str:
        return str(self._session_row()["created"])

    @property
    def versions(self) -> dict[str, Any]:
        """Versions that created the file, plus the live schema version."""
        row = self._session_row()
        return {
            "dcgui": row["dcgui_version"],
            "torch": row["torch_version"],
            "python": row["python_version"],
            "schema": int(self._scalar("PRAGMA user_version")),
        }

    def get_meta(self, key: str, default: Any = None) -> Any:
        value = self._scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return default if value is None else json.loads(value)

    def set_meta(self, key: str, value: Any) -> None:
        with self._write() as db:
            db["meta"].upsert({"key": key, "value": json.dumps(value)}, pk="key")

    def data_version(self) -> int:
        """Changes whenever *another* connection commits (cheap: no disk access)."""
        with self._checked():
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def integrity_check(self) -> str:
        """``"ok"`` or SQLite's description of the damage (reads the whole file)."""
        with self._checked():
            return "; ".join(str(r[0]) for r in self._conn.execute("PRAGMA integrity_check").fetchall())

    # ---------------------------------------------------------------------------------------
    # images
    # ---------------------------------------------------------------------------------------
    def set_images(
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
        last = self.last_epoch()
        if last > 0:
            old = self._paths()
            if old != paths:
                added = sorted(set(paths) - set(old))
                removed = sorted(set(old) - set(paths))
                example = f", e.g. {(added or removed)[0]}" if added or removed else ""
                raise DcguiError(
                    f"the images in {self.folder} changed since epoch {last} of {self.path.name} was trained "
                    f"({len(added)} added, {len(removed)} removed or now unreadable{example}): restore the "
                    "folder, or start a new session for the changed folder"
                )
        if sizes is not None and np.shape(sizes) != (len(records), 2):
            raise ValueError(f"set_images: sizes has shape {np.shape(sizes)}, expected ({len(records)}, 2)")
        dims = [(int(w), int(h)) for w, h in sizes] if sizes is not None else [(None, None)] * len(records)
        ok = set(paths)
        rows: list[tuple[Any, ...]] = [
            (i, _name_to_db(r.relpath), int(r.size), int(r.mtime_ns), w, h, _name_to_db(r.label), "ok", None)
            for i, (r, (w, h)) in enumerate(zip(records, dims))
        ]
        rows += [(None, _name_to_db(p), None, None, None, None, None, "skipped", reason)
                 for p, reason in skipped if p not in ok]
        if label_names is not None:
            names = sorted(label_names)
        else:  # the scanner's rule: labels only when every image has one
            names = sorted({r.label for r in records if r.label}) if all(r.label for r in records) else []
        with self._write() as db:
            db.execute("DELETE FROM images")
            db.conn.executemany(  # plain executemany: 4x faster than insert_all for 200k rows
                "INSERT INTO images (idx, path, size, mtime_ns, width, height, label, status, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute("DELETE FROM image_flags WHERE path NOT IN (SELECT path FROM images)")
            db["meta"].upsert({"key": "label_names", "value": json.dumps(names)}, pk="key")
        self._image_writes += 1

    @property
    def n_images(self) -> int:
        return len(self._paths())

    def _paths(self) -> list[str]:
        def read() -> list[str]:
            rows = self._conn.execute("SELECT path FROM images WHERE idx IS NOT NULL ORDER BY idx")
            return [_name_from_db(r[0]) for r in rows]

        return self._cached("image_paths", read, self._images_version())  # shared: callers get a copy

    def _images_version(self) -> tuple[str, int, int]:
        """Changes when another connection commits, or when this one replaces the image list. Not
        on this connection's other commits: every user edit commits, and re-reading 100k paths
        after each click took 0.15 s."""
        return ("images", self.data_version(), self._image_writes)

    def image_paths(self) -> list[str]:
        """Usable images' paths (relative to the folder), in image-index order."""
        return list(self._paths())

    def skipped(self) -> list[tuple[str, str]]:
        with self._checked():
            rows = self._conn.execute("SELECT path, reason FROM images WHERE idx IS NULL ORDER BY path").fetchall()
        return [(_name_from_db(p), r or "") for p, r in rows]

    def label_names(self) -> list[str]:
        return list(self.get_meta("label_names", []))

    def labels(self) -> np.ndarray | None:
        """Ground-truth label index per image (int32, -1 = none), or None without labels."""
        names = self.label_names()
        if not names:
            return None
        lookup = {n: i for i, n in enumerate(names)}
        with self._checked():
            rows = self._conn.execute("SELECT label FROM images WHERE idx IS NOT NULL ORDER BY idx").fetchall()
        return np.array([lookup.get(_name_from_db(r[0]), -1) for r in rows], dtype=np.int32)

    def image_info(self, i: int) -> dict[str, Any]:
        """Path, size, mtime_ns, width, height, label and flag of image ``i``."""
        with self._checked():
            cur = self._conn.execute(
                "SELECT i.path, i.size, i.mtime_ns, i.width, i.height, i.label, f.flag, f.source FROM images i "
                "LEFT JOIN image_flags f ON f.path = i.path WHERE i.idx = ?",
                (int(i),),
            )
            row = cur.fetchone()
        if row is None:
            raise IndexError(f"image index {i} is out of range (the session has {self.n_images} images)")
        keys = ("path", "size", "mtime_ns", "width", "height", "label", "flag", "flag_source")
        info = dict(zip(keys, row))
        info["path"], info["label"] = _name_from_db(info["path"]), _name_from_db(info["label"])
        return info

    def image_stats(self) -> dict[str, np.ndarray]:
        """Per image (index order): file ``size`` (bytes), ``mtime_ns``, ``width``, ``height``
        (int64; 0 where unknown): what the "keep one" rules compare."""
        def read() -> dict[str, np.ndarray]:
            rows = self._conn.execute(
                "SELECT size, mtime_ns, width, height FROM images WHERE idx IS NOT NULL ORDER BY idx").fetchall()
            cols = list(zip(*rows)) if rows else [(), (), (), ()]
            return {name: np.array([0 if v is None else int(v) for v in col], dtype=np.int64)
                    for name, col in zip(("size", "mtime_ns", "width", "height"), cols)}

        return {k: v.copy() for k, v in self._cached("image_stats", read, self._images_version()).items()}

    def set_image_flag(self, indices: int | Iterable[int], flag: str | None, source: str = HAND,
                       action: str = "") -> AppliedEdit:
        """Flag images ``keep`` / ``exclude`` / ``duplicate``; ``None`` clears the flag. One logged
        edit (``source``: ``"hand"`` or ``"bulk"``, see ``dcgui.store.edits``)."""
        return self.apply_edit(SetFlags.same(indices, flag, source, action))

    def image_flags(self) -> dict[int, str]:
        """Image index -> flag for every flagged usable image."""
        return {i: f for i, (f, _) in self.image_flag_sources().items()}

    def image_flag_sources(self) -> dict[int, tuple[str, str]]:
        """Image index -> (flag, who set it: "hand" or "bulk") for every flagged usable image."""
        with self._checked():
            rows = self._conn.execute(
                "SELECT i.idx, f.flag, f.source FROM image_flags f JOIN images i ON i.path = f.path "
                "WHERE i.idx IS NOT NULL"
            ).fetchall()
        return {int(i): (str(f), str(s)) for i, f, s in rows}

    # ---------------------------------------------------------------------------------------
    # edits: every change of user data goes through apply_edit, which logs its inverse
    # ---------------------------------------------------------------------------------------
    def preview_edit(self, edit: Edit) -> EditPreview:
        """What ``edit`` would change now, without writing (also on a read-only store)."""
        with self._lock:
            return edit.plan(_Reader(self)).preview

    def apply_edit(self, edit: Edit) -> AppliedEdit:
        """Apply ``edit`` and log it, in one transaction. An edit that changes nothing is not logged."""
        with self._write() as db:
            plan = edit.plan(_Reader(self))
            record = None
            if plan.changes:
                editlog.write_rows(db.conn, plan.changes, forward=True)
                record = editlog.append(db.conn, _now(), edit.kind, plan.preview.summary, plan.changes)
        return AppliedEdit(plan.preview, record)

    def undo(self, steps: int = 1) -> list[EditRecord]:
        """Undo the last ``steps`` edits (fewer when the log has fewer); newest first."""
        with self._write() as db:
            return editlog.undo(db.conn, steps)

    def redo(self, steps: int = 1) -> list[EditRecord]:
        """Redo the last ``steps`` undone edits, in the order they were made."""
        with self._write() as db:
            return editlog.redo(db.conn, steps)

    def edit_log(self) -> list[EditRecord]:
        """Every edit, oldest first; undone ones (the redo stack) are marked ``undone``."""
        with self._lock:
            return editlog.history(self._conn)

    def next_undo_redo(self) -> tuple[EditRecord | None, EditRecord | None]:
        """(what undo would undo, what redo would redo): for menu texts."""
        with self._lock:
            return editlog.peek(self._conn)

    # ---------------------------------------------------------------------------------------
    # merged and split clusters
    # ---------------------------------------------------------------------------------------
    def cluster_groups(self) -> tuple[list[SplitDef], list[MergeDef]]:
        """Every stored split and merge, by id."""
        def read() -> tuple[list[SplitDef], list[MergeDef]]:
            rows = self._conn.execute(
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

        splits, merges = self._cached("cluster_groups", read)
        return list(splits), list(merges)

    def group_view(self, epoch: int) -> GroupView:
        """The clusters of ``epoch`` with the user's merges and splits applied (``dcgui.core.analysis.groups``)."""
        k, _, _ = self._epoch_row(epoch)
        splits, merges = self.cluster_groups()
        names = {c: d["name"] for c, d in self.cluster_user_data().items()}
        return resolve_groups(epoch, self._matched(epoch), k, splits, merges, names)

    # ---------------------------------------------------------------------------------------
    # epochs and assignments
    # ---------------------------------------------------------------------------------------
    def record_epoch(self, ev: EpochFinished) -> None:
        """Store a finished epoch: metrics, assignments, clusters and its checkpoint, atomically.

        Re-recording an epoch replaces it (a resumed run that redid an epoch whose commit was
        lost). ``assign_matched`` must equal ``mapping[assign_raw]``.
        """
        m = ev.metrics
        epoch = int(m.epoch)
        if epoch < 1:
            raise ValueError(f"record_epoch: epoch {epoch} is invalid (epochs start at 1; 0 is only a checkpoint)")
        k = int(m.k)
        matched = np.asarray(ev.assign_matched)
        mapping = np.asarray(ev.mapping).astype(np.int64)
        raw = np.asarray(ev.assign_raw)
        n = self.n_images
        if matched.ndim != 1 or (n and matched.shape[0] != n):
            raise ValueError(f"record_epoch: epoch {epoch} has {matched.shape[0]} assignments but the session has {n} images")
        if mapping.shape != (k,) or not np.array_equal(np.sort(mapping), np.arange(k)):
            raise ValueError(f"record_epoch: the mapping of epoch {epoch} is not a permutation of range(k={k})")
        if matched.size and (matched.min() < 0 or matched.max() >= k):
            raise ValueError(f"record_epoch: epoch {epoch} has cluster ids outside [0, {k})")
        if raw.shape != matched.shape or not np.array_equal(mapping[raw], matched):
            raise ValueError(f"record_epoch: epoch {epoch}: assign_matched is not mapping[assign_raw]")
        dtype = np.dtype("<u2") if k <= 0xFFFF else np.dtype("<u4")
        sizes = np.bincount(matched, minlength=k)
        inverse = np.empty(k, dtype=np.int64)
        inverse[mapping] = np.arange(k)
        cs = self.chunk_size
        chunks = [(epoch, c, _encode_ids(matched[c * cs:(c + 1) * cs], dtype)) for c in range(-(-matched.size // cs))]
        row: dict[str, Any] = {f: getattr(m, f) for f in _METRIC_FIELDS}
        for f, v in row.items():  # SQLite turns NaN into NULL: keep the distinction explicit
            if isinstance(v, float) and math.isnan(v) and f not in _OPTIONAL_METRICS:
                row[f] = None
        row.update(n_images=int(matched.size), finished=_now())
        mapping_blob = _encode_ids(mapping, np.dtype("<i4"))
        mapping_row = {"epoch": epoch, "mapping": mapping_blob, "dtype": dtype.str}
        payload = sum(len(c[2]) for c in chunks) + len(mapping_blob) + 24 * k
        with self._write(need=2 * payload + (64 << 10)) as db:  # pages in the WAL, then in the file
            conn = db.conn
            conn.execute("DELETE FROM assignments WHERE epoch = ?", (epoch,))
            conn.execute("DELETE FROM clusters WHERE epoch = ?", (epoch,))
            db["epochs"].upsert(row, pk="epoch")
            db["epoch_mappings"].upsert(mapping_row, pk="epoch")
            conn.executemany("INSERT INTO assignments (epoch, chunk, data) VALUES (?, ?, ?)", chunks)
            conn.executemany(
                "INSERT INTO clusters (epoch, cluster, raw, size) VALUES (?, ?, ?, ?)",
                zip([epoch] * k, range(k), inverse.tolist(), sizes.tolist()),
            )
            if ev.checkpoint_path:
                self._insert_checkpoint(epoch, Path(ev.checkpoint_path), ev.checkpoint_sha256)
        self._assign_cache.pop(epoch, None)

    def truncate_epochs(self, after: int) -> None:
        """Forget epochs > ``after`` (rows only; checkpoint files are left on disk)."""
        with self._write() as db:
            for table in ("assignments", "clusters", "epoch_mappings", "epochs", "checkpoints"):
                db.execute(f"DELETE FROM {table} WHERE epoch > ?", (int(after),))
        self._assign_cache.clear()

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    def archive_epochs_after(self, epoch: int) -> Path:
        """Set the later epochs aside so training can continue from ``epoch``; return the archive.

        The archive is a complete copy of this session as it was (a session file of its own under
        ``NAME.dcgui.d/archive/``: ``dcgui info`` / ``clusters`` / the window open it read-only),
        holding the checkpoints of the later epochs. Then epochs > ``epoch`` are removed here.
        Order for a crash at any point: copy, then forget here, then move the checkpoint files
        (files left behind are overwritten by the retraining).
        """
        epoch = int(epoch)
        last = self.last_epoch()
        if not 0 <= epoch < last:
            raise DcguiError(f"{self.path.name} has epochs 1-{last}: choose an epoch from 0 to {last - 1} "
                             "to continue from" if last else f"{self.path.name} has no trained epoch to set aside")
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S")
        target = self.archive_dir / f"{self.path.stem}-epochs-{epoch + 1}-{last}-{stamp}.dcgui"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".creating")
        for stale in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
            stale.unlink(missing_ok=True)
        dest = sqlite3.connect(str(tmp))
        try:
            with self._checked(need=self.path.stat().st_size):
                self._conn.backup(dest)
        finally:
            dest.close()
        os.replace(tmp, target)
        later = [(e, p) for e, p, _ in self.checkpoints() if e > epoch]
        earlier = [(e, p) for e, p, _ in self.checkpoints() if e <= epoch]
        self.truncate_epochs(epoch)
        archived_ckpts = target.with_name(target.name + ".d") / "checkpoints"
        archived_ckpts.mkdir(parents=True, exist_ok=True)
        for e, p in later + earlier:
            if _relpath_or_none(p, self.checkpoint_dir, inside_only=True) is None or not p.is_file():
                continue  # never move a file that is not ours
            with contextlib.suppress(OSError):
                if e > epoch:
                    os.replace(p, archived_ckpts / p.name)
                else:  # the shared history: a hard link costs no space (skipped where unsupported)
                    os.link(p, archived_ckpts / p.name)
        return target

    def epochs(self) -> list[EpochMetrics]:
        cols = ", ".join(_METRIC_FIELDS)
        with self._checked():
            rows = self._conn.execute(f"SELECT {cols} FROM epochs ORDER BY epoch").fetchall()
        out = []
        for r in rows:
            values = dict(zip(_METRIC_FIELDS, r))
            for f, v in values.items():
                if v is None and f not in _OPTIONAL_METRICS:
                    values[f] = math.nan  # a NaN loss (diverged run) was stored as NULL
            out.append(EpochMetrics(**values))
        return out

    def set_epoch_ami(self, values: dict[int, tuple[float | None, float | None]]) -> None:
        """Store ``{epoch: (ami_prev, ami_labels)}`` computed after the epoch was recorded (an
        epoch trained before AMI existed); one transaction."""
        with self._write() as db:
            db.conn.executemany("UPDATE epochs SET ami_prev = ?, ami_labels = ? WHERE epoch = ?",
                                [(p, lab, int(e)) for e, (p, lab) in values.items()])

    def last_epoch(self) -> int:
        """The last fully recorded epoch (0: none)."""
        return int(self._scalar("SELECT COALESCE(MAX(epoch), 0) FROM epochs"))

    def _epoch_row(self, epoch: int) -> tuple[int, np.ndarray, np.dtype]:
        with self._checked():
            row = self._conn.execute(
                "SELECT e.k, m.mapping, m.dtype FROM epochs e JOIN epoch_mappings m ON m.epoch = e.epoch "
                "WHERE e.epoch = ?", (int(epoch),)
            ).fetchone()
        if row is None:
            raise KeyError(f"epoch {epoch} is not recorded in {self.path.name} (last epoch: {self.last_epoch()})")
        k, blob, dtype = row
        try:
            mapping = np.frombuffer(zlib.decompress(blob), dtype="<i4")
            dt = np.dtype(dtype)
        except (zlib.error, ValueError, TypeError) as exc:
            raise self._bad_epoch(epoch, "cluster mapping", exc) from exc
        if mapping.shape != (int(k),) or not np.array_equal(np.sort(mapping), np.arange(int(k))):
            raise self._bad_epoch(epoch, "cluster mapping", f"not a permutation of {k} clusters")
        return int(k), mapping, dt

    def _bad_epoch(self, epoch: int, what: str, detail: object) -> SessionFileError:
        """A stored blob of ``epoch`` that does not decode (its page is fine, its content is not)."""
        earlier = f"epoch {epoch - 1} or earlier" if epoch > 1 else "a new session"
        return SessionFileError(
            f"the {what} of epoch {epoch} in {self.path} is damaged ({detail}): look at another epoch, "
            f"or continue training from {earlier} (`dcgui train ... --from-epoch {max(epoch - 1, 0)}` "
            "retrains this epoch and keeps the later ones' records in an archive)"
        )

    def _matched(self, epoch: int) -> np.ndarray:
        """Decoded matched ids of ``epoch`` (shared, read-only; LRU-cached)."""
        with self._checked():
            key = self._version_key()
            if key != self._assign_cache_key:  # another connection may have re-recorded an epoch
                self._assign_cache.clear()
                self._assign_cache_key = key
            hit = self._assign_cache.get(epoch)
            if hit is not None:
                self._assign_cache.move_to_end(epoch)
                return hit
            k, _, dtype = self._epoch_row(epoch)
            blobs = self._conn.execute(
                "SELECT chunk, data FROM assignments WHERE epoch = ? ORDER BY chunk", (int(epoch),)
            ).fetchall()
            try:
                if [c for c, _ in blobs] != list(range(len(blobs))):
                    raise ValueError("chunks are missing")
                arr = np.frombuffer(b"".join(zlib.decompress(b) for _, b in blobs), dtype=dtype).astype(np.int32)
            except (zlib.error, ValueError, TypeError) as exc:
                raise self._bad_epoch(epoch, "assignments", exc) from exc
            n = self.n_images
            if arr.shape != (n,) or (n and (arr.min() < 0 or arr.max() >= k)):
                raise self._bad_epoch(epoch, "assignments", f"{arr.size} ids for {n} images, or ids outside [0, {k})")
            arr.setflags(write=False)
            self._assign_cache[epoch] = arr
            while len(self._assign_cache) > _ASSIGN_CACHE:
                self._assign_cache.popitem(last=False)
            return arr

    def assignments(self, epoch: int, matched: bool = True) -> np.ndarray:
        """Cluster id per image at ``epoch`` (int32): matched (display) ids, or k-means' raw ids."""
        ids = self._matched(epoch)
        if matched:
            return ids.copy()
        k, mapping, _ = self._epoch_row(epoch)
        inverse = np.empty(k, dtype=np.int32)
        inverse[mapping] = np.arange(k, dtype=np.int32)
        return inverse[ids]

    def cluster_members(self, epoch: int, cluster: int) -> np.ndarray:
        """Image indices in matched cluster ``cluster`` at ``epoch`` (int64, ascending)."""
        return np.flatnonzero(self._matched(epoch) == int(cluster)).astype(np.int64)

    def image_history(self, i: int) -> np.ndarray:
        """Matched cluster id of image ``i`` at epochs 1..last (int32; -1 where an epoch is missing)."""
        n = self.n_images
        if not 0 <= i < n:
            raise IndexError(f"image index {i} is out of range (the session has {n} images)")
        cs = self.chunk_size
        chunk, offset = divmod(int(i), cs)
        dtypes = self._cached("dtypes", lambda: {
            int(e): np.dtype(d) for e, d in self._conn.execute("SELECT epoch, dtype FROM epoch_mappings")
        })
        with self._checked():
            rows = self._conn.execute(
                "SELECT epoch, data FROM assignments WHERE chunk = ? ORDER BY epoch", (chunk,)
            ).fetchall()
        last = rows[-1][0] if rows else 0
        out = np.full(last, -1, dtype=np.int32)
        for epoch, blob in rows:
            dt = dtypes.get(epoch)
            if dt is None:
                continue  # an epoch being re-recorded right now, or one whose mapping is gone
            need = (offset + 1) * dt.itemsize
            # Only inflate up to image i: on average half a chunk per epoch.
            try:
                head = zlib.decompressobj().decompress(blob, need)
                out[epoch - 1] = np.frombuffer(head[need - dt.itemsize:need], dtype=dt)[0]
            except (zlib.error, ValueError, TypeError, IndexError) as exc:
                raise self._bad_epoch(epoch, "assignments", exc) from exc
        return out

    def cluster_sizes(self, epoch: int) -> np.ndarray:
        """Images per matched cluster id at ``epoch`` (int64, length k)."""
        k, _, _ = self._epoch_row(epoch)
        sizes = np.zeros(k, dtype=np.int64)
        with self._checked():
            rows = self._conn.execute("SELECT cluster, size FROM clusters WHERE epoch = ?", (int(epoch),)).fetchall()
        if rows:
            ids, vals = zip(*rows)
            sizes[list(ids)] = vals
        return sizes

    # ---------------------------------------------------------------------------------------
    # checkpoints
    # ---------------------------------------------------------------------------------------
    def _insert_checkpoint(self, epoch: int, path: Path, sha256: str) -> None:
        path = Path(path)
        if not path.is_absolute():
            path = self.data_dir / path
        stored = _relpath_or_none(path, self.data_dir, inside_only=True) or str(path)
        self.db["checkpoints"].upsert({"epoch": int(epoch), "file": stored, "sha256": sha256 or None}, pk="epoch")

    def record_checkpoint(self, epoch: int, path: str | os.PathLike[str], sha256: str) -> None:
        with self._write():
            self._insert_checkpoint(epoch, Path(path), sha256)

    def checkpoints(self) -> list[tuple[int, Path, str]]:
        """(epoch, absolute path, sha256) of every recorded checkpoint, by epoch."""
        with self._checked():
            rows = self._conn.execute("SELECT epoch, file, sha256 FROM checkpoints ORDER BY epoch").fetchall()
        return [(int(e), self.path_guard.checkpoint(f, int(e)), s or "") for e, f, s in rows]

    def checkpoint_sha256(self, epoch: int) -> str:
        """The sha256 recorded for the checkpoint of ``epoch`` ("" when none was recorded)."""
        return str(self._scalar("SELECT sha256 FROM checkpoints WHERE epoch = ?", (int(epoch),)) or "")

    def checkpoint_path(self, epoch: int) -> Path:
        """The recorded checkpoint of ``epoch``, else where the engine writes it; a recorded file
        outside the data folder raises ``UnsafeSessionPath``."""
        f = self._scalar("SELECT file FROM checkpoints WHERE epoch = ?", (int(epoch),))
        return self.path_guard.checkpoint(f, int(epoch)) if f else self.checkpoint_dir / checkpoint_name(epoch)

    # ---------------------------------------------------------------------------------------
    # user data
    # ---------------------------------------------------------------------------------------
    def set_cluster_name(self, c: int, name: str | None) -> AppliedEdit:
        return self.apply_edit(SetClusterField(c, "name", name))

    def set_cluster_tags(self, c: int, tags: list[str]) -> AppliedEdit:
        return self.apply_edit(SetClusterField(c, "tags", tags))

    def set_cluster_notes(self, c: int, text: str | None) -> AppliedEdit:
        return self.apply_edit(SetClusterField(c, "notes", text))

    def cluster_user_data(self) -> dict[int, dict[str, Any]]:
        """Matched cluster id -> {"name": str | None, "tags": list[str], "notes": str}."""
        with self._checked():
            rows = self._conn.execute("SELECT cluster, name, tags, notes FROM cluster_user ORDER BY cluster").fetchall()
        return {int(c): {"name": n, "tags": json.loads(t) if t else [], "notes": notes or ""} for c, n, t, notes in rows}

    # ---------------------------------------------------------------------------------------
    # named groups of images (a selection the user kept under a name)
    # ---------------------------------------------------------------------------------------
    # Stored as {name: [path, ...]} in the meta table, keyed by path like the flags, so a group
    # survives a rescan that shifts image indices; no schema change needed for a small feature.
    def image_groups(self) -> dict[str, list[int]]:
        """Group name -> image indices (sorted), for every named group; images no longer in the
        session are left out."""
        raw = self.get_meta(IMAGE_GROUPS_KEY, {})
        if not isinstance(raw, dict):
            return {}
        index = {p: i for i, p in enumerate(self._paths())}
        return {str(name): sorted({index[p] for p in paths if p in index})
                for name, paths in raw.items() if isinstance(paths, list)}

    def set_image_group(self, name: str, indices: Iterable[int] | None) -> AppliedEdit:
        """Store group ``name`` with exactly ``indices`` (replacing it); ``None`` deletes it.
        One logged edit."""
        return self.apply_edit(SetImageGroup(name, None if indices is None else list(indices)))

    # ---------------------------------------------------------------------------------------
    # exports
    # ---------------------------------------------------------------------------------------
    def record_export(self, kind: str, path: str | os.PathLike[str], details: dict[str, Any]) -> None:
        with self._write() as db:
            db["exports"].insert(
                {"kind": kind, "path": _name_to_db(str(Path(path).absolute())), "details": json.dumps(details, default=str), "time": _now()}
            )

    def exports(self) -> list[dict[str, Any]]:
        with self._checked():
            rows = self._conn.execute("SELECT kind, path, details, time FROM exports ORDER BY id").fetchall()
        return [{"kind": k, "path": _name_from_db(p), "details": json.loads(d) if d else {}, "time": t} for k, p, d, t in rows]


# -------------------------------------------------------------------------------------------
# module helpers
# -------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class AppliedEdit:
    """What an applied edit changed; ``record``: its log entry (None when it changed nothing)."""

    preview: EditPreview
    record: EditRecord | None


class _Reader:
    """``dcgui.store.edits.Reader`` over a store's connection (the caller holds its lock)."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store

    def image_paths(self) -> list[str]:
        return self._store._paths()

    def rows(self, table: str, keys: Iterable[Any] | None = None) -> dict[Any, dict[str, Any]]:
        return editlog.read_rows(self._store._conn, table, keys)

    def next_group_id(self) -> int:
        conn = self._store._conn
        seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'cluster_groups'").fetchone()
        top = conn.execute("SELECT MAX(id) FROM cluster_groups").fetchone()[0]
        return max(int(seq[0]) if seq else 0, int(top or 0)) + 1

    def epoch_k(self, epoch: int) -> int:
        return self._store._epoch_row(epoch)[0]


def _writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (or, while it does not exist, made there)."""
    for p in (folder, *folder.parents):
        if p.exists():
            return p.is_dir() and os.access(p, os.W_OK | os.X_OK)
    return False


def _relpath_or_none(path: Path, start: Path, inside_only: bool = False) -> str | None:
    try:
        rel = os.path.relpath(path, start)
    except ValueError:  # another drive on Windows
        return None
    if inside_only and (rel == os.pardir or rel.startswith(os.pardir + os.sep)):
        return None
    return rel


def _connect(path: Path, readonly: bool, immutable: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), with our pragmas.

    ``immutable`` (read-only inspection of a file without a ``-wal``) creates no ``-shm`` /
    ``-wal`` files beside the file, so inspecting a file we then refuse leaves no trace.
    """
    if readonly:
        uri = path.absolute().as_uri() + "?mode=ro"
        try:
            if immutable:
                raise sqlite3.OperationalError("inspect without side files")
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.OperationalError:
            # Also a WAL file in a folder we cannot write (no -shm can be made): nobody can be
            # writing it either, so reading it as immutable is safe.
            if not immutable and os.access(path.parent, os.W_OK):
                raise
            conn = sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if not readonly:
        conn.execute("PRAGMA synchronous = FULL")  # see the module docstring
        conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _inspect(path: Path) -> int:
    """Check a session file without modifying it; return its schema version."""
    if not path.exists():
        raise SessionFileError(f"{path} does not exist: check the path, or create a new session")
    if path.is_dir():
        raise SessionFileError(f"{path} is a folder, not a session file: choose the .dcgui file")
    try:
        with open(path, "rb") as fh:
            header = fh.read(100)
    except OSError as exc:
        raise SessionFileError(f"{path} cannot be read ({exc.strerror}): check its permissions") from exc
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise SessionFileError(f"{path} is damaged or not a dcgui session file (no SQLite header); {_untouched(path)}")
    page_size = int.from_bytes(header[16:18], "big")
    if not (page_size == 1 or (512 <= page_size <= 32768 and page_size & (page_size - 1) == 0)):
        raise SessionFileError(f"{path} is damaged (invalid SQLite header); {_untouched(path)}")
    # Header fields first: a foreign or newer file is refused before SQLite even opens it.
    current = len(schema.MIGRATIONS)
    if int.from_bytes(header[68:72], "big") != schema.APPLICATION_ID:
        raise SessionFileError(f"{path} is an SQLite database but not a dcgui session; {_untouched(path)}")
    if int.from_bytes(header[60:64], "big") > current:
        raise SessionFileError(
            f"{path} was written by a newer dcgui (schema {int.from_bytes(header[60:64], 'big')} > {current}): "
            "update dcgui to open it"
        )
    try:  # the -wal may hold newer pages than the header: ask SQLite as well
        conn = _connect(path, readonly=True, immutable=not Path(str(path) + "-wal").exists())
    except sqlite3.DatabaseError as exc:
        raise SessionFileError(f"{path} is damaged and cannot be opened ({exc}); {_untouched(path)}") from exc
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id != schema.APPLICATION_ID:
            raise SessionFileError(f"{path} is an SQLite database but not a dcgui session; {_untouched(path)}")
        if version > current:
            raise SessionFileError(
                f"{path} was written by a newer dcgui (schema {version} > {current}): update dcgui to open it"
            )
        # quick_check reads every page once (~0.1 s per 100 MB): a damaged page is found now, not
        # as a traceback in the middle of an epoch, and the file is refused before any write.
        rows = [str(r[0]) for r in conn.execute(f"PRAGMA quick_check({_QUICK_CHECK_LINES})").fetchall()]
        if rows != ["ok"]:  # one line for the message: SQLite's report spans several
            problems = [ln.strip() for r in rows for ln in r.splitlines() if ln.strip() and not ln.startswith("***")]
            raise SessionFileError(f"{path} is damaged ({'; '.join(problems)}); the file was left untouched. "
                                   f"{_damaged_advice(path)}")
        return int(version)
    except sqlite3.DatabaseError as exc:
        raise SessionFileError(f"{path} is damaged ({exc}); the file was left untouched. {_damaged_advice(path)}") from exc
    finally:
        conn.close()


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    db = sqlite_utils.Database(conn, execute_plugins=False)
    with _immediate(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # re-read under the write lock
        for target in range(version, len(schema.MIGRATIONS)):
            schema.MIGRATIONS[target](db)
        current = len(schema.MIGRATIONS)
        if "session" in db.table_names():
            db.execute("UPDATE session SET schema_version = ? WHERE id = 1", (current,))
        conn.execute(f"PRAGMA user_version = {current}")
