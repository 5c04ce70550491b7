"""How long training will take, measured on this machine before it starts.

An epoch is three passes (docs/METHOD.md): features of every image, k-means, and a training pass
over ``samples_per_epoch`` samples. ``measure_rates`` times a few real steps of each with the
configured network, image size and device on random pixels (a second or two for smallnet on a
CPU, a few for a ResNet); ``epoch_seconds`` scales them to the collection. Once a session has
finished epochs, their recorded times are the better estimate (``measured_epoch_seconds``).

Besides the warm loops, the costs they miss are measured too: PCA before k-means, a real
checkpoint write (every epoch ends with one) and, for a new collection, decoding a few of its
images as the cache build does (``estimate_run_seconds(cached=False)``). A machine busy with other
work trains slower: the estimate is measured under the load of the moment, and ``RunEta`` (the
ETA while training runs) follows the run's own rates, phase by phase. benchmarks/bench_estimate.py
compares estimates with real runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dcgui.core.config import TrainConfig
from dcgui.core.events import EpochMetrics

_KMEANS_SAMPLE = 2000  # points clustered to time k-means; the cost grows linearly with n


@dataclass(frozen=True)
class Rates:
    """Measured throughput of one configuration on one device."""

    train_samples_per_s: float
    feature_images_per_s: float
    kmeans_s_per_point: float  # seconds per image for PCA + k-means (at this k and iterations)
    # Costs the warm loops above miss (they made estimates run 30-50 % low, benchmarks/results.md):
    epoch_fixed_s: float = 0.0  # per epoch: checkpoint write (fsync + SHA-256), pass start-up
    decode_images_per_s: float = 0.0  # first run only: decoding into the cache (0: not measured)


def measure_rates(config: TrainConfig, n_images: int, budget_s: float = 1.5, threads: int = 0,
                  folder: Path | None = None) -> Rates:
    """Time training and feature batches (after two warm-up steps, for about ``budget_s`` each)
    and one small k-means.

    Uses the batch size, device, mixed precision and memory layout the run would use (the cost
    of a step does not grow linearly with the batch, so a smaller batch would mislead); random
    pixels are as costly as real ones for a convnet. ``threads``: torch's CPU threads, as the
    trainer will set them (process-wide; 0 leaves them): on a busy machine more threads than
    free cores is many times slower, so measuring with other settings than the run misleads.
    Also timed: a real checkpoint write of this network (per epoch) and, when ``folder`` is given,
    decoding a few of its images as the cache does (the first run decodes every image)."""
    import torch

    from dcgui.core.device import resolve_device
    from dcgui.core.train.augment import center_view, random_resized_crop_flip
    from dcgui.core.train.clustering import kmeans, pca_whiten_l2
    from dcgui.core.train.engine import mixed_precision_dtype, use_channels_last
    from dcgui.core.train.models import build_model

    if threads > 0:
        torch.set_num_threads(threads)
    device = resolve_device(config.device)
    amp_dtype = mixed_precision_dtype(device) if config.amp else None
    torch.manual_seed(0)
    model = build_model(config).to(device)
    k = min(config.k, max(2, n_images))
    channels_last = use_channels_last(config, device, amp_dtype)
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

    with torch.no_grad():
        feat_dim = int(model.embed(center_view(pixels[:2], config.image_size)).shape[1])
    m = min(n_images, _KMEANS_SAMPLE)
    km_k = max(2, min(k, m // 2))
    raw = np.random.default_rng(0).standard_normal((m, feat_dim)).astype(np.float32)
    t0 = time.perf_counter()
    x = pca_whiten_l2(raw, config.pca_dim, inplace=True)
    pca_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    kmeans(x, km_k, niter=config.kmeans_iters, seed=0, device=device)
    km_s = time.perf_counter() - t0
    fixed_s = _checkpoint_seconds(model, opt, config)
    decode = _decode_rate(folder, config) if folder is not None else 0.0
    # k-means costs about n * k * iterations: scale the small run to the real k.
    return Rates(batch * train_steps / max(train_s, 1e-9), batch * feature_steps / max(feature_s, 1e-9),
                 (pca_s + km_s * (k / km_k)) / m, fixed_s, decode)


def _checkpoint_seconds(model: object, opt: object, config: TrainConfig) -> float:
    """One real checkpoint write of this network (what every epoch ends with), in a temp folder."""
    import tempfile

    from dcgui.core.train.checkpoint import save_checkpoint

    with tempfile.TemporaryDirectory(prefix="dcgui-estimate-") as tmp:
        t0 = time.perf_counter()
        save_checkpoint(Path(tmp) / "c.pt", model=model, optimizer=opt, config=config, epoch=1)  # type: ignore[arg-type]
        return time.perf_counter() - t0


def _decode_rate(folder: Path, config: TrainConfig, sample: int = 24) -> float:
    """Images/s decoding the first ``sample`` images of ``folder`` as the cache does, with as many
    threads as the cache build uses (0: none found)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from dcgui.core.images.cache import _decode
    from dcgui.core.images.imageio import IMAGE_EXTENSIONS

    paths: list[Path] = []
    for root, _dirs, files in os.walk(folder):
        paths += [Path(root, f) for f in sorted(files) if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
        if len(paths) >= sample:
            break
    paths = paths[:sample]
    if not paths:
        return 0.0
    workers = config.workers or os.cpu_count() or 1
    with ThreadPoolExecutor(workers) as pool:
        # Untimed first: the decoder plugins' imports and the threads' start cost the first
        # image many times the others (timed with it, 4,000 small PNGs looked 20x slower).
        list(pool.map(lambda p: _decode(p, config.cache_size), paths[:workers]))
        t0 = time.perf_counter()
        list(pool.map(lambda p: _decode(p, config.cache_size), paths[workers:]))
        elapsed = time.perf_counter() - t0
    return max(len(paths) - workers, 1) / max(elapsed, 1e-9)


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
            + n_images * rates.kmeans_s_per_point + rates.epoch_fixed_s)


def estimate_run_seconds(config: TrainConfig, n_images: int, rates: Rates, epochs: int | None = None,
                         cached: bool = True) -> float:
    """Expected seconds of ``epochs`` (default: the config's) epochs, plus decoding every image
    into the cache when it is not ``cached`` yet (a new session)."""
    total = (config.epochs if epochs is None else epochs) * epoch_seconds(config, n_images, rates)
    if not cached and rates.decode_images_per_s > 0:
        total += n_images / rates.decode_images_per_s
    return total


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


# -- the ETA of a running training ---------------------------------------------------------------
EPOCH_PHASES = ("features", "clustering", "training")  # the order of an epoch (dcgui.core.events)
OVERHEAD = "overhead"  # per epoch, outside the three passes: checkpoint write, SQLite commit


@dataclass
class PhaseTimes:
    """Seconds of one epoch, per phase, plus its overhead."""

    features: float = 0.0
    clustering: float = 0.0
    training: float = 0.0
    overhead: float = 0.0

    def get(self, phase: str) -> float:
        return float(getattr(self, phase))

    @property
    def total(self) -> float:
        return self.features + self.clustering + self.training + self.overhead

    @classmethod
    def from_rates(cls, config: TrainConfig, n_images: int, rates: Rates) -> PhaseTimes:
        return cls(n_images / rates.feature_images_per_s, n_images * rates.kmeans_s_per_point,
                   samples_per_epoch(config, n_images) / rates.train_samples_per_s, rates.epoch_fixed_s)

    @classmethod
    def from_epochs(cls, epochs: Sequence[EpochMetrics]) -> PhaseTimes | None:
        """Median phase times of recorded epochs (their overhead was not recorded: 0)."""
        done = [m for m in epochs if m.seconds > 0]
        if not done:
            return None
        return cls(*(float(np.median([getattr(m, f"seconds_{p}") for m in done])) for p in EPOCH_PHASES))


class RunEta:
    """Seconds left in a training run, from the run's own measured rates, phase by phase.

    Each phase of the current epoch is extrapolated from its own progress (done / elapsed); the
    phases not reached yet and the later epochs take the last finished epoch's times (wall clock,
    so the checkpoint write and commit between epochs count), or ``prior`` before one has
    finished. Both are scaled by how much slower or faster the current epoch runs than expected
    so far: when the machine gets busy, the ETA follows within the epoch instead of at its end.
    The first epoch of a run (first batches, cold memory) is not averaged in once a later one
    has finished. ``clock``: seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, target: int, done_epochs: int, prior: PhaseTimes | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.target, self.done_epochs = target, done_epochs
        self._expected = prior
        self._clock = clock
        self._epoch_start = clock()
        self._phase: str | None = None
        self._phase_start = self._epoch_start
        self._phase_frac = 0.0
        self._last_event = self._epoch_start
        self._paused_at: float | None = None
        self._this_epoch: dict[str, float] = {}  # seconds of the phases finished in this epoch

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = self._clock()

    def resume(self) -> None:
        """Continue after a pause: the paused time counts for nothing."""
        if self._paused_at is not None:
            gap = self._clock() - self._paused_at
            self._epoch_start += gap
            self._phase_start += gap
            self._last_event += gap
            self._paused_at = None

    def progress(self, phase: str, frac: float) -> None:
        """A progress event of ``phase`` of the current epoch, ``frac`` of it done."""
        if phase not in EPOCH_PHASES:
            return
        now = self._clock()
        if phase != self._phase:
            # The phase began when the previous one last reported (its first event may come late).
            if self._phase is not None:
                self._this_epoch[self._phase] = self._last_event - self._phase_start
            self._phase_start = self._last_event if self._phase is not None else self._epoch_start
            self._phase = phase
        self._phase_frac = min(max(frac, 0.0), 1.0)
        self._last_event = now

    def epoch_finished(self, phase_seconds: PhaseTimes) -> None:
        """An epoch ended; ``phase_seconds``: its three passes as the engine timed them."""
        now = self._clock()
        wall = now - self._epoch_start
        passes = phase_seconds.features + phase_seconds.clustering + phase_seconds.training
        self._expected = PhaseTimes(phase_seconds.features, phase_seconds.clustering, phase_seconds.training,
                                    max(0.0, wall - passes))
        self.done_epochs += 1
        self._epoch_start = self._phase_start = self._last_event = now
        self._phase, self._phase_frac, self._this_epoch = None, 0.0, {}

    def remaining(self) -> float | None:
        """Seconds left to ``target`` (None: nothing to go on yet)."""
        left_epochs = self.target - self.done_epochs
        if left_epochs <= 0:
            return 0.0
        exp = self._expected
        if exp is None:
            # No expectation: say nothing until one epoch's passes are known (a guess from the
            # first pass alone ran 3x low).
            return None
        now = self._paused_at if self._paused_at is not None else self._clock()
        idx = EPOCH_PHASES.index(self._phase) if self._phase is not None else -1
        # Time taken by this epoch's work so far vs what was expected for it. Only a slowdown is
        # carried over to the other phases: a phase that got faster (the first epoch's cold
        # start) says nothing about the others, and its own new time is used below.
        expected_done = sum(exp.get(p) for p in EPOCH_PHASES[:max(idx, 0)])
        if idx >= 0:
            expected_done += exp.get(EPOCH_PHASES[idx]) * self._phase_frac
        elapsed = now - self._epoch_start
        slow = 1.0
        if expected_done > 0 and elapsed > expected_done:
            weight = min(1.0, expected_done / max(exp.total, 1e-9) * 2)  # trusted as evidence grows
            slow = 1.0 + (elapsed / expected_done - 1.0) * weight
        # This epoch, phase by phase: finished phases as they took, the running one from its own
        # rate, the rest as expected (times the slowdown).
        projected: dict[str, float] = {}
        left = 0.0
        for i, phase in enumerate(EPOCH_PHASES):
            if i < idx:
                projected[phase] = self._this_epoch.get(phase, exp.get(phase))
            elif i == idx:
                in_phase = now - self._phase_start
                frac = self._phase_frac
                by_plan = max(exp.get(phase) * slow - in_phase, exp.get(phase) * slow * (1 - frac))
                if 0 < frac < 1 and in_phase > 0:
                    w = min(1.0, frac * 4)  # a phase's first percent says little about its rate
                    phase_left = w * in_phase * (1 - frac) / frac + (1 - w) * by_plan
                else:
                    phase_left = by_plan if frac < 1 else 0.0
                projected[phase] = in_phase + phase_left
                left += phase_left
            else:
                projected[phase] = exp.get(phase) * slow
                left += projected[phase]
        overhead = exp.overhead * slow
        return left + overhead + (left_epochs - 1) * (sum(projected.values()) + overhead)
