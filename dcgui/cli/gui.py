"""``dcgui gui [SESSION]``: open the window (also what ``dcgui`` alone does)."""

from __future__ import annotations

import argparse
from typing import Any

from dcgui.cli.common import EXIT_USAGE, add_parser, err


def register(sub: Any) -> None:
    p = add_parser(sub, "gui", help="open the window (optionally on a session)",
                   description="Open the dcgui window, optionally on a session file or on the demo collection.",
                   run=run)
    p.add_argument("session", metavar="SESSION", nargs="?", help="session file to open")
    p.add_argument("--demo", action="store_true", help="open the bundled demo collection")
    p.add_argument("qt_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def run_window(rest: list[str], demo: bool = False, session: str | None = None) -> int:
    """The window's only entry from the command line (the CLI uses nothing else of the GUI)."""
    try:
        from dcgui.gui.app import run_gui
    except ImportError as exc:
        err(f"error: the window cannot start ({exc}); install the GUI dependencies (PySide6, pyqtgraph) "
            "or use the sub-commands (dcgui --help)")
        return EXIT_USAGE
    return run_gui(rest, demo=demo, session=session)


def run(args: argparse.Namespace) -> int:
    return run_window(list(args.qt_args), demo=args.demo, session=args.session)
