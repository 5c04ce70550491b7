"""The one place where errors reach the user: a dialog with the message and expandable details.

Every error path of the GUI (worker errors, failed file operations, unexpected exceptions in
slots through ``sys.excepthook``) calls ``show_error``. The dialog is window-modal but opened with
``open()``, not ``exec()``: an error arriving from a worker never starts a nested event loop, and
tests never block on it. Tests replace ``_present`` to capture errors instead of showing them.
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from dcgui.core.errors import is_user_error, user_message
from dcgui.gui.worker import WorkerError

log = logging.getLogger("dcgui")

_open_dialogs: dict[str, QMessageBox] = {}


class ErrorDialog(QMessageBox):
    """A warning box: short message, the fix in it, and the traceback under "Show Details…"."""

    def __init__(self, parent: QWidget | None, title: str, message: str, details: str = "") -> None:
        super().__init__(parent)
        self.setIcon(QMessageBox.Icon.Warning)
        self.setWindowTitle(title)
        self.setText(message)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if details:
            self.setDetailedText(details)
        self.setStandardButtons(QMessageBox.StandardButton.Ok)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)


def describe(error: BaseException | WorkerError | str, details: str | None = None) -> tuple[str, str]:
    """(message, details) for any error object: user-facing errors speak for themselves,
    anything else is labelled unexpected and keeps its traceback in the details."""
    if isinstance(error, WorkerError):
        return error.message, details if details is not None else error.details
    if isinstance(error, BaseException):
        tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        if is_user_error(error):
            return user_message(error), details if details is not None else tb
        message = (f"Unexpected error: {type(error).__name__}: {error}\n\n"
                   "Your session file is safe. Please report this with the details below.")
        return message, details if details is not None else tb
    return str(error), details or ""


def show_error(parent: QWidget | None, error: BaseException | WorkerError | str,
               title: str = "dcgui", details: str | None = None) -> None:
    """Show ``error`` to the user (and log it). Identical messages already on screen are not
    stacked again (a failing poll must not open a dialog per second)."""
    message, detail_text = describe(error, details)
    log.error("%s: %s", title, message)
    if detail_text:
        log.debug("%s", detail_text)
    _present(parent, title, message, detail_text)


def _present(parent: QWidget | None, title: str, message: str, details: str) -> None:
    if QApplication.instance() is None:  # no GUI (yet): the console is all there is
        print(f"{title}: {message}\n{details}", file=sys.stderr)
        return
    key = f"{title}\n{message}"
    if key in _open_dialogs:
        _open_dialogs[key].raise_()
        return
    dialog = ErrorDialog(parent, title, message, details)
    _open_dialogs[key] = dialog
    dialog.finished.connect(lambda _result, k=key: _open_dialogs.pop(k, None))
    dialog.open()


def install_excepthook() -> None:
    """Route exceptions escaping Qt slots (PySide6 reports them through ``sys.excepthook``) to
    the error dialog instead of only the console."""
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> Any:
        if issubclass(exc_type, KeyboardInterrupt):
            return previous(exc_type, exc, tb)
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        print(text, file=sys.stderr)
        active = QApplication.activeWindow()
        show_error(active, exc, details=text)
        return None

    sys.excepthook = hook
