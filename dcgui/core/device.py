"""Choosing and describing the compute device, and turning out-of-memory errors into advice."""

from __future__ import annotations

import torch

from dcgui.core.config import ARCH_MIN_SIZE, TrainConfig
from dcgui.core.errors import DeviceOutOfMemory, InvalidValue


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA, then Apple MPS, then the CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``.

    A device that is named but absent raises ``ValueError`` saying what to choose instead.
    """
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            built = torch.version.cuda
            why = (f"this PyTorch (CUDA {built}) finds no usable NVIDIA GPU or driver" if built
                   else "this PyTorch was built without CUDA")
            raise InvalidValue(f"device={name!r} is not available: {why}; choose device 'auto' or 'cpu'")
        dev = torch.device(name)
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise InvalidValue(f"device={name!r} is not available: there are {count} CUDA device(s) "
                             f"(cuda:0 .. cuda:{count - 1}); choose one of them or 'auto'")
        return dev
    if name == "mps":
        if not _mps_available():
            raise InvalidValue("device='mps' is not available (it needs an Apple-silicon Mac and a PyTorch "
                             "built with MPS); choose device 'auto' or 'cpu'")
        return torch.device("mps")
    raise InvalidValue(f"device={name!r} is unknown: choose 'auto', 'cpu', 'cuda' or 'mps'")


def describe_device(device: torch.device | str) -> str:
    """A short human description: ``"NVIDIA H100 80GB HBM3 (CUDA)"``, ``"CPU (16 threads)"``."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"{torch.cuda.get_device_name(index)} (CUDA)"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    if device.type == "cpu":
        n = torch.get_num_threads()
        return f"CPU ({n} thread{'' if n == 1 else 's'})"
    return str(device)


def available_devices() -> list[tuple[str, str]]:
    """``(config name, description)`` of each usable choice, ``"auto"`` first, for the GUI picker."""
    auto = resolve_device("auto")
    choices = [("auto", f"Automatic: {describe_device(auto)}")]
    if torch.cuda.is_available():
        choices.append(("cuda", describe_device(torch.device("cuda", 0))))
    if _mps_available():
        choices.append(("mps", describe_device(torch.device("mps"))))
    choices.append(("cpu", describe_device(torch.device("cpu"))))
    return choices


_OOM_MARKERS = (
    "out of memory",  # CUDA "CUDA out of memory", MPS "MPS backend out of memory", HIP
    "can't allocate memory",  # the CPU allocator
    "cublas_status_alloc_failed",
    "cudnn_status_alloc_failed",
)


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is an out-of-memory error of any torch device."""
    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    if isinstance(exc, RuntimeError | MemoryError):
        text = str(exc).lower()
        return isinstance(exc, MemoryError) or any(m in text for m in _OOM_MARKERS)
    return False


def smaller_image_size(size: int, minimum: int = 16) -> int:
    """About 3/4 of ``size`` (so ~half the pixels), a multiple of 8 where possible, >= ``minimum``."""
    smaller = int(size * 0.75) // 8 * 8
    return max(minimum, smaller if smaller < size else size - 1)


def oom_error(exc: BaseException, config: TrainConfig) -> DeviceOutOfMemory:
    """A user-facing error for an out-of-memory ``exc`` that says which settings to lower."""
    try:
        where = describe_device(resolve_device(config.device))
    except ValueError:
        where = config.device
    batch = max(2, config.batch_size // 2)
    minimum = ARCH_MIN_SIZE[config.arch]
    fixes = []
    if batch < config.batch_size:
        fixes.append(f"set batch_size to {batch} (now {config.batch_size})")
    if config.image_size > minimum:
        fixes.append(f"set image_size to {smaller_image_size(config.image_size, minimum)} (now {config.image_size})")
    if config.arch != "smallnet":
        fixes.append("choose a lighter arch (resnet18 or smallnet)" if config.arch != "resnet18"
                     else "choose arch smallnet")
    advice = "; or ".join(fixes) if fixes else "even the smallest settings do not fit: use a device with more memory"
    if "(CUDA)" in where or "MPS" in where:
        advice += " (closing other programs that use the GPU also helps)"
    return DeviceOutOfMemory(
        f"The {where} ran out of memory training {config.arch} at image_size={config.image_size} with "
        f"batch_size={config.batch_size}. Fix: {advice}. Then resume: finished epochs are kept. "
        f"({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__})"
    )
