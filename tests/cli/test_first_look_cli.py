"""`dcgui train` on a new folder prints one line per first look before epoch 1 (issue 22)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcgui.cli import main
from dcgui.core.images.cache import LookTiming
from dcgui.services import training
from tests.core.test_first_look import write_jpeg_folder


def test_train_prints_first_looks_before_epoch_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(training, "FIRST_LOOK_TIMING", LookTiming(after_s=0.0, min_images=8))
    folder = write_jpeg_folder(tmp_path / "photos")
    assert main(["train", str(folder), "--session", str(tmp_path / "s.dcgui"), "--epochs", "1", "--k", "4",
                 "--arch", "smallnet", "--image-size", "32", "--device", "cpu", "--batch-size", "16",
                 "--samples-per-epoch", "32", "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    looks = [i for i, line in enumerate(lines) if line.startswith("First look ")]
    epoch1 = next(i for i, line in enumerate(lines) if line.startswith("epoch 1/1"))
    assert looks and looks[-1] < epoch1, lines
    assert "the untrained network's" in lines[looks[0]] and "of 50 images decoded so far" in lines[looks[0]]
