"""Near-duplicates measured: precision and recall per kind of copy on real photographs, the
choice of the default threshold, and time and memory at 100k images.

Part 1 (quality): builds the folder of ``_dupfolder.py`` (real photos from Debian's
``mate-backgrounds``, ``lomiri-wallpapers-20.04`` and ``opencv-doc`` packages, with 16 planted
copies of each original and 45 look-alike non-copies; needs ``apt-get`` and ``ffmpeg`` once),
scans it and builds the decode cache exactly as a session does, then runs
``dcgui.core.analysis.duplicates`` on the cache's thumbnails. A pair of images is *true* when both are
copies of one picture. Per kind of copy: recall = share of (copy, its original) pairs that end
up in one group; precision = share of the grouped pairs involving a copy of that kind that are
true. Look-alike pairs grouped together are counted as errors. The threshold table shows the
trade-off; the default is the largest threshold whose precision stays >= 0.95 on every kind.

Part 2 (scale): N synthetic images (smooth random fields with grain, 2% planted copies:
re-encoded, shrunk, cropped) as thumbnails in memory: seconds and peak memory of each phase.

    python benchmarks/bench_duplicates.py [--quality] [--scale N ...] [--out benchmarks/results_duplicates.md]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _dupfolder  # noqa: E402

from dcgui.core.analysis import duplicates as neardup  # noqa: E402
from dcgui.core.control import drain  # noqa: E402
from dcgui.core.images.cache import ImageCache  # noqa: E402
from dcgui.core.images.collection import scan  # noqa: E402

BENCH_DIR = Path(os.environ.get("DCGUI_BENCH_DIR", "/tmp/dcgui_bench"))
THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def _true_pairs(truth: dict, rel: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pic = np.array([truth[r]["picture"] for r in rel])
    kind = np.array([truth[r]["kind"] for r in rel])
    scene = np.array([truth[r]["scene"] for r in rel])
    return pic, kind, scene


def evaluate(nd: neardup.NearDuplicates, truth: dict, rel: list[str], t: float) -> dict:
    pic, kind, scene = _true_pairs(truth, rel)
    groups = nd.groups(t)
    pred: set[tuple[int, int]] = set()
    for g in groups:
        m = sorted(int(x) for x in g.members)
        pred.update((a, b) for k, a in enumerate(m) for b in m[k + 1:])
    orig = {p: i for i, (p, k) in enumerate(zip(pic, kind)) if k == "original"}
    rows = {}
    for k in _dupfolder.KINDS:
        copies = np.flatnonzero(kind == k)
        hit = sum((min(i, orig[pic[i]]), max(i, orig[pic[i]])) in pred for i in copies)
        involving = [(a, b) for a, b in pred if kind[a] == k or kind[b] == k]
        good = sum(pic[a] == pic[b] for a, b in involving)
        rows[k] = {"copies": len(copies), "recall": hit / max(len(copies), 1),
                   "pairs": len(involving), "precision": good / len(involving) if involving else 1.0}
    lookalike = sum(1 for a, b in pred if pic[a] != pic[b] and scene[a] and scene[a] == scene[b])
    wrong = sum(1 for a, b in pred if pic[a] != pic[b])
    n_true = sum(1 for a, b in pred if pic[a] == pic[b])
    all_true = sum(c * (c - 1) // 2 for c in np.unique(pic, return_counts=True)[1])
    rows["all"] = {"copies": int(np.isin(kind, _dupfolder.KINDS).sum()),
                   "recall": n_true / max(all_true, 1), "pairs": len(pred),
                   "precision": n_true / len(pred) if pred else 1.0}
    return {"rows": rows, "lookalike_pairs": lookalike, "wrong_pairs": wrong,
            "groups": len(groups), "images": sum(len(g.members) for g in groups)}


def quality(out_lines: list[str]) -> None:
    folder = BENCH_DIR / "duplicates" / "photos"
    truth = _dupfolder.build(folder, BENCH_DIR / "duplicates")
    result = scan(folder)
    cache_dir = BENCH_DIR / "duplicates" / "cache"
    cache = drain(ImageCache.iter_build(cache_dir, folder, result.images, 32))
    rel = [r.relpath for r in cache.records]
    assert set(rel) == set(truth), "the cache holds other files than the truth table"
    read = neardup.thumbnail_reader(cache.thumbnail_jpeg)
    t0 = time.perf_counter()
    sig = drain(neardup.iter_signatures(read, len(rel)))
    t_sig = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, nd = drain(neardup.iter_near_duplicates(read, len(rel), signatures=sig))
    t_pairs = time.perf_counter() - t0
    pic, kind, _ = _true_pairs(truth, rel)
    n_src = len(set(pic))
    out_lines += [
        "## Quality on real photographs", "",
        f"{len(rel)} files: {int((kind == 'original').sum())} originals x 16 copies + "
        f"{int((kind == 'lookalike').sum())} look-alikes ({n_src} distinct pictures); "
        f"signatures {t_sig:.1f} s, pairs + linkage {t_pairs:.1f} s ({len(nd.pairs)} pairs kept).", "",
        "Threshold sweep (precision / recall per kind of copy; look-alike = pairs of different "
        "photos of one scene grouped together):", "",
        "| threshold | groups | images | " + " | ".join(f"{k} P / R" for k in (*_dupfolder.KINDS, "all"))
        + " | look-alike pairs | wrong pairs |",
        "|---" * (len(_dupfolder.KINDS) + 6) + "|",
    ]
    for t in THRESHOLDS:
        ev = evaluate(nd, truth, rel, t)
        cells = " | ".join(f"{ev['rows'][k]['precision']:.3f} / {ev['rows'][k]['recall']:.3f}"
                           for k in (*_dupfolder.KINDS, "all"))
        mark = " **(default)**" if abs(t - neardup.DEFAULT_THRESHOLD) < 1e-9 else ""
        out_lines.append(f"| {t:.2f}{mark} | {ev['groups']} | {ev['images']} | {cells} | "
                         f"{ev['lookalike_pairs']} | {ev['wrong_pairs']} |")
    ev = evaluate(nd, truth, rel, neardup.DEFAULT_THRESHOLD)
    out_lines += ["", f"At the default ({neardup.DEFAULT_THRESHOLD}):", "",
                  "| kind | copies | recall | grouped pairs involving it | precision |", "|---|---|---|---|---|"]
    for k, r in ev["rows"].items():
        out_lines.append(f"| {k} | {r['copies']} | {r['recall']:.3f} | {r['pairs']} | {r['precision']:.3f} |")
    # what went wrong, for the reader
    pic_arr = np.array(pic)
    misses = []
    for g in nd.groups(neardup.DEFAULT_THRESHOLD):
        ps = {pic_arr[int(i)] for i in g.members}
        if len(ps) > 1:
            misses.append("mixed group: " + ", ".join(sorted({rel[int(i)].split('/')[-1] for i in g.members}))[:300])
    out_lines += [""] + [f"- {m}" for m in misses[:10]]
    print("\n".join(out_lines[-40:]))


# ---------------------------------------------------------------------------------------------
def _synthetic(n: int, seed: int = 0) -> list[bytes]:
    """n thumbnail JPEGs (128 x 96): smooth random fields + grain; 2 % are copies of others."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out: list[bytes] = []
    base = max(1, int(n * 0.98))
    for i in range(n):
        if i < base:
            low = rng.random((6, 8, 3)) * 255
            im = Image.fromarray(low.astype(np.uint8)).resize((128, 96), Image.Resampling.BICUBIC)
            a = np.asarray(im, np.float32) + rng.normal(0, 12, (96, 128, 3))
            im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
        else:
            with Image.open(io.BytesIO(out[int(rng.integers(base))])) as src:
                im = src.convert("RGB")
            how = i % 3
            if how == 1:
                im = im.resize((96, 72), Image.Resampling.BICUBIC)
            elif how == 2:
                im = im.crop((6, 4, 122, 92)).resize((128, 97), Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85 if i % 3 else 40)
        out.append(buf.getvalue())
    return out


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scale(n: int, out_lines: list[str]) -> None:
    t0 = time.perf_counter()
    jpegs = _synthetic(n)
    t_make = time.perf_counter() - t0
    read = neardup.thumbnail_reader(lambda i: jpegs[i])
    rss0 = _peak_mb()
    t0 = time.perf_counter()
    sig = drain(neardup.iter_signatures(read, n))
    t_sig = time.perf_counter() - t0
    t0 = time.perf_counter()
    hp = neardup.hash_pairs(sig.phash)
    t_hash = time.perf_counter() - t0
    t0 = time.perf_counter()
    kp = neardup.knn_pairs(sig.tiny, neardup.NEIGHBOURS, neardup.CROP_GATE)
    t_knn = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, nd = drain(neardup.iter_near_duplicates(read, n, signatures=sig))
    t_all = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in np.linspace(0, neardup.MAX_DIFFERENCE, 61):
        nd.count(t)
    t_count = (time.perf_counter() - t0) / 61
    g, im = nd.count(neardup.DEFAULT_THRESHOLD)
    out_lines.append(
        f"| {n:,} | {t_sig:.1f} | {t_hash:.1f} ({len(hp):,}) | {t_knn:.1f} ({len(kp):,}) | {t_all:.1f} "
        f"({len(nd.pairs):,} kept) | {t_count * 1e6:.0f} us | {g:,} / {im:,} | {_peak_mb():,.0f} "
        f"(+{_peak_mb() - rss0:,.0f}) | {t_make:.0f} |")
    print(out_lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quality", action="store_true", help="run the real-photo measurement")
    ap.add_argument("--scale", type=int, nargs="*", default=[], help="synthetic sizes, e.g. 10000 100000")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    lines = ["# Near-duplicates", "",
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}; `python benchmarks/bench_duplicates.py "
             + " ".join(sys.argv[1:]) + "`", ""]
    if args.quality:
        quality(lines)
    if args.scale:
        lines += ["", "## Time and memory (synthetic thumbnails)", "",
                  "| images | signatures s | hash pairs s (pairs) | miniature kNN s (pairs) | "
                  "whole run after signatures s | one slider count | groups / images at default | "
                  "peak RSS MB (+ during) | making the data s |", "|---" * 9 + "|"]
        for n in args.scale:
            scale(n, lines)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
