"""docs/screenshots/steering.png: the window one epoch after a merge and an exclusion (issue 24).

A small Fashion-MNIST folder from the demo archive (30 images per class) is trained three epochs
with the command line; then, as a person would, the two clusters with the largest share of trousers are
merged into a group named "my picks" and the 12 images farthest from their cluster's mean are
flagged exclude. The window then trains epoch 4 itself; the screenshot shows the cluster
list (the merged group, shown as the cluster its images were trained into at epoch 4, and the
"Excluded" row), the merged group's images in the grid and the training panel's steering line. Run offscreen: ``QT_QPA_PLATFORM=offscreen python scripts/screenshot_steering.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT = 1280, 820
PER_CLASS = 30


def wait(app: object, seconds: float, until: Callable[[], bool] | None = None) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()  # type: ignore[attr-defined]
        if until is not None and until():
            return
        time.sleep(0.02)
    if until is not None and not until():
        raise SystemExit(f"timed out after {seconds} s")


def write_folder(target: Path) -> Path:
    from PIL import Image

    with np.load(ROOT / "resources" / "demo" / "fashion_mnist_4000.npz") as d:
        images, labels, names = d["images"], d["labels"], [str(c) for c in d["class_names"]]
    for c, name in enumerate(names):
        (target / name).mkdir(parents=True, exist_ok=True)
        for j, i in enumerate(np.flatnonzero(labels == c)[:PER_CLASS]):
            Image.fromarray(images[i]).save(target / name / f"{j:03d}.png")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "steering.png")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dcgui-steering-shot-"))
    os.environ["XDG_DATA_HOME"] = str(work / "userdata")

    from dcgui.cli import main as cli
    from dcgui.core.analysis.groups import Unit
    from dcgui.store import SessionStore
    from dcgui.store.edits import MergeClusters

    folder = write_folder(work / "fashion")
    session = work / "fashion.dcgui"
    assert cli(["train", str(folder), "--session", str(session), "--epochs", "3", "--k", "10", "--arch", "smallnet",
                "--image-size", "32", "--device", "cpu", "--threads", "1", "--no-progress"]) == 0
    with SessionStore.open(session) as s:
        assign, labels = s.assignments(3), s.labels()
        assert labels is not None
        trouser = s.label_names().index("trouser")
        # the two clusters with the largest share of trousers
        share = {int(c): float(np.mean(labels[assign == c] == trouser)) for c in np.unique(assign)}
        a, b = sorted(share, key=lambda c: -share[c])[:2]
        gid = s.apply_edit(MergeClusters(3, [Unit(a), Unit(b)], "my picks")).preview.group_id
        # the person's outliers: the images least like the rest of their cluster (pixel space)
        from dcgui.services.explore import open_cache

        pix = open_cache(s).pixels.reshape(s.n_images, -1).astype(np.float32)
        means = {int(c): pix[assign == c].mean(axis=0) for c in np.unique(assign)}
        centroid = np.stack([means[int(c)] for c in assign])
        far = np.argsort(-np.linalg.norm(pix - centroid, axis=1))[:12]
        s.set_image_flag([int(i) for i in far], "exclude")

    from PySide6.QtCore import QSettings

    from dcgui.gui.app import create_application

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(work / "settings"))
    app = create_application()
    from dcgui.gui import theme
    from dcgui.gui.main_window import TAB_CLUSTERS, MainWindow

    theme.apply_theme(app, "light", persist=False)
    window = MainWindow(icon=app.windowIcon())
    window.resize(WIDTH, HEIGHT)
    window.show()
    assert window.open_session(session)
    window.view.tabs.setCurrentIndex(TAB_CLUSTERS)
    training = window.training
    training.epochs_spin.setValue(4)
    assert training.start()
    wait(app, 900, lambda: window.store is not None and window.store.last_epoch() >= 4 and not training.is_busy)
    browser = window.view.clusters
    view = browser.cluster_model.view
    assert view is not None
    browser.select_cluster(view.find(f"g{gid}").code)  # the merged group's images in the grid
    wait(app, 8.0)  # thumbnails and mosaics load in the background
    args.out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.out))
    print(f"wrote {args.out}; steering line: {training.steering_label.text()}")
    window.close()


if __name__ == "__main__":
    main()
