"""Rebuild the labelled evaluation collections of docs/QUALITY.md, reproducibly, from Debian packages.

Each collection is a folder ``ROOT/<name>/<class>/<image>`` (class sub-folders are what
``dcgui train``/``dcgui eval`` read as labels). The collections are kept out of the unit tests on
purpose: the defaults are measured on material the developers did not tune against.

- ``photos``: real photographs. The 11 photographic KDE Plasma wallpapers (2560x1600 JPEGs of
  distinct scenes: a jetty, cups, a forest path, a kite in the sky, fallen leaves...); 100 random
  crops of each (2-15 % of the area, aspect 3:4-4:3, short side 160 px). Class = source photograph:
  no labelled real-photo set of different objects exists in Debian, so this is the closest honest
  proxy (crops of one scene share content, not pixels).
- ``clipart``: Open Clip Art Library PNGs (``openclipart-png``), 12 of its categories (animals,
  food, transportation...), 100 drawings each, flattened on white, longest side 192 px.
- ``icons``: the Oxygen and Faenza icon themes at 64 px (``oxygen-icon-theme``,
  ``faenza-icon-theme``), classes = the freedesktop icon context (apps, devices, places,
  mimetypes, actions, status, categories), symlinks and exact duplicates dropped, at most 300 each.
- ``fashion``: the first 100 images of each class of the demo's 4,000 Fashion-MNIST images
  (``resources/demo``), 28 px grey PNGs.

About 1,100 images per collection: the lower end of the issue's 1k-5k range, so that one run at
the defaults fits the time a shared 2-core machine gives (docs/QUALITY.md).

Usage: python benchmarks/build_collections.py [--root /work/data] [--debs DIR] [NAME ...]
Needs ``apt-get`` (``apt-get download`` + ``dpkg -x``: nothing is installed). Benchmarks may
download; tests never do.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

PACKAGES = {
    "photos": ["plasma-workspace-wallpapers"],
    "clipart": ["openclipart-png"],
    "icons": ["oxygen-icon-theme", "faenza-icon-theme"],
    "fashion": [],
}
PHOTO_SCENES = ["BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
                "Grey", "Kite", "OneStandsOut", "Path", "summer_1am"]
CLIPART_CLASSES = ["animals", "computer", "food", "geography", "office", "people", "plants", "recreation",
                   "shapes", "signs_and_symbols", "tools", "transportation"]
ICON_CONTEXTS = ["actions", "apps", "categories", "devices", "mimetypes", "places", "status"]
SEED = 0


def unpack(packages: list[str], debs: Path) -> Path:
    """``apt-get download`` each package into ``debs`` (once) and ``dpkg -x`` it into debs/x."""
    root = debs / "x"
    debs.mkdir(parents=True, exist_ok=True)
    for pkg in packages:
        found = list(debs.glob(f"{pkg}_*.deb"))
        if not found:
            subprocess.run(["apt-get", "download", pkg], cwd=debs, check=True)
            found = list(debs.glob(f"{pkg}_*.deb"))
        stamp = debs / f".{pkg}.unpacked"
        if not stamp.exists():
            subprocess.run(["dpkg", "-x", str(found[0]), str(root)], check=True)
            stamp.touch()
    return root


def _fresh(target: Path) -> bool:
    """True when ``target`` must be built; an existing folder is kept as it is (never overwritten)."""
    if target.exists() and any(target.iterdir()):
        print(f"{target} exists: kept (remove it to rebuild)")
        return False
    return True


def build_photos(x: Path, target: Path, per_class: int = 100) -> None:
    rng = random.Random(SEED)
    for scene in PHOTO_SCENES:
        src = Image.open(x / f"usr/share/wallpapers/{scene}/contents/images/2560x1600.jpg").convert("RGB")
        w, h = src.size
        out = target / scene.lower()
        out.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            area = rng.uniform(0.02, 0.15) * w * h
            aspect = rng.uniform(3 / 4, 4 / 3)
            cw, ch = round((area * aspect) ** 0.5), round((area / aspect) ** 0.5)
            left, top = rng.randrange(0, w - cw), rng.randrange(0, h - ch)
            crop = src.crop((left, top, left + cw, top + ch))
            scale = 160 / min(cw, ch)
            crop = crop.resize((round(cw * scale), round(ch * scale)), Image.Resampling.LANCZOS)
            crop.save(out / f"{scene.lower()}_{i:03d}.jpg", quality=90)


def _flatten(path: Path, longest: int) -> Image.Image | None:
    try:
        opened = Image.open(path)
        opened.load()
    except Exception:  # a damaged file in the package: skip it, the class keeps the others
        return None
    im = opened.convert("RGBA")
    bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
    im = Image.alpha_composite(bg, im).convert("RGB")
    im.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    return im


def _pick(files: list[Path], cap: int) -> list[Path]:
    files = sorted(files)
    random.Random(SEED).shuffle(files)
    return files[:cap]


def build_clipart(x: Path, target: Path, cap: int = 100) -> None:
    base = x / "usr/share/openclipart/png"
    for cls in CLIPART_CLASSES:
        out = target / cls
        out.mkdir(parents=True, exist_ok=True)
        seen: set[str] = set()
        n = 0
        for f in _pick(list((base / cls).rglob("*.png")), cap * 2):
            im = _flatten(f, 192)
            if im is None or min(im.size) < 16:
                continue
            digest = hashlib.sha1(im.tobytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            im.save(out / f"{n:04d}_{f.stem[:40]}.png")
            n += 1
            if n >= cap:
                break


def build_icons(x: Path, target: Path, cap: int = 300) -> None:
    roots = [x / "usr/share/icons/oxygen/base/64x64/{ctx}", x / "usr/share/icons/Faenza/{ctx}/64"]
    for ctx in ICON_CONTEXTS:
        files = [f for r in roots for f in Path(str(r).format(ctx=ctx)).glob("*.png") if not f.is_symlink()]
        out = target / ctx
        out.mkdir(parents=True, exist_ok=True)
        seen: set[str] = set()
        n = 0
        for f in _pick(files, 10_000):
            im = _flatten(f, 64)
            if im is None:
                continue
            digest = hashlib.sha1(im.tobytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            theme = "oxygen" if "oxygen" in str(f) else "faenza"
            im.save(out / f"{theme}_{f.stem}.png")
            n += 1
            if n >= cap:
                break


def build_fashion(repo: Path, target: Path, per_class: int = 100) -> None:
    data = np.load(repo / "resources/demo/fashion_mnist_4000.npz")
    names = [str(n) for n in data["class_names"]]
    counts: dict[int, int] = {}
    for img, label, src in zip(data["images"], data["labels"], data["source_index"], strict=True):
        counts[int(label)] = counts.get(int(label), 0) + 1
        if counts[int(label)] > per_class:
            continue
        out = target / names[int(label)].replace("/", "-").replace(" ", "_")
        out.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(out / f"{int(src):05d}.png")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", default=list(PACKAGES), help=f"collections (default: {' '.join(PACKAGES)})")
    p.add_argument("--root", type=Path, default=Path("/work/data"), help="where the collections go")
    p.add_argument("--debs", type=Path, default=None, help="download/unpack folder (default: ROOT/debs)")
    args = p.parse_args()
    debs = args.debs or args.root / "debs"
    repo = Path(__file__).resolve().parent.parent
    builders = {"photos": build_photos, "clipart": build_clipart, "icons": build_icons}
    for name in args.names:
        target = args.root / name
        if not _fresh(target):
            continue
        if name == "fashion":
            build_fashion(repo, target)
        else:
            builders[name](unpack(PACKAGES[name], debs), target)
        classes = sorted(d for d in target.iterdir() if d.is_dir())
        print(f"{target}: {sum(len(list(d.iterdir())) for d in classes)} images in {len(classes)} classes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
