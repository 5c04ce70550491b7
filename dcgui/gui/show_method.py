"""File ▸ Export report… and File ▸ Compare with…: the window's side of ``dcgui report`` and
``dcgui compare``. Both run the same services on a worker (its own read-only connection) with a
progress bar; the comparison is drawn with pyqtgraph and can be saved as the same HTML page."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from dcgui.core.events import PhaseProgress
from dcgui.gui import errors
from dcgui.gui.files import ask_save_file
from dcgui.gui.layout import Stretch, button, dialog_buttons, hbox, open_dialog, vbox, wrapped_label
from dcgui.gui.session_model import SessionModel
from dcgui.gui.worker import GeneratorWorker, WorkerError, session_job
from dcgui.services.compare import Comparison, compare_html, setting_rows
from dcgui.services.html import COLOURS
from dcgui.services.metrics import metric_arrays

LAST_DIR_KEY = "paths/last_export_folder"


def ask_report_path(parent: QWidget | None, suggested: Path) -> Path | None:
    """Where to write the report. Tests replace this."""
    return ask_save_file(parent, "Export the report as", suggested, "HTML page (*.html)")


def ask_sessions(parent: QWidget | None, start: Path) -> list[Path]:
    """The sessions to compare with the open one. Tests replace this."""
    paths, _ = QFileDialog.getOpenFileNames(parent, "Compare with…", str(start), "dcgui sessions (*.dcgui)")
    return [Path(p) for p in paths]


class ReportDialog(QDialog):
    """Writes the report of the model's session with a progress bar; Close when done."""

    def __init__(self, model: SessionModel, out: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export report")
        self.model = model
        self.out = out
        self.result: Any = None
        self.label = wrapped_label(f"Writing {out.name}…")
        self.progress = QProgressBar()
        self.buttons = dialog_buttons(self, QDialogButtonBox.StandardButton.Cancel, reject=self._cancel)
        vbox(self.label, self.progress, self.buttons, parent=self)
        store = model.store
        assert store is not None
        from dcgui.services.report import iter_report

        self.worker = GeneratorWorker(
            session_job(store.path, lambda s, control: iter_report(s, out, control=control)), name="report",
            event=self._on_event, returned=self._on_done, errored=self._on_error,
            stopped=lambda: self.label.setText("Stopped: no report was written."), finished=self._on_finished)
        self.worker.start()

    def _on_event(self, ev: Any) -> None:
        if isinstance(ev, PhaseProgress) and ev.phase == "report":
            self.progress.setRange(0, max(ev.total, 1))
            self.progress.setValue(ev.done)

    def _on_done(self, result: Any) -> None:
        self.result = result
        store = self.model.store
        if store is not None and self.model.writable:
            try:
                store.record_export("report", result.path, {"epoch": result.epoch, "bytes": result.bytes})
            except Exception as exc:  # the page is written; only the session's note failed
                errors.show_error(self, exc, "Recording the report in the session failed")
        self.progress.setValue(self.progress.maximum())
        self.label.setText(f"Wrote {result.path} ({result.bytes / 1e6:.1f} MB, {result.cards} cluster cards) "
                           f"in {result.seconds:.1f} s. It opens offline in any browser.")

    def _on_error(self, err: WorkerError) -> None:
        self.label.setText(err.message)
        errors.show_error(self, err, "The report could not be written")

    def _on_finished(self) -> None:
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.accept)

    def _cancel(self) -> None:
        self.worker.stop()

    def wait(self, timeout_ms: int = 120_000) -> bool:
        return self.worker.wait(timeout_ms)


def export_report(parent: QWidget, model: SessionModel) -> ReportDialog | None:
    store = model.store
    if store is None:
        return None
    start = Path(str(QSettings().value(LAST_DIR_KEY, str(store.path.parent))))
    out = ask_report_path(parent, start / f"{store.path.stem}-report.html")
    if out is None:
        return None
    try:
        from dcgui.services.outputs import check_output

        out = check_output(out, store.path, "report")
    except Exception as exc:
        errors.show_error(parent, exc, "Cannot write the report there")
        return None
    QSettings().setValue(LAST_DIR_KEY, str(out.parent))
    return open_dialog(ReportDialog(model, out, parent))


class CompareDialog(QDialog):
    """Several runs: NMI/AMI and loss curves (one colour per run; AMI dashed), evaluations,
    settings with the differences highlighted; "Save as HTML…" writes ``dcgui compare``'s page."""

    def __init__(self, paths: Sequence[Path], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare runs")
        self.resize(1100, 760)
        self.paths = list(paths)
        self.comparison: Comparison | None = None
        self.status = QLabel(f"Reading {len(paths)} sessions…")
        self.status.setWordWrap(True)
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #a04000; font-weight: 600")
        self.warning.setVisible(False)
        self.plots: dict[str, pg.PlotWidget] = {}
        row = QHBoxLayout()
        from dcgui.gui.plots import _IntegerAxis

        for name, title in (("stability", "Between epochs: NMI ─, AMI ┄"),
                            ("labels", "Against the labels: NMI ─, AMI ┄"), ("loss", "Training loss")):
            w = pg.PlotWidget(title=title, axisItems={"bottom": _IntegerAxis("bottom")})
            w.setBackground("w")
            w.showGrid(x=True, y=True, alpha=0.25)
            w.setLabel("bottom", "epoch")
            w.addLegend(offset=(-5, -5))  # bottom right: the curves start top left
            self.plots[name] = w
            row.addWidget(w)
        self.settings = QTableWidget(0, 0)
        self.settings.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.evaluation = QTableWidget(0, 5)
        self.evaluation.setHorizontalHeaderLabels(["run", "model", "kNN accuracy", "linear probe", "NMI (k-means)"])
        self.evaluation.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.evaluation.setVisible(False)
        self.save_button = button("Save as HTML…", self._save)
        self.save_button.setEnabled(False)
        close = dialog_buttons(self, QDialogButtonBox.StandardButton.Close)
        vbox(self.status, self.warning, (row, 3), (self.evaluation, 1), (self.settings, 2),
             hbox(self.save_button, Stretch(1), close), parent=self)

        def factory(control: Any) -> Any:
            from dcgui.services.compare import iter_compare_data

            return (yield from iter_compare_data(self.paths))

        self.worker = GeneratorWorker(factory, name="compare", returned=self.show_comparison, errored=self._on_error)
        self.worker.start()

    def wait(self, timeout_ms: int = 60_000) -> bool:
        return self.worker.wait(timeout_ms)

    def _on_error(self, err: WorkerError) -> None:
        self.status.setText(err.message)
        errors.show_error(self, err, "The runs could not be compared")

    def show_comparison(self, cmp: Comparison) -> None:
        self.comparison = cmp
        runs = cmp.runs
        self.status.setText(f"{len(runs)} runs: " + ", ".join(f"{r.name} ({len(r.metrics)} epochs)" for r in runs))
        self.warning.setText("\n".join(cmp.warnings))
        self.warning.setVisible(bool(cmp.warnings))
        for w in self.plots.values():
            w.clear()
        for i, r in enumerate(runs):
            a = metric_arrays(r.metrics)
            colour = QColor(COLOURS[i % len(COLOURS)])
            solid, dashed = pg.mkPen(colour, width=2), pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine)
            for plot, key, pen, label in (("stability", "nmi_prev", solid, "NMI"), ("stability", "ami_prev", dashed, "AMI"),
                                          ("labels", "nmi_labels", solid, "NMI"), ("labels", "ami_labels", dashed, "AMI"),
                                          ("loss", "loss", solid, "")):
                y = a[key]
                if np.isfinite(y).any():
                    self.plots[plot].plot(a["epoch"], y, pen=pen, name=f"{r.name} {label}".strip(), connect="finite",
                                          symbol="o" if len(y) <= 60 else None, symbolSize=5,
                                          symbolBrush=colour, symbolPen=colour)
        for w in self.plots.values():
            w.getPlotItem().enableAutoRange()
            w.getPlotItem().autoRange()
        rows, differ = setting_rows(runs)
        self.settings.setColumnCount(len(runs) + 1)
        self.settings.setHorizontalHeaderLabels(["setting", *[r.name for r in runs]])
        self.settings.setRowCount(len(rows))
        highlight = QColor("#fff3b0")
        for i, row in enumerate(rows):
            for c, value in enumerate(row):
                item = QTableWidgetItem(value)
                if i in differ:
                    item.setBackground(highlight)
                    item.setForeground(QColor("#000000"))
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                self.settings.setItem(i, c, item)
        self.settings.resizeColumnsToContents()
        evals = [(r.name, row) for r in runs if r.evaluation for row in r.evaluation.get("rows", [])]
        self.evaluation.setVisible(bool(evals))
        self.evaluation.setRowCount(len(evals))
        for i, (name, row) in enumerate(evals):
            for c, value in enumerate((name, row["model"], f"{row['knn_acc']:.3f}", f"{row['linear_acc']:.3f}",
                                       f"{row['nmi']:.3f}")):
                self.evaluation.setItem(i, c, QTableWidgetItem(value))
        self.save_button.setEnabled(True)

    def _save(self) -> None:
        if self.comparison is None:
            return
        start = Path(str(QSettings().value(LAST_DIR_KEY, str(self.paths[0].parent))))
        out = ask_report_path(self, start / "compare.html")
        if out is None:
            return
        try:
            from dcgui.core.fsutil import atomic_write_text
            from dcgui.services.outputs import check_output

            for p in self.paths:
                check_output(out, p, "comparison")
            atomic_write_text(out, compare_html(self.comparison))  # small: a few hundred kB
        except Exception as exc:
            errors.show_error(self, exc, "The comparison could not be saved")
            return
        self.status.setText(f"Saved {out}")


def compare_with(parent: QWidget, model: SessionModel) -> CompareDialog | None:
    store = model.store
    if store is None:
        return None
    others = [p for p in ask_sessions(parent, store.path.parent) if p.absolute() != store.path.absolute()]
    if not others:
        return None
    return open_dialog(CompareDialog([store.path, *others], parent))
