"""The action registry: every command once, in its menu with its shortcut, listed in Help ▸ Keyboard
shortcuts, and enabled by rules that follow the model (a real SQLite session, real widgets offscreen)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMenu

from dcgui.core.config import TrainConfig
from dcgui.gui.actions import ACTIONS, BROWSER, GRID, WINDOW, ActionRegistry, key_text, registry_for
from dcgui.gui.app import set_app_identity
from dcgui.gui.main_window import MainWindow
from dcgui.gui.session_model import SessionModel
from dcgui.store import SessionStore
from tests.gui.test_session_model import K, N, _epoch, _Record


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, qapp: QApplication) -> Iterator[MainWindow]:
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    set_app_identity()
    w = MainWindow()
    qtbot.addWidget(w)
    yield w


def _menu_actions(menu: QMenu) -> list[QAction]:
    out: list[QAction] = []
    for a in menu.actions():
        sub = a.menu()
        out.extend(_menu_actions(sub) if isinstance(sub, QMenu) else [a])
    return out


def _keys(a: QAction) -> list[str]:
    return [s.toString(QKeySequence.SequenceFormat.NativeText) for s in a.shortcuts()]


def test_each_window_action_is_in_a_menu_with_its_shortcut(window: MainWindow) -> None:
    reg = window.action_registry
    assert reg is registry_for(window.model)  # one registry per model: the views share its QActions
    in_menus: list[QAction] = []
    for top in window.menuBar().actions():
        menu = top.menu()
        assert isinstance(menu, QMenu)
        in_menus.extend(_menu_actions(menu))
    window_specs = [s for s in ACTIONS if s.scope == WINDOW]
    assert len(window_specs) >= 20
    for spec in window_specs:
        a = reg.action(spec.id)
        assert a in in_menus, spec.id
        assert _keys(a) == [key_text(k) for k in spec.keys], spec.id
    # the training toolbar's buttons show the same QActions as the Training menu
    t = window.view.training
    assert t.start_button.defaultAction() is reg.action("train.start") is t.start_action


def test_browser_context_menus_and_shortcuts_come_from_the_registry(window: MainWindow, qtbot: Any) -> None:
    reg, browser = window.action_registry, window.view.clusters
    for spec in ACTIONS:
        if spec.scope == GRID:
            assert reg.action(spec.id) in browser.grid.actions(), spec.id  # fires only while the grid has focus
        elif spec.scope == BROWSER:
            assert reg.action(spec.id) in browser.actions(), spec.id
    assert browser.act_keep is reg.action("grid.keep") and _keys(browser.act_keep) == ["K"]
    before = set(browser.findChildren(QMenu))
    browser.commands._grid_menu(QPoint(1, 1))
    browser.commands._cluster_menu(QPoint(1, 1))
    menus = [m for m in browser.findChildren(QMenu) if m not in before]
    shown = {a.objectName() for m in menus for a in m.actions() if not a.isSeparator()}
    assert shown == {s.id for s in ACTIONS if s.scope in (GRID, BROWSER) and not s.id.startswith("grid.zoom")}
    for m in menus:
        m.close()


def test_help_keyboard_shortcuts_lists_exactly_the_registry(window: MainWindow) -> None:
    help_menu = window.menuBar().actions()[-1].menu()
    assert isinstance(help_menu, QMenu)
    assert window.action_registry.action("help.shortcuts") in help_menu.actions()
    dialog = window.show_shortcuts()
    listed = dialog.listed()
    reg = window.action_registry
    expected = [(spec.text.replace("&", ""), ", ".join(_keys(reg.action(spec.id))))
                for spec in reg.specs.values() if reg.action(spec.id).shortcuts()]
    assert listed == expected
    assert ("Keep", "K") in listed and ("Clear flag", "0, Backspace") in listed
    dialog.close()


def test_enabled_rules_follow_the_model(qtbot: Any, tmp_path: Path, qapp: QApplication) -> None:
    store = SessionStore.create(tmp_path / "s.dcgui", tmp_path, TrainConfig(k=K))
    store.set_images([_Record(f"img{i:02d}.png", 100, 1, None) for i in range(N)], [])  # type: ignore[arg-type]
    store.record_epoch(_epoch(1))
    model = SessionModel()
    reg = ActionRegistry(model)
    csv, undo, keep = reg.action("clusters.export_csv"), reg.action("edit.undo"), reg.action("grid.keep")
    assert not csv.isEnabled() and not undo.isEnabled() and not keep.isEnabled()
    model.open(store)  # a session with an epoch: export is possible, nothing to undo yet
    assert csv.isEnabled() and not undo.isEnabled() and undo.text() == "&Undo"
    model.save_group("later", [2, 3])  # an edit: undo names it
    assert undo.isEnabled() and undo.text().startswith("&Undo group")
    reg.publish(grid_selection=True)  # a view's fact: the grid has a selection
    assert keep.isEnabled()
    model.close()
    assert not csv.isEnabled() and not undo.isEnabled()
    store.close()


def test_the_shortcut_list_shows_each_description_whole_without_repeating_the_keys(window: MainWindow,
                                                                                  qtbot: Any) -> None:
    """Found in the walkthrough under Xvfb: "Stop after the current batch (Ctrl+.); finished
    epochs are kept and training can …" was cut at one line and repeated the Shortcut column."""
    dialog = window.show_shortcuts()
    qtbot.waitExposed(dialog)
    table = dialog.table
    rows = {table.item(r, 0).text(): r for r in range(table.rowCount())}
    r = rows["Stop"]
    text = table.item(r, 2).text()
    assert text.startswith("Stop after the current batch;") and "(Ctrl+.)" not in text
    assert "(Ctrl+P)" not in table.item(rows["Pause"], 2).text()
    width = table.columnWidth(2)
    needed = table.fontMetrics().boundingRect(0, 0, width - 8, 10_000, int(Qt.TextFlag.TextWordWrap), text).height()
    assert table.rowHeight(r) >= needed  # the whole description, wrapped
    dialog.close()
