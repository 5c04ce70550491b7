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
    browser.commands.open_containing_folder()  # "Open folder" / "Show in folder"
    assert opened == [] and len(errors) == 1 and "'../victim.png'" in errors[0]
    browser.commands.copy_selected_paths()
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


# -------------------------------------------------------------------------------------------------
# Issue 20
# -------------------------------------------------------------------------------------------------
def _session_with_images(tmp: Path, folder: Path) -> Path:
    from dcgui.core.images.collection import scan
    from dcgui.store import SessionStore

    path = _make_session(tmp, folder)
    found = scan(folder)
    with SessionStore.open(path) as s:
        s.set_images(found.images, list(found.skipped))
    return path


def test_a_missing_folder_offers_relink_which_checks_the_files(qtbot: Any, env: GuiEnv,  # noqa: F811
                                                               image_folder: Path) -> None:
    import shutil

    from PySide6.QtWidgets import QMessageBox

    from dcgui.store import SessionStore

    path = _session_with_images(env.tmp, image_folder)
    moved = env.tmp / "elsewhere" / "pictures"
    shutil.copytree(image_folder, moved)
    wrong = env.tmp / "wrong"
    shutil.copytree(image_folder, wrong)
    gone = sorted(p for p in wrong.rglob("*.png"))[0]
    gone.unlink()
    shutil.rmtree(image_folder)
    w = _window(qtbot)
    assert w.open_session(path)
    box = w.relink_prompt
    assert box is not None and box.isVisible()
    assert f"The photo folder of photos.dcgui does not exist:\n{image_folder}" in box.text()
    assert w.act_relink.isEnabled()
    env.existing_dir = str(wrong)
    relink = next(b for b in box.buttons() if b.text() == "Relink folder…")
    relink.click()  # -> the folder chooser (answers env.existing_dir) -> the check on a worker
    qtbot.waitUntil(lambda: len(env.errors) == 1, timeout=10_000)
    title, message, _ = env.errors[0]
    assert title == "Cannot relink the folder"
    assert f"1 of {sum(1 for _ in moved.rglob('*.png'))} checked files differ: " \
           f"{gone.relative_to(wrong).as_posix()}: missing" in message
    with SessionStore.open(path, readonly=True) as s:
        assert s.folder == image_folder  # refused: nothing changed
    env.existing_dir = str(moved)
    w.choose_relink_folder()  # File > Relink folder…
    qtbot.waitUntil(lambda: w.store is not None and w.store.folder == moved, timeout=10_000)
    assert w.statusBar().currentMessage().startswith(f"photos.dcgui now uses the photo folder {moved}")
    assert len(env.errors) == 1 and isinstance(box, QMessageBox)
    _close(qtbot, w)


def test_an_error_in_a_view_is_a_crash_report_not_a_lost_file(qtbot: Any, env: GuiEnv,  # noqa: F811
                                                              image_folder: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(env.tmp / "state"))
    path = _session_with_images(env.tmp, image_folder)
    w = _window(qtbot)
    assert w.open_session(path)

    def broken() -> None:
        raise KeyError("a bug in a view")

    monkeypatch.setattr(w.model, "refresh", broken)
    w._data_version = -1  # another process committed: the views refresh
    w.poll()
    assert len(env.errors) == 1
    title, message, details = env.errors[0]
    assert title != "Lost the session file"
    logs = list((env.tmp / "state").rglob("crash-*.log"))
    assert len(logs) == 1 and "KeyError: 'a bug in a view'" in logs[0].read_text()
    assert message == ("Unexpected error (a bug in dcgui): KeyError: 'a bug in a view'\n\n"
                       f"Your session file is safe. The report is in {logs[0]}: please send it with the "
                       "details below.")
    assert "Traceback" in details
    assert w._poll_timer.isActive()  # still following the session file
    _close(qtbot, w)


def test_the_window_settles_a_provisional_config_before_training(tmp_path: Path, image_folder: Path) -> None:
    """Item 15: Ctrl-C during the first `dcgui train` scan leaves a provisional config (k for a
    million images); the window's training job settles it by the same rule as the command line."""
    from dcgui.core.config import default_config
    from dcgui.core.control import RunControl, drain
    from dcgui.gui.worker import training_job
    from dcgui.services import training
    from dcgui.store import SessionStore

    given = {"arch": "smallnet", "image_size": 32, "batch_size": 16, "device": "cpu", "workers": 1,
             "epochs": 1, "seed": 3}
    path = tmp_path / "s.dcgui"
    provisional = default_config(1_000_000, "cpu", None, **given)  # what `dcgui train` stores first
    training.create_session(path, image_folder, provisional, pending=True, overrides=given).close()
    drain(training_job(path)(RunControl()))
    with SessionStore.open(path, readonly=True) as s:
        expected = default_config(s.n_images, "cpu", len(s.label_names()) or None, **given)
        assert not training.config_pending(s)
        assert s.config == expected and s.config.k < s.n_images
        assert s.last_epoch() == 1
