"""`make gpu-check`: everything that needs an NVIDIA GPU, in one run well inside 10 minutes.

CI has no GPU, so this is run by hand on a machine with one. Each step is a separate process
with its own time limit; a failing step is reported and the run goes on; a step that would
start after the overall budget is skipped and said so:

1. the machine: GPU, driver, torch and CUDA versions;
2. the CUDA-marked tests (``pytest -m cuda``); on a GPU machine a skipped one counts as failed;
3. ``benchmarks/bench_gpu.py``: AlexNet-BN and ResNet-50 at 224 px, AMP + channels-last:
   model-only and pipeline-only rates, a whole engine epoch (images/s) with GPU utilisation;
4. ``benchmarks/bench_kmeans_torch.py``: faiss (CPU) vs ``kmeans_torch`` (GPU) on 1M x 256,
   k = 10,000;
5. the demo at the GPU defaults (the window's ``demo_config("cuda")``: smallnet 32 px, k = 50,
   batch 256) for a few epochs through ``dcgui train``, then ``dcgui info --json``.

The figures are written as one markdown section (``--out``, default
``benchmarks/results_gpu_check.md``), ready to paste into ``benchmarks/results.md``;
``--publish`` writes it there as the ``gpu_check`` section. The benchmarks' own result files are
left alone (their sections go to a temporary file).

``--dry-run`` runs the same steps on the CPU at toy sizes, to check the script itself (it
measures nothing):

    python scripts/gpu_check.py [--budget-s S] [--out FILE] [--publish] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

# The demo's settings as the window picks them on CUDA (gui.main_window.demo_config("cuda")):
# the rest (batch 256, samples per epoch) come from default_config for a CUDA device.
DEMO_ARGS = ["--arch", "smallnet", "--image-size", "32", "--k", "50"]


@dataclass
class Step:
    name: str
    ok: bool = False
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list)  # markdown for the report
    log: str = ""


@dataclass
class Check:
    dry_run: bool
    budget_s: float
    tmp: Path
    t0: float = field(default_factory=time.monotonic)
    steps: list[Step] = field(default_factory=list)

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.t0)

    def run(self, cmd: list[str], limit_s: float, env: dict[str, str] | None = None) -> tuple[int, str]:
        """Run ``cmd`` from the repository root; (exit code, output). 124 on timeout."""
        timeout = max(1.0, min(limit_s, self.left()))
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
        print(f"$ {' '.join(cmd)}  (limit {timeout:.0f} s)", flush=True)
        try:
            p = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            return 124, out + f"\n[timed out after {timeout:.0f} s]"
        out = p.stdout + p.stderr
        print(out[-4000:], flush=True)
        return p.returncode, out

    def step(self, name: str, min_s: float, body: Callable[[Step], None]) -> None:
        s = Step(name)
        if self.left() < min_s:
            s.lines = [f"SKIPPED: {self.left():.0f} s of the budget left, the step needs about {min_s:.0f} s"]
        else:
            t = time.monotonic()
            try:
                body(s)
            except Exception as exc:  # reported in the summary; the other steps still run
                s.ok = False
                s.lines.append(f"FAILED: {type(exc).__name__}: {exc}")
            s.seconds = time.monotonic() - t
        self.steps.append(s)
        print(f"== {name}: {'ok' if s.ok else 'NOT OK'} ({s.seconds:.0f} s)", flush=True)


def _tail(text: str, n: int = 15) -> list[str]:
    return ["```", *text.strip().splitlines()[-n:], "```"]


# -- the steps --------------------------------------------------------------------------------
def machine(c: Check, s: Step) -> None:
    import _data
    import torch

    s.lines.append(f"- machine: {_data.machine()}")
    s.lines.append(f"- torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        s.lines.append(f"- GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, compute capability {p.major}.{p.minor}")
    smi = shutil.which("nvidia-smi")
    if smi:
        rc, out = c.run([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"], 30)
        s.lines.append(f"- nvidia-smi: {out.strip() if rc == 0 else 'failed: ' + out.strip()[-200:]}")
    s.ok = c.dry_run or torch.cuda.is_available()
    if not s.ok:
        s.lines.append("FAILED: torch sees no CUDA GPU (torch.cuda.is_available() is False)")


def cuda_tests(c: Check, s: Step) -> None:
    xml = c.tmp / "cuda_tests.xml"
    rc, out = c.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda",
                     f"--junitxml={xml}", "tests"], 180, env={"QT_QPA_PLATFORM": "offscreen"})
    suite = ET.parse(xml).getroot() if xml.exists() else None
    suite = suite.find("testsuite") if suite is not None and suite.tag == "testsuites" else suite
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")} if suite is not None else {}
    s.lines.append(f"- {counts or 'no result'}; pytest exit code {rc}")
    bad = counts.get("failures", 1) + counts.get("errors", 1)
    # On a GPU machine every CUDA test must run; in a dry run (no GPU) they all skip.
    s.ok = rc == 0 and bad == 0 and counts.get("tests", 0) > 0 and (c.dry_run or counts.get("skipped", 1) == 0)
    if not s.ok:
        s.lines += _tail(out)


def bench_gpu(c: Check, s: Step) -> None:
    table = c.tmp / "bench_gpu.md"
    args = ["--device", "cpu", "--smoke", "--archs", "alexnet_bn"] if c.dry_run else ["--archs", "alexnet_bn,resnet50", "--size", "224",
                                                             "--batch", "256", "--images", "10000", "--k", "1000"]
    rc, out = c.run([sys.executable, "benchmarks/bench_gpu.py", *args, "--out", str(table)], 300,
                    env={"DCGUI_BENCH_DIR": str(c.tmp / "bench")})
    s.ok = rc == 0 and table.exists()
    s.lines += table.read_text().splitlines()[2:] if s.ok else _tail(out)


def kmeans(c: Check, s: Step) -> None:
    results = c.tmp / "results.md"
    # 10 iterations keep faiss on the CPU to a few minutes at this size; the paper runs 20
    size = ["--n", "4000", "--k", "40", "--iters", "3"] if c.dry_run else ["--n", "1000000", "--k", "10000", "--iters", "10"]
    rc, out = c.run([sys.executable, "benchmarks/bench_kmeans_torch.py", *size, "--reps", "1",
                     "--device", "cpu" if c.dry_run else "cuda"], 300, env={"DCGUI_RESULTS": str(results)})
    text = results.read_text() if results.exists() else ""
    s.ok = rc == 0 and "kmeans_torch:begin" in text
    if s.ok:
        block = text.split("<!-- kmeans_torch:begin -->", 1)[1].split("<!-- kmeans_torch:end -->", 1)[0]
        s.lines += block.strip().splitlines()[2:]  # the table, without its heading
    else:
        s.lines += _tail(out)


def demo(c: Check, s: Step) -> None:
    from dcgui.core.images.demo import extract_demo

    folder = extract_demo(c.tmp / "demo")
    session = c.tmp / "demo.dcgui"
    epochs = 1 if c.dry_run else 3
    device = "cpu" if c.dry_run else "cuda"
    extra = ["--samples-per-epoch", "256", "--batch-size", "64"] if c.dry_run else []
    t = time.monotonic()
    rc, out = c.run([sys.executable, "-m", "dcgui", "train", str(folder), "--session", str(session),
                     "--epochs", str(epochs), "--device", device, *DEMO_ARGS, *extra, "--no-progress"], 240)
    wall = time.monotonic() - t
    if rc != 0:
        s.lines += _tail(out)
        return
    rc, out = c.run([sys.executable, "-m", "dcgui", "info", str(session), "--json"], 60)
    info = json.loads(out[out.index("{"):])
    cfg = info["config"]
    s.lines += [f"- `dcgui train` on the 4,000 demo images, {epochs} epoch(s) on {device}: {wall:.0f} s wall "
                f"(decode cache included); config {cfg['arch']} {cfg['image_size']} px, k={cfg['k']}, "
                f"batch {cfg['batch_size']}, {cfg['samples_per_epoch']} samples/epoch, AMP {cfg.get('amp')}", "",
                "| epoch | seconds | images/s | loss | NMI vs labels |", "|---:|---:|---:|---:|---:|"]
    for m in info["epochs"]:
        secs = m["seconds_features"] + m["seconds_clustering"] + m["seconds_training"]
        s.lines.append(f"| {m['epoch']} | {secs:.1f} | {m['images_per_second']:.0f} | {m['loss']:.3f} | "
                       f"{m['nmi_labels'] if m['nmi_labels'] is None else round(m['nmi_labels'], 3)} |")
    s.ok = len(info["epochs"]) == epochs


def report(c: Check) -> str:
    head = "GPU check (dry run on the CPU: nothing here is a measurement)" if c.dry_run else "GPU check"
    lines = [f"### {head} ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"`make gpu-check` (scripts/gpu_check.py), {time.monotonic() - c.t0:.0f} s in all.", ""]
    for s in c.steps:
        lines += [f"#### {s.name}: {'ok' if s.ok else 'NOT OK'} ({s.seconds:.0f} s)", "", *s.lines, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget-s", type=float, help="start no step after this many seconds (default: 570; "
                    "1800 for --dry-run, which runs on a CPU)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results_gpu_check.md")
    ap.add_argument("--publish", action="store_true", help="also write the report into benchmarks/results.md")
    ap.add_argument("--dry-run", action="store_true", help="the same steps on the CPU at toy sizes")
    args = ap.parse_args(argv)

    import torch

    if not args.dry_run and not torch.cuda.is_available():
        print("gpu-check: torch sees no CUDA GPU here. Run it on a machine with an NVIDIA GPU, or "
              "`python scripts/gpu_check.py --dry-run` to check the script on the CPU.", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="dcgui_gpu_check_") as tmp:
        budget = args.budget_s if args.budget_s is not None else 1800.0 if args.dry_run else 570.0
        c = Check(args.dry_run, budget, Path(tmp))
        c.step("machine", 0, lambda s: machine(c, s))
        c.step("CUDA tests", 30, lambda s: cuda_tests(c, s))
        c.step("bench_gpu.py (AlexNet-BN, ResNet-50, 224 px, AMP + channels-last)", 60, lambda s: bench_gpu(c, s))
        c.step("k-means: faiss vs kmeans_torch", 60, lambda s: kmeans(c, s))
        c.step("the demo at the GPU defaults", 45, lambda s: demo(c, s))
        text = report(c)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    if args.publish:
        import _data

        _data.write_section("gpu_check", text)
    print(f"written to {args.out}" + (" and benchmarks/results.md" if args.publish else ""))
    return 0 if all(s.ok for s in c.steps) else 1


if __name__ == "__main__":
    raise SystemExit(main())
