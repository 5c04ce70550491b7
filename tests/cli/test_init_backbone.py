"""``dcgui train --init``: a new session starts from a backbone file (issue 24, item 5).

Every file is made in the test; nothing is downloaded."""

from __future__ import annotations

import re
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision

from dcgui.cli import main
from dcgui.core.errors import DcguiError
from dcgui.core.train.backbone import load_into, read_init, resolve_settings
from dcgui.core.train.checkpoint import load_checkpoint
from dcgui.core.train.models import create_model
from dcgui.store import SessionStore
from tests.conftest import copy_session, write_image_folder

FAST = ["--k", "4", "--device", "cpu", "--batch-size", "16", "--no-progress", "--threads", "1"]


def test_a_session_starts_from_an_exported_backbone_whose_settings_win(curation_session: Path, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    backbone = tmp_path / "bb.pt"
    source = copy_session(curation_session, tmp_path)  # an export is recorded: not in the shared fixture
    assert main(["export", str(source), "--format", "state-dict", "--out", str(backbone)]) == 0
    exported = torch.load(backbone, weights_only=True)["state_dict"]
    folder = write_image_folder(tmp_path / "other", seed=5)
    # an explicit flag that contradicts the file is an error naming both
    assert main(["train", str(folder), "--session", str(tmp_path / "bad.dcgui"), "--init", str(backbone),
                 "--image-size", "48", "--epochs", "1", *FAST]) == 2
    assert re.search(r"--image-size \(image_size=48\) contradicts the backbone .*image_size=32",
                     capsys.readouterr().err)
    assert not (tmp_path / "bad.dcgui").exists()
    session = tmp_path / "new.dcgui"
    capsys.readouterr()
    assert main(["train", str(folder), "--session", str(session), "--init", str(backbone), "--epochs", "1", *FAST]) == 0
    assert "starting from the dcgui export" in capsys.readouterr().err
    with SessionStore.open(session, readonly=True) as s:
        cfg = s.config
        assert (cfg.arch, cfg.image_size, cfg.sobel) == ("smallnet", 32, True)
        epoch0 = load_checkpoint(s.checkpoint_path(0))["model"]
    # epoch 0 is the backbone itself, not a random initialisation
    for key, value in exported.items():
        assert torch.equal(epoch0[key], value), key
    # a backbone is only the start of a new session
    assert main(["train", str(folder), "--session", str(session), "--init", str(backbone), "--epochs", "2",
                 *FAST]) == 2
    assert "exists already" in capsys.readouterr().err


def test_a_torchvision_state_dict_fixes_arch_colour_and_the_imagenet_stem(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-imagenet-like.pth"
    torch.save(net.state_dict(), path)
    init = read_init(path)
    settings = resolve_settings(init, {}, {"image_size": 32})
    assert settings == {"arch": "resnet18", "sobel": False, "image_size": 64}
    model = create_model("resnet18", sobel=False, input_size=64)
    load_into(model, init.state, "resnet18")
    assert torch.equal(model.body.conv1.weight, net.conv1.weight)
    assert torch.equal(model.body.layer4[1].bn2.running_var, net.layer4[1].bn2.running_var)
    with pytest.raises(DcguiError, match=r"--image-size 32 is too small .*at least 64"):
        resolve_settings(init, {"image_size": 32}, {})


def test_a_mismatch_names_the_missing_and_unexpected_keys_and_the_arch(tmp_path: Path) -> None:
    small = create_model("smallnet", sobel=True, input_size=32).state_dict()
    model = create_model("resnet18", sobel=True, input_size=32)
    with pytest.raises(DcguiError, match=r"architecture 'resnet18'.*missing keys \['body\.conv1\.weight'.*"
                                         r"unexpected keys \['body\.0\.weight'"):
        load_into(model, small, "resnet18")


def test_torchscript_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.torchscript.pt"
    traced = torch.jit.trace(torch.nn.Linear(2, 2), torch.zeros(1, 2))
    torch.jit.save(traced, str(path))
    with pytest.raises(DcguiError, match=r"TorchScript .*would run code"):
        read_init(path)


def test_imagenet_offline_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(DcguiError, match=r"seems offline.*Download that file.*--init /path/to/resnet18-.*\.pth"):
        read_init("imagenet")
    with pytest.raises(DcguiError, match="needs a ResNet"):
        read_init("imagenet", "smallnet")
