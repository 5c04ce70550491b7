"""GPU throughput of a DeepCluster epoch: is the input pipeline or the model the bottleneck?

For each architecture (default: AlexNet-BN and ResNet-50 at 224 px, batch 256, mixed precision
and channels-last as the engine uses them on CUDA) it measures, side by side in one run:

* model-only training rate: forward + backward + SGD step on inputs already on the GPU;
* model-only feature rate: eval-mode ``embed`` (the feature pass);
* pipeline-only rate: memmap read (random ids, as the uniform sampler draws them) -> host to
  device copy -> batched ``random_resized_crop_flip`` on the GPU, with pageable and with pinned
  host memory;
* a full engine epoch (``DeepCluster.run``) on a synthetic decode cache, with the GPU
  utilisation sampled every 0.2 s (``torch.cuda.utilization``, needs the nvidia-ml-py package).

If the pipeline-only rate is well above the model-only rate, the GPU is the bottleneck (good);
if the full epoch's training rate is far below the model-only rate, look at the pipeline.

Without CUDA it prints a SKIP line and exits 0. ``--device cpu --smoke`` runs the same code on a
tiny problem on the CPU (to check the script itself, not to measure anything).

    python benchmarks/bench_gpu.py [--images 10000] [--archs alexnet_bn,resnet50] [--size 224]
                                   [--batch 256] [--k 1000] [--out benchmarks/results_gpu.md]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data

from dcgui.core.config import TrainConfig
from dcgui.core.events import EpochFinished
from dcgui.core.train.augment import random_resized_crop_flip
from dcgui.core.train.engine import DeepCluster
from dcgui.core.train.models import build_model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_rates(cfg: TrainConfig, device: torch.device, steps: int, warmup: int) -> dict[str, float]:
    """Training and feature images/s with inputs already on the device (no input pipeline)."""
    cuda = device.type == "cuda"
    amp, cl = cfg.amp and cuda, cfg.channels_last and cuda
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)  # the peak of this architecture only
    torch.manual_seed(0)
    model = build_model(cfg).to(device)
    if cl:
        model = model.to(memory_format=torch.channels_last)
    model.set_top_layer(cfg.k)
    x = torch.rand(cfg.batch_size, 3, cfg.image_size, cfg.image_size, device=device)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, cfg.k, (cfg.batch_size,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    crit = torch.nn.CrossEntropyLoss()

    def train_step() -> None:
        with torch.autocast(device.type, enabled=amp):
            loss = crit(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    model.train()
    for _ in range(warmup):
        train_step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step()
    _sync(device)
    train = steps * cfg.batch_size / (time.perf_counter() - t0)

    model.eval()
    with torch.no_grad(), torch.autocast(device.type, enabled=amp):
        for _ in range(warmup):
            model.embed(x)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            model.embed(x)
        _sync(device)
    feats = steps * cfg.batch_size / (time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else float("nan")
    model.cpu()  # free the GPU memory before the next measurement
    if cuda:
        torch.cuda.empty_cache()
    return {"train": train, "features": feats, "peak_gib": peak}


def pipeline_rate(pixels: np.ndarray, cfg: TrainConfig, device: torch.device, steps: int, pinned: bool) -> float:
    """Images/s of read (random ids) -> H2D -> GPU augmentation, no model, one reader thread ahead."""
    rng = np.random.default_rng(0)
    gen = torch.Generator(device=device)
    gen.manual_seed(0)
    n = len(pixels)
    batches = [np.sort(rng.choice(n, cfg.batch_size, replace=False)) for _ in range(steps + 2)]
    out: list[torch.Tensor | None] = [None]

    def load(idx: np.ndarray) -> None:
        t = torch.from_numpy(np.ascontiguousarray(pixels[idx]))
        out[0] = t.pin_memory() if pinned and device.type == "cuda" else t

    def run(bs: list[np.ndarray]) -> None:
        worker = threading.Thread(target=load, args=(bs[0],))
        worker.start()
        for i in range(len(bs)):
            worker.join()
            batch = out[0]
            assert batch is not None
            if i + 1 < len(bs):
                worker = threading.Thread(target=load, args=(bs[i + 1],))
                worker.start()
            xb = batch.to(device, non_blocking=True)
            inputs = random_resized_crop_flip(xb, cfg.image_size, (cfg.crop_scale_min, 1.0), gen)
            if cfg.channels_last and device.type == "cuda":
                inputs = inputs.contiguous(memory_format=torch.channels_last)
        _sync(device)

    run(batches[:2])  # warm-up (kernels, page cache)
    t0 = time.perf_counter()
    run(batches[2:])
    return steps * cfg.batch_size / (time.perf_counter() - t0)


class UtilSampler:
    """``torch.cuda.utilization()`` every ``period`` seconds on a thread (NVML; None if unavailable)."""

    def __init__(self, device: torch.device, period: float = 0.2) -> None:
        self.device, self.period = device, period
        self.samples: list[int] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _read(self) -> int:
        try:
            return int(torch.cuda.utilization(self.device))
        except Exception:  # no NVML bindings (nvidia-ml-py is not a dependency): ask nvidia-smi
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                  f"--id={self.device.index or 0}"], capture_output=True, text=True, timeout=10)
            return int(out.stdout.strip().splitlines()[0])

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self._read())
            except Exception as exc:  # neither NVML nor nvidia-smi: report, do not fail
                self.error = f"{type(exc).__name__}: {exc}"
                return
            self._stop.wait(self.period)

    def __enter__(self) -> UtilSampler:
        if self.device.type == "cuda":
            self._thread.start()
        else:
            self.error = "not a CUDA device"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def summary(self) -> str:
        if not self.samples:
            return f"n/a ({self.error})" if self.error else "n/a"
        return f"mean {np.mean(self.samples):.0f}%, median {np.median(self.samples):.0f}%"


def engine_epoch(pixels: np.ndarray, cfg: TrainConfig) -> tuple[dict[str, float], str]:
    """One real DeepCluster epoch; seconds per phase and the GPU utilisation over it."""
    engine = DeepCluster(cfg, pixels, None, None)
    dev = engine.device
    with UtilSampler(dev) as util:
        metrics = None
        for ev in engine.run(1):
            if isinstance(ev, EpochFinished):
                metrics = ev.metrics
    assert metrics is not None
    n = len(pixels)
    return ({"features_s": metrics.seconds_features, "clustering_s": metrics.seconds_clustering,
             "training_s": metrics.seconds_training, "features_ips": n / metrics.seconds_features,
             "training_ips": n / metrics.seconds_training, "epoch_s": metrics.seconds,
             "epoch_ips": metrics.images_per_second}, util.summary())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (only with --smoke)")
    ap.add_argument("--archs", default="alexnet_bn,resnet50")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--images", type=int, default=10_000, help="synthetic cache rows for the engine epoch")
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--no-amp", action="store_true")
    ap.add_argument("--no-channels-last", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: check the script runs (any device)")
    ap.add_argument("--out", type=Path, help="also write the markdown table here")
    args = ap.parse_args(argv)

    if args.device == "cuda" and not torch.cuda.is_available():
        print("SKIP bench_gpu: no CUDA GPU is visible (torch.cuda.is_available() is False); run it on a "
              "machine with an NVIDIA GPU, or use --device cpu --smoke to check the script only.")
        return 0
    if args.device != "cuda" and not args.smoke:
        print("SKIP bench_gpu: CPU numbers belong to bench_epoch.py; use --device cpu --smoke to check the script.")
        return 0
    if args.smoke:
        args.size, args.batch, args.images, args.k, args.steps = 64, 8, 48, 4, 2
    device = torch.device(args.device)
    warmup = 1 if args.smoke else 5
    lines = [f"# GPU benchmark ({time.strftime('%Y-%m-%d')})", "",
             f"Device: {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU (smoke run)'}; "
             f"{_data.machine()}", "",
             f"{args.size} px, batch {args.batch}, AMP {'off' if args.no_amp else 'on'}, channels-last "
             f"{'off' if args.no_channels_last else 'on'}; engine epoch on {args.images} synthetic images, k={args.k}.",
             "",
             "| arch | model train img/s | model features img/s | pipeline img/s (pageable) | pipeline img/s (pinned) "
             "| epoch: features img/s | epoch: training img/s | clustering s | epoch s | whole epoch img/s "
             "| GPU util | peak GiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    cache_size = round(args.size / 0.875)
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ.setdefault("DCGUI_BENCH_DIR", tmp)
        _data.BENCH_DIR = Path(os.environ["DCGUI_BENCH_DIR"])
        pixels, _ = _data.synthetic_pixels(args.images, cache_size)
        for arch in args.archs.split(","):
            cfg = TrainConfig(arch=arch, image_size=args.size, batch_size=args.batch, k=args.k,
                              device=args.device, amp=not args.no_amp, channels_last=not args.no_channels_last,
                              epochs=1)
            m = model_rates(cfg, device, args.steps, warmup)
            p_page = pipeline_rate(pixels, cfg, device, args.steps, pinned=False)
            p_pin = pipeline_rate(pixels, cfg, device, args.steps, pinned=True)
            e, util = engine_epoch(pixels, cfg)
            row = (f"| {arch} | {m['train']:.0f} | {m['features']:.0f} | {p_page:.0f} | {p_pin:.0f} | "
                   f"{e['features_ips']:.0f} | {e['training_ips']:.0f} | {e['clustering_s']:.1f} | "
                   f"{e['epoch_s']:.1f} | {e['epoch_ips']:.0f} | {util} | {m['peak_gib']:.1f} |")
            lines.append(row)
            print(row, flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
