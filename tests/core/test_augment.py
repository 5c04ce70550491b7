"""Batched RandomResizedCrop + flip and the centre view, on real tensors (CPU; CUDA when present)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchvision.transforms import RandomResizedCrop

from dcgui.core.train.augment import center_view, random_resized_crop_flip, sample_crop_boxes


def _batch(n: int = 6, size: int = 37, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8))


def _coordinate_image(size: int) -> torch.Tensor:
    """R = 2 * column, G = 2 * row: every output pixel tells where it was sampled."""
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.stack([2 * xx, 2 * yy, np.zeros_like(xx)], axis=-1).astype(np.uint8)
    return torch.from_numpy(img)[None]


def _gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def test_output_shape_dtype_and_range() -> None:
    out = random_resized_crop_flip(_batch(), 32, (0.08, 1.0), _gen(0))
    assert out.shape == (6, 3, 32, 32) and out.dtype == torch.float32
    assert out.min() >= 0.0 and out.max() <= 1.0 and out.std() > 0.05
    assert random_resized_crop_flip(_batch(0), 32, generator=_gen(0)).shape == (0, 3, 32, 32)
    with pytest.raises(ValueError, match="uint8"):
        random_resized_crop_flip(_batch().float(), 32, generator=_gen(0))


def test_deterministic_given_the_generator() -> None:
    batch = _batch()
    a = random_resized_crop_flip(batch, 32, (0.08, 1.0), _gen(5))
    b = random_resized_crop_flip(batch, 32, (0.08, 1.0), _gen(5))
    c = random_resized_crop_flip(batch, 32, (0.08, 1.0), _gen(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_full_crop_without_flip_is_the_image_and_flip_mirrors_it() -> None:
    batch = _batch(4, 32)
    image = batch.permute(0, 3, 1, 2).float() / 255
    same = random_resized_crop_flip(batch, 32, (1.0, 1.0), _gen(0), ratio=(1.0, 1.0), flip_p=0.0)
    flipped = random_resized_crop_flip(batch, 32, (1.0, 1.0), _gen(0), ratio=(1.0, 1.0), flip_p=1.0)
    assert torch.allclose(same, image, atol=1e-5)
    assert torch.allclose(flipped, torch.flip(image, dims=[3]), atol=1e-5)
    # with the default p=0.5 each image comes out either as it is or mirrored
    mixed = random_resized_crop_flip(batch.repeat(8, 1, 1, 1), 32, (1.0, 1.0), _gen(1), ratio=(1.0, 1.0))
    ref = image.repeat(8, 1, 1, 1)
    is_same = (mixed - ref).abs().flatten(1).amax(1) < 1e-5
    is_flip = (mixed - torch.flip(ref, dims=[3])).abs().flatten(1).amax(1) < 1e-5
    assert torch.all(is_same | is_flip) and is_same.any() and is_flip.any()


def test_each_output_samples_its_drawn_box() -> None:
    size, out_size = 64, 16
    batch = _coordinate_image(size).repeat(200, 1, 1, 1)
    boxes = sample_crop_boxes(200, size, size, (0.08, 1.0), generator=_gen(3))
    out = random_resized_crop_flip(batch, out_size, (0.08, 1.0), _gen(3)) * 255  # same draws
    top, left, h, w = boxes.unbind(1)
    # mean sampled column / row is the centre of the box (bilinear sampling is linear in x)
    assert torch.allclose(out[:, 0].mean((1, 2)) / 2, left + w / 2 - 0.5, atol=0.01)
    assert torch.allclose(out[:, 1].mean((1, 2)) / 2, top + h / 2 - 0.5, atol=0.01)
    # the sampled span matches the box width; flipped crops run right-to-left
    span = (out[:, 0, :, -1] - out[:, 0, :, 0]).mean(1) / 2
    expected = w * (out_size - 1) / out_size
    assert torch.allclose(span.abs(), expected, atol=0.01)
    assert (span < 0).any() and (span > 0).any()


def test_crop_boxes_follow_torchvision_sampling() -> None:
    n, size = 20000, 100
    boxes = sample_crop_boxes(n, size, size, (0.08, 1.0), generator=_gen(0))
    top, left, h, w = boxes.unbind(1)
    assert torch.all(top >= 0) and torch.all(left >= 0)
    assert torch.all(top + h <= size) and torch.all(left + w <= size)
    area = h * w / size**2
    aspect = w / h
    assert area.min() >= 0.07 and area.max() <= 1.0
    assert aspect.min() >= 0.7 and aspect.max() <= 1.43
    torch.manual_seed(0)
    ref = np.array([RandomResizedCrop.get_params(torch.empty(3, size, size), [0.08, 1.0], [3 / 4, 4 / 3])
                    for _ in range(4000)], dtype=np.float64)
    ref_area = ref[:, 2] * ref[:, 3] / size**2
    assert area.mean().item() == pytest.approx(ref_area.mean(), abs=0.02)
    assert area.std().item() == pytest.approx(ref_area.std(), abs=0.02)
    ref_centre = ref[:, 1] + ref[:, 3] / 2
    assert (left + w / 2).mean().item() == pytest.approx(ref_centre.mean(), abs=1.0)
    assert math.isclose((aspect.log().mean()).item(), 0.0, abs_tol=0.02)


def test_center_view_is_the_exact_centre_at_the_cache_size() -> None:
    out_size = 32
    cache = round(out_size / 0.875)  # TrainConfig.cache_size
    batch = _batch(3, cache)
    view = center_view(batch, out_size)
    off = (cache - out_size) // 2
    expected = batch[:, off:off + out_size, off:off + out_size].permute(0, 3, 1, 2).float() / 255
    assert view.shape == (3, 3, 32, 32) and view.is_contiguous()
    assert torch.allclose(view, expected, atol=1e-6)


def test_center_view_resizes_other_cache_sizes() -> None:
    batch = _coordinate_image(100)
    view = center_view(batch, 32) * 255  # crop 88 px centred, resized to 32
    assert view.shape == (1, 3, 32, 32) and view.min() >= 0
    centre = (100 - 1) / 2
    assert view[0, 0].mean().item() / 2 == pytest.approx(centre, abs=0.6)
    assert (view[0, 0, :, -1] - view[0, 0, :, 0]).mean().item() / 2 == pytest.approx(88 * 31 / 32, abs=2.5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_views_run_on_cuda_like_on_cpu() -> None:
    batch = _batch(8, 37)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    out = random_resized_crop_flip(batch.cuda(), 32, (0.08, 1.0), gen)
    assert out.device.type == "cuda" and out.shape == (8, 3, 32, 32)
    assert torch.allclose(center_view(batch.cuda(), 32).cpu(), center_view(batch, 32), atol=1e-6)
