"""``dcgui --install-desktop`` / ``dcgui --uninstall-desktop``: register this dcgui with the desktop.

Options of ``dcgui`` itself rather than a sub-command: it is the first thing the user of a bundle
types after unpacking it (``./dcgui --install-desktop``). What is written where, and what
uninstall leaves alone: ``dcgui.desktop``.
"""

from __future__ import annotations

import argparse

FLAGS = ("--install-desktop", "--uninstall-desktop")


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--install-desktop", action="store_true",
                       help="register this dcgui for the current user: menu entry, icon, and *.dcgui "
                            "session files opening in dcgui on double-click (XDG data folder)")
    group.add_argument("--uninstall-desktop", action="store_true",
                       help="remove what --install-desktop wrote")


def requested(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "install_desktop", False) or getattr(args, "uninstall_desktop", False))


def run(args: argparse.Namespace) -> int:
    from dcgui import desktop

    report = desktop.install() if args.install_desktop else desktop.uninstall()
    for line in report.lines():
        print(line)
    return 0
