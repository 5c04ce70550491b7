"""File ▸ Export report… and File ▸ Compare with… on real sessions, offscreen: the report is
written on a worker with a progress bar and logged in the session; the comparison draws one
curve per run and highlights the settings that differ."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings

from dcgui.core.config import TrainConfig
from dcgui.gui import show_method
from dcgui.gui.session_model import SessionModel
from dcgui.store import SessionStore
from tests.conftest import copy_session


@pytest.fixture(autouse=True)
def _settings(tmp_path: Path) -> None:
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))


def test_export_report_from_the_window(qtbot: Any, curation_session: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QWidget

    session = copy_session(curation_session, tmp_path)
    store = SessionStore.open(session)
    model = SessionModel()
    model.open(store)
    parent = QWidget()
    qtbot.addWidget(parent)
    out = tmp_path / "r.html"
    monkeypatch.setattr(show_method, "ask_report_path", lambda _p, suggested: out)
    dialog = show_method.export_report(parent, model)
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=120_000)
    assert out.is_file() and "Clusters at epoch 2" in out.read_text()
    assert dialog.progress.value() == dialog.progress.maximum() > 0
    assert store.exports()[-1]["kind"] == "report"
    # into the session's data folder: refused before any work starts
    monkeypatch.setattr(show_method, "ask_report_path", lambda _p, s: session.with_name(session.name + ".d") / "r.html")
    shown: list[str] = []
    monkeypatch.setattr(show_method.errors, "show_error", lambda _p, exc, title: shown.append(str(exc)))
    assert show_method.export_report(parent, model) is None
    assert shown and "would destroy the session" in shown[0]
    model.open(None)
    store.close()


def test_compare_dialog_shows_every_run_and_the_differences(qtbot: Any, curation_session: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = copy_session(curation_session, tmp_path / "a")
    b = copy_session(curation_session, tmp_path / "b")
    with SessionStore.open(b) as s:
        s.set_config(TrainConfig(**{**s.config.to_dict(), "lr": 0.5}))
    dialog = show_method.CompareDialog([a, b])
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.comparison is not None, timeout=60_000)
    names = [item.name() for item in dialog.plots["stability"].getPlotItem().listDataItems()]
    assert names == ["a/s NMI", "a/s AMI", "b/s NMI", "b/s AMI"]
    settings = {dialog.settings.item(r, 0).text(): r for r in range(dialog.settings.rowCount())}
    lr_row, k_row = settings["lr"], settings["k"]
    assert dialog.settings.item(lr_row, 2).text() == "0.5"
    assert dialog.settings.item(lr_row, 1).font().bold() and not dialog.settings.item(k_row, 1).font().bold()
    assert not dialog.warning.isVisible() and dialog.save_button.isEnabled()
