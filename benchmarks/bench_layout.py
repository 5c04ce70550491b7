"""Channels-last against the plain (NCHW) memory layout for float32 training on the CPU.

One SGD step of ResNet-18 (96 px, batch 32) and of dcgui's smallnet (32 px, batch 128), the two
layouts alternating in 4 rounds of 3 timed steps (after one untimed); prints the medians and
their ratio. The engine trains channels-last on the CPU because of this (engine.use_channels_last).

    python benchmarks/bench_layout.py THREADS
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dcgui.core.config import TrainConfig
from dcgui.core.train.models import build_model


def network(arch: str) -> torch.nn.Module:
    if arch == "resnet18":
        return torchvision.models.resnet18(num_classes=100)
    model = build_model(TrainConfig(arch="smallnet", image_size=32, k=100))
    model.set_top_layer(100)
    return model


def main() -> None:
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    torch.manual_seed(0)
    for arch, size, batch in (("resnet18", 96, 32), ("smallnet", 32, 128)):
        model = network(arch)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x, y = torch.randn(batch, 3, size, size), torch.randint(0, 100, (batch,))
        times: dict[str, list[float]] = {"nchw": [], "channels_last": []}
        for _round in range(4):
            for layout, fmt in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
                model = model.to(memory_format=fmt)
                xx = x.contiguous(memory_format=fmt)
                for step in range(4):
                    t = time.perf_counter()
                    loss = torch.nn.functional.cross_entropy(model(xx), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    if step:
                        times[layout].append(time.perf_counter() - t)
        a, b = statistics.median(times["nchw"]), statistics.median(times["channels_last"])
        print(f"{arch}: nchw {a:.3f} s, channels_last {b:.3f} s per step, ratio {a / b:.2f}", flush=True)


if __name__ == "__main__":
    main()
