"""The cluster river in the Plots tab (real widgets on a real session): a click on a band makes
its images (A at epoch t -> B at t + 1) the shared selection, shown in the Clusters grid; the
grey stubs select the images of the smaller flows; drawing 4,000 images x 20 epochs is fast."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from dcgui.core.analysis.river import river
from dcgui.gui.river import RiverView, describe
from dcgui.gui.session_view import TAB_CLUSTERS, TAB_PLOTS, SessionView
from tests.gui.test_cluster_browser import errors, session, view  # noqa: F401  (fixtures)

pytest.importorskip("pytestqt")


def _click(panel: Any, key: tuple[int, str, int]) -> None:
    rv: RiverView = panel.view
    pos = rv.mapFromScene(panel.band_point(key))
    assert rv.key_at(pos) == key
    QTest.mouseClick(rv.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)


def test_a_band_click_shows_its_images_in_the_clusters_grid(qtbot: Any, view: SessionView, session: Any) -> None:  # noqa: F811
    view.tabs.setCurrentIndex(TAB_PLOTS)
    panel = view.plots.river
    view.plots.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.river is not None, timeout=20_000)
    a, b = session.assignments(1), session.assignments(2)
    # the band 4 -> 0 holds the images of class 0 that epoch 1 had put in cluster 4
    f = panel.river.flows[0]
    j = int(np.flatnonzero((f.src == 4) & (f.dst == 0))[0])
    expected = np.flatnonzero((a == 4) & (b == 0)).tolist()
    assert expected and int(f.count[j]) == len(expected)
    assert "cluster 4 (epoch 1) → cluster 0 (epoch 2)" in describe(panel.river, (0, "band", j))
    qtbot.waitUntil(lambda: panel.view.isVisible())
    panel.view.fit()
    _click(panel, (0, "band", j))
    assert panel.view.highlight is not None
    assert sorted(view.model.selection) == expected and view.model.selection_source == "river"
    assert view.tabs.currentIndex() == TAB_CLUSTERS
    browser = view.clusters
    # the images are in cluster 0 at the shown epoch 2: its grid, with exactly them selected
    assert sorted(browser.selected_images()) == expected
    assert set(expected) <= set(browser.grid.image_indices())
    # a band into a cluster the grid does not show lists the band's images alone
    view.model.set_epoch(1)
    browser.show_active_cluster()
    f = panel.river.flows[0]
    j = int(np.argmax(f.count * (f.src != f.dst)))
    expected = np.flatnonzero((a == int(f.src[j])) & (b == int(f.dst[j]))).tolist()
    view.model.set_active_cluster(int(f.dst[j]) if int(f.dst[j]) != int(f.src[j]) else None)
    _click(panel, (0, "band", j))
    assert sorted(view.model.selection) == expected
    if browser.showing_selection:
        assert sorted(browser.grid.image_indices()) == expected
        assert "in a band of the cluster river" in browser.cluster_title.text()


def test_few_bands_leave_stubs_that_select_the_rest(qtbot: Any, view: SessionView, session: Any) -> None:  # noqa: F811
    panel = view.plots.river
    panel.bands.setValue(2)  # reloads
    qtbot.waitUntil(lambda: panel.river is not None and len(panel.river.flows[0].src) <= 2, timeout=20_000)

    f = panel.river.flows[0]
    if not len(f.out_cluster):
        pytest.fail("the session has more than 2 flows: there must be stubs")
    j = 0
    _click(panel, (0, "out", j))
    a = session.assignments(1)
    assert len(view.model.selection) == int(f.out_count[j])
    assert (a[list(view.model.selection)] == int(f.out_cluster[j])).all()


def test_drawing_4000_images_20_epochs_takes_under_a_second(qtbot: Any) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 50, 4000)
    arrays = [x]
    for _ in range(19):
        x = np.where(rng.random(4000) < 0.2, rng.integers(0, 50, 4000), x)
        arrays.append(x)
    rv = RiverView()
    qtbot.addWidget(rv)
    t0 = time.perf_counter()
    r = river(arrays, 50)
    n_items = rv.set_river(r)
    rv.grab()  # painted once
    seconds = time.perf_counter() - t0
    assert n_items <= 19 * 11 + 20 * 2  # a few paths per epoch pair, not one item per band
    assert seconds < 3.0  # 1 s unloaded (benchmarks/bench_river.py); CI machines are shared
