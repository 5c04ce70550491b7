"""DeepCluster networks: an explicit registry of backbones behind one wrapper class.

Every model takes float RGB in [0, 1] (NCHW) and normalises it itself (ImageNet mean/std held as
buffers), then applies the optional fixed Sobel front end, so an exported model is self-contained.
``embed`` gives the penultimate features that DeepCluster clusters (METHOD.md step 1): fc7 before
its ReLU for AlexNet / VGG-16; for the ResNets and smallnet the output of a small projection MLP
on the pooled vector (or the pooled vector itself with ``projection=False``). ``represent``
gives the features a user gets (kNN, exploration, exports): the pooled vector before the
projection. The last layer trained on the pseudo-labels specialises to them (the paper's Fig. 4
shows it for AlexNet's conv5; docs/QUALITY.md measures it for smallnet), so, as AlexNet's fc6/fc7
do in the paper, the projection takes that role and the pooled features stay general. The top
layer is not part of the backbone: the engine builds a new one every epoch with ``set_top_layer``.

Weights are initialised as in the paper / reference code (conv N(0, sqrt(2/(k*k*out))), linear
N(0, 0.01), biases 0, BatchNorm 1/0) from the global torch RNG, so ``torch.manual_seed`` before
``build_model`` makes the random initialisation repeatable. Nothing is ever downloaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torchvision
from torch import nn

from dcgui.core.config import TrainConfig, check_input_size

MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics, as in the reference code
STD = (0.229, 0.224, 0.225)
INPUT_DESCRIPTION = "float RGB in [0,1], NCHW"

# The reference's Sobel front end: a 1x1 grey conversion (weights 1/3, on the *normalised*
# input) followed by the horizontal and vertical 3x3 Sobel filters (METHOD.md).
_SOBEL_X = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))
_SOBEL_Y = ((1.0, 2.0, 1.0), (0.0, 0.0, 0.0), (-1.0, -2.0, -1.0))
_GREY = (1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0)


@dataclass(frozen=True)
class Body:
    """What an architecture builder returns: the trainable part and how its output is used."""

    module: nn.Module  # (N, C_in, H, W) normalised (and Sobel-filtered) input -> (N, feat_dim)
    feat_dim: int
    relu_before_top: bool  # AlexNet / VGG: embed is fc7 before its ReLU, forward adds the ReLU


@dataclass(frozen=True)
class ArchSpec:
    name: str
    description: str
    feat_dim: int
    builder: Callable[[int, int], Body]  # (input channels, input size) -> Body
    projection_hidden: int = 0  # width of the projection MLP's hidden layer; 0: the arch has none



# -- architectures ------------------------------------------------------------------------------
def _conv_bn_relu(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, padding), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def _alexnet_bn(in_channels: int, input_size: int) -> Body:
    # (filters, kernel, stride, pad) as facebookresearch/deepcluster models/alexnet.py, BN after every conv.
    layers: list[nn.Module] = []
    layers += _conv_bn_relu(in_channels, 96, 11, 4, 2)
    layers += [nn.MaxPool2d(3, 2)]
    layers += _conv_bn_relu(96, 256, 5, 1, 2)
    layers += [nn.MaxPool2d(3, 2)]
    layers += _conv_bn_relu(256, 384, 3, 1, 1)
    layers += _conv_bn_relu(384, 384, 3, 1, 1)
    layers += _conv_bn_relu(384, 256, 3, 1, 1)
    layers += [nn.MaxPool2d(3, 2)]
    # At 224 px the conv stack ends at exactly 6x6; the adaptive pool lets smaller inputs through.
    module = nn.Sequential(
        nn.Sequential(*layers),
        nn.AdaptiveAvgPool2d((6, 6)),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(256 * 6 * 6, 4096),  # fc6
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        nn.Linear(4096, 4096),  # fc7: embed() stops here, before its ReLU
    )
    return Body(module, 4096, relu_before_top=True)


# VGG-16 configuration "D" (torchvision's vgg16_bn().features, same layer order and indices).
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _vgg16_bn(in_channels: int, input_size: int) -> Body:
    # Built here instead of torchvision.models.vgg16_bn(): that would also allocate and initialise
    # its 120M-parameter classifier only to throw it away. Layout is identical to its .features.
    layers: list[nn.Module] = []
    c = in_channels
    for v in _VGG16:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += _conv_bn_relu(c, int(v), 3, 1, 1)
            c = int(v)
    module = nn.Sequential(
        nn.Sequential(*layers),
        nn.AdaptiveAvgPool2d((7, 7)),
        nn.Flatten(),
        nn.Linear(512 * 7 * 7, 4096),  # fc6 (reference: Linear-ReLU-Dropout-Linear-ReLU)
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        nn.Linear(4096, 4096),  # fc7
    )
    return Body(module, 4096, relu_before_top=True)


# Below this the ResNets use a CIFAR-style stem (3x3 stride 1, no max-pool). At 64 px and up the
# ImageNet stem (/4) still leaves layer4 a 2x2 map, while the CIFAR stem would cost more FLOPs at
# 64 px than the ImageNet stem at 224 px (~2.2 vs 1.8 GFLOPs for ResNet-18; benchmarks/results.md).
SMALL_INPUT = 64


def _resnet(factory: Callable[..., nn.Module], feat_dim: int) -> Callable[[int, int], Body]:
    def build(in_channels: int, input_size: int) -> Body:
        net: Any = factory(weights=None)  # never downloads
        if input_size < SMALL_INPUT:
            # The ImageNet stem divides by 4; a 32-px image would reach layer4 as 1x1.
            net.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
            net.maxpool = nn.Identity()
        elif in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        net.fc = nn.Identity()  # forward() now returns the pooled vector
        return Body(net, feat_dim, relu_before_top=False)

    return build


SMALLNET_WIDTHS = (32, 64, 128, 256)


def _smallnet(in_channels: int, input_size: int) -> Body:
    """A compact VGG-style convnet for CPUs and 16-64 px images.

    One conv at full resolution (the expensive place), then two conv3x3-BN-ReLU per stage at
    1/2, 1/4, 1/8 resolution, global average pooling: a 256-d feature like a small ResNet's.
    """
    w = SMALLNET_WIDTHS
    layers: list[nn.Module] = []
    layers += _conv_bn_relu(in_channels, w[0], 3, 1, 1)
    c = w[0]
    for width in w[1:]:
        layers.append(nn.MaxPool2d(2, 2))
        layers += _conv_bn_relu(c, width, 3, 1, 1)
        layers += _conv_bn_relu(width, width, 3, 1, 1)
        c = width
    module = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Body(module, c, relu_before_top=False)


ARCHS: dict[str, ArchSpec] = {
    "smallnet": ArchSpec(
        "smallnet", "Small 7-layer convnet (256-d features); fast on a CPU at 32-64 px.", 256, _smallnet,
        projection_hidden=512,
    ),
    "alexnet_bn": ArchSpec(
        "alexnet_bn", "AlexNet with BatchNorm, the paper's network (fc7: 4096-d); 64 px or more.",
        4096, _alexnet_bn,
    ),
    "vgg16_bn": ArchSpec(
        "vgg16_bn", "VGG-16 with BatchNorm (fc7: 4096-d); heavy, for a GPU; 64 px or more.",
        4096, _vgg16_bn,
    ),
    "resnet18": ArchSpec(
        "resnet18", "ResNet-18 from torchvision (512-d pooled features); a good GPU default.",
        512, _resnet(torchvision.models.resnet18, 512), projection_hidden=1024,
    ),
    "resnet50": ArchSpec(
        "resnet50", "ResNet-50 from torchvision (2048-d pooled features); needs a GPU.",
        2048, _resnet(torchvision.models.resnet50, 2048), projection_hidden=2048,
    ),
}


# -- the wrapper --------------------------------------------------------------------------------
def init_weights(module: nn.Module) -> None:
    """The paper's initialisation (reference ``_initialize_weights``), from the global torch RNG."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


def sobel_kernel() -> torch.Tensor:
    """Grey conversion and the two Sobel filters folded into one fixed (2, 3, 3, 3) kernel.

    Both steps are linear and bias-free, and zero-padding the grey image equals zero-padding each
    channel, so one 3x3 convolution with padding 1 gives exactly the reference's two convolutions.
    """
    sobel = torch.tensor([_SOBEL_X, _SOBEL_Y], dtype=torch.float32)  # (2, 3, 3)
    grey = torch.tensor(_GREY, dtype=torch.float32)  # (3,)
    return sobel[:, None, :, :] * grey[None, :, None, None]


class DeepClusterNet(nn.Module):
    """A backbone with built-in normalisation, optional Sobel, and a replaceable top layer."""

    top_layer: nn.Linear | None
    mean: torch.Tensor
    std: torch.Tensor
    sobel_weight: torch.Tensor

    def __init__(self, arch: str, sobel: bool, input_size: int, projection: bool = False) -> None:
        super().__init__()
        spec = get_arch(arch)
        check_input_size(arch, input_size)
        self.config_arch = arch
        self.sobel = bool(sobel)
        self.input_size = int(input_size)
        # Fixed tensors are buffers: saved with the weights, moved with .to(), never trained.
        self.register_buffer("mean", torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1))
        if self.sobel:
            self.register_buffer("sobel_weight", sobel_kernel())
        body = spec.builder(2 if self.sobel else 3, self.input_size)
        self.body = body.module
        self.rep_dim = body.feat_dim  # represent(): what users get
        self.feat_dim = body.feat_dim  # embed(): what is clustered and feeds the top layer
        self.relu_before_top = body.relu_before_top
        self.projection: nn.Module | None = None
        if projection and spec.projection_hidden:
            hidden = spec.projection_hidden
            self.projection = nn.Sequential(
                nn.Linear(self.rep_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                nn.Linear(hidden, self.feat_dim),
            )
            init_weights(self.projection)
        self.top_layer = None
        init_weights(self.body)

    # -- forward ----------------------------------------------------------------------------
    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] RGB -> normalised (and Sobel-filtered) input of the first conv."""
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        if self.sobel:
            x = nn.functional.conv2d(x, self.sobel_weight.to(x.dtype), padding=1)
        return x

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, feat_dim): what DeepCluster clusters and the top layer reads."""
        z = self.body(self.prepare(x))
        return z if self.projection is None else self.projection(z)

    def represent(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's features (N, rep_dim) for users: before the projection, if any."""
        return self.body(self.prepare(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the top layer; without one, the activated features."""
        z = self.embed(x)
        if self.relu_before_top:
            z = torch.relu(z)
        if self.top_layer is not None:
            z = self.top_layer(z)
        return z

    # -- top layer --------------------------------------------------------------------------
    def set_top_layer(self, k: int, weight: torch.Tensor | None = None) -> nn.Linear:
        """Replace the top layer by a new ``Linear(feat_dim, k)`` on the model's device.

        Without ``weight``: N(0, 0.01) weights, bias 0 (METHOD.md step 6), drawn on the CPU from
        the global RNG so the draw is the same on every device. With ``weight`` (k, feat_dim): the
        DeepCluster-v2 "centroid head", weights copied from it and bias 0.
        """
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k={k!r} is invalid: the top layer needs at least 1 output")
        layer = nn.Linear(self.feat_dim, k)
        if weight is None:
            nn.init.normal_(layer.weight, 0.0, 0.01)
        else:
            if tuple(weight.shape) != (k, self.feat_dim):
                raise ValueError(
                    f"top-layer weight has shape {tuple(weight.shape)}: expected ({k}, {self.feat_dim}) "
                    f"(k centroids in the {self.feat_dim}-d feature space of {self.config_arch})"
                )
            with torch.no_grad():
                layer.weight.copy_(weight.detach().to(torch.float32).cpu())
        nn.init.zeros_(layer.bias)
        layer = layer.to(self.mean.device)
        self.top_layer = layer
        return layer

    # -- export -----------------------------------------------------------------------------
    def backbone_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict without the top layer (buffers included: mean, std, Sobel)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("top_layer.")}

    def body_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters outside the top layer (the body's optimiser)."""
        return [p for n, p in self.named_parameters() if not n.startswith("top_layer.") and p.requires_grad]

    def preprocessing(self) -> dict[str, Any]:
        """What a user of an exported model needs to know (JSON-able)."""
        return {
            "arch": self.config_arch,
            "input_size": self.input_size,
            "mean": list(MEAN),
            "std": list(STD),
            "sobel": self.sobel,
            "feat_dim": self.rep_dim,  # an export gives represent()
            "input": INPUT_DESCRIPTION,
            "normalised_inside": True,
        }


def get_arch(name: str) -> ArchSpec:
    try:
        return ARCHS[name]
    except KeyError:
        raise ValueError(f"arch={name!r} is unknown: choose one of {', '.join(ARCHS)}") from None


def create_model(arch: str, *, sobel: bool = True, input_size: int = 224, projection: bool = False) -> DeepClusterNet:
    """A randomly initialised model (deterministic given ``torch.manual_seed``)."""
    return DeepClusterNet(arch, sobel, input_size, projection)


def build_model(config: TrainConfig) -> DeepClusterNet:
    """The model a config describes, without top layer, on the CPU."""
    return create_model(config.arch, sobel=config.sobel, input_size=config.image_size,
                        projection=config.projection)


def model_with_weights(config: TrainConfig, state_dict: dict[str, Any], source: str) -> DeepClusterNet:
    """``build_model(config)`` holding the weights of ``state_dict`` (saved by a checkpoint or an
    export of ``source``). The top layer may be absent: it is fitted again every epoch. Weights that
    do not fit the architecture raise a ``DcguiError`` naming ``source``."""
    from dcgui.core.errors import DcguiError

    model = build_model(config)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    missing = [m for m in missing if not m.startswith("top_layer")]
    if missing or unexpected:
        raise DcguiError(f"{source} does not match arch {config.arch!r} "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model
