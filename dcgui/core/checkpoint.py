"""Checkpoints: written atomically, loaded with ``weights_only=True``.

A checkpoint holds the body (no top layer: it is rebuilt every epoch), the body optimiser, the
config as JSON and the epoch, so a model can be rebuilt from the file alone. No RNG state: every
random draw of an epoch is seeded by (seed, epoch), so a resumed run needs none. torch is
imported by the functions that need it, so ``checkpoint_name`` serves the store without it.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dcgui.core.config import TrainConfig
from dcgui.core.errors import DcguiError
from dcgui.core.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    import torch

    from dcgui.core.models import DeepClusterNet

FORMAT_VERSION = 1


def checkpoint_name(epoch: int) -> str:
    return f"epoch_{epoch:04d}.pt"


def save_checkpoint(
    path: Path,
    *,
    model: DeepClusterNet,
    optimizer: torch.optim.Optimizer | None,
    config: TrainConfig,
    epoch: int,
    extra: dict[str, Any] | None = None,
) -> str:
    """Save atomically; return the file's sha256 (hex)."""
    import torch

    payload = {
        "format": FORMAT_VERSION,
        "epoch": int(epoch),
        "config": config.to_json(),
        "model": {k: v.detach().cpu() for k, v in model.backbone_state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "extra": extra or {},
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getvalue()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``); a bad file gives a clear error."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise DcguiError(f"checkpoint {path} is missing: the session's data folder was moved or deleted")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise DcguiError(f"checkpoint {path} cannot be read ({exc.__class__.__name__}: {exc}); "
                         "resume from an earlier epoch or retrain") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise DcguiError(f"checkpoint {path} is not a dcgui checkpoint of format {FORMAT_VERSION}")
    return payload


def load_model(path: Path, device: str | torch.device = "cpu") -> tuple[DeepClusterNet, TrainConfig]:
    """Rebuild the backbone of a checkpoint (eval mode, no top layer)."""
    from dcgui.core.models import build_model

    payload = load_checkpoint(path)
    config = TrainConfig.from_json(payload["config"])
    model = build_model(config)
    missing, unexpected = model.load_state_dict(payload["model"], strict=False)
    missing = [m for m in missing if not m.startswith("top_layer")]
    if missing or unexpected:
        raise DcguiError(f"checkpoint {path} does not match arch {config.arch!r} "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.to(device).eval()
    return model, config
