"""Shared fixtures: tiny real image folders on disk, CPU-only torch with few threads."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "2")


def make_shape_image(kind: int, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """A colour image of one of 4 visually distinct classes, with random position and colour jitter."""
    img = np.full((size, size, 3), rng.integers(0, 60, 3), dtype=np.uint8)
    c = size // 2 + rng.integers(-size // 8, size // 8 + 1, 2)
    r = size // 4 + int(rng.integers(-2, 3))
    yy, xx = np.mgrid[0:size, 0:size]
    colour = np.clip(np.array([[230, 40, 40], [40, 230, 40], [40, 40, 230], [230, 230, 40]][kind % 4])
                     + rng.integers(-25, 26, 3), 0, 255)
    if kind % 4 == 0:  # disc
        mask = (yy - c[0]) ** 2 + (xx - c[1]) ** 2 < r * r
    elif kind % 4 == 1:  # square
        mask = (abs(yy - c[0]) < r) & (abs(xx - c[1]) < r)
    elif kind % 4 == 2:  # horizontal stripes
        mask = (yy // 4) % 2 == 0
    else:  # cross
        mask = (abs(yy - c[0]) < 3) | (abs(xx - c[1]) < 3)
    img[mask] = colour
    return img


def write_image_folder(root: Path, n_per_class: int = 8, classes: int = 4, size: int = 48,
                       seed: int = 0, fmt: str = "png") -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for k in range(classes):
        d = root / f"class_{k}"
        d.mkdir(exist_ok=True)
        for j in range(n_per_class):
            Image.fromarray(make_shape_image(k, rng, size)).save(d / f"img_{j:03d}.{fmt}")
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """32 small PNGs in 4 class sub-folders."""
    return write_image_folder(tmp_path / "photos")


@pytest.fixture(autouse=True, scope="session")
def _few_threads() -> None:
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:  # the headless contract test runs without torch being needed
        pass


def reference_knn_loo(features: np.ndarray, labels: np.ndarray, k: int = 20, t: float = 0.07) -> float:
    """Leave-one-out weighted kNN accuracy written out in plain numpy (float64, no faiss): the
    value a correct ``dcgui.core.evaluate.knn_accuracy`` must give on the same features."""
    x = np.asarray(features, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    y = np.unique(np.asarray(labels), return_inverse=True)[1]
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)  # an image never votes for itself
    correct = 0
    for i in range(len(y)):
        nearest = np.argsort(-sims[i], kind="stable")[:k]
        votes = np.zeros(y.max() + 1)
        np.add.at(votes, y[nearest], np.exp((sims[i, nearest] - 1.0) / t))
        correct += int(votes.argmax() == y[i])
    return correct / len(y)
