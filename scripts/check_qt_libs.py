"""Before ``make run`` opens the window: are the system libraries Qt's X11 (xcb) plugin needs there?

Qt's own message names only the first library it misses (on a fresh Debian it said
``libxcb-cursor0`` while ``libxcb-icccm4`` and ``libxcb-keysyms1`` were missing too). This asks
the dynamic linker about the real plugin of the installed PySide6 (``ldd`` lists every library it
cannot find, directly or through Qt's own libraries) and the linker cache (``ldconfig -p``) about
the libraries the xcb plugin opens, and prints ONE ``apt-get install`` line with every missing
Debian/Ubuntu package. Exit status 1 when something is missing, 0 otherwise (also off Linux, or
when the session uses no X11: ``QT_QPA_PLATFORM`` set to another platform).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# soname -> the Debian/Ubuntu package that provides it (Qt 6's xcb plugin and what it links)
PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libICE.so.6": "libice6",
    "libSM.so.6": "libsm6",
}
# the ones the plugin opens (some through libraries that ldd cannot follow while they are missing)
XCB_SONAMES = ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-image.so.0",
               "libxcb-render-util.so.0", "libxcb-xkb.so.1", "libxkbcommon-x11.so.0", "libxcb-shape.so.0",
               "libxcb-randr.so.0", "libxcb-xfixes.so.0", "libxcb-sync.so.1")

_NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.M)


def plugin_path() -> Path | None:
    """The xcb platform plugin of the installed PySide6 (None when PySide6 has none)."""
    import PySide6

    p = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return p if p.is_file() else None


def not_found(ldd_output: str) -> set[str]:
    """The sonames ``ldd`` could not find."""
    return set(_NOT_FOUND.findall(ldd_output))


def absent(ldconfig_output: str, sonames: tuple[str, ...] = XCB_SONAMES) -> set[str]:
    """Of ``sonames``, those the linker cache (``ldconfig -p``) does not list."""
    listed = {line.split()[0] for line in ldconfig_output.splitlines()[1:] if line.strip()}
    return {s for s in sonames if s not in listed}


def apt_line(missing: set[str]) -> str:
    """``sudo apt-get install ...`` for ``missing`` sonames (unknown ones named as they are)."""
    pkgs = sorted({PACKAGES.get(s, s) for s in missing})
    return "sudo apt-get install " + " ".join(pkgs)


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def missing_libraries() -> set[str]:
    """Every library the xcb plugin needs that this system lacks, as sonames."""
    plugin = plugin_path()
    missing: set[str] = set()
    if plugin is not None and shutil.which("ldd"):
        missing |= not_found(_run(["ldd", str(plugin)]))
    ldconfig = shutil.which("ldconfig") or ("/sbin/ldconfig" if Path("/sbin/ldconfig").exists() else None)
    if ldconfig:
        cache = _run([ldconfig, "-p"])
        if cache:  # an empty answer (no permission, odd system) proves nothing
            missing |= absent(cache)
    return missing


def main() -> int:
    if not sys.platform.startswith("linux"):
        return 0
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return 0  # offscreen, wayland...: the xcb plugin is not loaded
    missing = missing_libraries()
    if not missing:
        return 0
    print("dcgui's window needs system libraries that Qt's X11 plugin loads and this system lacks:\n  "
          + ", ".join(sorted(missing)) + "\nInstall them with (Debian/Ubuntu):\n  " + apt_line(missing),
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
