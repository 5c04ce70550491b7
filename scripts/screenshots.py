"""Screenshots of the main windows for the docs, on the demo collection with a few trained epochs.

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshots.py [--epochs 3] [--work DIR]

Extracts the demo (4,000 Fashion-MNIST images) into ``--work`` (reused on later runs), trains
``--epochs`` epochs with the demo settings through the same runner the app uses (only the missing
ones), then opens the real windows and saves PNGs into ``docs/screenshots/``: the start page, the
new-session dialog with the folder scanned and the expected time measured, the session view on the
Clusters and Plots tabs (light and dark), a lasso on the Explore map and the same selection in the
Clusters grid, the Plots tab of a session not trained yet, and the session view while training runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT = 1360, 860


def wait(app: object, seconds: float, until: Callable[[], bool] | None = None) -> None:
    """Run the event loop for up to ``seconds`` (less if ``until()`` becomes true)."""
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        if until is not None and until():
            return
        time.sleep(0.02)


def train_offline(path: Path, epochs: int) -> None:
    """Bring the session to ``epochs`` epochs with the app's runner (printing progress)."""
    from dcgui.core.events import EpochFinished
    from dcgui.services import training as runner
    from dcgui.store import SessionStore

    with SessionStore.open(path) as store:
        if store.last_epoch() >= epochs:
            return
        for ev in runner.iter_train(store, epochs=epochs):
            if isinstance(ev, EpochFinished):
                m = ev.metrics
                print(f"  epoch {m.epoch}: loss {m.loss:.3f}, NMI labels {m.nmi_labels}, {m.seconds:.0f} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs trained before the screenshots")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dcgui-screenshots"),
                        help="where the demo images, session and settings live (reused)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ["XDG_DATA_HOME"] = str(args.work / "userdata")  # keep the user's own data dir clean

    from PySide6.QtCore import QSettings

    from dcgui.core.images.demo import extract_demo
    from dcgui.gui.app import create_application

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(args.work / "settings"))
    app = create_application()
    QSettings().clear()

    from dcgui.gui import main_window, theme
    from dcgui.gui.explore import TAB_MAP
    from dcgui.gui.main_window import TAB_CLUSTERS, TAB_EXPLORE, TAB_PLOTS, MainWindow
    from dcgui.gui.new_session import NewSessionDialog
    from dcgui.gui.start_page import RecentSessions
    from dcgui.store import SessionStore

    print("extracting the demo…", flush=True)
    folder = extract_demo()
    session = main_window.demo_session_path()
    if not session.exists():
        SessionStore.create(session, folder, main_window.demo_config("cpu")).close()
    print(f"training {args.epochs} epochs of {session} …", flush=True)
    train_offline(session, args.epochs)

    def save(widget: object, name: str) -> None:
        path = args.out / name
        widget.grab().save(str(path))  # type: ignore[attr-defined]
        print(f"wrote {path}", flush=True)

    theme.apply_theme(app, "light", persist=False)
    RecentSessions.add(args.work / "holiday-2019.dcgui")  # a moved file: shown greyed out
    RecentSessions.add(session)
    window = MainWindow(icon=app.windowIcon())
    window.resize(WIDTH, HEIGHT)
    window.show()
    wait(app, 1.0)
    save(window, "start_page.png")

    dialog = NewSessionDialog(window, folder=folder)
    dialog.show()
    wait(app, 60, lambda: dialog.scan_result is not None and not dialog.scanning)
    dialog.form.advanced_button.setChecked(True)  # show the advanced fields too
    dialog.adjustSize()
    wait(app, 120, lambda: dialog.expected.seconds is not None)
    wait(app, 0.5)
    save(dialog, "new_session.png")
    dialog.reject()

    window.open_session(session)
    window.view.tabs.setCurrentIndex(TAB_CLUSTERS)
    wait(app, 8.0)  # thumbnails and mosaics load in the background
    save(window, "clusters.png")
    window.view.tabs.setCurrentIndex(TAB_PLOTS)
    wait(app, 1.5)
    save(window, "plots.png")
    theme.apply_theme(app, "dark", persist=False)
    wait(app, 1.5)
    save(window, "plots_dark.png")
    window.view.tabs.setCurrentIndex(TAB_CLUSTERS)
    wait(app, 3.0)
    save(window, "clusters_dark.png")
    theme.apply_theme(app, "light", persist=False)

    # A lasso on the map (UMAP of the last epoch, computed in the background, cached on disk)
    # selects the same images in the Clusters grid and shows the first in the image pane.
    window.view.tabs.setCurrentIndex(TAB_EXPLORE)
    explore = window.view.explore
    explore.tabs.setCurrentIndex(TAB_MAP)
    wait(app, 1800, lambda: explore.map.coords is not None and not explore.busy)
    coords = explore.map.coords
    if coords is not None:
        import numpy as np

        centre = np.median(coords, axis=0)
        r = float(np.sort(np.linalg.norm(coords - centre, axis=1))[300])
        t = np.linspace(0, 2 * np.pi, 40)
        lasso = np.stack([centre[0] + r * np.cos(t), centre[1] + r * np.sin(t)], axis=1)
        explore.map.map_view.set_mode("lasso")
        explore.map.map_view._show_outline(lasso)
        explore.map.map_view.select_polygon(lasso)
        wait(app, 4.0)
        save(window, "map_selection.png")
        explore.map.show_in_grid_button.click()
        wait(app, 4.0)
        save(window, "map_selection_grid.png")
        window.model.clear_selection()

    # A session not trained yet: the plots say what they will show.
    fresh = args.work / "fresh.dcgui"
    if not fresh.exists():
        SessionStore.create(fresh, folder, main_window.demo_config("cpu")).close()
    window.open_session(fresh)
    window.view.tabs.setCurrentIndex(TAB_PLOTS)
    wait(app, 1.5)
    save(window, "plots_empty.png")
    window.open_session(session)

    # One more epoch, live: the panel's progress bars in the middle of the training phase.
    window.view.tabs.setCurrentIndex(TAB_PLOTS)
    window.training.start(args.epochs + 1)
    wait(app, 600, lambda: window.training.phase_label.text().count("Training:") > 0
         and window.training.phase_bar.value() > window.training.phase_bar.maximum() // 3)
    wait(app, 0.3)
    save(window, "training.png")
    window.training.stop()
    wait(app, 120, lambda: not window.training.is_busy)
    window.close()
    wait(app, 0.5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
