"""Paths read from a session file, and paths written next to one: the two checks every caller uses.

A session file may come from someone else (a doctored ``.dcgui``), so its rows are untrusted:

* ``SessionPaths.image`` / ``images`` turn an ``images.path`` row into a file path only when it
  resolves inside the session's image folder: no absolute path, no ``..``, no symbolic link
  leading out, never the session file or its data folder. A refused row raises
  ``UnsafeSessionPath`` naming the row; nothing is done.
* ``SessionPaths.checkpoint`` does the same for ``checkpoints.file`` rows (inside ``NAME.dcgui.d``).
* ``check_output`` refuses an output that would replace the session: the file, its ``-wal`` /
  ``-shm`` / ``-journal``, or anything inside ``NAME.dcgui.d/``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from dcgui.core.errors import DcguiError, SessionFileError

SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
_SHOWN = 5  # bad rows named in one message


class UnsafeSessionPath(SessionFileError):
    """A session row names a file outside the session's folder (an altered or damaged file)."""


class UnsafeOutput(DcguiError):
    """An output path would overwrite the session file or its data."""


def data_dir_of(session: Path) -> Path:
    return session.with_name(session.name + ".d")


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def lexical_problem(rel: str) -> str | None:
    """Why ``rel`` is not a plain relative path with "/" separators (None when it is)."""
    if not rel:
        return "empty path"
    if "\x00" in rel:
        return "contains a NUL character"
    if rel.startswith("/") or (os.name == "nt" and (rel.startswith("\\") or ":" in rel)):
        return "absolute path"
    if ".." in (rel.replace("\\", "/") if os.name == "nt" else rel).split("/"):
        return "leads outside the folder with '..'"
    return None


def _under(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


class SessionPaths:
    """Turns a session's rows into file paths inside its image folder and data folder.

    Folders are resolved once (a cache of real parent folders), so checking 100k rows costs
    about one ``lstat`` per file. Safe to share between threads.
    """

    def __init__(self, folder: Path, session: Path) -> None:
        self.folder = Path(folder)
        self.session = Path(session)
        self._real_folder = os.path.realpath(self.folder)
        self._real_data = os.path.realpath(data_dir_of(self.session))
        self._forbidden = {os.path.realpath(str(self.session) + s) for s in ("", *SIDE_SUFFIXES)}
        self._dirs: dict[str, str] = {}

    # -- images ----------------------------------------------------------------------------
    def problem(self, rel: str) -> str | None:
        """Why the row ``rel`` may not be read (None when it names a file inside the folder)."""
        why = lexical_problem(rel)
        if why is not None:
            return why
        parent, _, name = rel.rpartition("/")
        real_parent = self._dirs.get(parent)
        if real_parent is None:
            real_parent = os.path.realpath(os.path.join(self.folder, parent)) if parent else self._real_folder
            self._dirs[parent] = real_parent
        if not _under(real_parent, self._real_folder):
            return f"its folder is a symbolic link to {real_parent}, outside the image folder"
        real = os.path.join(real_parent, name)
        try:
            if stat.S_ISLNK(os.lstat(real).st_mode):
                real = os.path.realpath(real)
                if not _under(real, self._real_folder):
                    return f"it is a symbolic link to {real}, outside the image folder"
        except OSError:
            pass  # a missing file stays inside; whoever opens it reports that it is missing
        if real in self._forbidden or _under(real, self._real_data):
            return "it names the session's own file or data folder"
        return None

    def image(self, rel: str, row: int | None = None) -> Path:
        """The file of one ``images.path`` row, or ``UnsafeSessionPath`` naming the row."""
        why = self.problem(rel)
        if why is not None:
            raise UnsafeSessionPath(self._message([(row, rel, why)]))
        return self.folder / rel

    def images(self, rels: Sequence[str], rows: Iterable[int] | None = None) -> list[Path]:
        """The files of many rows (``rows``: their image indices, default 0..n-1); all or nothing:
        one bad row refuses the whole list, naming the first few."""
        rows = list(range(len(rels)) if rows is None else rows)
        bad: list[tuple[int | None, str, str]] = [(row, rel, why) for row, rel in zip(rows, rels) if (why := self.problem(rel)) is not None]
        if bad:
            raise UnsafeSessionPath(self._message(bad))
        return [self.folder / rel for rel in rels]

    def _message(self, bad: list[tuple[int | None, str, str]]) -> str:
        shown = "; ".join(f"{'image' if row is None else f'image {row}'} {rel!r}: {why}" for row, rel, why in bad[:_SHOWN])
        more = f" (and {len(bad) - _SHOWN} more)" if len(bad) > _SHOWN else ""
        return (
            f"{self.session.name} lists image path{'s' if len(bad) > 1 else ''} that dcgui will not read "
            f"(only files inside the image folder {self.folder} are used): {shown}{more}. The session file "
            "was altered or damaged; nothing was done. Use a session you created, or make a new one with "
            f"`dcgui train {self.folder} --session NEW.dcgui`"
        )

    # -- checkpoints -----------------------------------------------------------------------
    def checkpoint(self, rel: str, epoch: int) -> Path:
        """The file of a ``checkpoints.file`` row: inside ``NAME.dcgui.d``, else ``UnsafeSessionPath``."""
        data = data_dir_of(self.session)
        why = lexical_problem(rel)
        if why is None and not _under(real := os.path.realpath(data / rel), self._real_data):
            why = f"it resolves to {real}"
        if why is not None:
            raise UnsafeSessionPath(
                f"{self.session.name} records the checkpoint of epoch {epoch} as {rel!r}, outside its data "
                f"folder {data} ({why}): the session file was altered or damaged; it was not read"
            )
        return data / rel


def _inside_folded(child: Path, parent: Path) -> bool:
    """``_inside`` that also holds on case-insensitive file systems (macOS, Windows)."""
    c, p = str(child).casefold(), str(parent).casefold()
    return c == p or c.startswith(p.rstrip(os.sep) + os.sep)


def check_output(out: str | os.PathLike[str], session: str | os.PathLike[str], what: str = "output") -> Path:
    """Refuse an output path that would replace session data (``UnsafeOutput``); return it absolute.

    Refused: the session file itself (also through a link or another spelling), its ``-wal``,
    ``-shm`` or ``-journal``, the data folder ``NAME.dcgui.d`` and anything inside it.
    """
    out = Path(out).expanduser().absolute()
    session = Path(session).expanduser().absolute()
    real_out, real_session = _real(out), _real(session)
    sides = {"": f"the session file {session.name}", "-wal": f"the write-ahead log of {session.name}",
             "-shm": f"the shared-memory file of {session.name}", "-journal": f"the journal of {session.name}"}
    hit = next((text for suffix, text in sides.items()
                if str(real_out).casefold() == (str(real_session) + suffix).casefold()), None)
    if hit is None:
        try:
            if out.exists() and session.exists() and os.path.samefile(out, session):
                hit = sides[""]
        except OSError:
            pass
    data = data_dir_of(session)
    if hit is None and _inside_folded(real_out, _real(data)):
        hit = f"inside {data.name}, the data folder of {session.name} (image cache and checkpoints)"
    if hit is not None:
        raise UnsafeOutput(
            f"cannot write the {what} to {out}: that is {hit}, and writing there would destroy the "
            "session; choose another path"
        )
    return out


__all__ = ["SIDE_SUFFIXES", "SessionPaths", "UnsafeOutput", "UnsafeSessionPath", "check_output", "data_dir_of",
           "lexical_problem"]
