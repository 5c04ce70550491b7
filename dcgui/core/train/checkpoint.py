"""Checkpoints: written atomically, loaded with ``weights_only=True``.

A checkpoint holds the body (no top layer: it is rebuilt every epoch), the body optimiser, the
config as JSON and the epoch, so a model can be rebuilt from the file alone. No RNG state: every
random draw of an epoch is seeded by (seed, epoch), so a resumed run needs none. torch is
imported by the functions that need it, so ``checkpoint_name`` serves the store without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dcgui.core.config import TrainConfig
from dcgui.core.errors import DcguiError
from dcgui.core.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    import torch

    from dcgui.core.train.models import DeepClusterNet

FORMAT_VERSION = 1


_UNFINISHED = re.compile(r"epoch_\d{4,}\.pt\.[0-9a-f]+\.tmp")  # atomic_write_bytes' temporary name


def checkpoint_name(epoch: int) -> str:
    return f"epoch_{epoch:04d}.pt"


def remove_unfinished(checkpoint_dir: Path) -> list[Path]:
    """Delete the temporary files of checkpoints whose writing was cut short (a killed run).

    Only the trainer may call this: it alone writes checkpoints (one trainer per session), so
    no such file can belong to a write still in progress.
    """
    removed: list[Path] = []
    try:
        entries = list(Path(checkpoint_dir).iterdir())
    except OSError:
        return removed
    for path in entries:
        if _UNFINISHED.fullmatch(path.name):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


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


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def earlier_epoch_advice(epoch: int) -> str:
    """How to continue when the checkpoint of ``epoch`` is unusable."""
    if epoch <= 0:
        return "Start a new session"
    return (f"Continue from an earlier epoch: `dcgui train FOLDER --session SESSION --from-epoch {epoch - 1}` "
            "(or \"Resume from epoch…\" in the window) retrains from there and archives the later epochs")


def load_checkpoint(
    path: Path, map_location: str | torch.device = "cpu", *, sha256: str = "", epoch: int | None = None,
) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``); a bad file gives a clear error.

    ``sha256``: the hash recorded when the file was written; a damaged or replaced file is
    refused before torch reads it. ``epoch``: the epoch the file must hold (a checkpoint copied
    in from another epoch or session is refused even without a recorded hash).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise DcguiError(f"checkpoint {path} is missing: the session's data folder was moved or deleted")
    if sha256:
        try:
            actual = file_sha256(path)
        except OSError as exc:
            raise DcguiError(f"checkpoint {path} cannot be read ({exc.strerror or exc})") from exc
        if actual != sha256.lower():
            which = f"epoch {epoch}" if epoch is not None else "it"
            raise DcguiError(
                f"checkpoint {path} is not the file saved for {which} (its sha256 {actual[:12]}… differs from "
                f"the recorded {sha256[:12]}…): it was damaged or replaced. "
                + (earlier_epoch_advice(epoch) if epoch is not None else "Restore it from a backup")
            )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise DcguiError(f"checkpoint {path} cannot be read ({exc.__class__.__name__}: {exc}). "
                         + (earlier_epoch_advice(epoch) if epoch is not None else "Retrain")) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise DcguiError(f"checkpoint {path} is not a dcgui checkpoint of format {FORMAT_VERSION}")
    if epoch is not None and payload.get("epoch") != epoch:
        raise DcguiError(f"checkpoint {path} holds epoch {payload.get('epoch')}, not epoch {epoch}: it was "
                         f"copied in from elsewhere. {earlier_epoch_advice(epoch)}")
    return payload


def load_model(
    path: Path, device: str | torch.device = "cpu", *, sha256: str = "", epoch: int | None = None,
) -> tuple[DeepClusterNet, TrainConfig]:
    """Rebuild the backbone of a checkpoint (eval mode, no top layer); ``sha256`` and ``epoch`` as
    for ``load_checkpoint``."""
    from dcgui.core.train.models import model_with_weights

    payload = load_checkpoint(path, sha256=sha256, epoch=epoch)
    config = TrainConfig.from_json(payload["config"])
    model = model_with_weights(config, payload["model"], f"checkpoint {path}")
    model.to(device).eval()
    return model, config
