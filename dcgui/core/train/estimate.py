"""How long training will take, measured on this machine before it starts.

An epoch is three passes (docs/METHOD.md): features of every image, k-means, and a training pass
over ``samples_per_epoch`` samples. ``measure_rates`` times a few real steps of each with the
configured network, image size and device on random pixels (a second or two for smallnet on a
CPU, a few for a ResNet); ``epoch_seconds`` scales them to the collection. Once a session has
finished epochs, their recorded times are the better estimate (``measured_epoch_seconds``).

The numbers are estimates: the first epoch also decodes the images into the cache, and a machine
busy with other work trains slower. They are meant for "a minute or an hour?", shown rounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dcgui.core.config import TrainConfig
from dcgui.core.events import EpochMetrics

_KMEANS_SAMPLE = 2000  # points clustered to time k-means; the cost grows linearly with n


@dataclass(frozen=True)
class Rates:
    """Measured throughput of one configuration on one device."""

    train_samples_per_s: float
    feature_images_per_s: float
    kmeans_s_per_point: float  # seconds per image for the whole k-means (at this k and iterations)


def measure_rates(config: TrainConfig, n_images: int, budget_s: float = 1.5, threads: int = 0) -> Rates:
    """Time training and feature batches (after two warm-up steps, for about ``budget_s`` each)
    and one small k-means.

    Uses the batch size, device, mixed precision and memory layout the run would use (the cost
    of a step does not grow linearly with the batch, so a smaller batch would mislead); random
    pixels are as costly as real ones for a convnet. ``threads``: torch's CPU threads, as the
    trainer will set them (process-wide; 0 leaves them): on a busy machine more threads than
    free cores is many times slower, so measuring with other settings than the run misleads."""
    import torch

    from dcgui.core.device import resolve_device
    from dcgui.core.train.augment import center_view, random_resized_crop_flip
    from dcgui.core.train.clustering import kmeans
    from dcgui.core.train.engine import mixed_precision_dtype
    from dcgui.core.train.models import build_model

    if threads > 0:
        torch.set_num_threads(threads)
    device = resolve_device(config.device)
    amp_dtype = mixed_precision_dtype(device) if config.amp else None
    torch.manual_seed(0)
    model = build_model(config).to(device)
    k = min(config.k, max(2, n_images))
    channels_last = config.channels_last and (device.type == "cuda" or amp_dtype is not None)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    # The run's batch, bounded so a ResNet at 224 px on a CPU is measured in seconds, not minutes.
    batch = max(2, min(config.batch_size, 256 if device.type == "cuda" else 64 if config.image_size > 96 else 128))
    side = config.cache_size
    gen = torch.Generator(device=device)
    gen.manual_seed(0)
    pixels = torch.randint(0, 256, (batch, side, side, 3), dtype=torch.uint8).to(device)
    model.set_top_layer(k)
    model.top_layer.to(device)  # type: ignore[union-attr]
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    targets = torch.randint(0, k, (batch,)).to(device)

    def train_step() -> None:
        x = random_resized_crop_flip(pixels, config.image_size, (config.crop_scale_min, 1.0), gen)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            loss = loss_fn(model(x).float(), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def feature_step() -> None:
        with torch.no_grad(), torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                                             enabled=amp_dtype is not None):
            x = center_view(pixels, config.image_size)
            model.embed(x.contiguous(memory_format=torch.channels_last) if channels_last else x)

    model.train()
    train_steps, train_s = _timed(train_step, budget_s, device)
    model.eval()
    feature_steps, feature_s = _timed(feature_step, budget_s, device)
    model.top_layer = None

    m = min(n_images, _KMEANS_SAMPLE)
    km_k = max(2, min(k, m // 2))
    x = np.random.default_rng(0).standard_normal((m, min(config.pca_dim, 256))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    t0 = time.perf_counter()
    kmeans(x, km_k, niter=config.kmeans_iters, seed=0, device=device)
    km_s = time.perf_counter() - t0
    # k-means costs about n * k * iterations: scale the small run to the real k.
    return Rates(batch * train_steps / max(train_s, 1e-9), batch * feature_steps / max(feature_s, 1e-9),
                 km_s / m * (k / km_k))


def _timed(step: Callable[[], None], budget_s: float, device: object, max_steps: int = 20) -> tuple[int, float]:
    """(steps, seconds): at least 2 steps, then more until ``budget_s`` has passed."""
    import torch

    cuda = getattr(device, "type", "") == "cuda"
    for _ in range(2):  # warm-up: allocations, kernel selection and tuning
        step()
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    steps = 0
    while steps < 2 or (time.perf_counter() - t0 < budget_s and steps < max_steps):
        step()
        steps += 1
        if cuda:
            torch.cuda.synchronize()
    return steps, time.perf_counter() - t0


def samples_per_epoch(config: TrainConfig, n_images: int) -> int:
    return config.samples_per_epoch or n_images


def epoch_seconds(config: TrainConfig, n_images: int, rates: Rates) -> float:
    """Expected seconds of one epoch of ``n_images`` images with these rates."""
    return (n_images / rates.feature_images_per_s
            + samples_per_epoch(config, n_images) / rates.train_samples_per_s
            + n_images * rates.kmeans_s_per_point)


def measured_epoch_seconds(epochs: Sequence[EpochMetrics]) -> float | None:
    """The median time of the recorded epochs (None before the first): better than any estimate."""
    secs = [m.seconds for m in epochs if m.seconds > 0]
    return float(np.median(secs)) if secs else None


def format_duration(seconds: float) -> str:
    """A rounded duration for a person: "about 40 s", "about 6 min", "about 2 h 10 min"."""
    s = max(1.0, float(seconds))
    if s < 60:
        return f"about {max(5, round(s / 5) * 5)} s"
    minutes = round(s / 60)
    if minutes < 60:
        return f"about {minutes} min"
    h, m = divmod(minutes, 60)
    return f"about {h} h" + (f" {m:02d} min" if m else "")
