"""Decompression bombs: small files that declare huge images must not exhaust memory when the
cache decodes a folder of them on several threads (peak RSS measured in a fresh process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from dcgui.core.images.imageio import DecodeMemory, load_rgb

ROOT = Path(__file__).resolve().parents[2]

MEASURE = """
import json, sys
from pathlib import Path
from dcgui.core.images import imageio
from dcgui.core.images.cache import ImageCache
from dcgui.core.images.collection import scan

def peak_mb():  # VmHWM: this process's peak RSS (ru_maxrss would include the forking parent's)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024

folder, budget_mb = Path(sys.argv[1]), int(sys.argv[2])
imageio.DECODE_MEMORY.set_limit(budget_mb << 20)
images = scan(folder).images
base = peak_mb()
imageio.load_rgb(folder / images[0].relpath, max_side=128)  # one decode alone
one = peak_mb() - base
for _ in ImageCache.iter_build(Path(sys.argv[3]), folder, images, 37, workers=len(images)):
    pass
print(json.dumps({"base": base, "one": one, "all": peak_mb() - base}))
"""


def write_bombs(folder: Path, n: int, side: int) -> None:
    folder.mkdir()
    im = Image.new("RGB", (side, side), (120, 30, 200))  # one colour: compresses ~1000:1
    for i in range(n):
        im.save(folder / f"bomb_{i}.png")


@pytest.mark.skipif(sys.platform != "linux", reason="reads the peak RSS from /proc/self/status")
def test_a_folder_of_bombs_decodes_within_the_memory_budget(tmp_path: Path) -> None:
    write_bombs(tmp_path / "bombs", n=4, side=4000)  # 4 x ~50 KB files, each 64 MB decoded
    assert all(p.stat().st_size < 200_000 for p in (tmp_path / "bombs").iterdir())
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", MEASURE, str(tmp_path / "bombs"), "60", str(tmp_path / "cache")],
                         env=env, capture_output=True, text=True, timeout=300, check=True)
    peaks = json.loads(out.stdout)
    # A 60 MB budget admits one such decode at a time, and its memory goes back to the system
    # afterwards: 4 threads cost about what one does, where unbounded they hold 4 x 64 MB.
    assert peaks["one"] > 40, peaks
    assert peaks["all"] < 1.6 * peaks["one"], peaks


def test_decodes_wait_for_the_budget_and_a_larger_one_runs_alone() -> None:
    budget = DecodeMemory(100)
    inside: list[int] = []  # costs as held: a cost above the budget holds all of it
    most = [0]
    lock = threading.Lock()

    def decode(cost: int) -> None:
        with budget.hold(cost):
            with lock:
                inside.append(min(cost, 100))
                most[0] = max(most[0], sum(inside))
            time.sleep(0.05)
            with lock:
                inside.remove(min(cost, 100))

    threads = [threading.Thread(target=decode, args=(c,)) for c in (60, 60, 250, 30, 30, 30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert most[0] == 100  # never above the budget; the 250 one ran alone (or two 60s would not fit)


def test_a_large_decode_is_shrunk_for_a_small_target(tmp_path: Path) -> None:
    Image.new("RGB", (6000, 5000), (10, 200, 30)).save(tmp_path / "big.png")
    im = load_rgb(tmp_path / "big.png", max_side=128)
    assert min(im.size) >= 3 * 128 and im.size[0] < 6000  # reduced, still 3x the target
    assert im.info["original_size"] == (6000, 5000)
    assert load_rgb(tmp_path / "big.png").size == (6000, 5000)  # full size when asked for
