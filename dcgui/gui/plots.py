"""Live training plots (pyqtgraph): stability, NMI against labels, loss, cluster sizes, time.

Every curve is created once and updated with ``setData`` (pyqtgraph ``scrollingPlots`` pattern).
The panel reads the session store: ``refresh()`` after an epoch is committed reloads the (small)
per-epoch table, ``set_epoch()`` redraws the cluster-size distribution of the selected epoch.
Hovering shows the values at the nearest epoch; every plot can be saved as a PNG (right-click
"Save plot as PNG…" or the "Save plots…" button). Colours follow the palette (light/dark).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6.QtCore import QEvent, QPointF, QSettings, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QTabWidget,
    QToolTip,
    QWidget,
)

from dcgui.core.events import EpochMetrics
from dcgui.gui import errors, theme
from dcgui.gui.files import ask_folder, ask_save_file
from dcgui.gui.help import definitions_html, terms_in
from dcgui.gui.layout import button, hbox, vbox
from dcgui.gui.session_model import SessionModel

if TYPE_CHECKING:
    from dcgui.store import SessionStore

PLOT_NAMES = ("stability", "labels", "loss", "sizes", "time")
TITLES = {
    "stability": "Stability between epochs",
    "labels": "Agreement with labels",
    "loss": "Training loss",
    "sizes": "Cluster sizes",
    "time": "Seconds per epoch",
}
_HINTS = {
    "stability": "How much the clusters change from one epoch to the next:\nappears after the second epoch.",
    "labels": "Agreement with your class folders (if any):\nappears after the first epoch.",
    "loss": "The training loss of each epoch:\nappears after the first epoch.",
    "sizes": "How many images each cluster holds:\nappears after the first epoch.",
    "time": "Seconds per epoch, by phase:\nappears after the first epoch.",
}
# What each plot shows and the glossary term its title opens (a click on the title; What's This).
PLOT_HELP: dict[str, tuple[str, str]] = {
    "stability": ("How much the clusters change from one epoch to the next: NMI between the pseudo-labels of "
                  "epoch t−1 and epoch t (paper Fig. 2b). It rises as the features settle and stays below 1.",
                  "NMI"),
    "labels": ("Agreement of each epoch's clusters with your class folders: NMI and ARI (paper Fig. 2a). "
               "The folders are never used for training.", "NMI"),
    "loss": ("The training loss of each epoch: how well the network predicts that epoch's pseudo-labels. It "
             "need not fall from epoch to epoch, since each epoch brings new pseudo-labels.", "pseudo-label"),
    "sizes": ("How many images each of the k clusters holds at the epoch shown, largest first; empty clusters "
              "are marked.", "k"),
    "time": ("Seconds each epoch spent computing features, clustering them with k-means and training the "
             "network.", "epoch"),
}
_SYMBOLS_UP_TO = 60  # draw point symbols while there are few epochs; lines only beyond

# (light, dark) colour per series: saturated enough on white, light enough on near-black.
_COLOURS = {
    "nmi_prev": ("#1f6fb4", "#5aa9e6"),
    "nmi_labels": ("#2e8b3a", "#6cc070"),
    "ari_labels": ("#b5651d", "#f0a35e"),
    "ami_prev": ("#1f6fb4", "#5aa9e6"),  # dashed, in its NMI's colour
    "ami_labels": ("#2e8b3a", "#6cc070"),
    "loss": ("#c0392b", "#ff7b72"),
    "sizes": ("#6a4fb3", "#b39cf0"),
    "features": ("#1f6fb4", "#5aa9e6"),
    "clustering": ("#b5651d", "#f0a35e"),
    "training": ("#2e8b3a", "#6cc070"),
    "empty": ("#c0392b", "#ff7b72"),
    "marker": ("#808080", "#9a9a9a"),
}


def _colour(key: str, dark: bool) -> QColor:
    return QColor(_COLOURS[key][1 if dark else 0])


def _swatch(key: str, dark: bool, text: str, mark: str = "━") -> str:
    """A coloured legend entry inside a plot title (legends inside the plot hide the data)."""
    return f'<span style="color:{_colour(key, dark).name()}">{mark}&nbsp;{text}</span>'


class _IntegerAxis(pg.AxisItem):
    """An axis of whole numbers (epochs, cluster ranks): no ticks at 1.5."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for spacing, _offset in super().tickSpacing(minVal, maxVal, size):
            whole = max(1.0, float(np.ceil(spacing)))
            if all(whole != s for s, _ in out):
                out.append((whole, 0.0))
        return out


class _LogCountAxis(pg.AxisItem):
    """A log-scale axis of counts labelled as people read them: 1, 2, 5, 10, 20, 50, 100, 1k...
    (pyqtgraph's own log labels read "3·10¹" and label every minor tick)."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:
        if not self.logMode:
            return list(super().tickValues(minVal, maxVal, size))
        lo, hi = int(np.floor(minVal)), int(np.ceil(maxVal))
        steps = (1, 2, 5) if hi - lo <= 3 else (1,)  # wide ranges: powers of ten only
        major = [float(np.log10(m * 10.0**e)) for e in range(lo, hi + 1) for m in steps]
        return [(1.0, [v for v in major if minVal <= v <= maxVal])]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        if not self.logMode:
            return list(super().tickStrings(values, scale, spacing))
        return [_count_text(10.0**v) for v in values]


def _count_text(n: float) -> str:
    n = round(n)
    for div, unit in ((1_000_000, "M"), (1_000, "k")):
        if n >= div:
            return f"{n / div:g}{unit}"
    return str(n)


class _TitleLabel(pg.LabelItem):
    """A plot title that never widens its plot: pyqtgraph's makes its text width the minimum
    width, so in a narrow window a long title pushed the plot's right edge out of the widget.
    With a short variant (``set_variants``), a title too wide for its plot shows the short one
    (the legend without the plot's name, which the plot's tooltip and What's This still give)."""

    _variants: tuple[str, str] | None = None
    _colour = ""
    _choosing = False

    def set_variants(self, full: str, short: str | None, colour: str) -> None:
        self._variants, self._colour = (full, short or full), colour
        self.resizeEvent(None)

    def resizeEvent(self, ev: Any) -> None:
        if self._variants is not None and not self._choosing:
            full, short = self._variants
            self._choosing = True  # setText resizes again
            try:  # the whole title; else the legend; else the legend in a smaller font
                for text, size in ((full, "11pt"), (short, "11pt"), (short, "9pt")):
                    self.setText(text, color=self._colour, size=size)
                    if self.item.boundingRect().width() <= self.rect().width():
                        break
            finally:
                self._choosing = False
        # Centred while it fits; left-aligned when clipped, so its start stays readable.
        fits = self.item.boundingRect().width() <= self.rect().width()
        self.opts["justify"] = "center" if fits else "left"
        super().resizeEvent(ev)

    def updateMin(self) -> None:
        super().updateMin()
        self.setMinimumWidth(0)
        _w, h = self._sizeHint[Qt.SizeHint.MinimumSize]
        self._sizeHint[Qt.SizeHint.MinimumSize] = (0, h)
        self.updateGeometry()


def _install_title_label(item: pg.PlotItem) -> None:
    old = item.titleLabel
    item.layout.removeItem(old)
    old.setParentItem(None)
    if old.scene() is not None:
        old.scene().removeItem(old)
    item.titleLabel = _TitleLabel("", size="11pt", parent=item)
    item.layout.addItem(item.titleLabel, 0, 1)


@dataclass
class _Series:
    """The data behind one plot, for hover text: x values and named y columns."""

    x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    fmt: dict[str, str] = field(default_factory=dict)
    x_label: str = "epoch"


class PlotsPanel(QWidget):
    """The "Plots" tab, a view of the session model: it redraws when epochs arrive and marks the
    epoch shown; clicking an epoch in a plot shows that epoch everywhere. Hovering a plot's title
    says what the plot shows; clicking it asks for the glossary (``glossaryRequested(term)``)."""

    glossaryRequested = Signal(str)

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self._store: SessionStore | None = None
        self._metrics: list[EpochMetrics] = []
        self._epoch = 0
        self._has_labels = False
        self.plots: dict[str, pg.PlotWidget] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._series: dict[str, _Series] = {n: _Series() for n in PLOT_NAMES}
        self._hover: dict[str, tuple[pg.InfiniteLine, pg.TextItem]] = {}
        self._markers: dict[str, pg.InfiniteLine] = {}
        self._title_help: dict[str, str] = {}
        self._fills: list[pg.FillBetweenItem] = []
        self._sizes_title = TITLES["sizes"]
        # AMI of epochs trained before it was recorded: computed on a worker when the session
        # opens; ``_ami`` holds the values (the only copy for a read-only session)
        self._ami: dict[int, tuple[float | None, float | None]] = {}
        self._ami_worker: Any = None
        self._ami_generation = 0
        self.ami_pending = False
        self._empty_colour = (QColor("red"), QColor("gray"))  # (empty clusters, none), set by the palette

        self.summary = QLabel("No epochs yet.")
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setWordWrap(True)  # a long line must not widen the window
        self.save_all_button = button("Save plots as PNG…", self._save_all_clicked,
                                      tip="Write every plot as a PNG file into a folder you choose")
        top = hbox((self.summary, 1), self.save_all_button)

        grid = QGridLayout()
        grid.setSpacing(6)
        for name in PLOT_NAMES:
            self.plots[name] = self._make_plot(name)
        grid.addWidget(self.plots["stability"], 0, 0)
        grid.addWidget(self.plots["labels"], 0, 1)
        grid.addWidget(self.plots["loss"], 0, 2)
        grid.addWidget(self.plots["sizes"], 1, 0, 1, 2)
        grid.addWidget(self.plots["time"], 1, 2)
        for c in range(3):
            grid.setColumnStretch(c, 1)

        curves = QWidget()
        vbox(top, (grid, 1), parent=curves, margins=0)
        from dcgui.gui.river import RiverPanel

        self.river = RiverPanel(model)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(curves, "Curves")
        self.tabs.addTab(self.river, "Cluster river")
        vbox((self.tabs, 1), parent=self, margins=6)

        self._build_curves()
        self._no_labels_text = pg.TextItem("No labels: put the images in class sub-folders\n"
                                           "to measure NMI against them (paper Fig. 2a).", anchor=(0.5, 0.5))
        self.plots["labels"].addItem(self._no_labels_text, ignoreBounds=True)
        self._empty_text = pg.TextItem("", anchor=(1, 0))
        self.plots["sizes"].addItem(self._empty_text, ignoreBounds=True)
        # Before the first epoch a plot shows what it will show, not meaningless axes.
        self.hints: dict[str, pg.TextItem] = {}
        for name in PLOT_NAMES:
            hint = pg.TextItem(_HINTS[name], anchor=(0.5, 0.5))
            hint.setPos(0.5, 0.5)
            self.plots[name].addItem(hint, ignoreBounds=True)
            self.hints[name] = hint
        self._apply_palette()
        self._update_all()
        model.sessionChanged.connect(self._on_session)
        model.epochsChanged.connect(lambda _n: self.refresh())
        model.epochChanged.connect(self.set_epoch)
        self._on_session()

    # ---------------------------------------------------------------------------------------
    # the model's changes
    # ---------------------------------------------------------------------------------------
    def _on_session(self) -> None:
        store = self.model.store
        self._store = store
        self._epoch = 0
        self._has_labels = bool(store is not None and store.label_names())
        self._ami = {}
        self._ami_generation += 1
        if self._ami_worker is not None:
            self._ami_worker.stop()
            self._ami_worker = None
        self.ami_pending = False
        if store is not None:
            from dcgui.services.metrics import missing_ami

            if missing_ami(store):
                self._start_ami(store.path)
        self.refresh()

    def _start_ami(self, path: Path) -> None:
        """Compute the missing AMI on a worker with its own read-only connection; the values
        come back to the GUI thread, which stores them when the session is writable."""
        from dcgui.gui.worker import GeneratorWorker, session_job
        from dcgui.services.metrics import iter_missing_ami

        generation = self._ami_generation

        def done(values: dict[int, tuple[float | None, float | None]]) -> None:
            if generation != self._ami_generation:
                return  # another session by now
            self._ami = dict(values)
            self.ami_pending = False
            if self.model.writable and self._store is not None and values:
                try:
                    self._store.set_epoch_ami(values)
                except Exception as exc:  # shown, and the values stay in memory
                    self.model.errorOccurred.emit(f"The AMI values could not be saved in the session: {exc}")
            self.refresh()

        def failed(err: Any) -> None:
            if generation == self._ami_generation:
                self.ami_pending = False
                self.model.message.emit(f"AMI of the earlier epochs could not be computed: {err.message}")
                self._update_all()

        worker = GeneratorWorker(
            session_job(path, lambda s, control: iter_missing_ami(s, control, save=False)), name="ami",
            returned=done, errored=failed,
            finished=lambda: setattr(self, "_ami_worker", None) if generation == self._ami_generation else None)
        self._ami_worker = worker
        self.ami_pending = True
        worker.start()

    def wait_ami(self, timeout_ms: int = 60_000) -> bool:
        """Block until the AMI worker ended (tests only)."""
        w = self._ami_worker
        return w.wait(timeout_ms) if w is not None else True

    def set_epoch(self, epoch: int) -> None:
        """Select ``epoch`` (marker on the epoch plots, size distribution of that epoch)."""
        if epoch == self._epoch:
            return
        self._epoch = int(epoch)
        self._update_markers()
        self._update_sizes()

    def refresh(self) -> None:
        """Reload the per-epoch metrics from the store (cheap: one row per epoch)."""
        metrics = self._store.epochs() if self._store is not None else []
        if self._ami:
            from dcgui.services.metrics import with_ami

            metrics = with_ami(metrics, self._ami)
        if self._store is not None and not self._has_labels:
            self._has_labels = bool(self._store.label_names())
        self.set_metrics(metrics)

    def set_metrics(self, metrics: list[EpochMetrics]) -> None:
        self._metrics = list(metrics)
        if self._metrics and not (1 <= self._epoch <= self._metrics[-1].epoch):
            self._epoch = self._metrics[-1].epoch
        if any(m.nmi_labels is not None for m in self._metrics):
            self._has_labels = True
        self._update_all()

    @property
    def epoch(self) -> int:
        return self._epoch

    def export_png(self, name: str, path: str | Path, width: int = 1200) -> Path:
        """Write plot ``name`` (one of ``PLOT_NAMES``) as a PNG ``width`` pixels wide."""
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        if self._store is not None:
            from dcgui.services.outputs import output_file

            output_file(path, self._store.path, "plot")  # never into the session's data folder
        exporter = ImageExporter(self.plots[name].getPlotItem())
        exporter.parameters()["width"] = int(width)
        exporter.export(str(path))
        if not path.exists():
            raise OSError(f"pyqtgraph did not write {path}: check that the folder is writable")
        return path

    def export_all(self, folder: str | Path, width: int = 1200) -> list[Path]:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return [self.export_png(name, folder / f"{name}.png", width) for name in PLOT_NAMES]

    # ---------------------------------------------------------------------------------------
    # construction
    # ---------------------------------------------------------------------------------------
    def _make_plot(self, name: str) -> pg.PlotWidget:
        axes = {"bottom": _IntegerAxis("bottom")} | ({"left": _LogCountAxis("left")} if name == "sizes" else {})
        w = pg.PlotWidget(axisItems=axes)
        w.setMinimumSize(220, 160)
        item = w.getPlotItem()
        _install_title_label(item)
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setMenuEnabled(True)
        item.hideButtons()  # the "A" auto-range button overlaps the axis at small sizes
        vb = item.getViewBox()
        if vb.menu is not None:
            vb.menu.addSeparator()
            action = vb.menu.addAction("Save plot as PNG…")
            action.triggered.connect(lambda _checked=False, n=name: self._save_one_clicked(n))
        w.setToolTip("")  # the hover read-out says the values; the title says what the plot is
        text_help, term = PLOT_HELP[name]
        help_text = f"{text_help} Click the title for the glossary."
        w.setWhatsThis(f"<p>{html.escape(text_help)}</p>{definitions_html(terms_in(text_help) or [term])}")
        self._title_help[name] = help_text
        line = pg.InfiniteLine(angle=90, movable=False)
        line.setVisible(False)
        text = pg.TextItem("", anchor=(0, 1))
        text.setVisible(False)
        item.addItem(line, ignoreBounds=True)
        item.addItem(text, ignoreBounds=True)
        self._hover[name] = (line, text)
        if name != "sizes":
            marker = pg.InfiniteLine(angle=90, movable=False)
            marker.setVisible(False)
            marker.setZValue(-5)
            item.addItem(marker, ignoreBounds=True)
            self._markers[name] = marker
        w.scene().sigMouseMoved.connect(lambda pos, n=name: self._on_mouse_moved(n, pos))
        w.scene().sigMouseClicked.connect(lambda ev, n=name: self._on_mouse_clicked(n, ev))
        return w

    def _build_curves(self) -> None:
        p = self.plots
        for name in ("stability", "labels", "loss", "time"):
            p[name].setLabel("bottom", "epoch")
        p["stability"].setLabel("left", "NMI / AMI")
        p["stability"].setYRange(0, 1, padding=0.02)
        p["labels"].setLabel("left", "NMI / AMI / ARI")
        p["labels"].setYRange(0, 1, padding=0.02)
        p["loss"].setLabel("left", "cross-entropy")
        p["sizes"].setLabel("bottom", "cluster rank (largest first)")
        p["sizes"].setLabel("left", "images")
        p["sizes"].setLogMode(x=False, y=True)
        p["time"].setLabel("left", "seconds")
        for name in PLOT_NAMES:  # "seconds (x0.001)" on an empty plot helps nobody
            p[name].getPlotItem().getAxis("left").enableAutoSIPrefix(False)

        self.curves["nmi_prev"] = p["stability"].plot(name="NMI(t−1, t)", connect="finite")
        self.curves["ami_prev"] = p["stability"].plot(name="AMI(t−1, t)", connect="finite")
        self.curves["nmi_labels"] = p["labels"].plot(name="NMI", connect="finite")
        self.curves["ami_labels"] = p["labels"].plot(name="AMI", connect="finite")
        self.curves["ari_labels"] = p["labels"].plot(name="ARI", connect="finite")
        self.curves["loss"] = p["loss"].plot(name="loss", connect="finite")
        self.curves["sizes"] = p["sizes"].plot(name="size", stepMode="center", fillLevel=0)
        self.empty_line = pg.InfiniteLine(angle=90, movable=False)
        self.empty_line.setVisible(False)
        p["sizes"].addItem(self.empty_line, ignoreBounds=True)

        # Seconds per epoch, stacked: features, + clustering, + training.
        self.curves["time_zero"] = pg.PlotDataItem()
        self.curves["features"] = p["time"].plot(name="features")
        self.curves["clustering"] = p["time"].plot(name="clustering")
        self.curves["training"] = p["time"].plot(name="training")
        below = self.curves["time_zero"]
        for key in ("features", "clustering", "training"):
            fill = pg.FillBetweenItem(below, self.curves[key])
            fill.setZValue(-10)
            p["time"].addItem(fill)
            self._fills.append(fill)
            below = self.curves[key]

    # ---------------------------------------------------------------------------------------
    # data
    # ---------------------------------------------------------------------------------------
    def _update_all(self) -> None:
        ms = self._metrics
        x = np.array([m.epoch for m in ms], dtype=float)

        def col(attr: str) -> np.ndarray:
            return np.array([_num(getattr(m, attr)) for m in ms], dtype=float)

        nmi_prev, nmi_labels, ari_labels = col("nmi_prev"), col("nmi_labels"), col("ari_labels")
        ami_prev, ami_labels = col("ami_prev"), col("ami_labels")
        loss = col("loss")
        t_feat, t_clu, t_train = col("seconds_features"), col("seconds_clustering"), col("seconds_training")
        symbols = len(ms) <= _SYMBOLS_UP_TO
        self._set(self.curves["nmi_prev"], x, nmi_prev, symbols)
        self._set(self.curves["nmi_labels"], x, nmi_labels, symbols)
        self._set(self.curves["ari_labels"], x, ari_labels, symbols)
        self._set(self.curves["ami_prev"], x, ami_prev, symbols)
        self._set(self.curves["ami_labels"], x, ami_labels, symbols)
        self._set(self.curves["loss"], x, loss, symbols)
        self.curves["time_zero"].setData(x, np.zeros_like(x))
        self._set(self.curves["features"], x, t_feat, False)
        self._set(self.curves["clustering"], x, t_feat + t_clu, False)
        self._set(self.curves["training"], x, t_feat + t_clu + t_train, symbols)

        self._series["stability"] = _Series(x, {"NMI(t−1, t)": nmi_prev, "AMI(t−1, t)": ami_prev},
                                            {"NMI(t−1, t)": "{:.3f}", "AMI(t−1, t)": "{:.3f}"})
        self._series["labels"] = _Series(x, {"NMI": nmi_labels, "AMI": ami_labels, "ARI": ari_labels},
                                         {"NMI": "{:.3f}", "AMI": "{:.3f}", "ARI": "{:.3f}"})
        self._series["loss"] = _Series(x, {"loss": loss}, {"loss": "{:.4f}"})
        self._series["time"] = _Series(
            x, {"features": t_feat, "clustering": t_clu, "training": t_train, "total": t_feat + t_clu + t_train},
            {k: "{:.1f} s" for k in ("features", "clustering", "training", "total")},
        )
        labels_visible = self._has_labels or not ms
        self.curves["nmi_labels"].setVisible(self._has_labels)
        self.curves["ami_labels"].setVisible(self._has_labels)
        self.curves["ari_labels"].setVisible(self._has_labels)
        self._no_labels_text.setVisible(not labels_visible)
        if not labels_visible:
            self._no_labels_text.setPos(max(1.0, (x[-1] + 1) / 2 if len(x) else 1.0), 0.5)
            self.plots["labels"].setXRange(0.5, max(2.0, x[-1] + 0.5 if len(x) else 2.0), padding=0)
        if len(x):
            last = ms[-1]
            parts = [f"{len(ms)} epoch{'s' if len(ms) != 1 else ''}"]
            if last.nmi_prev is not None:
                parts.append(f"NMI(t−1, t) {last.nmi_prev:.3f}")
            if last.ami_prev is not None:
                parts.append(f"AMI(t−1, t) {last.ami_prev:.3f}")
            if last.nmi_labels is not None:
                parts.append(f"NMI vs labels {last.nmi_labels:.3f}")
            if last.ami_labels is not None:
                parts.append(f"AMI vs labels {last.ami_labels:.3f}")
            if self.ami_pending:
                parts.append("AMI of earlier epochs: computing…")
            parts.append(f"loss {last.loss:.3f}")
            parts.append(f"{last.seconds:.1f} s/epoch")
            self.summary.setText("Last epoch: " + " · ".join(parts))
        else:
            self.summary.setText("No epochs yet: the plots fill in as training finishes each epoch.")
        self._show_hints(not ms)
        self._update_markers()
        self._update_sizes()

    @property
    def empty(self) -> bool:
        """True while the plots show their hints (no epoch yet)."""
        return not self._metrics

    def _show_hints(self, empty: bool) -> None:
        for name, plot in self.plots.items():
            item = plot.getPlotItem()
            self.hints[name].setVisible(empty)
            for axis in ("left", "bottom"):
                item.showAxis(axis, not empty)
            item.showGrid(x=not empty, y=not empty, alpha=0.25)
            vb = item.getViewBox()
            if empty:
                vb.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            elif name in ("loss", "time", "sizes"):
                vb.enableAutoRange()  # (sizes: its x range is set again by _update_sizes)
            elif name in ("stability", "labels"):
                vb.enableAutoRange(axis="x")

    @staticmethod
    def _set(curve: pg.PlotDataItem, x: np.ndarray, y: np.ndarray, symbols: bool) -> None:
        if not np.isfinite(y).any():  # nothing to draw yet (epoch 1 has no NMI(t-1, t))
            x, y = x[:0], y[:0]
        curve.setData(x, y)
        curve.setSymbol("o" if symbols else None)

    def _update_markers(self) -> None:
        for marker in self._markers.values():
            marker.setVisible(self._epoch > 0 and len(self._metrics) > 1)
            marker.setPos(self._epoch)

    def _update_sizes(self) -> None:
        plot = self.plots["sizes"]
        sizes = None
        if self._store is not None and self._epoch > 0:
            try:
                sizes = np.asarray(self._store.cluster_sizes(self._epoch))
            except KeyError:  # the epoch is not (yet) in this store
                sizes = None
        if sizes is None or sizes.size == 0:
            self.curves["sizes"].setData([], [])
            self.empty_line.setVisible(False)
            self._empty_text.setVisible(False)
            self._sizes_title = TITLES["sizes"]
            _set_title(plot.getPlotItem(), self._sizes_title, None, self._fg())
            self._series["sizes"] = _Series(x_label="rank")
            return
        ordered = np.sort(sizes)[::-1]
        nonempty = ordered[ordered > 0]
        n_empty = int(ordered.size - nonempty.size)
        ranks = np.arange(1, nonempty.size + 1, dtype=float)
        # stepMode="center" wants len(x) == len(y) + 1: bars centred on each rank.
        edges = np.arange(0.5, nonempty.size + 1.0, 1.0)
        self.curves["sizes"].setData(edges, nonempty.astype(float))
        k = int(ordered.size)
        self._sizes_title = f"{TITLES['sizes']}, epoch {self._epoch} (k = {k}, sorted)"
        _set_title(plot.getPlotItem(), self._sizes_title, None, self._fg())
        self.empty_line.setPos(nonempty.size + 0.5)
        self.empty_line.setVisible(n_empty > 0)
        self._empty_text.setText(f"{n_empty} empty cluster{'s' if n_empty != 1 else ''}"
                                 if n_empty else "no empty clusters")
        self._empty_text.setVisible(True)
        self._empty_text.setColor(self._empty_colour[0] if n_empty else self._empty_colour[1])
        plot.setXRange(0.5, k + 0.5, padding=0.01)
        top = math.log10(max(float(nonempty.max()), 1.0))
        self._empty_text.setPos(k + 0.5, top + 0.05)
        self._series["sizes"] = _Series(ranks, {"size": nonempty.astype(float)}, {"size": "{:.0f} images"}, "rank")

    # ---------------------------------------------------------------------------------------
    # hover / click
    # ---------------------------------------------------------------------------------------
    def _nearest(self, name: str, scene_pos: QPointF) -> tuple[int, float] | None:
        plot = self.plots[name]
        vb = plot.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos):
            return None
        series = self._series[name]
        if series.x.size == 0:
            return None
        x = vb.mapSceneToView(scene_pos).x()
        i = int(np.argmin(np.abs(series.x - x)))
        return i, float(series.x[i])

    def on_title(self, name: str, scene_pos: QPointF) -> bool:
        """Whether ``scene_pos`` lies on plot ``name``'s title."""
        return bool(self.plots[name].getPlotItem().titleLabel.sceneBoundingRect().contains(scene_pos))

    def _on_mouse_moved(self, name: str, scene_pos: QPointF) -> None:
        w = self.plots[name]
        if self.on_title(name, scene_pos):
            QToolTip.showText(w.mapToGlobal(w.mapFromScene(scene_pos)), self._title_help[name], w)
        line, text = self._hover[name]
        hit = self._nearest(name, scene_pos)
        if hit is None:
            line.setVisible(False)
            text.setVisible(False)
            return
        i, x = hit
        series = self._series[name]
        rows = [f"{series.x_label} {x:.0f}"]
        for label, values in series.columns.items():
            v = values[i]
            missing = "computing…" if self.ami_pending and label.startswith("AMI") else "–"
            rows.append(f"{label}: {series.fmt[label].format(v) if math.isfinite(v) else missing}")
        text.setText("\n".join(rows))
        vb = self.plots[name].getPlotItem().getViewBox()
        (x0, x1), (_y0, y1) = vb.viewRange()
        # Keep the label inside the view: flip it to the left of the line in the right half.
        text.setAnchor((1, 0) if x > (x0 + x1) / 2 else (0, 0))
        text.setPos(x, y1)
        line.setPos(x)
        line.setVisible(True)
        text.setVisible(True)

    def _on_mouse_clicked(self, name: str, ev: Any) -> None:
        if ev.button() == Qt.MouseButton.LeftButton and self.on_title(name, ev.scenePos()):
            self.glossaryRequested.emit(PLOT_HELP[name][1])
            return
        if name == "sizes" or ev.button() != Qt.MouseButton.LeftButton:
            return
        hit = self._nearest(name, ev.scenePos())
        if hit is not None:
            self.model.set_epoch(round(hit[1]))

    # ---------------------------------------------------------------------------------------
    # saving
    # ---------------------------------------------------------------------------------------
    def _save_one_clicked(self, name: str) -> None:
        start = str(Path(str(QSettings().value("paths/last_export_folder", str(Path.home())))) / f"{name}.png")
        path = ask_save_file(self, f"Save the {TITLES[name]} plot", start, "PNG image (*.png)")
        if path is None:
            return
        try:
            out = self.export_png(name, path)
        except Exception as exc:
            errors.show_error(self, exc, "Saving the plot failed")
            return
        QSettings().setValue("paths/last_export_folder", str(out.parent))

    def _save_all_clicked(self) -> None:
        start = str(QSettings().value("paths/last_export_folder", str(Path.home())))
        folder = ask_folder(self, "Save every plot as PNG into…", start)
        if folder is None:
            return
        try:
            written = self.export_all(folder)
        except Exception as exc:
            errors.show_error(self, exc, "Saving the plots failed")
            return
        QSettings().setValue("paths/last_export_folder", folder)
        self.summary.setText(f"Saved {len(written)} plots in {folder}")

    # ---------------------------------------------------------------------------------------
    # theme
    # ---------------------------------------------------------------------------------------
    @staticmethod
    def _title(name: str, dark: bool) -> tuple[str, str | None]:
        """Plot ``name``'s title and, for a plot with a legend, the legend alone (a narrow plot)."""
        gap = "&nbsp;&nbsp;"
        if name == "labels":
            legend = gap.join((_swatch("nmi_labels", dark, "NMI"), _swatch("ami_labels", dark, "AMI", "╍"),
                               _swatch("ari_labels", dark, "ARI")))
        elif name == "stability":
            legend = gap.join((_swatch("nmi_prev", dark, "NMI(t−1, t)"), _swatch("ami_prev", dark, "AMI(t−1, t)", "╍")))
        elif name == "time":
            names = {"features": "features", "clustering": "k-means", "training": "training"}
            legend = gap.join(_swatch(k, dark, text, "■") for k, text in names.items())
        else:
            return TITLES[name], None
        return f"{'Time:' if name == 'time' else TITLES[name]}{gap}{legend}", legend

    def _fg(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.Text)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        pal = self.palette()
        dark = theme.is_dark(pal)
        bg = pal.color(QPalette.ColorRole.Base)
        fg = pal.color(QPalette.ColorRole.Text)
        for name, w in self.plots.items():
            w.setBackground(bg)
            item = w.getPlotItem()
            for axis in ("left", "bottom"):
                ax = item.getAxis(axis)
                ax.setPen(pg.mkPen(fg))
                ax.setTextPen(pg.mkPen(fg))
            if name != "sizes":
                _set_title(item, *self._title(name, dark), fg)
            line, text = self._hover[name]
            line.setPen(pg.mkPen(fg, width=1, style=Qt.PenStyle.DotLine))
            fill = QColor(bg)
            fill.setAlpha(220)
            text.fill = pg.mkBrush(fill)
            text.border = pg.mkPen(fg)
            text.setColor(fg)
        for marker in self._markers.values():
            marker.setPen(pg.mkPen(_colour("marker", dark), width=1, style=Qt.PenStyle.DashLine))
        for key in ("nmi_prev", "nmi_labels", "ari_labels", "loss", "ami_prev", "ami_labels"):
            c = _colour(key, dark)
            dashed = Qt.PenStyle.DashLine if key.startswith("ami") else Qt.PenStyle.SolidLine
            self.curves[key].setPen(pg.mkPen(c, width=2, style=dashed))
            self.curves[key].setSymbolBrush(pg.mkBrush(c))
            self.curves[key].setSymbolPen(pg.mkPen(c))
            self.curves[key].setSymbolSize(6)
        sizes = _colour("sizes", dark)
        self.curves["sizes"].setPen(pg.mkPen(sizes, width=1))
        fill_sizes = QColor(sizes)
        fill_sizes.setAlpha(110)
        self.curves["sizes"].setBrush(pg.mkBrush(fill_sizes))
        self.empty_line.setPen(pg.mkPen(_colour("empty", dark), width=2, style=Qt.PenStyle.DashLine))
        self._empty_colour = (_colour("empty", dark), theme.muted_colour(pal))
        self._empty_text.setColor(self._empty_colour[0] if self.empty_line.isVisible() else self._empty_colour[1])
        for key, fill_item in zip(("features", "clustering", "training"), self._fills):
            c = _colour(key, dark)
            self.curves[key].setPen(pg.mkPen(c, width=1.5))
            self.curves[key].setSymbolBrush(pg.mkBrush(c))
            self.curves[key].setSymbolPen(pg.mkPen(c))
            self.curves[key].setSymbolSize(5)
            area = QColor(c)
            area.setAlpha(90)
            fill_item.setBrush(pg.mkBrush(area))
        self._no_labels_text.setColor(theme.muted_colour(pal))
        for hint in self.hints.values():
            hint.setColor(theme.muted_colour(pal))
        _set_title(self.plots["sizes"].getPlotItem(), self._sizes_title, None, fg)

def _set_title(item: pg.PlotItem, html: str, short: str | None, colour: QColor) -> None:
    item.setTitle(html, color=colour.name())
    item.titleLabel.set_variants(html, short, colour.name())


def _num(value: float | None) -> float:
    return math.nan if value is None else float(value)
