"""Starting a run from a backbone instead of the random initialisation (``dcgui train --init``).

Accepted: a dcgui state-dict export (``dcgui export --format state-dict``) or a torchvision
state dict of a ResNet (``resnet18-f37072fd.pth``, torchvision's ImageNet weights), both loaded
with ``torch.load(weights_only=True)``: a file never runs code. TorchScript is refused for that
reason. The architecture, input size and Sobel setting come from the file (its JSON sidecar,
the export's own metadata, or the shape of a torchvision file's first convolution) and override
the collection's defaults; an explicit setting that contradicts the file is an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dcgui.core.config import ARCHS
from dcgui.core.errors import DcguiError
from dcgui.core.train.checkpoint import is_torchscript, load_weights_only

IMAGENET = "imagenet"
IMAGENET_ARCHS = ("resnet18", "resnet50")
IMAGENET_MIN_SIZE = 64  # the ImageNet stem (7x7 /2 + max-pool) is built from 64 px up (models.SMALL_INPUT)


@dataclass(frozen=True)
class InitWeights:
    """Backbone weights to start from and the settings they fix (``settings``: arch, image_size
    (a minimum when ``min_size``), sobel, projection where the file says)."""

    source: str  # what the user gave: a path, or "imagenet"
    kind: str  # "dcgui export", "torchvision state dict", "torchvision ImageNet weights"
    state: dict[str, torch.Tensor]
    settings: dict[str, Any] = field(default_factory=dict)
    min_size: int = 0  # torchvision files: any size >= this

    def describe(self) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in self.settings.items())
        return f"{self.kind} {self.source} ({parts})"


def _refuse_torchscript(path: Path) -> None:
    if is_torchscript(path):
        raise DcguiError(
            f"{path} is a TorchScript file: loading it would run code from the file, so it is refused; "
            "export the backbone with `dcgui export --format state-dict` and pass that file to --init")


def _load(path: Path) -> Any:
    return load_weights_only(
        path, "cpu", lambda exc: f"{path} is not a state dict ({exc.__class__.__name__}: "
        f"{str(exc).splitlines()[0][:120]}): give a dcgui state-dict export (`dcgui export --format state-dict`) "
        "or a torchvision ResNet state dict")


def _sidecar(path: Path) -> dict[str, Any]:
    import json

    side = Path(str(path) + ".json")
    if not side.is_file():
        return {}
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DcguiError(f"the sidecar {side} of {path} is not readable JSON ({exc}): fix or remove it") from exc
    return data if isinstance(data, dict) else {}


def _resnet_arch(state: dict[str, torch.Tensor]) -> str:
    """resnet18 or resnet50 from a torchvision state dict's keys (bottleneck blocks have conv3)."""
    return "resnet50" if any(k.startswith("layer1.0.conv3.") for k in state) else "resnet18"


def from_torchvision(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, Any], int]:
    """A torchvision ResNet state dict as dcgui model keys, the settings it fixes and the minimum size."""
    conv1 = state.get("conv1.weight")
    if conv1 is None or conv1.ndim != 4:
        raise DcguiError("the state dict has no conv1.weight: it is not a torchvision ResNet "
                         f"(its first keys: {list(state)[:4]})")
    out = {f"body.{k}": v for k, v in state.items() if not k.startswith("fc.")}
    in_ch, kernel = int(conv1.shape[1]), int(conv1.shape[2])
    settings: dict[str, Any] = {"arch": _resnet_arch(state), "sobel": in_ch == 2}
    # 7x7: the ImageNet stem, built from 64 px up; 3x3: the small-input stem, below 64 px
    min_size = IMAGENET_MIN_SIZE if kernel == 7 else 0
    if kernel != 7:
        settings["image_size_max"] = IMAGENET_MIN_SIZE - 1
    return out, settings, min_size


def read_init(source: str | os.PathLike[str], arch: str | None = None) -> InitWeights:
    """The backbone ``source`` names: a file, or ``"imagenet"`` (torchvision's ImageNet weights
    for ``arch``, default resnet18, fetched when the machine is online)."""
    if str(source) == IMAGENET:
        return imagenet_weights(arch or "resnet18")
    path = Path(source).expanduser()
    if not path.is_file():
        raise DcguiError(f"--init {path}: the file does not exist; give a state dict written by "
                         "`dcgui export --format state-dict`, a torchvision ResNet state dict, or 'imagenet'")
    _refuse_torchscript(path)
    payload = _load(path)
    if not isinstance(payload, dict):
        raise DcguiError(f"{path} holds a {type(payload).__name__}, not a state dict")
    side = _sidecar(path)
    if {"state_dict", "preprocessing", "config"} <= set(payload):  # a dcgui export
        pre = {**dict(payload["preprocessing"]), **side}
        cfg = dict(payload["config"])
        settings = {"arch": pre.get("arch", cfg.get("arch")), "image_size": int(pre.get("input_size", cfg["image_size"])),
                    "sobel": bool(pre.get("sobel", cfg.get("sobel"))),
                    "projection": bool(cfg.get("projection", False))}
        return InitWeights(str(path), "dcgui export", dict(payload["state_dict"]), settings)
    if not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise DcguiError(f"{path} is not a state dict of tensors (keys {list(payload)[:4]}): give a dcgui "
                         "state-dict export or a torchvision ResNet state dict")
    state, settings, min_size = from_torchvision(payload)
    for key, name in (("arch", "arch"), ("input_size", "image_size"), ("sobel", "sobel")):
        if key in side:  # a sidecar says more than the weights' shapes
            settings[name] = side[key]
    return InitWeights(str(path), "torchvision state dict", state, settings, min_size)


def imagenet_url(arch: str) -> str:
    import torchvision

    return str(torchvision.models.get_model_weights(arch)["IMAGENET1K_V1"].url)


def imagenet_weights(arch: str) -> InitWeights:
    """torchvision's ImageNet weights of ``arch`` (downloaded into torch's cache on first use)."""
    if arch not in IMAGENET_ARCHS:
        raise DcguiError(f"--init imagenet needs a ResNet: use --arch {' or --arch '.join(IMAGENET_ARCHS)}, not {arch}")
    url = imagenet_url(arch)
    try:
        state = torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False, weights_only=True)
    except Exception as exc:  # no network, a proxy, a full disk: all end here
        raise DcguiError(
            f"could not fetch the ImageNet weights of {arch} from {url} ({exc.__class__.__name__}: "
            f"{str(exc)[:120]}): this machine seems offline. Download that file on a machine that is online, "
            f"copy it here and pass its path: --init /path/to/{url.rsplit('/', 1)[-1]}") from exc
    out, settings, min_size = from_torchvision(state)
    return InitWeights(IMAGENET, "torchvision ImageNet weights", out, settings, min_size)


def resolve_settings(init: InitWeights, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The settings a run from ``init`` uses: the file's, over ``defaults``; ``given`` (the user's
    explicit flags) must agree with the file, else a ``DcguiError`` naming both."""
    out: dict[str, Any] = {}
    flag = {"arch": "--arch", "image_size": "--image-size", "sobel": "--no-sobel", "projection": "--no-projection"}
    for name in ("arch", "image_size", "sobel", "projection"):
        if name not in init.settings:
            continue
        value = init.settings[name]
        if name in given and given[name] != value:
            raise DcguiError(
                f"{flag[name]} ({name}={given[name]!r}) contradicts the backbone {init.source}, which has "
                f"{name}={value!r}: leave {flag[name]} out (the backbone decides it) or give another file")
        out[name] = value
    size = given.get("image_size", defaults.get("image_size", 0))
    if "image_size" not in out and init.min_size and int(size) < init.min_size:
        if "image_size" in given:
            raise DcguiError(f"--image-size {given['image_size']} is too small for the backbone {init.source} "
                             f"(ImageNet stem): use at least {init.min_size}")
        out["image_size"] = init.min_size
    top = init.settings.get("image_size_max")
    if top is not None and int(out.get("image_size", size)) > int(top):
        if "image_size" in given:
            raise DcguiError(f"--image-size {given['image_size']} does not fit the backbone {init.source} "
                             f"(small-input stem): use at most {top}")
        out["image_size"] = int(top)
    if out.get("arch") is not None and out["arch"] not in ARCHS:
        raise DcguiError(f"the backbone {init.source} is a {out['arch']!r}, which dcgui does not build")
    return out


def load_into(model: nn.Module, state: dict[str, torch.Tensor], arch: str) -> None:
    """Copy ``state`` into ``model``'s backbone; a mismatch names the missing and unexpected keys
    and the architecture expected. The top layer, and a projection head the file lacks, keep
    their random initialisation."""
    own = model.state_dict()
    fixed = ("mean", "std", "sobel_weight")  # buffers dcgui sets itself
    needed = [k for k in own if k.startswith("body.")]
    missing = [k for k in needed if k not in state]
    unexpected = [k for k in state if k not in own and not k.startswith("top_layer.")]
    shape = [k for k in state if k in own and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shape:
        detail = []
        if missing:
            detail.append(f"missing keys {missing[:4]}{' …' if len(missing) > 4 else ''}")
        if unexpected:
            detail.append(f"unexpected keys {unexpected[:4]}{' …' if len(unexpected) > 4 else ''}")
        if shape:
            k = shape[0]
            detail.append(f"{len(shape)} key(s) of another shape, e.g. {k} {tuple(state[k].shape)} "
                          f"instead of {tuple(own[k].shape)}")
        raise DcguiError(f"the backbone does not fit the architecture {arch!r} that was expected: "
                         + "; ".join(detail) + f". Give a {arch} state dict, or the matching --arch / --image-size")
    take = {k: v for k, v in state.items() if k in own and not k.startswith(fixed) and not k.startswith("top_layer.")}
    model.load_state_dict(take, strict=False)
