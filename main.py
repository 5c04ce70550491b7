"""dcgui from a source checkout: ``python main.py [--demo] [SESSION]`` opens the window, and
``python main.py COMMAND ...`` runs a sub-command. The same entry point as the installed ``dcgui``
command and the bundle's executable (``dcgui.cli.main``), which PyInstaller starts from here."""

from __future__ import annotations

from dcgui.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
