"""The session file's SQLite connection: opening, integrity checks, migrations, transactions,
the errors SQLite raises (said as what the user should do), and the trainer's claim on the file.

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
* **Never damage a user's file.** A file is first opened read-only and checked (SQLite magic,
  application id, schema version); a damaged file, another program's database or a file from a
  newer dcgui raises ``SessionFileError`` and is not touched. Older schemas are migrated in one
  transaction when the file is opened writable.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from dcgui._version import __version__
from dcgui.core.config import TrainConfig
from dcgui.core.errors import DcguiError, SessionFileError
from dcgui.core.fsutil import disk_full_error
from dcgui.store import schema
from dcgui.store.lock import TrainerLock
from dcgui.store.names import name_to_db

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 10_000
_QUICK_CHECK_LINES = 3  # problems quoted in the error message

# SQLite's primary result codes (sqlite3.Error.sqlite_errorcode & 0xFF)
_SQLITE_BUSY, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 5, 8, 10, 11, 13, 26

T = TypeVar("T")


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def untouched(path: Path) -> str:
    return f"the file was left untouched; choose another session file or restore {path.name} from a backup"


def damaged_advice(path: Path) -> str:
    return (f"Restore {path.name} from a backup, or start a new session on the same folder "
            "(the photos themselves are not affected)")


def relpath_or_none(path: Path, start: Path, inside_only: bool = False) -> str | None:
    try:
        rel = os.path.relpath(path, start)
    except ValueError:  # another drive on Windows
        return None
    if inside_only and (rel == os.pardir or rel.startswith(os.pardir + os.sep)):
        return None
    return rel


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in str(exc)


def _sqlite_error(path: Path, exc: sqlite3.DatabaseError, need: int = 0) -> DcguiError | None:
    """The user-facing error for an SQLite failure on ``path``; ``None`` for a programming error."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if _is_damage(exc):
        return SessionFileError(f"{path} is damaged ({exc}); nothing more is written to it. {damaged_advice(path)}")
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


class Database:
    """One connection to a session file, shared by the store's parts (and, for a trainer, the
    ``TrainerLock`` that keeps a second trainer away).

    Every use goes through ``checked()`` (or ``write()``, one transaction): it serialises the
    threads that share this instance and turns SQLite's errors into ones that say what to do.
    Once damage is seen, nothing more is written.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self.path = path
        self.readonly = readonly
        self.conn = conn
        self.db = sqlite_utils.Database(conn, execute_plugins=False)
        self.lock = threading.RLock()
        self._damage: str | None = None  # set once damage is seen: nothing more is written
        self._local_writes = 0  # PRAGMA data_version ignores our own commits: count them here
        self._cache: dict[str, tuple[Any, Any]] = {}
        self._trainer_lock: TrainerLock | None = None

    @classmethod
    def create(cls, path: Path, folder: Path, config: TrainConfig, meta: dict[str, Any] | None = None) -> None:
        """Write a new session file at ``path``; error if it exists.

        The file is built under a temporary name and renamed, so a crash never leaves a
        half-initialised session behind; ``meta`` entries are part of it.
        """
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
            with immediate(conn):
                for migration in schema.MIGRATIONS:
                    migration(db)
                version = len(schema.MIGRATIONS)
                db["session"].insert(
                    {
                        "id": 1,
                        "config": config.to_json(),
                        "folder": name_to_db(str(folder)),
                        "folder_rel": name_to_db(relpath_or_none(folder, path.parent)),
                        "created": now(),
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

    @classmethod
    def open(cls, path: Path, readonly: bool = False, check: bool = True) -> Database:
        """Open a session file; ``readonly`` for viewers (the file is never written through it).

        Raises ``SessionFileError`` for a missing, damaged or foreign file or one written by a
        newer dcgui, without modifying it. An older schema is upgraded in one transaction when
        opened writable. ``check`` False skips the page scan (``PRAGMA quick_check``): for a
        second connection to a file this process has just opened, checked.
        """
        version = _inspect(path, check)  # read-only checks before any writable connection exists
        current = len(schema.MIGRATIONS)
        if readonly:
            if version < current:
                raise SessionFileError(
                    f"{path} uses an older session format (schema {version} < {current}): open it once "
                    "without read-only (e.g. in the dcgui window) to upgrade it"
                )
            return cls(path, _connect(path, readonly=True), readonly=True)
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
            raise SessionFileError(f"{path} (or its folder) is not writable: open it read-only or copy it elsewhere")
        conn = _connect(path, readonly=False)
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            if version < current:
                _migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise SessionFileError(f"{path} cannot be opened for writing ({exc}); {untouched(path)}") from exc
        except BaseException:
            conn.close()
            raise
        return cls(path, conn, readonly=False)

    def close(self) -> None:
        with self.lock:
            self.conn.close()
            self.release_trainer()

    def claim_trainer(self, command: str | None = None) -> None:
        """Become the session's only trainer until ``close()`` / ``release_trainer()``.

        Raises ``SessionBusyError`` at once, naming the other process, when another trainer holds
        it. Readers never call this. ``command`` describes this process in the refusal others see.
        """
        if self.readonly:
            raise SessionFileError(f"{self.path} was opened read-only: open it writable to train it")
        with self.lock:
            if self._trainer_lock is None:
                lock = TrainerLock(self.path, command)
                lock.acquire()
                self._trainer_lock = lock

    def release_trainer(self) -> None:
        with self.lock:
            lock, self._trainer_lock = self._trainer_lock, None
        if lock is not None:
            lock.release()

    @property
    def is_trainer(self) -> bool:
        return self._trainer_lock is not None

    @contextmanager
    def checked(self, need: int = 0) -> Iterator[None]:
        """Serialise use of the connection and turn SQLite's errors into ones that say what to do.

        ``need``: bytes the write about to happen adds (for the disk-full message)."""
        with self.lock:
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
    def write(self, need: int = 64 << 10) -> Iterator[sqlite_utils.Database]:
        """One write transaction. IMMEDIATE takes the write lock up front, so a concurrent writer
        waits (busy_timeout) instead of failing half-way when upgrading a read lock."""
        if self.readonly:
            raise SessionFileError(f"{self.path} was opened read-only: open it writable to change it")
        if self._damage is not None:
            raise SessionFileError(
                f"{self.path} is damaged ({self._damage}); nothing more is written to it. {damaged_advice(self.path)}"
            )
        with self.checked(need), immediate(self.conn):
            yield self.db
            self._local_writes += 1

    def version_key(self) -> tuple[int, int]:
        """Changes whenever this or another connection commits."""
        return (self.data_version(), self._local_writes)

    def cached(self, name: str, compute: Callable[[], T], key: Any = None) -> T:
        """Memoise a whole-table read until this or another connection commits (or, with
        ``key``, until that value changes)."""
        with self.checked():
            key = self.version_key() if key is None else key
            hit = self._cache.get(name)
            if hit is not None and hit[0] == key:
                return hit[1]  # type: ignore[no-any-return]
            value = compute()
            self._cache[name] = (key, value)
            return value

    def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        with self.checked():
            row = self.conn.execute(sql, tuple(params)).fetchone()
        return None if row is None else row[0]

    def data_version(self) -> int:
        """Changes whenever *another* connection commits (cheap: no disk access)."""
        with self.checked():
            return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def integrity_check(self) -> str:
        """``"ok"`` or SQLite's description of the damage (reads the whole file)."""
        with self.checked():
            return "; ".join(str(r[0]) for r in self.conn.execute("PRAGMA integrity_check").fetchall())


def _torch_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


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
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _inspect(path: Path, quick_check: bool = True) -> int:
    """Check a session file without modifying it; return its schema version. ``quick_check``
    False skips the page scan (only for a second connection to a file just checked)."""
    if not path.exists():
        raise SessionFileError(f"{path} does not exist: check the path, or create a new session")
    if path.is_dir():
        raise SessionFileError(f"{path} is a folder, not a session file: choose the .dcgui file")
    if not path.is_file():  # a FIFO would block the read below forever, a device is no session
        raise SessionFileError(f"{path} is not a regular file (a pipe or a device), not a session file: "
                               "choose the .dcgui file")
    try:
        with open(path, "rb") as fh:
            header = fh.read(100)
    except OSError as exc:
        raise SessionFileError(f"{path} cannot be read ({exc.strerror}): check its permissions") from exc
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise SessionFileError(f"{path} is damaged or not a dcgui session file (no SQLite header); {untouched(path)}")
    page_size = int.from_bytes(header[16:18], "big")
    if not (page_size == 1 or (512 <= page_size <= 32768 and page_size & (page_size - 1) == 0)):
        raise SessionFileError(f"{path} is damaged (invalid SQLite header); {untouched(path)}")
    # Header fields first: a foreign or newer file is refused before SQLite even opens it.
    current = len(schema.MIGRATIONS)
    if int.from_bytes(header[68:72], "big") != schema.APPLICATION_ID:
        raise SessionFileError(f"{path} is an SQLite database but not a dcgui session; {untouched(path)}")
    if int.from_bytes(header[60:64], "big") > current:
        raise SessionFileError(
            f"{path} was written by a newer dcgui (schema {int.from_bytes(header[60:64], 'big')} > {current}): "
            "update dcgui to open it"
        )
    try:  # the -wal may hold newer pages than the header: ask SQLite as well
        conn = _connect(path, readonly=True, immutable=not Path(str(path) + "-wal").exists())
    except sqlite3.DatabaseError as exc:
        raise SessionFileError(f"{path} is damaged and cannot be opened ({exc}); {untouched(path)}") from exc
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id != schema.APPLICATION_ID:
            raise SessionFileError(f"{path} is an SQLite database but not a dcgui session; {untouched(path)}")
        if version > current:
            raise SessionFileError(
                f"{path} was written by a newer dcgui (schema {version} > {current}): update dcgui to open it"
            )
        # quick_check reads every page once (~0.1 s per 100 MB): a damaged page is found now, not
        # as a traceback in the middle of an epoch, and the file is refused before any write.
        rows = ([str(r[0]) for r in conn.execute(f"PRAGMA quick_check({_QUICK_CHECK_LINES})").fetchall()]
                if quick_check else ["ok"])
        if rows != ["ok"]:  # one line for the message: SQLite's report spans several
            problems = [ln.strip() for r in rows for ln in r.splitlines() if ln.strip() and not ln.startswith("***")]
            raise SessionFileError(f"{path} is damaged ({'; '.join(problems)}); the file was left untouched. "
                                   f"{damaged_advice(path)}")
        return int(version)
    except sqlite3.DatabaseError as exc:
        raise SessionFileError(f"{path} is damaged ({exc}); the file was left untouched. {damaged_advice(path)}") from exc
    finally:
        conn.close()


def _migrate(conn: sqlite3.Connection) -> None:
    db = sqlite_utils.Database(conn, execute_plugins=False)
    with immediate(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # re-read under the write lock
        for target in range(version, len(schema.MIGRATIONS)):
            schema.MIGRATIONS[target](db)
        current = len(schema.MIGRATIONS)
        if "session" in db.table_names():
            db.execute("UPDATE session SET schema_version = ? WHERE id = 1", (current,))
        conn.execute(f"PRAGMA user_version = {current}")
