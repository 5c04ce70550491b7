"""The window shows a first look while a new session's JPEGs decode, and epoch 1 replaces it:
real JPEG files, a real session, real training on the worker thread, the real window offscreen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from dcgui.core.config import TrainConfig
from dcgui.core.events import FirstLook
from dcgui.core.images.cache import LookTiming
from dcgui.gui.cluster_browser import ClusterBrowser
from dcgui.gui.training_panel import PAUSED
from dcgui.services import training
from dcgui.store import SessionStore
from tests.core.test_first_look import write_jpeg_folder
from tests.gui.test_app_flow import TRAIN_TIMEOUT_MS, GuiEnv, _close, _window, env  # noqa: F401

SMALL: dict[str, Any] = dict(arch="smallnet", image_size=32, k=4, batch_size=16, epochs=1, device="cpu")


def test_first_look_banner_and_grids_then_epoch_1_replaces_them(qtbot: Any, env: GuiEnv, tmp_path: Path,  # noqa: F811
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training, "FIRST_LOOK_TIMING", LookTiming(after_s=0.0, min_images=8))
    folder = write_jpeg_folder(tmp_path / "photos")
    path = tmp_path / "photos.dcgui"
    SessionStore.create(path, folder, TrainConfig(**SMALL)).close()
    w = _window(qtbot)
    assert w.open_session(path)
    view = w.view
    assert view.clusters_stack.currentWidget() is view.clusters  # nothing to look at yet
    seen: list[FirstLook] = []
    status: list[str] = []

    def on_look(look: object) -> None:
        if isinstance(look, FirstLook) and not seen:
            seen.append(look)
            status.append(w.training.status_label.text())
            w.training.pause()  # hold the decoding here, so the look can be inspected

    w.model.firstLookChanged.connect(on_look)
    assert w.training.start(1)
    qtbot.waitUntil(lambda: w.training.state == PAUSED, timeout=TRAIN_TIMEOUT_MS)
    look = seen[0]
    assert w.model.last_epoch == 0 and w.model.first_look is not None
    assert view.clusters_stack.currentWidget() is view.first_look
    banner = view.first_look.banner.text()
    assert "First look" in banner and "not a trained epoch" in banner
    assert f"{look.n_decoded:,} of 50 images decoded so far" in banner and "epoch 1" in banner
    rows = view.first_look.rows
    assert len(rows) == sum(1 for e in look.examples if e)
    shown = [grid.image_indices() for _, grid in rows]
    assert sorted(p for r in shown for p in r) == sorted(p for e in look.examples for p in e)
    first = shown[0][0]
    qtbot.waitUntil(lambda: rows[0][1].has_thumbnail(first), timeout=30_000)  # decoded off the GUI thread
    assert status[0].startswith("First look 1: the untrained network's")

    with qtbot.waitSignal(w.training.runEnded, timeout=TRAIN_TIMEOUT_MS) as ended:
        w.training.resume()
    assert ended.args == ["finished"], env.errors
    assert w.model.last_epoch == 1 and w.model.first_look is None
    assert view.clusters_stack.currentWidget() is view.clusters and isinstance(view.clusters, ClusterBrowser)
    assert view.first_look.rows == [] and view.first_look.banner.text() == ""
    _close(qtbot, w)
