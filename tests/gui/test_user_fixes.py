"""What users saw (issue 13), each on real widgets offscreen with a real session file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QImage

from dcgui.core.config import TrainConfig
from dcgui.core.events import PHASE_TRAINING, EpochFinished, EpochMetrics, PhaseProgress
from dcgui.gui.session_model import SessionModel
from dcgui.store import SessionStore
from tests.conftest import write_image_folder

pytest.importorskip("pytestqt")

TRAIN_TIMEOUT_MS = 240_000
SMALL: dict[str, Any] = dict(arch="smallnet", image_size=32, k=4, batch_size=16, device="cpu")


@dataclass
class _Record:
    relpath: str
    size: int
    mtime_ns: int
    label: str | None


def _epoch(e: int, n: int, k: int = 3) -> EpochFinished:
    ids = (np.arange(n) % k).astype(np.int32)
    m = EpochMetrics(epoch=e, nmi_prev=None, nmi_labels=None, ari_labels=None, loss=1.0, kmeans_objective=1.0, k=k,
                     empty_clusters=0, min_cluster=1, max_cluster=n, size_entropy=1.0, seconds_features=0.1,
                     seconds_clustering=0.1, seconds_training=0.1, images_per_second=100.0, n_images=n)
    return EpochFinished(m, ids, ids, np.arange(k, dtype=np.int32))


def _synthetic(path: Path, epochs_done: int, target: int, n: int = 12) -> SessionStore:
    s = SessionStore.create(path, path.parent, TrainConfig(k=3, epochs=target))
    s.set_images([_Record(f"img{i:02d}.png", 100, 1, None) for i in range(n)], [])  # type: ignore[arg-type]
    for e in range(1, epochs_done + 1):
        s.record_epoch(_epoch(e, n))
    return s


@pytest.fixture(autouse=True)
def _settings(tmp_path: Path) -> None:
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))


# -- the training controls ------------------------------------------------------------------------
def test_the_epoch_target_does_not_carry_over_from_the_previous_session(qtbot: Any, tmp_path: Path) -> None:
    from dcgui.gui.training_panel import TrainingPanel

    model = SessionModel()
    panel = TrainingPanel(model)
    qtbot.addWidget(panel)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    demo = _synthetic(tmp_path / "a" / "demo.dcgui", epochs_done=4, target=4)  # a finished demo
    new = _synthetic(tmp_path / "b" / "new.dcgui", epochs_done=0, target=3)
    try:
        model.open(demo)
        # finished at its target of 4: one more epoch is offered (it was 4 + 4: doubled on every reopen)
        assert panel.epochs_spin.value() == 5 and panel.epochs_spin.minimum() == 5
        # and the status says so (it said "Raise “until epoch”" while the box already said 5)
        assert panel.status_label.text() == ("4 epochs trained. Resume training to go on until epoch 5, "
                                             "or raise “until epoch” first.")
        model.open(new)
        assert panel.epochs_spin.value() == 3 and panel.target == 3  # was 5: clamped by the demo's minimum
        assert panel.epochs_spin.minimum() == 1
    finally:
        demo.close()
        new.close()


def test_the_first_button_keeps_its_width_whatever_it_says(qtbot: Any) -> None:
    from dcgui.gui.training_panel import START_LABELS, TrainingPanel

    panel = TrainingPanel(SessionModel())
    qtbot.addWidget(panel)
    button = panel.start_button
    assert button.minimumWidth() == button.maximumWidth() > 0  # fixed: the target box never moves
    for label in START_LABELS:
        panel.start_action.setText(label)
        assert button.sizeHint().width() <= button.maximumWidth()


def test_the_target_moves_while_training_runs_or_is_paused(qtbot: Any, tmp_path: Path) -> None:
    from dcgui.gui.training_panel import PAUSED, RUNNING, TrainingPanel

    folder = write_image_folder(tmp_path / "photos", n_per_class=4)
    path = tmp_path / "t.dcgui"
    SessionStore.create(path, folder, TrainConfig(**SMALL, epochs=30)).close()
    store = SessionStore.open(path)
    model = SessionModel()
    panel = TrainingPanel(model)
    qtbot.addWidget(panel)
    try:
        model.open(store)
        assert panel.start()
        assert panel.epochs_spin.isEnabled() and panel.state == RUNNING  # not greyed out while running
        qtbot.waitUntil(lambda: store.last_epoch() >= 1 and panel.phase_label.text().startswith("Epoch 2/30"),
                        timeout=TRAIN_TIMEOUT_MS)
        assert panel.worker is not None
        panel.set_target(40)  # issue 21: every text names the new target at once
        assert "/40 ·" in panel.phase_label.text() and "40 epochs" in panel.epoch_bar.format()
        assert " of 40" in panel.status_label.text() and " of 30" not in panel.status_label.text()
        with qtbot.waitSignal(panel.worker.paused, timeout=60_000):
            panel.pause()
        assert panel.state == PAUSED and panel.epochs_spin.isEnabled()
        done = store.last_epoch()
        panel.set_target(done + 1)  # shorten a run of 30 epochs to the one in progress
        assert panel.epochs_spin.value() == done + 1
        assert f"/{done + 1} ·" in panel.phase_label.text()  # the paused phase label too
        with qtbot.waitSignal(panel.runEnded, timeout=TRAIN_TIMEOUT_MS) as ended:
            panel.resume()
        assert ended.args == ["finished"]
        assert store.last_epoch() == done + 1 and store.config.epochs == done + 1  # saved for the next run
        assert "Finished" in panel.status_label.text()
    finally:
        panel.stop()
        panel.wait()
        store.close()


def test_the_training_bar_counts_samples_and_says_why(qtbot: Any, tmp_path: Path) -> None:
    from dcgui.gui.training_panel import TrainingPanel

    model = SessionModel()
    panel = TrainingPanel(model)
    qtbot.addWidget(panel)
    store = _synthetic(tmp_path / "s.dcgui", epochs_done=0, target=5, n=4000)
    try:
        model.open(store)
        panel._on_event(PhaseProgress(PHASE_TRAINING, 4864, 16000, 1))  # what the engine yields
        assert "4,864 / 16,000 samples" in panel.phase_label.text()
        tip = panel.phase_label.toolTip()
        assert "16,000 samples drawn from the 4,000 images" in tip and "4.0 per image" in tip
    finally:
        store.close()


# -- the demo and the new-session dialog ---------------------------------------------------------
def test_the_new_session_dialog_shows_the_expected_time(qtbot: Any, tmp_path: Path) -> None:
    from dcgui.gui.new_session import NewSessionDialog

    folder = write_image_folder(tmp_path / "photos", n_per_class=4)
    dialog = NewSessionDialog(folder=folder)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.scan_result is not None and not dialog.scanning, timeout=60_000)
    dialog.form.editors["epochs"].setValue(10)
    qtbot.waitUntil(lambda: dialog.expected.seconds is not None, timeout=120_000)
    ten = dialog.expected.seconds
    assert ten is not None and ten > 0
    assert "Expected time" in dialog.expected.text() and "for 10 epochs" in dialog.expected.text()
    measured = dialog.expected.measurements
    dialog.form.editors["epochs"].setValue(20)  # epochs only: rescaled at once, nothing measured again
    assert "for 20 epochs" in dialog.expected.text()
    per_epoch = dialog.expected.epoch_seconds
    assert per_epoch is not None and 0 < per_epoch < ten / 10  # 10 epochs + decoding the new images
    assert dialog.expected.seconds == pytest.approx(ten + 10 * per_epoch)
    qtbot.waitUntil(lambda: not dialog.expected.busy(), timeout=60_000)
    qtbot.wait(2 * dialog.expected.DEBOUNCE_MS)
    assert dialog.expected.measurements == measured
    dialog.reject()


# -- stale and wrong state -------------------------------------------------------------------------
def test_no_false_thumbnail_error_while_the_cache_is_being_built(qtbot: Any, tmp_path: Path) -> None:
    from dcgui.core.images.cache import ImageCache
    from dcgui.core.images.collection import scan
    from dcgui.gui.session_images import WAITING, SessionImages

    folder = write_image_folder(tmp_path / "photos", n_per_class=2, size=28)
    cfg = TrainConfig(k=2, image_size=32)
    store = SessionStore.create(tmp_path / "s.dcgui", folder, cfg)
    res = scan(folder)
    store.set_images(res.images, [], res.label_names)  # what the new-session dialog writes
    model = SessionModel()
    images = SessionImages(model)
    messages: list[str] = []
    model.message.connect(messages.append)
    try:
        model.open(store)  # a new session: no image cache yet
        qtbot.waitUntil(images.wait_opened, timeout=10_000)
        assert images.cache is None and images.status == WAITING
        assert not any("Thumbnails unavailable" in m for m in messages)
        gen = ImageCache.iter_build(store.cache_dir, folder, res.images, cfg.cache_size, workers=1)
        while True:  # the trainer builds it...
            try:
                next(gen)
            except StopIteration:
                break
        model.collection_ready()  # ...and says so (CollectionReady)
        qtbot.waitUntil(lambda: images.cache is not None, timeout=10_000)
        assert images.status == "" and messages == []
    finally:
        store.close()


def test_small_images_are_scaled_up_to_the_cell(qtbot: Any) -> None:
    from dcgui.gui.thumbnail_grid import ThumbnailGrid
    from dcgui.gui.thumbnails import AsyncPixmapCache

    def red(_key: Any) -> QImage:
        img = QImage(28, 28, QImage.Format.Format_RGB32)
        img.fill(QColor(255, 0, 0))
        return img

    loader = AsyncPixmapCache(red)
    grid = ThumbnailGrid(loader, thumb_size=112)
    qtbot.addWidget(grid)
    grid.resize(300, 300)
    grid.show()
    grid.set_images([0])
    qtbot.waitUntil(lambda: grid.has_thumbnail(0), timeout=5000)
    frame = grid.viewport().grab().toImage()
    rect = grid.visualRect(grid.grid_model().index(0))
    # 28 px drawn into a 112-px box: red well beyond 28 px from the box's corner.
    far = frame.pixelColor(rect.left() + 4 + 100, rect.top() + 4 + 100)
    assert far.red() > 200 and far.green() < 60, far.name()


def test_each_explore_tab_keeps_its_own_status(qtbot: Any, tmp_path: Path) -> None:
    from dcgui.gui.explore import TAB_EVAL, TAB_MAP, ExplorePanel
    from dcgui.gui.session_images import SessionImages

    model = SessionModel()
    panel = ExplorePanel(model, SessionImages(model).thumbnails)
    qtbot.addWidget(panel)
    panel.tabs.setCurrentIndex(TAB_MAP)
    panel.map.say("2-D map of 12 images (UMAP of the epoch-2 features).")
    assert panel.status.text().startswith("2-D map")
    panel.tabs.setCurrentIndex(TAB_EVAL)
    assert "2-D map" not in panel.status.text() and panel.status.text() == panel.evaluation.status
    panel.map.say("Computing the 2-D map…", transient=True)  # the map's job goes on in the background
    assert panel.status.text() == panel.evaluation.status  # the Evaluation tab does not show it
    panel.tabs.setCurrentIndex(TAB_MAP)
    assert panel.status.text() == "Computing the 2-D map…"
    panel.map.say("2-D map of 12 images (UMAP of the epoch-2 features).")
    assert panel.status.text().startswith("2-D map")


def test_the_start_page_shows_the_image_folder(qtbot: Any, tmp_path: Path) -> None:
    from dcgui.gui.app import set_app_identity
    from dcgui.gui.start_page import RecentSessions, StartPage

    set_app_identity()
    folder = write_image_folder(tmp_path / "my photos", n_per_class=1)
    sessions = tmp_path / "elsewhere"
    sessions.mkdir()
    path = sessions / "trip.dcgui"
    SessionStore.create(path, folder, TrainConfig(k=2)).close()
    RecentSessions.add(path)
    page = StartPage()
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: not page.checking)  # each file is read on the thread pool
    item = page.recent_tree.topLevelItem(0)
    assert item is not None and item.text(3) == str(folder)  # not the session file's folder
    assert page.recent_tree.headerItem().text(3) == "Image folder"


def test_empty_plots_show_a_hint_not_axes(qtbot: Any, tmp_path: Path) -> None:
    from dcgui.gui.plots import PLOT_NAMES, PlotsPanel

    model = SessionModel()
    panel = PlotsPanel(model)
    qtbot.addWidget(panel)
    store = _synthetic(tmp_path / "s.dcgui", epochs_done=0, target=5)
    try:
        model.open(store)
        assert panel.empty
        for name in PLOT_NAMES:
            item = panel.plots[name].getPlotItem()
            assert panel.hints[name].isVisible() and not item.getAxis("left").isVisible(), name
        store.record_epoch(_epoch(1, 12))
        model.refresh()
        assert not panel.empty
        for name in PLOT_NAMES:
            item = panel.plots[name].getPlotItem()
            assert not panel.hints[name].isVisible() and item.getAxis("left").isVisible(), name
        assert not panel.plots["time"].getPlotItem().getAxis("left").autoSIPrefix
    finally:
        store.close()
