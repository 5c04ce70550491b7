"""dcgui.core.output.export: three formats that reproduce model.represent (the features before the projection), with their preprocessing recorded;
TorchScript and ONNX run in a process where dcgui cannot be imported."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dcgui.core.config import TrainConfig
from dcgui.core.errors import DcguiError
from dcgui.core.output.export import EXTRA_FILE, export_backbone, load_backbone
from dcgui.core.train.models import build_model

# The runtime check imports only torch / onnxruntime: dcgui is made unimportable first.
RUNTIME_SCRIPT = r"""
import json, sys
sys.modules["dcgui"] = None  # any `import dcgui` now fails
import numpy as np
fmt, path, inp, out = sys.argv[1:5]
x = np.load(inp)
if fmt == "torchscript":
    import torch
    extra = {"dcgui.json": ""}
    m = torch.jit.load(path, _extra_files=extra)
    y = m(torch.from_numpy(x)).detach().numpy()
    meta = json.loads(extra["dcgui.json"])
else:
    import onnx, onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    meta = dict(sess.get_modelmeta().custom_metadata_map)
np.save(out, y)
print(json.dumps(meta))
"""


@pytest.fixture(scope="module")
def model_and_config() -> tuple[torch.nn.Module, TrainConfig]:
    config = TrainConfig(arch="smallnet", image_size=32, k=4, sobel=True)
    torch.manual_seed(0)
    model = build_model(config).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, as after training
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model, config


def batch(n: int = 3, size: int = 32) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def run_without_dcgui(fmt: str, path: Path, x: torch.Tensor, tmp_path: Path) -> tuple[np.ndarray, dict]:
    np.save(tmp_path / "x.npy", x.numpy())
    proc = subprocess.run(
        [sys.executable, "-c", RUNTIME_SCRIPT, fmt, str(path), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        capture_output=True, text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return np.load(tmp_path / "y.npy"), json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("fmt", ["state-dict", "torchscript", "onnx"])
def test_export_reproduces_represent(fmt: str, model_and_config: tuple[torch.nn.Module, TrainConfig],
                                 tmp_path: Path) -> None:
    model, config = model_and_config
    out = tmp_path / f"backbone.{fmt}"
    meta = export_backbone(model, config, 7, fmt, out)
    x = batch(3)  # not the batch size used while tracing: the batch dimension is dynamic
    with torch.no_grad():
        expected = model.represent(x).numpy()
        assert not np.allclose(model.embed(x).numpy(), expected)  # the projection is not exported
    assert expected.shape == (3, model.rep_dim)

    beside = json.loads(Path(str(out) + ".json").read_text())
    # the returned metadata adds the file's own sha256 (recorded with the export, for the report)
    assert meta["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    plain = {k: v for k, v in meta.items() if k != "sha256"}
    assert beside == plain
    assert meta["epoch"] == 7 and meta["arch"] == "smallnet" and meta["input_size"] == 32
    assert meta["sobel"] is True and meta["feat_dim"] == model.rep_dim
    assert meta["mean"] == [0.485, 0.456, 0.406] and meta["std"] == [0.229, 0.224, 0.225]
    assert meta["dcgui_version"] and meta["format"] == fmt

    if fmt == "state-dict":
        payload = torch.load(out, weights_only=True)
        assert set(payload) == {"state_dict", "preprocessing", "config"}
        assert not any(k.startswith("top_layer") for k in payload["state_dict"])
        assert TrainConfig.from_dict(payload["config"]) == config
        loaded = load_backbone(out)
        assert loaded.preprocessing == plain and not loaded.training
        with torch.no_grad():
            np.testing.assert_allclose(loaded(x).numpy(), expected, atol=1e-5)
        import dcgui

        assert isinstance(dcgui.load_backbone(str(out)), torch.nn.Module)
    else:
        got, inner_meta = run_without_dcgui(fmt, out, x, tmp_path)
        np.testing.assert_allclose(got, expected, atol=1e-4)
        if fmt == "onnx":  # metadata_props hold strings: JSON for non-strings
            inner_meta = {k: v if k in ("arch", "input", "dcgui_version", "format", "output") else json.loads(v)
                          for k, v in inner_meta.items()}
        assert inner_meta == plain


def test_export_errors(model_and_config: tuple[torch.nn.Module, TrainConfig], tmp_path: Path) -> None:
    model, config = model_and_config
    with pytest.raises(ValueError, match="format 'keras' is unknown"):
        export_backbone(model, config, 1, "keras", tmp_path / "m")
    with pytest.raises(DcguiError, match="does not exist"):
        export_backbone(model, config, 1, "state-dict", tmp_path / "missing" / "m.pt")
    with pytest.raises(DcguiError, match="is a folder"):
        export_backbone(model, config, 1, "state-dict", tmp_path)
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(DcguiError, match="not a dcgui state-dict export"):
        load_backbone(tmp_path / "junk.pt")
    ts = tmp_path / "m.ts"
    export_backbone(model, config, 1, "torchscript", ts)
    with pytest.raises(DcguiError, match=r"is a TorchScript export: load it with torch\.jit\.load"):
        load_backbone(ts)
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind
    extra = {EXTRA_FILE: ""}
    with pytest.warns(FutureWarning):  # TorchScript is deprecated upstream, still supported
        torch.jit.load(str(ts), _extra_files=extra)
    assert json.loads(extra[EXTRA_FILE])["epoch"] == 1
