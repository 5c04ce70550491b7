from __future__ import annotations

import pytest

from dcgui.core.config import TrainConfig, default_config, suggest_k, suggest_samples_per_epoch


def test_defaults_follow_the_paper() -> None:
    cfg = TrainConfig()
    assert (cfg.lr, cfg.momentum, cfg.weight_decay, cfg.kmeans_iters, cfg.pca_dim) == (0.05, 0.9, 1e-5, 20, 256)
    assert cfg.crop_scale_min == 0.08 and cfg.head == "reset"


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"arch": "vit"}, "arch='vit' is unknown"),
        ({"k": 1}, "k=1 is invalid"),
        ({"batch_size": 1}, "batch_size=1"),
        ({"lr": -1.0}, "lr=-1.0 must be a positive number"),
        ({"device": "tpu"}, "device='tpu'"),
        ({"arch": "alexnet_bn", "image_size": 32}, "too small for arch='alexnet_bn'"),
        ({"head": "x"}, "head='x'"),
        ({"seed": -1}, "seed=-1 is invalid: use a whole number from 0 to 2147483647"),
        ({"seed": 2**31}, "seed=2147483648 is invalid"),
        ({"seed": 1.5}, "seed=1.5 is invalid"),
        ({"workers": -2}, "workers=-2 is invalid"),
        ({"samples_per_epoch": -1}, "samples_per_epoch=-1 is invalid"),
        ({"sobel": "no"}, "sobel='no' is invalid: use true or false"),
        ({"crop_scale_min": "big"}, "crop_scale_min='big' must be in (0, 1]"),
    ],
)
def test_invalid_fields_name_the_field(changes: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**changes)


def test_a_stored_invalid_seed_cannot_load() -> None:
    """A session file holding seed -1 (written before seeds were checked, or doctored) is refused
    when read, instead of failing after an epoch was written."""
    text = TrainConfig().to_json().replace('"seed": 31', '"seed": -1')
    with pytest.raises(ValueError, match="seed=-1 is invalid"):
        TrainConfig.from_json(text)


def test_k_larger_than_collection_says_the_fix() -> None:
    cfg = TrainConfig(k=500)
    with pytest.raises(ValueError, match=r"k=500 is larger than the number of images \(100\): use k <= 100"):
        cfg.validate(n_images=100)


def test_json_round_trip_and_unknown_fields() -> None:
    cfg = TrainConfig(k=7, arch="resnet18", image_size=64)
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="newer dcgui"):
        TrainConfig.from_dict({**cfg.to_dict(), "future_field": 1})


def test_default_config_over_clusters_and_fits_the_device() -> None:
    cpu = default_config(20_000, "cpu", n_classes=10)
    assert cpu.k == 100 and cpu.arch == "smallnet" and cpu.image_size <= 64
    gpu = default_config(20_000, "cuda")
    assert gpu.arch == "resnet18" and gpu.image_size >= 128
    assert 2 <= suggest_k(30) <= 30
    assert suggest_k(5_000_000) == 10_000
    assert default_config(1000, "cpu", k=3).k == 3


def test_threads_field_is_validated_and_round_trips() -> None:
    assert TrainConfig().threads == 0
    assert TrainConfig.from_json(TrainConfig(threads=1).to_json()).threads == 1
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="threads"):
            TrainConfig(threads=bad)  # type: ignore[arg-type]


def test_small_collections_get_enough_steps_per_clustering() -> None:
    # ImageNet-sized collections: one pass per epoch, as the paper (0 = N)
    assert default_config(1_000_000, "cpu").samples_per_epoch == 0
    assert suggest_samples_per_epoch(32_000, 128) == 0
    # 20k images at batch 128: 156 batches per pass -> 250 batches
    assert default_config(20_000, "cpu", n_classes=10).samples_per_epoch == 250 * 128
    # on a CPU, collections under 12,500 images train on 12,500 between clusterings (issue 22's table)...
    assert default_config(1_100, "cpu").samples_per_epoch == 12_500
    assert default_config(5_000, "cpu").samples_per_epoch == 12_500
    # ...but tiny ones are not drawn more than 16 times per clustering
    assert suggest_samples_per_epoch(100, 128) == 1_600
    # on a GPU: at most 4 passes per clustering, at least 250 batches when one pass is shorter
    assert suggest_samples_per_epoch(100, 256, "cuda") == 400
    assert default_config(5_000, "cuda").samples_per_epoch == 20_000
    assert default_config(100, "cpu", samples_per_epoch=0).samples_per_epoch == 0  # overrides win


def test_one_table_names_the_archs_and_their_minimum_sizes() -> None:
    """The config's table (no torch) and the built networks agree; each minimum is enforced by
    the config, the model and the out-of-memory advice alike."""
    from dcgui.core.config import ARCH_MIN_SIZE, ARCHS
    from dcgui.core.device import oom_error
    from dcgui.core.train import models

    assert tuple(models.ARCHS) == ARCHS == tuple(ARCH_MIN_SIZE)
    for arch, minimum in ARCH_MIN_SIZE.items():
        TrainConfig(arch=arch, image_size=minimum)
        with pytest.raises(ValueError, match=f"at least {minimum} px"):
            TrainConfig(arch=arch, image_size=minimum - 1)
        with pytest.raises(ValueError, match=f"at least {minimum} px"):
            models.DeepClusterNet(arch, sobel=True, input_size=minimum - 1)
        at_minimum = TrainConfig(arch=arch, image_size=minimum, device="cpu", batch_size=2)
        assert "set image_size" not in str(oom_error(MemoryError(), at_minimum))
