"""Peak memory of one DeepCluster epoch as the collection grows (10k -> 100k images).

Each N runs in a fresh process (so ``ru_maxrss`` is that run's own high-water mark) on a
synthetic decode cache (``_data.synthetic_pixels``: a uint8 memmap, nothing decoded). Memory is
followed three ways while ``DeepCluster.run`` yields its events:

* numpy: ``tracemalloc`` peak per phase (numpy reports its allocations to tracemalloc), compared
  with the feature matrix ``F = N x feat_dim x 4`` bytes -- "is the matrix ever held twice?";
* process: anonymous and file-backed resident memory (``RssAnon`` / ``RssFile`` from
  /proc/self/status) sampled every 10 ms on a thread, max per phase; file-backed pages are the
  memory-mapped cache (reclaimable page cache, not a leak);
* ``resource.getrusage(...).ru_maxrss`` for the whole process.

Defaults keep each run to minutes on 2 cores: smallnet at 16 px (the feature matrix does not
depend on the image size) and ``samples_per_epoch`` 4,096 (training memory does not grow with N
beyond the id arrays); k = ``suggest_k(N)`` as the GUI would pick.

    python benchmarks/bench_memory.py [--sizes 10000,30000,100000] [--size 16] [--samples 4096]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data

from dcgui.core.config import default_config
from dcgui.core.events import EpochFinished, PhaseProgress
from dcgui.core.train.engine import DeepCluster

MiB = 2**20


def _status() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("RssAnon", "RssFile", "VmRSS"):
            out[key] = int(val.split()[0]) * 1024
    return out


class RssSampler:
    """Max RssAnon / RssFile per phase, sampled on a thread (the phase is set by the main thread)."""

    def __init__(self, period: float = 0.01) -> None:
        self.phase = "setup"
        self.peaks: dict[str, dict[str, int]] = {}
        self._stop = threading.Event()
        self._period = period
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        s = _status()
        p = self.peaks.setdefault(self.phase, {"RssAnon": 0, "RssFile": 0})
        for key in p:
            p[key] = max(p[key], s.get(key, 0))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._period)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def child(n: int, size: int, samples: int, arch: str, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    pixels, labels = _data.synthetic_pixels(n, round(size / 0.875))
    cfg = default_config(n, "cpu", arch=arch, image_size=size, device="cpu", epochs=1,
                         samples_per_epoch=samples)
    rss = RssSampler()
    rss.start()
    tracemalloc.start()
    engine = DeepCluster(cfg, pixels, labels, None)
    feat_bytes = n * engine.model.feat_dim * 4
    numpy_peaks: dict[str, int] = {}
    phase = "setup"
    t0 = time.perf_counter()
    metrics = None

    def close_phase(name: str) -> None:
        _, peak = tracemalloc.get_traced_memory()
        numpy_peaks[name] = max(numpy_peaks.get(name, 0), peak)
        tracemalloc.reset_peak()

    for ev in engine.run(1):
        new = ev.phase if isinstance(ev, PhaseProgress) else phase
        if isinstance(ev, EpochFinished):
            new = "end"
            metrics = ev.metrics
        if new != phase:
            close_phase(phase)
            rss.sample()
            phase = new
            rss.phase = new
    close_phase(phase)
    rss.sample()
    rss.stop()
    tracemalloc.stop()
    assert metrics is not None
    return {
        "n": n, "k": cfg.k, "feat_dim": engine.model.feat_dim, "feat_bytes": feat_bytes,
        "pixels_bytes": int(pixels.nbytes), "numpy_peaks": numpy_peaks, "rss_peaks": rss.peaks,
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "seconds": time.perf_counter() - t0,
        "phase_seconds": [metrics.seconds_features, metrics.seconds_clustering, metrics.seconds_training],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,30000,100000")
    ap.add_argument("--size", type=int, default=16, help="image size (smallnet min 16)")
    ap.add_argument("--samples", type=int, default=4096, help="samples_per_epoch of the training pass")
    ap.add_argument("--arch", default="smallnet")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (memory does not depend on it)")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.size, args.samples, args.arch, args.threads)), flush=True)
        return 0

    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        _data.synthetic_pixels(n, round(args.size / 0.875))  # build outside the measured process
        cmd = [sys.executable, __file__, "--child", str(n), "--size", str(args.size),
               "--samples", str(args.samples), "--arch", args.arch, "--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode != 0 or not line:
            print(proc.stdout[-2000:], proc.stderr[-4000:])
            raise SystemExit(f"child for N={n} failed")
        r = json.loads(line[0][7:])
        results.append(r)
        print(f"N={n:,}: {r['seconds']:.0f} s, numpy peaks (MiB) "
              + ", ".join(f"{p} {v / MiB:.0f}" for p, v in r["numpy_peaks"].items())
              + f"; F = {r['feat_bytes'] / MiB:.0f} MiB; maxrss {r['maxrss'] / MiB:.0f} MiB", flush=True)

    phases = ["features", "clustering", "training"]
    lines = [f"### Memory of one epoch vs N ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"{args.arch} at {args.size} px (cache {round(args.size / 0.875)} px, synthetic uint8 memmap), "
             f"k = suggest_k(N), samples_per_epoch {args.samples}, torch threads {args.threads}, one epoch in a fresh process per N. "
             "F = N x feat_dim x 4 bytes (the feature matrix). numpy = tracemalloc peak inside the "
             "phase (numpy allocations only; torch and faiss internals are not traced); anon = max "
             "RssAnon sampled every 10 ms (everything the process allocated); file = max RssFile (the "
             "memory-mapped cache pages, reclaimable).", "",
             "| N | k | F MiB | numpy peak: features | clustering | training | anon MiB: features | "
             "clustering | training | file MiB max | ru_maxrss MiB | s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        f = r["feat_bytes"]
        np_cells = [f"{r['numpy_peaks'].get(p, 0) / MiB:.0f} ({r['numpy_peaks'].get(p, 0) / f:.2f} F)" for p in phases]
        anon = [f"{r['rss_peaks'].get(p, {}).get('RssAnon', 0) / MiB:.0f}" for p in phases]
        file_max = max(v.get("RssFile", 0) for v in r["rss_peaks"].values())
        lines.append(f"| {r['n']:,} | {r['k']:,} | {f / MiB:.0f} | " + " | ".join(np_cells) + " | "
                     + " | ".join(anon) + f" | {file_max / MiB:.0f} | {r['maxrss'] / MiB:.0f} | {r['seconds']:.0f} |")
    if len(results) >= 2:
        a, b = results[0], results[-1]
        slope = (b["rss_peaks"]["clustering"]["RssAnon"] - a["rss_peaks"]["clustering"]["RssAnon"]) / (b["n"] - a["n"])
        base = a["rss_peaks"]["clustering"]["RssAnon"] - slope * a["n"]
        lines += ["", f"Clustering-phase anonymous memory grows by {slope:,.0f} bytes per image "
                  f"({slope / (a['feat_bytes'] / a['n']):.2f} x the feature row of {a['feat_bytes'] // a['n']} bytes) "
                  f"over a fixed {base / MiB:,.0f} MiB: at N = 1M that is about "
                  f"{(base + slope * 1e6) / 2**30:.1f} GiB."]
    _data.publish("memory", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
