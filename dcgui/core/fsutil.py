"""File-system helpers shared by the cache, checkpoints and exports."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import time
from pathlib import Path

from dcgui.core.errors import DiskFullError

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _NO_SPACE


def free_space(path: Path) -> int | None:
    """Free bytes on the disk holding ``path`` (its nearest existing parent), or None."""
    path = Path(path)
    for p in (path, *path.parents):
        try:
            return shutil.disk_usage(p).free
        except OSError:
            continue
    return None


def disk_full_error(path: Path, need: int) -> DiskFullError:
    """The error for a write of about ``need`` bytes into ``path`` that found the disk full."""
    free = free_space(Path(path).parent)
    have = f" and {human_bytes(free)} are free" if free is not None else ""
    return DiskFullError(
        f"the disk is full: writing {path} needs about {human_bytes(max(need, 1))} more{have}. Free some "
        "space on that disk, then run the same command again: everything saved so far is kept"
    )


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new content, never a mix,
    even after a crash: temporary file, fsync, rename, fsync of the folder."""
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full_error(path, len(data)) from exc
            raise
        for attempt in range(20):
            try:
                os.replace(tmp, path)
                break
            except PermissionError:  # Windows: a reader has the old file open for a moment
                if attempt == 19:
                    raise
                time.sleep(0.05)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if os.name == "posix":
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
