"""The cluster browser on a real session: SQLite store + decoded-image cache over generated PNGs."""

from __future__ import annotations

import csv
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QGuiApplication

from dcgui.core.events import EpochFinished, EpochMetrics
from tests.conftest import wait_for_edit, write_image_folder

pytest.importorskip("pytestqt")

K = 5
N_PER_CLASS = 6
CLASSES = 4


def _drive(gen: Generator[Any, None, Any]) -> Any:
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def epoch_event(epoch: int, matched: np.ndarray, k: int = K) -> EpochFinished:
    """A synthetic finished epoch (identity mapping: raw ids = matched ids)."""
    m = EpochMetrics(epoch=epoch, nmi_prev=None, nmi_labels=None, ari_labels=None, loss=1.0, kmeans_objective=1.0,
                     k=k, empty_clusters=int(k - np.unique(matched).size), min_cluster=1, max_cluster=int(matched.size),
                     size_entropy=0.9, seconds_features=0.1, seconds_clustering=0.1, seconds_training=0.1,
                     images_per_second=100.0, n_images=int(matched.size))
    ids = matched.astype(np.int32)
    return EpochFinished(m, ids, ids, np.arange(k, dtype=np.int32))


@pytest.fixture
def session(tmp_path: Path) -> Generator[Any, None, None]:
    """24 images in 4 labelled folders; epoch 1: cluster = label except every 5th image in cluster 4;
    epoch 2: cluster = label."""
    from dcgui.core.config import TrainConfig
    from dcgui.core.images.cache import ImageCache
    from dcgui.core.images.collection import scan
    from dcgui.store import SessionStore

    folder = write_image_folder(tmp_path / "photos", n_per_class=N_PER_CLASS, classes=CLASSES, size=40)
    res = scan(folder)
    cfg = TrainConfig(k=K, image_size=32, epochs=3)
    store = SessionStore.create(tmp_path / "s.dcgui", folder, cfg)
    cache = _drive(ImageCache.iter_build(store.cache_dir, folder, res.images, cfg.cache_size, workers=1))
    store.set_images(cache.records, [], res.label_names)
    labels = store.labels()
    assert labels is not None
    a1 = labels.copy()
    a1[::5] = 4
    store.record_epoch(epoch_event(1, a1))
    store.record_epoch(epoch_event(2, labels.copy()))
    yield store
    store.close()


@pytest.fixture
def errors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Capture error dialogs instead of showing them (a test fails if one appears unexpectedly)."""
    seen: list[str] = []
    import dcgui.gui.errors as gui_errors

    monkeypatch.setattr(gui_errors, "_present", lambda parent, title, message, details: seen.append(message))
    return seen


def _browser(qtbot: Any) -> Any:
    from dcgui.gui.cluster_browser import ClusterBrowser
    from dcgui.gui.session_images import SessionImages
    from dcgui.gui.session_model import SessionModel

    model = SessionModel()
    w = ClusterBrowser(model, SessionImages(model))
    qtbot.addWidget(w)
    return w


def _shown_on(qtbot: Any, w: Any, session: Any, width: int, height: int) -> Any:
    """``w`` (a view with ``model`` and ``images``) shown at ``width`` x ``height`` on ``session``,
    its image cache open."""
    w.resize(width, height)
    w.show()
    qtbot.waitExposed(w)
    w.model.open(session)
    qtbot.waitUntil(lambda: w.images.cache is not None, timeout=5000)  # opened off the GUI thread
    return w


@pytest.fixture
def browser(qtbot: Any, session: Any, errors: list[str]) -> Any:
    return _shown_on(qtbot, _browser(qtbot), session, 1200, 700)


@pytest.fixture
def view(qtbot: Any, session: Any, errors: list[str]) -> Any:
    """The whole session view (clusters, plots, explore) on ``session``, its cache open."""
    from dcgui.gui.session_model import SessionModel
    from dcgui.gui.session_view import SessionView

    v = SessionView(SessionModel())
    qtbot.addWidget(v)
    return _shown_on(qtbot, v, session, 1300, 800)


def _visible_thumbnails(w: Any) -> list[Any]:
    from dcgui.gui.thumbnail_grid import ThumbnailRole

    m = w.grid_model
    return [m.index(r).data(ThumbnailRole) for r in w.grid.visible_rows()]


def _select_cluster_row(w: Any, c: int) -> None:
    row = w.cluster_model.row_of_cluster(c)
    w.cluster_view.setCurrentIndex(w.cluster_model.index(row, 0))


def test_cluster_list_rows_sizes_and_purity(browser: Any, session: Any) -> None:
    m = browser.cluster_model
    assert browser.epoch == 2
    assert m.rowCount() == K
    from dcgui.gui.cluster_list import ClusterIdRole, MajorityLabelRole, PurityRole, SizeRole

    sizes = {m.index(r, 0).data(ClusterIdRole): m.index(r, 0).data(SizeRole) for r in range(K)}
    assert sizes == {0: 6, 1: 6, 2: 6, 3: 6, 4: 0}
    assert m.index(m.row_of_cluster(2), 0).data(PurityRole) == pytest.approx(1.0)
    assert m.index(m.row_of_cluster(2), 0).data(MajorityLabelRole) == "class_2"
    assert m.index(m.row_of_cluster(4), 0).data(PurityRole) is None  # empty cluster

    browser.model.set_epoch(1)
    labels = session.labels()
    a1 = session.assignments(1)
    members4 = np.flatnonzero(a1 == 4)
    counts = np.bincount(labels[members4])
    row = m.row_of_cluster(4)
    assert m.index(row, 0).data(SizeRole) == members4.size
    assert m.index(row, 0).data(PurityRole) == pytest.approx(counts.max() / members4.size)
    assert m.index(row, 0).data(MajorityLabelRole) == f"class_{counts.argmax()}"


def test_sort_and_filter(browser: Any, session: Any) -> None:
    from dcgui.gui.cluster_list import COL_SIZE, ClusterIdRole

    browser.model.set_epoch(1)
    m = browser.cluster_model
    sizes = session.cluster_sizes(1)
    browser.cluster_view.sortByColumn(COL_SIZE, Qt.SortOrder.DescendingOrder)
    shown = [m.index(r, 0).data(ClusterIdRole) for r in range(m.rowCount())]
    assert [sizes[c] for c in shown] == sorted(sizes, reverse=True)
    session.set_cluster_name(3, "Crosses")
    browser.model.refresh()
    browser.cluster_panel.filter_edit.setText("cross")
    assert [m.index(r, 0).data(ClusterIdRole) for r in range(m.rowCount())] == [3]
    browser.cluster_panel.filter_edit.setText("class_1")  # the majority label is searchable too
    assert [m.index(r, 0).data(ClusterIdRole) for r in range(m.rowCount())] == [1]


def test_selecting_cluster_fills_grid_and_thumbnails_arrive(qtbot: Any, browser: Any, session: Any) -> None:
    _select_cluster_row(browser, 2)
    assert browser.current_cluster == 2
    assert browser.grid_model.indices.tolist() == session.cluster_members(2, 2).tolist()
    qtbot.waitUntil(lambda: all(p is not None for p in _visible_thumbnails(browser)), timeout=5000)
    thumbs = _visible_thumbnails(browser)
    assert len(thumbs) == 6
    assert thumbs[0].width() == 40  # the cache's thumbnail of a 40-px image (never upscaled)
    # Mosaics of visible clusters are built lazily too.
    from dcgui.gui.cluster_list import MosaicRole

    m = browser.cluster_model
    qtbot.waitUntil(lambda: m.index(m.row_of_cluster(0), 0).data(MosaicRole) is not None, timeout=5000)


def test_current_image_shows_in_pane(qtbot: Any, browser: Any, session: Any) -> None:
    g = browser.grid
    g.setCurrentIndex(browser.grid_model.index(1))
    i = browser.grid_model.image_index(1)
    pane = browser.image_pane
    assert pane.image_index == i
    assert pane.path_label.text() == session.image_paths()[i]
    qtbot.waitUntil(lambda: pane.view.image() is not None, timeout=5000)
    assert pane.view.image().width() == 40
    assert pane.size_label.text().startswith("40 × 40 px")
    assert pane.history.history().tolist() == session.image_history(i).tolist()
    with qtbot.waitSignal(browser.model.similarRequested) as sig:
        pane.more_button.click()
    assert sig.args == [i]


def test_rename_and_tags_persist(browser: Any, session: Any) -> None:
    from dcgui.gui.cluster_list import COL_NAME, COL_TAGS
    from dcgui.store import SessionStore

    m = browser.cluster_model
    row = m.row_of_cluster(1)
    assert m.setData(m.index(row, COL_NAME), "  green squares ")
    assert m.setData(m.index(row, COL_TAGS), "shape, green,")
    with SessionStore.open(session.path, readonly=True) as again:
        assert again.cluster_user_data()[1] == {"name": "green squares", "tags": ["shape", "green"], "notes": ""}
    assert m.index(row, COL_NAME).data() == "green squares"


def test_notes_persist(browser: Any, session: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QInputDialog

    from dcgui.gui.cluster_list import NotesRole
    from dcgui.store import SessionStore

    browser.select_cluster(3)
    monkeypatch.setattr(QInputDialog, "getMultiLineText", lambda *a, **k: ("crosses on dark ground", True))
    browser.commands.edit_current_notes()
    with SessionStore.open(session.path, readonly=True) as again:
        assert again.cluster_user_data()[3]["notes"] == "crosses on dark ground"
    m = browser.cluster_model
    assert m.index(m.row_of_cluster(3), 0).data(NotesRole) == "crosses on dark ground"


def test_unreadable_original_is_reported_in_the_pane(qtbot: Any, browser: Any, session: Any) -> None:
    i = int(browser.grid_model.indices[0])
    (session.folder / session.image_paths()[i]).write_bytes(b"")  # broken after the cache was built
    browser.grid.setCurrentIndex(browser.grid_model.index(0))
    view = browser.image_pane.view
    qtbot.waitUntil(lambda: "Cannot show this image" in view._message, timeout=5000)
    assert view.image() is None and "zero bytes" in view._message


def test_flag_images_with_shortcuts_persists(qtbot: Any, browser: Any, session: Any) -> None:
    from dcgui.gui.thumbnail_grid import FlagRole
    from dcgui.store import SessionStore

    g, gm = browser.grid, browser.grid_model
    g.setFocus()
    sel = g.selectionModel()
    sel.select(gm.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    sel.select(gm.index(2), QItemSelectionModel.SelectionFlag.Select)
    first, third = gm.image_index(0), gm.image_index(2)
    qtbot.keyClick(g, Qt.Key.Key_K)
    # two images: the preview first, nothing written before Apply
    dialog = browser.dialog
    assert dialog is not None and "flag 2 images “keep”: 2 images" in dialog.text.text()
    assert gm.index(0).data(FlagRole) is None
    dialog.apply_button.click()
    wait_for_edit(qtbot, browser.model)  # a bulk edit lands from a worker
    assert gm.index(0).data(FlagRole) == "keep"
    with SessionStore.open(session.path, readonly=True) as again:
        assert again.image_flags() == {first: "keep", third: "keep"}
    browser.activateWindow()  # the preview dialog was the active window; shortcuts need ours
    qtbot.waitUntil(browser.isActiveWindow, timeout=5000)
    g.setFocus()
    sel.select(gm.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    qtbot.keyClick(g, Qt.Key.Key_X)
    qtbot.keyClick(g, Qt.Key.Key_0)
    sel.select(gm.index(2), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    qtbot.keyClick(g, Qt.Key.Key_X)
    wait_for_edit(qtbot, browser.model)
    with SessionStore.open(session.path, readonly=True) as again:
        assert again.image_flags() == {third: "exclude"}


def test_select_all_and_copy_paths(qtbot: Any, browser: Any, session: Any) -> None:
    g = browser.grid
    g.setFocus()
    qtbot.keyClick(g, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert sorted(browser.selected_images()) == browser.grid_model.indices.tolist()
    qtbot.keyClick(g, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    text = QGuiApplication.clipboard().text()
    paths = [str(session.folder / session.image_paths()[i]) for i in browser.grid_model.indices]
    assert text.splitlines() == paths


def test_zoom_shortcuts(qtbot: Any, browser: Any) -> None:
    before = browser.grid.thumb_size
    qtbot.keyClick(browser.grid, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert browser.grid.thumb_size > before
    assert browser.zoom_slider.value() == browser.grid.thumb_size
    qtbot.keyClick(browser.grid, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(browser.grid, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert browser.grid.thumb_size < before


def test_set_epoch_changes_members(qtbot: Any, browser: Any, session: Any) -> None:
    browser.select_cluster(4)
    assert browser.grid_model.rowCount() == 0  # empty at epoch 2
    with qtbot.waitSignal(browser.model.epochChanged) as sig:
        browser.model.set_epoch(1)
    assert sig.args == [1] and browser.epoch == 1
    assert browser.current_cluster == 4  # the identity is kept across epochs
    assert browser.grid_model.indices.tolist() == session.cluster_members(1, 4).tolist() != []
    browser.model.set_epoch(9)  # no such epoch: refused, nothing changes
    assert browser.epoch == 1


def test_follow_live_moves_to_new_epoch_on_refresh(qtbot: Any, browser: Any, session: Any) -> None:
    model = browser.model
    browser.select_cluster(3)
    labels = session.labels()
    a3 = labels.copy()
    a3[:3] = 3
    session.record_epoch(epoch_event(3, a3))
    model.set_follow_live(False)
    model.refresh()
    assert browser.epoch == 2 and model.last_epoch == 3
    model.set_follow_live(True)  # turning it on jumps to the newest epoch at once
    assert browser.epoch == 3
    assert browser.current_cluster == 3
    assert browser.grid_model.indices.tolist() == np.flatnonzero(a3 == 3).tolist()
    a4 = labels.copy()
    session.record_epoch(epoch_event(4, a4))
    with qtbot.waitSignal(model.epochChanged) as sig:
        model.refresh()
    assert sig.args == [4] and browser.epoch == 4 and browser.current_cluster == 3
    model.set_epoch(2)  # the user going back in time stops following
    assert not model.follow_live


def test_export_clusters_dry_run_then_copy(qtbot: Any, browser: Any, session: Any, tmp_path: Path) -> None:
    session.set_cluster_name(0, "discs")
    excluded = int(session.cluster_members(2, 2)[0])
    session.set_image_flag([excluded], "exclude")
    browser.model.refresh()
    m, sel = browser.cluster_model, browser.cluster_view.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    sel.clearSelection()
    for c in (0, 2):
        sel.select(m.index(m.row_of_cluster(c), 0), flags)
    out = tmp_path / "export"
    (out / "discs").mkdir(parents=True)
    first = Path(session.image_paths()[int(session.cluster_members(2, 0)[0])]).name
    (out / "discs" / first).write_bytes(b"not yours")  # an existing file must never be overwritten

    dialog = browser.commands.export_selected_clusters()
    dialog.set_target(out)
    qtbot.waitUntil(lambda: not dialog.planning, timeout=10_000)  # planned on a worker once typing rests
    plan = dialog.plan
    assert plan.clusters == ["0", "2"]  # group keys: whole clusters here
    assert plan.n_files == 6 + 5 and plan.left_out == 1 and plan.renamed == 1
    assert "2 clusters, 11 files" in dialog.summary.text()
    assert sorted(p.name for p in out.rglob("*")) == ["discs", first]  # dry run: nothing written

    dialog.accept()
    qtbot.waitUntil(lambda: dialog.worker is not None, timeout=10_000)  # planned again, then exported
    assert dialog.wait(10_000)
    qtbot.waitUntil(lambda: dialog.result_ is not None, timeout=5000)
    assert len(dialog.result_.done) == 11 and not dialog.result_.failed
    assert (out / "discs" / first).read_bytes() == b"not yours"
    assert len(list((out / "discs").iterdir())) == 7
    assert len(list((out / "cluster_0002").iterdir())) == 5
    assert session.exports()[-1]["kind"] == "clusters"


def test_export_csv(qtbot: Any, browser: Any, session: Any, tmp_path: Path) -> None:
    session.set_cluster_name(1, "squares")
    out = tmp_path / "assign.csv"
    worker = browser.commands.export_csv(out)
    assert worker.wait(10_000)
    qtbot.waitUntil(lambda: session.exports() != [], timeout=5000)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == session.n_images
    assign = session.assignments(2)
    name = "squares" if assign[7] == 1 else f"cluster {assign[7]}"  # the one display name
    assert rows[7] == {"path": str(session.folder / session.image_paths()[7]), "cluster": str(assign[7]),
                       "cluster_name": name, "group": str(assign[7]), "group_name": name,
                       "flag": "", "flag_set_by": "",
                       "taken": "", "camera": ""}  # generated PNGs carry no EXIF


def test_no_session_and_no_epoch(qtbot: Any, tmp_path: Path, errors: list[str]) -> None:
    from dcgui.core.config import TrainConfig
    from dcgui.store import SessionStore

    w = _browser(qtbot)
    w.model.open(None)
    assert w.cluster_model.rowCount() == 0
    folder = write_image_folder(tmp_path / "p", n_per_class=1, classes=2, size=32)
    with SessionStore.create(tmp_path / "e.dcgui", folder, TrainConfig(k=2)) as store:
        w.model.open(store)
        assert w.epoch == 0 and "No epoch yet" in w.cluster_title.text()
        w.model.refresh()
        w.model.close()
    assert errors == []


def test_full_image_decode_applies_exif_orientation(qtbot: Any, tmp_path: Path) -> None:
    from PIL import Image

    from dcgui.gui.image_pane import decode_for_display

    img = Image.new("RGB", (60, 20), (200, 10, 10))
    img.paste((10, 10, 200), (0, 0, 10, 20))  # a blue band on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    image, size = decode_for_display(path)
    assert (image.width(), image.height()) == (20, 60) and size == (20, 60)
    top = image.pixelColor(10, 2)
    assert top.blue() > 150 and top.red() < 80  # the left band is now at the top
