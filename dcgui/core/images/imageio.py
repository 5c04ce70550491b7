"""Decode one image file into an 8-bit RGB ``PIL.Image`` the way a photo viewer would show it.

EXIF orientation is applied, every Pillow mode is converted to RGB (transparency composited on
white, 16-bit and float data scaled rather than clipped), animated files give their first frame,
and large JPEGs are decoded at a reduced DCT scale when the caller needs fewer pixels.
Every way a file can fail becomes one ``ImageDecodeError`` with a short human reason, so a
collection build can skip the file, record why, and go on.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dcgui.core.errors import DcguiError
from dcgui.core.pathtext import printable


def _photo_formats() -> frozenset[str]:
    """Phone formats beyond Pillow's classics: AVIF (Pillow's own plugin, when built with libavif)
    and HEIC/HEIF (pillow-heif; it applies the file's rotation itself and resets the EXIF tag, so
    the EXIF step below never rotates twice)."""
    from PIL import features

    extra = {".avif"} if features.check("avif") else set()
    try:
        import pillow_heif
    except ImportError:  # an install without pillow-heif: HEIC files are not collected at all
        return frozenset(extra)
    pillow_heif.register_heif_opener()
    return frozenset(extra | {".heic", ".heif"})


def _raw_formats() -> frozenset[str]:
    """Camera RAW files, developed by LibRaw (rawpy) when it is installed."""
    try:
        import rawpy  # noqa: F401
    except ImportError:
        return frozenset()
    return frozenset({".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".raf", ".orf", ".rw2", ".pef", ".srw"})


RAW_EXTENSIONS = _raw_formats()
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
) | _photo_formats() | RAW_EXTENSIONS

# Pillow's default (~89 MP) rejects some medium-format camera files; 144 MP (12000 x 12000)
# admits every consumer photo while a crafted file still cannot make each decode thread
# allocate gigabytes. Above this Pillow warns (turned into an error below), above twice it raises.
MAX_IMAGE_PIXELS = 144_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
# Pillow's documented way to refuse decompression bombs instead of only warning. It is set once
# at import because changing warning filters per call is not thread-safe (we decode on threads).
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
# Pillow's remarks on damaged metadata ("Corrupt EXIF data", "Tag data larger than file") are
# about files the user cannot change and would scroll past every progress bar: the decode goes
# on, and a file that cannot be decoded is reported as skipped with its reason.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "La", "RGBa"})

# A decode that needs fewer pixels (``max_side``) than a large non-JPEG image holds is shrunk by
# an integer factor right after decoding, to at least REDUCE_GAP x max_side on the short side (as
# square_crop's own reducing_gap would), so only small images outlive the memory budget below.
LARGE_DECODE_PIXELS = 24_000_000
REDUCE_GAP = 3


def _physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        return None


class DecodeMemory:
    """A process-wide budget of bytes for images being decoded.

    A small file can declare a huge image (a 450 KB PNG of 12000 x 12000 decodes to 432 MB), and
    the cache decodes on one thread per core: without a bound, a folder of such files needs
    threads x 432 MB at once. Each decode holds its estimated size here while its full-size
    pixels exist; decodes that would exceed the budget wait, one larger than the whole budget
    runs alone. Normal photos (JPEGs decoded at a reduced DCT scale) never wait.
    """

    def __init__(self, limit_bytes: int) -> None:
        self._cond = threading.Condition()
        self._used = 0
        self.limit = int(limit_bytes)

    def set_limit(self, limit_bytes: int) -> None:
        with self._cond:
            self.limit = max(int(limit_bytes), 1)
            self._cond.notify_all()

    @contextlib.contextmanager
    def hold(self, nbytes: int) -> Iterator[None]:
        with self._cond:
            n = min(max(int(nbytes), 0), self.limit)
            while self._used + n > self.limit:
                self._cond.wait()
            self._used += n
        try:
            yield
        finally:
            with self._cond:
                self._used -= n
                self._cond.notify_all()


# Pillow allocates pixels in blocks (16 MB by default). glibc serves blocks up to 32 MB from
# per-thread heaps that keep freed memory, so after N decode threads each decoded one big image
# the process still holds N of them even though they ran one after another. Blocks above 32 MB
# are mapped on their own and given back to the system when freed.
_PILLOW_BLOCK_BYTES = 64 << 20
if hasattr(Image.core, "set_block_size"):
    Image.core.set_block_size(_PILLOW_BLOCK_BYTES)


def _default_decode_budget() -> int:
    total = _physical_memory() or 8 << 30
    return min(max(total // 16, 256 << 20), 1 << 30)  # 1/16 of RAM, within 256 MB .. 1 GB


DECODE_MEMORY = DecodeMemory(_default_decode_budget())


def decode_cost(im: Image.Image) -> int:
    """Bytes the full-size pixels of ``im`` take once loaded, plus its conversion to RGB.

    Pillow stores one byte per pixel for 1-band 8-bit modes, two for I;16, and four for every
    other mode (RGB included): a 12000 x 12000 RGB image is 576 MB in memory.
    """
    mode = im.mode
    stored = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4
    return _pixels(im) * (stored + (0 if mode == "RGB" else 4))


class ImageDecodeError(DcguiError):
    """``path`` could not be decoded; ``reason`` is short and human ("truncated file")."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read image {printable(self.path)}: {reason} (the file is skipped; "
                         "re-save it with an image editor or remove it from the folder)")

    def __reduce__(self) -> tuple[type, tuple[Path, str]]:  # picklable across processes
        return (type(self), (self.path, self.reason))


def load_rgb(path: Path, max_side: int | None = None) -> Image.Image:
    """Decode ``path`` into an RGB image (EXIF orientation applied; first frame of animations).

    ``max_side``: the caller only needs both sides to be at least this long (it downscales
    afterwards), which lets a JPEG be decoded at 1/2, 1/4 or 1/8 scale (draft mode), several
    times faster for camera photos. ``None`` decodes at full size.
    ``result.info["original_size"]`` is the (width, height) of the full-resolution image as
    displayed (after EXIF rotation), whatever scale it was decoded at.
    Raises ``ImageDecodeError`` for every file that cannot be used.
    """
    path = Path(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below; Pillow reads lazily from it
    except OSError as exc:
        raise ImageDecodeError(path, f"unreadable: {exc.strerror or exc}") from exc
    with fh:
        try:
            if os.fstat(fh.fileno()).st_size == 0:
                raise ImageDecodeError(path, "zero bytes")
            if path.suffix.lower() in RAW_EXTENSIONS:
                return _load_raw(path, fh, max_side)
            im = _open(path, fh)
            full_size = im.size
            if max_side is not None and im.format == "JPEG":
                im.draft("RGB", (max_side, max_side))
            with DECODE_MEMORY.hold(decode_cost(im)):
                out = _decode_rgb(path, im, full_size, max_side)
                del im  # free the full-size pixels before the budget is handed on
                return out
        except OSError as exc:  # a read error outside decoding (fstat, EXIF tags read late)
            raise ImageDecodeError(path, f"unreadable: {exc.strerror or exc}") from exc


def _decode_rgb(path: Path, im: Image.Image, full_size: tuple[int, int], max_side: int | None) -> Image.Image:
    """Load ``im``'s pixels, apply EXIF orientation, convert to RGB (and shrink a large image)."""
    try:
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(path, f"decompression bomb ({_pixels(im)} pixels)") from exc
    except EOFError as exc:
        raise ImageDecodeError(path, "truncated file") from exc
    except OSError as exc:
        if "truncated" in str(exc):
            raise ImageDecodeError(path, "truncated file") from exc
        if exc.errno is not None:  # a read error, not a format complaint
            raise ImageDecodeError(path, f"unreadable: {exc.strerror or exc}") from exc
        raise ImageDecodeError(path, _damaged(exc)) from exc
    except MemoryError as exc:
        raise ImageDecodeError(path, f"too large to decode ({_pixels(im)} pixels)") from exc
    except Exception as exc:  # Pillow's plugins raise many types on corrupt data
        raise ImageDecodeError(path, _damaged(exc)) from exc
    decoded_size = im.size
    _apply_exif_orientation(im)
    if im.size != decoded_size:  # rotated by 90 degrees: the displayed size swaps too
        full_size = (full_size[1], full_size[0])
    mode = im.mode
    try:
        out = to_rgb(im)
        del im  # the full-size original goes as soon as the RGB copy exists
        out = _shrink_large(out, max_side)
        out.info["original_size"] = full_size
        return out
    except MemoryError as exc:
        raise ImageDecodeError(path, f"too large to decode ({full_size[0] * full_size[1]} pixels)") from exc
    except (ValueError, OSError) as exc:
        raise ImageDecodeError(path, f"unsupported colour mode {mode}") from exc


def _load_raw(path: Path, fh: io.BufferedReader, max_side: int | None) -> Image.Image:
    """Develop a camera RAW file with LibRaw: camera white balance, 8-bit sRGB, the camera's
    orientation applied; at half resolution (no demosaicing, 4x less memory) when that still
    gives ``max_side`` pixels."""
    import rawpy

    try:
        with rawpy.imread(fh) as raw:  # a file object: names that are not UTF-8 open too
            s = raw.sizes
            turned = s.flip in (5, 6)
            full_size = (s.height, s.width) if turned else (s.width, s.height)
            half = max_side is not None and min(s.width, s.height) // 2 >= max_side
            out_pixels = s.width * s.height // (4 if half else 1)
            with DECODE_MEMORY.hold(s.raw_width * s.raw_height * 2 + out_pixels * 8):
                rgb = raw.postprocess(use_camera_wb=True, output_bps=8, half_size=half)
    except rawpy.LibRawFileUnsupportedError as exc:
        raise ImageDecodeError(path, "unsupported RAW file (LibRaw cannot read this camera's format)") from exc
    except (rawpy.LibRawIOError, rawpy.LibRawDataError) as exc:
        raise ImageDecodeError(path, _damaged(exc)) from exc
    except (rawpy.LibRawUnsufficientMemoryError, rawpy.LibRawTooBigError, MemoryError) as exc:
        raise ImageDecodeError(path, "too large to decode") from exc
    except rawpy.LibRawError as exc:
        raise ImageDecodeError(path, _damaged(exc)) from exc
    out = _shrink_large(Image.fromarray(rgb), max_side)
    out.info["original_size"] = full_size
    return out


def _shrink_large(im: Image.Image, max_side: int | None) -> Image.Image:
    if max_side is None or _pixels(im) <= LARGE_DECODE_PIXELS:
        return im
    factor = min(im.size) // (REDUCE_GAP * max_side)
    return im.reduce(factor) if factor >= 2 else im


def _open(path: Path, fh: io.BufferedReader) -> Image.Image:
    try:
        im = Image.open(fh)
    except UnidentifiedImageError as exc:
        fh.seek(0)
        if _has_image_signature(fh.read(16)):
            raise ImageDecodeError(path, "damaged file (unreadable header)") from exc
        raise ImageDecodeError(path, "not an image") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(path, f"decompression bomb ({_bomb_pixels(exc)} pixels)") from exc
    except OSError as exc:
        if exc.strerror:  # a real I/O error, not a format complaint
            raise ImageDecodeError(path, f"unreadable: {exc.strerror}") from exc
        raise ImageDecodeError(path, _damaged(exc)) from exc
    except Exception as exc:  # header parsers raise SyntaxError, struct.error, ...
        raise ImageDecodeError(path, _damaged(exc)) from exc
    # Backstop when the warning filter above was reset by someone else's warnings context.
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and _pixels(im) > limit:
        raise ImageDecodeError(path, f"decompression bomb ({_pixels(im)} pixels)")
    return im


_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


def _has_image_signature(head: bytes) -> bool:
    """A known format's magic bytes: the file is a damaged image rather than something else."""
    return (head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
            or head[4:8] == b"ftyp")  # ISO media: HEIC, HEIF, AVIF


def _pixels(im: Image.Image) -> int:
    return int(im.size[0]) * int(im.size[1])


def _bomb_pixels(exc: Exception) -> str:
    # Pillow's message: "Image size (N pixels) exceeds limit of ..."; keep just N.
    text = str(exc)
    start = text.find("(")
    end = text.find(" pixels)")
    return text[start + 1:end] if 0 <= start < end else "too many"


def _damaged(exc: BaseException) -> str:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if len(detail) > 60:
        detail = detail[:57] + "..."
    return f"damaged file ({detail})"


def _apply_exif_orientation(im: Image.Image) -> None:
    # A malformed EXIF block must not cost the user the photo: show it unrotated instead.
    with contextlib.suppress(Exception):
        ImageOps.exif_transpose(im, in_place=True)


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB as a viewer would display it.

    Transparency (alpha channel, or a palette / grey transparency key) is composited on white;
    16-bit data is scaled to 8 bits (``round(v / 257)``); 32-bit integer data that fits 16 bits is
    treated as 16-bit, anything else (and float data outside [0, 1]) is stretched min..max.
    CMYK with an embedded ICC profile is colour-managed to sRGB.
    """
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in _ALPHA_MODES or (mode in ("P", "L", "RGB", "1") and "transparency" in im.info):
        rgba = im.convert("RGBA")
        out = Image.new("RGB", rgba.size, (255, 255, 255))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _grey_to_rgb(np.asarray(im), mode)
    if mode == "CMYK" and im.info.get("icc_profile"):
        managed = _cmyk_with_profile(im)
        if managed is not None:
            return managed
    return im.convert("RGB")


def _grey_to_rgb(a: np.ndarray, mode: str) -> Image.Image:
    if mode == "F":
        f = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(f.min()), float(f.max())
        if lo >= 0.0 and hi <= 1.0:  # the usual normalised float image
            g = np.rint(f * 255.0)
        else:
            g = np.rint((f - lo) * (255.0 / (hi - lo))) if hi > lo else np.zeros_like(f)
    else:
        v = a.astype(np.int64)
        lo, hi = int(v.min()), int(v.max())
        if lo >= 0 and hi <= 65535:  # 16-bit data (I;16*, or a 16-bit PNG opened as "I")
            g = (v + 128) // 257  # == round(v * 255 / 65535)
        else:
            g = (v - lo) * 255 // (hi - lo) if hi > lo else np.zeros_like(v)
    g8 = np.ascontiguousarray(np.clip(g, 0, 255).astype(np.uint8))
    return Image.fromarray(np.repeat(g8[:, :, None], 3, axis=2), "RGB")


def _cmyk_with_profile(im: Image.Image) -> Image.Image | None:
    try:
        from PIL import ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
        dst = ImageCms.createProfile("sRGB")
        out = ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
    except Exception:  # a broken profile: fall back to Pillow's plain conversion
        return None
    return out if isinstance(out, Image.Image) else None
