"""Build a folder of full-size real photographs for the first-look benchmark (issue 22).

A new user's folder of camera photos is thousands of 3-12 MP JPEGs; decoding them is what keeps
the first clusters off the screen. This makes such a folder from the real photographs of the KDE
Plasma wallpapers (the 11 scenes of ``build_collections.py``'s ``photos``; 2560x1600 JPEGs from
``plasma-workspace-wallpapers``): each variant is a random crop (40-100 % of the area), maybe
mirrored, rescaled to a random 3-12 MP, saved at a random JPEG quality of 85-95. Files go into
one sub-folder per scene (``ROOT/<scene>/<scene>_0001.jpg``), so NMI against the scene can be read.

Usage: python benchmarks/build_bigphotos.py [--out /work/data/bigphotos] [--count 4000] [--debs DIR]
An existing output folder is completed, never overwritten (files already there are kept).
Benchmark material only: the unit tests never read it.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_collections import PACKAGES, PHOTO_SCENES, unpack

SEED = 22
MIN_MP, MAX_MP = 3.0, 12.0


def draw(rng: random.Random, w: int, h: int) -> tuple[tuple[int, int, int, int], bool, float, int]:
    """The random choices of one variant (cheap: drawn for every index, so the folder is the
    same whichever files already exist): crop box, mirror, megapixels, JPEG quality."""
    frac = rng.uniform(0.4, 1.0)
    aspect = rng.choice([4 / 3, 3 / 2, 16 / 9, 3 / 4, 2 / 3, 1.0])
    cw = min(w, round((frac * w * h * aspect) ** 0.5))
    ch = min(h, round(cw / aspect))
    left, top = rng.randrange(0, w - cw + 1), rng.randrange(0, h - ch + 1)
    return (left, top, left + cw, top + ch), rng.random() < 0.5, rng.uniform(MIN_MP, MAX_MP) * 1e6, rng.randint(85, 95)


def variant(src: Image.Image, box: tuple[int, int, int, int], mirror: bool, mp: float) -> Image.Image:
    """One random crop / flip / rescale of ``src``."""
    im = src.crop(box)
    if mirror:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    cw, ch = im.size
    scale = (mp / (cw * ch)) ** 0.5
    return im.resize((round(cw * scale), round(ch * scale)), Image.Resampling.BILINEAR)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/work/data/bigphotos"))
    ap.add_argument("--count", type=int, default=4000)
    ap.add_argument("--debs", type=Path, default=Path("/work/data/debs"))
    ap.add_argument("--reverse", action="store_true", help="make the missing files from the last one back "
                    "(a second process then meets the first in the middle)")
    args = ap.parse_args()
    x = unpack(PACKAGES["photos"], args.debs)
    sources = {s: Image.open(x / f"usr/share/wallpapers/{s}/contents/images/2560x1600.jpg").convert("RGB")
               for s in PHOTO_SCENES}
    rng = random.Random(SEED)
    plan = []
    for i in range(args.count):
        scene = PHOTO_SCENES[i % len(PHOTO_SCENES)]
        plan.append((i, scene, draw(rng, *sources[scene].size)))
    t0 = time.perf_counter()
    made = 0
    for i, scene, (box, mirror, mp, quality) in (reversed(plan) if args.reverse else plan):
        path = args.out / scene.lower() / f"{scene.lower()}_{i:04d}.jpg"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.part")
        variant(sources[scene], box, mirror, mp).save(tmp, "JPEG", quality=quality)
        tmp.rename(path)  # a killed run leaves no half-written photo under a real name
        made += 1
        if made % 200 == 0:
            print(f"{made} made, at {i + 1}/{args.count} ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"{args.out}: {args.count} photos ({made} new) in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
