"""The whole session page offscreen (real widgets, one model): a selection made in one view shows
in every other, and the views never need to know about each other."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel

from dcgui.gui.session_view import TAB_CLUSTERS, TAB_EXPLORE, SessionView
from tests.conftest import wait_for_edit
from tests.gui.test_cluster_browser import errors, session, view  # noqa: F401  (fixtures)

pytest.importorskip("pytestqt")


def _map_points(sv: SessionView, n: int) -> np.ndarray:
    """A 2-D map as the map job would deliver it: image i at (i, i mod 3)."""
    coords = np.stack([np.arange(n, dtype=float), np.arange(n) % 3], axis=1)
    sv.explore.map.map_view.set_points(coords)
    return coords


def test_a_lasso_on_the_map_shows_its_images_in_the_grid_and_the_pane(qtbot: Any, view: SessionView,  # noqa: F811
                                                                       session: Any) -> None:  # noqa: F811
    model, browser = view.model, view.clusters
    n = session.n_images
    _map_points(view, n)
    view.tabs.setCurrentIndex(TAB_EXPLORE)
    # Images 2..9 span several clusters (cluster = label at epoch 2, 6 images per class).
    box = np.array([[1.5, -1.0], [9.5, -1.0], [9.5, 3.0], [1.5, 3.0]])
    view.explore.map.map_view.select_polygon(box)
    chosen = list(range(2, 10))
    assert sorted(model.selection) == chosen and model.selection_source == "map"
    # The cluster browser's grid lists the selection, all selected; the pane shows the first.
    assert browser.showing_selection and sorted(browser.grid.image_indices()) == chosen
    assert sorted(browser.selected_images()) == chosen
    assert "Selection: 8 images chosen on the map" in browser.cluster_title.text()
    assert browser.image_pane.image_index == model.current_image == model.selection[0]
    # The map tab lists them too; "Show in the grid" switches to the Clusters tab.
    assert sorted(view.explore.map.selection_grid.image_indices()) == chosen
    view.explore.map.show_in_grid_button.click()
    assert view.tabs.currentIndex() == TAB_CLUSTERS
    # Flagging the selection in the browser writes the store and badges every view.
    browser.grid.setFocus()
    browser.act_exclude.trigger()
    assert session.image_flags() == {}  # eight images: the preview first
    assert "8 × no flag → exclude" in browser.dialog.text.text()
    browser.dialog.apply_button.click()
    wait_for_edit(qtbot, model)  # eight images: applied on a worker
    assert session.image_flags() == {i: "exclude" for i in chosen}
    # Back to the cluster: its members again, the selection cleared of other clusters' images.
    browser.back_button.click()
    assert not browser.showing_selection
    c = model.active_cluster
    assert browser.grid.image_indices() == session.cluster_members(2, c).tolist()


def test_a_selection_in_the_grid_is_outlined_on_the_map(qtbot: Any, view: SessionView, session: Any) -> None:  # noqa: F811
    model, browser = view.model, view.clusters
    _map_points(view, session.n_images)
    gm = browser.grid_model
    sel = browser.grid.selectionModel()
    sel.select(gm.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    sel.select(gm.index(1), QItemSelectionModel.SelectionFlag.Select)
    picked = [gm.image_index(0), gm.image_index(1)]
    assert list(model.selection) == picked and model.selection_source == "grid"
    assert view.explore.map.map_view.selected() == sorted(picked)
    assert view.explore.map.selection_label.text() == "2 images chosen in the grid"  # with where it was made
    assert not browser.showing_selection  # the grid keeps showing the cluster it was selected in


def test_selecting_a_cluster_clears_an_image_of_another_cluster_from_the_pane(qtbot: Any, view: SessionView,  # noqa: F811
                                                                              session: Any) -> None:  # noqa: F811
    model, browser = view.model, view.clusters
    model.set_active_cluster(0)
    first = browser.grid_model.image_index(0)
    browser.grid.setCurrentIndex(browser.grid_model.index(0))
    assert browser.image_pane.image_index == first
    model.set_active_cluster(1)
    assert browser.grid.image_indices() == session.cluster_members(2, 1).tolist()
    assert browser.image_pane.image_index is None  # not an image of cluster 0 beside cluster 1
    assert browser.image_pane.history._empty_text == ""  # and no "no epoch yet" under nothing


def test_the_filter_never_leaves_a_hidden_cluster_in_the_grid(qtbot: Any, view: SessionView, session: Any) -> None:  # noqa: F811
    model, browser = view.model, view.clusters
    model.rename_cluster(3, "crosses")
    model.set_active_cluster(0)
    browser.cluster_panel.filter_edit.setText("crosses")
    assert model.active_cluster == 3
    assert browser.grid.image_indices() == session.cluster_members(2, 3).tolist()
    assert browser.cluster_title.text().startswith("crosses")
    browser.cluster_panel.filter_edit.setText("no such cluster")
    assert browser.grid_model.rowCount() == 0 and "No cluster matches" in browser.cluster_title.text()


def test_a_cluster_goes_by_one_name_everywhere(qtbot: Any, view: SessionView, session: Any) -> None:  # noqa: F811
    from dcgui.gui.cluster_list import COL_CLUSTER

    model, browser = view.model, view.clusters
    model.set_active_cluster(2)
    assert browser.cluster_title.text().startswith("cluster 2 — 6 images")
    model.rename_cluster(2, "Crosses")
    assert browser.cluster_title.text().startswith("Crosses — 6 images")
    browser.grid.setCurrentIndex(browser.grid_model.index(0))
    assert browser.image_pane.cluster_label.text() == "Crosses at epoch 2"
    m = browser.cluster_model
    tip = m.index(m.row_of_cluster(2), COL_CLUSTER).data(3)  # ToolTipRole
    assert tip.startswith("Crosses (cluster 2): 6 images at epoch 2")
    assert m.index(m.row_of_cluster(2), COL_CLUSTER).data() == "Crosses"  # the list's one name
    # The map names its colours (legend, hover) the same way.
    coords = _map_points(view, session.n_images)
    view.explore.map._show_map(coords)
    assert view.explore.map.map_view._colour_names[2] == "Crosses"
