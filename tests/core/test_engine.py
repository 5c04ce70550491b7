"""The DeepCluster loop on tiny real data: events, metrics, determinism, resume, stop and pause."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from dcgui.core.config import TrainConfig
from dcgui.core.control import RunControl
from dcgui.core.events import (
    CheckpointWritten,
    EpochFinished,
    Finished,
    Paused,
    PhaseProgress,
    Resumed,
    Stopped,
)
from dcgui.core.train import engine as engine_mod
from dcgui.core.train.checkpoint import load_checkpoint, load_model
from dcgui.core.train.engine import CentroidHead, DeepCluster, ResumeState, epoch_seed
from dcgui.core.train.prefetch import THREAD_NAME
from tests.conftest import make_shape_image

CFG = TrainConfig(arch="smallnet", k=4, epochs=2, image_size=32, batch_size=16, seed=3, device="cpu")


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 12)
    pixels = np.stack([make_shape_image(int(c), rng, CFG.cache_size) for c in labels])
    return pixels, labels


def _run(cfg: TrainConfig, pixels, labels, ckdir: Path, resume=None, until=None, control=None):
    engine = DeepCluster(cfg, pixels, labels, ckdir, control=control, resume=resume)
    return engine, list(engine.run(until))


def test_two_epochs_yield_metrics_assignments_and_checkpoints(data, tmp_path: Path) -> None:
    pixels, labels = data
    _, events = _run(CFG, pixels, labels, tmp_path)
    finished = [e for e in events if isinstance(e, EpochFinished)]
    assert [e.metrics.epoch for e in finished] == [1, 2]
    assert isinstance(events[-1], Finished) and events[-1].last_completed_epoch == 2
    phases = {e.phase for e in events if isinstance(e, PhaseProgress)}
    assert {"features", "clustering", "training"} <= phases
    first, second = finished
    assert first.metrics.nmi_prev is None and second.metrics.nmi_prev is not None
    assert 0.0 <= second.metrics.nmi_prev <= 1.0
    assert first.metrics.nmi_labels is not None and first.metrics.ari_labels is not None
    for ev in finished:
        assert ev.assign_raw.shape == (48,) and ev.assign_raw.dtype == np.int32
        assert sorted(ev.mapping.tolist()) == list(range(4))  # a permutation of the cluster ids
        assert np.array_equal(ev.mapping[ev.assign_raw], ev.assign_matched)
        m = ev.metrics
        assert m.loss > 0 and np.isfinite(m.loss) and m.kmeans_objective >= 0
        sizes = np.bincount(ev.assign_raw, minlength=4)  # the size statistics of these assignments
        assert m.k == 4 and m.empty_clusters == int((sizes == 0).sum())
        assert (m.min_cluster, m.max_cluster) == (int(sizes.min()), int(sizes.max()))
        assert m.seconds > 0 and m.images_per_second > 0 and m.n_images == 48
    ckpts = [e for e in events if isinstance(e, CheckpointWritten)]
    assert [c.epoch for c in ckpts] == [0, 1, 2]  # epoch 0 = the random initialisation
    assert (tmp_path / "epoch_0000.pt").exists() and (tmp_path / "epoch_0002.pt").exists()
    payload = load_checkpoint(tmp_path / "epoch_0002.pt")
    assert payload["epoch"] == 2 and TrainConfig.from_json(payload["config"]) == CFG
    assert not any(k.startswith("top_layer") for k in payload["model"])


def test_training_changes_the_backbone_and_epoch0_is_the_init(data, tmp_path: Path) -> None:
    pixels, labels = data
    _run(CFG.replace(epochs=1), pixels, labels, tmp_path)
    m0, _ = load_model(tmp_path / "epoch_0000.pt")
    m1, _ = load_model(tmp_path / "epoch_0001.pt")
    torch.manual_seed(CFG.seed)
    diffs = [(a - b).abs().max().item() for a, b in zip(m0.state_dict().values(), m1.state_dict().values())
             if a.dtype.is_floating_point]
    assert max(diffs) > 1e-4


def test_cpu_run_is_deterministic(data, tmp_path: Path) -> None:
    pixels, labels = data
    _, ev1 = _run(CFG, pixels, labels, tmp_path / "a")
    _, ev2 = _run(CFG, pixels, labels, tmp_path / "b")
    f1 = [e for e in ev1 if isinstance(e, EpochFinished)]
    f2 = [e for e in ev2 if isinstance(e, EpochFinished)]
    for a, b in zip(f1, f2, strict=True):
        assert np.array_equal(a.assign_raw, b.assign_raw)
        assert a.metrics.loss == b.metrics.loss
    sa = load_checkpoint(tmp_path / "a" / "epoch_0002.pt")["model"]
    sb = load_checkpoint(tmp_path / "b" / "epoch_0002.pt")["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_equals_an_uninterrupted_run(data, tmp_path: Path) -> None:
    pixels, labels = data
    cfg = CFG.replace(epochs=3)
    _, straight = _run(cfg, pixels, labels, tmp_path / "straight")
    _, part = _run(cfg, pixels, labels, tmp_path / "resumed", until=2)
    last = [e for e in part if isinstance(e, EpochFinished)][-1]
    resume = ResumeState(2, tmp_path / "resumed" / "epoch_0002.pt", last.assign_matched)
    _, rest = _run(cfg, pixels, labels, tmp_path / "resumed", resume=resume)
    assert [e.metrics.epoch for e in rest if isinstance(e, EpochFinished)] == [3]
    s = load_checkpoint(tmp_path / "straight" / "epoch_0003.pt")["model"]
    r = load_checkpoint(tmp_path / "resumed" / "epoch_0003.pt")["model"]
    assert all(torch.equal(s[k], r[k]) for k in s)
    e3s = [e for e in straight if isinstance(e, EpochFinished)][-1]
    e3r = [e for e in rest if isinstance(e, EpochFinished)][-1]
    assert np.array_equal(e3s.assign_matched, e3r.assign_matched)
    assert e3s.metrics.nmi_prev == e3r.metrics.nmi_prev


def test_stop_between_batches_keeps_the_last_completed_epoch(data, tmp_path: Path) -> None:
    pixels, labels = data
    control = RunControl()
    engine = DeepCluster(CFG.replace(epochs=5), pixels, labels, tmp_path, control=control)
    events = []
    for ev in engine.run():
        events.append(ev)
        if isinstance(ev, PhaseProgress) and ev.phase == "training" and ev.epoch == 2:
            control.stop()
    assert isinstance(events[-1], Stopped) and events[-1].last_completed_epoch == 1
    assert (tmp_path / "epoch_0001.pt").exists() and not (tmp_path / "epoch_0002.pt").exists()


def test_pause_blocks_until_resume(data, tmp_path: Path) -> None:
    pixels, labels = data
    control = RunControl()
    engine = DeepCluster(CFG.replace(epochs=1), pixels, labels, tmp_path, control=control)
    seen: list[object] = []
    control.pause()
    timer = threading.Timer(0.5, control.resume)
    timer.start()
    for ev in engine.run():
        seen.append(ev)
    timer.join()
    kinds = [type(e) for e in seen]
    assert Paused in kinds and Resumed in kinds and kinds.index(Paused) < kinds.index(Resumed)
    assert isinstance(seen[-1], Finished)


def test_empty_clusters_never_crash(tmp_path: Path) -> None:
    # 6 distinct images repeated: k=12 > distinct points leaves clusters empty
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (6, CFG.cache_size, CFG.cache_size, 3), dtype=np.uint8)
    pixels = np.repeat(base, 4, axis=0)
    _, events = _run(CFG.replace(k=12, epochs=1), pixels, None, tmp_path)
    fin = next(e for e in events if isinstance(e, EpochFinished))
    used = len(np.unique(fin.assign_raw))
    assert fin.metrics.empty_clusters == 12 - used >= 1 and fin.metrics.nmi_labels is None
    assert np.isfinite(fin.metrics.loss)


def test_centroid_head_trains(data, tmp_path: Path, monkeypatch) -> None:
    pixels, labels = data
    heads: list[tuple[torch.nn.Module, torch.Tensor, torch.Tensor | None]] = []
    make_head = DeepCluster._make_head

    def spy(self, epoch, prototypes):  # the head each epoch trains, with its starting prototypes
        head = make_head(self, epoch, prototypes)
        start = head.prototypes.detach().clone() if isinstance(head, CentroidHead) else None
        heads.append((head, prototypes.clone() if prototypes is not None else None, start))
        return head

    monkeypatch.setattr(DeepCluster, "_make_head", spy)
    engine, events = _run(CFG.replace(head="centroids", epochs=2), pixels, labels, tmp_path)
    fin = [e for e in events if isinstance(e, EpochFinished)]
    assert len(fin) == 2 and all(np.isfinite(e.metrics.loss) for e in fin)
    assert len(heads) == 2 and engine.model.top_layer is None  # no linear top layer was built
    for head, prototypes, start in heads:
        assert isinstance(head, CentroidHead) and prototypes is not None and start is not None
        # it starts at the (normalised) cluster sums of the epoch's features ...
        assert prototypes.shape == (CFG.k, engine.model.feat_dim)
        torch.testing.assert_close(start, torch.nn.functional.normalize(prototypes, dim=1))
        # ... and the training moved it
        assert (head.prototypes.detach() - start).abs().max() > 1e-4


def test_a_read_failure_during_training_stops_the_run_with_that_error(data, tmp_path: Path,
                                                                    monkeypatch) -> None:
    pixels, labels = data
    real = engine_mod._read_batch
    read: list[int] = []

    def failing(pixels: np.ndarray, pin: bool):
        load = real(pixels, pin)

        def flaky(ids: np.ndarray):
            read.append(len(ids))
            if len(read) == 2:  # the second training batch of the first epoch
                raise OSError("cannot read the pixel cache (injected)")
            return load(ids)

        return flaky

    monkeypatch.setattr(engine_mod, "_read_batch", failing)
    engine = DeepCluster(CFG.replace(epochs=1, batch_size=8), pixels, labels, tmp_path)
    events = []
    with pytest.raises(OSError, match="injected"):
        for ev in engine.run():
            events.append(ev)
    assert len(read) == 2 and engine.epoch == 0  # no epoch completed on a batch trained twice
    assert not any(isinstance(e, EpochFinished) for e in events)
    assert not (tmp_path / "epoch_0001.pt").exists()
    assert not [t for t in threading.enumerate() if t.name == THREAD_NAME]


def test_config_checked_against_collection(tmp_path: Path) -> None:
    pixels = np.zeros((3, CFG.cache_size, CFG.cache_size, 3), np.uint8)
    with pytest.raises(ValueError, match="k=4 is larger than the number of images"):
        DeepCluster(CFG, pixels, None, tmp_path)


def test_epoch_seeds_differ_per_epoch_and_purpose() -> None:
    seeds = {epoch_seed(1, e, s) for e in range(5) for s in range(3)}
    assert len(seeds) == 15


def test_threads_setting_sets_torchs_intra_op_pool(data, tmp_path: Path) -> None:
    pixels, labels = data
    before = torch.get_num_threads()
    try:
        DeepCluster(CFG.replace(threads=1), pixels, labels, tmp_path)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_centroid_prototypes_are_chunked_sums_of_unit_features(data, tmp_path: Path, monkeypatch) -> None:
    pixels, labels = data
    engine = DeepCluster(CFG.replace(head="centroids", k=5), pixels, labels, tmp_path)
    rng = np.random.default_rng(4)
    feats = rng.standard_normal((48, 16)).astype(np.float32) * 3
    assign = np.repeat(np.arange(4), 12)  # cluster 4 is empty
    monkeypatch.setattr("dcgui.core.train.engine.PROTOTYPE_CHUNK_ROWS", 7)  # several, uneven chunks
    protos = engine._prototypes(1, feats, assign).numpy()
    unit = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    for c in range(4):
        np.testing.assert_allclose(protos[c], unit[assign == c].sum(axis=0), rtol=1e-5, atol=1e-5)
    assert protos[4].any() and np.isfinite(protos[4]).all()  # the empty cluster: a random direction
    np.testing.assert_array_equal(engine._prototypes(1, feats, assign).numpy(), protos)  # seeded by epoch


def test_the_owner_moves_the_end_while_training_runs(data, tmp_path: Path) -> None:
    """RunControl.set_until: the GUI's "until epoch" changed during a run, both ways."""
    pixels, labels = data
    control = RunControl()
    longer = DeepCluster(CFG.replace(epochs=1), pixels, labels, tmp_path / "a", control=control)
    events = []
    for ev in longer.run():
        events.append(ev)
        if isinstance(ev, PhaseProgress) and ev.phase == "training" and ev.epoch == 1:
            control.set_until(2)  # lengthen: the run goes on to epoch 2
    assert isinstance(events[-1], Finished) and events[-1].last_completed_epoch == 2

    control = RunControl()
    shorter = DeepCluster(CFG.replace(epochs=5), pixels, labels, tmp_path / "b", control=control)
    events = []
    for ev in shorter.run():
        events.append(ev)
        if isinstance(ev, PhaseProgress) and ev.phase == "features" and ev.epoch == 1:
            control.set_until(1)  # shorten: the run ends after the epoch in progress
    assert isinstance(events[-1], Finished) and events[-1].last_completed_epoch == 1
    assert not (tmp_path / "b" / "epoch_0002.pt").exists()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_an_epoch_on_cuda_with_amp_and_channels_last(data, tmp_path: Path) -> None:
    """The GPU path end to end: pinned prefetch, AMP, channels-last, k-means in torch on the GPU."""
    pixels, labels = data
    cfg = CFG.replace(device="cuda", amp=True, channels_last=True, epochs=1)
    _, events = _run(cfg, pixels, labels, tmp_path)
    fin = [e for e in events if isinstance(e, EpochFinished)]
    assert len(fin) == 1 and isinstance(events[-1], Finished)
    m = fin[0].metrics
    assert np.isfinite(m.loss) and m.loss > 0 and m.nmi_labels is not None
    assert fin[0].assign_raw.shape == (48,) and m.empty_clusters == int((np.bincount(fin[0].assign_raw, minlength=4) == 0).sum())
    model, _ = load_model(tmp_path / "epoch_0001.pt")  # a GPU checkpoint loads on the CPU
    assert all(p.device.type == "cpu" and torch.isfinite(p).all() for p in model.parameters())


def test_a_checkpoint_torch_cannot_read_is_refused_naming_it_and_the_way_on(tmp_path: Path) -> None:
    from dcgui.core.errors import DcguiError

    bad = tmp_path / "epoch_0003.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(DcguiError, match=r"(?s)checkpoint .*epoch_0003\.pt cannot be read \(\w+: .*--from-epoch 2"):
        load_checkpoint(bad, epoch=3)
    with pytest.raises(DcguiError, match=r"(?s)cannot be read .*Retrain$"):
        load_checkpoint(bad)


def test_cpu_float32_trains_channels_last_and_matches_the_plain_layout(data) -> None:
    """Channels-last pays on a CPU in float32 too (docs/QUALITY.md); the features it gives are the
    plain layout's up to rounding (two code paths: a tolerance, not equality)."""
    from dcgui.core.train.features import iter_features
    from tests.conftest import drain_events

    pixels, _ = data
    cfg = CFG.replace(amp=False, epochs=1)
    fast = DeepCluster(cfg, pixels)
    plain = DeepCluster(cfg.replace(channels_last=False), pixels)
    assert fast.channels_last and not plain.channels_last
    conv = next(m for m in fast.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    plain.model.load_state_dict(fast.model.state_dict())
    f_fast, _ = drain_events(iter_features(fast.model, pixels, cfg.image_size, 16, "cpu", channels_last=True))
    f_plain, _ = drain_events(iter_features(plain.model, pixels, cfg.image_size, 16, "cpu", channels_last=False))
    np.testing.assert_allclose(f_fast, f_plain, rtol=1e-4, atol=1e-4)
