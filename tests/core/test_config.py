from __future__ import annotations

import pytest

from dcgui.core.config import TrainConfig, default_config, suggest_k


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
    ],
)
def test_invalid_fields_name_the_field(changes: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**changes)


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
