"""Benchmark inputs shared by the scripts in this folder, built once and reused.

* ``photo_folder(n)``: colour JPEG "photos" (500x375 landscape / 375x500 portrait, quality 90,
  8 class sub-folders of generated textures with grain), since users bring colour photos and
  JPEG decoding is what a conventional pipeline pays for every epoch.
* ``fmnist_folder(n)``: Fashion-MNIST as 28x28 PNG files in class sub-folders, read from the idx
  files of Debian's ``dataset-fashion-mnist`` package (no download at run time).
* ``synthetic_pixels(n, size)``: an ``(n, size, size, 3)`` uint8 memmap standing in for a decode
  cache (for memory/profiling runs at 10k-1M images without decoding anything).

Everything lives under ``$DCGUI_BENCH_DIR`` (default ``/tmp/dcgui_bench``); a ``.done`` stamp
holding the parameters makes each builder idempotent.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_DIR = Path(os.environ.get("DCGUI_BENCH_DIR", "/tmp/dcgui_bench"))
FMNIST_DIR = Path(os.environ.get("DCGUI_FMNIST_DIR", "/tmp/fm/usr/share/datasets/fashion-mnist"))
FMNIST_CLASSES = ("tshirt", "trouser", "pullover", "dress", "coat",
                  "sandal", "shirt", "sneaker", "bag", "boot")
PHOTO_CLASSES = 8


def _stamp_ok(folder: Path, params: dict) -> bool:
    stamp = folder / ".done"
    return stamp.exists() and json.loads(stamp.read_text()) == params


def _write_stamp(folder: Path, params: dict) -> None:
    (folder / ".done").write_text(json.dumps(params))


# -- Fashion-MNIST -------------------------------------------------------------------------------
def load_fmnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 28, 28) uint8, labels (N,) int64)`` from the idx files."""
    prefix = "train" if split == "train" else "t10k"
    img_path = FMNIST_DIR / f"{prefix}-images-idx3-ubyte.gz"
    lab_path = FMNIST_DIR / f"{prefix}-labels-idx1-ubyte.gz"
    if not img_path.exists():
        raise SystemExit(
            f"{img_path} is missing: extract Debian's dataset-fashion-mnist package there "
            "(cd /tmp && apt-get download dataset-fashion-mnist && dpkg -x dataset-fashion-mnist*.deb fm) "
            "or set DCGUI_FMNIST_DIR"
        )
    with gzip.open(img_path, "rb") as f:
        raw = f.read()
    n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    with gzip.open(lab_path, "rb") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8).astype(np.int64)
    return images, labels


def fmnist_folder(n: int) -> Path:
    """The first ``n`` training images as PNG files in ``<class>/`` sub-folders."""
    from PIL import Image

    folder = BENCH_DIR / f"fmnist_{n}"
    params = {"n": n, "kind": "fmnist-png"}
    if _stamp_ok(folder, params):
        return folder
    images, labels = load_fmnist("train")
    if n > len(images):
        raise SystemExit(f"only {len(images)} Fashion-MNIST training images exist (asked for {n})")
    for c in FMNIST_CLASSES:
        (folder / c).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(images[i]).save(folder / FMNIST_CLASSES[labels[i]] / f"{i:06d}.png")
    _write_stamp(folder, params)
    return folder


# -- colour JPEG "photos" -----------------------------------------------------------------------
def make_photo(rng: np.random.Generator, cls: int, width: int, height: int) -> np.ndarray:
    """A colour image with photo-like statistics: smooth light, class texture, edges, grain.

    Class ``cls`` sets the palette and the orientation/frequency of a texture, so the folders
    are clusterable; low-frequency colour fields, a few soft-edged shapes and sensor-like grain
    give JPEG files of typical size (~50-90 KB at 500x375, quality 90).
    """
    from PIL import Image

    def smooth(h: int, w: int, ch: int) -> np.ndarray:
        """Bicubic upsampling of an (h, w) random field: values in [0, 1], shape (H, W, ch)."""
        small = (rng.random((h, w, ch)) * 255).astype(np.uint8)
        im = Image.fromarray(small[..., 0] if ch == 1 else small)
        big = np.asarray(im.resize((width, height), Image.Resampling.BICUBIC), np.float32) / 255
        return big.reshape(height, width, ch)

    crng = np.random.default_rng(1000 + cls)  # the class palette
    palette = crng.uniform(40, 220, (2, 3)).astype(np.float32)
    light = smooth(3, 4, 1)  # large-scale lighting
    img = palette[0] * (1 - light) + palette[1] * light
    img += 60.0 * smooth(12, 16, 3) - 30.0  # mid-scale colour texture
    img += 40.0 * smooth(height // 6, width // 6, 3) - 20.0  # fine detail (foliage, fabric)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = np.pi * cls / PHOTO_CLASSES + rng.normal(0, 0.1)
    freq = 0.05 + 0.03 * (cls % 4) + rng.normal(0, 0.005)
    phase = np.cos(angle) * xx + np.sin(angle) * yy
    img += (28 * np.sin(freq * phase))[..., None]
    for _ in range(int(rng.integers(2, 6))):  # soft-edged blobs (objects)
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        r = rng.uniform(20, min(width, height) / 3)
        mask = np.clip((r - np.hypot(yy - cy, xx - cx)) / 4, 0, 1)[..., None]
        img = img * (1 - mask) + rng.uniform(0, 255, 3).astype(np.float32) * mask
    img += rng.normal(0, 6, img.shape).astype(np.float32)  # grain
    return np.clip(img, 0, 255).astype(np.uint8)


def photo_folder(n: int, sizes: Sequence[tuple[int, int]] = ((500, 375), (375, 500)),
                 quality: int = 90, seed: int = 0, threads: int = 2) -> Path:
    """``n`` JPEG photos in ``class_k/`` sub-folders; sizes cycle through ``sizes`` (w, h)."""
    from PIL import Image

    tag = "-".join(f"{w}x{h}" for w, h in sizes)
    folder = BENCH_DIR / f"photos_{n}_{tag}_q{quality}"
    params = {"n": n, "sizes": [list(s) for s in sizes], "quality": quality, "seed": seed, "v": 1}
    if _stamp_ok(folder, params):
        return folder
    for c in range(PHOTO_CLASSES):
        (folder / f"class_{c}").mkdir(parents=True, exist_ok=True)

    def one(i: int) -> None:
        rng = np.random.default_rng([seed, i])
        cls = i % PHOTO_CLASSES
        w, h = sizes[(i // PHOTO_CLASSES) % len(sizes)]
        Image.fromarray(make_photo(rng, cls, w, h)).save(
            folder / f"class_{cls}" / f"img_{i:06d}.jpg", quality=quality)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(n)))
    _write_stamp(folder, params)
    return folder


# -- a synthetic decode cache --------------------------------------------------------------------
def synthetic_pixels(n: int, size: int, seed: int = 0, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``(pixels (n, size, size, 3) uint8 memmap, labels (n,))``: class-coloured noise, no decoding.

    Written in chunks so building 1M rows never needs more than a few MB of RAM.
    """
    path = BENCH_DIR / f"pixels_{n}_{size}_{seed}.u8"
    labels = np.arange(n, dtype=np.int64) % classes
    params = {"n": n, "size": size, "seed": seed, "classes": classes}
    stamp = path.with_suffix(".json")
    if not (path.exists() and stamp.exists() and json.loads(stamp.read_text()) == params):
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
        rng = np.random.default_rng(seed)
        colours = rng.integers(0, 256, (classes, 3))
        step = 4096
        for a in range(0, n, step):
            b = min(a + step, n)
            chunk = rng.integers(0, 64, (b - a, size, size, 3), dtype=np.int16)
            chunk += colours[labels[a:b]][:, None, None, :] * 3 // 4
            mm[a:b] = np.clip(chunk, 0, 255).astype(np.uint8)
        mm.flush()
        del mm
        stamp.write_text(json.dumps(params))
    return np.load(path, mmap_mode="r"), labels


# -- reporting -------------------------------------------------------------------------------------
def folder_stats(folder: Path) -> dict:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    total = sum(p.stat().st_size for p in files)
    return {"files": len(files), "mean_kb": total / max(len(files), 1) / 1024}


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} logical cores visible, torch {torch.__version__} "
            f"({torch.get_num_threads()} intra-op threads), numpy {np.__version__}, Python {platform.python_version()}")


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def drop_page_cache_hint(folder: Path) -> None:
    """Best effort: ask the kernel to forget the files' cached pages (needs no root; may do nothing)."""
    for p in folder.rglob("*"):
        if p.is_file():
            try:
                fd = os.open(p, os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)
            except (OSError, AttributeError):
                return


# DCGUI_RESULTS: another file for the sections (scripts/gpu_check.py collects them without touching this one)
RESULTS = Path(os.environ.get("DCGUI_RESULTS", Path(__file__).resolve().parent / "results.md"))


def publish(name: str, lines: list[str]) -> str:
    """End a benchmark's report: add the machine line, print it, and write it as section ``name``."""
    text = "\n".join([*lines, "", f"Machine: {machine()}."])
    print("\n" + text)
    write_section(name, text)
    return text


def write_section(name: str, text: str, path: Path = RESULTS) -> None:
    """Replace the block between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` in results.md
    (appended when absent), so each script refreshes its own table and leaves the rest alone."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    old = path.read_text() if path.exists() else "# dcgui benchmark results\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    path.write_text(new)
