"""CPU knobs for the engine, measured side by side: which settings should the CPU defaults use?

Model-only rates (inputs already made, as the engine feeds them) of one architecture:
training step (forward + backward + SGD, images/s) and feature batch (eval ``embed``, images/s),
for these variants, interleaved in random order within each round, medians over rounds:

* ``fp32``            -- what the engine does on the CPU today
* ``fp32_cl``         -- channels-last model and inputs
* ``bf16``            -- ``torch.autocast("cpu", dtype=torch.bfloat16)`` (oneDNN bf16 kernels)
* ``bf16_cl``         -- both
* ``fp32_fused``      -- features only: Conv+BatchNorm folded for the eval pass
* ``fp32_b64`` / ``fp32_b256`` -- other training batch sizes (the CPU default is 128)
* ``fp32_t1``         -- one intra-op thread instead of two (``_t1`` works with any variant)

    python benchmarks/bench_cpu_variants.py [--arch smallnet] [--size 32] [--rounds 5]
"""

from __future__ import annotations

import argparse
import copy
import itertools
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data

from dcgui.core.config import TrainConfig
from dcgui.core.train.models import build_model

VARIANTS = ("fp32", "fp32_cl", "bf16", "bf16_cl", "fp32_fused", "fp32_b64", "fp32_b256", "fp32_t1")


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """An eval-mode copy with every Conv2d directly followed by BatchNorm2d folded into one conv."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fused = copy.deepcopy(model).eval()

    def walk(mod: nn.Module) -> None:
        names = list(mod._modules)
        for a, b in itertools.pairwise(names):
            ca, cb = mod._modules[a], mod._modules[b]
            if isinstance(ca, nn.Conv2d) and isinstance(cb, nn.BatchNorm2d):
                mod._modules[a] = fuse_conv_bn_eval(ca, cb)
                mod._modules[b] = nn.Identity()
        for child in mod.children():
            walk(child)

    walk(fused)
    return fused


class Bench:
    def __init__(self, arch: str, size: int, batch: int, k: int) -> None:
        self.cfg = TrainConfig(arch=arch, image_size=size, batch_size=batch, k=k, device="cpu")
        torch.manual_seed(0)
        self.model = build_model(self.cfg)
        self.model.set_top_layer(k)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-5)
        self.crit = nn.CrossEntropyLoss()
        g = torch.Generator().manual_seed(1)
        self.x = {b: torch.rand(b, 3, size, size, generator=g) for b in (64, 128, 256)}
        self.y = {b: torch.randint(0, k, (b,), generator=g) for b in (64, 128, 256)}

    def train_rate(self, batch: int, bf16: bool, cl: bool, steps: int) -> float:
        m = self.model.to(memory_format=torch.channels_last if cl else torch.contiguous_format)
        x = self.x[batch].contiguous(memory_format=torch.channels_last) if cl else self.x[batch]
        m.train()

        def step() -> None:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = self.crit(m(x).float(), self.y[batch])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()

        step()  # warm-up: oneDNN primitive creation for this layout/dtype
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        return steps * batch / (time.perf_counter() - t0)

    def feature_rate(self, bf16: bool, cl: bool, fused: bool, steps: int) -> float:
        b = 256  # the engine's feature batch = 2 x batch_size
        m = self.model.to(memory_format=torch.channels_last if cl else torch.contiguous_format).eval()
        if fused:
            m = fuse_conv_bn(m)
        x = self.x[b].contiguous(memory_format=torch.channels_last) if cl else self.x[b]
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            m.embed(x)
            t0 = time.perf_counter()
            for _ in range(steps):
                m.embed(x).float()
        return steps * b / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="smallnet")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args(argv)
    variants = args.variants.split(",")
    bench = Bench(args.arch, args.size, 128, args.k)
    train: dict[str, list[float]] = {v: [] for v in variants}
    feats: dict[str, list[float]] = {v: [] for v in variants}
    rng = np.random.default_rng(0)
    for r in range(args.rounds):
        for v in rng.permutation(variants):
            parts = set(v.split("_"))
            torch.set_num_threads(1 if "t1" in parts else args.threads)
            bf16, cl, fused = "bf16" in parts, "cl" in parts, "fused" in parts
            batch = 64 if "b64" in parts else 256 if "b256" in parts else 128
            if not fused:
                train[v].append(bench.train_rate(batch, bf16, cl, args.steps))
            if not ({"b64", "b256"} & parts):
                feats[v].append(bench.feature_rate(bf16, cl, fused, args.steps))
        torch.set_num_threads(args.threads)
        print(f"round {r + 1}: " + ", ".join(
            f"{v} {train[v][-1] if train[v] else float('nan'):.0f}/{feats[v][-1] if feats[v] else float('nan'):.0f}"
            for v in variants), flush=True)

    base_t = statistics.median(train["fp32"])
    base_f = statistics.median(feats["fp32"])
    lines = [f"### CPU variants: {args.arch} {args.size} px ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"Model-only rates (images/s), medians of {args.rounds} rounds, variants in random order within "
             f"each round; training batch 128 unless named, feature batch 256, {args.threads} threads unless "
             "named. Ratio = vs fp32 (today's engine on the CPU).", "",
             "| variant | training img/s | ratio | features img/s | ratio |", "|---|---:|---:|---:|---:|"]
    for v in variants:
        t = f"{statistics.median(train[v]):.0f} | {statistics.median(train[v]) / base_t:.2f}x" if train[v] else "- | -"
        f = f"{statistics.median(feats[v]):.0f} | {statistics.median(feats[v]) / base_f:.2f}x" if feats[v] else "- | -"
        lines.append(f"| {v} | {t} | {f} |")
    lines += ["", f"Machine: {_data.machine()}; bf16 kernels: "
              f"{'yes' if torch.ops.mkldnn._is_mkldnn_bf16_supported() else 'no'}."]
    text = "\n".join(lines)
    print("\n" + text)
    _data.write_section(f"cpu_variants_{args.arch}_{args.size}_t{args.threads}", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
