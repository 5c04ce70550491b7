"""Device choice, descriptions, and out-of-memory advice (with a real allocation failure)."""

from __future__ import annotations

import pytest
import torch

from dcgui.core.config import TrainConfig
from dcgui.core.device import (
    available_devices,
    describe_device,
    is_oom,
    oom_error,
    resolve_device,
    smaller_image_size,
)
from dcgui.core.errors import DcguiError, DeviceOutOfMemory


def test_auto_prefers_cuda_then_mps_then_cpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_absent_cuda_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"device='cuda' is not available.*choose device 'auto' or 'cpu'"):
        resolve_device("cuda")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_absent_mps_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="device='mps' is not available"):
        resolve_device("mps")


def test_unknown_device_name() -> None:
    with pytest.raises(ValueError, match="device='tpu' is unknown"):
        resolve_device("tpu")


def test_descriptions_and_picker_choices() -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert describe_device("cpu") == "CPU (1 thread)"  # not "1 threads"
        torch.set_num_threads(2)
        assert describe_device("cpu") == "CPU (2 threads)"
    finally:
        torch.set_num_threads(before)
    choices = available_devices()
    names = [name for name, _ in choices]
    assert names[0] == "auto" and "cpu" in names
    assert set(names) <= {"auto", "cpu", "cuda", "mps"}
    assert choices[0][1].startswith("Automatic: ")
    for name, _ in choices:
        resolve_device(name)  # every offered choice works
    if torch.cuda.is_available():
        assert describe_device("cuda").endswith("(CUDA)")


def test_recognises_out_of_memory_errors() -> None:
    try:
        torch.empty(2**52, dtype=torch.uint8)  # 4 PiB: a real allocator failure
    except RuntimeError as exc:
        assert is_oom(exc)
    else:  # pragma: no cover - no machine has that much memory
        pytest.fail("allocating 4 PiB succeeded")
    assert is_oom(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_oom(RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0)"))
    assert is_oom(RuntimeError("MPS backend out of memory (MPS allocated: 1.2 GB)"))
    assert not is_oom(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_oom(ValueError("out of memory"))


def test_oom_error_suggests_smaller_batch_and_image_size() -> None:
    cfg = TrainConfig(arch="resnet50", image_size=224, batch_size=256, device="cpu")
    err = oom_error(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), cfg)
    assert isinstance(err, DeviceOutOfMemory) and isinstance(err, DcguiError)
    text = str(err)
    assert "batch_size to 128 (now 256)" in text
    assert "image_size to 168 (now 224)" in text
    assert "resume" in text and "CUDA out of memory" in text
    tiny = oom_error(RuntimeError("out of memory"), TrainConfig(arch="smallnet", image_size=16, batch_size=2))
    assert "more memory" in str(tiny)
    assert smaller_image_size(32) == 24 and smaller_image_size(20) == 16 and smaller_image_size(64, 64) == 64
