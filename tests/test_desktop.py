"""Desktop integration in a temporary XDG_DATA_HOME: the menu entry, the icons and the session MIME
type are written, recognised by the real shared-mime-info tools and by Qt, and removed again
without touching files dcgui did not write."""

from __future__ import annotations

import configparser
import os
import sqlite3
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dcgui import desktop
from dcgui.core.errors import DcguiError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "xdg data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    return data


def fake_executable(folder: Path) -> Path:
    """A real executable file at a path with a space and a percent sign (both need escaping)."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "dcgui"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def read_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def unescape_exec(value: str) -> list[str]:
    """The argv a desktop launcher builds from an Exec value: the string escapes first, then the
    Exec quoting (inside double quotes a backslash escapes the next character), then "%%"."""
    value = value.replace("\\\\", "\\")
    args: list[str] = []
    current, quoted, i = "", False, 0
    while i < len(value):
        c = value[i]
        if quoted and c == "\\":
            current, i = current + value[i + 1], i + 2
            continue
        if c == '"':
            quoted = not quoted
        elif c == " " and not quoted:
            args.append(current)
            current = ""
        else:
            current += c
        i += 1
    return [a.replace("%%", "%") for a in [*args, current] if a]


def session_mime_type(data: Path, file: Path) -> str:
    """What Qt's MIME database (as a Qt file dialog or file manager sees it) says ``file`` is."""
    code = ("import sys; from PySide6.QtCore import QMimeDatabase; "
            "print(QMimeDatabase().mimeTypeForFile(sys.argv[1]).name())")
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    done = subprocess.run([sys.executable, "-c", code, str(file)], env=env, capture_output=True, text=True,
                          check=True, timeout=120)
    return done.stdout.strip()


def test_exec_quoting_round_trips() -> None:
    for path in ["/opt/dcgui/dcgui", "/home/a b/dcgui", "/x/100%/dcgui", '/x/"q"/$HOME/`b`/back\\slash']:
        line = desktop.exec_quote(path) + " %f"
        assert unescape_exec(line) == [path, "%f"], line
    assert desktop.exec_quote("/opt/dcgui/dcgui") == "/opt/dcgui/dcgui"  # plain paths stay bare
    with pytest.raises(DcguiError, match="line break"):
        desktop.exec_quote("/x/a\nb/dcgui")


def test_install_registers_entry_icon_and_mime_type(data_home: Path, tmp_path: Path) -> None:
    exe = fake_executable(tmp_path / "my apps 100%")
    report = desktop.install(exe)
    entry_path = data_home / "applications" / "dcgui.desktop"
    assert entry_path in report.written and not report.kept
    entry = read_entry(entry_path)
    assert unescape_exec(entry["Exec"]) == [str(exe), "%f"]
    assert entry["TryExec"] == str(exe) and entry["Icon"] == "dcgui" and entry["Type"] == "Application"
    assert entry["MimeType"] == "application/x-dcgui-session;"
    png = data_home / "icons/hicolor/256x256/apps/dcgui.png"
    svg = data_home / "icons/hicolor/scalable/apps/dcgui.svg"
    assert png.read_bytes() == (ROOT / "resources/icons/dcgui.png").read_bytes()
    assert svg.read_bytes() == (ROOT / "resources/icons/dcgui.svg").read_bytes()
    xml = data_home / "mime/packages/dcgui.xml"
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    mime = ET.parse(xml).getroot().find("m:mime-type", ns)
    assert mime is not None and mime.get("type") == "application/x-dcgui-session"
    assert [g.get("pattern") for g in mime.findall("m:glob", ns)] == ["*.dcgui"]
    # installing again (e.g. after moving the bundle) rewrites dcgui's own files in place
    again = desktop.install(exe)
    assert set(again.written) == set(report.written) and not again.kept


@pytest.mark.skipif(not desktop.shutil.which("update-mime-database"), reason="needs shared-mime-info")
def test_session_files_are_recognised_then_forgotten(data_home: Path, tmp_path: Path) -> None:
    session = tmp_path / "photos.dcgui"  # a real SQLite file, as a session is
    with sqlite3.connect(session) as db:
        db.execute("CREATE TABLE t (x)")
    assert session_mime_type(data_home, session) == "application/vnd.sqlite3"
    desktop.install(fake_executable(tmp_path / "bin"))
    assert "application/x-dcgui-session:*.dcgui" in (data_home / "mime/globs2").read_text()
    assert session_mime_type(data_home, session) == "application/x-dcgui-session"
    desktop.uninstall()
    assert "dcgui" not in (data_home / "mime/globs2").read_text()
    assert session_mime_type(data_home, session) == "application/vnd.sqlite3"


def test_uninstall_removes_only_what_dcgui_wrote(data_home: Path, tmp_path: Path) -> None:
    apps = data_home / "applications"
    apps.mkdir(parents=True)
    other = apps / "other.desktop"
    other.write_text("[Desktop Entry]\nName=other\n")
    report = desktop.install(fake_executable(tmp_path / "bin"))
    assert len(report.written) == 4
    # the user replaced the icon with their own: it must survive the uninstall
    own_icon = data_home / "icons/hicolor/scalable/apps/dcgui.svg"
    own_icon.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    removed = desktop.uninstall()
    assert own_icon in removed.kept and own_icon.exists()
    assert len(removed.removed) == 3 and not any(p.exists() for p in removed.removed)
    assert other.read_text() == "[Desktop Entry]\nName=other\n"
    nothing = desktop.uninstall()
    assert not nothing.removed and nothing.kept == [own_icon]


def test_install_never_overwrites_a_foreign_entry(data_home: Path, tmp_path: Path) -> None:
    entry = data_home / "applications" / "dcgui.desktop"
    entry.parent.mkdir(parents=True)
    entry.write_text("[Desktop Entry]\nName=dcgui from my distribution\nExec=/usr/bin/dcgui %f\n")
    report = desktop.install(fake_executable(tmp_path / "bin"))
    assert entry in report.kept and "my distribution" in entry.read_text()
    assert entry in desktop.uninstall().kept and entry.exists()


def test_install_refuses_a_missing_command(data_home: Path, tmp_path: Path) -> None:
    with pytest.raises(DcguiError, match="not an executable"):
        desktop.install(tmp_path / "nowhere" / "dcgui")
    assert not data_home.exists()
