"""Steering in the window (issue 24): the New-session dialog starts from a backbone file, the
training panel says what each epoch excluded and applied, excluded images are shown apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
from PySide6.QtWidgets import QApplication, QFileDialog

from dcgui.gui import errors
from dcgui.gui.new_session import NewSessionDialog
from dcgui.services.training import INIT_META
from dcgui.store import SessionStore


@pytest.fixture
def shown_errors(monkeypatch: pytest.MonkeyPatch, qapp: QApplication) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(errors, "_present", lambda parent, title, message, details: seen.append((title, message)))
    return seen


def test_the_new_session_dialog_starts_from_a_backbone_file(qtbot: Any, image_folder: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            shown_errors: list[tuple[str, str]]) -> None:
    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(weights), "")))
    dialog = NewSessionDialog(folder=image_folder)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.scan_result is not None and not dialog.scanning, timeout=60_000)
    form = dialog.form
    assert form.editors["arch"].currentData() == "smallnet" and form.editors["steer"].isChecked()
    dialog.choose_backbone()
    qtbot.waitUntil(lambda: "set by the file" in dialog.init_label.text(), timeout=60_000)
    # what the file fixes is in the form, and locked there
    assert form.editors["arch"].currentData() == "resnet18" and not form.editors["arch"].isEnabled()
    assert form.editors["image_size"].value() == 64 and not form.editors["image_size"].isEnabled()
    assert not form.editors["sobel"].isChecked() and form.editors["k"].isEnabled()
    form.editors["steer"].setChecked(False)  # the switch is a setting of the session
    dialog.path_edit.setText(str(tmp_path / "from-backbone.dcgui"))
    dialog.start_check.setChecked(False)
    dialog.accept()
    assert shown_errors == []
    with SessionStore.open(tmp_path / "from-backbone.dcgui", readonly=True) as s:
        cfg = s.config
        assert (cfg.arch, cfg.image_size, cfg.sobel, cfg.steer) == ("resnet18", 64, False, False)
        assert s.get_meta(INIT_META)["source"] == str(weights)
    # "Random start" unlocks the fields again; a TorchScript file is refused with the reason
    dialog2 = NewSessionDialog(folder=image_folder)
    qtbot.addWidget(dialog2)
    qtbot.waitUntil(lambda: dialog2.scan_result is not None and not dialog2.scanning, timeout=60_000)
    script = tmp_path / "model.torchscript.pt"
    torch.jit.save(torch.jit.trace(torch.nn.Linear(2, 2), torch.zeros(1, 2)), str(script))
    dialog2.load_backbone(script)
    qtbot.waitUntil(lambda: bool(shown_errors), timeout=60_000)
    assert "TorchScript" in shown_errors[-1][1]
    assert dialog2.form.editors["arch"].isEnabled() and "random network" in dialog2.init_label.text()


def test_one_epoch_after_a_merge_and_an_exclusion_the_window_shows_what_was_applied(
        qtbot: Any, image_folder: Path, tmp_path: Path, shown_errors: list[tuple[str, str]]) -> None:
    import numpy as np

    from dcgui.cli import main
    from dcgui.core.analysis.groups import Unit
    from dcgui.gui.main_window import MainWindow
    from dcgui.store.edits import MergeClusters

    path = tmp_path / "s.dcgui"
    assert main(["train", str(image_folder), "--session", str(path), "--epochs", "1", "--k", "4", "--arch",
                 "smallnet", "--image-size", "32", "--device", "cpu", "--batch-size", "16", "--no-progress",
                 "--threads", "1"]) == 0
    with SessionStore.open(path) as s:
        assign = s.assignments(1)
        a, b = (int(c) for c in np.argsort(-np.bincount(assign), kind="stable")[:2])
        excluded = [int(np.flatnonzero(assign == a)[0]), int(np.flatnonzero(assign == b)[0])]
        s.set_image_flag(excluded, "exclude")
        gid = s.apply_edit(MergeClusters(1, [Unit(a), Unit(b)], "both")).preview.group_id
        merged = np.setdiff1d(np.flatnonzero(np.isin(assign, [a, b])), excluded)
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert w.open_session(path)
    training = w.training
    assert "Epoch 1 steering: no exclusions" in training.steering_label.text()
    training.epochs_spin.setValue(2)
    assert training.start()
    qtbot.waitUntil(lambda: w.store is not None and w.store.last_epoch() >= 2 and not training.is_busy,
                    timeout=240_000)
    assert "Epoch 2 steering: 2 images excluded, 1 merge and 0 splits applied" in training.steering_label.text()
    # the excluded images are shown apart, in the last row of the cluster list
    browser = w.view.clusters
    model = browser.cluster_model
    last = model.cluster_at(model.rowCount() - 1)
    assert model.is_excluded_row(last) and model.title(last) == "Excluded"
    assert sorted(browser.stats().members(last).tolist()) == sorted(excluded)
    # the merged group's row holds the cluster its members landed in, not clusters a and b of epoch 2
    now = w.store.assignments(2)
    (landed,) = np.unique(now[merged])
    assert model.view is not None
    group = model.view.find(f"g{gid}")
    assert model.title(group.code) == "both"
    assert browser.stats().members(group.code).tolist() == np.flatnonzero(now == landed).tolist()
    browser.select_cluster(last)
    registry = browser.action_registry
    assert not registry.action("clusters.split").isEnabled() and not registry.action("clusters.rename").isEnabled()
    assert sorted(browser.grid.image_indices()) == sorted(excluded)
    # unflagging brings an image back at the next epoch (here: its flag is gone at once)
    w.model.set_flag([excluded[0]], None)
    assert w.store.image_flags() == {excluded[1]: "exclude"}
    assert shown_errors == []
    w.close()
