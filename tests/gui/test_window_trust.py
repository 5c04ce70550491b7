# ruff: noqa: F811  (the fixtures come from test_cluster_browser, imported below)
"""Issue 21 (the window a person can trust): one name per cluster or group, exports that refuse
the photo folder and the session file, the CSV's flags, on real widgets over a real session."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import wait_for_edit
from tests.gui.test_cluster_browser import K, browser, errors, session  # noqa: F401 (fixtures)

pytest.importorskip("pytestqt")


def _split_and_merge(qtbot: Any, model: Any, session: Any) -> tuple[int, int, int]:
    """Split cluster 2 in two, merge clusters 0 and 1 into "heels"; returns the codes of part
    2.1, of the merge and of the plain cluster 3."""
    from dcgui.store.edits import SplitCluster

    members = session.cluster_members(2, 2)
    parts = np.zeros(session.n_images, dtype=np.int64)
    parts[members[: len(members) // 2]] = 1
    assert model.apply_edit(SplitCluster(2, 2, parts)) is not None
    wait_for_edit(qtbot, model)  # a split or a merge is applied on a worker
    view = model.group_view
    assert model.merge_groups([view.find("0").code, view.find("1").code], "heels") is not None
    wait_for_edit(qtbot, model)
    view = model.group_view
    return view.find("2.1").code, view.find("g2").code, view.find("3").code


def test_one_name_per_cluster_or_group_in_the_list_the_pane_the_csv_and_the_folders(
        qtbot: Any, browser: Any, session: Any, tmp_path: Path) -> None:
    from dcgui.gui.cluster_list import COL_CLUSTER

    model = browser.model
    part, merged, plain = _split_and_merge(qtbot, model, session)
    qtbot.waitUntil(lambda: browser.cluster_model.row_of_cluster(merged) is not None, timeout=5000)
    m = browser.cluster_model
    expected = {part: "cluster 2.1", merged: "heels", plain: "cluster 3"}
    for code, name in expected.items():
        assert m.index(m.row_of_cluster(code), COL_CLUSTER).data() == name  # the list
        assert model.cluster_title(code) == name  # the grid header, the Back button, the map's legend
    # the image pane: an image of the merged group is "heels", not "cluster 0"
    i = int(model.group_view.members(merged)[0])
    browser.select_cluster(merged)
    model.set_current_image(i)
    qtbot.waitUntil(lambda: browser.image_pane.cluster_label.text() != "", timeout=5000)
    assert browser.image_pane.cluster_label.text() == "heels at epoch 2"
    assert browser.cluster_title.text().startswith("heels — ")

    # the CSV: the same names
    out = tmp_path / "a.csv"
    worker = browser.commands.export_csv(out)
    assert worker.wait(10_000)
    qtbot.waitUntil(lambda: out.exists(), timeout=5000)
    rows = list(csv.DictReader(out.open()))
    view = model.group_view
    for r, code in zip(rows, view.labels.tolist(), strict=True):
        assert r["group_name"] == view.group(code).title
    assert {r["group_name"] for r in rows} >= {"heels", "cluster 2.1", "cluster 2.2", "cluster 3"}

    # the folders: derived from the same names
    from dcgui.services.curation import plan_curation

    plan = plan_curation(session, 2, tmp_path / "sorted")
    assert not plan.error
    assert {dst.parent.name for _, dst in plan.ops} == {"heels", "cluster_0002.1", "cluster_0002.2", "cluster_0003"}


def test_exporting_into_the_photo_folder_is_refused_with_the_whole_sentence(
        qtbot: Any, browser: Any, session: Any) -> None:
    from dcgui.gui.curation import ExportClustersDialog
    from dcgui.services.curation import plan_curation

    deep = session.folder / ("a_rather_long_folder_name_without_any_spaces_in_it/" * 6) / "sorted"
    dialog = ExportClustersDialog(browser, session, 2, ["0", "1"])
    qtbot.addWidget(dialog)
    dialog.show()  # shown with the one-line hint, as a person opens it
    qtbot.waitExposed(dialog)
    dialog.set_target(deep)  # then types the folder
    qtbot.waitUntil(lambda: not dialog.planning and dialog.plan is not None, timeout=10_000)  # planned on a worker
    cli = plan_curation(session, 2, deep, "copy")  # the function the command line uses
    assert cli.error and "inside the photo folder" in cli.error and "refused" in cli.error
    assert cli.error in dialog.summary.text()  # the same sentence
    assert not dialog.export_button.isEnabled()
    qtbot.wait(50)  # the layout settles
    # the whole sentence visible: the label is as tall as its wrapped text needs
    assert dialog.summary.height() >= dialog.summary.heightForWidth(dialog.summary.width())
    assert not deep.exists()


def test_the_csv_carries_flags_and_who_set_them_and_refuses_the_session_file(
        qtbot: Any, browser: Any, session: Any, errors: list[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    from dcgui.gui import curation
    from dcgui.services.flags import BULK, flag_edit

    model = browser.model
    model.set_flag([0], "keep")  # by hand
    model.apply_edit(flag_edit([1, 2], "exclude", BULK, "a rule"), quiet=True)
    wait_for_edit(qtbot, model)
    out = tmp_path / "flags.csv"
    worker = browser.commands.export_csv(out)
    assert worker.wait(10_000)
    qtbot.waitUntil(lambda: out.exists(), timeout=5000)
    rows = list(csv.DictReader(out.open()))
    assert [(r["flag"], r["flag_set_by"]) for r in rows[:4]] == [("keep", "hand"), ("exclude", "bulk"),
                                                                   ("exclude", "bulk"), ("", "")]

    # The session file picked in the save dialog: refused by name, nothing written beside it
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(session.path), "")))
    assert curation.ask_save_path(None, tmp_path / "x.csv") == session.path
    before = sorted(p.name for p in session.path.parent.iterdir())
    assert browser.commands.export_csv() is None
    assert errors and "session file" in errors[-1] and session.path.name in errors[-1]
    assert sorted(p.name for p in session.path.parent.iterdir()) == before  # no s.dcgui.csv


def test_the_grids_keep_on_a_selection_is_a_bulk_edit_that_spares_hand_set_flags(
        qtbot: Any, browser: Any, session: Any) -> None:
    from PySide6.QtWidgets import QDialogButtonBox

    model = browser.model
    browser.select_cluster(0)
    members = [int(i) for i in model.group_view.members(0)[:3]]
    model.set_flag([members[0]], "exclude")  # one image: by hand, at once
    assert session.image_flag_sources()[members[0]] == ("exclude", "hand")
    browser.grid.select_images(members, members[0])
    assert sorted(browser.selected_images()) == sorted(members)
    browser.commands.flag_selected("keep")  # the grid's Keep (K) on three images
    dialog = browser.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.include_hand.isVisible() and not dialog.include_hand.isChecked()
    assert "1 flag you set by hand left as they are" in dialog.text.text()
    dialog.buttons.button(QDialogButtonBox.StandardButton.Apply).click()
    wait_for_edit(qtbot, model)
    flags = session.image_flag_sources()
    assert flags[members[0]] == ("exclude", "hand")  # unticked: the earlier hand-set flag stays
    assert flags[members[1]] == flags[members[2]] == ("keep", "bulk")

    browser.grid.select_images(members, members[0])
    browser.commands.flag_selected("duplicate")
    browser.dialog.include_hand.setChecked(True)  # ticked: replaced too
    browser.dialog.buttons.button(QDialogButtonBox.StandardButton.Apply).click()
    wait_for_edit(qtbot, model)
    assert {session.image_flags()[i] for i in members} == {"duplicate"}


def test_a_flag_edit_updates_the_views_from_its_own_rows(qtbot: Any, browser: Any, session: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from dcgui.gui.thumbnail_grid import FlagRole
    from dcgui.services.flags import BULK, flag_edit

    model = browser.model
    model.set_flag([3], "keep")  # by hand: a bulk edit leaves it
    reads: list[int] = []
    real = session.image_flags
    monkeypatch.setattr(session, "image_flags", lambda: reads.append(1) or real())
    with qtbot.waitSignal(model.flagsChanged) as heard:
        model.apply_edit(flag_edit(range(6), "exclude", BULK, "a rule"), quiet=True)
    assert reads == []  # no re-read of every flag on the GUI thread
    assert heard.args == [[0, 1, 2, 4, 5]]  # exactly the images whose flag changed
    assert model.flags == real() == {0: "exclude", 1: "exclude", 2: "exclude", 3: "keep", 4: "exclude", 5: "exclude"}
    rows = browser.grid_model
    for r in range(rows.rowCount()):
        i = rows.image_index(r)
        assert rows.index(r).data(FlagRole) == real().get(i)  # the grid shows the same
    model.undo()  # five rows: on a worker too
    wait_for_edit(qtbot, model)
    assert model.flags == real() == {3: "keep"}


def _row_point(view: Any, row: int) -> Any:
    return view.visualRect(view.model().index(row, 2)).center()  # the size column: no editor on a click


def _click(qtbot: Any, view: Any, row: int, modifier: Any = None, button: Any = None) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    QTest.mouseClick(view.viewport(), button or Qt.MouseButton.LeftButton,
                     modifier or Qt.KeyboardModifier.NoModifier, _row_point(view, row))
    qtbot.wait(20)


def test_several_clusters_are_selected_as_in_a_file_manager(qtbot: Any, browser: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QMenu

    view, m = browser.cluster_view, browser.cluster_model
    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    code = [m.cluster_at(r) for r in range(m.rowCount())]
    _click(qtbot, view, 0)
    assert browser.selected_clusters() == [code[0]] and browser.model.active_cluster == code[0]
    _click(qtbot, view, 2, ctrl)  # Ctrl+click adds
    assert browser.selected_clusters() == [code[0], code[2]]
    assert browser.model.selected_clusters == [code[0], code[2]]
    _click(qtbot, view, 3, ctrl)
    assert browser.selected_clusters() == [code[0], code[2], code[3]]
    _click(qtbot, view, 2, ctrl)  # Ctrl+click on a selected row takes it out
    assert browser.selected_clusters() == [code[0], code[3]]
    _click(qtbot, view, 0)
    _click(qtbot, view, 2, shift)  # Shift+click: the range
    assert browser.selected_clusters() == code[0:3]
    assert browser.action_registry.action("clusters.merge").isEnabled()

    # right-click on a selected row that is not the current one keeps the selection
    shown: list[QMenu] = []
    monkeypatch.setattr(QMenu, "popup", lambda self, *a: shown.append(self))
    _click(qtbot, view, 1, button=Qt.MouseButton.RightButton)
    view.customContextMenuRequested.emit(_row_point(view, 1))  # offscreen: the menu event is not synthesised
    assert browser.selected_clusters() == code[0:3]
    assert shown and browser.action_registry.action("clusters.merge").isEnabled()

    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_A, ctrl)  # Ctrl+A selects every row
    assert browser.selected_clusters() == code


def test_the_grid_selects_as_a_file_manager_too(qtbot: Any, browser: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QMenu

    grid, gm = browser.grid, browser.grid_model
    browser.select_cluster(0)
    qtbot.waitUntil(lambda: gm.rowCount() >= 4, timeout=5000)
    images = [gm.image_index(r) for r in range(gm.rowCount())]

    def click(row: int, modifier: Any = Qt.KeyboardModifier.NoModifier, button: Any = Qt.MouseButton.LeftButton) -> None:
        QTest.mouseClick(grid.viewport(), button, modifier, grid.visualRect(gm.index(row)).center())
        qtbot.wait(20)

    click(0)
    click(2, Qt.KeyboardModifier.ControlModifier)
    assert sorted(browser.selected_images()) == sorted([images[0], images[2]])
    click(3, Qt.KeyboardModifier.ShiftModifier)
    assert sorted(browser.selected_images()) == sorted(images[0:1] + images[2:4])
    monkeypatch.setattr(QMenu, "popup", lambda self, *a: None)
    click(2, button=Qt.MouseButton.RightButton)  # a selected row that is not the current one
    assert sorted(browser.selected_images()) == sorted(images[0:1] + images[2:4])
    grid.setFocus()
    QTest.keyClick(grid, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert sorted(browser.selected_images()) == sorted(images)


def _pane_in_grid(browser: Any) -> bool:
    shown = browser.image_pane.image_index
    return shown is None or browser.grid_model.row_of(shown) is not None


def test_the_image_pane_never_shows_an_image_the_grid_does_not(qtbot: Any, browser: Any, session: Any) -> None:
    model = browser.model
    # another epoch: image 0 is in cluster 0 at epoch 2 and in cluster 4 at epoch 1 (the fixture)
    browser.select_cluster(0)
    model.set_current_image(0)
    qtbot.waitUntil(lambda: browser.image_pane.image_index == 0, timeout=5000)
    assert int(session.assignments(1)[0]) == 4 and model.active_cluster == 0
    model.set_epoch(1)  # typing another epoch, or a new one arriving while following
    assert model.active_cluster == 0 and browser.grid_model.row_of(0) is None
    assert _pane_in_grid(browser)

    # "Back to cluster N" after a selection made on the map
    model.set_epoch(2)
    browser.select_cluster(1)
    outside = int(session.cluster_members(2, 3)[0])
    model.select_images([outside], "map", current=outside)
    qtbot.waitUntil(lambda: browser.showing_selection and browser.image_pane.image_index == outside, timeout=5000)
    browser.back_button.click()
    assert not browser.showing_selection and browser.grid_model.row_of(outside) is None
    assert _pane_in_grid(browser)

    # a new epoch arriving while following live moves the image to another cluster
    from tests.gui.test_cluster_browser import epoch_event

    browser.select_cluster(2)
    inside = int(session.cluster_members(2, 2)[0])
    model.set_current_image(inside)
    qtbot.waitUntil(lambda: browser.image_pane.image_index == inside, timeout=5000)
    moved = session.assignments(2).copy()
    moved[inside] = 3
    session.record_epoch(epoch_event(3, moved))
    model.set_follow_live(True)
    model.refresh()
    assert model.epoch == 3 and model.active_cluster == 2
    assert _pane_in_grid(browser)


def test_the_browser_keeps_the_group_across_epochs_and_forgets_a_set_aside_run(
        qtbot: Any, browser: Any, session: Any) -> None:
    from tests.gui.test_cluster_browser import epoch_event

    model = browser.model
    # a split made at epoch 2: at epoch 1 its part is cluster 2 again, not whatever code it had
    from dcgui.store.edits import SplitCluster

    members = session.cluster_members(2, 2)
    parts = np.zeros(session.n_images, dtype=np.int64)
    parts[members[:3]] = 1
    assert model.apply_edit(SplitCluster(2, 2, parts)) is not None
    wait_for_edit(qtbot, model)
    part = model.group_view.find("2.2").code
    browser.select_cluster(part)
    model.set_epoch(1)  # before the split
    assert browser.cluster_model.key(model.active_cluster) == "2"
    model.set_epoch(2)
    assert browser.cluster_model.key(model.active_cluster) == "2.2"  # the part chosen, again

    # Resume from epoch 1: epoch 2 is set aside and trained again, differently
    sizes_before = browser.stats().sizes.copy()
    session.archive_epochs_after(1)
    model.refresh()
    again = np.zeros(session.n_images, dtype=np.int64)  # every image in cluster 0 now
    session.record_epoch(epoch_event(2, again))
    model.refresh()
    model.set_epoch(2)
    assert model.epoch == 2
    stats = browser.stats()
    assert int(stats.sizes[0]) == session.n_images != int(sizes_before[0])  # not the archived run's numbers
    assert browser.grid_model.rowCount() == int(stats.sizes[model.active_cluster])


def test_a_selection_made_elsewhere_is_named_with_its_source_and_cleared_in_one_click(
        qtbot: Any, browser: Any, session: Any) -> None:
    from dcgui.gui.explore.common import GridSelectionLink
    from dcgui.gui.thumbnail_grid import ThumbnailGrid

    model = browser.model
    chosen = list(range(10))  # a lasso on the map
    model.select_images(chosen, "map")
    assert browser.showing_selection and browser.clear_button.isVisible()
    assert browser.cluster_title.text() == "Selection: 10 images chosen on the map"

    # another tab's grid shows 2 of them: it says so, and where they come from
    grid = ThumbnailGrid(browser.thumbnails)
    qtbot.addWidget(grid)
    link = GridSelectionLink(grid, model, "outliers")
    link.show([1, 3, 11, 12])
    assert not link.banner.isHidden()
    assert link.banner_text.text() == "2 of the 10 images chosen on the map are selected here."

    # a bulk action names what it acts on
    browser.commands.flag_selected("keep")
    assert browser.dialog is not None and browser.dialog.what.text() == "The 10 images chosen on the map"
    browser.dialog.reject()

    browser.clear_button.click()  # one click: no selection anywhere
    assert model.selection == () and not browser.showing_selection and not browser.clear_button.isVisible()
    assert link.banner.isHidden() and grid.selected_images() == []


def test_rename_edits_the_one_name_in_the_list(qtbot: Any, browser: Any, session: Any) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QLineEdit

    browser.select_cluster(1)
    browser.commands.rename_current_cluster()  # Rename… (the menu, F2)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QLineEdit) and editor.text() == ""  # the user's name, not "cluster 1"
    editor.setText("squares")
    m = browser.cluster_model
    m.dataChanged.emit(m.index(m.row_of_cluster(1), 0), m.index(m.row_of_cluster(1), 0))  # a mosaic arrives
    assert editor.text() == "squares"  # what the user typed stays
    QTest.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: session.cluster_user_data().get(1, {}).get("name") == "squares", timeout=5000)
    assert m.index(m.row_of_cluster(1), 0).data() == "squares"
    assert browser.cluster_title.text().startswith("squares — ")
