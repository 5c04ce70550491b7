"""The start page reads its recent sessions on the thread pool (issue 21 item 15): the page is
there at once, each row says "checking…" until its file has answered, then its state; opening a
session scans its pages once, not twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from dcgui.core.config import TrainConfig
from dcgui.gui import start_page
from dcgui.gui.app import set_app_identity
from dcgui.gui.start_page import CHECKING, RecentSessions, StartPage
from dcgui.store import SessionStore
from tests.conftest import write_image_folder


@pytest.fixture
def sessions(tmp_path: Path, qapp: QApplication) -> Iterator[list[Path]]:
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    set_app_identity()
    folder = write_image_folder(tmp_path / "photos", n_per_class=1)
    paths = [tmp_path / "a.dcgui", tmp_path / "b.dcgui"]
    for p in paths:
        SessionStore.create(p, folder, TrainConfig(k=2, epochs=7)).close()
        RecentSessions.add(p)
    damaged = tmp_path / "damaged.dcgui"
    damaged.write_bytes(b"not a session at all" * 10)
    RecentSessions.add(damaged)
    yield [*paths, damaged]


def test_recent_sessions_are_checked_off_the_gui_thread(qtbot: Any, sessions: list[Path],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    threads: list[threading.Thread] = []
    real = start_page.session_summary

    def slow(path: Path) -> start_page.SessionSummary:  # a slow disk
        threads.append(threading.current_thread())
        gate.wait(30)
        return real(path)

    monkeypatch.setattr(start_page, "session_summary", slow)
    page = StartPage()  # returns while the disk has not answered
    qtbot.addWidget(page)
    rows = [page.recent_tree.topLevelItem(r) for r in range(page.recent_tree.topLevelItemCount())]
    assert len(rows) == 3 and all(item.text(1) == CHECKING for item in rows) and page.checking
    gate.set()
    qtbot.waitUntil(lambda: not page.checking)
    assert threads and all(t is not threading.main_thread() for t in threads)
    states = {page.recent_tree.topLevelItem(r).text(0): page.recent_tree.topLevelItem(r).text(1)
              for r in range(3)}
    assert states == {"damaged (cannot be read)": "?", "b": "0 / 7", "a": "0 / 7"}


def test_opening_a_session_scans_its_pages_once(qtbot: Any, sessions: list[Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from dcgui.gui.main_window import MainWindow
    from dcgui.store import database

    w = MainWindow()
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: not w.start_page.checking)
    scans: list[bool] = []
    real = database._inspect

    def counted(path: Path, quick_check: bool = True) -> int:
        scans.append(quick_check)
        return real(path, quick_check)

    monkeypatch.setattr(database, "_inspect", counted)
    assert w.open_session(sessions[0])
    assert scans.count(True) == 1
    w.close_session()
