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
