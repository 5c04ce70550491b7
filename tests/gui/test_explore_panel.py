"""The Explore panel offscreen on a real tiny trained session: duplicates, flags, map, similar, drop."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from dcgui.core.analysis.evaluate import evaluate_features
from dcgui.core.control import drain
from dcgui.gui.explore import TAB_DUPLICATES, TAB_EVAL, TAB_MAP, TAB_OUTLIERS, ExplorePanel
from dcgui.gui.explore.map_view import MapView
from dcgui.gui.session_images import SessionImages
from dcgui.gui.session_model import SessionModel
from dcgui.services import explore as es
from tests.conftest import make_shape_image, reference_knn_loo, wait_for_edit, write_image_folder

WAIT_MS = 120_000


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """32 shapes in 4 class folders + an exact copy and a re-encoded copy, trained 2 epochs."""
    from PIL import Image

    from dcgui.cli import main

    root = tmp_path_factory.mktemp("explore_gui")
    folder = write_image_folder(root / "photos")
    shutil.copy(folder / "class_0" / "img_000.png", folder / "class_0" / "img_000_copy.png")
    Image.open(folder / "class_2" / "img_001.png").save(folder / "class_2" / "img_001_again.jpg", quality=92)
    path = root / "s.dcgui"
    rc = main(["train", str(folder), "--session", str(path), "--epochs", "2", "--k", "4", "--arch", "smallnet",
               "--image-size", "32", "--device", "cpu", "--batch-size", "16", "--no-progress"])
    assert rc == 0
    return path


@pytest.fixture
def store(session: Path):
    from dcgui.store import SessionStore

    s = SessionStore.open(session)
    yield s
    s.close()


@pytest.fixture
def panel(qtbot, store) -> ExplorePanel:
    model = SessionModel()
    images = SessionImages(model)
    p = ExplorePanel(model, images.thumbnails)
    p.images = images  # keep the thumbnail service alive with the panel
    qtbot.addWidget(p)
    p.resize(900, 600)
    model.open(store)
    assert model.epoch == 2
    yield p
    p.stop()
    qtbot.waitUntil(lambda: not p.busy, timeout=WAIT_MS)


def _idle(qtbot, panel: ExplorePanel) -> None:
    qtbot.waitUntil(lambda: not panel.busy, timeout=WAIT_MS)
    status = panel.current_tab().status
    assert "color:#c0392b" not in status, status


def _rows(grid) -> int:
    return grid.grid_model().rowCount()


def _duplicates_tab(qtbot, panel: ExplorePanel, store) -> tuple[Any, list[str], int, int]:
    """Show the Duplicates tab, wait for its detection; (the tab, image paths, the exact copy, its original)."""
    dup = panel.duplicates
    panel.show()
    panel.tabs.setCurrentIndex(TAB_DUPLICATES)
    qtbot.waitUntil(lambda: dup.index is not None, timeout=WAIT_MS)
    _idle(qtbot, panel)
    paths = store.image_paths()
    return dup, paths, paths.index("class_0/img_000_copy.png"), paths.index("class_0/img_000.png")


def test_duplicate_count_follows_the_slider_and_flags_are_written(qtbot, panel: ExplorePanel, store) -> None:
    dup, paths, copy, orig = _duplicates_tab(qtbot, panel, store)
    again = paths.index("class_2/img_001_again.jpg")

    dup.set_threshold(0.0)
    strict = dup.duplicate_count()
    assert strict[0] >= 1 and strict[1] >= 2  # at least the exact copy
    assert "group" in dup.count_label.text()
    assert "≤ 0.3:" in dup.strip_label.text()  # the counts of other settings, always shown
    text_strict = dup.count_label.text()
    dup.set_threshold(0.6)
    loose = dup.duplicate_count()
    assert loose[1] > strict[1]  # a higher threshold groups more images (the re-encoded copy too)
    assert dup.count_label.text() != text_strict  # the live count follows the slider
    assert dup.info is not None and dup.info.width[copy] == 48  # image facts for a keep-one rule

    dup.set_threshold(0.0)
    row = next(r for r, g in enumerate(dup.groups) if {copy, orig} <= set(g.members.tolist()))
    assert again not in dup.groups[row].members
    for g in dup.groups:  # no chaining: every pair of a group was judged within the threshold
        diffs = {(int(a), int(b)): float(d) for (a, b), d in zip(dup.index.pairs, dup.index.differences)}
        m = sorted(g.members.tolist())
        assert all(diffs[(a, b)] <= 1e-9 for k, a in enumerate(m) for b in m[k + 1:])
    dup.group_list.setCurrentRow(row)
    assert set(dup.members.image_indices()) == set(dup.groups[row].members.tolist())
    grp = dup.groups[row]
    keeper = dup.keeper(grp)  # most complete: the exact copy ties everywhere: path order keeps the original
    assert keeper == orig and dup._captions(grp)[grp.members.tolist().index(orig)].splitlines()[4].startswith("KEEP:")
    model = panel.model
    model.set_flag([copy], "exclude")  # the user's own flag, by hand
    dialog = dup.flag_group(row)  # "Keep one, flag the rest": the preview first
    assert dialog is not None and "1 flag you set by hand left as they are" in dialog.text.text()
    assert store.image_flags() == {copy: "exclude"}
    dialog.apply_button.click()
    wait_for_edit(qtbot, model)  # several images: applied on a worker
    flags = store.image_flag_sources()
    assert flags[orig] == ("keep", "bulk") and flags[copy] == ("exclude", "hand")
    assert all(flags[int(i)] == ("duplicate", "bulk") for i in grp.members if int(i) not in (orig, copy))
    # nothing was deleted: both files are still there
    assert (store.folder / paths[copy]).is_file() and (store.folder / paths[orig]).is_file()
    # "Unflag group" clears what the rule set and keeps what the user set
    dup.unflag_button.click()
    dup.dialog.apply_button.click()
    wait_for_edit(qtbot, model)
    assert store.image_flag_sources() == {copy: ("exclude", "hand")}
    model.undo()  # Ctrl+Z: the rule's flags are back
    wait_for_edit(qtbot, model)
    assert store.image_flag_sources()[orig] == ("keep", "bulk")
    model.undo()
    wait_for_edit(qtbot, model)
    assert store.image_flag_sources() == {copy: ("exclude", "hand")}
    dialog = dup.flag_all_groups()
    assert dialog is not None and f"flag all groups (most complete picture): {strict[0]} group" in dialog.text.text()
    dialog.include_hand.setChecked(True)  # the user opts in to change the hand-set flag too
    dialog.apply_button.click()
    wait_for_edit(qtbot, model)
    flags = store.image_flags()
    assert len(flags) == strict[1] and sum(f == "keep" for f in flags.values()) == strict[0]
    assert flags[copy] == "duplicate"
    model.undo(2)
    wait_for_edit(qtbot, model)
    assert store.image_flags() == {}


def test_map_has_one_point_per_image_and_lasso_selects(qtbot, panel: ExplorePanel, store) -> None:
    tab = panel.map
    panel.show()
    panel.tabs.setCurrentIndex(TAB_MAP)
    qtbot.waitUntil(lambda: tab.coords is not None, timeout=WAIT_MS)
    _idle(qtbot, panel)
    n = store.n_images
    assert tab.map_view.point_count == n
    assert tab.map_view.drawn_points == n
    # colour by label: 4 classes -> legend entries
    tab.colour_by.setCurrentIndex(1)
    assert tab.map_view.legend is not None
    c = tab.coords
    lo, hi = c.min(0) - 1, c.max(0) + 1
    box = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    with qtbot.waitSignal(panel.model.selectionChanged):
        tab.map_view.select_polygon(box)
    assert sorted(panel.model.selection) == list(range(n)) and panel.model.selection_source == "map"
    assert _rows(tab.selection_grid) == n
    assert tab.exclude_button.isEnabled()


def test_map_drag_in_rectangle_mode_selects_points(qtbot) -> None:
    view = MapView()
    qtbot.addWidget(view)
    view.resize(400, 400)
    view.show()
    coords = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [10.0, 10.0]])
    view.set_points(coords, np.array([0, 0, 1, 1]))
    view.set_mode("rect")
    vb = view.view_box

    class Drag:  # the parts of pyqtgraph's MouseDragEvent the view box reads
        def __init__(self, start: QPointF, pos: QPointF, finish: bool) -> None:
            self._start, self._pos, self._finish = start, pos, finish

        def button(self):
            return Qt.MouseButton.LeftButton

        def accept(self) -> None:
            pass

        def scenePos(self) -> QPointF:
            return self._pos

        def buttonDownScenePos(self) -> QPointF:
            return self._start

        def isStart(self) -> bool:
            return self._pos == self._start

        def isFinish(self) -> bool:
            return self._finish

        def modifiers(self):
            return Qt.KeyboardModifier.NoModifier

    a, b = vb.mapViewToScene(QPointF(-0.5, -0.5)), vb.mapViewToScene(QPointF(2.5, 2.5))
    with qtbot.waitSignal(view.selectionChanged) as sig:
        vb.mouseDragEvent(Drag(a, a, False))
        vb.mouseDragEvent(Drag(a, b, True))
    assert sig.args[0] == [0, 1, 2]
    # hover finds the point under the cursor
    assert view.point_at(vb.mapViewToScene(QPointF(10.0, 10.0))) == 3
    view._on_mouse_moved(vb.mapViewToScene(QPointF(10.0, 10.0)))
    assert view.hovered == 3 and view.preview.isVisible()


@pytest.mark.slow  # wall-clock bounds: meaningful on an idle machine only
def test_map_stays_usable_at_100k_points(qtbot) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10, size=(50, 2))
    ids = rng.integers(0, 50, 100_000)
    coords = centres[ids] + rng.normal(size=(100_000, 2))
    view = MapView()
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    t0 = time.perf_counter()
    view.set_points(coords, ids)
    t_set = time.perf_counter() - t0
    t0 = time.perf_counter()
    view.grab()  # a full paint
    t_paint = time.perf_counter() - t0
    t0 = time.perf_counter()
    view.select_polygon(np.array([[-5.0, -5.0], [5.0, -5.0], [5.0, 5.0], [-5.0, 5.0]]))
    t_sel = time.perf_counter() - t0
    t0 = time.perf_counter()
    view.set_colours(ids[::-1].copy())
    t_recolour = time.perf_counter() - t0
    print(f"\n100k points: set {t_set:.2f}s, paint {t_paint:.2f}s, select {t_sel:.3f}s, recolour {t_recolour:.2f}s")
    assert view.point_count == 100_000 and view.drawn_points == 100_000
    assert t_set < 10 and t_paint < 10 and t_sel < 2


def test_similar_finds_the_copy_first(qtbot, panel: ExplorePanel, store) -> None:
    sim = panel.similar
    panel.show()
    paths = store.image_paths()
    orig = paths.index("class_0/img_000.png")
    panel.model.request_similar(orig)
    qtbot.waitUntil(lambda: _rows(sim.grid) > 0, timeout=WAIT_MS)
    _idle(qtbot, panel)
    got = sim.grid.image_indices()
    assert got[0] == paths.index("class_0/img_000_copy.png")
    assert orig not in got and len(got) == min(40, store.n_images - 1)
    assert sim.grid.grid_model().index(0).data().startswith("1. 1.000")
    # thumbnails arrive from the loader once the session's cache is open
    qtbot.waitUntil(lambda: sim.grid.has_thumbnail(got[0]), timeout=10_000)


# PySide6 flags QDragEnterEvent's only constructor as deprecated; it is what Qt itself calls.
@pytest.mark.filterwarnings("ignore:Function.*QDragEnterEvent:DeprecationWarning")
def test_dropping_an_outside_image_queries_it(qtbot, panel: ExplorePanel, store, tmp_path: Path) -> None:
    from PIL import Image

    sim = panel.similar
    panel.show()
    outside = tmp_path / "new photo.jpg"
    Image.fromarray(make_shape_image(3, np.random.default_rng(7), 64)).save(outside, quality=90)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(outside))])
    enter = QDragEnterEvent(QPointF(10, 10).toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    panel.dragEnterEvent(enter)
    assert enter.isAccepted()
    text = QMimeData()
    text.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt"))])
    refuse = QDragEnterEvent(QPointF(10, 10).toPoint(), Qt.DropAction.CopyAction, text, Qt.MouseButton.LeftButton,
                             Qt.KeyboardModifier.NoModifier)
    panel.dragEnterEvent(refuse)
    assert not refuse.isAccepted()

    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    panel.dropEvent(drop)
    assert sim.query == outside
    qtbot.waitUntil(lambda: _rows(sim.grid) > 0, timeout=WAIT_MS)
    _idle(qtbot, panel)
    assert "not in the collection" in sim.query_caption.text()
    labels = store.labels()
    top = sim.grid.image_indices()[:5]
    assert (labels[top] == 3).sum() >= 3  # a cross: its neighbours are mostly crosses


def test_outliers_and_evaluation_fill_their_tabs(qtbot, panel: ExplorePanel, store) -> None:
    out, ev = panel.outliers, panel.evaluation
    panel.show()
    out.count.setValue(5)
    panel.tabs.setCurrentIndex(TAB_OUTLIERS)
    qtbot.waitUntil(lambda: _rows(out.grid) == 5, timeout=WAIT_MS)
    _idle(qtbot, panel)
    first = out.grid.image_indices()[0]
    out.grid.select_images([first])
    out.exclude_button.click()
    assert store.image_flags() == {first: "exclude"}
    store.set_image_flag(first, None)

    panel.tabs.setCurrentIndex(TAB_EVAL)
    assert ev.eval_button.isEnabled()
    ev.eval_button.click()
    qtbot.waitUntil(lambda: ev.table.rowCount() == 2, timeout=WAIT_MS)
    _idle(qtbot, panel)
    assert ev.table.item(0, 0).text() == "epoch 2"
    assert ev.table.item(1, 0).text() == "random init (epoch 0)"
    assert "chance 0.250" in ev.notes.text()
    labels = store.labels()
    for row, epoch in enumerate((2, 0)):
        feats = drain(es.iter_session_features(store, epoch, "cpu"))
        _, linear, nmi = evaluate_features(feats, labels, leave_one_out=True)
        shown = [ev.table.item(row, c).text() for c in (1, 2, 3)]
        # kNN: the plain-numpy leave-one-out vote on the same features; the others: the library's
        assert shown == [f"{reference_knn_loo(feats, labels):.3f}", f"{linear:.3f}", f"{nmi:.3f}"]


def test_epoch_change_discards_running_work_and_no_session_is_quiet(qtbot, panel: ExplorePanel, store) -> None:
    out = panel.outliers
    panel.show()
    panel.tabs.setCurrentIndex(TAB_OUTLIERS)
    panel.model.set_epoch(1)  # cancels the epoch-2 job; epoch 1 is computed instead
    qtbot.waitUntil(lambda: _rows(out.grid) > 0, timeout=WAIT_MS)
    _idle(qtbot, panel)
    assert panel.jobs.features is not None and panel.jobs.features.epoch == 1
    panel.model.close()
    assert _rows(out.grid) == 0 and not panel.busy
    panel.show_similar(0)  # no session: nothing happens, nothing raises
    assert _rows(panel.similar.grid) == 0


def test_duplicates_are_not_restarted_by_a_new_epoch(qtbot, panel: ExplorePanel, monkeypatch) -> None:
    """Following a training live changes the epoch every few seconds: the detection (pixels only)
    runs on and delivers instead of starting over (issue 21 item 17)."""
    import threading

    from dcgui.services import duplicates as ds

    calls: list[int] = []
    gate = threading.Event()
    real = ds.iter_session_near_duplicates

    def held(store, features=None, control=None):
        calls.append(1)
        gate.wait(60)
        return (yield from real(store, features, control))

    monkeypatch.setattr(ds, "iter_session_near_duplicates", held)
    dup = panel.duplicates
    panel.show()
    panel.tabs.setCurrentIndex(TAB_DUPLICATES)
    qtbot.waitUntil(lambda: bool(calls), timeout=WAIT_MS)
    panel.model.set_epoch(1)  # a new epoch while the detection runs
    gate.set()
    qtbot.waitUntil(lambda: dup.index is not None, timeout=WAIT_MS)
    _idle(qtbot, panel)
    assert len(calls) == 1 and dup.groups
    # 48-px pictures: the view says the pixel check cannot tell them apart (issue 21 item 8)
    assert dup.tiny_note.isVisible() and "smaller than 64 px" in dup.tiny_note.text()
    assert "small: check by eye" in dup.group_list.item(0).text()


def test_not_duplicates_hides_the_group_as_an_undoable_edit(qtbot, panel: ExplorePanel, store) -> None:
    dup, _, copy, orig = _duplicates_tab(qtbot, panel, store)
    dup.set_threshold(0.0)

    def has_pair() -> bool:
        return any({copy, orig} <= set(g.members.tolist()) for g in dup.groups)

    assert has_pair()
    n_groups = len(dup.groups)
    row = next(r for r, g in enumerate(dup.groups) if {copy, orig} <= set(g.members.tolist()))
    dup.group_list.setCurrentRow(row)
    assert dup.dismiss_button.isEnabled()
    flags = store.image_flag_sources()
    dup.dismiss_button.click()
    assert not has_pair() and store.image_flag_sources() == flags  # no flag changes
    # the count above the list says what the list holds now (it counted the dismissed group)
    count = dup.count_label.text()
    assert f"{n_groups - 1} group" in count and "1 group marked not duplicates" in count, count
    assert store.edit_log()[-1].kind == "not duplicates"
    panel.model.undo()
    assert has_pair()
    panel.model.redo()
    assert not has_pair()
    panel.model.undo()  # leave the shared session as it was
