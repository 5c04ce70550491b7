"""Build the one-folder dcgui bundle with PyInstaller and install the desktop entry beside it.

Usage (from the repository root): ``python packaging/build_bundle.py [--install-desktop]``
Result: ``dist/dcgui/`` (run ``dist/dcgui/dcgui``). ``--install-desktop`` copies the .desktop file
and icon into ~/.local/share so the app appears in the desktop menu.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--install-desktop", action="store_true", help="install the .desktop entry and icon for this user")
    args = parser.parse_args()
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        print("PyInstaller is missing: run `PIP_FIND_LINKS= .venv/bin/pip install -c requirements/constraints.txt "
              "-e '.[package]'` first", file=sys.stderr)
        return 2
    subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--distpath", str(ROOT / "dist"),
         "--workpath", str(ROOT / "build" / "pyinstaller"), str(ROOT / "packaging" / "dcgui.spec")],
        check=True,
    )
    bundle = ROOT / "dist" / "dcgui"
    shutil.copy2(ROOT / "packaging" / "dcgui.desktop", bundle / "dcgui.desktop")
    print(f"bundle ready: {bundle}/dcgui")
    if args.install_desktop:
        apps = Path.home() / ".local/share/applications"
        icons = Path.home() / ".local/share/icons/hicolor/256x256/apps"
        apps.mkdir(parents=True, exist_ok=True)
        icons.mkdir(parents=True, exist_ok=True)
        text = (ROOT / "packaging" / "dcgui.desktop").read_text().replace("Exec=dcgui", f"Exec={bundle}/dcgui")
        (apps / "dcgui.desktop").write_text(text)
        shutil.copy2(ROOT / "resources" / "icons" / "dcgui.png", icons / "dcgui.png")
        print(f"desktop entry installed: {apps / 'dcgui.desktop'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
