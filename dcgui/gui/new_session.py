"""The "New session" dialog: choose a folder, scan it in the background, set up, create.

Scanning runs in a ``GeneratorWorker`` over ``collection.iter_scan`` (with progress and Cancel)
and ends with the counts and the skipped files with their reasons. The settings form then gets
the collection's size and class count for its defaults; the devices detected on this machine
(``device.available_devices()``, which imports torch) are looked up in the same worker, so the
dialog opens at once. "Create session" writes the ``.dcgui`` file (default: beside the folder,
named after it) and records the scanned image list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHeaderView,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from dcgui.core.control import RunControl
from dcgui.core.events import PhaseProgress
from dcgui.gui import errors, theme
from dcgui.gui.expected_time import ExpectedTimeLabel
from dcgui.gui.files import ask_folder, ask_open_file, ask_save_file
from dcgui.gui.layout import Stretch, button, dialog_buttons, hbox, vbox, wrapped_label
from dcgui.gui.settings_form import SettingsForm
from dcgui.gui.worker import GeneratorWorker, WorkerError

if TYPE_CHECKING:
    from collections.abc import Generator

    from dcgui.core.images.collection import ScanResult
    from dcgui.core.train.backbone import InitWeights

LAST_FOLDER_KEY = "paths/last_folder"
LAST_SESSION_DIR_KEY = "paths/last_session_dir"
LAST_BACKBONE_KEY = "paths/last_backbone_dir"
BACKBONE_FIELDS = ("arch", "image_size", "sobel", "projection")  # what a backbone file may fix
SESSION_SUFFIX = ".dcgui"


@dataclass(frozen=True)
class DevicesFound:
    """Yielded by the scan job before scanning: what ``available_devices()`` detected."""

    devices: list[tuple[str, str]]


def scan_job(folder: Path) -> Any:
    """Factory for the worker: detect devices, then ``iter_scan(folder)``; returns the ScanResult."""

    def job(control: RunControl) -> Generator[Any, None, ScanResult]:
        from dcgui.core.device import available_devices
        from dcgui.core.images.collection import iter_scan

        yield DevicesFound(list(available_devices()))
        result: ScanResult = yield from iter_scan(folder, control)
        return result

    return job


def backbone_job(path: Path) -> Any:
    """Factory for the worker: read and check a backbone file (``--init``) off the GUI thread."""

    def job(control: RunControl) -> Generator[Any, None, InitWeights]:
        from dcgui.services.training import read_init

        return read_init(str(path))
        yield  # a generator for the worker  # pragma: no cover

    return job


def default_session_path(folder: Path) -> Path:
    """``<parent>/<folder name>.dcgui`` beside the folder (``-2``, ``-3``... if taken); the per-user
    data folder when the parent cannot be written (a read-only card, a system folder)."""
    folder = Path(folder)
    parent = folder.parent
    if not os.access(parent, os.W_OK):
        import platformdirs

        parent = Path(platformdirs.user_data_dir("dcgui")) / "sessions"
    name = folder.name or "photos"
    candidate = parent / f"{name}{SESSION_SUFFIX}"
    n = 2
    while candidate.exists() or Path(str(candidate) + ".d").exists():
        candidate = parent / f"{name}-{n}{SESSION_SUFFIX}"
        n += 1
    return candidate


class NewSessionDialog(QDialog):
    """``sessionCreated(str)`` carries the new session file's path once it is written."""

    sessionCreated = Signal(str)

    def __init__(self, parent: QWidget | None = None, folder: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New session from a folder of images")
        self.setMinimumWidth(640)
        self._worker: GeneratorWorker | None = None
        self._scan: ScanResult | None = None
        self._devices_known = False
        self._session_path_edited = False
        self.created_path: Path | None = None
        self._init: InitWeights | None = None  # the backbone the session starts from, if any
        self._init_worker: GeneratorWorker | None = None

        # 1. Folder
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("The folder that holds your images (sub-folders included)")
        self.folder_edit.returnPressed.connect(lambda: self.set_folder(Path(self.folder_edit.text())))
        folder_row = hbox((self.folder_edit, 1), button("Choose…", self.choose_folder))

        # 2. Scan
        self.scan_label = wrapped_label("Choose a folder to scan.")
        self.scan_progress = QProgressBar()
        self.scan_progress.setTextVisible(False)
        self.scan_progress.setMaximumHeight(14)
        self.scan_progress.setVisible(False)
        self.cancel_scan_button = button("Cancel scan", self.cancel_scan)
        self.cancel_scan_button.setVisible(False)
        self.skipped_tree = QTreeWidget()
        self.skipped_tree.setHeaderLabels(["Skipped file", "Reason"])
        self.skipped_tree.setRootIsDecorated(False)
        self.skipped_tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.skipped_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.skipped_tree.setMaximumHeight(130)
        self.skipped_tree.setVisible(False)

        folder_box = QGroupBox("1. Images")
        vbox(folder_row, self.scan_label, hbox((self.scan_progress, 1), self.cancel_scan_button), self.skipped_tree,
             parent=folder_box)

        # 3. Settings
        self.form = SettingsForm()
        self.form.validityChanged.connect(lambda _v: self._update_buttons())
        self.expected = ExpectedTimeLabel()
        self.expected.setToolTip("Measured by running a few training steps of this network on this machine; "
                                 "a machine busy with other work trains slower.")
        self.form.validityChanged.connect(lambda _v: self._update_expected())
        # Start from a backbone instead of a random network (dcgui train --init)
        self.init_button = button("Start from a backbone file…", self.choose_backbone, tip=(
            "Start from a trained backbone instead of a random network: a file written by Export ▸ "
            "backbone (state dict) or a torchvision ResNet state dict. Its architecture, input size and "
            "Sobel setting are then fixed by the file. TorchScript files are refused (loading them runs code)."))
        self.init_clear = button("Random start", lambda: self.set_backbone(None),
                                 tip="Start from a random network, as the paper")
        self.init_clear.setVisible(False)
        self.init_label = wrapped_label("Starts from a random network (the paper).")
        settings_box = QGroupBox("2. Training settings")
        vbox(self.form, hbox((self.init_label, 1), self.init_button, self.init_clear), self.expected,
             parent=settings_box)
        self.settings_box = settings_box
        settings_box.setEnabled(False)

        # 4. Where to save
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("Where the session file (.dcgui) is saved")
        self.path_edit.textEdited.connect(self._path_edited)
        path_row = hbox((self.path_edit, 1), button("Browse…", self.choose_session_path))
        self.path_hint = wrapped_label("A folder named like the file plus “.d” is created beside it for the "
                                       "image cache and checkpoints.")
        self.path_hint.setStyleSheet(f"color: {theme.muted_colour(self.palette()).name()};")
        self.start_check = QCheckBox("Start training right away")
        self.start_check.setChecked(True)
        save_box = QGroupBox("3. Session file")
        vbox(path_row, self.path_hint, self.start_check, parent=save_box)

        self.create_button = QPushButton("Create session")
        self.buttons = dialog_buttons(self, QDialogButtonBox.StandardButton.Cancel, self.create_button)
        # extra height goes below the boxes, not into them
        vbox(folder_box, settings_box, save_box, Stretch(1), self.buttons, parent=self)
        self._update_buttons()
        if folder is not None:
            self.set_folder(Path(folder))

    # ---------------------------------------------------------------------------------------
    # folder + scan
    # ---------------------------------------------------------------------------------------
    def choose_folder(self) -> None:
        start = str(QSettings().value(LAST_FOLDER_KEY, str(Path.home())))
        if (folder := ask_folder(self, "Choose the folder of images", start)):
            self.set_folder(folder)

    def set_folder(self, folder: Path) -> None:
        """Show ``folder`` and scan it in the background (a running scan is cancelled)."""
        folder = Path(folder).expanduser()
        self.cancel_scan()
        self.folder_edit.setText(str(folder))
        self._scan = None
        self.skipped_tree.clear()
        self.skipped_tree.setVisible(False)
        self.settings_box.setEnabled(False)
        QSettings().setValue(LAST_FOLDER_KEY, str(folder.parent if folder.parent != folder else folder))
        if not self._session_path_edited:
            self.path_edit.setText(str(default_session_path(folder)))
        self.scan_label.setText(f"Scanning {folder} …")
        self.scan_progress.setRange(0, 0)  # busy: the total is unknown while walking folders
        self.scan_progress.setVisible(True)
        self.cancel_scan_button.setVisible(True)
        worker = GeneratorWorker(
            scan_job(folder), name="scan", event=self._on_scan_event, returned=self._on_scan_done,
            errored=self._on_scan_error, finished=self._on_scan_finished,
            stopped=lambda: self.scan_label.setText("Scan cancelled. Choose the folder again to rescan."))
        self._worker = worker
        self._update_buttons()
        worker.start()

    def cancel_scan(self) -> None:
        if self._worker is not None and self._worker.is_running:
            self._worker.stop()

    @property
    def scanning(self) -> bool:
        return self._worker is not None and self._worker.is_running

    @property
    def scan_result(self) -> ScanResult | None:
        return self._scan

    def _on_scan_event(self, ev: object) -> None:
        if isinstance(ev, DevicesFound):
            self.form.set_devices(ev.devices)
            self._devices_known = True
        elif isinstance(ev, PhaseProgress):
            self.scan_label.setText(f"Scanning {self.folder_edit.text()} … {ev.done:,} images found")

    def _on_scan_done(self, result: ScanResult) -> None:
        self._scan = result
        n = len(result.images)
        n_classes = len(result.label_names)
        text = f"{n:,} image{'s' if n != 1 else ''} found"
        text += (f" in {n_classes} class folders (used as labels to measure NMI)." if n_classes
                 else " (no class sub-folders: no labels to compare with, which is fine).")
        if result.skipped:
            m = len(result.skipped)
            text += f" {m:,} file{'s' if m != 1 else ''} skipped, listed below."
        self.scan_label.setText(text)
        for path, reason in result.skipped:
            item = QTreeWidgetItem([path, reason])
            item.setToolTip(0, path)
            item.setToolTip(1, reason)
            self.skipped_tree.addTopLevelItem(item)
        self.skipped_tree.setVisible(bool(result.skipped))
        self.form.set_collection(n, n_classes or None)
        self._apply_backbone()  # the collection's defaults, then what the backbone fixes
        self.settings_box.setEnabled(True)
        self._update_expected()

    def _on_scan_error(self, err: WorkerError) -> None:
        # A folder without images is an expected outcome: say it inline, keep the dialog usable.
        self.scan_label.setText(err.message)
        self.scan_label.setStyleSheet(f"color: {theme.error_colour(self.palette()).name()};")
        if not err.user_facing:
            errors.show_error(self, err, "Scanning the folder failed")

    def _on_scan_finished(self) -> None:
        self.scan_progress.setVisible(False)
        self.cancel_scan_button.setVisible(False)
        if self._scan is not None:
            self.scan_label.setStyleSheet("")
        self._update_buttons()

    # ---------------------------------------------------------------------------------------
    # session file
    # ---------------------------------------------------------------------------------------
    def _path_edited(self, _text: str) -> None:
        self._session_path_edited = True
        self._update_buttons()

    def choose_session_path(self) -> None:
        start = self.path_edit.text() or str(QSettings().value(LAST_SESSION_DIR_KEY, str(Path.home())))
        if (chosen := ask_save_file(self, "Save the session as", start, "dcgui session (*.dcgui)")):
            path = str(chosen)
            if not path.endswith(SESSION_SUFFIX):
                path += SESSION_SUFFIX
            self.path_edit.setText(path)
            self._session_path_edited = True
            self._update_buttons()

    def session_path(self) -> Path:
        text = self.path_edit.text().strip()
        path = Path(text).expanduser()
        if text and path.suffix != SESSION_SUFFIX:
            path = path.with_name(path.name + SESSION_SUFFIX)
        return path

    def _update_expected(self) -> None:
        scan = self._scan
        self.expected.set_request(self.form.config() if scan is not None else None,
                                  len(scan.images) if scan is not None else 0,
                                  scan.folder if scan is not None else None)

    def _update_buttons(self) -> None:
        ok = (self._scan is not None and not self.scanning and self.form.is_valid
              and bool(self.path_edit.text().strip()))
        self.create_button.setEnabled(ok)

    # ---------------------------------------------------------------------------------------
    # start from a backbone
    # ---------------------------------------------------------------------------------------
    def choose_backbone(self) -> None:
        start = str(QSettings().value(LAST_BACKBONE_KEY, "") or Path.home())
        if (path := ask_open_file(self, "Start from a backbone file", start, "State dicts (*.pt *.pth);;All files (*)")):
            self.load_backbone(path)

    def load_backbone(self, path: Path) -> None:
        """Read ``path`` on a worker; ``set_backbone`` follows (or an error dialog)."""
        QSettings().setValue(LAST_BACKBONE_KEY, str(path.parent))
        self.init_label.setText(f"Reading {path.name} …")
        self.init_button.setEnabled(False)
        worker = GeneratorWorker(backbone_job(path), name="backbone", returned=self.set_backbone,
                                 errored=self._on_backbone_error, finished=lambda: self.init_button.setEnabled(True))
        self._init_worker = worker
        worker.start()

    def _on_backbone_error(self, err: WorkerError) -> None:
        self.set_backbone(None)
        errors.show_error(self, err, "This backbone cannot be used")

    def set_backbone(self, init: InitWeights | None) -> None:
        self._init = init
        self.init_clear.setVisible(init is not None)
        if init is None:
            self.init_label.setText("Starts from a random network (the paper).")
            for name in BACKBONE_FIELDS:
                self.form.editors[name].setEnabled(True)
            self.form.reset_defaults()
        else:
            self._apply_backbone()
        self._update_expected()

    def _apply_backbone(self) -> None:
        """Put what the backbone fixes into the form and lock those fields."""
        init = self._init
        if init is None:
            return
        cfg = self.form.config()
        defaults = cfg.to_dict() if cfg is not None else {}
        from dcgui.services.training import init_settings

        try:
            fixed = init_settings(init, {}, defaults)
        except Exception as exc:
            self.set_backbone(None)
            errors.show_error(self, exc, "This backbone cannot be used")
            return
        self.form.set_values(fixed)
        for name in BACKBONE_FIELDS:
            self.form.editors[name].setEnabled(name not in fixed)
        said = ", ".join(f"{k}={v}" for k, v in fixed.items())
        self.init_label.setText(f"Starts from the {init.kind} {Path(init.source).name} ({said}: set by the file).")
        self.init_label.setToolTip(init.source)

    # ---------------------------------------------------------------------------------------
    # accept / reject
    # ---------------------------------------------------------------------------------------
    def accept(self) -> None:
        if self._scan is None or self.scanning:
            return
        cfg = self.form.config()
        if cfg is None:
            return  # the form already shows why
        path = self.session_path()
        try:
            from dcgui.services.training import create_session, init_settings

            if self._init is not None:  # what the file fixes wins over any later reset of the form
                cfg = cfg.replace(**init_settings(self._init, {}, cfg.to_dict()))

            scan = self._scan
            store = create_session(path, scan.folder, cfg, images=scan.images, skipped=scan.skipped,
                                   label_names=scan.label_names)
            try:
                if self._init is not None:
                    from dcgui.services.training import record_init

                    record_init(store, self._init)  # the first epoch starts from it
            finally:
                store.close()
        except Exception as exc:
            errors.show_error(self, exc, "Creating the session failed")
            return
        QSettings().setValue(LAST_SESSION_DIR_KEY, str(path.parent))
        self.created_path = path
        self.sessionCreated.emit(str(path))
        super().accept()

    def reject(self) -> None:
        self.cancel_scan()
        super().reject()

    def done(self, result: int) -> None:
        self.cancel_scan()
        self.expected.stop()
        super().done(result)

    def keyPressEvent(self, event: Any) -> None:
        # Enter in the folder field rescans; it must not also press "Create session".
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.folder_edit.hasFocus():
            return
        super().keyPressEvent(event)
