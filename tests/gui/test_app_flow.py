"""The whole desktop flow on real parts: a generated folder on disk, a real SQLite session, real
training (smallnet, 32 px, k=4) through the real worker thread, the real main window offscreen.

No modal dialog can block: QMessageBox / QFileDialog statics are replaced, the error dialog is
captured, and the "stop training?" question is answered by the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from dcgui.core.config import TrainConfig
from dcgui.core.events import PhaseProgress
from dcgui.gui import errors, main_window, theme
from dcgui.gui.app import set_app_identity
from dcgui.gui.cluster_browser import ClusterBrowser
from dcgui.gui.export_dialog import ExportDialog
from dcgui.gui.main_window import MainWindow
from dcgui.gui.new_session import NewSessionDialog, default_session_path
from dcgui.gui.start_page import RecentSessions
from dcgui.gui.training_panel import IDLE, PAUSED, RUNNING
from dcgui.gui.worker import GeneratorWorker
from dcgui.store import SessionStore
from tests.conftest import write_image_folder

TRAIN_TIMEOUT_MS = 240_000  # two epochs of 32 images take seconds; generous for a loaded CI box
SMALL: dict[str, Any] = dict(arch="smallnet", image_size=32, k=4, batch_size=16, epochs=2)


class GuiEnv:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.errors: list[tuple[str, str, str]] = []
        self.stop_answer = True
        self.asked: list[str] = []
        self.existing_dir = ""
        self.save_file = ""
        self.open_file = ""
        self.demo_answer = "full"
        self.demo_asked: list[tuple[int, int, int, float | None]] = []


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qapp: QApplication) -> Iterator[GuiEnv]:
    e = GuiEnv(tmp_path)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    set_app_identity()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "userdata"))  # platformdirs: the demo goes here
    monkeypatch.setattr(errors, "_present", lambda parent, title, message, details: e.errors.append((title, message, details)))

    def ask(parent: Any, action: str) -> bool:
        e.asked.append(action)
        return e.stop_answer

    monkeypatch.setattr(main_window, "ask_stop_training", ask)

    def ask_demo(parent: Any, last: int, quick: int, full: int, per_epoch: float | None, setup_s: float = 0.0) -> str:
        e.demo_asked.append((last, quick, full, per_epoch))
        return e.demo_answer

    monkeypatch.setattr(main_window, "ask_demo_training", ask_demo)
    for name in ("question", "warning", "information", "critical"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(lambda *a, **k: QMessageBox.StandardButton.Cancel))
    monkeypatch.setattr(QMessageBox, "about", staticmethod(lambda *a, **k: None))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: e.existing_dir))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (e.save_file, "")))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (e.open_file, "")))
    yield e
    theme.apply_theme(qapp, "system", persist=False)


def _window(qtbot: Any) -> MainWindow:
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    return w


def _store(w: MainWindow) -> SessionStore:
    assert w.store is not None
    return w.store


def _browser(w: MainWindow) -> ClusterBrowser:
    """The real cluster browser: a failed build puts an error label in its place."""
    assert isinstance(w.view.clusters, ClusterBrowser), w.view.clusters
    return w.view.clusters


def _worker(w: MainWindow) -> GeneratorWorker:
    assert w.training.worker is not None
    return w.training.worker


def _close(qtbot: Any, w: MainWindow) -> None:
    """Close the window, stopping training if needed, and wait for the worker to end."""
    w.close()
    qtbot.waitUntil(lambda: not w.training.is_busy and not w.isVisible(), timeout=120_000)


def _make_session(tmp: Path, folder: Path, **cfg: Any) -> Path:
    path = tmp / "photos.dcgui"
    SessionStore.create(path, folder, TrainConfig(**{**SMALL, **cfg})).close()
    return path


# -------------------------------------------------------------------------------------------------
def test_new_session_dialog_scans_validates_and_creates(qtbot: Any, env: GuiEnv, image_folder: Path) -> None:
    os.symlink(env.tmp / "nowhere.png", image_folder / "class_0" / "broken.png")
    env.existing_dir = str(image_folder)
    dialog = NewSessionDialog()
    qtbot.addWidget(dialog)
    dialog.choose_folder()  # the (patched) folder chooser answers image_folder
    assert QSettings().value("paths/last_folder") == str(image_folder.parent)
    qtbot.waitUntil(lambda: dialog.scan_result is not None and not dialog.scanning, timeout=60_000)
    text = dialog.scan_label.text()
    assert "32 images found in 4 class folders" in text and "1 file skipped" in text
    assert dialog.skipped_tree.topLevelItemCount() == 1
    skipped_item = dialog.skipped_tree.topLevelItem(0)
    assert skipped_item is not None and skipped_item.text(1) == "broken symbolic link"
    # Smart defaults for 32 images in 4 classes on this machine's device.
    form = dialog.form
    assert form.editors["k"].value() == 6 and form.editors["arch"].currentData() == "smallnet"
    assert form.editors["device"].count() >= 2 and form.editors["k"].toolTip().startswith("Number of k-means")
    # small collection on a CPU: 16 passes per clustering (under 12,500 images); threads left to dcgui
    from dcgui.core.config import suggest_samples_per_epoch
    from dcgui.gui.settings_form import device_type_of

    kind = device_type_of(form.config().device, form._devices)
    assert form.editors["samples_per_epoch"].value() == suggest_samples_per_epoch(32, 128, kind)
    assert kind == "cuda" or form.editors["samples_per_epoch"].value() == 16 * 32
    assert form.editors["threads"].text() == "automatic" and form.config().threads == 0
    assert form.editors["projection"].isChecked() and form.config().projection
    assert dialog.session_path() == default_session_path(image_folder) == image_folder.parent / "photos.dcgui"
    assert dialog.create_button.isEnabled()

    # An invalid value is explained inline (field and fix) and blocks "Create", never raises.
    form.editors["k"].setValue(500)
    assert not dialog.create_button.isEnabled()
    assert "k=500" in form.error_text and "k <= 32" in form.error_text
    assert "bold" in form.labels["k"].styleSheet()
    form.editors["arch"].setCurrentIndex(form.editors["arch"].findData("alexnet_bn"))
    form.editors["k"].setValue(4)
    assert "too small for arch='alexnet_bn'" in form.error_text
    form.editors["arch"].setCurrentIndex(form.editors["arch"].findData("smallnet"))
    form.editors["epochs"].setValue(3)
    assert form.is_valid and form.error_text == ""

    created: list[str] = []
    dialog.sessionCreated.connect(created.append)
    dialog.accept()
    path = image_folder.parent / "photos.dcgui"
    assert created == [str(path)] and path.is_file()
    with SessionStore.open(path, readonly=True) as store:
        assert store.n_images == 32 and store.config.k == 4 and store.config.epochs == 3
        assert store.skipped() == [("class_0/broken.png", "broken symbolic link")]
        assert store.label_names() == ["class_0", "class_1", "class_2", "class_3"]
    # The next suggestion does not overwrite the session just made.
    assert default_session_path(image_folder).name == "photos-2.dcgui"


def test_folder_without_images_is_reported_inline(qtbot: Any, env: GuiEnv) -> None:
    empty = env.tmp / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    dialog = NewSessionDialog(folder=empty)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: not dialog.scanning, timeout=60_000)
    assert str(empty) in dialog.scan_label.text() and not dialog.create_button.isEnabled()
    assert env.errors == []  # an expected outcome, not an error dialog


def test_scan_can_be_cancelled(qtbot: Any, env: GuiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import dcgui.core.images.collection

    def endless_scan(folder: Path, control: Any = None) -> Any:
        found = 0
        while True:  # a huge folder on a slow disk
            time.sleep(0.01)
            if control is not None:
                control.check()
            found += 10
            yield PhaseProgress("scan", found, 0)

    monkeypatch.setattr(dcgui.core.images.collection, "iter_scan", endless_scan)
    dialog = NewSessionDialog(folder=env.tmp)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "images found" in dialog.scan_label.text(), timeout=30_000)
    assert dialog.scanning and not dialog.cancel_scan_button.isHidden()
    dialog.cancel_scan_button.click()
    qtbot.waitUntil(lambda: not dialog.scanning, timeout=10_000)
    assert "cancelled" in dialog.scan_label.text() and not dialog.create_button.isEnabled()
    assert dialog.cancel_scan_button.isHidden() and env.errors == []


def test_train_watch_export_reopen(qtbot: Any, env: GuiEnv, image_folder: Path) -> None:
    w = _window(qtbot)
    w.new_session()
    dialog = w.findChild(NewSessionDialog)
    assert dialog is not None
    dialog.set_folder(image_folder)
    qtbot.waitUntil(lambda: dialog.scan_result is not None and not dialog.scanning, timeout=60_000)
    form = dialog.form
    form.editors["k"].setValue(4)
    form.editors["epochs"].setValue(2)
    form.editors["batch_size"].setValue(16)
    form.editors["image_size"].setValue(32)
    assert dialog.start_check.isChecked()
    progress: list[PhaseProgress] = []
    with qtbot.waitSignal(w.training.stateChanged, timeout=10_000):
        dialog.accept()  # creates the file, opens it, starts training
    _worker(w).event.connect(lambda ev: progress.append(ev) if isinstance(ev, PhaseProgress) else None)
    assert w.session_path == image_folder.parent / "photos.dcgui"
    with qtbot.waitSignal(w.training.runEnded, timeout=TRAIN_TIMEOUT_MS) as ended:
        pass
    assert ended.args == ["finished"], env.errors
    assert env.errors == []

    # Plots, epoch control and cluster browser show the two epochs.
    plots = w.view.plots
    x, loss = plots.curves["loss"].getData()
    assert list(x) == [1.0, 2.0] and np.isfinite(loss).all()
    nx, ny = plots.curves["nmi_prev"].getData()
    assert list(nx[np.isfinite(ny)]) == [2.0]  # epoch 1 has no NMI(t-1, t)
    assert len(plots.curves["nmi_labels"].getData()[0]) == 2  # the class folders are labels
    assert plots.curves["sizes"].yData.sum() == 32
    assert w.epoch == 2 and w.view.epoch_spin.maximum() == 2
    assert _browser(w).epoch == 2
    assert {p.phase for p in progress} >= {"features", "training"}
    assert "Finished: 2 epochs" in w.training.status_label.text()
    assert w.training.start_action.text() == "Resume training"

    # Browsing back in time stops following live; every tab moves together.
    w.view.epoch_spin.setValue(1)
    assert w.epoch == 1 and plots.epoch == 1 and not w.view.follow_check.isChecked()
    assert _browser(w).epoch == 1

    # Export the backbone of epoch 2 (ONNX is covered by the export module's own tests).
    out = env.tmp / "backbone.pt"
    dialog2 = ExportDialog(_store(w), w, epoch=2)
    qtbot.addWidget(dialog2)
    assert dialog2.selected_epoch() == 2 and dialog2.epoch_combo.count() == 3  # epochs 2, 1, 0
    dialog2.set_output(out)
    dialog2.start_export()
    assert dialog2._worker is not None
    with qtbot.waitSignal(dialog2._worker.finished, timeout=120_000):
        pass
    assert env.errors == []
    assert out.is_file() and Path(str(out) + ".json").is_file()
    assert "Wrote" in dialog2.result_label.text()
    exports = _store(w).exports()
    assert exports and exports[-1]["kind"] == "backbone-state-dict" and exports[-1]["details"]["epoch"] == 2
    import dcgui

    backbone = dcgui.load_backbone(str(out))
    import torch

    assert backbone(torch.rand(2, 3, 32, 32)).shape[0] == 2

    _close(qtbot, w)
    # Reopening shows everything as it was and offers to resume.
    w2 = _window(qtbot)
    entries = RecentSessions.entries()
    assert entries and entries[0].path == image_folder.parent / "photos.dcgui"
    qtbot.waitUntil(lambda: not w2.start_page.checking)  # each file is read on the thread pool
    recent_item = w2.start_page.recent_tree.topLevelItem(0)
    assert recent_item is not None and recent_item.text(1) == "2 / 2"
    assert w2.open_session(entries[0].path)
    assert list(w2.view.plots.curves["loss"].getData()[0]) == [1.0, 2.0]
    assert w2.epoch == 2 and w2.training.start_action.text() == "Resume training"
    assert w2.training.epochs_spin.value() == 3  # finished at 2: offers one more (it was 4, the target doubled)
    assert "2 epochs trained" in w2.training.status_label.text()
    _close(qtbot, w2)


def test_pause_resume_then_close_while_training(qtbot: Any, env: GuiEnv, image_folder: Path) -> None:
    path = _make_session(env.tmp, image_folder, epochs=200)
    w = _window(qtbot)
    assert w.open_session(path)
    training = w.training
    assert training.start()
    qtbot.waitUntil(lambda: training.epoch_bar.value() > 0 or _store(w).last_epoch() >= 1, timeout=TRAIN_TIMEOUT_MS)

    with qtbot.waitSignal(_worker(w).paused, timeout=60_000):
        training.pause()
    assert training.state == PAUSED and training.start_action.text() == "Resume"
    with qtbot.waitSignal(_worker(w).resumed, timeout=10_000):
        training.start_or_resume()
    assert training.state == RUNNING

    # "Cancel" keeps the window and the training.
    env.stop_answer = False
    w.close()
    assert w.isVisible() and training.is_busy and env.asked == ["quit"]
    # "Stop and quit": stops at the next batch, then closes; nothing hangs.
    env.stop_answer = True
    _close(qtbot, w)
    assert env.asked == ["quit", "quit"] and training.state == IDLE
    assert env.errors == []
    with SessionStore.open(path) as store:
        assert store.integrity_check() == "ok"
        done = store.last_epoch()
        assert done < 200 and len(store.epochs()) == done


def test_follows_a_session_trained_by_another_process(qtbot: Any, env: GuiEnv, image_folder: Path) -> None:
    """A trainer outside the window (the CLI) writes through its own connection; the window's
    1-second data_version poll picks each epoch up."""
    import threading

    from dcgui.services import training as runner

    path = _make_session(env.tmp, image_folder, epochs=2)
    w = _window(qtbot)
    assert w.open_session(path)
    failures: list[BaseException] = []

    def cli() -> None:
        try:
            with SessionStore.open(path) as store:
                for _ev in runner.iter_train(store):
                    pass
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    t = threading.Thread(target=cli, name="fake-cli")
    t.start()
    try:
        qtbot.waitUntil(lambda: w.epoch == 2 or not t.is_alive(), timeout=TRAIN_TIMEOUT_MS)
    finally:
        t.join(TRAIN_TIMEOUT_MS / 1000)
    assert not failures, failures
    qtbot.waitUntil(lambda: w.epoch == 2 or bool(env.errors), timeout=5000)  # one poll after the commit
    assert env.errors == [] and w.epoch == 2
    assert not w.training.is_busy  # the window never trained itself
    assert list(w.view.plots.curves["loss"].getData()[0]) == [1.0, 2.0]
    assert _browser(w).epoch == 2
    _close(qtbot, w)


def test_a_view_seeing_a_new_epoch_first_keeps_following(qtbot: Any, env: GuiEnv, image_folder: Path) -> None:
    """The cluster browser may read a newly committed epoch before the window's poll does and
    report it (epochChanged): that must not count as the user leaving the newest epoch."""
    from dcgui.services import training as runner

    path = _make_session(env.tmp, image_folder, epochs=1)
    with SessionStore.open(path) as store:
        for _ev in runner.iter_train(store):
            pass
    w = _window(qtbot)
    assert w.open_session(path) and w.epoch == 1
    with SessionStore.open(path) as store:  # another process commits epoch 2 (no event loop runs)
        for _ev in runner.iter_train(store, epochs=2):
            pass
    w.model.set_epoch(2)  # a view reports epoch 2 before the poll has seen it
    assert w.epoch == 2 and w.view.follow_check.isChecked()
    assert w.view.epoch_spin.maximum() == 2
    w.model.set_epoch(1)  # the user going back does stop following
    assert w.epoch == 1 and not w.view.follow_check.isChecked()
    _close(qtbot, w)


def test_training_error_reaches_the_error_dialog(qtbot: Any, env: GuiEnv, tmp_path: Path) -> None:
    folder = write_image_folder(tmp_path / "gone", n_per_class=2)
    path = _make_session(tmp_path, folder)
    w = _window(qtbot)
    assert w.open_session(path)
    for f in folder.rglob("*.png"):
        f.unlink()
    with qtbot.waitSignal(w.training.runEnded, timeout=60_000) as ended:
        w.training.start()
    assert ended.args == ["error"]
    assert len(env.errors) == 1
    title, message, details = env.errors[0]
    assert title == "Training stopped" and str(folder) in message and "Traceback" in details
    assert "error" in w.training.status_label.text() and w.training.state == IDLE
    _close(qtbot, w)


def test_open_demo_creates_and_trains_then_reopens(qtbot: Any, env: GuiEnv, image_folder: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import dcgui.core.images.demo

    # The real demo is 4,000 images: use the small folder and settings, same code path.
    monkeypatch.setattr(dcgui.core.images.demo, "extract_demo", lambda target=None: image_folder)
    monkeypatch.setattr(main_window, "demo_config", lambda device_type: TrainConfig(**{**SMALL, "epochs": 1}))
    w = _window(qtbot)
    with qtbot.waitSignal(w.training.runEnded, timeout=TRAIN_TIMEOUT_MS) as ended:
        w.open_demo()
    assert ended.args == ["finished"], env.errors
    demo_path = main_window.demo_session_path()
    assert demo_path.is_file() and str(demo_path).startswith(str(env.tmp / "userdata"))
    assert w.session_path == demo_path and _store(w).last_epoch() == 1
    w.close_session()
    assert w.stack.currentWidget() is w.start_page
    w.open_demo()  # reopens the same session; it is complete, so nothing starts
    qtbot.waitUntil(lambda: w.session_path == demo_path, timeout=60_000)
    assert not w.training.is_busy and _store(w).last_epoch() == 1
    _close(qtbot, w)


def test_the_demo_asks_before_training_and_offers_a_quick_look(qtbot: Any, env: GuiEnv, image_folder: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import dcgui.core.images.demo

    monkeypatch.setattr(dcgui.core.images.demo, "extract_demo", lambda target=None: image_folder)
    monkeypatch.setattr(main_window, "demo_config", lambda device_type: TrainConfig(**{**SMALL, "epochs": 3}))
    monkeypatch.setattr(main_window, "DEMO_QUICK_EPOCHS", 1)
    env.demo_answer = "quick"
    w = _window(qtbot)
    with qtbot.waitSignal(w.training.runEnded, timeout=TRAIN_TIMEOUT_MS) as ended:
        w.open_demo()
    assert ended.args == ["finished"], env.errors
    (last, quick, full, per_epoch), = env.demo_asked
    assert (last, quick, full) == (0, 1, 3) and per_epoch is not None and per_epoch > 0  # timed before asking
    assert _store(w).last_epoch() == 1 and _store(w).config.epochs == 1  # a quick look, not the full run
    w.close_session()
    env.demo_answer = "none"
    w.open_demo()  # reopening a partly trained demo asks again and starts nothing unasked
    qtbot.waitUntil(lambda: len(env.demo_asked) == 2, timeout=60_000)
    last, quick, full, per_epoch = env.demo_asked[1]
    assert (last, quick) == (1, 2) and per_epoch == pytest.approx(_store(w).epochs()[0].seconds)
    assert not w.training.is_busy and _store(w).last_epoch() == 1
    _close(qtbot, w)


def test_start_page_greys_missing_sessions_and_opens_recent(qtbot: Any, env: GuiEnv, image_folder: Path) -> None:
    path = _make_session(env.tmp, image_folder)
    RecentSessions.add(env.tmp / "vanished.dcgui")
    RecentSessions.add(path)
    w = _window(qtbot)
    tree = w.start_page.recent_tree
    assert tree.topLevelItemCount() == 2
    qtbot.waitUntil(lambda: not w.start_page.checking)  # each file is read on the thread pool
    first, missing = tree.topLevelItem(0), tree.topLevelItem(1)
    assert first is not None and missing is not None
    assert first.text(0) == "photos" and first.text(1) == "0 / 2"
    assert missing.text(0).endswith("(missing)") and "no longer exists" in missing.toolTip(0)
    assert missing.foreground(0).color() == theme.muted_colour(w.start_page.palette())
    w.start_page.openRecentRequested.emit(str(path))
    assert w.session_path == path and w.stack.currentWidget() is w.view
    assert "Not trained yet" in w.training.status_label.text()
    assert w.open_session(env.tmp / "vanished.dcgui") is False
    assert env.errors and "does not exist" in env.errors[-1][1]
    _close(qtbot, w)


def test_theme_toggle_is_persisted(qtbot: Any, env: GuiEnv, qapp: QApplication) -> None:
    w = _window(qtbot)
    w.theme_actions["dark"].trigger()
    assert QSettings().value(theme.SETTINGS_KEY) == "dark" and theme.is_dark()
    w.theme_actions["light"].trigger()
    assert QSettings().value(theme.SETTINGS_KEY) == "light" and not theme.is_dark()
    w.show_about()  # patched static: must not block
    _close(qtbot, w)


def test_main_py_and_run_gui(qtbot: Any, env: GuiEnv, image_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import main as main_py
    from dcgui.gui import app as app_module

    assert main_py.main(["--demo", "some.dcgui"]) == 2  # either the demo or a session
    path = _make_session(env.tmp, image_folder)
    seen: list[Any] = []

    def fake_exec(self: QApplication) -> int:  # instead of the event loop: check, then quit
        QApplication.processEvents()
        windows = [x for x in QApplication.topLevelWidgets() if isinstance(x, MainWindow) and x.isVisible()]
        seen.extend(windows)
        return 0

    monkeypatch.setattr(QApplication, "exec", fake_exec)
    monkeypatch.setattr(app_module.errors, "install_excepthook", lambda: None)
    assert main_py.main([str(path)]) == 0
    assert seen and not seen[-1].windowIcon().isNull()
    qtbot.waitUntil(lambda: seen[-1].session_path == path, timeout=10_000)
    for win in seen:
        qtbot.addWidget(win)
        _close(qtbot, win)


def test_the_window_fits_a_small_screen_and_a_selection_does_not_widen_it(
        qtbot: Any, env: GuiEnv, image_folder: Path) -> None:
    """Every tab and Explore page fits 1,000 px (a 1280-px laptop at 125 % scale has 1,024): the
    map's and the duplicates' rows of buttons wrap instead of setting the window's minimum width
    (it was 1,239 px), and a long selection text on the map does not widen it."""
    w = _window(qtbot)
    assert w.open_session(_make_session(env.tmp, image_folder))
    explore = w.view.explore
    for i in range(explore.tabs.count()):
        explore.tabs.setCurrentIndex(i)
        QApplication.processEvents()
    before = w.minimumSizeHint().width()
    assert before <= 1000
    w.model.select_images(list(range(w.model.n_images)), "map")
    explore.map.selection_label.setText("123,456 images chosen on the map, and then some more words")
    QApplication.processEvents()
    assert w.minimumSizeHint().width() == before
    narrow = w.minimumSizeHint().width()
    w.resize(narrow, 700)
    QApplication.processEvents()
    assert w.width() <= max(narrow, 1000)
    _close(qtbot, w)
