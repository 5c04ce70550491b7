"""Whole-epoch throughput: dcgui's pipeline vs the conventional (reference) pipeline, side by side.

*ours*: decode once into the uint8 memmap cache (``ImageCache.iter_build``), then
``DeepCluster.run`` epochs on ``cache.pixels`` (batched tensor centre view / RandomResizedCrop +
flip, one reader thread). *conventional*: what facebookresearch/deepcluster does every epoch:
``torchvision.datasets.ImageFolder`` + ``DataLoader`` (``--workers`` processes) decoding every
JPEG/PNG and running PIL transforms for the feature pass (Resize(cache side) + CenterCrop +
ToTensor + Normalize) and again for the training pass (RandomResizedCrop + flip + ToTensor +
Normalize), same network (dcgui's ``build_model``), same batch sizes, same PCA-whitening +
k-means (``dcgui.core.train.clustering``), same uniform sampler, same SGD settings.
*ours* is the engine as configured by default: on a CPU with bf16 kernels (AVX512-BF16 / AMX)
that means bfloat16 autocast + channels-last; *ours_fp32* is the same engine with ``amp=False``.
*conventional* runs in float32 as the reference code does; *conventional_bf16* gives it the
same bfloat16 autocast + channels-last, for a same-numerics comparison.

Variants alternate within each round (the order flips every round) and the table reports
medians over rounds; the cache build is timed once, from scratch, before the first round.
Also measured, side by side: the input pipeline alone (no network), images/s.

    python benchmarks/bench_epoch.py --dataset photos --n 2000 --rounds 3
    python benchmarks/bench_epoch.py --dataset fmnist --n 5000
    python benchmarks/bench_epoch.py --dataset photos --n 400 --arch resnet18 --size 96 --rounds 2
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data

import dcgui.core.train.engine as engine_mod
from dcgui.core.analysis.metrics import nmi
from dcgui.core.config import TrainConfig, default_config
from dcgui.core.events import EpochFinished
from dcgui.core.images.cache import ImageCache
from dcgui.core.images.collection import scan
from dcgui.core.train.augment import center_view, random_resized_crop_flip
from dcgui.core.train.clustering import kmeans, pca_whiten_l2
from dcgui.core.train.engine import DeepCluster, epoch_seed, mixed_precision_dtype
from dcgui.core.train.models import MEAN, STD, build_model
from dcgui.core.train.sampler import uniform_cluster_sample


# -- the conventional pipeline ------------------------------------------------------------------
class _Pseudo(torch.utils.data.Dataset):
    """The reference's ReassignedDataset: (image path, pseudo-label) pairs, decoded per access."""

    def __init__(self, paths: list[str], targets: np.ndarray, transform: Any) -> None:
        from torchvision.datasets.folder import default_loader

        self.paths, self.targets, self.transform, self.loader = paths, targets, transform, default_loader

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.loader(self.paths[i])), int(self.targets[i])


class Conventional:
    """DeepCluster epochs the reference way: decode + PIL-transform every image, every pass."""

    def __init__(self, cfg: TrainConfig, folder: Path, relpaths: list[str], workers: int,
                 bf16: bool = False) -> None:
        import torchvision.transforms as T
        from torchvision.datasets import ImageFolder

        keep = {str(folder / r) for r in relpaths}
        norm = T.Normalize(MEAN, STD)  # as the reference (dcgui's model normalises again: same cost both ways)
        self.feat_tf = T.Compose([T.Resize(cfg.cache_size), T.CenterCrop(cfg.image_size), T.ToTensor(), norm])
        self.train_tf = T.Compose([T.RandomResizedCrop(cfg.image_size, scale=(cfg.crop_scale_min, 1.0)),
                                   T.RandomHorizontalFlip(), T.ToTensor(), norm])
        self.dataset = ImageFolder(str(folder), transform=self.feat_tf, is_valid_file=lambda p: p in keep)
        if len(self.dataset) != len(relpaths):
            raise SystemExit(f"ImageFolder found {len(self.dataset)} images, expected {len(relpaths)}")
        self.paths = [p for p, _ in self.dataset.samples]
        self.cfg, self.workers = cfg, workers
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg)
        self.bf16 = bf16
        if bf16:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(self.model.body_parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                         weight_decay=cfg.weight_decay)
        self.prev: np.ndarray | None = None
        self.epoch = 0

    def _autocast(self) -> Any:
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16)

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.bf16 else x

    def feature_loader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(self.dataset, batch_size=self.cfg.batch_size * 2, shuffle=False,
                                           num_workers=self.workers)

    def train_loader(self, ids: np.ndarray, assign: np.ndarray) -> torch.utils.data.DataLoader:
        ds = _Pseudo(self.paths, assign, self.train_tf)
        return torch.utils.data.DataLoader(ds, batch_size=self.cfg.batch_size, sampler=ids.tolist(),
                                           num_workers=self.workers)

    def run_epoch(self) -> dict[str, float]:
        cfg = self.cfg
        self.epoch += 1
        n = len(self.paths)
        t0 = time.perf_counter()
        self.model.eval()
        feats = np.empty((n, self.model.feat_dim), np.float32)
        i = 0
        with torch.no_grad(), self._autocast():
            for x, _ in self.feature_loader():
                feats[i:i + len(x)] = self.model.embed(self._layout(x)).float().numpy()
                i += len(x)
        t1 = time.perf_counter()
        xr = pca_whiten_l2(feats, cfg.pca_dim)
        del feats
        km = kmeans(xr, cfg.k, niter=cfg.kmeans_iters, seed=epoch_seed(cfg.seed, self.epoch, 1))
        assign = km.assign
        if self.prev is not None:
            nmi(self.prev, assign)  # the reference logs NMI(t-1, t)
        self.prev = assign
        t2 = time.perf_counter()
        torch.manual_seed(epoch_seed(cfg.seed, self.epoch, 2))
        top = self.model.set_top_layer(cfg.k)
        top_opt = torch.optim.SGD(top.parameters(), lr=cfg.top_lr, weight_decay=cfg.weight_decay)
        ids = uniform_cluster_sample(assign, n, np.random.default_rng(epoch_seed(cfg.seed, self.epoch, 4)))
        crit = nn.CrossEntropyLoss()
        self.model.train()
        loss_sum = seen = 0.0
        for x, y in self.train_loader(ids, assign):
            if len(x) < 2:
                continue
            with self._autocast():
                loss = crit(self.model(self._layout(x)).float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            top_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            top_opt.step()
            loss_sum += float(loss.detach()) * len(x)
            seen += len(x)
        self.model.top_layer = None
        t3 = time.perf_counter()
        return {"wall": t3 - t0, "features": t1 - t0, "clustering": t2 - t1, "training": t3 - t2,
                "loss": loss_sum / max(seen, 1)}

    def pipeline_only(self) -> float:
        """Images/s of both loaders with no network: decode + transforms + collate only."""
        n = len(self.paths)
        ids = np.random.default_rng(0).permutation(n)
        t0 = time.perf_counter()
        for _ in self.feature_loader():
            pass
        for _ in self.train_loader(ids, np.zeros(n, np.int64)):
            pass
        return 2 * n / (time.perf_counter() - t0)


# -- ours ------------------------------------------------------------------------------------------
class Ours:
    """The engine as shipped; ``amp=False`` is its float32 path (the default ``amp=True`` means
    bfloat16 autocast + channels-last on a CPU with bf16 kernels, see ``mixed_precision_dtype``)."""

    def __init__(self, cfg: TrainConfig, pixels: np.ndarray, labels: np.ndarray | None, amp: bool) -> None:
        self.engine = DeepCluster(cfg.replace(amp=amp), pixels, labels, None)
        self.epoch = 0

    def run_epoch(self) -> dict[str, float]:
        self.epoch += 1
        t0 = time.perf_counter()
        m = None
        for ev in self.engine.run(self.epoch):
            if isinstance(ev, EpochFinished):
                m = ev.metrics
        wall = time.perf_counter() - t0
        assert m is not None
        return {"wall": wall, "features": m.seconds_features, "clustering": m.seconds_clustering,
                "training": m.seconds_training, "loss": m.loss}


def ours_pipeline_only(pixels: np.ndarray, cfg: TrainConfig) -> float:
    """Images/s of the engine's input path with no network: reads + centre view, reads + crops."""
    n = len(pixels)
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    b2 = cfg.batch_size * 2
    for a in range(0, n, b2):
        center_view(torch.from_numpy(np.array(pixels[a:a + b2])), cfg.image_size)
    ids = np.random.default_rng(0).permutation(n)
    batches = [ids[i:i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]
    for _, u8 in engine_mod.training_batches(pixels, batches):
        random_resized_crop_flip(u8, cfg.image_size, (cfg.crop_scale_min, 1.0), gen)
    return 2 * n / (time.perf_counter() - t0)


# -- the run ----------------------------------------------------------------------------------------
def subset(records: list, n: int) -> list:
    if n > len(records):
        raise SystemExit(f"the folder has {len(records)} images, asked for {n}")
    idx = np.linspace(0, len(records) - 1, n).round().astype(int)  # evenly spread over the classes
    return [records[i] for i in idx]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", choices=("photos", "fmnist"), default="photos")
    ap.add_argument("--n", type=int, default=2000, help="images in the collection")
    ap.add_argument("--pool", type=int, default=4000, help="photos generated once; --n are picked from them")
    ap.add_argument("--arch", default=None, help="default: the CPU default config (smallnet)")
    ap.add_argument("--size", type=int, default=None, help="image size (default: the CPU default, 32)")
    ap.add_argument("--rounds", type=int, default=3, help="epochs of each variant (median reported)")
    ap.add_argument("--variants", default="ours,ours_fp32,conventional,conventional_bf16", help="comma list of ours, ours_fp32, conventional, conventional_bf16; NAME@T runs it with T torch threads")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader worker processes of the conventional pipeline")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (this machine: 2 cores)")
    ap.add_argument("--pipeline-reps", type=int, default=2, help="repetitions of the pipeline-only measurement")
    ap.add_argument("--section", default=None, help="results.md section to (re)write; default from the arguments")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.dataset == "photos":
        folder = _data.photo_folder(args.pool)
    else:
        folder = _data.fmnist_folder(max(args.n, args.pool))
    records = subset(scan(folder).images, args.n)
    # samples_per_epoch 0: one pass over the images, the same work as the conventional epoch
    overrides: dict[str, Any] = {"device": "cpu", "epochs": args.rounds, "samples_per_epoch": 0}
    if args.arch:
        overrides["arch"] = args.arch
    if args.size:
        overrides["image_size"] = args.size
    cfg = default_config(len(records), "cpu", **overrides)
    labels_names = sorted({r.relpath.split("/")[0] for r in records})
    labels = np.array([labels_names.index(r.relpath.split("/")[0]) for r in records], np.int64)
    stats = _data.folder_stats(folder)
    print(f"{args.dataset}: {len(records)} images from {folder} (mean {stats['mean_kb']:.1f} KB/file); "
          f"{cfg.arch} {cfg.image_size} px, cache {cfg.cache_size} px, k={cfg.k}, batch {cfg.batch_size}", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="dcgui_bench_epoch_"))
    try:
        t0 = time.perf_counter()
        gen = ImageCache.iter_build(tmp / "cache", folder, records, cfg.cache_size, workers=0)
        try:
            while True:
                next(gen)
        except StopIteration as stop:
            cache: ImageCache = stop.value
        t_cache = time.perf_counter() - t0
        print(f"cache built: {t_cache:.1f} s ({len(records) / t_cache:.0f} img/s), {len(cache.failed)} failed", flush=True)
        pixels = cache.pixels

        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        runners: dict[str, Any] = {}
        for v in variants:
            base_name = v.split("@")[0]  # "ours@1": the variant "ours" run with 1 torch thread
            if base_name in ("ours", "ours_fp32"):
                runners[v] = Ours(cfg, pixels, labels, amp=base_name == "ours")
            elif base_name in ("conventional", "conventional_bf16"):
                runners[v] = Conventional(cfg, folder, [r.relpath for r in records], args.workers,
                                          bf16=base_name.endswith("bf16"))
            else:
                raise SystemExit(f"unknown variant {v!r}")

        # pipeline only (no network), alternating
        pipe: dict[str, list[float]] = {"ours": [], "conventional": []}
        conv_for_pipe = runners.get("conventional") or Conventional(cfg, folder, [r.relpath for r in records],
                                                                      args.workers)
        for _ in range(args.pipeline_reps):
            pipe["ours"].append(ours_pipeline_only(pixels, cfg))
            pipe["conventional"].append(conv_for_pipe.pipeline_only())
        print(f"pipeline only: ours {_data.median(pipe['ours']):.0f} img/s, conventional "
              f"{_data.median(pipe['conventional']):.0f} img/s", flush=True)

        results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        for r in range(args.rounds):
            order = variants if r % 2 == 0 else variants[::-1]
            for v in order:
                torch.set_num_threads(int(v.split("@")[1]) if "@" in v else args.threads)
                res = runners[v].run_epoch()
                results[v].append(res)
                print(f"round {r + 1} {v:13s} epoch {res['wall']:7.1f} s  (features {res['features']:.1f}, "
                      f"clustering {res['clustering']:.1f}, training {res['training']:.1f}; loss {res['loss']:.3f})",
                      flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    n = len(records)
    med = {v: {key: statistics.median(x[key] for x in results[v]) for key in results[v][0]} for v in variants}
    base = med.get("conventional")
    title = args.section or f"epoch_{args.dataset}_{cfg.arch}_{cfg.image_size}"
    lines = [f"### Epoch throughput: {args.dataset}, {cfg.arch} {cfg.image_size} px, N={n} "
             f"({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"{args.dataset} ({'JPEG q90, 500x375 / 375x500' if args.dataset == 'photos' else 'PNG 28x28 grey'}, "
             f"mean {stats['mean_kb']:.1f} KB/file); k={cfg.k}, batch {cfg.batch_size} (features "
             f"{cfg.batch_size * 2}), cache {cfg.cache_size} px; torch threads {args.threads}; conventional "
             f"DataLoader workers {args.workers}; medians of {args.rounds} epochs per variant, variants "
             "alternating within each round (order flipped every round).", "",
             "| variant | epoch s | images/s (N / epoch s) | vs conventional | vs conventional, same precision "
             "| features s | clustering s | training s | loss |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for v in variants:
        m = med[v]
        ratio = f"{base['wall'] / m['wall']:.2f}x" if base else "-"
        base_name = v.split("@")[0]
        bf16_engine = base_name == "ours" and mixed_precision_dtype(torch.device("cpu")) == torch.bfloat16
        twin = med.get("conventional_bf16" if (base_name.endswith("bf16") or bf16_engine) else "conventional")
        same = f"{twin['wall'] / m['wall']:.2f}x" if twin else "-"
        lines.append(f"| {v} | {m['wall']:.1f} | {n / m['wall']:.0f} | {ratio} | {same} | {m['features']:.1f} | "
                     f"{m['clustering']:.1f} | {m['training']:.1f} | {m['loss']:.3f} |")
    lines += ["",
              f"Decode cache built once from scratch: {t_cache:.1f} s ({n / t_cache:.0f} img/s, "
              f"{'faster' if base and t_cache <= base['wall'] else 'slower'} than one conventional epoch"
              + (f" of {base['wall']:.1f} s" if base else "") + ").",
              f"Input pipeline alone (no network; feature pass + training pass = 2N images): ours "
              f"{_data.median(pipe['ours']):.0f} img/s, conventional {_data.median(pipe['conventional']):.0f} img/s "
              f"({_data.median(pipe['ours']) / _data.median(pipe['conventional']):.1f}x); medians of "
              f"{args.pipeline_reps} alternating repetitions.",
              "Per-round epoch seconds: " + "; ".join(
                  f"{v} " + ", ".join(f"{x['wall']:.1f}" for x in results[v]) for v in variants) + ".",
              f"Machine: {_data.machine()}."]
    text = "\n".join(lines)
    print("\n" + text)
    _data.write_section(title, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
