"""The window under faults, on real parts: continuing from an earlier epoch through the Training
menu, SIGTERM while training (a real signal), and a file name that is not UTF-8 in the panes."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QInputDialog

from dcgui.gui.app import install_terminate_handler
from dcgui.gui.image_pane import ImagePane
from dcgui.gui.training_panel import IDLE
from dcgui.services import training
from dcgui.store import SessionStore
from dcgui.store.paths import SessionPaths
from tests.gui.test_app_flow import TRAIN_TIMEOUT_MS, GuiEnv, _make_session, _window, env  # noqa: F401
from tests.store.test_hostile_names import write_latin1_file


def test_resume_from_an_earlier_epoch_in_the_training_menu(qtbot: Any, env: GuiEnv, image_folder: Path,  # noqa: F811
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = _make_session(env.tmp, image_folder, epochs=3)
    with SessionStore.open(path) as store:
        list(training.iter_train(store))
        finished = {m.epoch: m.seconds for m in store.epochs()}
    w = _window(qtbot)
    assert w.open_session(path)
    t = w.training
    assert t.rewind_action.isEnabled()
    asked: list[tuple[int, int, int]] = []

    def get_int(parent: Any, title: str, label: str, value: int, lo: int, hi: int) -> tuple[int, bool]:
        asked.append((value, lo, hi))
        return 1, True

    monkeypatch.setattr(QInputDialog, "getInt", staticmethod(get_int))
    said: list[str] = []
    t.message.connect(said.append)
    with qtbot.waitSignal(t.runEnded, timeout=TRAIN_TIMEOUT_MS) as ended:
        t.rewind_action.trigger()
    assert ended.args == ["finished"], env.errors
    assert asked == [(2, 0, 2)]
    (archive,) = (env.tmp / "photos.dcgui.d" / "archive").glob("photos-epochs-2-3-*.dcgui")
    with SessionStore.open(archive, readonly=True) as old:
        assert old.last_epoch() == 3
        assert {m.epoch: m.seconds for m in old.epochs()} == finished  # the old records, whole
    assert said[0] == f"Continuing from epoch 1; epochs 2-3 are kept in {archive.name} (in {archive.parent}; open it to look at them)."
    with SessionStore.open(path, readonly=True) as store:
        assert store.last_epoch() == 3  # trained again up to where it was
        assert store.epochs()[0].seconds == finished[1] and store.epochs()[2].seconds != finished[3]
    assert t.state == IDLE and env.errors == []
    w.close()


def test_sigterm_stops_training_after_the_batch_and_closes(qtbot: Any, env: GuiEnv, image_folder: Path) -> None:  # noqa: F811
    path = _make_session(env.tmp, image_folder, epochs=200)
    w = _window(qtbot)
    restore = install_terminate_handler(w)
    try:
        assert w.open_session(path) and w.training.start()
        qtbot.waitUntil(lambda: w.store is not None and w.store.last_epoch() >= 1, timeout=TRAIN_TIMEOUT_MS)
        os.kill(os.getpid(), signal.SIGTERM)  # a real signal, handled between Qt events
        qtbot.waitUntil(lambda: not w.training.is_busy and not w.isVisible(), timeout=120_000)
    finally:
        restore()
    assert env.asked == []  # nobody was asked: SIGTERM means quit
    with SessionStore.open(path, readonly=True) as store:
        done = store.last_epoch()
        assert 1 <= done < 200 and store.checkpoint_path(done).is_file() and store.integrity_check() == "ok"


def test_a_name_that_is_not_utf8_is_shown_readably(qtbot: Any, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    (folder / "class_0").mkdir(parents=True)
    rel = write_latin1_file(folder)
    pane = ImagePane()
    qtbot.addWidget(pane)
    pane.set_folder(SessionPaths(folder, tmp_path / "s.dcgui"))
    info = {"path": rel, "size": (folder / rel).stat().st_size, "width": 40, "height": 40, "label": None, "flag": None}
    pane.show_image(0, info, np.array([0], np.int32), 1, 0)
    assert pane.path_label.text() == "class_0/caf\\xe9.jpg"  # Qt alone would show "class_0/caf.jpg"
    assert pane.path_label.toolTip() == f"{folder}/class_0/caf\\xe9.jpg"
    qtbot.waitUntil(lambda: pane.view.image() is not None, timeout=30_000)  # the real file decodes
    assert pane.view.image().width() == 40  # type: ignore[union-attr]
