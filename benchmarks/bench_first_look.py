"""Time from Train to the first clusters of a new folder of big photos (issue 22): before and
after the first looks.

Needs a folder of 3-12 MP JPEGs (``benchmarks/build_bigphotos.py``, default /work/data/bigphotos).
Every run starts from a new session in a fresh temporary folder (so nothing is decoded yet) with
the settings the New-session dialog proposes for the folder (``default_config``), the way the
window trains (``iter_train_file``, the worker's thread count).

    python benchmarks/bench_first_look.py decode            # ms per photo: the cache's draft decode vs a full decode
    python benchmarks/bench_first_look.py engine            # after: the FirstLook events, then epoch 1
    python benchmarks/bench_first_look.py engine --no-looks # before: the first clusters are epoch 1's
    python benchmarks/bench_first_look.py window            # after, in the window offscreen (+ screenshot)

``engine`` prints the seconds from the start of ``iter_train_file`` (what Train starts) to each
first look (images decoded, k, the look's own seconds), to the end of decoding and to epoch 1;
``--stop-after-look`` ends the run at the first look. Each line also gives the process's CPU
seconds since Train (all threads). ``window`` times from ``TrainingPanel.start``
to the first look's first thumbnail painted in the Clusters tab, and saves a screenshot there.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FOLDER = Path("/work/data/bigphotos")
THREADS = max(1, (os.cpu_count() or 2) - 1)  # the window's worker (torch_threads_for_worker)


def _cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


_CPU0 = [0.0]  # CPU seconds when Train was pressed


def _load() -> str:
    """The 1-minute load average and this process's CPU seconds since Train (all threads): on a
    busy machine they say what an idle one would need (about half of it in wall time on 2 cores)."""
    return f"load {os.getloadavg()[0]:.1f}, cpu {_cpu() - _CPU0[0]:.1f} s since Train"


def new_session(folder: Path, tmp: Path) -> Path:
    from dcgui.core.config import default_config
    from dcgui.core.images.collection import scan
    from dcgui.services import training

    found = scan(folder)
    config = default_config(len(found.images), "cpu", len(found.label_names) or None)
    path = tmp / "bigphotos.dcgui"
    training.create_session(path, folder, config, images=found.images, skipped=found.skipped,
                            label_names=found.label_names).close()
    print(f"{len(found.images)} photos, {config.arch} {config.image_size} px, k={config.k}, "
          f"cache {config.cache_size} px; {_load()}", flush=True)
    return path


def bench_decode(folder: Path, n: int) -> None:
    """One thread, as each decode worker: the cache's decode (draft mode + square + thumbnail)
    against a full-size decode of the same files."""
    from PIL import Image

    from dcgui.core.images.cache import _decode

    files = sorted(folder.rglob("*.jpg"))[:: max(1, len(sorted(folder.rglob("*.jpg"))) // n)][:n]
    mp = []
    for f in files:
        with Image.open(f) as im:
            mp.append(im.size[0] * im.size[1] / 1e6)
    _decode(files[0], 96)  # imports and first-use costs outside the timing
    for size in (96, 72):
        t0 = time.perf_counter()
        for f in files:
            _decode(f, size)
        draft = (time.perf_counter() - t0) / len(files)
        print(f"cache decode at {size} px (draft mode): {draft * 1e3:.1f} ms/photo")
    t0 = time.perf_counter()
    for f in files:
        with Image.open(f) as im:
            im.convert("RGB").load()
    full = (time.perf_counter() - t0) / len(files)
    print(f"{len(files)} photos of {min(mp):.1f}-{max(mp):.1f} MP (mean {sum(mp) / len(mp):.1f}); "
          f"full decode {full * 1e3:.1f} ms/photo; {_load()}")


def bench_engine(folder: Path, looks: bool, stop_after_look: bool) -> None:
    from dcgui.core.control import RunControl, StopRequested
    from dcgui.services import training

    if not looks:
        training.FIRST_LOOK_TIMING = None
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        path = new_session(folder, Path(tmp))
        control = RunControl()
        _CPU0[0] = _cpu()
        t0 = time.perf_counter()
        with contextlib.suppress(StopRequested):  # --stop-after-look: stopped while decoding
            _report(training.iter_train_file(path, control, epochs=1, default_threads=THREADS), t0,
                    control if stop_after_look else None)


def _report(events: Iterator[object], t0: float, stop: Any) -> None:
    """Print when each milestone of a run arrives; ``stop`` (a RunControl): stop at the first look."""
    from dcgui.core.events import CollectionReady, EpochFinished, FirstLook, PhaseProgress

    decoded = False
    for ev in events:
        now = time.perf_counter() - t0
        if isinstance(ev, FirstLook):
            print(f"{now:7.1f} s  first look {ev.index}: {ev.n_decoded} of {ev.n_total} decoded, k={ev.k}, "
                  f"look took {ev.seconds_clustering:.1f} s (event says {ev.seconds:.1f} s); {_load()}", flush=True)
            if stop is not None:
                stop.stop()
        elif isinstance(ev, PhaseProgress) and ev.phase == "cache" and ev.done == ev.total and not decoded:
            decoded = True
            print(f"{now:7.1f} s  all decoded ({ev.images_per_second:.1f} photos/s); {_load()}", flush=True)
        elif isinstance(ev, CollectionReady):
            print(f"{now:7.1f} s  collection ready", flush=True)
        elif isinstance(ev, EpochFinished):
            m = ev.metrics
            print(f"{now:7.1f} s  epoch 1 (the first clusters before this change): {m.seconds:.1f} s of "
                  f"features + k-means + training; {_load()}", flush=True)


def bench_window(folder: Path, shot: Path | None) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from dcgui.gui.app import set_app_identity
    from dcgui.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    set_app_identity()
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        path = new_session(folder, Path(tmp))
        w = MainWindow()
        w.resize(1400, 900)
        w.show()
        assert w.open_session(path)
        view = w.view.first_look
        _CPU0[0] = _cpu()
        t0 = time.perf_counter()
        w.training.start(1)
        shown = 0.0
        while time.perf_counter() - t0 < 600:
            app.processEvents()
            rows = view.rows
            if rows and rows[0][1].has_thumbnail(rows[0][1].image_indices()[0]):
                shown = time.perf_counter() - t0
                break
            time.sleep(0.005)
        look = w.model.first_look
        assert look is not None, "no first look within 10 minutes"
        print(f"{shown:7.1f} s  window: first look {look.index} on screen ({look.n_decoded} of {look.n_total} "
              f"decoded, k={look.k}; the event says {look.seconds:.1f} s after the worker began); {_load()}", flush=True)
        if shot is not None:
            end = time.perf_counter() + 3.0
            while time.perf_counter() < end:  # let the visible rows' thumbnails arrive
                app.processEvents()
                time.sleep(0.01)
            w.grab().save(str(shot))
            print(f"screenshot: {shot}")
        w.training.stop()
        while w.training.is_busy:
            app.processEvents()
            time.sleep(0.01)
        w.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["decode", "engine", "window"])
    ap.add_argument("--folder", type=Path, default=FOLDER)
    ap.add_argument("--no-looks", action="store_true", help="engine: as before this change (no first looks)")
    ap.add_argument("--stop-after-look", action="store_true", help="engine: stop at the first look")
    ap.add_argument("--photos", type=int, default=40, help="decode: photos timed")
    ap.add_argument("--screenshot", type=Path, default=None, help="window: save the window showing the look")
    args = ap.parse_args()
    if not any(args.folder.rglob("*.jpg")):
        raise SystemExit(f"{args.folder} holds no JPEG: build it with benchmarks/build_bigphotos.py")
    if args.mode == "decode":
        bench_decode(args.folder, args.photos)
    elif args.mode == "engine":
        bench_engine(args.folder, not args.no_looks, args.stop_after_look)
    else:
        bench_window(args.folder, args.screenshot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
