"""One trainer per session: an advisory lock that the operating system drops with its process.

Two trainers on one session would both write the same epochs (and on a GPU their results would
mix), so whoever trains takes ``NAME.dcgui.d/trainer.lock`` with ``flock`` (``msvcrt.locking``
on Windows). The lock belongs to the open file: when the process ends, however it ends (Ctrl-C,
SIGKILL, a crash), the OS releases it, so a stale lock file never blocks the next trainer.
Readers (the window, ``dcgui info``, exports) never take it. The file records who holds it
(pid, host, command, start time) so the refusal can name the other process.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from dcgui.core.errors import DcguiError

LOCK_NAME = "trainer.lock"


class SessionBusyError(DcguiError):
    """Another process is training this session."""


_WIN_LOCK_OFFSET = 1 << 30  # Windows locks byte ranges: lock one far past the record so it stays readable


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WIN_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _this_command() -> str:
    if not sys.argv:
        return "dcgui"
    prog = Path(sys.argv[0]).name
    return " ".join(["dcgui" if prog in ("__main__.py", "-c", "") else prog, *sys.argv[1:]])


def describe_holder(info: dict[str, Any]) -> str:
    """"pid 1234 on host 'box' (dcgui train ...), since 2024-..." from a lock file's record."""
    if not info:
        return "another process (it has not written its details yet)"
    text = f"pid {info.get('pid', '?')} on host {info.get('host', '?')!r}"
    if info.get("command"):
        text += f" ({info['command']})"
    if info.get("since"):
        text += f", since {info['since']}"
    return text


class TrainerLock:
    """The exclusive trainer lock of one session; ``acquire`` refuses at once when it is held."""

    def __init__(self, session: Path, command: str | None = None) -> None:
        self.session = Path(session)
        self.path = self.session.with_name(self.session.name + ".d") / LOCK_NAME
        self.command = command or _this_command()
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> dict[str, Any]:
        """What the lock file says about its holder (empty when unreadable or not written yet)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # No O_TRUNC: the holder's record must survive our failed attempt.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_lock(fd):
                raise SessionBusyError(
                    f"{self.session} is being trained by {describe_holder(self.holder())}: wait for it to "
                    "finish or stop it there; only one trainer may write a session (viewing it, "
                    "`dcgui info` and exports still work meanwhile)"
                )
            record = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                      "since": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(record).encode())
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (the file stays: removing it could race with the next trainer)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
            _unlock(fd)
        except OSError:
            pass  # closing the file releases the lock anyway
        finally:
            os.close(fd)

    def __enter__(self) -> TrainerLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


__all__ = ["LOCK_NAME", "SessionBusyError", "TrainerLock", "describe_holder"]
