"""Is a collection in colour? The Sobel default depends on it (docs/QUALITY.md, issue 22).

A pixel is coloured when max(R, G, B) - min(R, G, B) > 32 (of 255: JPEG noise on a grey photo
stays far below); an image is in colour when more than 5 % of its pixels are (a coloured logo on a
white page counts, a black line drawing does not). A collection counts as colour when at least a
quarter of a sample of its images are: clip art and icon sets mix colour and black-and-white
drawings (53 % and 61 % colour images in the collections of docs/QUALITY.md, 88 % for photo crops,
0 % for Fashion-MNIST).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

PIXEL_CHROMA = 32  # 0-255
IMAGE_SHARE = 0.05  # coloured pixels that make an image a colour image
COLOUR_SHARE = 0.25  # colour images that make a colour collection
SAMPLE = 64  # images looked at: enough for a majority vote, a fraction of a second of decoding


def coloured_share(rgb: np.ndarray) -> float:
    """Share of the pixels of an H x W x 3 uint8 image whose max - min over R, G, B exceeds 32."""
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 image, got shape {a.shape}")
    return float(((a.max(axis=2).astype(np.int16) - a.min(axis=2)) > PIXEL_CHROMA).mean())


def is_colour_image(rgb: np.ndarray) -> bool:
    return coloured_share(rgb) > IMAGE_SHARE


def _sample(n: int, sample: int, seed: int) -> np.ndarray:
    if n <= sample:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))


def pixels_are_colour(pixels: np.ndarray, sample: int = SAMPLE, seed: int = 0) -> bool:
    """True when most of a sample of the decoded N x H x W x 3 images are in colour."""
    if len(pixels) == 0:
        return False
    votes = [is_colour_image(pixels[i]) for i in _sample(len(pixels), sample, seed)]
    return float(np.mean(votes)) >= COLOUR_SHARE


def files_are_colour(folder: Path, relpaths: Sequence[str], sample: int = SAMPLE, seed: int = 0) -> bool | None:
    """The same vote on image files, decoded small; ``None`` when none of the sample decodes."""
    from dcgui.core.images.imageio import ImageDecodeError, load_rgb

    votes = []
    for i in _sample(len(relpaths), sample, seed):
        try:
            im = load_rgb(Path(folder) / relpaths[int(i)], max_side=64)
        except (ImageDecodeError, OSError):
            continue  # an unreadable file is reported where the collection is decoded
        votes.append(is_colour_image(np.asarray(im)))
    if not votes:
        return None
    return float(np.mean(votes)) >= COLOUR_SHARE
