"""User-facing errors: each message names the file or setting involved and says how to fix it."""

from __future__ import annotations

import platform
import sys
from pathlib import Path


class DcguiError(Exception):
    """An error meant for the user (shown in the GUI's error dialog and printed by the CLI)."""


class UnusableCollectionError(DcguiError):
    """The chosen folder holds no image dcgui can use."""


class SessionFileError(DcguiError):
    """A session file is damaged, from a newer dcgui, or otherwise cannot be opened."""


class DeviceOutOfMemory(DcguiError):
    """The accelerator ran out of memory; the message suggests a smaller batch or image size."""


class DiskFullError(DcguiError):
    """A write failed for lack of disk space; the message names the file and the space needed."""


class CannotWrite(DcguiError, OSError):
    """A file cannot be written (no such folder, no permission, a read-only disk); the message
    names it. Also an ``OSError``, for code that falls back when a cache cannot be saved."""


class InvalidValue(DcguiError, ValueError):
    """A value the user gave (a setting, an option, a cluster or epoch number, a name) is refused;
    the message says what to give instead. Also a ``ValueError``, for code that validates."""


# What counts as the user's to fix (the message says how), everywhere: the CLI prints it as one
# line and exits 2, the GUI shows it without "unexpected". Only errors raised on purpose, as a
# DcguiError: anything else (a ValueError or OSError from deep inside, a KeyError) is a bug, and
# is shown with its traceback and the path of a crash log (``write_crash_log``).
USER_ERRORS: tuple[type[Exception], ...] = (DcguiError,)


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, USER_ERRORS)


def user_message(exc: BaseException) -> str:
    """The one-line text of an error: an OS error names its file and the reason."""
    if isinstance(exc, OSError) and not isinstance(exc, DcguiError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


def crash_log_dir() -> Path:
    """Where crash reports go: the user's log folder (``~/.local/state/dcgui/log`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_log_dir("dcgui"))


def write_crash_log(exc: BaseException, context: str = "") -> Path | None:
    """Write ``exc``'s traceback (and ``context``: the command, the window's action) to a new
    file in ``crash_log_dir()``; its path, or None when no log can be written (the traceback
    is then only where the caller shows it)."""
    import datetime
    import secrets
    import traceback

    from dcgui._version import __version__

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        folder = crash_log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{stamp}-{secrets.token_hex(3)}.log"
        with open(path, "x", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(f"dcgui {__version__}, python {sys.version.split()[0]}, {platform.platform()}\n")
            if context:
                fh.write(f"{context}\n")
            fh.write(text)
    except OSError:
        return None
    return path
