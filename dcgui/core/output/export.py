"""Export a trained backbone (without its top layer) for use outside dcgui.

Three formats, each carrying the preprocessing a user needs (input size, mean/std, Sobel,
arch, feature size, epoch, dcgui version):

* ``state-dict``: ``torch.save`` of ``{"state_dict", "preprocessing", "config"}``; rebuilt by
  :func:`load_backbone` (``torch.load(weights_only=True)``), needs dcgui.
* ``torchscript``: a traced module, metadata in ``_extra_files["dcgui.json"]``; runs with torch only.
* ``onnx``: dynamic batch, metadata in ``metadata_props``; runs with onnxruntime only.

Every export also writes the metadata as JSON beside the file (``PATH + ".json"``). The model
takes float RGB in [0, 1], NCHW, ``input_size`` square, and normalises (and Sobel-filters) itself.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dcgui._version import __version__
from dcgui.core.config import TrainConfig
from dcgui.core.errors import DcguiError, InvalidValue
from dcgui.core.fsutil import check_file_target, is_stream_output, output_writer

FORMATS = ("state-dict", "torchscript", "onnx")
SUFFIXES = {"state-dict": ".pt", "torchscript": ".torchscript.pt", "onnx": ".onnx"}
EXTRA_FILE = "dcgui.json"  # name of the metadata inside a TorchScript archive
ONNX_OPSET = 17


class Backbone(nn.Module):
    """A DeepCluster backbone whose ``forward`` is ``represent``: (N, 3, S, S) in [0, 1] -> (N, feat_dim)."""

    def __init__(self, net: nn.Module, preprocessing: dict[str, Any]) -> None:
        super().__init__()
        self.net = net
        self.preprocessing = preprocessing
        self.feat_dim = int(preprocessing["feat_dim"])
        self.input_size = int(preprocessing["input_size"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.represent(x)  # type: ignore[operator,no-any-return]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)


def export_metadata(model: nn.Module, config: TrainConfig, epoch: int, fmt: str) -> dict[str, Any]:
    """What a user of the exported file needs (JSON-able)."""
    pre = dict(model.preprocessing())  # type: ignore[operator]
    pre.update(epoch=int(epoch), dcgui_version=__version__, format=fmt,
               output=f"features (N, {pre['feat_dim']}) float32: the backbone's pooled features (before "
               "the projection head, if any)")
    return pre


def export_backbone(
    model: nn.Module, config: TrainConfig, epoch: int, fmt: str, out: str | os.PathLike[str]
) -> dict[str, Any]:
    """Write ``model``'s backbone (a ``DeepClusterNet``) to ``out`` in ``fmt`` plus ``out.json``.

    Returns the metadata plus ``sha256`` of the written file (recorded with the export, so a
    report can name exactly which file was shared). Files appear atomically (a failed export
    leaves no partial file).
    """
    if fmt not in FORMATS:
        raise InvalidValue(f"export format {fmt!r} is unknown: choose one of {', '.join(FORMATS)}")
    stream = is_stream_output(out)  # "-", a device or a FIFO: written into, and no sidecar beside it
    out = Path(out)
    if not stream:
        check_file_target(out, f"give a file name such as {out / ('backbone' + SUFFIXES[fmt])}")
    model = model.cpu().eval()
    meta = export_metadata(model, config, epoch, fmt)
    wrapper = Backbone(model, meta).eval()
    size = int(meta["input_size"])
    example = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    if fmt == "state-dict":
        payload = {
            "state_dict": {k: v.detach().cpu() for k, v in model.backbone_state_dict().items()},  # type: ignore[operator]
            "preprocessing": meta,
            "config": config.to_dict(),
        }
        buf = io.BytesIO()
        torch.save(payload, buf)
        _write(out, buf.getvalue())
    elif fmt == "torchscript":
        with torch.no_grad(), warnings.catch_warnings():
            # TorchScript is deprecated upstream but is still the format that runs with torch alone.
            warnings.simplefilter("ignore", FutureWarning)
            traced = torch.jit.trace(wrapper, example, check_trace=False)
            buf = io.BytesIO()
            torch.jit.save(traced, buf, _extra_files={EXTRA_FILE: json.dumps(meta)})
        _write(out, buf.getvalue())
    else:
        _export_onnx(wrapper, example, out, meta, stream)
    if stream:  # a device or FIFO: nothing beside it, and nothing to read back for a hash
        return meta
    # every format also holds the preprocessing inside the file
    _write(Path(str(out) + ".json"), (json.dumps(meta, indent=2) + "\n").encode())
    from dcgui.core.train.checkpoint import file_sha256

    return {**meta, "sha256": file_sha256(out)}


def _write(out: Path, data: bytes) -> None:
    """Every exported file goes through ``output_writer``: a regular file atomically, a device,
    FIFO or ``-`` written into."""
    with output_writer(out, size=len(data)) as fh:
        fh.write(data)


def _export_onnx(wrapper: Backbone, example: torch.Tensor, out: Path, meta: dict[str, Any],
                 stream: bool = False) -> None:
    import onnx

    # Beside the output (same disk, its free space); a device or pipe has no folder of its own.
    with tempfile.TemporaryDirectory(dir=None if stream else out.parent, prefix=".dcgui-export-") as tmp:
        tmp_path = Path(tmp) / "model.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            try:  # the TorchScript-based exporter: dynamic batch via dynamic_axes, no extra deps
                torch.onnx.export(
                    wrapper, (example,), str(tmp_path), input_names=["images"], output_names=["features"],
                    dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
                    opset_version=ONNX_OPSET, dynamo=False,
                )
            except Exception as legacy:  # a torch without the legacy exporter: the dynamo one (onnxscript)
                batch = torch.export.Dim("batch", min=1)
                try:
                    torch.onnx.export(
                        wrapper, (example,), str(tmp_path), input_names=["images"], output_names=["features"],
                        dynamic_shapes=({0: batch},), opset_version=ONNX_OPSET, dynamo=True, external_data=False,
                    )
                except Exception as exc:
                    raise DcguiError(f"ONNX export of {meta['arch']} failed ({legacy}; then {exc}): "
                                     "export as torchscript or state-dict instead") from exc
        proto = onnx.load(str(tmp_path))
        for key, value in meta.items():
            prop = proto.metadata_props.add()
            prop.key = key
            prop.value = value if isinstance(value, str) else json.dumps(value)
        proto.producer_name = "dcgui"
        proto.producer_version = __version__
        _write(out, proto.SerializeToString())


def load_backbone(path: str | os.PathLike[str]) -> Backbone:
    """Rebuild a backbone from a ``state-dict`` export (eval mode, on the CPU)."""
    from dcgui.core.train.models import model_with_weights

    path = Path(path)
    if not path.is_file():
        raise DcguiError(f"{path} does not exist: give the file written by `dcgui export --format state-dict`")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any(name.endswith("constants.pkl") for name in archive.namelist()):
                # torch.load would hand a TorchScript archive to torch.jit.load, which runs its code
                raise DcguiError(f"{path} is a TorchScript export: load it with torch.jit.load, not load_backbone")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a foreign or damaged file
        raise DcguiError(
            f"{path} is not a dcgui state-dict export ({exc.__class__.__name__}); TorchScript files load "
            "with torch.jit.load and ONNX files with onnxruntime"
        ) from exc
    if not isinstance(payload, dict) or not {"state_dict", "preprocessing", "config"} <= set(payload):
        raise DcguiError(f"{path} is not a dcgui state-dict export (keys state_dict, preprocessing, config missing)")
    net = model_with_weights(TrainConfig.from_dict(payload["config"]), payload["state_dict"], str(path))
    return Backbone(net, dict(payload["preprocessing"])).eval()
