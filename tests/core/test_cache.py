"""The decoded-image cache on real files: pixels, failures, reuse after changes, thumbnails,
stop / kill safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dcgui.core.control import RunControl, StopRequested
from dcgui.core.errors import DcguiError, UnusableCollectionError
from dcgui.core.events import Message, Paused, PhaseProgress, Resumed
from dcgui.core.images import cache as cache_mod
from dcgui.core.images import imageio
from dcgui.core.images.cache import ImageCache
from dcgui.core.images.collection import scan
from tests.conftest import drain_events

SIZE = 24


def build(cache_dir: Path, folder: Path, size: int = SIZE, **kw: Any) -> tuple[ImageCache, list[Any]]:
    result = scan(folder)
    return drain_events(ImageCache.iter_build(cache_dir, folder, result.images, size, workers=kw.pop("workers", 2), **kw))


def solid(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format="PNG")
    return path


def colour_folder(root: Path, n: int = 6) -> Path:
    """PNGs of distinct solid colours: every cached pixel is exactly known."""
    for i in range(n):
        solid(root / f"img_{i:02d}.png", (i * 20, 255 - i * 20, 7 * i))
    return root


class DecodeCounter:
    """Wraps ``imageio.load_rgb`` to record which files the cache really decodes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[str] = []
        self._lock = threading.Lock()
        real = imageio.load_rgb

        def counting(path: Path, max_side: int | None = None) -> Image.Image:
            with self._lock:
                self.paths.append(Path(path).name)
            return real(path, max_side)

        monkeypatch.setattr(imageio, "load_rgb", counting)

    def take(self) -> list[str]:
        out, self.paths = sorted(self.paths), []
        return out


def test_pixels_are_exact_and_centre_cropped(tmp_path: Path) -> None:
    folder = colour_folder(tmp_path / "photos")
    a = np.zeros((48, 96, 3), np.uint8)  # wide: red | green (centre square) | blue
    a[:, :24] = (255, 0, 0)
    a[:, 24:72] = (0, 255, 0)
    a[:, 72:] = (0, 0, 255)
    Image.fromarray(a).save(folder / "wide.png")
    c, events = build(tmp_path / "cache", folder)
    assert c.pixels.shape == (7, SIZE, SIZE, 3) and c.pixels.dtype == np.uint8
    assert isinstance(c.pixels, np.memmap)
    assert [r.relpath for r in c.records][:2] == ["img_00.png", "img_01.png"]
    for i in range(6):
        assert (c.pixels[i] == (i * 20, 255 - i * 20, 7 * i)).all()
    wide = c.pixels[[r.relpath for r in c.records].index("wide.png")]
    # Only the centre square survives the crop (the resampling kernel reaches a pixel or two
    # beyond it, as resize-then-crop would).
    assert np.abs(wide[:, 2:-2].astype(int) - (0, 255, 0)).max() <= 2
    assert c.original_sizes.tolist()[-1] == [96, 48]
    progress = [e for e in events if isinstance(e, PhaseProgress)]
    assert progress and all(e.phase == "cache" for e in progress)
    assert (progress[-1].done, progress[-1].total) == (7, 7)
    assert c.failed == []


def test_resize_of_a_large_photo_matches_pillow(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    big = Image.fromarray(base).resize((400, 300), Image.Resampling.BICUBIC)  # smooth content
    big.save(folder / "big.png")
    c, _ = build(tmp_path / "cache", folder, size=32)
    expected = np.asarray(big.crop((50, 0, 350, 300)).resize((32, 32), Image.Resampling.LANCZOS))
    assert np.abs(c.pixels[0].astype(int) - expected).mean() < 2.0


def test_bad_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    folder = colour_folder(tmp_path / "photos", n=3)
    (folder / "empty.jpg").touch()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "good.jpg", quality=90)
    (folder / "cut.jpg").write_bytes((tmp_path / "good.jpg").read_bytes()[:2000])
    (folder / "text.jpg").write_text("not pixels\n" * 30)
    c, _ = build(tmp_path / "cache", folder)
    assert len(c) == 3
    assert dict(c.failed) == {"cut.jpg": "truncated file", "empty.jpg": "zero bytes",
                              "text.jpg": "not an image"}
    # the viewer's copy agrees
    assert dict(ImageCache.open(tmp_path / "cache", SIZE).failed) == dict(c.failed)


def test_all_files_failing_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ["a.jpg", "b.jpg"]:
        (folder / name).write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    (folder / "c.png").write_text("text")
    with pytest.raises(UnusableCollectionError) as info:
        build(tmp_path / "cache", folder)
    msg = str(info.value)
    assert str(folder) in msg
    assert "all 3 image files failed to decode; first: a.jpg: " in msg


def test_rebuild_reuses_unchanged_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = colour_folder(tmp_path / "photos")
    counter = DecodeCounter(monkeypatch)
    first, _ = build(tmp_path / "cache", folder)
    assert len(counter.take()) == 6
    before = np.array(first.pixels)

    files_before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache").iterdir()}
    again, events = build(tmp_path / "cache", folder)
    assert counter.take() == []  # nothing changed: nothing decoded, copied or rewritten
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cache").iterdir()} == files_before
    assert [(e.done, e.total) for e in events] == [(6, 6)]
    np.testing.assert_array_equal(again.pixels, before)

    solid(folder / "img_03.png", (1, 2, 3))  # changed content (and size/mtime)
    st = (folder / "img_03.png").stat()
    os.utime(folder / "img_03.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed, _ = build(tmp_path / "cache", folder)
    assert counter.take() == ["img_03.png"]
    assert (changed.pixels[3] == (1, 2, 3)).all()
    np.testing.assert_array_equal(np.delete(np.array(changed.pixels), 3, 0), np.delete(before, 3, 0))


def test_rebuild_after_deletion_and_addition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = colour_folder(tmp_path / "photos")
    counter = DecodeCounter(monkeypatch)
    first, _ = build(tmp_path / "cache", folder)
    counter.take()
    by_path = {r.relpath: np.array(first.pixels[i]) for i, r in enumerate(first.records)}
    thumbs = {r.relpath: first.thumbnail_jpeg(i) for i, r in enumerate(first.records)}

    (folder / "img_01.png").unlink()
    solid(folder / "img_02b.png", (200, 100, 50))  # sorts between existing rows
    c, _ = build(tmp_path / "cache", folder)
    assert counter.take() == ["img_02b.png"]
    rels = [r.relpath for r in c.records]
    assert rels == ["img_00.png", "img_02.png", "img_02b.png", "img_03.png", "img_04.png", "img_05.png"]
    for i, rel in enumerate(rels):
        if rel in by_path:
            np.testing.assert_array_equal(c.pixels[i], by_path[rel])
            assert c.thumbnail_jpeg(i) == thumbs[rel]
    assert (c.pixels[2] == (200, 100, 50)).all()
    # only the current generation's files remain on disk
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(files) == 3 and f"index_{SIZE}.json" in files
    assert len({name.rsplit("_", 1)[-1].split(".")[0] for name in files if name != f"index_{SIZE}.json"}) == 1


def test_known_failures_are_not_decoded_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = colour_folder(tmp_path / "photos", n=2)
    (folder / "bad.png").write_text("nope")
    build(tmp_path / "cache", folder)
    counter = DecodeCounter(monkeypatch)
    c, _ = build(tmp_path / "cache", folder)
    assert counter.take() == [] and c.failed == [("bad.png", "not an image")]
    (folder / "bad.png").unlink()  # a removed bad file leaves the failure list
    c, _ = build(tmp_path / "cache", folder)
    assert c.failed == [] and counter.take() == []


def test_thumbnails(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    solid(folder / "a_wide.png", (250, 10, 10), (300, 150))
    solid(folder / "b_tall.jpg", (10, 250, 10), (90, 180))
    solid(folder / "c_tiny.png", (10, 10, 250), (40, 30))
    c, _ = build(tmp_path / "cache", folder)
    assert c.thumbnail_jpeg(0)[:3] == b"\xff\xd8\xff"
    assert c.thumbnail(0).shape == (64, 128, 3)
    assert c.thumbnail(1).shape == (128, 64, 3)
    assert c.thumbnail(2).shape == (30, 40, 3)  # never upscaled
    assert np.abs(c.thumbnail(0).astype(int).mean(axis=(0, 1)) - (250, 10, 10)).max() < 8
    with pytest.raises(IndexError):
        c.thumbnail_jpeg(3)


def test_open_read_only_and_errors(tmp_path: Path) -> None:
    with pytest.raises(DcguiError, match="no image cache of size 24"):
        ImageCache.open(tmp_path / "cache", SIZE)
    folder = colour_folder(tmp_path / "photos", n=3)
    built, _ = build(tmp_path / "cache", folder)
    other, _ = build(tmp_path / "cache", folder, size=16)  # sizes live side by side
    viewer = ImageCache.open(tmp_path / "cache", SIZE)
    np.testing.assert_array_equal(viewer.pixels, built.pixels)
    assert viewer.records == built.records and other.pixels.shape == (3, 16, 16, 3)
    with pytest.raises(ValueError):
        viewer.pixels[0, 0, 0, 0] = 1  # read-only map


def test_damaged_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = colour_folder(tmp_path / "photos", n=3)
    build(tmp_path / "cache", folder)
    data = next((tmp_path / "cache").glob("data_*.u8"))
    with open(data, "r+b") as fh:
        fh.truncate(10)
    with pytest.raises(DcguiError, match="damaged"):
        ImageCache.open(tmp_path / "cache", SIZE)
    counter = DecodeCounter(monkeypatch)
    c, events = build(tmp_path / "cache", folder)
    assert any(isinstance(e, Message) and e.level == "warning" for e in events)
    assert len(counter.take()) == 3 and (c.pixels[1] == (20, 235, 7)).all()

    (tmp_path / "cache" / f"index_{SIZE}.json").write_text("{not json")
    c, _ = build(tmp_path / "cache", folder)
    assert len(c) == 3


def test_stop_keeps_finished_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = colour_folder(tmp_path / "photos", n=12)
    control = RunControl()
    calls = []
    real = imageio.load_rgb

    def stopping(path: Path, max_side: int | None = None) -> Image.Image:
        calls.append(path)
        if len(calls) == 3:
            control.stop()
        return real(path, max_side)

    monkeypatch.setattr(imageio, "load_rgb", stopping)
    with pytest.raises(StopRequested):
        build(tmp_path / "cache", folder, workers=1, control=control)
    with pytest.raises(DcguiError, match="incomplete"):
        ImageCache.open(tmp_path / "cache", SIZE)
    index = json.loads((tmp_path / "cache" / f"index_{SIZE}.json").read_text())
    kept = {row[0] for row in index["rows"]}
    assert 1 <= len(kept) < 12 and index["complete"] is False

    monkeypatch.setattr(imageio, "load_rgb", real)
    counter = DecodeCounter(monkeypatch)
    c, _ = build(tmp_path / "cache", folder)
    decoded = counter.take()
    assert len(decoded) == 12 - len(kept) and not kept & set(decoded)
    reference, _ = build(tmp_path / "fresh", folder)
    np.testing.assert_array_equal(c.pixels, reference.pixels)


def test_pause_and_resume(tmp_path: Path) -> None:
    folder = colour_folder(tmp_path / "photos", n=4)
    control = RunControl()
    control.pause()
    timer = threading.Timer(0.3, control.resume)
    timer.start()
    c, events = build(tmp_path / "cache", folder, control=control)
    timer.join()
    kinds = [type(e) for e in events]
    assert Paused in kinds and Resumed in kinds and kinds.index(Paused) < kinds.index(Resumed)
    assert len(c) == 4


KILLED_BUILD = """
import os, signal, sys, time
from pathlib import Path
from dcgui.core.images import cache, imageio
from dcgui.core.images.cache import ImageCache
from dcgui.core.images.collection import scan
cache.COMMIT_INTERVAL_S = 0.0  # commit after every finished batch
real = imageio.load_rgb
count = [0]
def slow(path, max_side=None):
    count[0] += 1
    if count[0] == 6:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind
    time.sleep(0.02)
    return real(path, max_side)
imageio.load_rgb = slow
folder, cache_dir = Path(sys.argv[1]), Path(sys.argv[2])
for _ in ImageCache.iter_build(cache_dir, folder, scan(folder).images, 24, workers=1):
    pass
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_killed_build_leaves_a_consistent_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = colour_folder(tmp_path / "photos", n=10)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", KILLED_BUILD, str(folder), str(tmp_path / "cache")],
                          cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    index = json.loads((tmp_path / "cache" / f"index_{SIZE}.json").read_text())
    assert index["complete"] is False and 1 <= len(index["rows"]) < 10
    counter = DecodeCounter(monkeypatch)
    c, _ = build(tmp_path / "cache", folder)
    assert len(counter.take()) == 10 - len(index["rows"])  # only the missing work is redone
    reference, _ = build(tmp_path / "fresh", folder)
    np.testing.assert_array_equal(c.pixels, reference.pixels)
    assert not list((tmp_path / "cache").glob("*.tmp"))


def test_labels_and_duplicate_check(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    solid(folder / "cats" / "a.png", (1, 1, 1))
    solid(folder / "dogs" / "b.png", (2, 2, 2))
    c, _ = build(tmp_path / "cache", folder)
    assert [r.label for r in c.records] == ["cats", "dogs"]
    records = scan(folder).images
    with pytest.raises(ValueError, match="twice"):
        drain_events(ImageCache.iter_build(tmp_path / "c2", folder, records + records[:1], SIZE))


def test_progress_is_throttled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(300):
        Image.new("L", (4, 4), i % 256).save(folder / f"{i:03d}.png")
    monkeypatch.setattr(cache_mod, "PROGRESS_INTERVAL_S", 60.0)  # only the 1 % steps remain
    c, events = build(tmp_path / "cache", folder, size=4)
    progress = [e for e in events if isinstance(e, PhaseProgress)]
    assert len(c) == 300
    assert len(progress) <= 105  # about one per 1 %, not one per image
    assert [e.done for e in progress] == sorted(e.done for e in progress)
