"""Register dcgui with the desktop for one user: the menu entry, its icon, and the session file type.

``install(command)`` writes into the user's XDG data folder (``$XDG_DATA_HOME``, by default
``~/.local/share``)::

    applications/dcgui.desktop               menu entry; opens the session file it is given (%f)
    icons/hicolor/256x256/apps/dcgui.png     the icon (and scalable/apps/dcgui.svg)
    mime/packages/dcgui.xml                  application/x-dcgui-session: *.dcgui files

then refreshes the MIME database (``update-mime-database``) and, where their tools are installed,
the desktop-entry and icon caches, so a file manager opens a double-clicked ``.dcgui`` file in dcgui.
``uninstall()`` removes those files again, and only those that dcgui wrote: a file changed or put
there by someone else is kept and reported. No Qt here: the bundle and the CLI both use it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs.unix

from dcgui.core.errors import DcguiError
from dcgui.core.fsutil import atomic_write_bytes

MIME_TYPE = "application/x-dcgui-session"
DESKTOP_FILE = "dcgui.desktop"
MIME_FILE = "dcgui.xml"
# Written into the files dcgui generates: uninstall removes only files that carry it.
MARKER = "X-dcgui-Installed-By=dcgui --install-desktop"
XML_MARKER = "<!-- Written by the dcgui desktop installer, which removes it on uninstall. -->"  # no "--" inside
ICONS = (("dcgui.png", "256x256"), ("dcgui.svg", "scalable"))

# Characters that force an Exec argument into double quotes (Desktop Entry spec, "The Exec key").
_RESERVED = set(" \t\"'\\><~|&;$*?#()`")


@dataclass
class DesktopReport:
    """What ``install``/``uninstall`` did, for the command to print."""

    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # not written by dcgui: left alone
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"wrote {p}" for p in self.written] + [f"removed {p}" for p in self.removed]
        out += [f"kept {p} (not written by dcgui)" for p in self.kept]
        return out + self.notes


def data_home() -> Path:
    """``$XDG_DATA_HOME`` if set to an absolute path (as the XDG spec says), else ~/.local/share."""
    env = os.environ.get("XDG_DATA_HOME", "")
    if env and not os.path.isabs(env):  # the spec says to ignore a relative one; platformdirs would use it
        return Path.home() / ".local" / "share"
    return Path(platformdirs.unix.Unix().user_data_dir)  # the XDG rules on every OS: .desktop files are Linux's


def default_command() -> Path:
    """The executable a double-click should start: the bundle itself, or the ``dcgui`` script."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve()
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "dcgui" and script.is_file():
        return script.resolve()
    found = shutil.which("dcgui")
    if found is None:
        raise DcguiError("cannot find the dcgui command to register: install dcgui (pip install .) "
                         "or run --install-desktop from the bundle (dist/dcgui/dcgui --install-desktop)")
    return Path(found).resolve()


def exec_quote(arg: str) -> str:
    """``arg`` as one argument of a desktop entry's Exec key (quoting, then the string escapes)."""
    if "\n" in arg or "\r" in arg:
        raise DcguiError(f"{arg!r}: a path with a line break cannot go into a desktop entry; move dcgui "
                         "to a folder without one")
    if arg and not set(arg) & _RESERVED:
        quoted = arg
    else:
        quoted = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
    # "%" is a field code unless doubled; the string-value escape of "\" applies on top of quoting.
    return quoted.replace("%", "%%").replace("\\", "\\\\")


def _string_value(text: str) -> str:
    """A desktop entry string value (TryExec, Path): backslash and control characters escaped."""
    return text.replace("\\", "\\\\").replace("\t", "\\t")


def desktop_entry(command: Path) -> str:
    """The text of ``dcgui.desktop`` that runs ``command`` on the file it is given."""
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.5",
        "Name=dcgui",
        "GenericName=DeepCluster image explorer",
        "Comment=Train DeepCluster on a folder of your photos, browse the clusters, export the backbone",
        f"TryExec={_string_value(str(command))}",
        f"Exec={exec_quote(str(command))} %f",
        "Icon=dcgui",
        "Terminal=false",
        "Categories=Graphics;Science;ArtificialIntelligence;Education;",
        f"MimeType={MIME_TYPE};",
        "Keywords=clustering;unsupervised;deep learning;photos;curation;",
        "StartupWMClass=dcgui",
        MARKER,
        "",
    ])


def mime_package() -> str:
    """shared-mime-info XML for ``*.dcgui``. A session is an SQLite file, and says so (sub-class
    of SQLite): file managers still offer SQLite tools among the "open with" choices."""
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        XML_MARKER,
        '<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">',
        f'  <mime-type type="{MIME_TYPE}">',
        "    <comment>dcgui session</comment>",
        '    <sub-class-of type="application/vnd.sqlite3"/>',
        '    <icon name="dcgui"/>',
        '    <glob pattern="*.dcgui" weight="80"/>',
        "  </mime-type>",
        "</mime-info>",
        "",
    ])


def _targets(data: Path) -> dict[str, Path]:
    hicolor = data / "icons" / "hicolor"
    targets = {name: hicolor / size / "apps" / name for name, size in ICONS}
    targets[DESKTOP_FILE] = data / "applications" / DESKTOP_FILE
    targets[MIME_FILE] = data / "mime" / "packages" / MIME_FILE
    return targets


def _icon_sources() -> dict[str, Path]:
    from dcgui.core.images.demo import resources_dir

    folder = resources_dir() / "icons"
    return {name: folder / name for name, _ in ICONS}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refresh_caches(data: Path, report: DesktopReport) -> None:
    """Rebuild the caches file managers read; each tool is optional (the XML alone serves Qt)."""
    steps = [(["update-mime-database", str(data / "mime")], data / "mime" / "packages"),
             (["update-desktop-database", "-q", str(data / "applications")], data / "applications")]
    cache = data / "icons" / "hicolor" / "icon-theme.cache"
    if cache.exists():  # a stale icon cache hides new icons; without one, themes scan the folder
        steps.append((["gtk-update-icon-cache", "-q", "-f", "-t", str(cache.parent)], cache.parent))
    for cmd, folder in steps:
        if not folder.is_dir():
            continue
        if shutil.which(cmd[0]) is None:
            report.notes.append(f"{cmd[0]} is not installed: its cache was not refreshed")
            continue
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or "Failed" in done.stderr:  # update-mime-database: 0 on a bad XML
            report.notes.append(f"{cmd[0]} failed: {(done.stderr or done.stdout).strip()}")


def install(command: Path | None = None, data: Path | None = None) -> DesktopReport:
    """Register ``command`` (default: this dcgui) as the desktop app for ``*.dcgui`` sessions."""
    command = (command or default_command()).resolve()
    if not command.is_file() or not os.access(command, os.X_OK):
        raise DcguiError(f"{command}: not an executable file; give the dcgui executable to register")
    data = data or data_home()
    targets = _targets(data)
    report = DesktopReport()
    texts = {DESKTOP_FILE: desktop_entry(command), MIME_FILE: mime_package()}
    for name, text in texts.items():
        _write_ours(targets[name], text.encode(), report, own=_has_marker)
    for name, source in _icon_sources().items():
        if source.is_file():
            _write_ours(targets[name], source.read_bytes(), report, own=functools.partial(_same_icon, source=source))
        else:
            report.notes.append(f"icon {source} not found: the menu shows a generic icon")
    _refresh_caches(data, report)
    return report


def uninstall(data: Path | None = None) -> DesktopReport:
    """Remove what ``install`` wrote (files changed or made by others stay), then refresh caches."""
    data = data or data_home()
    report = DesktopReport()
    sources = _icon_sources()
    for name, target in _targets(data).items():
        if not target.exists() and not target.is_symlink():
            continue
        source = sources.get(name)
        ours = _has_marker(target) if source is None else _same_icon(target, source)
        if ours:
            target.unlink()
            report.removed.append(target)
        else:
            report.kept.append(target)
    if not report.removed and not report.kept:
        report.notes.append(f"nothing to remove: dcgui was not registered in {data}")
    _refresh_caches(data, report)
    return report


def _has_marker(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return MARKER in text or XML_MARKER in text


def _same_icon(path: Path, source: Path) -> bool:
    """An icon counts as dcgui's when its bytes are the icon dcgui ships."""
    if path.is_symlink() or not path.is_file() or not source.is_file():
        return False
    return _digest(path) == _digest(source)


def _write_ours(target: Path, content: bytes, report: DesktopReport, own: Callable[[Path], bool]) -> None:
    """Write ``target`` unless a file that dcgui did not write is already there."""
    if (target.exists() or target.is_symlink()) and not own(target):
        report.kept.append(target)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, content)
    report.written.append(target)
