"""Screenshots of issue 23's views on a trained session (docs/screenshots/):

- ``river_band.png``: Plots ▸ Cluster river with a band clicked, above the Clusters grid that
  shows that band's images;
- ``map_epochs.png``: Explore ▸ Map, aligned over epochs, at the first and the last epoch;
- ``compare.png``: File ▸ Compare with… on two sessions;
- ``report.png``: ``dcgui report`` of the session rendered by headless Chromium (if installed).

    QT_QPA_PLATFORM=offscreen python scripts/show_method_screenshots.py SESSION [OTHER_SESSION]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "screenshots"


def wait(app, cond, timeout: float = 900.0) -> None:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while not cond():
        app.processEvents()
        time.sleep(0.02)
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("the view did not finish in time")


def stack(images: list, path: Path) -> None:  # type: ignore[type-arg]
    from PIL import Image

    pil = []
    for im in images:
        tmp = Path(tempfile.mkstemp(suffix=".png")[1])
        im.save(str(tmp))
        pil.append(Image.open(tmp).convert("RGB"))
    w = max(p.width for p in pil)
    h = sum(p.height for p in pil) + 6 * (len(pil) - 1)
    out = Image.new("RGB", (w, h), "white")
    y = 0
    for p in pil:
        out.paste(p, (0, y))
        y += p.height + 6
    out.save(path)


def main(argv: list[str]) -> int:
    from PySide6.QtWidgets import QApplication

    from dcgui.gui.session_model import SessionModel
    from dcgui.gui.session_view import TAB_EXPLORE, TAB_PLOTS, SessionView
    from dcgui.store import SessionStore

    session = Path(argv[0])
    app = QApplication.instance() or QApplication([])
    store = SessionStore.open(session, readonly=True)
    view = SessionView(SessionModel())
    view.resize(1400, 900)
    view.show()
    view.model.open(store, readonly=True)
    # -- river: the largest band that changes cluster, clicked
    view.tabs.setCurrentIndex(TAB_PLOTS)
    panel = view.plots.river
    view.plots.tabs.setCurrentWidget(panel)
    wait(app, lambda: panel.river is not None)
    r = panel.river
    assert r is not None
    pair = len(r.flows) // 2
    f = r.flows[pair]
    j = int(np.argmax(f.count * (f.src != f.dst)))
    view.model.set_epoch(f.epoch + 1)
    wait(app, lambda: panel.river is not None)
    panel._on_band((pair, "band", j))
    app.processEvents()
    river_shot = panel.grab()
    view.plots.tabs.setCurrentWidget(panel)
    wait(app, lambda: view.clusters.grid.grid_model().rowCount() > 0, 60)
    for _ in range(50):
        app.processEvents()
        time.sleep(0.05)
    grid_shot = view.clusters.grab()
    stack([river_shot, grid_shot], OUT / "river_band.png")
    print("river:", panel.selected_band)
    # -- the map over epochs at the first and the last epoch
    view.model.clear_selection()
    view.tabs.setCurrentIndex(TAB_EXPLORE)
    tab = view.explore.map
    view.explore.tabs.setCurrentWidget(tab)
    tab.aligned.setChecked(True)
    shots = []
    for e in (1, store.last_epoch()):
        view.model.set_epoch(e)
        wait(app, lambda: tab.coords is not None)
        for _ in range(20):
            app.processEvents()
            time.sleep(0.05)
        shots.append(view.explore.grab())
    stack(shots, OUT / "map_epochs.png")
    # -- compare
    if len(argv) > 1:
        from dcgui.gui.show_method import CompareDialog

        dialog = CompareDialog([session, Path(argv[1])])
        dialog.show()
        wait(app, lambda: dialog.comparison is not None)
        for _ in range(20):
            app.processEvents()
            time.sleep(0.05)
        dialog.grab().save(str(OUT / "compare.png"))
    # -- the report in Chromium
    browser = shutil.which("chromium")
    if browser:
        from dcgui.core.control import drain
        from dcgui.services.report import iter_report

        with tempfile.TemporaryDirectory() as tmp:
            page = Path(tmp) / "report.html"
            drain(iter_report(store, page))
            subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--user-data-dir={tmp}/profile", "--window-size=1200,4200",
                            f"--screenshot={OUT / 'report.png'}", page.as_uri()], check=True, capture_output=True,
                           timeout=180)
    view.model.open(None)
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
