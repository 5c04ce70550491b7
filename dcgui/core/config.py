"""The one validated configuration of a DeepCluster run.

Stored (as JSON) with every session and every checkpoint, so a model can always be rebuilt.
Every check raises ``ValueError`` naming the field and saying how to fix it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from dcgui.core.errors import InvalidValue

# Every backbone and the smallest square input (px) it accepts; ``dcgui.core.train.models.ARCHS``
# builds them (kept here, without torch, so validation and help stay light).
ARCH_MIN_SIZE = {"smallnet": 16, "alexnet_bn": 64, "vgg16_bn": 64, "resnet18": 16, "resnet50": 16}
ARCHS = tuple(ARCH_MIN_SIZE)
MIN_IMAGE_SIZE = min(ARCH_MIN_SIZE.values())
DEVICES = ("auto", "cpu", "cuda", "mps")
HEADS = ("reset", "centroids")
SEED_MAX = 2**31 - 1  # what every RNG (numpy, torch, faiss) and the GUI's seed field accept

Head = Literal["reset", "centroids"]


def check_input_size(arch: str, image_size: int) -> None:
    """Raise a ``ValueError`` that says the fix when ``arch`` cannot take ``image_size`` px."""
    minimum = ARCH_MIN_SIZE[arch]
    if image_size < minimum:
        raise InvalidValue(f"image_size={image_size} is too small for arch={arch!r}: "
                         f"use at least {minimum} px, or arch='smallnet' for small images")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one DeepCluster run. Defaults follow the paper (METHOD.md) where they fit a CPU.

    ``head``: ``"reset"`` is the paper's DeepCluster (a new randomly initialised top layer every
    epoch); ``"centroids"`` is the DeepCluster-v2 variant whose top layer is set to the
    normalised k-means centroids each epoch, so label i keeps meaning centroid i.
    """

    arch: str = "smallnet"
    k: int = 100
    epochs: int = 20
    image_size: int = 32
    batch_size: int = 256
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-5
    top_lr: float = 0.05  # the new top layer's own momentum-free SGD
    sobel: bool = True
    projection: bool = True  # smallnet / ResNets: cluster a projection MLP's output, keep the pooled features general
    pca_dim: int = 256
    kmeans_iters: int = 20
    head: str = "reset"
    temperature: float = 0.1  # only for head="centroids"
    crop_scale_min: float = 0.08  # RandomResizedCrop scale range (0.08, 1)
    samples_per_epoch: int = 0  # images drawn per epoch; 0: as many as there are images (the paper's N)
    device: str = "auto"
    seed: int = 31
    workers: int = 0  # decode threads for the image cache; 0: one per CPU core
    threads: int = 0  # torch intra-op threads for the CPU; 0: measured every epoch (core/train/threads.py)
    amp: bool = True  # mixed precision: float16 on CUDA, bfloat16 on CPUs with bf16 kernels
    channels_last: bool = True  # on CUDA and CPUs (engine.use_channels_last)
    steer: bool = True  # exclusions, merges and splits constrain the next clusterings (issue 24)

    def __post_init__(self) -> None:
        self.validate()

    # -- validation -------------------------------------------------------------------------
    def validate(self, n_images: int | None = None) -> None:
        """Check every field; with ``n_images`` also check values that depend on the collection."""
        if self.arch not in ARCHS:
            raise InvalidValue(f"arch={self.arch!r} is unknown: choose one of {', '.join(ARCHS)}")
        if self.device not in DEVICES:
            raise InvalidValue(f"device={self.device!r} is unknown: choose one of {', '.join(DEVICES)}")
        if self.head not in HEADS:
            raise InvalidValue(f"head={self.head!r} is unknown: choose 'reset' (paper) or 'centroids' (v2)")
        _positive_int("k", self.k, minimum=2, fix="use at least 2 clusters")
        _positive_int("epochs", self.epochs, minimum=1, fix="train at least 1 epoch")
        _positive_int("batch_size", self.batch_size, minimum=2, fix="use a batch of at least 2 (BatchNorm needs it)")
        _positive_int("pca_dim", self.pca_dim, minimum=2, fix="use at least 2 PCA dimensions")
        _positive_int("kmeans_iters", self.kmeans_iters, minimum=1, fix="use at least 1 k-means iteration (paper: 20)")
        _positive_int("image_size", self.image_size, minimum=MIN_IMAGE_SIZE,
                      fix=f"use an image size of at least {MIN_IMAGE_SIZE} px")
        if self.image_size > 1024:
            raise InvalidValue(f"image_size={self.image_size} is too large: use at most 1024 px (paper: 224)")
        check_input_size(self.arch, self.image_size)
        for name in ("lr", "top_lr", "temperature"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise InvalidValue(f"{name}={value!r} must be a positive number")
        for name in ("momentum", "weight_decay"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 <= value < 1):
                raise InvalidValue(f"{name}={value!r} must be in [0, 1)")
        if not (isinstance(self.crop_scale_min, int | float) and 0 < self.crop_scale_min <= 1):
            raise InvalidValue(f"crop_scale_min={self.crop_scale_min!r} must be in (0, 1] (paper: 0.08)")
        if not _is_int(self.samples_per_epoch) or self.samples_per_epoch < 0:
            raise InvalidValue(f"samples_per_epoch={self.samples_per_epoch!r} is invalid: use 0 (one per image) or a "
                             "number of images")
        if not _is_int(self.workers) or self.workers < 0:
            raise InvalidValue(f"workers={self.workers!r} is invalid: use 0 (one per CPU core) or a number of threads")
        if not _is_int(self.threads) or self.threads < 0:
            raise InvalidValue(f"threads={self.threads!r} is invalid: use 0 (automatic) or a number of CPU threads")
        if not _is_int(self.seed) or not 0 <= self.seed <= SEED_MAX:
            raise InvalidValue(f"seed={self.seed!r} is invalid: use a whole number from 0 to {SEED_MAX}")
        for name in ("sobel", "projection", "amp", "channels_last", "steer"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidValue(f"{name}={getattr(self, name)!r} is invalid: use true or false")
        if n_images is not None:
            if n_images < 2:
                raise InvalidValue(f"the collection has {n_images} usable image(s): DeepCluster needs at least 2")
            if self.k > n_images:
                raise InvalidValue(
                    f"k={self.k} is larger than the number of images ({n_images}): "
                    f"use k <= {n_images} (a good start is {suggest_k(n_images)})"
                )

    # -- derived values ---------------------------------------------------------------------
    @property
    def cache_size(self) -> int:
        """Side of the square decoded-image cache: the paper's Resize 256 -> CenterCrop 224 ratio."""
        return round(self.image_size / 0.875)

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        # Configs stored before the projection head existed describe models without one.
        data = {"projection": False, **data}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidValue(f"unknown config field(s) {unknown}: this session may come from a newer dcgui")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(name: str, value: Any, minimum: int, fix: str) -> None:
    if not _is_int(value) or value < minimum:
        raise InvalidValue(f"{name}={value!r} is invalid: {fix}")


def suggest_k(n_images: int, n_classes: int | None = None) -> int:
    """Over-cluster (the paper's Fig. 2c): ~10x the expected classes, about sqrt(N)/... bounded.

    Without a known class count, aim for clusters of ~30-50 images, clamped to [2, 10000].
    """
    if n_classes:
        k = 10 * n_classes
    else:
        k = n_images // 40
    k = max(min(k, n_images // 5 if n_images >= 10 else n_images, 10_000), 2)
    return int(min(k, n_images))


# A new clustering every ~N/batch steps is the paper's schedule (ImageNet: ~5,000 steps). On a few
# thousand images that is a few dozen steps: the paper's freshly initialised top layer barely
# learns before it is thrown away and the body gets mostly noise. Measured on Fashion-MNIST
# (docs/QUALITY.md): at one pass per clustering the trained features were *worse* than the random
# initialisation; with more steps per clustering they are better.
MIN_STEPS_PER_EPOCH = 250
MAX_PASSES_PER_EPOCH = 4  # ...but tiny collections are not drawn more than 4x per clustering
# On a CPU, collections under CPU_MIN_SAMPLES images train on CPU_MIN_SAMPLES between two clusterings
# (about 100 batches of 128, up to CPU_MAX_PASSES passes): issue 22's table (docs/QUALITY.md) has
# 4 passes (34 batches on 1,100 images) well behind, at equal CPU time too. 10 such epochs are 125,000
# training images, about 5 minutes on an idle 2-core machine whatever the collection's size; 20 gave
# no more (icons -1.0, Fashion-MNIST -1.9, the demo +0.7 kNN points from epoch 10 to 20).
CPU_MIN_SAMPLES = 12_500
CPU_EPOCHS = 10
CPU_CROP_SCALE_MIN = 0.3
CPU_MAX_PASSES = 16


def suggest_samples_per_epoch(n_images: int, batch_size: int, device_type: str = "cpu") -> int:
    """Training images between two clusterings; 0 means one pass over the images (the paper).

    On a CPU, a collection under ``CPU_MIN_SAMPLES`` images gets ``min(CPU_MIN_SAMPLES,
    CPU_MAX_PASSES * n_images)``. Larger ones (and every collection on a GPU) get one pass, or
    ``min(MIN_STEPS_PER_EPOCH * batch_size, MAX_PASSES_PER_EPOCH * n_images)`` when one pass is
    under ``MIN_STEPS_PER_EPOCH`` batches.
    """
    if device_type != "cuda" and n_images < CPU_MIN_SAMPLES:
        return max(min(CPU_MIN_SAMPLES, CPU_MAX_PASSES * n_images), n_images)
    minimum = MIN_STEPS_PER_EPOCH * batch_size
    if n_images >= minimum:
        return 0
    return max(min(minimum, MAX_PASSES_PER_EPOCH * n_images), n_images)


def default_config(
    n_images: int, device_type: str = "cpu", n_classes: int | None = None, **overrides: Any
) -> TrainConfig:
    """Sensible defaults from the collection size and the device; ``overrides`` win."""
    if device_type == "cuda":
        base: dict[str, Any] = dict(arch="resnet18", image_size=128, batch_size=256, epochs=100)
    else:  # CPU (and MPS): a small convnet at small size keeps an epoch to minutes
        # crops of at least 30 %: the paper's 8 % of a 32-px input is a 9-px patch, too little of the
        # picture to carry what it shows (docs/QUALITY.md: +2.0 and +2.6 kNN points on clip art and
        # Fashion-MNIST, +0.0 on icons)
        base = dict(arch="smallnet", image_size=32, batch_size=128, epochs=CPU_EPOCHS, crop_scale_min=CPU_CROP_SCALE_MIN)
    base["k"] = suggest_k(n_images, n_classes)
    base["samples_per_epoch"] = suggest_samples_per_epoch(n_images, base["batch_size"], device_type)
    base.update(overrides)
    cfg = TrainConfig(**base)
    cfg.validate(n_images)
    return cfg


# Field help shown as tooltips in the GUI and in `--help`; one place so both say the same thing.
FIELD_HELP: dict[str, str] = {
    "k": "Number of k-means clusters (pseudo-classes). Over-clustering (k several times the number "
    "of real categories) gives the best features (paper Fig. 2c; ImageNet used k=10,000).",
    "arch": "Backbone convnet. alexnet_bn / vgg16_bn are the paper's; resnet18 / resnet50 from "
    "torchvision; smallnet is a small convnet that trains quickly on a CPU and small images.",
    "image_size": "Side of the square network input in pixels (paper: 224). Images are decoded "
    "once and cached at size/0.875; smaller is much faster.",
    "epochs": "Clustering + training rounds. The paper trains 500 epochs on ImageNet; a small "
    "collection shows the NMI curve rising within 10-30.",
    "projection": "Cluster the output of a small projection MLP on top of the backbone (smallnet, "
    "ResNets) and keep the pooled features before it for users. Without it the last layer "
    "specialises to the pseudo-labels and its features lose most of their gain (docs/QUALITY.md).",
    "sobel": "Fixed Sobel front end (grey + edge filters) instead of colour. The paper uses it so "
    "k-means cannot group images by colour alone. Kept on for colour collections too: colour input "
    "starts from better random features on photos and clip art, but training then adds fewer points "
    "to them, and on icons it lost points (docs/QUALITY.md).",
    "batch_size": "Images per SGD step (paper: 256). Lower it if the GPU runs out of memory.",
    "head": "reset: the paper's new random top layer each epoch. centroids: DeepCluster-v2, top "
    "layer set to the k-means centroids, more stable on small collections.",
    "lr": "Learning rate of the body's SGD (paper: 0.05, momentum 0.9, weight decay 1e-5).",
    "crop_scale_min": "Smallest area of a training crop, as a fraction of the image (RandomResizedCrop; paper: "
    "0.08 at 224 px). Each training image is a random crop of this much of the picture or more, resized to the "
    "input size. CPU default 0.3: at 32 px an 8-percent crop is a 9-pixel patch (docs/QUALITY.md).",
    "seed": "Random seed; with the same seed and a fixed thread count a CPU run is repeatable exactly.",
    "device": "auto picks CUDA, then Apple MPS, then the CPU.",
    "samples_per_epoch": "Training images drawn (uniformly over clusters) between two clusterings; 0 means "
    "one per image, as in the paper. On a CPU, collections under 12,500 images get 12,500 (at most 16 passes): "
    "each clustering is then learned from, and a run of 10 epochs takes about 5 minutes (docs/QUALITY.md).",
    "steer": "Your corrections steer the training: images flagged exclude leave the clustering and the "
    "training from the next epoch, merged clusters are trained as one class and the parts of a split "
    "stay apart (docs/METHOD.md). Off: they only change what is shown and exported.",
    "threads": "CPU threads for the network. 0: measured at every epoch on its first batches (all cores, "
    "half of them, one) and the fastest kept: on a busy or shared machine 1 thread can be several times faster "
    "than all of them (benchmarks/results.md). A fixed number makes a run repeatable bit for bit.",
}
