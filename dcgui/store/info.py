"""The session's own record: its folders, image folder, configuration, versions, meta values
and the log of exports made from it."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from dcgui.core.config import TrainConfig
from dcgui.core.errors import SessionFileError
from dcgui.core.pathtext import printable
from dcgui.store.database import Database, now, relpath_or_none, untouched
from dcgui.store.names import name_from_db, name_to_db
from dcgui.store.paths import SessionPaths


class SessionInfo:
    """The ``session`` row, the ``meta`` table and the ``exports`` log of one session file, and
    the folders beside it (``NAME.dcgui.d``)."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self.path = database.path
        self._guard: SessionPaths | None = None

    def _row(self) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            rows = list(self._db.db.query("SELECT * FROM session WHERE id = 1"))
            if not rows:
                raise SessionFileError(f"{self.path} has no session record; {untouched(self.path)}")
            return rows[0]

        return self._db.cached("session", read)

    # folders ---------------------------------------------------------------------------------
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
        """The image folder. The path recorded relative to the session file wins whenever that
        folder exists: a session copied or moved together with its photos (a backup, another
        disk) works on the copy's photos, never on the original's. Else the recorded absolute path."""
        row = self._row()
        absolute = Path(name_from_db(row["folder"]))
        if row.get("folder_rel"):
            beside = Path(os.path.normpath(self.path.parent / name_from_db(row["folder_rel"])))
            if beside.is_dir():
                with contextlib.suppress(OSError):
                    if absolute.is_dir() and os.path.samefile(beside, absolute):
                        return absolute  # the same folder: keep the path as the user gave it
                return beside
        return absolute

    @property
    def recorded_folder(self) -> Path:
        """The absolute image folder recorded when the session was created (or relinked)."""
        return Path(name_from_db(self._row()["folder"]))

    @property
    def path_guard(self) -> SessionPaths:
        """Turns this session's rows into file paths inside its folders (``dcgui.store.paths``)."""
        folder = self.folder
        with self._db.lock:
            guard = self._guard
            if guard is None or guard.folder != folder:
                guard = self._guard = SessionPaths(folder, self.path)
            return guard

    def set_folder(self, folder: str | os.PathLike[str]) -> None:
        """Point the session at its images' new location (after the user moved them)."""
        folder = Path(folder).absolute()
        with self._db.write() as db:
            db["session"].update(1, {"folder": name_to_db(str(folder)),
                                     "folder_rel": name_to_db(relpath_or_none(folder, self.path.parent))})

    # the session row -------------------------------------------------------------------------
    @property
    def config(self) -> TrainConfig:
        text = self._row()["config"]
        try:
            return TrainConfig.from_json(text)
        except (ValueError, TypeError) as exc:
            raise SessionFileError(f"{self.path}: the stored configuration is not usable ({exc})") from exc

    def set_config(self, cfg: TrainConfig) -> None:
        with self._db.write() as db:
            db["session"].update(1, {"config": cfg.to_json()})

    @property
    def created(self) -> str:
        return str(self._row()["created"])

    @property
    def versions(self) -> dict[str, Any]:
        """Versions that created the file, plus the live schema version."""
        row = self._row()
        return {
            "dcgui": row["dcgui_version"],
            "torch": row["torch_version"],
            "python": row["python_version"],
            "schema": int(self._db.scalar("PRAGMA user_version")),
        }

    # meta and exports ------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        value = self._db.scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return default if value is None else json.loads(value)

    def set_meta(self, key: str, value: Any) -> None:
        with self._db.write() as db:
            db["meta"].upsert({"key": key, "value": json.dumps(value)}, pk="key")

    def record_export(self, kind: str, path: str | os.PathLike[str], details: dict[str, Any]) -> None:
        with self._db.write() as db:
            db["exports"].insert(
                {"kind": kind, "path": name_to_db(str(Path(path).absolute())), "details": json.dumps(details, default=str), "time": now()}
            )

    def exports(self) -> list[dict[str, Any]]:
        with self._db.checked():
            rows = self._db.conn.execute("SELECT kind, path, details, time FROM exports ORDER BY id").fetchall()
        return [{"kind": k, "path": name_from_db(p), "details": json.loads(d) if d else {}, "time": t} for k, p, d, t in rows]


def _writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (or, while it does not exist, made there)."""
    for p in (folder, *folder.parents):
        if p.exists():
            return p.is_dir() and os.access(p, os.W_OK | os.X_OK)
    return False
