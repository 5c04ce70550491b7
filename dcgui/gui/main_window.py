"""The main window: start page or session view, menus, live follow, clean shutdown.

Threads and connections: the window opens the session *writable* in the GUI thread (cluster
names, flags, export records are written through it) plus a second, read-only connection used
only by the 1-second poll of ``data_version()`` (``PRAGMA data_version``: no disk access, never
blocks). Training runs in ``TrainingPanel``'s worker with its own connection. When anything else
commits (our worker, or ``dcgui train`` in a terminal) the poll sees it and the views refresh, so a
session trained from the command line can be watched live.

Closing while training asks first, then stops at the next batch (the worker keeps the last
finished epoch) without blocking the event loop, and closes when the worker has ended.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, qVersion
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from dcgui import __version__
from dcgui.core.errors import SessionFileError
from dcgui.core.events import CollectionReady, EpochFinished
from dcgui.core.pathtext import printable
from dcgui.gui import errors, theme
from dcgui.gui.new_session import LAST_SESSION_DIR_KEY, NewSessionDialog
from dcgui.gui.plots import PlotsPanel
from dcgui.gui.settings_form import device_type_of
from dcgui.gui.start_page import RecentSessions, StartPage
from dcgui.gui.training_panel import STOPPING, TrainingPanel
from dcgui.gui.worker import GeneratorWorker, WorkerError, call_job, stop_all_workers

if TYPE_CHECKING:
    from dcgui.core.config import TrainConfig
    from dcgui.store import SessionStore

POLL_MS = 1000
TAB_CLUSTERS, TAB_PLOTS, TAB_EXPLORE, TAB_SKIPPED = range(4)
DEMO_IMAGES, DEMO_CLASSES = 4000, 10


def demo_session_path() -> Path:
    """The demo's session file, beside the extracted demo folder in the per-user data dir."""
    from dcgui.core.demo import default_demo_folder

    folder = default_demo_folder()
    return folder.parent / f"{folder.name}.dcgui"


def demo_config(device_type: str) -> TrainConfig:
    """The demo's settings: smallnet at 32 px, k=50 on the 4,000 images (10 classes)."""
    from dcgui.core.config import default_config

    return default_config(DEMO_IMAGES, device_type, DEMO_CLASSES, arch="smallnet", image_size=32, k=50)


def ask_stop_training(parent: QWidget, action: str) -> bool:
    """Ask whether to stop the running training to ``action`` (e.g. "quit"). Tests replace this."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Training is running")
    box.setText(f"Training is running. Stop it and {action}?")
    box.setInformativeText("Training stops after the current batch; every finished epoch is saved "
                           "and you can resume later.")
    stop = box.addButton(f"Stop and {action}", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(stop)
    box.exec()
    return box.clickedButton() is stop


def _optional_widget(module: str, cls: str, what: str) -> QWidget:
    """Build a view from another module; if it cannot be built, say so in its place."""
    import importlib

    try:
        return importlib.import_module(module).__dict__[cls]()  # type: ignore[no-any-return]
    except Exception as exc:  # shown to the user (and logged); the rest of the window works
        errors.log.exception("cannot build %s", cls)
        label = QLabel(f"The {what} could not be loaded:\n{type(exc).__name__}: {exc}")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        return label


class SessionView(QWidget):
    """Training panel on top; an epoch control shared by the tabs; Clusters / Plots / Explore /
    Skipped files."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.training = TrainingPanel()
        self.epoch_slider = QSlider(Qt.Orientation.Horizontal)
        self.epoch_slider.setRange(0, 0)
        self.epoch_slider.setPageStep(1)
        self.epoch_slider.setToolTip("Epoch shown in every tab")
        self.epoch_spin = QSpinBox()
        self.epoch_spin.setRange(0, 0)
        self.epoch_spin.setKeyboardTracking(False)
        self.epoch_of = QLabel("of 0")
        self.follow_check = QCheckBox("Follow live")
        self.follow_check.setChecked(True)
        self.follow_check.setToolTip("Show each new epoch as soon as it is saved (F5 toggles)")
        self.session_label = QLabel()
        self.session_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar = QHBoxLayout()
        bar.setContentsMargins(8, 0, 8, 0)
        bar.addWidget(QLabel("Epoch"))
        bar.addWidget(self.epoch_slider, 2)
        bar.addWidget(self.epoch_spin)
        bar.addWidget(self.epoch_of)
        bar.addWidget(self.follow_check)
        bar.addSpacing(16)
        bar.addWidget(self.session_label, 3)

        self.clusters = _optional_widget("dcgui.gui.cluster_browser", "ClusterBrowser", "cluster browser")
        self.plots = PlotsPanel()
        self.explore = _optional_widget("dcgui.gui.explore_panel", "ExplorePanel", "explore panel")
        self.skipped_table = QTableWidget(0, 2)
        self.skipped_table.setHorizontalHeaderLabels(["File", "Reason"])
        self.skipped_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.skipped_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.skipped_table.verticalHeader().setVisible(False)
        self.skipped_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.skipped_table.setAlternatingRowColors(True)
        self.skipped_label = QLabel()
        self.skipped_label.setWordWrap(True)
        skipped = QWidget()
        sl = QVBoxLayout(skipped)
        sl.addWidget(self.skipped_label)
        sl.addWidget(self.skipped_table, 1)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.clusters, "Clusters")
        self.tabs.addTab(self.plots, "Plots")
        self.tabs.addTab(self.explore, "Explore")
        self.tabs.addTab(skipped, "Skipped files")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.training)
        layout.addLayout(bar)
        layout.addWidget(self.tabs, 1)
        self._hide_browser_epoch_controls()

    def _hide_browser_epoch_controls(self) -> None:
        """The browser has its own epoch spin and follow toggle; one shared control is clearer."""
        for name in ("epoch_spin", "epoch_of", "follow_check"):
            w = getattr(self.clusters, name, None)
            if isinstance(w, QWidget):
                w.setVisible(False)
        for label in self.clusters.findChildren(QLabel):
            if label.text() == "Epoch" and label.parent() is self.clusters:
                label.setVisible(False)

    def set_skipped(self, skipped: list[tuple[str, str]]) -> None:
        self.skipped_table.setRowCount(len(skipped))
        for row, (path, reason) in enumerate(skipped):
            self.skipped_table.setItem(row, 0, QTableWidgetItem(printable(path)))
            self.skipped_table.setItem(row, 1, QTableWidgetItem(reason))
        n = len(skipped)
        self.skipped_label.setText(
            "No file was skipped: every image in the folder is part of the session." if n == 0 else
            f"{n:,} file{'s were' if n != 1 else ' was'} skipped and {'are' if n != 1 else 'is'} not part of "
            "the session. Fix or remove them and start a new session to include them."
        )
        self.tabs.setTabText(TAB_SKIPPED, f"Skipped files ({n:,})" if n else "Skipped files")


class MainWindow(QMainWindow):
    def __init__(self, icon: QIcon | None = None) -> None:
        super().__init__()
        self.setWindowTitle("dcgui")
        self._icon = icon or QIcon()
        self._store: SessionStore | None = None
        self._poll_store: SessionStore | None = None
        self._path: Path | None = None
        self._readonly = False
        self._data_version = -1
        self._known_last = 0
        self._epoch = 0
        self._syncing = False
        self._in_sync = False
        self._pending_after_stop: Callable[[], None] | None = None
        self._quitting = False
        self._demo_worker: GeneratorWorker | None = None
        self._demo_progress: QProgressDialog | None = None

        self.start_page = StartPage(icon=self._icon)
        self.view = SessionView()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.start_page)
        self.stack.addWidget(self.view)
        self.setCentralWidget(self.stack)
        self.statusBar().setSizeGripEnabled(True)

        self.start_page.newSessionRequested.connect(self.new_session)
        self.start_page.openDemoRequested.connect(self.open_demo)
        self.start_page.openSessionRequested.connect(self.choose_session)
        self.start_page.openRecentRequested.connect(lambda p: self.open_session(Path(p)))

        v = self.view
        v.training.epochFinished.connect(self._on_epoch_finished)
        v.training.collectionReady.connect(self._on_collection_ready)
        v.training.errorOccurred.connect(self._on_training_error)
        v.training.runEnded.connect(self._on_run_ended)
        v.training.message.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        v.epoch_slider.valueChanged.connect(self._on_epoch_control)
        v.epoch_spin.valueChanged.connect(self._on_epoch_control)
        v.follow_check.toggled.connect(self._on_follow_toggled)
        v.plots.epochSelected.connect(self._user_selected_epoch)
        if hasattr(v.clusters, "epochChanged"):
            v.clusters.epochChanged.connect(self._user_selected_epoch)
        if hasattr(v.clusters, "moreLikeThis"):
            v.clusters.moreLikeThis.connect(self.show_similar)
        if hasattr(v.clusters, "statusMessage"):
            v.clusters.statusMessage.connect(lambda text: self.statusBar().showMessage(text, 8000))
        if hasattr(v.explore, "flagsChanged"):  # flags set in Explore show in the cluster grid
            v.explore.flagsChanged.connect(lambda _images: self._call_view(v.clusters, "refresh"))

        self._poll_timer = QTimer(self)
        self._poll_timer.setInterval(POLL_MS)
        self._poll_timer.timeout.connect(self.poll)

        self._build_menus()
        self._restore_window()
        self._update_actions()

    # =======================================================================================
    # menus
    # =======================================================================================
    def _build_menus(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self.act_new = file_menu.addAction("&New session from folder…", self.new_session)
        self.act_new.setShortcut(QKeySequence.StandardKey.New)
        self.act_open = file_menu.addAction("&Open session…", self.choose_session)
        self.act_open.setShortcut(QKeySequence.StandardKey.Open)
        self.act_demo = file_menu.addAction("Open &demo collection", self.open_demo)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        self.act_export = file_menu.addAction("&Export backbone…", self.export_backbone)
        self.act_export.setShortcut(QKeySequence("Ctrl+E"))
        self.act_export_csv = file_menu.addAction("Export cluster &CSV…", self.export_cluster_csv)
        file_menu.addSeparator()
        self.act_close = file_menu.addAction("&Close session", self.close_session)
        self.act_close.setShortcut(QKeySequence.StandardKey.Close)
        self.act_quit = file_menu.addAction("&Quit", self.close)
        self.act_quit.setShortcut(QKeySequence.StandardKey.Quit)
        self.act_quit.setMenuRole(QAction.MenuRole.QuitRole)

        train_menu = mb.addMenu("&Training")
        t = self.view.training
        for action in (t.start_action, t.pause_action, t.stop_action):
            train_menu.addAction(action)
            self.addAction(action)  # shortcuts work whichever page has focus
        train_menu.addSeparator()
        train_menu.addAction(t.rewind_action)

        view_menu = mb.addMenu("&View")
        for i, name in enumerate(("Clusters", "Plots", "Explore", "Skipped files")):
            a = view_menu.addAction(name, lambda i=i: self._show_tab(i))
            a.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
        view_menu.addSeparator()
        self.act_follow = view_menu.addAction("&Follow live")
        self.act_follow.setCheckable(True)
        self.act_follow.setChecked(True)
        self.act_follow.setShortcut(QKeySequence("F5"))
        self.act_follow.toggled.connect(self.view.follow_check.setChecked)
        self.act_start_page = view_menu.addAction("&Start page", self.show_start_page)
        view_menu.addSeparator()
        theme_menu = view_menu.addMenu("&Theme")
        group = QActionGroup(self)
        current = theme.saved_theme()
        self.theme_actions: dict[str, QAction] = {}
        for name, label in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            a = theme_menu.addAction(label)
            a.setCheckable(True)
            a.setChecked(name == current)
            a.triggered.connect(lambda _c=False, n=name: self.set_theme(n))
            group.addAction(a)
            self.theme_actions[name] = a

        help_menu = mb.addMenu("&Help")
        about = help_menu.addAction("&About dcgui", self.show_about)
        about.setMenuRole(QAction.MenuRole.AboutRole)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        entries = RecentSessions.entries()
        if not entries:
            none = QAction("(none)", self.recent_menu)
            none.setEnabled(False)
            self.recent_menu.addAction(none)
            return
        for e in entries:
            a = self.recent_menu.addAction(str(e.path), lambda p=e.path: self.open_session(p))
            a.setEnabled(e.exists)

    def _show_tab(self, i: int) -> None:
        if self.stack.currentWidget() is self.view:
            self.view.tabs.setCurrentIndex(i)

    def set_theme(self, name: str) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply_theme(app, name)
        if name in self.theme_actions:
            self.theme_actions[name].setChecked(True)

    def _update_actions(self) -> None:
        has = self._store is not None
        has_epochs = has and self._known_last > 0
        self.act_export.setEnabled(has and bool(self._store and self._store.checkpoints()))
        self.act_export_csv.setEnabled(has_epochs)
        self.act_close.setEnabled(has)

    # =======================================================================================
    # sessions
    # =======================================================================================
    @property
    def store(self) -> SessionStore | None:
        return self._store

    @property
    def session_path(self) -> Path | None:
        return self._path

    @property
    def training(self) -> TrainingPanel:
        return self.view.training

    def _when_not_training(self, action: Callable[[], None], what: str) -> None:
        """Run ``action`` now, or after stopping the running training if the user agrees."""
        if not self.training.is_busy:
            action()
            return
        if ask_stop_training(self, what):
            self._pending_after_stop = action
            self.training.stop()

    def new_session(self) -> None:
        self._when_not_training(self._new_session_now, "create a new session")

    def _new_session_now(self) -> None:
        dialog = NewSessionDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda d=dialog: self._session_created(d))
        dialog.open()

    def _session_created(self, dialog: NewSessionDialog) -> None:
        path = dialog.created_path
        if path is not None and self.open_session(path) and dialog.start_check.isChecked():
            self.training.start()

    def choose_session(self) -> None:
        start = str(QSettings().value(LAST_SESSION_DIR_KEY, str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Open a dcgui session", start,
                                              "dcgui sessions (*.dcgui);;All files (*)")
        if path:
            self.open_session(Path(path))

    def open_session(self, path: Path) -> bool:
        """Open ``path`` (writable; read-only if the file cannot be written) and show it."""
        path = Path(path).expanduser().absolute()
        if self.training.is_busy:
            def open_later() -> None:
                self._open_now(path)

            self._when_not_training(open_later, "open another session")
            return False
        return self._open_now(path)

    def _open_now(self, path: Path) -> bool:
        from dcgui.store import SessionStore

        readonly = False
        try:
            try:
                store = SessionStore.open(path)
            except SessionFileError:
                if path.is_file() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
                    store = SessionStore.open(path, readonly=True)  # a write-protected file: view it
                    readonly = True
                else:
                    raise
        except Exception as exc:
            errors.show_error(self, exc, "Cannot open the session")
            if not path.exists():
                self.start_page.refresh()
            return False
        try:
            poll_store = SessionStore.open(path, readonly=True)
        except Exception:  # e.g. a WAL file in a read-only folder: poll through the main connection
            poll_store = None
        self._close_stores()
        self._store, self._poll_store, self._path, self._readonly = store, poll_store, path, readonly
        self._known_last = store.last_epoch()
        self._data_version = (poll_store or store).data_version()
        self._epoch = 0
        QSettings().setValue(LAST_SESSION_DIR_KEY, str(path.parent))
        RecentSessions.add(path)

        try:
            self._show_session(path, store, readonly)
        except Exception as exc:  # a view could not read this file: say so, keep the app usable
            errors.show_error(self, exc, "Cannot show the session")
            self._close_now()
            return False
        return True

    def _show_session(self, path: Path, store: SessionStore, readonly: bool) -> None:
        v = self.view
        v.training.set_session(path, store, readonly)
        v.plots.set_session(store)
        self._call_view(v.clusters, "set_session", store)
        self._call_view(v.explore, "set_session", store)
        v.set_skipped(store.skipped())
        v.follow_check.setChecked(True)
        self._set_epoch_range(self._known_last)
        if self._known_last:
            self.set_epoch(self._known_last)
        self._update_session_label()
        self.setWindowTitle(f"{path.name.removesuffix('.dcgui')} — dcgui" + (" (read-only)" if readonly else ""))
        self.setWindowFilePath(str(path))
        self.stack.setCurrentWidget(self.view)
        self._poll_timer.start()
        self._update_actions()

    def close_session(self) -> None:
        self._when_not_training(self._close_now, "close the session")

    def _close_now(self) -> None:
        self._poll_timer.stop()
        v = self.view
        v.training.set_session(None, None)
        v.plots.set_session(None)
        self._call_view(v.clusters, "set_session", None)
        self._call_view(v.explore, "set_session", None)
        self._close_stores()
        self._path = None
        self._known_last = 0
        self.setWindowTitle("dcgui")
        self.setWindowFilePath("")
        self.show_start_page()
        self._update_actions()

    def show_start_page(self) -> None:
        self.start_page.refresh()
        self.stack.setCurrentWidget(self.start_page)

    def _close_stores(self) -> None:
        for s in (self._poll_store, self._store):
            if s is not None:
                # Closing cannot lose data (every write is committed); a failure is harmless.
                with contextlib.suppress(sqlite3.Error):
                    s.close()
        self._store = self._poll_store = None

    def _call_view(self, view: QWidget, method: str, *args: Any) -> None:
        """Call a view's method; a failure in one view is reported, the others still update."""
        fn = getattr(view, method, None)
        if fn is None:
            return
        try:
            fn(*args)
        except Exception as exc:
            errors.show_error(self, exc, f"The {type(view).__name__} failed to update")

    def _update_session_label(self) -> None:
        s = self._store
        if s is None:
            self.view.session_label.setText("")
            return
        n = s.n_images
        cfg = s.config
        self.view.session_label.setText(
            f"{n:,} images · {cfg.arch}, {cfg.image_size} px, k = {cfg.k} · {s.folder}"
        )
        self.view.session_label.setToolTip(f"Session: {s.path}\nImages: {s.folder}\n{cfg.to_json()}")

    # =======================================================================================
    # demo
    # =======================================================================================
    def open_demo(self) -> None:
        self._when_not_training(self._open_demo_now, "open the demo")

    def _open_demo_now(self) -> None:
        if self._demo_worker is not None and self._demo_worker.is_running:
            return
        path = demo_session_path()

        def prepare() -> tuple[Path, str]:
            from dcgui.core.demo import extract_demo
            from dcgui.core.device import available_devices

            folder = extract_demo()  # idempotent: returns at once when already extracted
            names = [n for n, _ in available_devices()]
            kind = device_type_of("auto", [(n, n) for n in names])
            return folder, kind

        progress = QProgressDialog("Preparing the demo collection (4,000 images)…", "", 0, 0, self)
        progress.setCancelButton(None)
        progress.setWindowTitle("dcgui demo")
        progress.setMinimumDuration(400)
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        self._demo_progress = progress
        worker = GeneratorWorker(call_job(prepare), name="demo")
        worker.returned.connect(lambda result: self._demo_ready(path, *result))
        worker.errored.connect(lambda err: errors.show_error(self, err, "Cannot prepare the demo"))
        worker.finished.connect(self._demo_finished)
        self._demo_worker = worker
        self.statusBar().showMessage("Preparing the demo collection…")
        worker.start()

    def _demo_finished(self) -> None:
        if self._demo_progress is not None:
            self._demo_progress.reset()
            self._demo_progress.deleteLater()
            self._demo_progress = None

    def _demo_ready(self, path: Path, folder: Path, device_type: str) -> None:
        from dcgui.store import SessionStore

        if not path.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                SessionStore.create(path, folder, demo_config(device_type)).close()
            except Exception as exc:
                errors.show_error(self, exc, "Cannot create the demo session")
                return
        if not self.open_session(path):
            return
        store = self._store
        if store is not None and store.last_epoch() < store.config.epochs and not self._readonly:
            self.training.start()
        self.statusBar().showMessage(f"Demo session: {path}", 8000)

    # =======================================================================================
    # epochs: live updates and the shared epoch control
    # =======================================================================================
    def poll(self) -> None:
        """Cheap: one ``PRAGMA data_version``; reads more only when another connection committed."""
        src = self._poll_store or self._store
        if src is None:
            return
        try:
            version = src.data_version()
            if version == self._data_version:
                return
            self._data_version = version
            self._sync_epochs()
        except Exception as exc:  # the file vanished or was damaged under us: say it once
            self._poll_timer.stop()
            errors.show_error(self, exc, "Lost the session file",
                              details=f"{self._path}: {exc}\nReopen the session once the file is back.")

    def _sync_epochs(self) -> None:
        store = self._store
        if store is None or self._in_sync:
            return
        self._in_sync = True  # a view's refresh may report an epoch back to us: no re-entry
        try:
            self._sync_epochs_now(store)
        finally:
            self._in_sync = False

    def _sync_epochs_now(self, store: SessionStore) -> None:
        last = store.last_epoch()
        if last == self._known_last:
            return
        grew = last > self._known_last
        self._known_last = last
        v = self.view
        self._set_epoch_range(last)
        v.plots.refresh()
        follow = v.follow_check.isChecked()
        if follow or self._epoch == 0 or self._epoch > last:
            self.set_epoch(last)
        self._call_view(v.clusters, "refresh")
        v.training.sync_epochs(last)
        if grew and not self.training.is_busy:
            self.statusBar().showMessage(f"Epoch {last} was saved by another process (following live)", 8000)
        self._update_actions()

    def _on_epoch_finished(self, ev: EpochFinished) -> None:
        # The worker committed the epoch before yielding it: read it from the store now rather
        # than waiting for the next poll tick.
        self._sync_epochs()
        if self._poll_store is not None:
            self._data_version = self._poll_store.data_version()

    def _on_collection_ready(self, ev: CollectionReady) -> None:
        if self._store is not None:
            self.view.set_skipped(self._store.skipped())
            self._update_session_label()
            if self._known_last == 0:
                self._call_view(self.view.clusters, "set_session", self._store)
                self._call_view(self.view.explore, "set_session", self._store)

    def _set_epoch_range(self, last: int) -> None:
        v = self.view
        self._syncing = True
        try:
            v.epoch_slider.setRange(1 if last else 0, last)
            v.epoch_spin.setRange(1 if last else 0, last)
            v.epoch_slider.setEnabled(last > 1)
            v.epoch_spin.setEnabled(last > 1)
            v.epoch_of.setText(f"of {last}")
        finally:
            self._syncing = False

    @property
    def epoch(self) -> int:
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Show ``epoch`` in every tab."""
        if self._store is None or epoch < 1 or epoch > self._known_last:
            return
        v = self.view
        self._syncing = True
        try:
            v.epoch_slider.setValue(epoch)
            v.epoch_spin.setValue(epoch)
        finally:
            self._syncing = False
        if epoch == self._epoch:
            return
        self._epoch = epoch
        self._syncing = True  # the views echo the change (epochChanged): not a user's choice
        try:
            v.plots.set_epoch(epoch)
            if getattr(v.clusters, "epoch", None) != epoch:
                self._call_view(v.clusters, "set_epoch", epoch)
            # Cheap: Explore only recomputes what its visible sub-tab shows, when it is shown.
            self._call_view(v.explore, "set_epoch", epoch)
        finally:
            self._syncing = False

    def _on_epoch_control(self, value: int) -> None:
        if self._syncing:
            return
        self._user_selected_epoch(value)

    def _user_selected_epoch(self, epoch: int) -> None:
        if self._syncing or self._store is None:
            return
        if epoch > self._known_last:
            # A view read the store after a commit we have not polled yet: catch up first, so
            # a new epoch is not mistaken for the user leaving the newest one.
            self._sync_epochs()
        # Going back in time stops following; choosing the newest epoch keeps it.
        if epoch < self._known_last and self.view.follow_check.isChecked():
            self.view.follow_check.setChecked(False)
        self.set_epoch(epoch)

    def _on_follow_toggled(self, on: bool) -> None:
        self.act_follow.setChecked(on)
        if hasattr(self.view.clusters, "follow_live"):
            try:
                self.view.clusters.follow_live = on
            except Exception as exc:
                errors.show_error(self, exc, "The cluster browser failed to update")
        if on and self._known_last:
            self.set_epoch(self._known_last)

    def show_similar(self, image_index: int) -> None:
        """"More like this" from the cluster browser: show the image's neighbours in Explore."""
        v = self.view
        v.tabs.setCurrentIndex(TAB_EXPLORE)
        self._call_view(v.explore, "show_similar", image_index)

    # =======================================================================================
    # training outcome
    # =======================================================================================
    def _on_training_error(self, err: WorkerError) -> None:
        errors.show_error(self, err, "Training stopped")

    def _on_run_ended(self, reason: str) -> None:
        self._sync_epochs()
        self._update_actions()
        action, self._pending_after_stop = self._pending_after_stop, None
        if action is not None:
            action()

    # =======================================================================================
    # exports
    # =======================================================================================
    def export_backbone(self) -> None:
        if self._store is None:
            return
        from dcgui.gui.export_dialog import ExportDialog

        dialog = ExportDialog(self._store, self, epoch=self._epoch or None)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self._export_dialog = dialog

    def export_cluster_csv(self) -> None:
        fn = getattr(self.view.clusters, "export_csv", None)
        if fn is not None:
            fn()

    # =======================================================================================
    # about
    # =======================================================================================
    def show_about(self) -> None:
        def version(dist: str) -> str:
            try:
                return metadata.version(dist)
            except metadata.PackageNotFoundError:
                return "not installed"

        rows = [
            ("dcgui", __version__),
            ("Python", platform.python_version()),
            ("Qt", qVersion()),
            ("PySide6", pyside_version),
            ("pyqtgraph", version("pyqtgraph")),
            ("PyTorch", version("torch")),
            ("torchvision", version("torchvision")),
            ("faiss", version("faiss-cpu") if version("faiss-cpu") != "not installed" else version("faiss")),
            ("NumPy", version("numpy")),
            ("SQLite", sqlite3.sqlite_version),
        ]
        table = "".join(f"<tr><td>{k}</td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in rows)
        QMessageBox.about(
            self, "About dcgui",
            "<h3>dcgui</h3><p>DeepCluster (Caron et al., ECCV 2018) on your own photos: train a "
            "convnet without labels, watch its clusters form, browse, curate and export.</p>"
            f"<table>{table}</table><p>{platform.system()} {platform.machine()} · {sys.executable}</p>",
        )

    # =======================================================================================
    # window state, closing
    # =======================================================================================
    def _restore_window(self) -> None:
        s = QSettings()
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1360, 860)
        state = s.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        tab = s.value("window/tab", 0)
        with contextlib.suppress(TypeError, ValueError):
            self.view.tabs.setCurrentIndex(int(str(tab)))

    def _save_window(self) -> None:
        s = QSettings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/tab", self.view.tabs.currentIndex())

    def terminate(self) -> None:
        """What SIGTERM asks (a logout, ``kill``): stop training after the current batch, keeping
        every finished epoch, then close, without asking."""
        if self.training.is_busy:
            self._pending_after_stop = self.close
            if self.training.state != STOPPING:
                self.training.stop()
            self.statusBar().showMessage("Asked to quit: stopping training after the current batch; "
                                         "finished epochs are saved…")
            return
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.training.is_busy:
            event.ignore()
            if self.training.state == STOPPING:
                self._pending_after_stop = self.close  # already stopping (asked before)
                return
            if ask_stop_training(self, "quit"):
                self._pending_after_stop = self.close
                self.training.stop()
                self.statusBar().showMessage("Stopping training after the current batch, then quitting…")
            return
        if self._demo_worker is not None and self._demo_worker.is_running:
            # Extracting the demo takes seconds and cannot be interrupted safely mid-file.
            event.ignore()
            self._demo_worker.finished.connect(self.close)
            return
        self._save_window()
        self._poll_timer.stop()
        self._call_view(self.view.clusters, "set_session", None)
        self._call_view(self.view.explore, "set_session", None)  # cancels its jobs
        self.view.training.set_session(None, None)
        self._close_stores()
        event.accept()
        # Background jobs (Explore, thumbnails) end at their next check; wait for them so no
        # thread outlives the window (a QThread destroyed while running aborts the process).
        self.hide()
        stop_all_workers(timeout_ms=15_000)

