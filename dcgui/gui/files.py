"""Asking the user for a file or a folder: one call each, a ``Path``, or None when cancelled.

Qt's static file dialogs return strings (and, for files, the chosen filter too); every caller
turned "" into "nothing chosen" and the string into a Path itself. Tests replace the
``QFileDialog`` statics, which these functions call.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget


def ask_folder(parent: QWidget | None, title: str, start: str | Path = "") -> Path | None:
    """A folder the user chose, starting in ``start``."""
    folder = QFileDialog.getExistingDirectory(parent, title, str(start))
    return Path(folder) if folder else None


def ask_open_file(parent: QWidget | None, title: str, start: str | Path, filters: str) -> Path | None:
    """An existing file the user chose (``filters``: Qt's "Images (*.png);;All files (*)")."""
    path, _ = QFileDialog.getOpenFileName(parent, title, str(start), filters)
    return Path(path) if path else None


def ask_save_file(parent: QWidget | None, title: str, start: str | Path, filters: str) -> Path | None:
    """Where the user wants a file written (the dialog asks before naming an existing file)."""
    path, _ = QFileDialog.getSaveFileName(parent, title, str(start), filters)
    return Path(path) if path else None
