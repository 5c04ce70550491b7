"""File-system helpers shared by the cache, checkpoints, exports and every written result."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from dcgui.core.errors import CannotWrite, DcguiError, DiskFullError
from dcgui.core.numbers import human_bytes
from dcgui.core.pathtext import PRINTABLE

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


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


def disk_full_error(path: Path, need: int, at_least: bool = False) -> DiskFullError:
    """The error for a write of ``need`` bytes into ``path`` that found the disk full
    (``at_least``: the write's total size is unknown, ``need`` is what it had reached)."""
    free = free_space(Path(path).parent)
    have = f", and {human_bytes(free)} are free" if free is not None else ""
    amount = f"{'more than' if at_least else 'about'} {human_bytes(max(need, 1))}"
    return DiskFullError(
        f"the disk is full: writing {path} needs {amount}{have}. Free some space on that disk, then "
        "run the same command again: everything saved before is kept"
    )


def check_file_target(out: Path, hint: str = "give a file name") -> None:
    """Refuse to write the file ``out`` into a folder that does not exist, or over a folder."""
    if not out.parent.is_dir():
        raise DcguiError(f"cannot write {out}: the folder {out.parent} does not exist")
    if out.is_dir():
        raise DcguiError(f"cannot write {out}: it is a folder; {hint}")


@contextmanager
def atomic_writer(path: Path, text: bool = False, size: int = 0) -> Iterator[IO[Any]]:
    """A file handle whose content appears at ``path`` only when the block ends without error:
    readers see the old or the new content, never a mix, even after a crash (temporary file,
    fsync, rename, fsync of the folder). ``text``: UTF-8, newlines as written (for csv).
    A full disk raises ``DiskFullError`` naming ``path`` and the space needed (``size`` when the
    caller knows it, else what had been written)."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        try:
            # Text: a file name that is not valid UTF-8 is written readably (\xNN), not refused.
            with open(tmp, "w", encoding="utf-8", errors=PRINTABLE, newline="") if text else open(tmp, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            if not is_disk_full(exc):
                raise CannotWrite(f"cannot write {path}: {exc.strerror or exc}: choose a folder you can write "
                                  "to") from exc
            reached = 0
            with contextlib.suppress(OSError):
                reached = tmp.stat().st_size
                tmp.unlink()  # first, so the message counts the space it held as free
            raise disk_full_error(path, size or reached, at_least=not size) from exc
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
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make the renames and new names inside ``folder`` durable (POSIX; elsewhere a no-op)."""
    if os.name == "posix":
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_writer(path, size=len(data)) as fh:
        fh.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_writer(path, text=True) as fh:
        fh.write(text)


STDOUT = "-"  # an output path that means standard output


def _through_fd_link(path: str) -> bool:
    """Whether ``path`` reaches an open file descriptor through symlinks (``/dev/stdout`` ->
    ``/proc/self/fd/1``): what it names is the process's own stream, even a redirected file."""
    for _ in range(40):
        parts = Path(path).parts
        if (len(parts) >= 4 and parts[:2] == ("/", "proc") and parts[3] == "fd") or parts[:3] == ("/", "dev", "fd"):
            return True
        if not os.path.islink(path):
            return False
        path = os.path.join(os.path.dirname(path), os.readlink(path))
    return False


def is_stream_output(path: str | os.PathLike[str]) -> bool:
    """True when writing ``path`` means writing *into* something that is not a regular file:
    ``-`` (standard output), a character device (``/dev/null``, a terminal) or a FIFO, reached
    directly or through a symlink, or a descriptor of this process (``/dev/stdout``, even when
    the shell redirected it to a file). Such a target is never replaced by a rename, and no
    sidecar file is put next to it."""
    text = os.fspath(path)
    if text == STDOUT:
        return True
    try:
        mode = os.stat(text).st_mode  # follows symlinks: /dev/stdout -> /proc/self/fd/1 -> pipe
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or (stat.S_ISREG(mode) and _through_fd_link(text))


@contextmanager
def output_writer(path: str | os.PathLike[str], text: bool = False, size: int = 0) -> Iterator[IO[Any]]:
    """Where every result file of dcgui is written: ``-`` is standard output, a character
    device or FIFO is written into in place (never replaced), anything else is a regular file
    written atomically (``atomic_writer``)."""
    if os.fspath(path) == STDOUT:
        if text:
            yield sys.stdout
            sys.stdout.flush()
        else:
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
        return
    if is_stream_output(path):
        # Written into as it is: a device or FIFO, or our own descriptor in append mode (a
        # redirected standard output keeps what was written before, as a shell's >> would).
        with (open(path, "a", encoding="utf-8", errors=PRINTABLE, newline="") if text
              else open(path, "ab")) as fh:
            yield fh
        return
    # A symlink to a regular file: the file it names is replaced, the link stays a link.
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    with atomic_writer(target, text=text, size=size) as fh:
        yield fh
