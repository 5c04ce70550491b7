"""Start the desktop application: ``run_gui()`` (used by ``main.py`` and ``dcgui gui``)."""

from __future__ import annotations

import importlib
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from dcgui import __version__
from dcgui.gui import errors, theme

if TYPE_CHECKING:
    from dcgui.gui.main_window import MainWindow

APP_NAME = "dcgui"
ORG_NAME = "dcgui"
ORG_DOMAIN = "dcgui.org"


def icon_dir() -> Path:
    """``resources/icons`` (source checkout, or the bundle's copy; see ``demo.resources_dir``)."""
    from dcgui.core.images.demo import resources_dir

    return resources_dir() / "icons"


def app_icon() -> QIcon:
    icon = QIcon()
    for name in ("dcgui.svg", "dcgui.png"):
        path = icon_dir() / name
        if path.is_file():
            icon.addFile(str(path))
    return icon


def set_app_identity() -> None:
    """Names QSettings uses for the per-user settings file."""
    QCoreApplication.setApplicationName(APP_NAME)
    QCoreApplication.setOrganizationName(ORG_NAME)
    QCoreApplication.setOrganizationDomain(ORG_DOMAIN)
    QCoreApplication.setApplicationVersion(__version__)


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication with dcgui's identity, icon and saved theme (reused if one exists).

    ``argv``: Qt's own options (``-style fusion``, ``-platform offscreen``...), without the
    program name.
    """
    existing = QApplication.instance()
    if existing is None:
        # Fractional scale factors (125 %, 150 %) as they are: no rounding to whole pixels.
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        program = sys.argv[0] if sys.argv and sys.argv[0] else APP_NAME
        app = QApplication([program, *(argv or [])])
    elif isinstance(existing, QApplication):
        app = existing
    else:
        raise RuntimeError("a non-widget Qt application already exists in this process")
    set_app_identity()
    app.setApplicationDisplayName(APP_NAME)
    QGuiApplication.setDesktopFileName(APP_NAME)  # the Wayland / taskbar icon from dcgui.desktop
    app.setWindowIcon(app_icon())
    theme.apply_theme(app, persist=False)
    return app


# Modules the first training (or scan) needs. Importing torch loads large C++ libraries while
# holding the GIL: done in the worker at "Start", the window would stall for up to a second.
_WARM_MODULES = ("torch", "torchvision", "faiss", "dcgui.core.train.engine", "dcgui.services.training", "dcgui.core.device")
warmed_up = threading.Event()


def warm_up_imports() -> threading.Thread:
    """Import the engine's heavy modules in the background while the user reads the start page.

    Not a daemon thread: interpreter shutdown in the middle of a C-extension import can crash,
    so a quit right after launch waits for the import to finish.
    """

    def run() -> None:
        try:
            for name in _WARM_MODULES:
                try:
                    importlib.import_module(name)
                except Exception:  # the real import (in the worker) reports the problem to the user
                    errors.log.debug("warm-up import of %s failed", name, exc_info=True)
            # Pillow imports its ~40 format plugins on the first Image.open: in the decode threads
            # of the first cache build that stalled the window for half a second.
            from PIL import Image

            Image.init()
        finally:
            warmed_up.set()

    thread = threading.Thread(target=run, name="dcgui-warm-up")
    thread.start()
    return thread


def install_terminate_handler(window: MainWindow) -> Callable[[], None]:
    """SIGTERM (a logout, ``kill``) behaves like Ctrl-C in ``dcgui train``: training stops after
    the current batch, every finished epoch is kept, and the window closes. Returns a function
    that restores the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: object) -> None:
        print("dcgui: SIGTERM received: stopping training after the current batch (finished epochs "
              "are saved), then quitting", file=sys.stderr)
        QTimer.singleShot(0, window.terminate)

    previous = signal.signal(signal.SIGTERM, handler)
    # Python runs signal handlers between bytecodes only: while Qt's loop waits in C++, a
    # quiet timer gives it the chance to.
    tick = QTimer(window)
    tick.timeout.connect(lambda: None)
    tick.start(250)

    def restore() -> None:
        tick.stop()
        signal.signal(signal.SIGTERM, previous)

    return restore


def run_gui(argv: list[str] | None = None, demo: bool = False, session: str | None = None) -> int:
    """Open the main window; ``demo`` opens (and trains) the demo collection, ``session`` a file.

    ``argv``: extra Qt options, without the program name. Returns the application's exit code.
    """
    app = create_application(argv)
    errors.install_excepthook()
    from dcgui.gui.main_window import MainWindow

    window = MainWindow(icon=app.windowIcon())
    restore_sigterm = install_terminate_handler(window)
    window.show()
    QTimer.singleShot(200, warm_up_imports)  # after the first paint
    if session:
        path = Path(session).expanduser()
        QTimer.singleShot(0, lambda: window.open_session(path))
    elif demo:
        QTimer.singleShot(0, window.open_demo)
    try:
        return int(app.exec())
    finally:
        restore_sigterm()
