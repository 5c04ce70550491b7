"""Export the trained backbone: PyTorch state dict, TorchScript or ONNX.

The export runs in a ``GeneratorWorker``: loading a checkpoint and tracing or ONNX-exporting a network
takes seconds, and the window must keep answering. ``dcgui.core.output.export.export_backbone`` writes
the model file and its preprocessing JSON beside it (``FILE.json``); the export is then recorded
in the session (``store.record_export``) from the GUI thread, which owns that connection.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QProgressBar,
    QWidget,
)

from dcgui.core.control import RunControl
from dcgui.core.errors import DcguiError
from dcgui.gui import errors, theme
from dcgui.gui.files import ask_save_file
from dcgui.gui.layout import button, dialog_buttons, hbox, vbox, wrapped_label
from dcgui.gui.worker import GeneratorWorker, WorkerError
from dcgui.services.export import (
    backbone_outputs,
    backbone_source,
    export_backbone_file,
    record_backbone_export,
)

if TYPE_CHECKING:
    from dcgui.store import SessionStore

# (format id of dcgui.core.output.export, label, file suffix, what it needs to run)
FORMATS = [
    ("state-dict", "PyTorch state dict", ".pt", "Load with dcgui.load_backbone(path) (needs dcgui)."),
    ("torchscript", "TorchScript", ".torchscript.pt", "Load with torch.jit.load(path) (needs torch only)."),
    ("onnx", "ONNX", ".onnx", "Runs with onnxruntime or any ONNX runtime (no torch needed)."),
]
LAST_EXPORT_DIR_KEY = "paths/last_export_folder"


def backbone_job(checkpoint: Path, sha256: str, fmt: str, out: Path, epoch: int) -> Any:
    """Worker factory: rebuild the checkpoint's backbone on the CPU (checked against its recorded
    sha256, as ``dcgui export`` does) and export it."""

    def job(control: RunControl) -> Generator[Any, None, dict[str, Any]]:
        control.check()
        return export_backbone_file(checkpoint, sha256, epoch, fmt, out)
        yield  # pragma: no cover - a generator for GeneratorWorker

    return job


class ExportDialog(QDialog):
    """Choose format, epoch and file; "Export" runs in the background and reports what it wrote."""

    def __init__(self, store: SessionStore, parent: QWidget | None = None, epoch: int | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export backbone")
        self.setMinimumWidth(560)
        self._store = store
        self._worker: GeneratorWorker | None = None
        self._path_edited = False
        self.written: list[Path] = []

        self.format_combo = QComboBox()
        for fid, label, _suffix, note in FORMATS:
            self.format_combo.addItem(label, fid)
            self.format_combo.setItemData(self.format_combo.count() - 1, note, Qt.ItemDataRole.ToolTipRole)
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.format_note = wrapped_label()

        self.epoch_combo = QComboBox()
        checkpoints = [(e, p) for e, p, _sha in store.checkpoints() if p.exists()]
        for e, p in reversed(checkpoints):
            text = f"epoch {e}" + (" (random initialisation)" if e == 0 else "")
            self.epoch_combo.addItem(text, e)
            self.epoch_combo.setItemData(self.epoch_combo.count() - 1, str(p), Qt.ItemDataRole.ToolTipRole)
        self._checkpoints = dict(checkpoints)
        if epoch is not None and self.epoch_combo.findData(epoch) >= 0:
            self.epoch_combo.setCurrentIndex(self.epoch_combo.findData(epoch))
        self.epoch_combo.currentIndexChanged.connect(self._suggest_path)

        self.path_edit = QLineEdit()
        self.path_edit.textEdited.connect(self._edited_path)
        path_row = hbox((self.path_edit, 1), button("Browse…", self._browse))

        form = QFormLayout()
        form.addRow("Format:", self.format_combo)
        form.addRow("", self.format_note)
        form.addRow("Checkpoint:", self.epoch_combo)
        form.addRow("File:", path_row)

        self.info = wrapped_label("The preprocessing (input size, mean/std, Sobel, feature size) is written "
                                  "beside the model as FILE.json and embedded in the file.")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setVisible(False)
        self.result_label = wrapped_label()
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.export_button = button("Export", self.start_export)
        self.buttons = dialog_buttons(self, QDialogButtonBox.StandardButton.Close, self.export_button,
                                      QDialogButtonBox.ButtonRole.ActionRole)
        vbox(form, self.info, self.progress, self.result_label, self.buttons, parent=self)
        if not checkpoints:
            self.result_label.setText("This session has no checkpoint yet: train at least one epoch first.")
            self.export_button.setEnabled(False)
        self._format_changed()

    # ---------------------------------------------------------------------------------------
    def selected_format(self) -> str:
        return str(self.format_combo.currentData())

    def selected_epoch(self) -> int:
        data = self.epoch_combo.currentData()
        return int(data) if data is not None else 0

    def set_output(self, path: str | Path) -> None:
        self.path_edit.setText(str(path))
        self._path_edited = True

    def _suffix(self) -> str:
        return next(s for f, _l, s, _n in FORMATS if f == self.selected_format())

    def _format_changed(self) -> None:
        self.format_note.setText(next(n for f, _l, _s, n in FORMATS if f == self.selected_format()))
        if self._path_edited and self.path_edit.text():
            text = self.path_edit.text()
            for _f, _l, suffix, _n in sorted(FORMATS, key=lambda f: -len(f[2])):
                if text.endswith(suffix):
                    text = text[: -len(suffix)]
                    break
            self.path_edit.setText(text + self._suffix())
        else:
            self._suggest_path()

    def _suggest_path(self) -> None:
        if self._path_edited:
            return
        folder = Path(str(QSettings().value(LAST_EXPORT_DIR_KEY, str(self._store.path.parent))))
        if not folder.is_dir():
            folder = self._store.path.parent
        stem = self._store.path.name.removesuffix(".dcgui")
        self.path_edit.setText(str(folder / f"{stem}_epoch{self.selected_epoch():04d}{self._suffix()}"))

    def _edited_path(self, _text: str) -> None:
        self._path_edited = True

    def _browse(self) -> None:
        label = self.format_combo.currentText()
        if (path := ask_save_file(self, "Export the backbone as", self.path_edit.text(),
                                  f"{label} (*{self._suffix()});;All files (*)")):
            self.set_output(path)

    # ---------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_running

    def start_export(self) -> None:
        if self.running:
            return
        text = self.path_edit.text().strip()
        if not text:
            self._show_problem("Choose a file to write the backbone to.")
            return
        epoch = self.selected_epoch()
        try:  # never over the session file or into its data folder; the checkpoint must be there
            out = backbone_outputs(Path(text).expanduser(), self._store.path)
            checkpoint, sha256 = backbone_source(self._store, epoch)
        except DcguiError as exc:
            self._show_problem(str(exc))
            return
        fmt = self.selected_format()
        worker = GeneratorWorker(backbone_job(checkpoint, sha256, fmt, out, epoch), name="export",
                                 returned=lambda meta, o=out, f=fmt, e=epoch: self._on_done(o, f, e, meta),
                                 errored=self._on_error, finished=self._on_finished)
        self._worker = worker
        self.progress.setVisible(True)
        self.export_button.setEnabled(False)
        self.result_label.setStyleSheet("")
        self.result_label.setText(f"Exporting epoch {epoch} as {self.format_combo.currentText()}…")
        worker.start()

    def _on_done(self, out: Path, fmt: str, epoch: int, meta: dict[str, Any]) -> None:
        self.written = [out, Path(str(out) + ".json")]
        try:
            record_backbone_export(self._store, fmt, out, epoch, meta)
        except Exception as exc:  # the files are written; only the session's note failed
            errors.show_error(self, exc, "Recording the export in the session failed")
        QSettings().setValue(LAST_EXPORT_DIR_KEY, str(out.parent))
        size = out.stat().st_size / 1e6 if out.exists() else 0.0
        self.result_label.setText(f"Wrote {out} ({size:.1f} MB) and {out.name}.json beside it.")

    def _on_error(self, err: WorkerError) -> None:
        self._show_problem(err.message)
        errors.show_error(self, err, "Export failed")

    def _on_finished(self) -> None:
        self.progress.setVisible(False)
        self.export_button.setEnabled(True)

    def _show_problem(self, text: str) -> None:
        self.result_label.setText(text)
        self.result_label.setStyleSheet(f"color: {theme.error_colour(self.palette()).name()};")

    def reject(self) -> None:
        if self.running:  # an export cannot be interrupted half-way; it finishes in seconds
            self.result_label.setText("Please wait: the export finishes in a moment.")
            return
        super().reject()
