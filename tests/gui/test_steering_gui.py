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
