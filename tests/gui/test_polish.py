"""Issue 21 item 13, offscreen: the image pane's History strip has a legend and says "once", the
Explore progress names its phase in full beside the bar (no "Computing features 70%" cut off),
and a phase without a count (the map's first layout) shows a busy bar instead of 0 %."""

from __future__ import annotations

from typing import Any

import numpy as np

from dcgui.core.events import PHASE_FEATURES, PHASE_MAP_GRAPH, PhaseProgress
from dcgui.gui.explore import ExplorePanel
from dcgui.gui.image_pane import ImagePane, cluster_colour
from dcgui.gui.session_images import SessionImages
from dcgui.gui.session_model import SessionModel


def test_history_strip_has_a_legend_and_counts_in_words(qtbot: Any) -> None:
    pane = ImagePane()
    qtbot.addWidget(pane)
    history = np.array([3, 3, 7, 7, 7], np.int32)
    pane.show_image(0, {"path": "a.png", "size": 10, "width": 4, "height": 4}, history, 5, 7,
                    lambda c: f"cluster {c}")
    legend = pane.history_legend.text()
    assert "cluster 3 ep. 1–2" in legend and "cluster 7 ep. 3–5" in legend and "outlined" in legend
    assert cluster_colour(7).name() in legend  # the swatch has the strip's colour
    assert pane.history.toolTip().endswith("It changed cluster once.")
    pane.show_image(0, {"path": "a.png"}, np.array([1, 2, 1], np.int32), 3, 1)
    assert pane.history.toolTip().endswith("It changed cluster 2 times.")
    pane.clear()
    assert pane.history_legend.text() == ""


def test_explore_progress_shows_the_phase_in_full(qtbot: Any) -> None:
    model = SessionModel()
    images = SessionImages(model)
    panel = ExplorePanel(model, images.thumbnails)
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    panel._set_busy(True)
    panel._on_progress(PhaseProgress(PHASE_FEATURES, 70, 100))
    qtbot.wait(50)
    label = panel.progress_label
    assert label.text() == "Computing features" and panel.progress.text() == "70%"
    assert label.width() >= label.fontMetrics().horizontalAdvance(label.text())  # not cut
    panel._on_progress(PhaseProgress(PHASE_MAP_GRAPH, 0, 0))
    assert panel.progress.maximum() == 0 and "first layout" in label.text()  # busy, not "0 %"


def test_typing_an_export_folder_plans_once_on_a_worker(qtbot: Any, tmp_path) -> None:
    """Each plan lstat()s every image: typing a folder name plans once the field rests, on a
    worker, never once per keystroke on the GUI thread (issue 21 item 13)."""
    import threading

    from dcgui.core.config import TrainConfig
    from dcgui.gui import curation
    from dcgui.store import SessionStore
    from tests.gui.test_session_model import K, N, _epoch, _Record

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(N):
        (photos / f"img{i:02d}.png").write_bytes(b"x" * 100)
    store = SessionStore.create(tmp_path / "s.dcgui", photos, TrainConfig(k=K))
    try:
        store.set_images([_Record(f"img{i:02d}.png", 100, 1, None) for i in range(N)], [])  # type: ignore[arg-type]
        store.record_epoch(_epoch(1))
        threads: list[threading.Thread] = []
        real = curation.plan_curation

        def counted(*a: Any, **k: Any) -> Any:
            threads.append(threading.current_thread())
            return real(*a, **k)

        curation.plan_curation = counted  # type: ignore[assignment]
        try:
            dialog = curation.ExportClustersDialog(None, store, 1, ["0", "1"])
            qtbot.addWidget(dialog)
            target = str(tmp_path / "sorted_photos")
            for i in range(1, len(target) + 1):  # typed, one key at a time
                dialog.target.setText(target[:i])
            assert not threads and dialog.planning and not dialog.export_button.isEnabled()
            qtbot.waitUntil(lambda: not dialog.planning, timeout=10_000)
            assert len(threads) == 1 and threads[0] is not threading.main_thread()
            assert dialog.plans_made == 1 and dialog.plan is not None and dialog.plan.out_dir == tmp_path / "sorted_photos"
            assert dialog.export_button.isEnabled() and "files" in dialog.summary.text()
        finally:
            curation.plan_curation = real  # type: ignore[assignment]
    finally:
        store.close()
