"""Colour or grey: the vote that chooses the Sobel default (``dcgui.core.images.colour``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgui.core.config import default_config
from dcgui.core.images.colour import (
    coloured_share,
    files_are_colour,
    is_colour_image,
    pixels_are_colour,
)
from tests.conftest import make_shape_image


def _grey(rng: np.random.Generator, n: int, size: int = 32) -> np.ndarray:
    g = rng.integers(0, 256, (n, size, size, 1), dtype=np.uint8)
    return np.repeat(g, 3, axis=3)


def test_grey_images_have_no_coloured_pixels_and_a_small_logo_counts() -> None:
    rng = np.random.default_rng(0)
    grey = _grey(rng, 1)[0]
    assert coloured_share(grey) == 0.0 and not is_colour_image(grey)
    page = np.full((100, 100, 3), 255, np.uint8)
    page[:10, :10] = (200, 30, 30)  # a red logo on 1 % of a white page: not enough
    assert coloured_share(page) == pytest.approx(0.01) and not is_colour_image(page)
    page[:30, :30] = (200, 30, 30)  # 9 %
    assert is_colour_image(page)
    # JPEG-like noise on a grey image (a few levels per channel) does not count as colour
    noisy = np.clip(grey.astype(np.int16) + rng.integers(-6, 7, grey.shape), 0, 255).astype(np.uint8)
    assert not is_colour_image(noisy)
    with pytest.raises(ValueError, match="H x W x 3"):
        coloured_share(grey[..., 0])


def test_a_collection_is_colour_when_a_quarter_of_its_images_are() -> None:
    rng = np.random.default_rng(1)
    colour = np.stack([make_shape_image(k % 4, rng, 32) for k in range(40)])
    grey = _grey(rng, 40)
    assert pixels_are_colour(colour) and not pixels_are_colour(grey)
    assert pixels_are_colour(np.concatenate([colour[:12], grey[:28]]))  # 30 % colour
    assert not pixels_are_colour(np.concatenate([colour[:6], grey[:34]]))  # 15 %
    assert not pixels_are_colour(grey[:0])


def test_files_are_colour_reads_real_files_and_skips_broken_ones(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    for i in range(6):
        Image.fromarray(make_shape_image(i % 4, rng, 40)).save(tmp_path / f"c{i}.png")
        Image.fromarray(_grey(rng, 1, 40)[0, ..., 0]).save(tmp_path / f"g{i}.jpg")  # an L-mode JPEG
    (tmp_path / "broken.png").write_bytes(b"not an image")
    colour = [f"c{i}.png" for i in range(6)]
    grey = [f"g{i}.jpg" for i in range(6)]
    assert files_are_colour(tmp_path, [*colour, "broken.png"]) is True
    assert files_are_colour(tmp_path, [*grey, "broken.png"]) is False
    assert files_are_colour(tmp_path, ["broken.png"]) is None


def test_the_sobel_default_follows_colour_and_an_override_wins() -> None:
    assert default_config(1000, "cpu", 10, colour=True).sobel is False
    assert default_config(1000, "cpu", 10, colour=False).sobel is True
    assert default_config(1000, "cpu", 10).sobel is True  # not known: the paper's Sobel
    assert default_config(1000, "cpu", 10, colour=True, sobel=True).sobel is True
