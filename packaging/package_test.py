"""Smoke test of the built bundle: ``make package-test`` (builds first). Not part of CI: it takes
minutes and several GB. Needs Xvfb, openbox, xdotool and xwininfo (Debian: apt-get install xvfb openbox xdotool x11-utils).

1. The window: under Xvfb (with a window manager), ``dist/dcgui/dcgui --demo`` opens the demo
   collection and trains it. The session file is polled with the bundle's own ``dcgui info --json``
   until the first epoch is recorded; then the Clusters tab is shown, a screenshot saved
   (``--screenshot``), and the app quit the way a user does (Ctrl+Q, "Stop and quit"). Any error
   line in the app's output fails the test, and so does a crash or a hang on quit.
2. The command line: every sub-command of the bundled executable on a small generated folder;
   the ONNX and TorchScript exports are loaded back here and must give the same features; and
   ``dcgui SESSION`` alone (what a double-click runs) keeps the window open without an error.

The app's data, settings and caches go to a temporary XDG home (``--keep`` keeps it).
Usage: ``python packaging/package_test.py [--bundle dist/dcgui] [--screenshot PNG] [--timeout S]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Lines of the app's output that mean something went wrong (dcgui logs every error it shows).
ERROR_LINE = re.compile(r"Traceback|Error\b|\berror\b|Unexpected|Cannot |could not|Fatal|Aborted|"
                        r"Segmentation fault|core dumped", re.IGNORECASE)


class Failed(Exception):
    pass


def log(message: str) -> None:
    print(f"[package-test {time.strftime('%H:%M:%S')}] {message}", flush=True)


# -------------------------------------------------------------------------------------------
# an X server with a window manager
# -------------------------------------------------------------------------------------------
class Display:
    """Xvfb on a free display number, plus openbox so windows get focus and keyboard input."""

    def __init__(self, size: str = "1600x1000x24") -> None:
        for tool in ("Xvfb", "openbox", "xdotool", "xwininfo"):
            if shutil.which(tool) is None:
                raise Failed(f"{tool} is not installed (Debian: apt-get install xvfb openbox xdotool x11-utils)")
        self.number = next(n for n in range(90, 400) if not Path(f"/tmp/.X{n}-lock").exists()
                           and not Path(f"/tmp/.X11-unix/X{n}").exists())
        self.name = f":{self.number}"
        self.xvfb = subprocess.Popen(["Xvfb", self.name, "-screen", "0", size, "-nolisten", "tcp"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: Path(f"/tmp/.X11-unix/X{self.number}").exists(), 30, "Xvfb to start")
        self.env = {**os.environ, "DISPLAY": self.name}
        self.wm = subprocess.Popen(["openbox", "--sm-disable"], env=self.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def xdotool(self, *args: str) -> str:
        done = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    def main_window(self) -> str | None:
        """The largest visible window of the app (the main window, not a progress dialog)."""
        best, area = None, 0
        for wid in self.xdotool("search", "--onlyvisible", "--class", "dcgui").split():
            geometry = dict(line.split("=", 1) for line in
                            self.xdotool("getwindowgeometry", "--shell", wid).splitlines() if "=" in line)
            size = int(geometry.get("WIDTH", 0)) * int(geometry.get("HEIGHT", 0))
            if size > area:
                best, area = wid, size
        return best

    def screenshot(self, out: Path, wid: str) -> None:
        """The window's contents, cut from the whole screen at its absolute position (xwininfo:
        xdotool reports the position of the window manager's frame)."""
        from PIL import ImageGrab

        info = subprocess.run(["xwininfo", "-id", wid], env=self.env, capture_output=True, text=True,
                              check=True).stdout
        x, y, w, h = (int(re.search(rf"{key}:\s+(-?\d+)", info).group(1))  # type: ignore[union-attr]
                      for key in ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height"))
        image = ImageGrab.grab(xdisplay=self.name).crop((x, y, x + w, y + h))
        out.parent.mkdir(parents=True, exist_ok=True)
        image.save(out)

    def close(self) -> None:
        for proc in (self.wm, self.xvfb):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_for(check: Callable[[], bool], seconds: float, what: str, every: float = 0.5) -> None:
    end = time.monotonic() + seconds
    while not check():
        if time.monotonic() > end:
            raise Failed(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(every)


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if ERROR_LINE.search(line)]


# -------------------------------------------------------------------------------------------
# 1. the window on the demo
# -------------------------------------------------------------------------------------------
def first_epoch(exe: Path, session: Path, env: dict[str, str]) -> dict[str, object] | None:
    """The first recorded epoch of ``session`` (read with the bundle's CLI), or None yet."""
    if not session.exists():
        return None
    done = subprocess.run([str(exe), "info", str(session), "--json"], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    if done.returncode != 0:  # e.g. the session is being created: try again at the next poll
        return None
    epochs = json.loads(done.stdout)["epochs"]
    return epochs[0] if epochs else None


def gui_test(exe: Path, home: Path, screenshot: Path, timeout: float) -> None:
    home.mkdir(parents=True, exist_ok=True)
    display = Display()
    env = {**display.env, "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_CACHE_HOME": str(home / "cache")}
    env.pop("QT_QPA_PLATFORM", None)  # the real X11 window, not offscreen
    session = home / "data" / "dcgui" / "demo" / "fashion-mnist.dcgui"
    app_log = home / "gui.log"
    started = time.monotonic()
    try:
        with app_log.open("w") as out:
            app = subprocess.Popen([str(exe), "--demo"], env=env, stdout=out, stderr=subprocess.STDOUT)
        log(f"window: {exe} --demo on display {display.name} (pid {app.pid}); polling {session}")
        epoch = None
        end = started + timeout
        while epoch is None:
            if app.poll() is not None:
                raise Failed(f"the app exited with status {app.returncode} before the first epoch:\n"
                             + app_log.read_text()[-3000:])
            if time.monotonic() > end:
                raise Failed(f"no epoch recorded in {session} after {timeout:.0f} s:\n" + app_log.read_text()[-3000:])
            time.sleep(10)
            bad = error_lines(app_log.read_text())
            if bad:  # an error dialog is open: no epoch will come
                raise Failed("error in the app's output before the first epoch:\n" + "\n".join(bad[:20]))
            epoch = first_epoch(exe, session, env)
        log(f"window: first epoch recorded after {time.monotonic() - started:.0f} s: "
            + ", ".join(f"{k} {epoch[k]}" for k in ("epoch", "loss", "nmi_labels", "seconds") if k in epoch))
        wid = display.main_window()
        if wid is None:
            raise Failed("the app shows no window")
        display.xdotool("windowsize", wid, "1360", "860")
        display.xdotool("windowactivate", "--sync", wid)
        display.xdotool("key", "--clearmodifiers", "ctrl+1")  # View > Clusters
        time.sleep(8)  # the window polls the session and draws the new epoch's clusters
        display.screenshot(screenshot, wid)
        log(f"window: screenshot {screenshot}")
        display.xdotool("key", "--clearmodifiers", "ctrl+q")
        quit_by = time.monotonic() + 120
        while app.poll() is None:  # "Training is running. Stop it and quit?": the default button
            if time.monotonic() > quit_by:
                raise Failed("the app did not quit within 120 s of Ctrl+Q and 'Stop and quit'")
            time.sleep(3)
            if app.poll() is None:
                display.xdotool("key", "--clearmodifiers", "Return")
        if app.returncode != 0:
            raise Failed(f"the app exited with status {app.returncode}:\n" + app_log.read_text()[-3000:])
        text = app_log.read_text()
        bad = error_lines(text)
        if bad:
            raise Failed("errors in the app's output:\n" + "\n".join(bad[:20]))
        log(f"window: quit cleanly after {time.monotonic() - started:.0f} s; app output "
            f"({len(text.splitlines())} lines) has no error")
    finally:
        if "app" in locals() and app.poll() is None:
            app.kill()
            app.wait()
        display.close()


# -------------------------------------------------------------------------------------------
# 2. the command line
# -------------------------------------------------------------------------------------------
def write_folder(root: Path, per_class: int = 16) -> list[Path]:
    """48 small PNGs in 3 class folders: discs, squares and stripes in random colours."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(5)
    paths = []
    for k, kind in enumerate(("disc", "square", "stripes")):
        (root / kind).mkdir(parents=True, exist_ok=True)
        for j in range(per_class):
            image = Image.new("RGB", (48, 48), tuple(rng.randrange(60) for _ in range(3)))
            draw = ImageDraw.Draw(image)
            colour = tuple(rng.randrange(120, 256) for _ in range(3))
            x, y = rng.randrange(8, 20), rng.randrange(8, 20)
            if k == 0:
                draw.ellipse((x, y, x + 22, y + 22), fill=colour)
            elif k == 1:
                draw.rectangle((x, y, x + 20, y + 20), fill=colour)
            else:
                for row in range(0, 48, 6):
                    draw.rectangle((0, row, 47, row + 2), fill=colour)
            path = root / kind / f"{kind}_{j:02d}.png"
            image.save(path)
            paths.append(path)
    return paths


def cli_test(exe: Path, home: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_CACHE_HOME": str(home / "cache"), "QT_QPA_PLATFORM": "offscreen"}
    folder, out = home / "photos", home / "out"
    out.mkdir(parents=True, exist_ok=True)
    images = write_folder(folder)
    session = home / "photos.dcgui"

    def run(*args: object, check: Callable[[str], bool] | None = None) -> str:
        argv = [str(exe), *map(str, args)]
        t0 = time.monotonic()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)
        seconds = time.monotonic() - t0
        shown = " ".join(str(a) for a in args).replace(str(home) + "/", "")
        if done.returncode != 0 or "Traceback" in done.stderr:
            raise Failed(f"dcgui {shown}: exit status {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        if check is not None and not check(done.stdout):
            raise Failed(f"dcgui {shown}: unexpected output\n{done.stdout[-2000:]}")
        log(f"cli: dcgui {shown}  ok ({seconds:.1f} s)")
        return done.stdout

    run("--version", check=lambda s: bool(re.search(r"\d+\.\d+", s)))
    run("--help", check=lambda s: "train" in s and "export" in s)
    run("info", "--help", check=lambda s: "usage: dcgui info" in s)
    run("train", folder, "--session", session, "--epochs", 2, "--k", 4, "--arch", "smallnet",
        "--image-size", 32, "--batch-size", 16, "--device", "cpu", "--workers", 1, "--seed", 3)
    info = json.loads(run("info", session, "--json"))
    if len(info["epochs"]) != 2 or info["images"] != len(images):
        raise Failed(f"info: expected 2 epochs on {len(images)} images, got {info['epochs']} / {info['images']}")
    run("clusters", session, "--csv", out / "clusters.csv")
    with (out / "clusters.csv").open() as f:
        rows = list(csv.DictReader(f))
    if len(rows) != len(images):
        raise Failed("clusters: one row per image expected")
    sizes = Counter(row["cluster"] for row in rows).most_common()
    run("embed", session, folder, "--out", out / "features.npz", "--device", "cpu")
    run("export", session, "--format", "onnx", "--out", out / "backbone.onnx")
    run("export", session, "--format", "torchscript", "--out", out / "backbone.pt")
    run("export", session, "--format", "state-dict", "--out", out / "backbone.pth")
    run("map", session, "--csv", out / "map.csv")  # UMAP: numba compiles (and caches) in the bundle
    run("similar", session, images[0], "-n", 5, check=lambda s: images[0].name in s or "disc" in s)
    run("duplicates", session, "--csv", out / "duplicates.csv")
    run("outliers", session, "-n", 5)
    run("eval", session, folder, check=lambda s: "kNN" in s or "knn" in s.lower())
    run("curate", session, "--out", out / "sorted", "--copy", "--dry-run")
    if len(sizes) >= 3:  # the user-data edits: merge two clusters, split a third, undo, redo
        run("merge", session, sizes[1][0], sizes[2][0], "--name", "merged")
        run("split", session, sizes[0][0], "--into", 2, "--device", "cpu")
        run("edits", session, "--json", check=lambda s: "merge" in s and "split" in s)
        run("undo", session, "--steps", 2)
        run("redo", session, "--steps", 2)
    compare_exports(out)
    open_session_file(exe, session, env)
    desktop_test(exe, home, run)


def desktop_test(exe: Path, home: Path, run: Callable[..., str]) -> None:
    """``--install-desktop`` registers the bundle's own executable; uninstall removes it again."""
    entry = home / "data" / "applications" / "dcgui.desktop"
    run("--install-desktop", check=lambda s: f"wrote {entry}" in s)
    if f"Exec={exe.resolve()} %f" not in entry.read_text():
        raise Failed(f"{entry} does not start {exe.resolve()}:\n{entry.read_text()}")
    globs = home / "data" / "mime" / "globs2"
    if shutil.which("update-mime-database") and "application/x-dcgui-session:*.dcgui" not in globs.read_text():
        raise Failed(f"*.dcgui is not in the MIME database {globs}")
    run("--uninstall-desktop", check=lambda s: f"removed {entry}" in s)
    if entry.exists() or (home / "data" / "mime" / "packages" / "dcgui.xml").exists():
        raise Failed("--uninstall-desktop left dcgui's files behind")


def open_session_file(exe: Path, session: Path, env: dict[str, str], seconds: float = 30) -> None:
    """``dcgui SESSION`` (what a double-click runs through the desktop entry) opens the window on
    it; offscreen here, so it is stopped after ``seconds``: no error may have been printed."""
    app = subprocess.Popen([str(exe), str(session)], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = app.communicate(timeout=seconds)
        raise Failed(f"dcgui {session.name}: the window closed by itself (status {app.returncode}):\n{output}")
    except subprocess.TimeoutExpired:
        app.terminate()
        output, _ = app.communicate(timeout=30)
    bad = error_lines(output)
    if bad:
        raise Failed(f"dcgui {session.name}: errors while the window was open:\n" + "\n".join(bad[:20]))
    log(f"cli: dcgui {session.name} (a double-click) kept the window open {seconds:.0f} s without an error")


def compare_exports(out: Path) -> None:
    """The bundle's ONNX and TorchScript files, loaded here, give the same features."""
    import numpy as np
    import onnx
    import torch

    onnx.checker.check_model(onnx.load(str(out / "backbone.onnx")))
    scripted = torch.jit.load(str(out / "backbone.pt"))
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ts = scripted(x).numpy()
    try:
        import onnxruntime as ort
    except ImportError:
        log("cli: onnxruntime is not installed here: the ONNX file was checked, not run")
        return
    sess = ort.InferenceSession(str(out / "backbone.onnx"))
    ox = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    if ox.shape != ts.shape or not np.allclose(ox, ts, rtol=1e-3, atol=1e-4):
        raise Failed(f"ONNX and TorchScript features differ: max |diff| {np.abs(ox - ts).max()}")
    log(f"cli: ONNX (onnxruntime) and TorchScript give the same {ts.shape[1]}-d features on 4 images")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "dcgui")
    parser.add_argument("--screenshot", type=Path, default=ROOT / "docs" / "screenshots" / "bundle.png")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the first epoch")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home (data, logs)")
    parser.add_argument("--skip-gui", action="store_true", help="only the command-line part")
    args = parser.parse_args(argv)
    exe = args.bundle / "dcgui"
    if not exe.is_file():
        log(f"{exe} not found: build the bundle first (make package)")
        return 1
    home = Path(tempfile.mkdtemp(prefix="dcgui-package-test-"))
    t0 = time.monotonic()
    try:
        if not args.skip_gui:
            gui_test(exe, home / "gui", args.screenshot, args.timeout)
        cli_test(exe, home / "cli")
    except (Failed, subprocess.TimeoutExpired) as exc:
        log(f"FAILED: {exc}")
        log(f"kept {home} for inspection")
        return 1
    if args.keep:
        log(f"kept {home}")
    else:
        shutil.rmtree(home, ignore_errors=True)
    log(f"PASSED in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
