"""Do a person's corrections help the training? And does a backbone from another collection?

Two measurements for issue 24, on small labelled collections (CPU, smallnet at 32 px):

1. **Corrections.** Train E epochs; then simulate a person who looks at epoch E: merge the
   clusters whose majority class is the same (for up to ``--merges`` classes, those with the most
   such clusters) and flag the 5 % most outlying images exclude (1 - cosine to the nearest
   cluster centroid, as the Explore tab's Outliers list). Continue 5 epochs from epoch E's
   checkpoint with steering ("assign": k-means, then constrained assignment; "collapse": k-means
   on the merged sets collapsed to weighted means, then the same assignment) and without any
   correction (same seed: the same run). Compare NMI against the labels (over the images the
   corrected run clusters, for every run, so all see the same images) and kNN accuracy
   (leave-one-out, k=20, cosine; every image, the backbone's pooled features).
2. **Start from a backbone.** A backbone trained on another collection (Fashion-MNIST B's run
   of part 1, at its last epoch) vs the random initialisation, the same epochs on the same
   collection (same arch and input size: equal compute; minutes reported).

The engine (``dcgui.core.train.engine.DeepCluster``) is run directly on the decoded pixels, with the
same ``dcgui.core.train.steering.build_steering`` the session service uses.

Usage: python benchmarks/steering.py [--epochs-before 5] [--epochs-after 5] [--out docs/QUALITY.md]
Writes the section between ``<!-- steering:begin -->`` and ``<!-- steering:end -->`` of --out.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from dcgui.core.analysis.evaluate import knn_accuracy  # noqa: E402
from dcgui.core.analysis.metrics import nmi  # noqa: E402
from dcgui.core.analysis.outliers import outlier_scores  # noqa: E402
from dcgui.core.config import TrainConfig, default_config  # noqa: E402
from dcgui.core.events import EpochFinished  # noqa: E402
from dcgui.core.train import engine as engine_mod  # noqa: E402
from dcgui.core.train.checkpoint import checkpoint_name  # noqa: E402
from dcgui.core.train.engine import DeepCluster, ResumeState  # noqa: E402
from dcgui.core.train.features import iter_features  # noqa: E402
from dcgui.core.train.steering import Steering, build_steering  # noqa: E402

BEGIN, END = "<!-- steering:begin -->", "<!-- steering:end -->"
IMAGE_SIZE = 32
MAX_MERGED = 4  # clusters per merge, the purest of their class
CACHE = round(IMAGE_SIZE / 0.875)


def _resize(gray_or_rgb: np.ndarray) -> np.ndarray:
    out = np.empty((len(gray_or_rgb), CACHE, CACHE, 3), np.uint8)
    for i, g in enumerate(gray_or_rgb):
        out[i] = np.asarray(Image.fromarray(g).resize((CACHE, CACHE), Image.Resampling.BILINEAR).convert("RGB"))
    return out


def fmnist(part: str, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The demo's Fashion-MNIST (400 per class): A = the first ``per_class`` of each class, B = the last."""
    with np.load(ROOT / "resources" / "demo" / "fashion_mnist_4000.npz") as d:
        images, labels = d["images"], d["labels"].astype(np.int64)
    chosen: list[int] = []
    for c in range(int(labels.max()) + 1):
        mine = np.flatnonzero(labels == c)
        chosen.extend((mine[:per_class] if part == "a" else mine[-per_class:]).tolist())
    idx = np.sort(np.array(chosen))
    return _resize(images[idx]), labels[idx]


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (1,797 images, 10 classes; no download)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = (d.images * (255.0 / 16.0)).astype(np.uint8)[:900]  # the first 900: ~90 per class
    return _resize(imgs), d.target.astype(np.int64)[:900]


def shapes(per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Four classes of coloured shapes with jitter (the test suite's generator), 48 px."""
    from tests.conftest import make_shape_image

    rng = np.random.default_rng(7)
    imgs, labels = [], []
    for c in range(4):
        for _ in range(per_class):
            imgs.append(make_shape_image(c, rng, 48))
            labels.append(c)
    return _resize(np.stack(imgs)), np.array(labels, np.int64)


PASSES = 1.0  # training images per epoch, in passes over the collection (--passes)


def config_for(n: int, n_classes: int, seed: int = 31) -> TrainConfig:
    return default_config(n, "cpu", n_classes, arch="smallnet", image_size=IMAGE_SIZE, device="cpu",
                          threads=1, seed=seed, samples_per_epoch=max(int(PASSES * n), 2))


# variant -> (the engine's steer_mechanism, steer_sampling); "none": no corrections at all
VARIANTS = {"assign": ("assign", "kmeans"), "assign-labels": ("assign", "labels"), "collapse": ("collapse", "kmeans")}


def run_engine(cfg: TrainConfig, pixels: np.ndarray, ckpt_dir: Path, until: int, resume: ResumeState | None = None,
               steering: Callable[[int], Steering | None] | None = None, variant: str = "assign",
               init_state: dict | None = None) -> tuple[DeepCluster, dict[int, np.ndarray], float]:
    eng = DeepCluster(cfg, pixels, None, ckpt_dir, resume=resume, steering=steering, init_state=init_state)
    eng.steer_mechanism, eng.steer_sampling = VARIANTS.get(variant, VARIANTS["assign"])
    assigns: dict[int, np.ndarray] = {}
    t0 = time.perf_counter()
    for ev in eng.run(until):
        if isinstance(ev, EpochFinished):
            assigns[ev.metrics.epoch] = ev.assign_raw.copy()
    return eng, assigns, time.perf_counter() - t0


def features(eng: DeepCluster, pixels: np.ndarray, representation: bool = True) -> np.ndarray:
    gen = iter_features(eng.model, pixels, eng.config.image_size, 256, torch.device("cpu"),
                        representation=representation)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return np.asarray(stop.value)


def simulate_person(assign: np.ndarray, labels: np.ndarray, feats: np.ndarray, k: int, merges: int,
                    exclude_fraction: float) -> tuple[list[tuple[int, str, list[np.ndarray]]], np.ndarray, int]:
    """The merges and exclusions a person makes at epoch E (see the module docstring)."""
    majority = {}
    for c in range(k):
        members = np.flatnonzero(assign == c)
        if len(members):
            majority[c] = int(np.bincount(labels[members]).argmax())
    by_class: dict[int, list[int]] = {}
    for c, y in majority.items():
        by_class.setdefault(y, []).append(c)
    # a handful: per class at most MAX_MERGED of its purest clusters
    purity = {c: float(np.mean(labels[assign == c] == majority[c])) for c in majority}
    by_class = {y: sorted(cs, key=lambda c: -purity[c])[:MAX_MERGED] for y, cs in by_class.items()}
    chosen = sorted((cs for cs in by_class.values() if len(cs) >= 2), key=len, reverse=True)[:merges]
    groups = [(j + 1, "merge", [np.flatnonzero(np.isin(assign, cs))]) for j, cs in enumerate(chosen)]
    scores = outlier_scores(feats, assign, k)
    n_out = round(exclude_fraction * len(assign))
    excluded = np.argsort(-scores, kind="stable")[:n_out]
    return groups, excluded, sum(len(cs) for cs in chosen)


def knn(eng: DeepCluster, pixels: np.ndarray, labels: np.ndarray) -> float:
    return knn_accuracy(features(eng, pixels), labels)


def corrections(name: str, pixels: np.ndarray, labels: np.ndarray, before: int, after: int, merges: int,
                work: Path, variants: list[str]) -> tuple[list[dict], Path]:
    n_classes = int(labels.max()) + 1
    cfg = config_for(len(pixels), n_classes)
    base_dir = work / name / "base"
    base_dir.mkdir(parents=True, exist_ok=True)
    eng, assigns, secs = run_engine(cfg, pixels, base_dir, before)
    a_e = assigns[before]
    groups, excluded, n_merged = simulate_person(a_e, labels, features(eng, pixels, representation=False), cfg.k,
                                                 merges, 0.05)
    steer = build_steering(len(pixels), excluded, groups)
    print(f"[{name}] epoch {before}: {len(groups)} merges of {n_merged} clusters, {len(excluded)} excluded "
          f"({secs:.0f} s)", flush=True)
    keep = np.ones(len(pixels), bool)
    keep[excluded] = False
    rows = []
    for variant in ["none", *variants]:
        d = work / name / variant
        shutil.copytree(base_dir, d)
        resume = ResumeState(before, d / checkpoint_name(before), eng.prev_matched)
        prov = None if variant == "none" else (lambda epoch, s=steer: s)
        eng2, assigns2, secs2 = run_engine(cfg, pixels, d, before + after, resume, prov, variant)
        final = assigns2[before + after]
        feats = features(eng2, pixels)
        rows.append({
            "collection": name, "variant": variant, "n": len(pixels), "k": cfg.k,
            "nmi_kept": nmi(labels[keep], final[keep]),
            "knn": knn_accuracy(feats, labels),
            "knn_kept": knn_accuracy(feats[keep], labels[keep]),
            "seconds": secs2,
            "merges": len(groups), "merged_clusters": n_merged, "excluded": len(excluded),
        })
        print(f"[{name}] {variant}: NMI {rows[-1]['nmi_kept']:.3f} kNN {rows[-1]['knn']:.3f} "
              f"(kept {rows[-1]['knn_kept']:.3f}) ({secs2:.0f} s)", flush=True)
    # the backbone other collections start from: the uncorrected run's last checkpoint
    return rows, work / name / "none" / checkpoint_name(before + after)


def from_backbone(name: str, pixels: np.ndarray, labels: np.ndarray, backbone: Path, epochs: int,
                  work: Path, source: str) -> list[dict]:
    from dcgui.core.train.checkpoint import load_checkpoint

    state = load_checkpoint(backbone)["model"]
    state = {k: v for k, v in state.items() if not k.startswith("top_layer")}
    cfg = config_for(len(pixels), int(labels.max()) + 1)
    rows = []
    for variant, init in (("random init", None), (f"backbone from {source}", state)):
        d = work / name / ("init-" + ("random" if init is None else "backbone"))
        d.mkdir(parents=True, exist_ok=True)
        eng0 = DeepCluster(cfg, pixels, None, None, init_state=init)
        knn0 = knn(eng0, pixels, labels)
        eng, assigns, secs = run_engine(cfg, pixels, d, epochs, init_state=init)
        rows.append({"collection": name, "variant": variant, "knn0": knn0, "knn": knn(eng, pixels, labels),
                     "nmi": nmi(labels, assigns[epochs]), "seconds": secs, "epochs": epochs})
        print(f"[{name}] {variant}: kNN {knn0:.3f} -> {rows[-1]['knn']:.3f}, NMI {rows[-1]['nmi']:.3f} "
              f"({secs:.0f} s)", flush=True)
    return rows


def write_section(out: Path, text: str) -> None:
    body = out.read_text(encoding="utf-8") if out.exists() else ""
    block = f"{BEGIN}\n{text.rstrip()}\n{END}\n"
    if BEGIN in body and END in body:
        a, b = body.index(BEGIN), body.index(END) + len(END)
        body = body[:a] + block.rstrip("\n") + body[b:]
    else:
        body = body.rstrip("\n") + ("\n\n" if body else "") + block
    out.write_text(body, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs-before", type=int, default=5)
    ap.add_argument("--epochs-after", type=int, default=5)
    ap.add_argument("--merges", type=int, default=5, help="classes whose clusters the person merges")
    ap.add_argument("--per-class", type=int, default=60, help="Fashion-MNIST images per class")
    ap.add_argument("--collections", default="fmnist-a,fmnist-b,digits,shapes")
    ap.add_argument("--init-epochs", type=int, default=5)
    ap.add_argument("--passes", type=float, default=1.0, help="training images per epoch / collection size")
    ap.add_argument("--variants", default="assign,assign-labels",
                    help=f"steered variants to compare with no corrections: {', '.join(VARIANTS)}")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "QUALITY.md")
    args = ap.parse_args()
    global PASSES
    PASSES = args.passes
    torch.set_num_threads(1)
    data = {
        "fmnist-a": lambda: fmnist("a", args.per_class),
        "fmnist-b": lambda: fmnist("b", args.per_class),
        "digits": digits,
        "shapes": lambda: shapes(100),
    }
    wanted = [c for c in args.collections.split(",") if c]
    t_start = time.perf_counter()
    load0 = os.getloadavg()
    rows: list[dict] = []
    backbones: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="dcgui-steering-") as tmp:
        work = Path(tmp)
        loaded = {name: data[name]() for name in wanted}
        for name in wanted:
            pixels, labels = loaded[name]
            found, bb = corrections(name, pixels, labels, args.epochs_before, args.epochs_after, args.merges, work,
                                    [v for v in args.variants.split(",") if v])
            rows += found
            backbones[name] = bb
        init_rows: list[dict] = []
        if "fmnist-b" in backbones:
            for name in ("fmnist-a", "digits"):
                if name in loaded:
                    init_rows += from_backbone(name, *loaded[name], backbones["fmnist-b"], args.init_epochs, work,
                                               "fmnist-b")
    minutes = (time.perf_counter() - t_start) / 60
    load1 = os.getloadavg()
    lines = [
        "## Steering: corrections and starting from a backbone (issue 24)",
        "",
        f"`python benchmarks/steering.py` (smallnet, {IMAGE_SIZE} px, k = 10 x classes, {args.passes:g} pass(es) of "
        "training per epoch, 1 torch thread; "
        f"{minutes:.0f} min on a shared 2-core machine, load average {load0[0]:.1f} at the start and "
        f"{load1[0]:.1f} at the end). Collections: Fashion-MNIST A and B ({args.per_class} images per class of "
        "the demo archive, disjoint), the first 900 of scikit-learn's 8x8 digits, coloured shapes (4 classes x 100).",
        "",
        f"**Corrections.** After epoch {args.epochs_before} a simulated person merges the clusters of up to "
        f"{args.merges} classes (per class, its {MAX_MERGED} purest clusters among those whose majority it is, "
        "for the classes with the most such clusters) and flags the 5 % most outlying images exclude; training continues "
        f"{args.epochs_after} epochs. *none*: the same run without corrections. *assign*: steering as shipped "
        "(k-means, then every merged set whole to the centroid nearest its mean). *collapse*: k-means on the "
        "sets collapsed to weighted means, then the same assignment. NMI against the labels over the images "
        "the corrected runs cluster (the excluded 5 % left out for every row); kNN: leave-one-out, k=20, "
        "every image, the backbone's features.",
        "",
        "| collection | images | k | merges (clusters) | excluded | variant | NMI vs labels | kNN | seconds |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['collection']} | {r['n']} | {r['k']} | {r['merges']} ({r['merged_clusters']}) | "
                     f"{r['excluded']} | {r['variant']} | {r['nmi_kept']:.3f} | {r['knn']:.3f} | {r['seconds']:.0f} |")
    lines += ["", f"**Start from a backbone.** The Fashion-MNIST B run without corrections, at epoch "
              f"{args.epochs_before + args.epochs_after}, as the initialisation of another collection, against "
              f"the random initialisation; {args.init_epochs} epochs each (same arch and input size: equal "
              "compute; the seconds are measured). kNN at epoch 0 is the initialisation itself.", "",
              "| collection | start | kNN epoch 0 | kNN after | NMI vs labels after | seconds |",
              "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in init_rows:
        lines.append(f"| {r['collection']} | {r['variant']} | {r['knn0']:.3f} | {r['knn']:.3f} | {r['nmi']:.3f} | "
                     f"{r['seconds']:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    write_section(args.out, text)


if __name__ == "__main__":
    _ = engine_mod.STEER_MECHANISMS  # the variants measured here
    main()
