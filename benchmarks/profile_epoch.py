"""Where an epoch's time goes: py-spy over a whole engine epoch, torch.profiler over its operators.

1. Builds the decode cache of ``--n`` photos (or uses a synthetic cache) and runs one warm-up
   epoch of ``DeepCluster`` (CPU defaults unless ``--arch/--size`` say otherwise).
2. Attaches py-spy (``py-spy record --pid``, all threads, 100 Hz) to this process for the next
   epoch and aggregates its raw stacks: seconds per phase, the costliest lines of dcgui code
   (inclusive: the deepest dcgui frame of each sample) and the costliest leaf frames.
   Without py-spy (``pip install py-spy``) it falls back to cProfile (main thread only).
3. torch.profiler over a few training steps and feature batches exactly as the engine runs them
   (augmentation + forward + backward + SGD; centre view + embed): self CPU time per operator.

    python benchmarks/profile_epoch.py [--dataset photos|synthetic] [--n 2000] [--arch smallnet] [--size 32]
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data

from dcgui.core.config import TrainConfig, default_config
from dcgui.core.events import EpochFinished, PhaseProgress
from dcgui.core.images.cache import ImageCache
from dcgui.core.images.collection import scan
from dcgui.core.train.augment import center_view, random_resized_crop_flip
from dcgui.core.train.engine import DeepCluster


def build_pixels(args: argparse.Namespace, cfg_size: int, tmp: Path) -> tuple[np.ndarray, int]:
    if args.dataset == "synthetic":
        return _data.synthetic_pixels(args.n, cfg_size)[0], 0
    folder = _data.photo_folder(args.pool)
    records = scan(folder).images
    idx = np.linspace(0, len(records) - 1, args.n).round().astype(int)
    gen = ImageCache.iter_build(tmp / "cache", folder, [records[i] for i in idx], cfg_size)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value.pixels, len(records)


def run_epoch(engine: DeepCluster, epoch: int) -> tuple[dict[str, float], list[tuple[float, str]]]:
    """One epoch; returns the metrics' phase seconds and (time, phase) marks for the profile."""
    marks: list[tuple[float, str]] = []
    phase = ""
    m = None
    for ev in engine.run(epoch):
        if isinstance(ev, PhaseProgress) and ev.phase != phase:
            phase = ev.phase
            marks.append((time.time(), phase))
        if isinstance(ev, EpochFinished):
            m = ev.metrics
    assert m is not None
    return ({"features": m.seconds_features, "clustering": m.seconds_clustering, "training": m.seconds_training},
            marks)


def pyspy_profile(engine: DeepCluster, epoch: int, out: Path, rate: int) -> tuple[dict[str, float], Path] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        return None
    raw = out / "pyspy.txt"
    proc = subprocess.Popen([exe, "record", "--pid", str(os.getpid()), "--rate", str(rate), "--threads",
                             "--format", "raw", "--output", str(raw), "--nonblocking"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(2.0)  # let it attach
    if proc.poll() is not None:
        print("py-spy could not attach:", proc.stdout.read() if proc.stdout else "")
        return None
    phases, _ = run_epoch(engine, epoch)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    if not raw.exists():
        print("py-spy wrote nothing:", proc.stdout.read() if proc.stdout else "")
        return None
    return phases, raw


def summarise_pyspy(raw: Path, rate: int, top: int) -> list[str]:
    incl: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    thread: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        c = int(count)
        frames = stack.split(";")
        # with --threads the first frame is "thread (TID): NAME"; the next one is the thread name too
        label = frames[0].split(":", 1)[-1].strip() if frames[0].startswith("thread") else frames[0][:40]
        thread[label.split(" (")[0]] += c
        deepest = next((f for f in reversed(frames) if "dcgui/" in f), None)
        if deepest and "idle" not in deepest:
            incl[deepest] += c
        leaf[frames[-1]] += c
        total += c
    s = 1.0 / rate
    lines = [f"py-spy: {total} samples at {rate} Hz over all threads ({total * s:.0f} thread-seconds, idle "
             "waits included).", "", "Samples per thread:", ""]
    lines += [f"- {t}: {c * s:.1f} s" for t, c in thread.most_common(6)]
    lines += ["", f"Top {top} lines of dcgui code (inclusive: deepest dcgui frame of each sample):", "",
              "| thread-s | % | frame |", "|---:|---:|---|"]
    lines += [f"| {c * s:.1f} | {100 * c / total:.1f} | `{f.replace('|', '/')}` |" for f, c in incl.most_common(top)]
    lines += ["", f"Top {top} leaf frames (self):", "", "| thread-s | % | frame |", "|---:|---:|---|"]
    lines += [f"| {c * s:.1f} | {100 * c / total:.1f} | `{f.replace('|', '/')}` |" for f, c in leaf.most_common(top)]
    return lines


def cprofile_epoch(engine: DeepCluster, epoch: int, top: int) -> tuple[dict[str, float], list[str]]:
    prof = cProfile.Profile()
    prof.enable()
    phases, _ = run_epoch(engine, epoch)
    prof.disable()
    import io

    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return phases, ["cProfile (main thread only), top by own time:", "", "```", buf.getvalue().strip(), "```"]


def torch_ops(cfg: TrainConfig, pixels: np.ndarray, steps: int, top: int) -> list[str]:
    """Self CPU time per operator over ``steps`` training steps and feature batches, engine-style
    (the engine's autocast dtype and memory format on this device)."""
    from contextlib import nullcontext

    from torch.profiler import ProfilerActivity, profile

    from dcgui.core.train.engine import mixed_precision_dtype
    from dcgui.core.train.models import build_model

    dtype = mixed_precision_dtype(torch.device("cpu")) if cfg.amp else None
    cl = cfg.channels_last and dtype is not None

    def autocast() -> Any:
        return torch.autocast("cpu", dtype=dtype) if dtype is not None else nullcontext()

    def layout(x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if cl else x

    torch.manual_seed(0)
    model = build_model(cfg)
    if cl:
        model = model.to(memory_format=torch.channels_last)
    model.set_top_layer(cfg.k)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    crit = torch.nn.CrossEntropyLoss()

    def train_step() -> None:
        ids = np.sort(rng.choice(len(pixels), cfg.batch_size, replace=False))
        xb = torch.from_numpy(np.ascontiguousarray(pixels[ids]))
        x = layout(random_resized_crop_flip(xb, cfg.image_size, (cfg.crop_scale_min, 1.0), gen))
        y = torch.randint(0, cfg.k, (len(ids),))
        with autocast():
            loss = crit(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def feature_batch(a: int) -> None:
        with torch.inference_mode(), autocast():
            x = layout(center_view(torch.from_numpy(np.array(pixels[a:a + 2 * cfg.batch_size])), cfg.image_size))
            model.embed(x).float().numpy()

    model.train()
    train_step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            train_step()
    train_table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top, max_name_column_width=45)
    model.eval()
    feature_batch(0)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            feature_batch((i * 2 * cfg.batch_size) % max(1, len(pixels) - 2 * cfg.batch_size))
    feat_table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top, max_name_column_width=45)
    mode = f"autocast {dtype}, channels-last {cl}"
    return [f"torch.profiler, {steps} training steps of {cfg.batch_size} (augment + forward + backward + SGD; "
            f"{mode}):",
            "", "```", train_table.strip(), "```", "",
            f"torch.profiler, {steps} feature batches of {2 * cfg.batch_size} (centre view + embed; {mode}):", "",
            "```", feat_table.strip(), "```"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", choices=("photos", "synthetic"), default="photos")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--pool", type=int, default=4000)
    ap.add_argument("--arch", default=None)
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    ap.add_argument("--steps", type=int, default=5, help="steps under torch.profiler")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--tool", choices=("auto", "cprofile"), default="auto")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides: dict = {"device": "cpu", "epochs": 2, "samples_per_epoch": 0}  # one pass per epoch
    if args.arch:
        overrides["arch"] = args.arch
    if args.size:
        overrides["image_size"] = args.size
    cfg = default_config(args.n, "cpu", **overrides)
    tmp = Path(tempfile.mkdtemp(prefix="dcgui_profile_"))
    try:
        pixels, _ = build_pixels(args, cfg.cache_size, tmp)
        engine = DeepCluster(cfg, pixels, None, None)
        t0 = time.perf_counter()
        run_epoch(engine, 1)  # warm-up (page cache, oneDNN primitives)
        print(f"warm-up epoch: {time.perf_counter() - t0:.1f} s", flush=True)
        lines = [f"### Profile of one epoch: {args.dataset}, {cfg.arch} {cfg.image_size} px, N={args.n}, "
                 f"k={cfg.k}, batch {cfg.batch_size} ({time.strftime('%Y-%m-%d %H:%M')})", ""]
        result = pyspy_profile(engine, 2, tmp, args.rate) if args.tool == "auto" else None
        if result is not None:
            phases, raw = result
            shutil.copy(raw, Path(tempfile.gettempdir()) / "dcgui_pyspy_epoch.txt")
            body = summarise_pyspy(raw, args.rate, args.top)
        else:
            phases, body = cprofile_epoch(engine, 2, args.top)
        total = sum(phases.values())
        lines += ["Epoch 2 phases (engine metrics): " + ", ".join(
            f"{k} {v:.1f} s ({100 * v / total:.0f}%)" for k, v in phases.items()) + f"; total {total:.1f} s.", ""]
        lines += [*body, ""]
        lines += torch_ops(cfg, pixels, args.steps, args.top)
        lines += ["", f"Machine: {_data.machine()}."]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join(lines)
    print(text)
    _data.write_section(f"profile_{cfg.arch}_{cfg.image_size}", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
