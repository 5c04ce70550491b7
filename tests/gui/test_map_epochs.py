"""The map over epochs (Explore ▸ Map, "Aligned over epochs" and Play) on a real trained
session: each epoch's map is computed once on a worker, aligned with its neighbour, cached on
disk and in the tab, so moving back is instant; Play steps through the epochs and stops."""

from __future__ import annotations

import numpy as np

from dcgui.core.analysis.align2d import procrustes
from dcgui.gui.explore import TAB_MAP, ExplorePanel
from dcgui.services.maps import aligned_map_path
from tests.gui.test_explore_panel import WAIT_MS, panel, session, store  # noqa: F401  (fixtures)


def test_aligned_maps_play_and_come_back_instantly(qtbot, panel: ExplorePanel, store) -> None:  # noqa: F811
    tab = panel.map
    tab.aligned.setChecked(True)
    panel.show()
    panel.tabs.setCurrentIndex(TAB_MAP)
    qtbot.waitUntil(lambda: tab.coords is not None, timeout=WAIT_MS)
    second = tab.coords.copy()
    assert aligned_map_path(store, 2).is_file() and tab.map_view.point_count == store.n_images
    panel.model.set_epoch(1)
    qtbot.waitUntil(lambda: tab.coords is not None, timeout=WAIT_MS)
    first = tab.coords.copy()
    assert aligned_map_path(store, 1).is_file()
    # epoch 1 was rotated onto epoch 2's layout: aligning it again changes (almost) nothing
    spread = np.abs(second - second.mean(0)).mean()
    assert np.abs(procrustes(first, second) - first).mean() < 0.05 * spread
    panel.model.set_epoch(2)
    assert tab.coords is not None and np.array_equal(tab.coords, second)  # from the tab's cache: no job
    tab.play_button.setChecked(True)  # at the last epoch: starts from epoch 1
    assert panel.model.epoch == 1
    qtbot.waitUntil(lambda: not tab.play_button.isChecked(), timeout=WAIT_MS)
    assert panel.model.epoch == 2 and "aligned" in tab.status
