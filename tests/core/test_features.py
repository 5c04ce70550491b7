"""Feature extraction on a real smallnet and real (memory-mapped) pixels: order, progress, stop, pause."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dcgui.core.control import RunControl, StopRequested
from dcgui.core.events import PhaseProgress
from dcgui.core.train import features as features_mod
from dcgui.core.train.augment import center_view
from dcgui.core.train.features import iter_features
from dcgui.core.train.models import create_model
from dcgui.core.train.prefetch import THREAD_NAME

SIZE = 32
CACHE = 37  # TrainConfig(image_size=32).cache_size


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("smallnet", sobel=True, input_size=SIZE, projection=True)


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (23, CACHE, CACHE, 3), dtype=np.uint8)


def _run(gen):
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return events, stop.value


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def test_features_are_the_eval_mode_embedding_of_the_centre_view(model, pixels) -> None:
    model.train()
    events, feats = _run(iter_features(model, pixels, SIZE, 5, "cpu", epoch=3))
    assert feats.shape == (23, 256) and feats.dtype == np.float32
    assert model.training  # the caller's mode is restored
    model.eval()
    with torch.no_grad():
        expected = model.embed(center_view(torch.from_numpy(pixels), SIZE)).numpy()
    np.testing.assert_allclose(feats, expected, rtol=1e-4, atol=1e-5)
    _, rep = _run(iter_features(model, pixels, SIZE, 5, "cpu", representation=True))
    with torch.no_grad():
        expected_rep = model.represent(center_view(torch.from_numpy(pixels), SIZE)).numpy()
    np.testing.assert_allclose(rep, expected_rep, rtol=1e-4, atol=1e-5)
    assert not np.allclose(rep, feats)  # before the projection head vs after it
    assert all(isinstance(e, PhaseProgress) and e.phase == "features" and e.epoch == 3 for e in events)
    assert events[0].done == 0 and events[-1].done == events[-1].total == 23
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert events[-1].images_per_second > 0
    assert not _prefetch_threads()


def test_rows_follow_the_image_order(model, pixels) -> None:
    _, feats = _run(iter_features(model, pixels, SIZE, 4, "cpu"))
    perm = np.random.default_rng(1).permutation(len(pixels))
    _, permuted = _run(iter_features(model, pixels[perm], SIZE, 7, "cpu"))
    np.testing.assert_allclose(permuted, feats[perm], rtol=1e-4, atol=1e-5)
    assert not np.allclose(permuted, feats, atol=1e-3)  # the test would see a shuffle


def test_reads_a_read_only_memmap(model, pixels, tmp_path: Path) -> None:
    path = tmp_path / "pixels.u8"
    mm = np.memmap(path, dtype=np.uint8, mode="w+", shape=pixels.shape)
    mm[:] = pixels
    mm.flush()
    del mm
    ro = np.memmap(path, dtype=np.uint8, mode="r", shape=pixels.shape)
    _, from_file = _run(iter_features(model, ro, SIZE, 8, "cpu"))
    _, in_memory = _run(iter_features(model, pixels, SIZE, 8, "cpu"))
    np.testing.assert_allclose(from_file, in_memory, rtol=1e-5, atol=1e-6)


def test_bfloat16_autocast_on_the_cpu_stays_close(model, pixels) -> None:
    _, exact = _run(iter_features(model, pixels, SIZE, 8, "cpu"))
    _, reduced = _run(iter_features(model, pixels, SIZE, 8, "cpu", autocast_dtype=torch.bfloat16))
    assert reduced.dtype == np.float32 and np.isfinite(reduced).all()
    cos = (exact * reduced).sum(1) / (np.linalg.norm(exact, axis=1) * np.linalg.norm(reduced, axis=1))
    assert cos.min() > 0.98


def test_no_images_and_bad_input(model) -> None:
    _, feats = _run(iter_features(model, np.zeros((0, CACHE, CACHE, 3), np.uint8), SIZE, 4, "cpu"))
    assert feats.shape == (0, 256)
    with pytest.raises(ValueError, match="uint8"):
        _run(iter_features(model, np.zeros((2, CACHE, CACHE, 3), np.float32), SIZE, 4, "cpu"))


def test_stop_between_batches_ends_the_thread(model, pixels) -> None:
    control = RunControl()
    gen = iter_features(model, pixels, SIZE, 2, "cpu", control=control)
    assert next(gen).done == 0
    control.stop()
    with pytest.raises(StopRequested):
        _run(gen)
    deadline = time.monotonic() + 5
    while _prefetch_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _prefetch_threads()


def test_closing_the_generator_early_ends_the_thread(model, pixels) -> None:
    gen = iter_features(model, pixels, SIZE, 2, "cpu")
    next(gen)
    gen.close()
    assert not _prefetch_threads()


class _ObservedControl(RunControl):
    """A RunControl that tells the test when the engine's thread is parked in a pause."""

    def __init__(self) -> None:
        super().__init__()
        self.parked = threading.Event()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        self.parked.set()
        return super().wait_while_paused(timeout)


def _run_in_thread(model, pixels, control: RunControl) -> tuple[threading.Thread, dict[str, object]]:
    result: dict[str, object] = {"events": []}

    def work() -> None:
        gen = iter_features(model, pixels, SIZE, 4, "cpu", control=control)
        try:
            while True:
                result["events"].append(next(gen))  # type: ignore[attr-defined]
        except StopIteration as done:
            result["feats"] = done.value
        except StopRequested:
            result["stopped"] = True

    worker = threading.Thread(target=work, daemon=True)  # a hung pass must not hang pytest's exit
    worker.start()
    return worker, result


def test_pause_blocks_until_resumed(model, pixels) -> None:
    control = _ObservedControl()
    control.pause()
    worker, result = _run_in_thread(model, pixels, control)
    try:
        assert control.parked.wait(30), "the feature pass never reached its pause check"
        # parked before its first batch: the start event and the announced pause, still alive
        events = result["events"]
        assert worker.is_alive() and [type(e).__name__ for e in events] == ["PhaseProgress", "Paused"]  # type: ignore[attr-defined]
        assert events[0].done == 0  # type: ignore[index]
        assert "feats" not in result and "stopped" not in result
    finally:
        control.resume()
        worker.join(timeout=60)
    feats = result["feats"]
    assert not worker.is_alive() and isinstance(feats, np.ndarray) and feats.shape == (23, 256)
    assert result["events"][-1].done == 23  # type: ignore[index]


def test_stop_ends_a_pause(model, pixels) -> None:
    control = _ObservedControl()
    control.pause()
    worker, result = _run_in_thread(model, pixels, control)
    try:
        assert control.parked.wait(30), "the feature pass never reached its pause check"
        assert worker.is_alive()
    finally:
        control.stop()
        worker.join(timeout=60)
    assert not worker.is_alive() and result.get("stopped") is True and "feats" not in result
    assert [type(e).__name__ for e in result["events"]] == ["PhaseProgress", "Paused"]  # type: ignore[attr-defined]
    assert not _prefetch_threads()


def test_a_read_failure_on_the_reader_thread_is_raised_by_the_feature_pass(
        model, pixels, monkeypatch) -> None:
    real = features_mod._read_slice
    read: list[tuple[int, int]] = []

    def failing(pixels: np.ndarray, pin: bool):
        load = real(pixels, pin)

        def flaky(span: tuple[int, int]):
            read.append(span)
            if span[0] == 8:
                raise OSError("the disk went away (injected)")
            return load(span)

        return flaky

    monkeypatch.setattr(features_mod, "_read_slice", failing)
    gen = iter_features(model, pixels, SIZE, 4, "cpu")
    events = []
    with pytest.raises(OSError, match="injected"):
        for ev in gen:
            events.append(ev)
    assert (8, 12) in read and all(e.done <= 8 for e in events)  # nothing past the failed batch
    assert not _prefetch_threads()


def test_progress_is_throttled(model) -> None:
    many = np.random.default_rng(2).integers(0, 256, (32, CACHE, CACHE, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    events, _ = _run(iter_features(model, many, SIZE, 1, "cpu"))
    elapsed = time.perf_counter() - t0
    assert events[-1].done == 32
    assert len(events) <= 2 + elapsed / 0.1 + 1  # start, end, and at most one per 0.1 s


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_amp_channels_last_match_cpu(model, pixels) -> None:
    _, cpu = _run(iter_features(model, pixels, SIZE, 8, "cpu"))
    gpu_model = model.to("cuda").to(memory_format=torch.channels_last)
    try:
        _, gpu = _run(iter_features(gpu_model, pixels, SIZE, 8, "cuda", amp=True, channels_last=True))
    finally:
        model.to("cpu").to(memory_format=torch.contiguous_format)
    cos = (gpu * cpu).sum(1) / (np.linalg.norm(gpu, axis=1) * np.linalg.norm(cpu, axis=1))
    assert cos.min() > 0.99
