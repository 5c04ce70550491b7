"""Shared fixtures: tiny real image folders on disk, CPU-only torch with few threads."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="session")
def curation_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained session to curate (read-only: tests edit a ``copy_session`` of it): the 32 shapes
    plus one textured picture in four copies (a PNG: the largest file; a 2x bigger JPEG: the
    highest resolution; a small JPEG; a copy of the PNG dated 2001: the oldest); smallnet 32 px,
    k=4, 2 epochs."""
    import shutil

    from PIL import Image

    from dcgui.cli import main

    root = tmp_path_factory.mktemp("curation")
    folder = write_image_folder(root / "photos")
    rng = np.random.default_rng(3)
    texture = (np.linspace(0, 200, 64)[None, :, None] + rng.integers(0, 55, (64, 64, 3))).astype(np.uint8)
    im = Image.fromarray(texture)
    src = folder / "class_1" / "img_002.png"
    im.save(src)  # noise does not compress: the largest file
    im.resize((128, 128)).save(folder / "class_1" / "img_002_big.jpg", quality=30)
    im.save(folder / "class_1" / "img_002_copy.jpg", quality=40)
    shutil.copy(src, folder / "class_1" / "img_002_old.png")
    os.utime(folder / "class_1" / "img_002_old.png", ns=(10**18, 10**18))
    path = root / "s.dcgui"
    assert main(["train", str(folder), "--session", str(path), "--epochs", "2", "--k", "4", "--arch", "smallnet",
                 "--image-size", "32", "--device", "cpu", "--batch-size", "16", "--no-progress"]) == 0
    return path


def copy_session(session: Path, dest: Path) -> Path:
    """A copy of ``session`` (and its data folder) in ``dest``, pointing at the same photos."""
    import shutil

    from dcgui.store import SessionStore

    shutil.copy(session, dest / session.name)
    shutil.copytree(session.with_name(session.name + ".d"), dest / (session.name + ".d"))
    with SessionStore.open(dest / session.name) as s:
        s.set_folder(session.parent / "photos")
    return dest / session.name


@pytest.fixture(autouse=True, scope="session")
def _few_threads() -> None:
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:  # the headless contract test runs without torch being needed
        pass


def drain_events(gen: Generator[Any, Any, Any]) -> tuple[Any, list[Any]]:
    """Run an engine generator to its end: (its return value, every event it yielded)."""
    from dcgui.core.control import drain

    events: list[Any] = []
    return drain(gen, events.append), events


def reference_knn_loo(features: np.ndarray, labels: np.ndarray, k: int = 20, t: float = 0.07) -> float:
    """Leave-one-out weighted kNN accuracy written out in plain numpy (float64, no faiss): the
    value a correct ``dcgui.core.analysis.evaluate.knn_accuracy`` must give on the same features."""
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


def wait_for_edit(qtbot: Any, model: Any, timeout: int = 30_000) -> None:
    """Let a large edit (applied on a worker by ``SessionModel.apply_edit``) land in the window."""
    qtbot.waitUntil(lambda: not model.edit_busy, timeout=timeout)
