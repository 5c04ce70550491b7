"""Features of every image, in image order: DeepCluster's step 2 (METHOD.md).

Eval mode (dropout off, BatchNorm statistics frozen), no shuffling (row i = image i: shuffling
here would scramble the pseudo-labels silently), the deterministic centre view. A background
thread reads the next uint8 batch from the (memory-mapped) cache while the current one runs, and
the result is written into one preallocated float32 array, never held twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from dcgui.core.control import RunControl, iter_pause_point
from dcgui.core.events import PHASE_FEATURES, Event, PhaseProgress
from dcgui.core.train.augment import center_view
from dcgui.core.train.prefetch import Prefetcher

PROGRESS_INTERVAL_S = 0.1  # at most ~10 progress events per second


def _read_slice(pixels: np.ndarray, pin: bool) -> Callable[[tuple[int, int]], tuple[int, int, torch.Tensor]]:
    """The feature pass's reader: rows ``[start, stop)`` -> (start, stop, their uint8 pixels)."""

    def load(span: tuple[int, int]) -> tuple[int, int, torch.Tensor]:
        start, stop = span
        # An explicit copy: a contiguous memmap slice would otherwise stay a lazy view (read
        # later on the consumer's thread) and may be read-only.
        t = torch.from_numpy(np.array(pixels[start:stop], dtype=np.uint8, copy=True))
        return start, stop, t.pin_memory() if pin else t

    return load


def iter_features(
    model: Any,
    pixels: np.ndarray,
    image_size: int,
    batch_size: int,
    device: torch.device | str,
    control: RunControl | None = None,
    epoch: int = 0,
    amp: bool = False,
    channels_last: bool = False,
    autocast_dtype: torch.dtype | None = None,
    representation: bool = False,
) -> Generator[Event, None, np.ndarray]:
    """Yield progress while embedding every image; return float32 ``(N, model.feat_dim)``.

    ``model`` is a ``DeepClusterNet`` (anything with ``embed`` and ``feat_dim``) already on
    ``device``. ``representation=True`` gives ``model.represent`` (``(N, model.rep_dim)``, the
    features users get) instead of ``embed`` (what DeepCluster clusters). ``amp`` (float16
    autocast) applies on CUDA only; ``autocast_dtype`` instead
    autocasts on any device with that dtype (e.g. ``torch.bfloat16`` on a CPU with bf16 kernels).
    A batch whose reduced-precision features overflow is recomputed in float32. The model's
    train/eval mode is restored afterwards. Raises ``StopRequested`` (from ``control.check``).
    """
    if pixels.ndim != 4 or pixels.shape[3] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8 (N, S, S, 3), got {pixels.dtype} {pixels.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be at least 1")
    device = torch.device(device)
    cuda = device.type == "cuda"
    n = len(pixels)
    forward = model.represent if representation else model.embed
    out = np.empty((n, int(model.rep_dim if representation else model.feat_dim)), dtype=np.float32)
    yield PhaseProgress(PHASE_FEATURES, 0, n, epoch, 0.0)
    if n == 0:
        return out

    was_training = model.training
    model.eval()
    spans = [(a, min(a + batch_size, n)) for a in range(0, n, batch_size)]
    prefetch = Prefetcher(spans, _read_slice(pixels, pin=cuda))
    t_start = time.perf_counter()
    paused_s = 0.0
    last_report = t_start
    try:
        for start, stop, batch in prefetch:
            if control is not None:  # announced (Paused/Resumed), so a window shows "paused"
                paused_s += yield from iter_pause_point(control, epoch)
            # The grad / autocast contexts are entered and left around each batch, never held
            # across a yield: they are thread-local and would leak into the consumer's code.
            use_amp = autocast_dtype is not None or (amp and cuda)
            dtype = autocast_dtype if autocast_dtype is not None else torch.float16
            with torch.inference_mode():
                x = center_view(batch.to(device, non_blocking=cuda), image_size)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=dtype) if use_amp else nullcontext():
                    feats = forward(x).float()
                if use_amp and not torch.isfinite(feats).all():  # float16 overflow: redo in float32
                    feats = forward(x).float()
                out[start:stop] = feats.cpu().numpy()
            now = time.perf_counter()
            if now - last_report >= PROGRESS_INTERVAL_S or stop == n:
                last_report = now
                rate = stop / max(now - t_start - paused_s, 1e-9)
                yield PhaseProgress(PHASE_FEATURES, stop, n, epoch, rate)
    finally:
        prefetch.close()
        model.train(was_training)
    return out
