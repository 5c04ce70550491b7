"""The default keep rule keeps the most complete picture, judged from real files: the original
beats its crop, its downscale and an upscaled crop (more pixels and a bigger file than the
original), and the reason is said per image."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgui.core.analysis import duplicates as neardup
from dcgui.core.analysis.keep import DEFAULT_KEEP_RULE, keep_one_flags, keep_reasons, rank_members
from dcgui.core.control import drain
from dcgui.core.images.cache import ImageCache
from dcgui.core.images.collection import scan
from dcgui.core.images.demo import demo_archive


def _photo() -> Image.Image:
    """A 480 x 360 colour picture: 4 x 3 demo photos (real product shots), tinted per tile."""
    with np.load(demo_archive()) as z:
        images = z["images"][:12]
    rng = np.random.default_rng(3)
    rows = []
    for r in range(3):
        tiles = []
        for c in range(4):
            t = np.asarray(Image.fromarray(images[4 * r + c]).resize((120, 120), Image.Resampling.BICUBIC), np.float32)
            tint = rng.uniform(0.4, 1.0, 3).astype(np.float32)
            tiles.append(t[..., None] * tint + rng.uniform(0, 60, 3).astype(np.float32))
        rows.append(np.hstack(tiles))
    return Image.fromarray(np.clip(np.vstack(rows), 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> tuple[neardup.NearDuplicates, dict[str, int], dict]:
    folder = tmp_path_factory.mktemp("keep") / "photos"
    folder.mkdir()
    im = _photo()
    im.save(folder / "original.jpg", quality=80)
    crop = im.crop((40, 30, 440, 330))  # 83 % of the width: a crop
    crop.save(folder / "crop.jpg", quality=95)  # saved finer: a bigger file per pixel
    im.resize((240, 180), Image.Resampling.LANCZOS).save(folder / "downscale.jpg", quality=80)
    # an upscaled crop: more pixels and a bigger file than the original, still only part of it
    crop.resize((800, 600), Image.Resampling.LANCZOS).save(folder / "upscaled_crop.jpg", quality=97)
    old = 1_500_000_000
    for k, name in enumerate(("upscaled_crop.jpg", "crop.jpg", "downscale.jpg", "original.jpg")):
        os.utime(folder / name, (old + k, old + k))  # the original is the newest: "oldest" cannot pick it
    result = scan(folder)
    cache = drain(ImageCache.iter_build(folder.parent / "cache", folder, result.images, 16))
    read = neardup.thumbnail_reader(cache.thumbnail_jpeg)
    _, nd = drain(neardup.iter_near_duplicates(read, len(cache)))
    index = {Path(r.relpath).stem: i for i, r in enumerate(cache.records)}
    info = neardup.image_info(cache)
    stats = {"size": info.file_size, "width": info.width, "height": info.height, "mtime_ns": info.mtime_ns}
    return nd, index, stats


def test_the_original_is_kept_over_crops_downscales_and_an_upscaled_crop(group) -> None:
    nd, index, stats = group
    groups = nd.groups(neardup.DEFAULT_THRESHOLD)
    assert len(groups) == 1 and set(groups[0].members.tolist()) == set(index.values())
    crops = nd.crops_of()
    orig = index["original"]
    assert orig in crops[index["crop"]] and orig in crops[index["upscaled_crop"]]
    assert index["downscale"] not in crops  # a downscale shows the whole picture
    assert orig not in crops
    members = groups[0].members
    # the upscaled crop has the most pixels and the largest file: the old rules pick it
    up = index["upscaled_crop"]
    assert stats["size"][up] > stats["size"][orig] and stats["width"][up] > stats["width"][orig]
    assert rank_members(members, "largest", stats)[0] == up
    assert rank_members(members, "resolution", stats)[0] == up
    assert DEFAULT_KEEP_RULE == "complete"
    assert rank_members(members, "complete", stats, crops)[0] == orig, "the upscaled crop must not win"
    assert keep_one_flags([members], DEFAULT_KEEP_RULE, stats, crops)[orig] == "keep"
    reasons = keep_reasons(members, "complete", stats, crops)
    assert reasons[index["crop"]] == "a crop of the kept image"
    assert reasons[up] == "a crop of the kept image"
    assert reasons[index["downscale"]] == "a downscale: fewer pixels"
    assert "whole picture" in reasons[orig]
