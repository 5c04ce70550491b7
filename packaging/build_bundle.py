"""Build the one-folder dcgui bundle with PyInstaller, check it, and optionally register it with
the desktop.

Usage (from the repository root): ``python packaging/build_bundle.py [--install-desktop]``
Result: ``dist/dcgui/`` (run ``dist/dcgui/dcgui``; it takes the same sub-commands as the installed
``dcgui``). After the build, ``check_bundle.py`` verifies that every library dcgui loads is inside
and prints the size; a failed check fails the build. ``--install-desktop`` then registers the bundle
for this user (menu entry, icon, ``*.dcgui`` file type); ``--uninstall-desktop`` (alone, without a
build) removes that registration.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--install-desktop", action="store_true",
                        help="after the build, register the bundle with the desktop for this user")
    parser.add_argument("--uninstall-desktop", action="store_true",
                        help="remove the desktop registration (no build)")
    args = parser.parse_args()
    if args.uninstall_desktop:
        from dcgui import desktop

        print("\n".join(desktop.uninstall().lines()))
        return 0
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        print("PyInstaller is missing: run `PIP_FIND_LINKS= .venv/bin/pip install -c requirements/constraints.txt "
              "-e '.[package]'` first", file=sys.stderr)
        return 2
    bundle = ROOT / "dist" / "dcgui"
    subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", str(ROOT / "dist"), "--workpath", str(ROOT / "build" / "pyinstaller"),
         str(ROOT / "packaging" / "dcgui.spec")],
        check=True,
    )
    check = subprocess.run([sys.executable, str(ROOT / "packaging" / "check_bundle.py"), str(bundle)], check=False)
    if check.returncode != 0:
        print(f"bundle check failed: {bundle} is incomplete", file=sys.stderr)
        return 1
    print(f"bundle ready: {bundle}/dcgui")
    if args.install_desktop:
        from dcgui import desktop

        print("\n".join(desktop.install(bundle / "dcgui").lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
