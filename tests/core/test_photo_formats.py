"""Phone and camera formats on real files: HEIC (written by pillow-heif's x265 encoder), AVIF
(Pillow's libavif) and a DNG camera raw (a Bayer mosaic in the DNG layout, developed by LibRaw),
each with a 90-degree rotation, decode upright; a folder mixing HEIC, AVIF, DNG, JPEG and PNG is
collected, decoded and trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from dcgui.core.config import TrainConfig
from dcgui.core.events import EpochFinished
from dcgui.core.images.cache import ImageCache
from dcgui.core.images.collection import scan
from dcgui.core.images.imageio import IMAGE_EXTENSIONS, ImageDecodeError, load_rgb
from dcgui.services import training
from dcgui.store import SessionStore
from tests.conftest import make_shape_image
from tests.rawfiles import write_dng

pillow_heif = pytest.importorskip("pillow_heif")
pytest.importorskip("rawpy")
FORMATS = ["heic", "dng"] + (["avif"] if features.check("avif") else [])


def save(im: Image.Image, path: Path, orientation: int = 1) -> None:
    if path.suffix == ".dng":
        write_dng(path, np.asarray(im), orientation)
        return
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, exif=exif.tobytes(), quality=95)


def red_left_blue_right() -> Image.Image:
    a = np.zeros((40, 60, 3), np.uint8)
    a[:, :30] = (255, 0, 0)
    a[:, 30:] = (0, 0, 255)
    return Image.fromarray(a)


@pytest.mark.parametrize("fmt", FORMATS)
def test_rotated_phone_photo_decodes_upright_once(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"photo.{fmt}"
    save(red_left_blue_right(), path, orientation=6)  # "turn 90 degrees clockwise to display"
    assert f".{fmt}" in IMAGE_EXTENSIONS
    im = load_rgb(path)
    assert im.size == (40, 60) and im.info["original_size"] == (40, 60)  # turned once, not twice
    a = np.asarray(im).astype(int)
    assert a[:25, :, 0].mean() > 200 and a[:25, :, 2].mean() < 60  # the left (red) half is now on top
    assert a[35:, :, 2].mean() > 200 and a[35:, :, 0].mean() < 60


def test_a_folder_mixing_heic_avif_jpeg_png_trains(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    rng = np.random.default_rng(0)
    kinds = ["png", "jpg", *FORMATS]
    for c in range(2):
        (folder / f"class_{c}").mkdir(parents=True)
        for j in range(8):
            fmt = kinds[j % len(kinds)]
            save(Image.fromarray(make_shape_image(c, rng, 48)), folder / f"class_{c}" / f"img_{j}.{fmt}")
    result = scan(folder)
    assert {Path(r.relpath).suffix for r in result.images} == {f".{k}" for k in kinds}
    cfg = TrainConfig(arch="smallnet", k=2, epochs=1, image_size=32, batch_size=8, device="cpu", workers=1)
    with SessionStore.create(tmp_path / "s.dcgui", folder, cfg) as store:
        done = [ev for ev in training.iter_train(store) if isinstance(ev, EpochFinished)]
        assert store.n_images == 16 and store.skipped() == []
        assert store.labels() is not None
    assert [ev.metrics.epoch for ev in done] == [1]
    cache = ImageCache.open(tmp_path / "s.dcgui.d" / "cache", cfg.cache_size)
    for ext in (".heic", ".dng"):
        i = next(i for i, r in enumerate(cache.records) if r.relpath.endswith(ext))
        assert cache.thumbnail(i).shape == (48, 48, 3)  # the grid can show it


def test_a_damaged_raw_file_is_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "broken.nef").write_bytes(b"II*\0" + b"not a raw file" * 20)
    with pytest.raises(ImageDecodeError) as err:
        load_rgb(tmp_path / "broken.nef")
    assert err.value.reason == "unsupported RAW file (LibRaw cannot read this camera's format)"
