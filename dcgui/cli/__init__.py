"""The ``dcgui`` command: the window by default, and headless sub-commands.

    dcgui [SESSION]            open the window (``--demo``: on the bundled demo collection)
    dcgui gui [SESSION]        the same, by name
    dcgui --install-desktop    menu entry, icon and *.dcgui file type for this user (``--uninstall-desktop``)
    dcgui train FOLDER --session S.dcgui      train (or resume) DeepCluster on a folder of photos
    dcgui info S.dcgui [--json]               settings, images, per-epoch metrics
    dcgui clusters S.dcgui --csv OUT          cluster of every image at an epoch
    dcgui embed S.dcgui FOLDER --out F.npz    features of any folder of images
    dcgui export S.dcgui --format onnx --out backbone.onnx
    dcgui curate S.dcgui --out DIR [--copy|--symlink|--move] [--dry-run]
    dcgui similar | duplicates | outliers | map | eval ...
    dcgui merge S.dcgui 3 7 --name pets | split S.dcgui 12 --into 3
    dcgui edits S.dcgui | undo S.dcgui [--steps N] | redo S.dcgui
    dcgui relink S.dcgui NEWFOLDER            the photos moved: point the session at them

One module per sub-command (``dcgui/cli/<name>.py``) with ``register(subparsers)``, which adds
its parser and sets ``func(args) -> int``; a new command is one new module named in
``COMMANDS``. What they share is in ``dcgui.cli.common``; what joins a session to the engine
in ``dcgui.services``.

Errors meant for the user (``dcgui.core.errors.DcguiError``, raised on purpose) print one line
``dcgui: error: ...`` and exit with status 2. Any other exception is a bug: its traceback is
printed and written to a crash log whose path is named, and the status is 1. Notes that are not
errors (``dcgui.services.folder.notices``) print as ``dcgui: note: ...``. Progress bars go to
stderr (only on a terminal); results go to stdout.
"""

from __future__ import annotations

import argparse
import importlib
import io
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dcgui._version import __version__
from dcgui.cli import desktop
from dcgui.cli.common import EXIT_INTERRUPTED, EXIT_USAGE, Progress, err
from dcgui.core.errors import USER_ERRORS, user_message, write_crash_log
from dcgui.qtargs import split_qt_options

__all__ = ["COMMANDS", "Progress", "build_parser", "main"]

# In the order ``dcgui --help`` lists them.
COMMANDS = ("train", "info", "clusters", "embed", "export", "curate", "gui",
            "similar", "duplicates", "outliers", "map", "eval",
            "merge", "split", "flag", "edits", "undo", "redo", "relink", "report", "compare")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dcgui",
        description="DeepCluster (Caron et al., ECCV 2018) on your own photos. Without a sub-command, "
        "opens the window.",
        epilog="Examples:\n"
        "  dcgui --demo                                   open the window on the demo collection\n"
        "  dcgui photos.dcgui                             open the window on a session\n"
        "  dcgui train ~/Photos --session photos.dcgui --epochs 20\n"
        "  dcgui info photos.dcgui\n"
        "  dcgui clusters photos.dcgui --csv clusters.csv\n"
        "  dcgui export photos.dcgui --format onnx --out backbone.onnx\n"
        "  dcgui curate photos.dcgui --out ~/Sorted --copy --dry-run\n"
        "Run `dcgui COMMAND --help` for each command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dcgui {__version__}")
    parser.add_argument("--demo", action="store_true", help="open the window on the bundled demo collection")
    desktop.add_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"dcgui.cli.{name}").register(sub)
    return parser


def _printable_output() -> None:
    """File names that are not valid UTF-8 print as ``caf\\xe9.jpg`` instead of failing the command."""
    from dcgui.core.pathtext import PRINTABLE

    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors != PRINTABLE:
            stream.reconfigure(errors=PRINTABLE)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dcgui`` command; returns the exit status."""
    from dcgui.cli.gui import run_window

    argv = list(sys.argv[1:] if argv is None else argv)
    _printable_output()
    parser = build_parser()
    if argv and argv[0] == "gui":  # Qt's options with a value must not be read as the SESSION
        own, qt = split_qt_options(argv[1:])
        argv = ["gui", *own, *qt]
    window = _window_request(argv)
    if window is not None:
        qt_args, demo, session = window
        if demo and session:
            err("error: give either --demo or a SESSION, not both")
            return EXIT_USAGE
        return run_window(qt_args, demo=demo, session=session)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None and desktop.requested(args):
        func = desktop.run
    if func is None:
        parser.print_usage(sys.stderr)
        err("error: give a COMMAND, a SESSION file, or no argument (the window)")
        return EXIT_USAGE
    try:
        with _notes_on_stderr():
            return func(args)
    except USER_ERRORS as exc:
        err(f"error: {user_message(exc)}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: the traceback, kept in a log the user can send
        return _crash(exc, argv)


EXIT_CRASH = 1


def _crash(exc: Exception, argv: list[str]) -> int:
    import traceback

    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    log = write_crash_log(exc, "command: " + " ".join(["dcgui", *argv]))
    where = f"The report is in {log}" if log else "The traceback above is the report"
    err(f"internal error (a bug in dcgui, not something you did): {type(exc).__name__}: {exc}. "
        f"{where}; please send it with the issue. Files written before the error are kept")
    return EXIT_CRASH


class _StderrNotes(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        err(f"note: {record.getMessage()}")  # the stderr of now (tests capture it)


@contextmanager
def _notes_on_stderr() -> Iterator[None]:
    from dcgui.services.folder import notices

    handler = _StderrNotes(logging.INFO)
    notices.addHandler(handler)
    notices.setLevel(logging.INFO)
    notices.propagate = False
    try:
        yield
    finally:
        notices.removeHandler(handler)


def _window_request(argv: list[str]) -> tuple[list[str], bool, str | None] | None:
    """``dcgui [--demo] [SESSION] [Qt options]`` asks for the window: ``(Qt's arguments, demo,
    session)``; None when ``argv`` names a sub-command or one of dcgui's own options.

    A SESSION is a name ending in ``.dcgui`` or an existing file (what a file manager passes on a
    double-click); anything else (``dcgui tarin``) is left to argparse, which names the commands.
    """
    if argv and argv[0] in (*COMMANDS, "-h", "--help", "--version", *desktop.FLAGS):
        return None
    own, qt = split_qt_options(argv)
    gui = argparse.ArgumentParser(prog="dcgui", add_help=False)
    gui.add_argument("--demo", action="store_true")
    gui.add_argument("session", nargs="?")
    known, rest = gui.parse_known_args(own)
    if set(rest) & {*COMMANDS, *desktop.FLAGS, "-h", "--help"}:
        return None
    session: str | None = known.session
    if session is not None and (session in COMMANDS
                                or not (session.lower().endswith(".dcgui") or Path(session).is_file())):
        return None
    # Qt's options (e.g. -style fusion) and unknown ones go to Qt, which ignores what it does not know
    return qt + rest, known.demo, session
