"""A folder of real photographs with planted copies and look-alike non-copies, for measuring
near-duplicate detection (``bench_duplicates.py``).

Sources are photographs shipped in two Debian packages, unpacked at run time (nothing large is
committed): the MATE and Lomiri wallpapers (nature photos, 1680-6028 px) and OpenCV's sample data
(``opencv-doc``: everyday photos, stereo pairs, viewpoint and lighting pairs, consecutive video
frames, a chessboard photographed 28 times). Each *original* gets copies of six kinds:

============  =====================================================================
kind          what the copy is
============  =====================================================================
resolution    the picture saved again at 3/4, 1/2 and 1/3 of its size (JPEG q90)
jpeg          re-encoded at JPEG quality 75, 45 and 20, same size
shrunk        a thumbnail-size copy, long side 160 and 96 px
crop          3 small crops: 3-10 % cut off one to four sides (kept area >= 80 %)
format        PNG and WebP (q80)
exif          pixels rotated by 90, 180 or 270 degrees with the EXIF orientation that
              turns them back (shown the same in every viewer)
============  =====================================================================

*Look-alikes* are different photographs of the same scene or subject (never copies of each
other): stereo pairs (``aloeL/R``, ``left/right``), a scene under other light (``leuvenA/B``)
or from another viewpoint (``graf1/3``, ``aero1/3``), consecutive frames of a moving subject
(``basketball1/2``, ``rubberwhale1/2``), frames 4 s apart from a static street camera
(``vtest.avi``, burst-like: only people move), and the 28 chessboard photos. Some of them are
also originals with copies, so a group that chains a copy to the neighbouring shot shows up.

``build(folder)`` writes the images and ``truth.json``: per file its picture id (files of one
picture are copies of each other), its kind (``original``, a copy kind, or ``lookalike``) and
its scene (look-alikes of one scene share it).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

DEBS = ("mate-backgrounds", "lomiri-wallpapers-20.04", "opencv-doc")
KINDS = ("resolution", "jpeg", "shrunk", "crop", "format", "exif")
MAX_SIDE = 2048  # originals larger than this are stored at this long side (keeps the run short)

_MATE = "usr/share/backgrounds/mate/nature"
_LOMIRI = "usr/share/backgrounds"
_CV = "usr/share/doc/opencv-doc/examples/data"
WALLPAPERS = [f"{_MATE}/{n}.jpg" for n in (
    "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops",
    "Storm", "TwoWings", "Wood", "YellowFlower")] + [f"{_LOMIRI}/Kleiber_by_Lukas_Baubkus.jpg"]
OPENCV = [f"{_CV}/{n}" for n in (
    "apple.jpg", "baboon.jpg", "board.jpg", "building.jpg", "butterfly.jpg", "chicky_512.png",
    "fruits.jpg", "home.jpg", "messi5.jpg", "orange.jpg", "squirrel_cls.jpg", "smarties.png",
    "stuff.jpg", "licenseplate_motion.jpg", "box_in_scene.png", "sudoku.png",
    # first shot of a look-alike pair: gets copies, its partner below does not
    "aloeL.jpg", "leuvenA.jpg", "graf1.png", "aero1.jpg", "basketball1.png", "rubberwhale1.png",
    "left.jpg")]
# scene -> the other shots (no copies)
LOOKALIKES = {
    "aloe": [f"{_CV}/aloeR.jpg"], "leuven": [f"{_CV}/leuvenB.jpg"], "graf": [f"{_CV}/graf3.png"],
    "aero": [f"{_CV}/aero3.jpg"], "basketball": [f"{_CV}/basketball2.png"],
    "rubberwhale": [f"{_CV}/rubberwhale2.png"], "books": [f"{_CV}/right.jpg"],
    "chessboard": [f"{_CV}/{side}{i:02d}.jpg" for side in ("left", "right")
                   for i in (*range(1, 10), *range(11, 15))],
}
SCENE_OF_ORIGINAL = {"aloeL": "aloe", "leuvenA": "leuven", "graf1": "graf", "aero1": "aero",
                     "basketball1": "basketball", "rubberwhale1": "rubberwhale", "left": "books"}
VIDEO = f"{_CV}/vtest.avi"  # 768x576 street camera, 10 fps
VIDEO_EVERY_S = 4


def unpack_sources(cache: Path) -> Path:
    """Download and unpack the Debian packages once (``apt-get download`` + ``dpkg -x``)."""
    root = cache / "debs"
    stamp = root / ".unpacked"
    if stamp.exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    missing = [d for d in DEBS if not list(root.glob(f"{d}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=root, check=True)
    for deb in root.glob("*.deb"):
        subprocess.run(["dpkg", "-x", str(deb), str(root / "x")], check=True)
    stamp.touch()
    return root


def _save(im: Image.Image, path: Path, **kw: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)


def _resize_long(im: Image.Image, side: int) -> Image.Image:
    w, h = im.size
    s = side / max(w, h)
    return im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)


def _crops(im: Image.Image, rng: random.Random) -> list[Image.Image]:
    w, h = im.size
    out = []
    for n_sides in (1, 2, 4):
        cut = [0.0, 0.0, 0.0, 0.0]  # left, top, right, bottom
        for side in rng.sample(range(4), n_sides):
            cut[side] = rng.uniform(0.03, 0.10)
        box = (round(cut[0] * w), round(cut[1] * h), round(w - cut[2] * w), round(h - cut[3] * h))
        out.append(im.crop(box))
    return out


def _exif_rotated(im: Image.Image, orientation: int) -> tuple[Image.Image, Image.Exif]:
    """Pixels stored turned, tagged so that ``ImageOps.exif_transpose`` shows ``im`` again."""
    stored = {6: Image.Transpose.ROTATE_90, 3: Image.Transpose.ROTATE_180,
              8: Image.Transpose.ROTATE_270}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    return im.transpose(stored), exif


def write_copies(im: Image.Image, stem: str, out: Path, rng: random.Random) -> dict[str, str]:
    """All copies of ``im`` into ``out``; returns {file name: kind}."""
    files: dict[str, str] = {}
    w, h = im.size

    def put(name: str, kind: str, img: Image.Image, **kw: object) -> None:
        _save(img, out / name, **kw)
        files[name] = kind

    for frac in (0.75, 0.5, 0.33):
        put(f"{stem}_res{round(frac * 100)}.jpg", "resolution", _resize_long(im, round(max(w, h) * frac)),
            quality=90)
    for q in (75, 45, 20):
        put(f"{stem}_q{q}.jpg", "jpeg", im, quality=q)
    for side in (160, 96):
        put(f"{stem}_small{side}.jpg", "shrunk", _resize_long(im, side), quality=85)
    for k, c in enumerate(_crops(im, rng)):
        put(f"{stem}_crop{k}.jpg", "crop", c, quality=90)
    put(f"{stem}_png.png", "format", im)
    put(f"{stem}_webp.webp", "format", im, quality=80)
    for o in (6, 3, 8):
        stored, exif = _exif_rotated(im, o)
        put(f"{stem}_exif{o}.jpg", "exif", stored, quality=90, exif=exif)
    return files


def _load(path: Path) -> Image.Image:
    with Image.open(path) as f:
        im = f.convert("RGB")
    return _resize_long(im, MAX_SIDE) if max(im.size) > MAX_SIDE else im


def _video_frames(video: Path, every_s: int) -> list[Image.Image]:
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is needed for the video frames: apt-get install ffmpeg")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(video), "-vf", f"fps=1/{every_s}",
                        f"{tmp}/f%03d.png"], check=True)
        frames = []
        for p in sorted(Path(tmp).glob("f*.png")):
            with Image.open(p) as im:
                frames.append(im.convert("RGB"))
        return frames


def build(folder: Path, cache: Path, seed: int = 0) -> dict[str, dict[str, str]]:
    """Write the benchmark folder (idempotent: rebuilt when ``truth.json`` is missing)."""
    truth_path = folder / "truth.json"
    if truth_path.exists():
        return json.loads(truth_path.read_text())
    src = unpack_sources(cache) / "x"
    rng = random.Random(seed)
    truth: dict[str, dict[str, str]] = {}
    if folder.exists():
        shutil.rmtree(folder)
    for group, rels in (("wallpapers", WALLPAPERS), ("opencv", OPENCV)):
        for rel in rels:
            stem = Path(rel).stem.split("_by_")[0]
            im = _load(src / rel)
            out = folder / group
            _save(im, out / f"{stem}.jpg", quality=95)
            scene = SCENE_OF_ORIGINAL.get(stem, "")
            truth[f"{group}/{stem}.jpg"] = {"picture": stem, "kind": "original", "scene": scene}
            for name, kind in write_copies(im, stem, out, rng).items():
                truth[f"{group}/{name}"] = {"picture": stem, "kind": kind, "scene": scene}
    for scene, rels in LOOKALIKES.items():
        for rel in rels:
            stem = Path(rel).stem
            im = _load(src / rel)
            _save(im, folder / "lookalikes" / f"{stem}.jpg", quality=95)
            truth[f"lookalikes/{stem}.jpg"] = {"picture": stem, "kind": "lookalike", "scene": scene}
    for k, frame in enumerate(_video_frames(src / VIDEO, VIDEO_EVERY_S)[:12]):
        name = f"lookalikes/vtest_{k * VIDEO_EVERY_S:03d}s.jpg"
        _save(frame, folder / name, quality=92)
        truth[name] = {"picture": Path(name).stem, "kind": "lookalike", "scene": "vtest"}
    truth_path.write_text(json.dumps(truth, indent=1, sort_keys=True))
    return truth
