"""First looks (issue 22): while a new folder decodes, the untrained network's clusters of the
images decoded so far come before epoch 1, on real JPEG files, real torch and faiss."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from dcgui.core.analysis.metrics import nmi
from dcgui.core.config import TrainConfig
from dcgui.core.events import PHASE_CACHE, CollectionReady, EpochFinished, FirstLook, PhaseProgress
from dcgui.core.images.cache import FirstLooks, ImageCache, LookTiming
from dcgui.core.images.collection import scan
from dcgui.core.train.clustering import kmeans, pca_whiten_l2
from dcgui.core.train.engine import DeepCluster, epoch_seed
from dcgui.core.train.features import iter_features
from dcgui.core.train.first_look import SEED_STREAM, first_look_hook, first_look_k, start_network
from tests.conftest import drain_events, make_shape_image

CFG = TrainConfig(arch="smallnet", image_size=32, k=4, batch_size=16, epochs=1, device="cpu", seed=3)
EVERY_TIME = LookTiming(after_s=0.0, min_images=8)  # a look as soon as 8 images are decoded


def write_jpeg_folder(root: Path, per_class: int = 12, classes: int = 4, broken: int = 2) -> Path:
    """Real JPEG photos (240x180, the shapes of conftest scaled up) in class folders, plus
    ``broken`` files with a .jpg name that are not images (they fail to decode)."""
    from PIL import Image

    rng = np.random.default_rng(1)
    for c in range(classes):
        d = root / f"class_{c}"
        d.mkdir(parents=True, exist_ok=True)
        for j in range(per_class):
            im = Image.fromarray(make_shape_image(c, rng, 60)).resize((240, 180), Image.Resampling.BILINEAR)
            im.save(d / f"photo_{j:03d}.jpg", quality=90)
    for j in range(broken):
        (root / "class_0" / f"broken_{j}.jpg").write_bytes(b"not a jpeg at all" * 10)
    return root


def test_first_look_clusters_the_decoded_images_with_the_epoch_0_network(tmp_path: Path) -> None:
    folder = write_jpeg_folder(tmp_path / "photos")
    found = scan(folder)
    records = found.images
    broken = {i for i, r in enumerate(records) if "broken" in r.relpath}
    assert len(broken) == 2
    hook = first_look_hook(CFG, lambda: start_network(CFG), started=0.0, n_classes=None)
    cache, events = drain_events(ImageCache.iter_build(
        tmp_path / "cache", folder, records, CFG.cache_size, workers=1,
        first_looks=FirstLooks(hook, EVERY_TIME)))

    looks = [e for e in events if isinstance(e, FirstLook)]
    assert looks, "no first look while 50 JPEGs decoded"
    done_at_end = [i for i, e in enumerate(events) if isinstance(e, PhaseProgress) and e.phase == PHASE_CACHE
                   and e.done == e.total]
    look = looks[0]
    assert events.index(look) < done_at_end[0]  # while decoding went on
    assert look.index == 1 and look.n_total == len(records)
    assert 8 <= look.n_decoded < len(records) and len(look.images) == len(look.assign) == look.n_decoded
    assert np.all(np.diff(look.images) > 0)
    assert not broken & set(look.images.tolist())  # files that failed are never clustered
    assert look.k == first_look_k(CFG, look.n_decoded) and set(look.assign.tolist()) <= set(range(look.k))
    assert sum(len(e) for e in look.examples) == min(look.n_decoded, sum(
        min(int(s), 12) for s in look.sizes()))
    assert [r.relpath for r in (records[p] for p in look.images)] == list(look.relpaths)
    # Decoded in a spread order: the first look samples every class folder, not the first one.
    assert len({p.split("/")[0] for p in look.relpaths}) >= 3

    # The finished cache is the one a build without looks makes (same rows, same order).
    plain, _ = drain_events(ImageCache.iter_build(tmp_path / "plain", folder, records, CFG.cache_size, workers=1))
    assert [r.relpath for r in plain.records] == [r.relpath for r in cache.records]
    assert np.array_equal(plain.pixels, cache.pixels) and plain.failed == cache.failed

    # Its pixels and thumbnails are the cache's rows of those files, as the finished cache has them.
    row_of = {r.relpath: i for i, r in enumerate(cache.records)}
    rows = np.array([row_of[p] for p in look.relpaths])
    for pos, jpeg in look.thumbnails.items():
        assert jpeg == cache.thumbnail_jpeg(row_of[records[pos].relpath])
    assert set(look.thumbnails) == {p for e in look.examples for p in e}

    # The clustering is the epoch-0 network's: the engine's checkpoint 0 holds the same weights,
    # and its features of those rows give the same k-means partition.
    engine = DeepCluster(CFG, cache.pixels, checkpoint_dir=tmp_path / "ckpt")
    reference = start_network(CFG).state_dict()
    for name, value in engine.model.state_dict().items():
        assert torch.equal(value.cpu(), reference[name]), name
    feats, _ = drain_events(iter_features(engine.model, cache.pixels[rows], CFG.image_size, CFG.batch_size * 2, "cpu",
                                          channels_last=engine.channels_last))
    x = pca_whiten_l2(feats, CFG.pca_dim)
    again = kmeans(x, look.k, niter=CFG.kmeans_iters, seed=epoch_seed(CFG.seed, 1, SEED_STREAM)).assign
    assert nmi(again, look.assign) == pytest.approx(1.0, abs=1e-6)


def test_no_look_for_a_fast_build_or_a_finished_cache(tmp_path: Path) -> None:
    folder = write_jpeg_folder(tmp_path / "photos", broken=0)
    records = scan(folder).images
    calls: list[int] = []

    def hook(so_far: Any) -> Any:
        calls.append(len(so_far.positions))
        yield from ()

    # Decoding 48 small JPEGs takes well under the default 4 s: no look.
    drain_events(ImageCache.iter_build(tmp_path / "c", folder, records, 32, workers=1, first_looks=FirstLooks(hook)))
    assert calls == []
    # A complete cache decodes nothing: no look even when one is asked for at once.
    drain_events(ImageCache.iter_build(tmp_path / "c", folder, records, 32, workers=1,
                                       first_looks=FirstLooks(hook, EVERY_TIME)))
    assert calls == []


def test_session_first_look_comes_before_epoch_1_and_leaves_no_trace(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from dcgui.services import training
    from dcgui.store import SessionStore

    monkeypatch.setattr(training, "FIRST_LOOK_TIMING", EVERY_TIME)
    folder = write_jpeg_folder(tmp_path / "photos")
    path = tmp_path / "s.dcgui"
    store = training.create_session(path, folder, CFG)
    with store:
        _, events = drain_events(training.iter_train(store, epochs=1))
        kinds = [type(e) for e in events]
        assert FirstLook in kinds, "no first look before epoch 1"
        first_look_at = kinds.index(FirstLook)
        assert first_look_at < kinds.index(CollectionReady) < kinds.index(EpochFinished)
        assert all(k is not FirstLook for k in kinds[kinds.index(CollectionReady):])
        assert store.last_epoch() == 1 and [m.epoch for m in store.epochs()] == [1]
        n_images = store.n_images

        # Trained: the cache rebuilt from scratch decodes again, but the session has epochs now.
        shutil.rmtree(store.cache_dir)
        _, events = drain_events(training.iter_train(store, epochs=2))
        assert not [e for e in events if isinstance(e, FirstLook)]
    with SessionStore.open(path, readonly=True) as s:  # nothing of the looks in the file
        assert s.last_epoch() == 2 and s.n_images == n_images == 48
