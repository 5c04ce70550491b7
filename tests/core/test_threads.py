"""The CPU thread count is measured on each epoch's first batches and the fastest one kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcgui.core.config import TrainConfig
from dcgui.core.events import Message
from dcgui.core.train.engine import DeepCluster
from dcgui.core.train.threads import ThreadTuner, candidates
from tests.conftest import make_shape_image


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_candidates_are_all_half_and_one() -> None:
    assert candidates(1) == [1]
    assert candidates(2) == [2, 1]
    assert candidates(8) == [8, 4, 1]


def test_tuner_keeps_the_faster_count_and_sets_it(two_threads) -> None:
    tuner = ThreadTuner(2)
    tuner.start_epoch(40)
    seen = []
    for b in range(10):
        tuner.before_batch(b)
        seen.append(torch.get_num_threads())
        # one thread is three times faster here, as on a machine where another job holds a core
        tuner.after_batch(b, 0.3 if torch.get_num_threads() == 2 else 0.1)
    assert seen[:5] == [2, 2, 2, 1, 1]  # warm-up, then each candidate twice
    assert seen[5:] == [1] * 5 and tuner.choice == 1
    assert tuner.summary().startswith("1 (0.100 s per batch; 2: 0.300 s")
    # next epoch, the machine is idle again: the probe finds 2 faster and goes back
    tuner.start_epoch(40)
    for b in range(8):
        tuner.before_batch(b)
        tuner.after_batch(b, 0.1 if torch.get_num_threads() == 2 else 0.3)
    assert tuner.choice == 2 and torch.get_num_threads() == 2


def test_short_epochs_and_single_core_are_not_probed(two_threads) -> None:
    tuner = ThreadTuner(2)
    tuner.start_epoch(5)
    for b in range(5):
        tuner.before_batch(b)
        assert torch.get_num_threads() == 2
        tuner.after_batch(b, 1.0)
    assert tuner.times == {} and tuner.choice == 2
    assert not ThreadTuner(1).active


def _pixels(n: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.stack([make_shape_image(int(c), rng, size) for c in np.arange(n) % 4])


def test_engine_measures_threads_when_automatic_and_restores_the_count(two_threads) -> None:
    cfg = TrainConfig(arch="smallnet", k=4, epochs=1, image_size=16, batch_size=8, seed=3, device="cpu",
                      samples_per_epoch=8 * 14, threads=0)
    engine = DeepCluster(cfg, _pixels(32, cfg.cache_size))
    events = list(engine.run())
    assert engine.tuner is not None and set(engine.tuner.times) == {1, 2}
    assert all(len(t) == 2 for t in engine.tuner.times.values())
    said = [e.text for e in events if isinstance(e, Message) and "CPU threads" in e.text]
    assert len(said) == 1 and said[0].startswith(f"epoch 1: training on {engine.tuner.choice} (")
    assert torch.get_num_threads() == 2  # the owner's count again after the run


def test_engine_leaves_an_explicit_thread_count_alone(two_threads) -> None:
    cfg = TrainConfig(arch="smallnet", k=4, epochs=1, image_size=16, batch_size=8, seed=3, device="cpu",
                      samples_per_epoch=8 * 14, threads=1)
    engine = DeepCluster(cfg, _pixels(32, cfg.cache_size))
    events = list(engine.run())
    assert engine.tuner is None
    assert not [e for e in events if isinstance(e, Message) and "CPU threads" in e.text]
