"""The model registry on CPU with tiny batches: shapes, Sobel, initialisation, top layer, state."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from dcgui.core.config import ARCH_MIN_SIZE, TrainConfig
from dcgui.core.train.models import (
    ARCHS,
    MEAN,
    STD,
    DeepClusterNet,
    build_model,
    create_model,
    sobel_kernel,
)


@pytest.fixture(scope="module")
def alexnet() -> DeepClusterNet:
    """One AlexNet shared by the tests that only read it (its fc6 alone has 38M weights)."""
    torch.manual_seed(0)
    return create_model("alexnet_bn", sobel=True, input_size=64).eval()


FEAT_DIMS = {"smallnet": 256, "alexnet_bn": 4096, "vgg16_bn": 4096, "resnet18": 512, "resnet50": 2048}


def test_registry_lists_every_configurable_arch() -> None:
    from dcgui.core.config import ARCHS as CONFIG_ARCHS

    assert set(ARCHS) == set(CONFIG_ARCHS)
    for name, spec in ARCHS.items():
        assert spec.name == name and spec.description and spec.feat_dim == FEAT_DIMS[name]


@pytest.mark.parametrize("sobel", [True, False], ids=["sobel", "rgb"])
@pytest.mark.parametrize("arch", list(ARCHS))
def test_each_arch_embeds_at_its_minimum_size(arch: str, sobel: bool) -> None:
    torch.manual_seed(0)
    size = ARCH_MIN_SIZE[arch]
    model = create_model(arch, sobel=sobel, input_size=size)
    assert model.feat_dim == FEAT_DIMS[arch] and model.sobel is sobel and model.input_size == size
    x = torch.rand(2, 3, size, size)
    model.train()  # BatchNorm in training mode must cope with the smallest maps at batch 2
    z = model.embed(x)
    assert z.shape == (2, FEAT_DIMS[arch]) and torch.isfinite(z).all()
    model.eval()
    with torch.no_grad():
        model.set_top_layer(5)
        logits = model(x)
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    first_conv = next(m for m in model.body.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == (2 if sobel else 3)


def test_build_model_follows_the_config_and_rejects_too_small_inputs() -> None:
    model = build_model(TrainConfig(arch="smallnet", image_size=48, sobel=False))
    assert (model.config_arch, model.input_size, model.sobel) == ("smallnet", 48, False)
    assert model.top_layer is None
    with pytest.raises(ValueError, match="image_size=32 is too small for arch='alexnet_bn'"):
        create_model("alexnet_bn", input_size=32)
    with pytest.raises(ValueError, match="unknown"):
        create_model("lenet")


def test_build_is_deterministic_given_the_seed() -> None:
    def weights(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return build_model(TrainConfig(arch="smallnet")).state_dict()

    a, b, c = weights(1), weights(1), weights(2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_input_is_normalised_inside_the_model() -> None:
    model = create_model("smallnet", sobel=False, input_size=32)
    x = torch.rand(2, 3, 32, 32)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    assert torch.allclose(model.prepare(x), (x - mean) / std, atol=1e-6)
    assert {"mean", "std"} <= set(model.backbone_state_dict())  # travels with the weights


def test_sobel_equals_the_reference_grey_then_sobel_convolutions() -> None:
    # The reference (deepcluster models/alexnet.py): Conv2d(3, 1, 1) filled with 1/3, then a
    # Conv2d(1, 2, 3, padding=1) with the two Sobel kernels, on the normalised input.
    grey = nn.Conv2d(3, 1, 1)
    grey.weight.data.fill_(1.0 / 3.0)
    grey.bias.data.zero_()
    sob = nn.Conv2d(1, 2, 3, padding=1)
    sob.weight.data[0, 0] = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])
    sob.weight.data[1, 0] = torch.tensor([[1.0, 2, 1], [0, 0, 0], [-1, -2, -1]])
    sob.bias.data.zero_()
    model = create_model("smallnet", sobel=True, input_size=32)
    x = torch.rand(3, 3, 32, 32)
    normalised = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = sob(grey(normalised))
    assert torch.allclose(model.prepare(x), expected, atol=1e-5)
    assert sobel_kernel().shape == (2, 3, 3, 3)


def test_sobel_is_fixed_and_not_trained() -> None:
    torch.manual_seed(0)
    model = create_model("smallnet", sobel=True, input_size=32)
    before = model.sobel_weight.clone()
    names = [n for n, _ in model.named_parameters()]
    assert not any("sobel" in n for n in names)
    assert "sobel_weight" in dict(model.named_buffers())
    model.set_top_layer(4)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    conv1 = next(m for m in model.body.modules() if isinstance(m, nn.Conv2d)).weight.detach().clone()
    for _ in range(2):
        loss = nn.functional.cross_entropy(model(torch.rand(8, 3, 32, 32)), torch.randint(0, 4, (8,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(model.sobel_weight, before)
    assert not torch.equal(next(m for m in model.body.modules() if isinstance(m, nn.Conv2d)).weight, conv1)


def test_initialisation_follows_the_paper(alexnet: DeepClusterNet) -> None:
    model = alexnet
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5
    for conv in convs:
        k, out = conv.kernel_size[0], conv.out_channels
        expected = math.sqrt(2.0 / (k * k * out))
        assert conv.weight.std().item() == pytest.approx(expected, rel=0.05)
        assert conv.weight.mean().abs().item() < 0.1 * expected
        assert torch.count_nonzero(conv.bias) == 0
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [lin.out_features for lin in linears] == [4096, 4096]
    for lin in linears:
        assert lin.weight.std().item() == pytest.approx(0.01, rel=0.02)
        assert torch.count_nonzero(lin.bias) == 0
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


def test_alexnet_structure_matches_the_reference(alexnet: DeepClusterNet) -> None:
    model = alexnet  # the conv stack does not depend on the input size
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    spec = [(c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs]
    assert spec == [(96, 11, 4, 2), (256, 5, 1, 2), (384, 3, 1, 1), (384, 3, 1, 1), (256, 3, 1, 1)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 5
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 3
    assert sum(isinstance(m, nn.Dropout) for m in model.modules()) == 2
    # at 224 px the conv stack ends at exactly 6x6, as the reference's 256*6*6 fc6 expects
    conv_stack = model.body[0]
    with torch.no_grad():
        assert conv_stack(model.prepare(torch.rand(1, 3, 224, 224))).shape == (1, 256, 6, 6)


def test_embed_is_fc7_before_relu_and_forward_adds_relu_then_top_layer(alexnet: DeepClusterNet) -> None:
    model = alexnet
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        z = model.embed(x)
        assert (z < 0).any()  # not yet through the ReLU
        top = model.set_top_layer(3)
        assert torch.allclose(model(x), top(torch.relu(z)), atol=1e-6)
    model.top_layer = None
    small = create_model("smallnet", input_size=32).eval()
    with torch.no_grad():
        top = small.set_top_layer(3)
        assert torch.allclose(small(torch.ones(1, 3, 32, 32) / 2), top(small.embed(torch.ones(1, 3, 32, 32) / 2)))


def test_resnets_use_a_small_input_stem_below_64_px() -> None:
    small = create_model("resnet18", sobel=True, input_size=63)
    assert small.body.conv1.kernel_size == (3, 3) and small.body.conv1.stride == (1, 1)
    assert isinstance(small.body.maxpool, nn.Identity)
    maps: list[torch.Size] = []
    small.body.layer4.register_forward_hook(lambda _m, _i, out: maps.append(out.shape))
    small.eval()
    with torch.no_grad():
        small.embed(torch.rand(1, 3, 32, 32))
    assert maps[0][-2:] == (4, 4)  # not collapsed to 1x1
    large = create_model("resnet18", sobel=True, input_size=64)
    assert large.body.conv1.kernel_size == (7, 7) and large.body.conv1.in_channels == 2
    assert isinstance(large.body.maxpool, nn.MaxPool2d)
    maps.clear()
    large.body.layer4.register_forward_hook(lambda _m, _i, out: maps.append(out.shape))
    large.eval()
    with torch.no_grad():
        large.embed(torch.rand(1, 3, 64, 64))
    assert maps[0][-2:] == (2, 2)  # the ImageNet stem at 64 px still leaves a spatial map


def test_top_layer_random_and_centroid_head() -> None:
    torch.manual_seed(0)
    model = create_model("smallnet", input_size=32)
    top = model.set_top_layer(1000)
    weight, bias = top.weight, top.bias
    assert model.top_layer is top and weight.shape == (1000, 256)
    assert weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert torch.count_nonzero(bias) == 0
    centroids = torch.randn(7, 256)
    head = model.set_top_layer(7, weight=centroids)
    assert torch.equal(head.weight.data, centroids) and torch.count_nonzero(head.bias) == 0
    with pytest.raises(ValueError, match=r"expected \(7, 256\)"):
        model.set_top_layer(7, weight=torch.randn(7, 128))


def test_backbone_state_dict_excludes_top_layer_and_round_trips() -> None:
    torch.manual_seed(0)
    model = create_model("smallnet", sobel=True, input_size=32)
    model.set_top_layer(10)
    state = model.backbone_state_dict()
    assert not any(k.startswith("top_layer") for k in state)
    assert any(k.startswith("top_layer") for k in model.state_dict())
    torch.manual_seed(1)
    fresh = create_model("smallnet", sobel=True, input_size=32)
    fresh.load_state_dict(state, strict=True)  # no top layer: the keys match exactly
    x = torch.rand(2, 3, 32, 32)
    model.eval()
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(model.embed(x), fresh.embed(x))
    body_ids = {id(p) for p in model.body_parameters()}
    assert body_ids and not body_ids & {id(p) for p in model.top_layer.parameters()}  # type: ignore[union-attr]


def test_preprocessing_is_json_and_describes_the_input() -> None:
    model: DeepClusterNet = create_model("resnet18", sobel=False, input_size=64)
    info = json.loads(json.dumps(model.preprocessing()))
    assert info["arch"] == "resnet18" and info["input_size"] == 64 and info["feat_dim"] == 512
    assert info["mean"] == list(MEAN) and info["std"] == list(STD) and info["sobel"] is False
    assert info["input"] == "float RGB in [0,1], NCHW"


def test_projection_head_feeds_clustering_and_represent_stays_before_it() -> None:
    torch.manual_seed(0)
    model = build_model(TrainConfig(arch="smallnet", image_size=32))  # projection on by default
    assert model.projection is not None and model.feat_dim == model.rep_dim == 256
    model.eval()
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        pooled = model.body(model.prepare(x))
        torch.testing.assert_close(model.represent(x), pooled)
        torch.testing.assert_close(model.embed(x), model.projection(pooled))
    # its parameters train with the body and are saved with it
    names = {n for n, _ in model.named_parameters()}
    assert any(n.startswith("projection.") for n in names)
    assert any(k.startswith("projection.") for k in model.backbone_state_dict())
    # AlexNet keeps the paper's layout (fc6/fc7 are its projection); the flag can turn it off
    alex = build_model(TrainConfig(arch="alexnet_bn", image_size=64, k=2))
    assert alex.projection is None
    plain = build_model(TrainConfig(arch="smallnet", image_size=32, projection=False))
    assert plain.projection is None
    with torch.no_grad():
        plain.eval()
        torch.testing.assert_close(plain.embed(x), plain.represent(x))


def test_configs_stored_before_the_projection_head_load_without_one() -> None:
    old = TrainConfig().to_dict()
    del old["projection"]
    assert TrainConfig.from_dict(old).projection is False
    assert TrainConfig.from_dict(TrainConfig().to_dict()).projection is True
