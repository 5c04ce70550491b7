"""Decoding real files written to disk: every failure kind, every colour mode, EXIF, draft mode."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgui.core.errors import DcguiError
from dcgui.core.images.imageio import IMAGE_EXTENSIONS, ImageDecodeError, load_rgb


def _reason(path: Path) -> str:
    with pytest.raises(ImageDecodeError) as info:
        load_rgb(path)
    assert info.value.path == path
    assert str(path) in str(info.value)  # the user-facing message names the file
    return info.value.reason


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_extensions_are_lower_case_with_dot() -> None:
    assert {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"} <= IMAGE_EXTENSIONS
    assert all(e.startswith(".") and e == e.lower() for e in IMAGE_EXTENSIONS)
    # phone and camera formats, where their decoders are installed (they are dependencies)
    assert {".heic", ".heif", ".dng", ".cr2", ".nef", ".arw"} <= IMAGE_EXTENSIONS


@pytest.mark.parametrize("fmt", ["jpg", "png", "webp", "bmp", "tif", "gif"])
def test_every_supported_format_decodes(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"a.{fmt}"
    Image.fromarray(np.full((12, 20, 3), (200, 40, 90), np.uint8)).save(path)
    im = load_rgb(path)
    assert im.mode == "RGB" and im.size == (20, 12)
    # Lossy / palette formats shift colours a little; all must stay close.
    assert np.abs(np.asarray(im).astype(int) - (200, 40, 90)).max() <= 12


def test_zero_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    assert _reason(path) == "zero bytes"


def test_truncated_jpeg(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    Image.fromarray(_noise(64, 64)).save(good, quality=90)
    data = good.read_bytes()
    for frac in (0.3, 0.9):
        path = tmp_path / f"cut{frac}.jpg"
        path.write_bytes(data[: int(len(data) * frac)])
        assert _reason(path) == "truncated file"


def test_truncated_png(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.fromarray(_noise(64, 64)).save(good)
    path = tmp_path / "cut.png"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert _reason(path) == "truncated file"
    header_only = tmp_path / "header.png"
    header_only.write_bytes(good.read_bytes()[:40])
    assert _reason(header_only).startswith("damaged file")


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("these are not pixels\n" * 20)
    assert _reason(path) == "not an image"


@pytest.mark.parametrize(
    ("side", "warning_action"),
    [
        (100, "default"),  # > 2x the limit: Pillow raises DecompressionBombError
        (40, "error"),  # > 1x: Pillow warns; dcgui.core.images.imageio turns the warning into an error
        (40, "ignore"),  # ... and still refuses the file when someone reset the warning filters
    ],
)
def test_decompression_bomb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: int,
                            warning_action: str) -> None:
    path = tmp_path / "bomb.png"
    Image.new("RGB", (side, side)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with warnings.catch_warnings():
        warnings.simplefilter(warning_action, Image.DecompressionBombWarning)  # type: ignore[arg-type]
        assert _reason(path) == f"decompression bomb ({side * side} pixels)"


def test_bomb_warning_is_an_error_after_import() -> None:
    import subprocess
    import sys

    code = ("import warnings; from PIL import Image; import dcgui.core.images.imageio; "
            "print(any(f[0] == 'error' and f[2] is Image.DecompressionBombWarning for f in warnings.filters))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_bomb_limit_admits_large_camera_photos() -> None:
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS >= 100_000_000


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(path)
    path.chmod(0)
    try:
        assert _reason(path) == "unreadable: Permission denied"
    finally:
        path.chmod(0o644)


def test_os_errors_are_unreadable(tmp_path: Path) -> None:
    """Runs as root too: errors the OS reports whoever asks (a file deleted after the scan, a
    folder where a file was expected)."""
    assert _reason(tmp_path / "gone.jpg") == "unreadable: No such file or directory"
    (tmp_path / "dir.jpg").mkdir()
    assert _reason(tmp_path / "dir.jpg").startswith("unreadable: ")  # "Is a directory" on POSIX


def test_error_is_a_user_error() -> None:
    err = ImageDecodeError(Path("x/y.jpg"), "zero bytes")
    assert isinstance(err, DcguiError) and err.reason == "zero bytes"


# -- colour modes -------------------------------------------------------------------------------
def _pixels(path: Path) -> np.ndarray:
    im = load_rgb(path)
    assert im.mode == "RGB"
    return np.asarray(im).astype(int)


def test_rgba_composited_over_white(tmp_path: Path) -> None:
    a = np.zeros((2, 3, 4), np.uint8)
    a[..., :3] = (255, 0, 0)
    a[:, 0, 3] = 255  # opaque red
    a[:, 1, 3] = 0  # fully transparent: white
    a[:, 2, 3] = 128  # half: pink
    Image.fromarray(a, "RGBA").save(tmp_path / "a.png")
    p = _pixels(tmp_path / "a.png")
    assert p[0, 0].tolist() == [255, 0, 0]
    assert p[0, 1].tolist() == [255, 255, 255]
    assert p[0, 2].tolist() == [255, 127, 127]


def test_palette_with_transparency(tmp_path: Path) -> None:
    im = Image.new("P", (2, 1))
    im.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)  # entry 0 black (transparent), 1 blue
    im.putpixel((1, 0), 1)
    im.save(tmp_path / "p.png", transparency=0)
    assert Image.open(tmp_path / "p.png").mode == "P"
    p = _pixels(tmp_path / "p.png")
    assert p[0, 0].tolist() == [255, 255, 255]  # transparent black shows as white, not black
    assert p[0, 1].tolist() == [0, 0, 255]


def test_grey_with_alpha(tmp_path: Path) -> None:
    Image.new("LA", (2, 2), (100, 128)).save(tmp_path / "la.png")
    expected = round(100 * 128 / 255 + 255 * 127 / 255)
    assert (_pixels(tmp_path / "la.png") == expected).all()


@pytest.mark.parametrize("fmt", ["jpg", "tif"])
def test_cmyk(tmp_path: Path, fmt: str) -> None:
    a = np.zeros((8, 16, 4), np.uint8)
    a[:, 8:, 0] = 255  # right half: full cyan ink
    Image.fromarray(a, "CMYK").save(tmp_path / f"c.{fmt}", quality=95)
    assert Image.open(tmp_path / f"c.{fmt}").mode == "CMYK"
    p = _pixels(tmp_path / f"c.{fmt}")
    assert np.abs(p[4, 2] - (255, 255, 255)).max() <= 3  # no ink: white
    assert np.abs(p[4, 12] - (0, 255, 255)).max() <= 3  # cyan


@pytest.mark.parametrize("fmt", ["png", "tif"])
def test_16_bit_grey_is_scaled_not_clipped(tmp_path: Path, fmt: str) -> None:
    a = np.array([[0, 257, 32768, 65535]], np.uint16)
    Image.fromarray(a).save(tmp_path / f"g.{fmt}")
    assert Image.open(tmp_path / f"g.{fmt}").mode.startswith("I")
    assert _pixels(tmp_path / f"g.{fmt}")[0, :, 0].tolist() == [0, 1, 128, 255]


def test_32_bit_integer_and_float(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0, 1000, 70000]], np.int32), "I").save(tmp_path / "i.tif")
    assert _pixels(tmp_path / "i.tif")[0, :, 0].tolist() == [0, 1000 * 255 // 70000, 255]  # stretched
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32), "F").save(tmp_path / "f.tif")
    assert _pixels(tmp_path / "f.tif")[0, :, 0].tolist() == [0, 128, 255]


def test_bilevel_and_grey(tmp_path: Path) -> None:
    Image.new("1", (3, 3), 1).save(tmp_path / "b.png")
    assert (_pixels(tmp_path / "b.png") == 255).all()
    Image.new("L", (3, 3), 77).save(tmp_path / "l.bmp")
    assert (_pixels(tmp_path / "l.bmp") == 77).all()


def test_gif_gives_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    assert _pixels(tmp_path / "anim.gif")[0, 0].tolist() == [255, 0, 0]


# -- orientation and draft ------------------------------------------------------------------------
def test_exif_orientation_6_is_rotated(tmp_path: Path) -> None:
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = 255  # left half white, as stored
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    im.save(tmp_path / "o.jpg", exif=exif.tobytes(), quality=95)
    out = load_rgb(tmp_path / "o.jpg")
    assert out.size == (20, 40)  # width and height swap
    assert out.info["original_size"] == (20, 40)
    p = np.asarray(out).astype(int)
    assert p[:15].min() > 230  # the stored left half is now on top
    assert p[25:].max() < 25


def test_jpeg_draft_mode_keeps_both_sides_large_enough(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.fromarray(_noise(1200, 1600)).save(path, quality=80)
    full = load_rgb(path)
    assert full.size == (1600, 1200)
    small = load_rgb(path, max_side=128)
    assert small.size == (200, 150)  # decoded at 1/8 scale
    assert small.info["original_size"] == (1600, 1200)
    assert min(load_rgb(path, max_side=300).size) >= 300
