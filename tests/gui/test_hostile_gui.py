"""The window against a doctored session and unsafe outputs (issue 12), with real widgets, a real
session file and real images: rows leading outside the folder are never opened, shown or
handed to the file manager; no export dialog writes over the session; a second trainer is refused."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.gui.test_app_flow import GuiEnv, _close, _make_session, _window, env  # noqa: F401 (fixture)
from tests.gui.test_cluster_browser import browser, errors, session  # noqa: F401 (fixtures)
from tests.store.test_lock import start_holder

pytest.importorskip("pytestqt")


def doctor(store: Any, i: int, path: str) -> None:
    """Rewrite image ``i``'s row from another connection, as an attacker's copy of the file would hold it."""
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE images SET path = ? WHERE idx = ?", (path, i))
    conn.close()


def test_a_doctored_row_is_never_opened_shown_or_revealed(qtbot: Any, browser: Any, session: Any,  # noqa: F811
                                                           errors: list[str], tmp_path: Path,  # noqa: F811
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtGui import QDesktopServices, QGuiApplication

    victim = tmp_path / "victim.png"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(victim)  # a real image: it would decode fine
    row = 0
    i = int(browser.grid_model.image_index(row))
    doctor(session, i, "../victim.png")
    opened: list[Any] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url) or True))
    QGuiApplication.clipboard().setText("before")

    browser.grid.setCurrentIndex(browser.grid_model.index(row))
    view = browser.image_pane.view
    qtbot.waitUntil(lambda: "Cannot show this image" in view._message, timeout=5000)
    assert view.image() is None
    assert f"image {i} '../victim.png': leads outside the folder with '..'" in view._message
    browser.open_containing_folder()  # "Open folder" / "Show in folder"
    assert opened == [] and len(errors) == 1 and "'../victim.png'" in errors[0]
    browser.copy_selected_paths()
    assert QGuiApplication.clipboard().text() == "before"


def test_no_dialog_writes_over_the_session(qtbot: Any, browser: Any, session: Any,  # noqa: F811
                                           errors: list[str]) -> None:  # noqa: F811
    from dcgui.gui import curation
    from dcgui.gui.export_dialog import ExportDialog

    before = hashlib.sha256(session.path.read_bytes()).hexdigest()
    dialog = ExportDialog(session, browser)
    qtbot.addWidget(dialog)
    dialog.set_output(str(session.path))
    dialog.start_export()
    assert dialog._worker is None  # nothing started
    assert "that is the session file s.dcgui" in dialog.result_label.text()

    shown: list[str] = []
    worker = curation.export_assignments_csv(browser, session, 2, shown.append, path=session.path)
    assert worker is None and "that is the session file s.dcgui" in shown[0]
    assert len(errors) == 1

    from dcgui.services.curation import plan_curation

    plan = plan_curation(session, 2, session.data_dir / "export", "copy", [0, 1])
    assert plan.error and "inside s.dcgui.d, the data folder of s.dcgui" in plan.error and not plan.ops
    assert hashlib.sha256(session.path.read_bytes()).hexdigest() == before


def test_the_window_refuses_to_train_a_session_another_process_trains(qtbot: Any, env: GuiEnv,  # noqa: F811
                                                                        image_folder: Path) -> None:
    path = _make_session(env.tmp, image_folder)
    holder = start_holder(path)
    try:
        w = _window(qtbot)
        assert w.open_session(path)
        with qtbot.waitSignal(w.training.runEnded, timeout=60_000) as ended:
            w.training.start()
        assert ended.args == ["error"]
        status = w.training.status_label.text()
        assert status.startswith(f"Training did not start: {path} is being trained by pid {holder.pid}")
        assert len(env.errors) == 1 and "lock_holder.py (a test trainer)" in env.errors[0][1]
        from dcgui.store import SessionStore

        with SessionStore.open(path, readonly=True) as s:
            assert s.last_epoch() == 0 and s.n_images == 0  # the refused trainer wrote nothing
        _close(qtbot, w)
    finally:
        holder.kill()
        holder.wait(10)


def test_the_settings_form_holds_only_valid_seeds(qtbot: Any) -> None:
    """The seed field's bounds are the config's own: the largest valid seed round-trips unchanged
    (a wider field would accept seeds the config refuses; a narrower one would silently clamp)."""
    from dcgui.core.config import SEED_MAX, TrainConfig
    from dcgui.gui.settings_form import SettingsForm

    form = SettingsForm()
    qtbot.addWidget(form)
    seed = form.editors["seed"]
    assert (seed.minimum(), seed.maximum()) == (0, SEED_MAX)
    form.set_config(TrainConfig(seed=SEED_MAX))
    cfg = form.config()
    assert cfg is not None and cfg.seed == SEED_MAX and form.is_valid
    seed.lineEdit().setText("-1")  # typing a negative seed cannot produce one
    assert seed.value() >= 0 and form.config() is not None
