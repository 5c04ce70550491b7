"""PlotsPanel on a real session store: points, sizes, hover values, PNG export, themes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage, QPalette
from PySide6.QtWidgets import QApplication

from dcgui.core.config import TrainConfig
from dcgui.core.events import EpochFinished, EpochMetrics
from dcgui.gui import theme
from dcgui.gui.plots import PLOT_NAMES, PlotsPanel
from dcgui.gui.session_model import SessionModel
from dcgui.store import SessionStore

N, K = 40, 6


@dataclass
class _Record:  # the fields SessionStore.set_images reads from collection.ImageRecord
    relpath: str
    size: int
    mtime_ns: int
    label: str | None


@pytest.fixture(autouse=True)
def _settings(tmp_path: Path) -> None:
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))


def _epoch(e: int, rng: np.random.Generator, empty: int = 0, labels: bool = True) -> EpochFinished:
    raw = rng.integers(0, K - empty, N).astype(np.int32)
    raw[: K - empty] = np.arange(K - empty)  # every non-empty cluster has at least one image
    mapping = np.arange(K, dtype=np.int32)
    metrics = EpochMetrics(
        epoch=e, nmi_prev=None if e == 1 else 0.3 + 0.1 * e, nmi_labels=0.2 + 0.05 * e if labels else None, ari_labels=0.1 * e if labels else None,
        loss=2.0 / e, kmeans_objective=1.0, k=K, empty_clusters=empty, min_cluster=1, max_cluster=20,
        size_entropy=0.9, seconds_features=1.0, seconds_clustering=0.5, seconds_training=2.0 + e,
        images_per_second=100.0, n_images=N,
    )
    return EpochFinished(metrics, raw, mapping[raw], mapping)


def _store(tmp_path: Path, epochs: int, labels: bool = True, empty: int = 0) -> SessionStore:
    store = SessionStore.create(tmp_path / "s.dcgui", tmp_path, TrainConfig(k=K))
    recs = [_Record(f"c{i % 2}/img{i:03d}.png", 100, 1, f"c{i % 2}" if labels else None) for i in range(N)]
    store.set_images(recs, [("bad.png", "zero bytes")], ["c0", "c1"] if labels else [])  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    for e in range(1, epochs + 1):
        store.record_epoch(_epoch(e, rng, empty if e == epochs else 0, labels))
    return store


def _shown_panel(qtbot: Any, tmp_path: Path, width: int, height: int) -> PlotsPanel:
    """A shown PlotsPanel of ``width`` x ``height`` on a 3-epoch session."""
    panel = PlotsPanel(SessionModel())
    qtbot.addWidget(panel)
    panel.resize(width, height)
    panel.show()
    qtbot.waitExposed(panel)
    panel.model.open(_store(tmp_path, 3))
    QApplication.processEvents()
    return panel


def test_points_from_the_store_and_live_refresh(qtbot: Any, tmp_path: Path) -> None:
    store = _store(tmp_path, 3, empty=2)
    model = SessionModel()
    panel = PlotsPanel(model)
    qtbot.addWidget(panel)
    model.open(store)
    x, y = panel.curves["nmi_prev"].getData()
    assert list(x) == [1, 2, 3]
    assert np.isnan(y[0]) and y[1] == pytest.approx(0.5) and y[2] == pytest.approx(0.6)
    assert list(panel.curves["loss"].getData()[1]) == pytest.approx([2.0, 1.0, 2 / 3])
    assert panel.curves["nmi_labels"].isVisible() and not panel._no_labels_text.isVisible()
    # Stacked seconds: the top curve is the epoch total.
    assert list(panel.curves["training"].getData()[1]) == pytest.approx([4.5, 5.5, 6.5])
    # The selected epoch defaults to the last; its sizes are sorted and the empty clusters marked.
    assert panel.epoch == 3
    sy = panel.curves["sizes"].yData  # the data as given (getData is log10 in log mode)
    assert len(sy) == K - 2 and list(sy) == sorted(sy, reverse=True) and sy.sum() == N
    assert panel.empty_line.isVisible() and panel.empty_line.value() == pytest.approx(K - 2 + 0.5)
    assert "2 empty clusters" in panel._empty_text.textItem.toPlainText()
    assert "Last epoch" in panel.summary.text()

    store.record_epoch(_epoch(4, np.random.default_rng(1)))
    model.refresh()  # what the window's poll does when another connection committed
    assert list(panel.curves["nmi_prev"].getData()[0]) == [1, 2, 3, 4]
    assert panel.epoch == 4  # following live
    assert not panel.empty_line.isVisible()
    assert "no empty clusters" in panel._empty_text.textItem.toPlainText()


def test_without_labels_the_labels_plot_says_why(qtbot: Any, tmp_path: Path) -> None:
    model = SessionModel()
    panel = PlotsPanel(model)
    qtbot.addWidget(panel)
    model.open(_store(tmp_path, 2, labels=False))
    assert not panel.curves["nmi_labels"].isVisible()
    assert panel._no_labels_text.isVisible()
    assert "class sub-folders" in panel._no_labels_text.textItem.toPlainText()


def test_hover_shows_values_and_click_selects_an_epoch(qtbot: Any, tmp_path: Path) -> None:
    panel = _shown_panel(qtbot, tmp_path, 1200, 700)
    model = panel.model
    plot = panel.plots["loss"]
    vb = plot.getPlotItem().getViewBox()
    target = vb.mapViewToScene(pg_point(2.1, 1.0))
    plot.scene().sigMouseMoved.emit(target)
    line, text = panel._hover["loss"]
    assert line.isVisible() and line.value() == pytest.approx(2.0)
    assert "epoch 2" in text.textItem.toPlainText() and "loss: 1.0000" in text.textItem.toPlainText()
    plot.scene().sigMouseMoved.emit(pg_point(-1000, -1000))  # outside the plot: the hover hides
    assert not line.isVisible()

    class _Click:
        def button(self) -> Any:
            from PySide6.QtCore import Qt

            return Qt.MouseButton.LeftButton

        def scenePos(self) -> Any:
            return vb.mapViewToScene(pg_point(1.2, 1.0))

    with qtbot.waitSignal(model.epochChanged, timeout=1000) as blocker:
        plot.scene().sigMouseClicked.emit(_Click())
    assert blocker.args == [1] and panel.epoch == 1 and model.epoch == 1
    assert not model.follow_live  # going back in time stops following


def pg_point(x: float, y: float) -> Any:
    from PySide6.QtCore import QPointF

    return QPointF(x, y)


def test_every_plot_exports_a_png(qtbot: Any, tmp_path: Path) -> None:
    model = SessionModel()
    panel = PlotsPanel(model)
    qtbot.addWidget(panel)
    panel.resize(1000, 600)
    model.open(_store(tmp_path, 2))
    written = panel.export_all(tmp_path / "pngs", width=800)
    assert [p.name for p in written] == [f"{n}.png" for n in PLOT_NAMES]
    for p in written:
        img = QImage(str(p))
        assert not img.isNull() and img.width() == 800
        # Not a blank image: the curves and axes put several colours in it.
        colours = {img.pixel(x, y) for x in range(0, 800, 13) for y in range(0, img.height(), 11)}
        assert len(colours) > 3


def test_background_follows_the_palette(qtbot: Any, tmp_path: Path, qapp: QApplication) -> None:
    model = SessionModel()
    panel = PlotsPanel(model)
    qtbot.addWidget(panel)
    model.open(_store(tmp_path, 2))
    try:
        for name in ("dark", "light"):
            theme.apply_theme(qapp, name)
            QApplication.processEvents()
            base = panel.palette().color(QPalette.ColorRole.Base)
            assert panel.plots["loss"].backgroundBrush().color() == base
            assert theme.is_dark(panel.palette()) is (name == "dark")
            axis_pen = panel.plots["loss"].getPlotItem().getAxis("left").pen().color()
            assert axis_pen == panel.palette().color(QPalette.ColorRole.Text)
    finally:
        theme.apply_theme(qapp, "system")


def test_titles_never_push_a_plot_out_of_its_widget(qtbot: Any, tmp_path: Path) -> None:
    panel = _shown_panel(qtbot, tmp_path, 760, 480)  # narrower than the titles want
    for name, w in panel.plots.items():
        item_rect = w.getPlotItem().sceneBoundingRect()
        assert item_rect.right() <= w.viewport().width() + 1, name


def test_ami_of_older_epochs_is_computed_on_a_worker(qtbot: Any, tmp_path: Path) -> None:
    from dcgui.core.analysis.ami import ami

    store = _store(tmp_path, 3)  # recorded without AMI, like a session from before it existed
    path = store.path
    store.close()
    for readonly in (True, False):
        s = SessionStore.open(path, readonly=readonly)
        model = SessionModel()
        panel = PlotsPanel(model)
        qtbot.addWidget(panel)
        model.open(s, readonly=readonly)
        if readonly:  # the first time: nothing stored yet, so "computing", never a 0
            assert panel.ami_pending and "computing" in panel.summary.text()
            assert np.isnan(panel._series["stability"].columns["AMI(t−1, t)"]).all()
        qtbot.waitUntil(lambda p=panel: not p.ami_pending, timeout=30_000)
        _x, y = panel.curves["ami_prev"].getData()
        expected = [ami(s.assignments(e - 1), s.assignments(e)) for e in (2, 3)]
        assert list(y[1:]) == pytest.approx(expected)
        labels = s.labels()
        assert labels is not None
        assert panel.curves["ami_labels"].getData()[1][0] == pytest.approx(ami(labels, s.assignments(1)))
        stored = [m.ami_prev for m in s.epochs()]
        assert stored == ([None, None, None] if readonly else [None, pytest.approx(expected[0]), pytest.approx(expected[1])])
        model.open(None)
        s.close()
    with SessionStore.open(path, readonly=True) as s:  # saved by the writable window
        model = SessionModel()
        panel = PlotsPanel(model)
        qtbot.addWidget(panel)
        model.open(s, readonly=True)
        assert not panel.ami_pending


def test_cluster_sizes_read_as_plain_counts_and_narrow_titles_keep_their_legend(qtbot: Any, tmp_path: Path) -> None:
    panel = _shown_panel(qtbot, tmp_path, 1600, 700)
    axis = panel.plots["sizes"].getPlotItem().getAxis("left")
    levels = axis.tickValues(0.0, np.log10(400.0), 300)  # 1 to 400 images, log scale
    values = [v for _spacing, vs in levels for v in vs]
    assert axis.tickStrings(values, 1.0, 1.0) == ["1", "2", "5", "10", "20", "50", "100", "200"]
    assert axis.tickStrings([3.0, 6.0], 1.0, 1.0) == ["1k", "1M"]
    title = panel.plots["stability"].getPlotItem().titleLabel
    assert "Stability between epochs" in title.text and "AMI(t−1, t)" in title.text
    panel.resize(560, 500)  # three plots a row: too narrow for the whole title
    QApplication.processEvents()
    assert "Stability between epochs" not in title.text and "AMI(t−1, t)" in title.text
    assert title.item.boundingRect().width() <= title.rect().width()
