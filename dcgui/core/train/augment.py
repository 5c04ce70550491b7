"""Batched image views on the batch's own device: DeepCluster's training crops and the centre view.

``random_resized_crop_flip`` draws torchvision's RandomResizedCrop boxes for a whole batch at once
and renders every crop (and its horizontal flip) with one ``affine_grid`` + ``grid_sample`` call,
so augmentation runs on the GPU when the batch is there and costs no Python loop per image.
Inputs are cached uint8 pixels ``(N, S, S, 3)``; outputs are float RGB in [0, 1], ``(N, 3, out, out)``.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

CENTRE_FRACTION = 0.875  # the paper's Resize 256 -> CenterCrop 224
_ATTEMPTS = 10  # torchvision's number of tries before its fallback


def _check_batch(batch: torch.Tensor) -> None:
    if batch.dtype != torch.uint8 or batch.dim() != 4 or batch.shape[3] != 3:
        raise ValueError(
            f"expected a uint8 batch of shape (N, H, W, 3), got {batch.dtype} {tuple(batch.shape)}"
        )


def _to_nchw_float(batch: torch.Tensor) -> torch.Tensor:
    return batch.permute(0, 3, 1, 2).to(torch.float32)


def sample_crop_boxes(
    n: int,
    height: int,
    width: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """RandomResizedCrop boxes ``(n, 4)`` as (top, left, h, w) integer pixels (float tensor).

    Same sampling as ``torchvision.transforms.RandomResizedCrop.get_params``, vectorised: up to
    10 tries of area ~ U(scale) and log-aspect ~ U(log ratio) per image; the first box that fits
    wins; an image with none falls back to the largest centred box with a clamped aspect ratio.
    Drawn on the generator's device (CPU when no generator is given).
    """
    if not (0 < scale[0] <= scale[1] <= 1):
        raise ValueError(f"crop scale {scale} must satisfy 0 < min <= max <= 1")
    device = generator.device if generator is not None else torch.device("cpu")
    area = float(height * width)
    u_area = torch.rand(n, _ATTEMPTS, generator=generator, device=device, dtype=torch.float64)
    u_ratio = torch.rand(n, _ATTEMPTS, generator=generator, device=device, dtype=torch.float64)
    u_top = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
    u_left = torch.rand(n, generator=generator, device=device, dtype=torch.float64)

    target = area * (scale[0] + (scale[1] - scale[0]) * u_area)
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u_ratio
    aspect = torch.exp(log_r)
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = torch.argmax(ok.to(torch.int8), dim=1)  # index of the first fitting try (0 if none)
    found = ok.any(dim=1)
    rows = torch.arange(n, device=device)
    w = w[rows, first]
    h = h[rows, first]

    # torchvision's fallback: the whole image, cropped to the nearest allowed aspect ratio.
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = float(width), float(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        fw, fh = float(round(height * ratio[1])), float(height)
    else:
        fw, fh = float(width), float(height)
    w = torch.where(found, w, torch.full_like(w, fw))
    h = torch.where(found, h, torch.full_like(h, fh))
    # randint(0, H - h + 1) for the found boxes, centred for the fallback
    top = torch.where(found, torch.floor(u_top * (height - h + 1)), torch.floor((height - h) / 2))
    left = torch.where(found, torch.floor(u_left * (width - w + 1)), torch.floor((width - w) / 2))
    return torch.stack([top, left, h, w], dim=1).to(torch.float32)


def random_resized_crop_flip(
    batch: torch.Tensor,
    out_size: int,
    scale: tuple[float, float] = (0.08, 1.0),
    generator: torch.Generator | None = None,
    ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
    flip_p: float = 0.5,
) -> torch.Tensor:
    """RandomResizedCrop + RandomHorizontalFlip of a uint8 batch, rendered in one batched call.

    Deterministic given ``generator`` (whose device is where the random numbers are drawn; they
    are moved to the batch's device). Bilinear resampling, border padding.
    """
    _check_batch(batch)
    n, height, width, _ = batch.shape
    if n == 0:
        return torch.empty((0, 3, out_size, out_size), dtype=torch.float32, device=batch.device)
    boxes = sample_crop_boxes(n, height, width, scale, ratio, generator)
    device = generator.device if generator is not None else torch.device("cpu")
    flip = torch.rand(n, generator=generator, device=device) < flip_p
    boxes = boxes.to(batch.device)
    sign = torch.where(flip, -1.0, 1.0).to(device=batch.device, dtype=torch.float32)
    top, left, h, w = boxes.unbind(1)

    # Normalised coordinates (align_corners=False): pixel edge 0 is -1, edge W is +1. The crop box
    # [left, left + w) has centre -1 + (2 left + w) / W and half-width w / W; a negative x scale
    # mirrors the crop about its centre, which is the horizontal flip.
    theta = torch.zeros(n, 2, 3, device=batch.device, dtype=torch.float32)
    theta[:, 0, 0] = sign * w / width
    theta[:, 0, 2] = -1.0 + (2.0 * left + w) / width
    theta[:, 1, 1] = h / height
    theta[:, 1, 2] = -1.0 + (2.0 * top + h) / height
    grid = F.affine_grid(theta, [n, 3, out_size, out_size], align_corners=False)
    x = F.grid_sample(_to_nchw_float(batch), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return x.mul_(1.0 / 255.0).clamp_(0.0, 1.0)


def center_view(batch: torch.Tensor, out_size: int) -> torch.Tensor:
    """The deterministic view used for features: the centre ``round(0.875 * S)`` square, at ``out_size``.

    With the cache side ``S = round(out_size / 0.875)`` (``TrainConfig.cache_size``) the centre
    square is exactly ``out_size`` pixels and this is a plain slice, with no resampling; any other
    cache side is cropped in the same proportion and resized (bilinear, antialiased).
    """
    _check_batch(batch)
    _, height, width, _ = batch.shape
    side = min(height, width)
    crop = max(1, round(side * CENTRE_FRACTION))
    top = (height - crop) // 2
    left = (width - crop) // 2
    x = _to_nchw_float(batch[:, top:top + crop, left:left + crop, :])
    if crop != out_size:
        x = F.interpolate(x, size=(out_size, out_size), mode="bilinear", align_corners=False,
                          antialias=crop > out_size)
    return x.mul_(1.0 / 255.0).clamp_(0.0, 1.0).contiguous()
