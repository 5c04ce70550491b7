"""Curation actions of the cluster browser: clipboard, file manager, exports.

Exports are planned by ``dcgui.services.curation`` (as ``dcgui curate`` and ``dcgui clusters``
are) and performed by ``dcgui.core.output.curate`` (never overwriting a file); this module only shows
the plan (a dry run) and runs it on a worker thread with progress. Planning looks at every source
file (one ``lstat`` each), so it runs on a worker too, once typing in the folder field pauses.
Dialogs are opened with ``open()``, not ``exec()``, so no nested event loop runs and tests
drive them directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QDir, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressDialog,
    QPushButton,
    QWidget,
)
from superqt.utils import qdebounced

from dcgui.core.control import RunControl
from dcgui.core.errors import DcguiError
from dcgui.core.events import PhaseProgress
from dcgui.gui.files import ask_folder, ask_save_file
from dcgui.gui.layout import button, dialog_buttons, hbox, vbox, wrapped_label
from dcgui.gui.worker import GeneratorWorker, WorkerError, call_job, worker_progress
from dcgui.services.curation import (
    CLUSTER_COLUMNS,
    EXIF_AT,
    CurationPlan,
    add_photo_facts,
    cluster_table,
    iter_curate,
    plan_curation,
    record_curation,
    write_cluster_table,
)
from dcgui.services.outputs import output_file

if TYPE_CHECKING:
    from dcgui.core.output.curate import CurateResult
    from dcgui.store import SessionStore

Status = Callable[[str], None]
EXPORT_MODES = {"copy": "Copy the files", "symlink": "Symbolic links to the originals"}
PLAN_DEBOUNCE_MS = 300  # typing pauses this long before the folder is planned


# ---------------------------------------------------------------------------------------------
# clipboard and file manager
# ---------------------------------------------------------------------------------------------
def copy_paths_to_clipboard(paths: Sequence[Path]) -> str:
    """Put one absolute path per line on the clipboard; returns the text."""
    text = "\n".join(str(p) for p in paths)
    QGuiApplication.clipboard().setText(text)
    return text


def open_containing_folder(path: Path) -> bool:
    """Open the folder holding ``path`` in the system file manager (False if none could)."""
    folder = path if path.is_dir() else path.parent
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))))


# ---------------------------------------------------------------------------------------------
# export clusters to folders
# ---------------------------------------------------------------------------------------------
def _apply_job(plan: CurationPlan) -> Callable[[RunControl], Generator[Any, None, CurateResult]]:
    def job(control: RunControl) -> Generator[Any, None, CurateResult]:
        return (yield from iter_curate(plan, control))

    return job


class ExportClustersDialog(QDialog):
    """Target folder + mode, a live dry-run summary, then the export with progress."""

    def __init__(self, parent: QWidget | None, store: SessionStore, epoch: int, clusters: Sequence[int | str],
                 titles: Callable[[str], str] | None = None, status: Status | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export clusters to folders")
        self.store = store
        self.epoch = epoch
        self.clusters = list(dict.fromkeys(str(c) for c in clusters))  # cluster ids or group keys (12.2, g5)
        self.status = status or (lambda _m: None)
        self.plan: CurationPlan | None = None
        self.worker: GeneratorWorker | None = None
        self._planner: GeneratorWorker | None = None
        self._plan_request = 0  # the newest plan asked for; older answers are dropped
        self._plan_inputs: tuple[str, str, bool] | None = None  # what self.plan was made for
        self._export_when_planned = False
        self.plans_made = 0  # (tests: how often the folder was planned)
        self.result_: CurateResult | None = None
        self.progress: QProgressDialog | None = None
        titles = titles or (lambda key: f"cluster {key}")

        shown = ", ".join(titles(c) for c in self.clusters[:8]) + (" …" if len(self.clusters) > 8 else "")
        self.target = QLineEdit(self)
        self.target.setPlaceholderText("Choose an empty or new folder")
        self.mode = QComboBox(self)
        for key, text in EXPORT_MODES.items():
            self.mode.addItem(text, key)
        self.leave_out = QCheckBox("Leave out images flagged “exclude”", self)
        self.leave_out.setChecked(True)
        self.summary = wrapped_label()
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setMinimumWidth(460)
        self.export_button = QPushButton("Export")
        self.buttons = dialog_buttons(self, QDialogButtonBox.StandardButton.Cancel, self.export_button)

        form = QFormLayout()
        form.addRow("Clusters", QLabel(f"{shown} (epoch {epoch})", self))
        form.addRow("Into", hbox((self.target, 1), button("Browse…", self._browse)))
        form.addRow("How", self.mode)
        form.addRow("", self.leave_out)
        vbox(form, self.summary, self.buttons, parent=self)
        # typing plans once the field rests (each plan lstat()s every image); choices plan at once
        self._plan_later: Any = qdebounced(self.update_plan, timeout=PLAN_DEBOUNCE_MS, parent=self)
        self.target.textChanged.connect(self._on_target_text)
        self.mode.currentIndexChanged.connect(self.update_plan)
        self.leave_out.toggled.connect(self.update_plan)
        self.update_plan()

    def set_target(self, path: Path | str) -> None:
        self.target.setText(str(path))

    def set_mode(self, mode: str) -> None:
        self.mode.setCurrentIndex(max(0, self.mode.findData(mode)))

    def _inputs(self) -> tuple[str, str, bool]:
        return self.target.text().strip(), str(self.mode.currentData()), self.leave_out.isChecked()

    def _on_target_text(self, _text: str) -> None:
        self.export_button.setEnabled(False)  # the shown plan is for another folder now
        self._plan_later()

    @property
    def planning(self) -> bool:
        """Whether a plan for the current options is still being made (tests)."""
        return self._plan_inputs != self._inputs() and bool(self._inputs()[0])

    def update_plan(self) -> None:
        """Make the dry run for the current options on a worker (lists the target folders only);
        the summary and the Export button follow when it arrives."""
        self._plan_later.cancel()
        text, mode, leave_out = inputs = self._inputs()
        self._plan_request += 1
        if not text:
            self.plan, self._plan_inputs = None, inputs
            self.summary.setText("Choose the folder to export into: one sub-folder per cluster is created in it.")
            self.export_button.setEnabled(False)
            return
        out = Path(os.path.expanduser(text))
        if not out.is_absolute():
            self.plan, self._plan_inputs = None, inputs
            self.summary.setText(f"{text} is not an absolute path: choose the folder with Browse…")
            self.export_button.setEnabled(False)
            return
        self.export_button.setEnabled(False)
        self.summary.setText(f"Looking at {text} and the {self.store.n_images:,} images…")
        request, path, epoch, clusters = self._plan_request, self.store.path, self.epoch, list(self.clusters)

        def plan() -> tuple[int, tuple[str, str, bool], CurationPlan]:
            from dcgui.services.session import open_session

            # its own read-only connection: the window's stays free; the file was checked on open
            with open_session(path, readonly=True, check=False) as store:
                return request, inputs, plan_curation(store, epoch, out, mode, clusters, leave_out)

        worker = GeneratorWorker(call_job(plan), name="plan-export", parent=self, returned=self._on_plan,
                                 errored=lambda err, r=request: self._on_plan_error(r, err))
        self._planner = worker
        worker.start()

    def _on_plan(self, value: tuple[int, tuple[str, str, bool], CurationPlan]) -> None:
        request, inputs, plan = value
        if request != self._plan_request:
            return  # the options changed since: a newer plan is on its way
        self.plan, self._plan_inputs = plan, inputs
        self.plans_made += 1
        self.summary.setText(plan.summary())
        self._fit_summary()
        ok = not plan.error and plan.n_files > 0
        self.export_button.setEnabled(ok)
        if self._export_when_planned:
            self._export_when_planned = False
            if ok:
                super().accept()
                self.worker = start_export(self.parentWidget(), self.store, plan, self.status, self)

    def _on_plan_error(self, request: int, err: WorkerError) -> None:
        if request != self._plan_request:
            return
        self.plan, self._export_when_planned = None, False
        self.summary.setText(err.message)
        self._fit_summary()
        self.export_button.setEnabled(False)

    def _fit_summary(self) -> None:
        """Grow the dialog when the summary needs more lines: a dialog on screen does not follow
        its label's height, and the end of the sentence (the refusal, the warning) was cut off."""
        lay = self.layout()
        if not self.isVisible() or lay is None:
            return
        need = lay.totalHeightForWidth(self.width())  # the whole dialog with the label's wrapped text
        if need > self.height():
            self.resize(self.width(), need)

    def _browse(self) -> None:
        if (chosen := ask_folder(self, "Export clusters into", self.target.text() or self.store.folder.parent)):
            self.set_target(chosen)

    def accept(self) -> None:
        """Plan again (the folder may have changed since the summary was shown), then run the
        export on a worker thread (the dialog closes, a progress dialog shows)."""
        self._export_when_planned = True
        self.update_plan()

    def wait_plan(self, timeout_ms: int = 30_000) -> bool:
        """Tests: block until the newest plan has been made (its answer still comes as an event)."""
        return self._planner.wait(timeout_ms) if self._planner is not None else True

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Tests: block until the export thread has ended (after its plan)."""
        return self.worker.wait(timeout_ms) if self.worker is not None else True


def start_export(parent: QWidget | None, store: SessionStore, plan: CurationPlan, status: Status,
                 owner: ExportClustersDialog | None = None) -> GeneratorWorker:
    """Apply ``plan`` on a worker with a progress dialog; record the export in the session."""
    worker = GeneratorWorker(_apply_job(plan), name="export-clusters", parent=parent)
    progress = worker_progress(worker, parent, f"Exporting {plan.n_files:,} files…", "Export clusters",
                               max(1, plan.n_files))
    if owner is not None:
        owner.progress = progress

    def on_event(ev: object) -> None:
        if isinstance(ev, PhaseProgress):
            progress.setValue(ev.done)

    def on_returned(result: CurateResult) -> None:
        if owner is not None:
            owner.result_ = result
        try:
            record_curation(store, plan, result, "clusters")
        except Exception as exc:  # the export itself succeeded: only the log entry is missing
            status(f"Exported, but could not record it in {store.path.name}: {exc}")
        msg = f"Exported {len(result.done):,} files into {plan.out_dir}"
        if result.failed:
            msg += f"; {len(result.failed)} failed (first: {result.failed[0][0].name}: {result.failed[0][1]})"
            from dcgui.gui.errors import show_error

            lines = "\n".join(f"{src}: {why}" for src, why in result.failed[:50])
            show_error(parent, f"{len(result.failed)} of {plan.n_files} files could not be exported into "
                               f"{plan.out_dir}. The others were exported.", title="Export clusters", details=lines)
        status(msg)

    def on_errored(err: WorkerError) -> None:
        from dcgui.gui.errors import show_error

        show_error(parent, err, title="Export clusters")

    worker.event.connect(on_event)
    worker.returned.connect(on_returned)
    worker.stopped.connect(lambda: status(f"Export into {plan.out_dir} stopped; the files exported so far are kept"))
    worker.errored.connect(on_errored)
    worker.start()
    return worker


def export_clusters(parent: QWidget, store: SessionStore, epoch: int, clusters: Sequence[int | str],
                    status: Status, titles: Callable[[str], str] | None = None) -> ExportClustersDialog:
    """Open the export dialog (non-blocking); the export starts when the user accepts it."""
    dialog = ExportClustersDialog(parent, store, epoch, clusters, titles, status)
    dialog.open()
    return dialog


# ---------------------------------------------------------------------------------------------
# export assignments as CSV
# ---------------------------------------------------------------------------------------------
def ask_save_path(parent: QWidget | None, suggested: Path) -> Path | None:
    """Ask where to save the CSV (tests replace this). ``.csv`` is added only to a name typed
    without any suffix: a file the user picked (the session file, say) is taken as picked, so the
    output check refuses it by its own name instead of writing ``NAME.dcgui.csv`` beside it."""
    out = ask_save_file(parent, "Export cluster assignments", suggested, "CSV files (*.csv)")
    return out if out is None or out.suffix or out.exists() else out.with_name(out.name + ".csv")


def export_assignments_csv(parent: QWidget | None, store: SessionStore, epoch: int, status: Status,
                           path: Path | None = None) -> GeneratorWorker | None:
    """Write the cluster table of ``epoch`` (``CLUSTER_COLUMNS``: names, groups, flags and who set
    them, EXIF date and camera) through the one CSV writer; asks for the file unless ``path`` is
    given. The session file or its data is refused (``services.outputs.output_file``) with a message."""
    if path is None:
        suggested = Path(QDir.homePath()) / f"{store.path.stem}_epoch{epoch:03d}_clusters.csv"
        path = ask_save_path(parent, suggested)
        if path is None:
            return None
    try:
        output_file(path, store.path, "CSV file")
        # SQLite reads stay on the store's thread; the EXIF header reads go to the worker
        rows = cluster_table(store, epoch, absolute=True, columns=CLUSTER_COLUMNS[:EXIF_AT])
    except DcguiError as exc:
        from dcgui.gui.errors import show_error

        status(str(exc))
        show_error(parent, exc, title="Export CSV")
        return None
    out = path
    n_rows = len(rows)

    def job(control: RunControl) -> Generator[Any, None, Path]:
        add_photo_facts(rows, [Path(r[0]) for r in rows], control)  # absolute paths, checked above
        write_cluster_table(out, rows)
        return out
        yield  # pragma: no cover - makes this a generator

    def done(_result: object) -> None:
        try:
            store.record_export("csv", out, {"epoch": epoch, "rows": n_rows})
        except Exception as exc:
            status(f"Wrote {out}, but could not record it in {store.path.name}: {exc}")
            return
        status(f"Wrote {n_rows:,} rows to {out}")

    def failed(err: WorkerError) -> None:
        from dcgui.gui.errors import show_error

        show_error(parent, f"Could not write {out}: {err.message}", title="Export CSV", details=err.details)

    worker = GeneratorWorker(job, name="export-csv", parent=parent, returned=done, errored=failed)
    worker.start()
    return worker
