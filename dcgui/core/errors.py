"""User-facing errors: each message names the file or setting involved and says how to fix it."""

from __future__ import annotations


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


# What counts as the user's to fix (the message says how), everywhere: the CLI prints it as one
# line and exits 2, the GUI shows it without "unexpected". Anything else is a bug with a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (DcguiError, ValueError, OSError)


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, USER_ERRORS)


def user_message(exc: BaseException) -> str:
    """The one-line text of a user error: an OS error names its file and the reason."""
    if isinstance(exc, OSError) and not isinstance(exc, DcguiError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__
