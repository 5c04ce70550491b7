"""The cluster river: seconds to compute (``core.analysis.river``) and to draw (``gui.river``,
offscreen ``QGraphicsScene``) for N images x E epochs at k clusters, medians of 3.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_river.py [--cases 4000x20x50 4000x20x1000 ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _data

from dcgui.core.analysis.river import river


def run(n: int, epochs: int, k: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, k, n)
    out = [x]
    for e in range(epochs - 1):
        moved = rng.random(n) < 0.3 * np.exp(-e / 5) + 0.03
        x = np.where(moved, rng.integers(0, k, n), x)
        out.append(x)
    return out


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from dcgui.gui.river import RiverView

    app = QApplication.instance() or QApplication([])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="+", default=["4000x20x50", "4000x20x1000", "100000x20x1000"])
    args = ap.parse_args(argv)
    lines = [f"### Cluster river ({time.strftime('%Y-%m-%d %H:%M')})", "",
             "Compute = `river(...)` (200 bands per epoch pair at most); draw = `draw_river` into a "
             "`QGraphicsScene` + fit, offscreen, painted once (`grab`). Medians of 3.", "",
             "| images x epochs x k | bands + stubs | compute | draw + paint | total |", "|---|---:|---:|---:|---:|"]
    for case in args.cases:
        n, epochs, k = (int(v) for v in case.split("x"))
        arrays = run(n, epochs, k)
        comp, draw = [], []
        shapes = 0
        for _ in range(3):
            t0 = time.perf_counter()
            r = river(arrays, k)
            t1 = time.perf_counter()
            view = RiverView()
            view.resize(1200, 600)
            items = view.set_river(r)
            view.grab()
            t2 = time.perf_counter()
            comp.append(t1 - t0)
            draw.append(t2 - t1)
            shapes = sum(f.n_shapes for f in r.flows)
            del items
            view.deleteLater()
            app.processEvents()
        c, d = _data.median(comp), _data.median(draw)
        lines.append(f"| {n:,} x {epochs} x {k:,} | {shapes:,} | {c:.2f} s | {d:.2f} s | {c + d:.2f} s |")
        print(lines[-1], flush=True)
    _data.publish("river", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
