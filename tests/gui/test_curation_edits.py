"""Undo / redo, merge, split and flag previews in the real window and widgets, on a real trained
session (a private copy per test) with its image cache and network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QItemSelectionModel, QSettings, Qt
from PySide6.QtWidgets import QApplication

from dcgui.gui import cluster_edits, errors
from dcgui.gui.app import set_app_identity
from dcgui.gui.cluster_list import COL_NAME
from dcgui.gui.main_window import MainWindow
from dcgui.store import SessionStore
from tests.conftest import copy_session, wait_for_edit

WAIT_MS = 120_000


@pytest.fixture
def session(curation_session: Path, tmp_path: Path) -> Path:
    return copy_session(curation_session, tmp_path)


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qapp: QApplication) -> Iterator[list[str]]:
    """Settings in tmp; error dialogs captured (a test fails on an unexpected one)."""
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    set_app_identity()
    seen: list[str] = []
    monkeypatch.setattr(errors, "_present", lambda parent, title, message, details: seen.append(message))
    yield seen
    assert seen == []


def _open(qtbot: Any, path: Path) -> MainWindow:
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.activateWindow()  # shortcuts reach the active window only
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
    assert w.open_session(path)
    return w


def test_ctrl_z_undoes_every_kind_of_edit_after_reopening(qtbot: Any, window: list[str], session: Path) -> None:
    w = _open(qtbot, session)
    model, browser = w.model, w.view.clusters
    assert not w.act_undo.isEnabled() and w.act_undo.text() == "&Undo"
    browser.grid.selectionModel().select(browser.grid_model.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    first = browser.grid_model.image_index(0)
    browser.act_keep.trigger()  # one image: at once
    assert model.flags == {first: "keep"}
    model.rename_cluster(1, "dark ones")
    model.save_group("later", [2, 3])
    assert w.act_undo.isEnabled() and w.act_undo.text() == "&Undo group “later”: 2 images"
    w.close()
    qtbot.waitUntil(lambda: not w.isVisible())

    w = _open(qtbot, session)  # closed and reopened: the log is in the session file
    model = w.model
    assert w.act_undo.text() == "&Undo group “later”: 2 images"
    qtbot.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert model.groups == {} and w.act_redo.text() == "&Redo group “later”: 2 images"
    qtbot.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert model.cluster_name(1) is None
    qtbot.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert model.cluster_name(1) == "dark ones"
    w.act_undo.trigger()
    w.act_undo.trigger()
    assert model.flags == {} and not w.act_undo.isEnabled()
    with SessionStore.open(session, readonly=True) as s:
        assert s.image_flags() == {} and s.cluster_user_data() == {} and s.image_groups() == {}
        assert [r.undone for r in s.edit_log()] == [True, True, True]
    w.close()


def test_merge_rename_split_with_preview_dissolve_and_undo(qtbot: Any, window: list[str], session: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    w = _open(qtbot, session)
    model, browser = w.model, w.view.clusters
    m, view = browser.cluster_model, browser.cluster_view
    epoch = model.epoch
    with SessionStore.open(session, readonly=True) as s:
        sizes = s.cluster_sizes(epoch)
        assign = s.assignments(epoch)
    a, b = [int(c) for c in np.argsort(-sizes, kind="stable")[1:3]]
    big = int(np.argmax(sizes))

    # merge two clusters selected in the list into "pets"
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    view.selectionModel().clearSelection()
    for c in (a, b):
        view.selectionModel().select(m.index(m.row_of_cluster(c), 0), flags)
    asked: list[tuple[list[str], int]] = []
    monkeypatch.setattr(cluster_edits, "ask_merge_name", lambda parent, titles, n: asked.append((titles, n)) or "pets")
    assert browser.edits.merge_selected_clusters()
    wait_for_edit(qtbot, model)  # a merge is applied on a worker
    # the dialog names both clusters (in the list's order, which is not what this test is about)
    assert [(sorted(t), n) for t, n in asked] == [(sorted([f"cluster {a}", f"cluster {b}"]), int(sizes[a] + sizes[b]))]
    keys = [m.key(m.cluster_at(r)) for r in range(m.rowCount())]
    assert "g1" in keys and str(a) not in keys and str(b) not in keys
    g = model.active_cluster
    assert m.key(g) == "g1" and m.title(g) == "pets"
    assert m.index(m.row_of_cluster(g), 0).data() == "pets"  # the list shows the one display name
    assert sorted(browser.grid_model.indices.tolist()) == np.flatnonzero(np.isin(assign, [a, b])).tolist()
    assert browser.cluster_title.text().startswith(f"pets — {int(sizes[a] + sizes[b])} images")

    # rename it in place (the list's name column)
    assert m.setData(m.index(m.row_of_cluster(g), COL_NAME), "animals")
    assert m.title(model.active_cluster) == "animals"
    with SessionStore.open(session, readonly=True) as s:
        assert s.group_view(epoch).find("g1").name == "animals"

    # split the biggest cluster: k-means on a worker, the parts side by side, then accept
    browser.select_cluster(big)
    monkeypatch.setattr(cluster_edits, "ask_split_parts", lambda parent, title, size: 2)
    job = browser.edits.split_current_cluster()
    assert job is not None
    assert job.wait(WAIT_MS)
    qtbot.waitUntil(lambda: job.dialog is not None, timeout=WAIT_MS)
    dialog = job.dialog
    assert len(dialog.grids) == 2 and sum(dialog.proposal.sizes) == int(sizes[big])
    assert [len(gr.image_indices()) for gr in dialog.grids] == [min(12, s) for s in dialog.proposal.sizes]
    assert set(dialog.grids[0].image_indices()) <= set(np.flatnonzero(assign == big).tolist())
    with SessionStore.open(session, readonly=True) as s:
        assert len(s.edit_log()) == 2  # nothing stored before Accept
    dialog.names[0].setText("sunny")
    dialog.accept_button.click()
    wait_for_edit(qtbot, model)
    keys = [m.key(m.cluster_at(r)) for r in range(m.rowCount())]
    assert f"{big}.1" in keys and f"{big}.2" in keys and str(big) not in keys
    assert m.key(model.active_cluster) == f"{big}.1" and m.title(model.active_cluster) == "sunny"
    assert sum(int(m.index(r, 2).data().replace(",", "")) for r in range(m.rowCount())) == len(assign)

    # dissolve the merge; then undo, undo, undo: back to the plain clusters
    browser.select_cluster(m.cluster_at([m.key(m.cluster_at(r)) for r in range(m.rowCount())].index("g1")))
    assert browser.act_dissolve.text() == "Dissolve group" and browser.edits.dissolve_current_group()
    wait_for_edit(qtbot, model)
    assert str(a) in [m.key(m.cluster_at(r)) for r in range(m.rowCount())]
    model.undo(4)
    wait_for_edit(qtbot, model)
    keys = [m.key(m.cluster_at(r)) for r in range(m.rowCount())]
    assert keys == [str(c) for c in range(len(sizes))]
    model.redo(2)  # merge and rename again
    wait_for_edit(qtbot, model)
    assert "g1" in [m.key(m.cluster_at(r)) for r in range(m.rowCount())]
    w.close()


def test_outliers_name_the_users_groups_and_bulk_flags_show_a_preview(qtbot: Any, window: list[str],
                                                                      session: Path) -> None:
    w = _open(qtbot, session)
    model = w.model
    model.merge_groups([0, 1], "first two")
    wait_for_edit(qtbot, model)
    model.rename_cluster(2, "third")
    panel = w.view.explore
    w.view.tabs.setCurrentWidget(panel)
    panel.tabs.setCurrentWidget(panel.outliers)
    panel.outliers.count.setValue(40)  # every image
    qtbot.waitUntil(lambda: panel.outliers.outliers is not None and len(panel.outliers.outliers) > 30,
                    timeout=WAIT_MS)
    captions = panel.outliers.grid.grid_model()._captions
    shown = {c.split("\n")[1] for c in captions}
    assert {"first two", "third"} <= shown and "cluster 0" not in shown and "cluster 1" not in shown
    model.rename_cluster(2, "renamed")  # names follow live
    assert "renamed" in {c.split("\n")[1] for c in panel.outliers.grid.grid_model()._captions}

    # "Flag selected as 'exclude'" on three outliers: the preview first, then Apply
    grid = panel.outliers.grid
    sel = grid.selectionModel()
    for r in range(3):
        sel.select(grid.grid_model().index(r), QItemSelectionModel.SelectionFlag.Select)
    picked = grid.selected_images()
    panel.outliers.exclude_button.click()
    dialog = panel.outliers.dialog
    assert dialog is not None and "3 × no flag → exclude" in dialog.text.text()
    assert model.flags == {}
    dialog.apply_button.click()
    wait_for_edit(qtbot, model)
    assert model.flags == dict.fromkeys(picked, "exclude")
    panel.stop()
    qtbot.waitUntil(lambda: not panel.busy, timeout=WAIT_MS)
    w.close()
