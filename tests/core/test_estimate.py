"""The expected time before training and the ETA during it (no timed assertions: the clock is fake;
how close the estimates come on a real machine is benchmarks/bench_estimate.py's job)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgui.core.config import TrainConfig
from dcgui.core.train.estimate import (
    PhaseTimes,
    Rates,
    RunEta,
    epoch_seconds,
    estimate_run_seconds,
    measure_rates,
)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def run_epoch(eta: RunEta, clock: FakeClock, times: PhaseTimes, steps: int = 10,
              check: list[tuple[float, float]] | None = None, left_after: float = 0.0) -> None:
    """Advance the fake clock through one epoch with these phase times, reporting progress as the
    engine does; ``check`` collects (eta, real seconds left) at every event."""
    start = clock.t
    total = times.total
    for phase in ("features", "clustering", "training"):
        dur = times.get(phase)
        n = 1 if phase == "clustering" else steps
        if phase == "clustering":
            eta.progress(phase, 0.0)
        for i in range(1, n + 1):
            clock.t += dur / n
            eta.progress(phase, i / n)
            if check is not None:
                est = eta.remaining()
                assert est is not None
                check.append((est, total - (clock.t - start) + left_after))
    clock.t += times.overhead
    eta.epoch_finished(PhaseTimes(times.features, times.clustering, times.training))


EPOCH = PhaseTimes(features=4.0, clustering=2.0, training=12.0, overhead=2.0)  # 20 s


def test_eta_follows_the_measured_rate_at_a_steady_pace() -> None:
    clock = FakeClock()
    eta = RunEta(target=5, done_epochs=0, prior=EPOCH, clock=clock)
    assert eta.remaining() == pytest.approx(100.0)
    run_epoch(eta, clock, EPOCH)
    assert eta.remaining() == pytest.approx(80.0)  # the overhead (checkpoint, commit) counts
    seen: list[tuple[float, float]] = []
    run_epoch(eta, clock, EPOCH, check=seen, left_after=60.0)
    for est, real in seen:
        assert est == pytest.approx(real, rel=0.02)


def test_a_busy_machine_raises_the_eta_within_the_epoch() -> None:
    """The estimate said 20 s an epoch; the run goes at half speed: by the middle of the first
    epoch the ETA must say so, not promise the estimate's 100 s."""
    clock = FakeClock()
    eta = RunEta(target=5, done_epochs=0, prior=EPOCH, clock=clock)
    slow = PhaseTimes(8.0, 4.0, 24.0, 4.0)
    seen: list[tuple[float, float]] = []
    run_epoch(eta, clock, slow, check=seen, left_after=4 * 40.0)
    half = [est / real for est, real in seen[len(seen) // 2:]]
    assert min(half) > 0.75, half
    run_epoch(eta, clock, slow)
    assert eta.remaining() == pytest.approx(120.0)


def test_a_slow_first_epoch_does_not_make_later_etas_promise_too_little() -> None:
    """Epoch 1 is slow (cold start); epochs 2-6 take 20 s. During epoch 2 the ETA may still say
    more than the truth, never (much) less: its features pass is fast, which alone once made
    the learned phase weights promise a third of the time."""
    clock = FakeClock()
    eta = RunEta(target=6, done_epochs=0, prior=None, clock=clock)
    assert eta.remaining() is None  # nothing to go on: no number rather than a guess
    run_epoch(eta, clock, PhaseTimes(features=20.0, clustering=3.0, training=14.0, overhead=3.0))
    seen: list[tuple[float, float]] = []
    run_epoch(eta, clock, EPOCH, check=seen, left_after=4 * 20.0)
    assert all(est >= 0.9 * real for est, real in seen), seen
    seen = []
    run_epoch(eta, clock, EPOCH, check=seen, left_after=3 * 20.0)
    assert all(est == pytest.approx(real, rel=0.05) for est, real in seen), seen


def test_eta_follows_a_run_that_gets_slower() -> None:
    """The last minutes win: after a slow epoch the ETA uses it, not the run's fast start."""
    clock = FakeClock()
    eta = RunEta(target=4, done_epochs=0, prior=EPOCH, clock=clock)
    run_epoch(eta, clock, EPOCH)
    run_epoch(eta, clock, PhaseTimes(12.0, 6.0, 36.0, 6.0))  # 60 s: the machine got busy
    assert eta.remaining() == pytest.approx(120.0)


def test_paused_time_does_not_count() -> None:
    clock = FakeClock()
    eta = RunEta(target=2, done_epochs=0, prior=EPOCH, clock=clock)
    clock.t += 2.0
    eta.progress("features", 0.5)
    before = eta.remaining()
    eta.pause()
    clock.t += 500.0
    assert eta.remaining() == pytest.approx(before)
    eta.resume()
    assert eta.remaining() == pytest.approx(before)


def test_estimate_counts_overhead_and_decoding() -> None:
    cfg = TrainConfig(epochs=3, samples_per_epoch=1000, k=10)
    rates = Rates(train_samples_per_s=500.0, feature_images_per_s=1000.0, kmeans_s_per_point=0.001,
                  epoch_fixed_s=1.5, decode_images_per_s=100.0)
    assert epoch_seconds(cfg, 1000, rates) == pytest.approx(1 + 2 + 1 + 1.5)
    assert estimate_run_seconds(cfg, 1000, rates) == pytest.approx(3 * 5.5)
    assert estimate_run_seconds(cfg, 1000, rates, cached=False) == pytest.approx(3 * 5.5 + 10)
    assert estimate_run_seconds(cfg, 1000, rates, epochs=1) == pytest.approx(5.5)
    epoch = PhaseTimes.from_rates(cfg, 1000, rates)
    assert epoch.total == pytest.approx(5.5)


@pytest.mark.slow  # builds a network and times real steps: a minute on a loaded 2-core machine
def test_measure_rates_times_the_checkpoint_and_the_decoding(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(tmp_path / f"{i}.jpg")
    cfg = TrainConfig(arch="smallnet", image_size=32, batch_size=8, k=4, pca_dim=8, epochs=1, device="cpu")
    rates = measure_rates(cfg, 6, budget_s=0.05, folder=tmp_path)
    assert rates.epoch_fixed_s > 0 and rates.decode_images_per_s > 0
    assert rates.train_samples_per_s > 0 and rates.feature_images_per_s > 0 and rates.kmeans_s_per_point > 0
    assert measure_rates(cfg, 6, budget_s=0.05).decode_images_per_s == 0.0  # no folder: not measured
