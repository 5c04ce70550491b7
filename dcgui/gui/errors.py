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
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from dcgui.core.errors import is_user_error, user_message, write_crash_log
from dcgui.gui.worker import WorkerError

log = logging.getLogger("dcgui")

_open_dialogs: dict[str, QMessageBox] = {}
_crash_dialogs: dict[str, str] = {}  # a crash's message without its log path -> its dialog's key


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


def describe(error: BaseException | WorkerError | str, details: str | None = None,
             log_path: Path | None = None) -> tuple[str, str]:
    """(message, details) for any error object: user-facing errors (``DcguiError``) speak for
    themselves, anything else is a crash report: labelled unexpected, the path of its crash
    log (``log_path``) in the message and the traceback in the details."""
    if isinstance(error, WorkerError):
        exc: BaseException = error.exception
        tb = error.details
    elif isinstance(error, BaseException):
        exc = error
        tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    else:
        return str(error), details or ""
    if details is not None:
        tb = details
    if is_user_error(exc):
        return user_message(exc), tb
    where = (f"The report is in {log_path}: please send it" if log_path else "Please report this")
    message = (f"Unexpected error (a bug in dcgui): {type(exc).__name__}: {exc}\n\n"
               f"Your session file is safe. {where} with the details below.")
    return message, tb


def crash_log(error: BaseException | WorkerError | str, title: str) -> Path | None:
    """Write the crash log of an unexpected error (None for a user error or a plain text)."""
    exc = error.exception if isinstance(error, WorkerError) else error
    if not isinstance(exc, BaseException) or is_user_error(exc):
        return None
    return write_crash_log(exc, f"window: {title}")


def show_error(parent: QWidget | None, error: BaseException | WorkerError | str,
               title: str = "dcgui", details: str | None = None) -> None:
    """Show ``error`` to the user (and log it). An unexpected error (not a ``DcguiError``) is a
    crash: its traceback goes to a crash log named in the dialog. Identical messages already on
    screen are not stacked again (a failing poll must not open a dialog per second)."""
    same = f"{title}\n{describe(error, details)[0]}"  # the message without its crash log's path
    shown = _crash_dialogs.get(same)
    if shown is not None and shown in _open_dialogs:  # the same crash is on screen: no new log
        _open_dialogs[shown].raise_()
        return
    message, detail_text = describe(error, details, crash_log(error, title))
    log.error("%s: %s", title, message)
    if detail_text:
        log.debug("%s", detail_text)
    _present(parent, title, message, detail_text)
    if message != same.split("\n", 1)[1]:
        _crash_dialogs[same] = f"{title}\n{message}"


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
