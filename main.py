"""dcgui desktop app: ``python main.py [--demo] [SESSION]``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dcgui",
        description="DeepCluster on your own photos: train, watch the clusters form, browse, curate, export.",
    )
    parser.add_argument("session", nargs="?", metavar="SESSION", help="a .dcgui session file to open")
    parser.add_argument("--demo", action="store_true",
                        help="open the bundled demo collection (4,000 Fashion-MNIST images) and train it")
    from dcgui.qtargs import split_qt_options

    own, qt_args = split_qt_options(list(sys.argv[1:] if argv is None else argv))
    args, unknown = parser.parse_known_args(own)
    qt_args += unknown  # any other option is left to Qt, which ignores what it does not know
    if args.demo and args.session:
        parser.error("give either --demo or a SESSION, not both")

    from dcgui.gui.app import run_gui

    return run_gui(qt_args, demo=args.demo, session=args.session)


if __name__ == "__main__":
    raise SystemExit(main())
