"""Near-duplicates on real files: copies group, look-alikes do not, no chaining, every threshold.

The "photos" are mosaics of four Fashion-MNIST images from the embedded demo (real scanned
product photos), 160 x 120 px; each gets copies of every kind the detector promises to find,
and a look-alike: the same mosaic with one tile replaced by another item of the same class
(a burst-like shot: three quarters identical).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgui.core.analysis import duplicate_align as align
from dcgui.core.analysis import duplicates as neardup
from dcgui.core.control import drain
from dcgui.core.images.cache import ImageCache
from dcgui.core.images.collection import scan
from dcgui.core.images.demo import demo_archive

KINDS = ("res75", "q25", "png", "webp", "exif6", "crop", "small")


def _demo() -> tuple[np.ndarray, np.ndarray]:
    with np.load(demo_archive()) as z:
        return z["images"], z["labels"]


def _mosaic(tiles: list[np.ndarray]) -> Image.Image:
    a = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])  # 56 x 56
    grey = Image.fromarray(a).resize((160, 120), Image.Resampling.BICUBIC)
    tint = np.asarray(grey, np.float32)[..., None] * np.array([1.0, 0.85, 0.7], np.float32)
    return Image.fromarray(np.clip(tint + 20, 0, 255).astype(np.uint8))


def _copies(im: Image.Image, out: Path, stem: str) -> None:
    im.save(out / f"{stem}.jpg", quality=95)
    im.resize((120, 90), Image.Resampling.LANCZOS).save(out / f"{stem}_res75.jpg", quality=90)
    im.save(out / f"{stem}_q25.jpg", quality=25)
    im.save(out / f"{stem}_png.png")
    im.save(out / f"{stem}_webp.webp", quality=80)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned; viewers (and dcgui) turn it back
    im.transpose(Image.Transpose.ROTATE_90).save(out / f"{stem}_exif6.jpg", quality=90, exif=exif)
    im.crop((12, 0, 160, 114)).save(out / f"{stem}_crop.jpg", quality=90)
    im.resize((64, 48), Image.Resampling.LANCZOS).save(out / f"{stem}_small.jpg", quality=85)


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> tuple[ImageCache, list[str]]:
    """3 mosaics with 7 copies each + 1 look-alike, scanned and cached as a session does."""
    images, labels = _demo()
    folder = tmp_path_factory.mktemp("dups") / "photos"
    folder.mkdir()
    by_class = [np.flatnonzero(labels == c) for c in range(10)]
    for k, classes in enumerate([(0, 1, 7, 8), (2, 5, 9, 3), (4, 6, 1, 8)]):
        tiles = [images[by_class[c][k]] for c in classes]
        _copies(_mosaic(tiles), folder, f"m{k}")
        if k == 0:  # the look-alike: tile 3 swapped for another bag
            tiles[3] = images[by_class[8][5]]
            _mosaic(tiles).save(folder / "m0_other.jpg", quality=95)
    result = scan(folder)
    cache = drain(ImageCache.iter_build(folder.parent / "cache", folder, result.images, 16))
    return cache, [r.relpath for r in cache.records]


@pytest.fixture(scope="module")
def found(collection: tuple[ImageCache, list[str]]) -> neardup.NearDuplicates:
    cache, rel = collection
    read = neardup.thumbnail_reader(cache.thumbnail_jpeg)
    _, nd = drain(neardup.iter_near_duplicates(read, len(rel)))
    return nd


def _stem(rel: str) -> str:
    return rel.split(".")[0].split("_")[0]


def test_each_picture_and_all_its_copies_form_one_group_without_the_lookalike(
        collection: tuple[ImageCache, list[str]], found: neardup.NearDuplicates) -> None:
    _, rel = collection
    groups = found.groups(neardup.DEFAULT_THRESHOLD)
    named = sorted(sorted(rel[int(i)] for i in g.members) for g in groups)
    expected = sorted(sorted([f"m{k}.jpg"] + [f"m{k}_{kind}.{ext}" for kind, ext in (
        ("res75", "jpg"), ("q25", "jpg"), ("png", "png"), ("webp", "webp"), ("exif6", "jpg"),
        ("crop", "jpg"), ("small", "jpg"))]) for k in range(3))
    assert named == expected  # m0_other (3/4 identical) is in no group
    assert found.count(neardup.DEFAULT_THRESHOLD) == (3, 24)


def test_every_pair_inside_a_group_is_a_judged_near_duplicate(found: neardup.NearDuplicates) -> None:
    diff = {(int(a), int(b)): float(d) for (a, b), d in zip(found.pairs, found.differences)}
    for t in (0.05, 0.15, neardup.DEFAULT_THRESHOLD, neardup.MAX_DIFFERENCE):
        for g in found.groups(t):
            m = sorted(int(x) for x in g.members)
            for k, a in enumerate(m):
                for b in m[k + 1:]:
                    assert diff[(a, b)] <= t + 1e-6
            assert g.difference <= t + 1e-6


def test_counts_match_the_groups_at_every_threshold(found: neardup.NearDuplicates) -> None:
    for t in np.linspace(0.0, neardup.MAX_DIFFERENCE, 25):
        groups = found.groups(float(t))
        assert found.count(float(t)) == (len(groups), sum(len(g.members) for g in groups))
    counts = found.counts([0.0, 0.1, 0.3])
    assert [c[0] for c in counts] == [0.0, 0.1, 0.3]


def test_groups_order_members_by_preference(found: neardup.NearDuplicates,
                                            collection: tuple[ImageCache, list[str]]) -> None:
    cache, _ = collection
    info = neardup.image_info(cache)
    for g in found.groups(neardup.DEFAULT_THRESHOLD, prefer=info.pixels):
        px = info.pixels[g.members]
        assert list(px) == sorted(px, reverse=True)


def test_image_info_reads_sizes_resolution_and_mtime_from_the_cache(
        collection: tuple[ImageCache, list[str]], tmp_path: Path) -> None:
    cache, rel = collection
    info = neardup.image_info(cache)
    folder = cache.cache_dir.parent / "photos"
    k = rel.index("m1_small.jpg")
    st = os.stat(folder / "m1_small.jpg")
    assert (info.file_size[k], info.width[k], info.height[k], info.mtime_ns[k]) == (
        st.st_size, 64, 48, st.st_mtime_ns)
    k = rel.index("m1_exif6.jpg")  # as displayed: the EXIF turn applied
    assert (info.width[k], info.height[k]) == (160, 120)


def test_complete_linkage_never_chains() -> None:
    # a ~ b and b ~ c closely, a and c far apart: single linkage would join all three
    pairs = np.array([[0, 1], [1, 2], [0, 2], [3, 4]])
    diffs = np.array([0.1, 0.12, 0.9, 0.05])
    merges = neardup.complete_linkage(pairs, diffs, limit=0.6)
    nd = neardup.NearDuplicates(6, pairs, diffs, merges)
    assert sorted(sorted(g.members.tolist()) for g in nd.groups(0.5)) == [[0, 1], [3, 4]]
    assert nd.count(0.5) == (2, 4)
    assert nd.count(0.07) == (1, 2)
    # a pair that no index proposed counts as different, however close the others are
    merges = neardup.complete_linkage(pairs[[0, 1, 3]], diffs[[0, 1, 3]], limit=0.6)
    assert nd.count(0.5) == neardup.NearDuplicates(6, pairs, diffs, merges).count(0.5)


def test_complete_linkage_matches_scipy_on_dense_differences() -> None:
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    rng = np.random.default_rng(3)
    pts = rng.random((30, 2))
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    i, j = np.triu_indices(30, 1)
    merges = neardup.complete_linkage(np.stack([i, j], 1), d[i, j], limit=10.0)
    reference = linkage(squareform(d, checks=False), method="complete")
    np.testing.assert_allclose(np.sort(merges[:, 2]), np.sort(reference[:, 2]), rtol=1e-9)


def test_hash_pairs_finds_every_pair_within_seven_bits() -> None:
    rng = np.random.default_rng(0)
    h = rng.integers(0, 256, (1500, 8), dtype=np.uint8)
    for k in range(200):  # near copies: 1..7 flipped bits
        bits = np.unpackbits(h[k])
        flip = rng.choice(64, size=1 + k % 7, replace=False)
        bits[flip] ^= 1
        h[1000 + k] = np.packbits(bits)
    found = {tuple(p) for p in neardup.hash_pairs(h, radius=7).tolist()}
    popcount = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1)
    dist = popcount[h[:, None, :] ^ h[None, :, :]].sum(-1)
    a, b = np.nonzero(np.triu(dist <= 7, 1))
    truth = set(zip(a.tolist(), b.tolist()))
    assert truth >= {(k, 1000 + k) for k in range(200)}
    assert found == truth


def test_signature_is_imagehash_phash(collection: tuple[ImageCache, list[str]]) -> None:
    import imagehash

    cache, _ = collection
    rgb = cache.thumbnail(0)
    bits, tiny = neardup.signature(rgb)
    assert np.array_equal(np.unpackbits(bits).astype(bool), imagehash.phash(Image.fromarray(rgb)).hash.ravel())
    assert tiny.shape == (192,)
    assert abs(float(np.linalg.norm(tiny)) - 1.0) < 1e-5


def test_signatures_saved_and_loaded_for_their_key_only(tmp_path: Path) -> None:
    sig = neardup.Signatures(np.arange(16, dtype=np.uint8).reshape(2, 8),
                             np.full((2, 192), 1 / np.sqrt(192), np.float32))
    path = tmp_path / "sig.npz"
    sig.save(path, "images-v1")
    back = neardup.Signatures.load(path, "images-v1")
    assert back is not None
    assert np.array_equal(back.phash, sig.phash) and np.array_equal(back.tiny, sig.tiny)
    assert neardup.Signatures.load(path, "images-v2") is None
    path.write_bytes(b"not a numpy file")
    assert neardup.Signatures.load(path, "images-v1") is None


def _thumb(im: Image.Image) -> np.ndarray:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    with Image.open(buf) as back:
        return np.asarray(back.convert("RGB"))


def test_pair_check_same_framing_crop_and_burst() -> None:
    images, labels = _demo()
    tiles = [images[i] for i in (0, 1, 2, 3)]
    a = _mosaic(tiles)
    changed = _mosaic([*tiles[:3], images[int(np.flatnonzero(labels == labels[3])[7])]])
    pa = align.prepare(_thumb(a))
    assert align.identity_difference(pa, align.prepare(_thumb(a.resize((100, 75))))) < 0.15
    crop = align.prepare(_thumb(a.crop((10, 6, 160, 120))))
    assert align.identity_difference(pa, crop) > 0.5  # taken as the same framing it does not fit
    assert align.crop_difference(pa, crop) < neardup.DEFAULT_THRESHOLD
    pc = align.prepare(_thumb(changed))
    assert align.identity_difference(pa, pc) > 0.5  # one quadrant differs: its block says so
    assert align.crop_difference(pa, pc) > neardup.DEFAULT_THRESHOLD


def test_progress_never_goes_back_within_a_phase(collection: tuple[ImageCache, list[str]],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in the walkthrough: "Comparing images" went 88 % -> 71 % when the pairs inside the
    small groups were compared after the candidate pairs, under the same phase."""
    from dcgui.core.events import PhaseProgress

    cache, rel = collection
    chain = np.array([(i, i + 1) for i in range(len(rel) - 1)], np.int64)  # a chain: its triangles are missing
    monkeypatch.setattr(neardup, "candidate_pairs", lambda sig, features: chain)
    events: list[PhaseProgress] = []
    gen = neardup.iter_near_duplicates(neardup.thumbnail_reader(cache.thumbnail_jpeg), len(rel))
    while True:
        try:
            events.append(next(gen))
        except StopIteration:
            break
    phases = [e.phase for e in events]
    assert "pairs-groups" in phases  # the second pass ran
    for phase in set(phases):
        seen = [(e.done, e.total) for e in events if e.phase == phase]
        assert len({t for _, t in seen}) == 1 and [d for d, _ in seen] == sorted(d for d, _ in seen), phase
