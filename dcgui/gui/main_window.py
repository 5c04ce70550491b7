"""The main window: start page or session view, menus, live follow, clean shutdown.

Threads and connections: the window opens the session *writable* in the GUI thread (cluster
names, flags, export records are written through it) plus a second, read-only connection used
only by the 1-second poll of ``data_version()`` (``PRAGMA data_version``: no disk access, never
blocks). Training runs in ``TrainingPanel``'s worker with its own connection. When anything else
commits (our worker, or ``dcgui train`` in a terminal) the poll sees it and the views refresh, so a
session trained from the command line can be watched live.

Closing while training asks first, then stops at the next batch (the worker keeps the last
finished epoch) without blocking the event loop, and closes when the worker has ended.

The window owns the :class:`SessionModel` every view follows: opening a session is
``model.open(store)``, a commit seen by the poll is ``model.refresh()``; the views do the rest.
"""

from __future__ import annotations

import contextlib
import platform
import sqlite3
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, qVersion
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QIcon
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QProgressDialog,
    QStackedWidget,
    QWhatsThis,
    QWidget,
)

from dcgui import __version__
from dcgui.core.errors import SessionFileError
from dcgui.gui import errors, theme
from dcgui.gui.actions import WINDOW, ShortcutsDialog, registry_for
from dcgui.gui.files import ask_folder, ask_open_file
from dcgui.gui.help import HelpDialog, glossary_dialog, method_dialog
from dcgui.gui.layout import open_dialog, quietly
from dcgui.gui.new_session import LAST_SESSION_DIR_KEY, NewSessionDialog
from dcgui.gui.session_model import SessionModel
from dcgui.gui.session_view import TAB_CLUSTERS, TAB_EXPLORE, TAB_PLOTS, TAB_SKIPPED, SessionView
from dcgui.gui.settings_form import device_type_of
from dcgui.gui.start_page import RecentSessions, StartPage
from dcgui.gui.training_panel import STOPPING, TrainingPanel
from dcgui.gui.worker import (
    GeneratorWorker,
    WorkerError,
    call_job,
    stop_all_workers,
    torch_threads_for_worker,
)

if TYPE_CHECKING:
    from dcgui.core.config import TrainConfig
    from dcgui.core.train.estimate import PhaseTimes
    from dcgui.store import SessionStore

POLL_MS = 1000
__all__ = ["TAB_CLUSTERS", "TAB_EXPLORE", "TAB_PLOTS", "TAB_SKIPPED", "MainWindow"]
DEMO_IMAGES, DEMO_CLASSES = 4000, 10
DEMO_QUICK_EPOCHS = 3  # "a quick look": enough for clusters and a first stability point


def demo_session_path() -> Path:
    """The demo's session file, beside the extracted demo folder in the per-user data dir."""
    from dcgui.core.images.demo import default_demo_folder

    folder = default_demo_folder()
    return folder.parent / f"{folder.name}.dcgui"


def demo_config(device_type: str) -> TrainConfig:
    """The demo's settings: smallnet at 32 px, k=50 on the 4,000 images (10 classes)."""
    from dcgui.core.config import default_config

    return default_config(DEMO_IMAGES, device_type, DEMO_CLASSES, arch="smallnet", image_size=32, k=50)


def ask_demo_training(parent: QWidget, last: int, quick: int, full: int, per_epoch: float | None,
                      setup_s: float = 0.0) -> str:
    """Ask how far to train the demo: "quick", "full" or "none". ``setup_s``: decoding the images
    into the cache before the first epoch (a new session). Tests replace this."""
    from dcgui.core.train.estimate import format_duration

    def takes(epochs: int) -> str:
        return f", {format_duration(epochs * per_epoch + setup_s)}" if per_epoch else ""

    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Train the demo network?")
    done = f"{last} epoch{'s are' if last != 1 else ' is'} trained. " if last else ""
    box.setText(f"{done}The demo trains a network on its {DEMO_IMAGES:,} images without labels.")
    box.setInformativeText(
        f"A quick look ({quick - last} epoch{'s' if quick - last != 1 else ''}{takes(quick - last)}) already fills "
        f"the clusters and plots; the full run ({full} epochs{takes(full - last)}) shows the curves rising. "
        "You can pause, stop, or change the target at any time; every finished epoch is kept.")
    quick_button = box.addButton(f"Quick look ({quick - last} epochs)", QMessageBox.ButtonRole.AcceptRole)
    full_button = box.addButton(f"Full run (to epoch {full})", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Just open it", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(quick_button)
    box.exec()
    clicked = box.clickedButton()
    return "quick" if clicked is quick_button else "full" if clicked is full_button else "none"


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


class MainWindow(QMainWindow):
    def __init__(self, icon: QIcon | None = None) -> None:
        super().__init__()
        self.setWindowTitle("dcgui")
        self._icon = icon or QIcon()
        # The model holds the session's store, path and read-only state (one place); the window
        # opens and closes them, plus a second connection that polls for other processes' commits.
        self._poll_store: SessionStore | None = None
        self._relink_worker: GeneratorWorker | None = None
        self.relink_prompt: QMessageBox | None = None  # the "photo folder missing" question, while shown
        self._data_version = -1
        self._announced = -1  # the epoch count last seen (a larger one is announced)
        self._pending_after_stop: Callable[[], None] | None = None
        self._quitting = False
        self._demo_worker: GeneratorWorker | None = None
        self._demo_progress: QProgressDialog | None = None

        self.model = SessionModel(self)
        self.start_page = StartPage(icon=self._icon)
        self.view = SessionView(self.model)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.start_page)
        self.stack.addWidget(self.view)
        self.setCentralWidget(self.stack)
        self.statusBar().setSizeGripEnabled(True)

        self.start_page.newSessionRequested.connect(self.new_session)
        self.start_page.openDemoRequested.connect(self.open_demo)
        self.start_page.openSessionRequested.connect(self.choose_session)
        self.start_page.openRecentRequested.connect(lambda p: self.open_session(Path(p)))

        t = self.view.training
        t.errorOccurred.connect(self._on_training_error)
        t.runEnded.connect(self._on_run_ended)
        t.message.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        m = self.model
        m.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        m.errorOccurred.connect(lambda text: errors.show_error(self, text, title="dcgui"))
        m.epochsChanged.connect(self._on_epochs)
        m.followChanged.connect(self._on_follow_changed)
        # A large edit is saved on a worker: the status bar says so with a busy bar, and the
        # pointer shows the window is working (it still answers; other edits wait their turn).
        self.edit_busy = QLabel()
        self.edit_busy_bar = QProgressBar()
        self.edit_busy_bar.setRange(0, 0)
        self.edit_busy_bar.setMaximumWidth(120)
        self.statusBar().addPermanentWidget(self.edit_busy)
        self.statusBar().addPermanentWidget(self.edit_busy_bar)
        self.edit_busy.hide()
        self.edit_busy_bar.hide()
        m.editBusyChanged.connect(self._on_edit_busy)

        self._poll_timer = QTimer(self)
        self._poll_timer.setInterval(POLL_MS)
        self._poll_timer.timeout.connect(self.poll)

        self._build_menus()
        self.view.plots.glossaryRequested.connect(self.show_glossary)  # a click on a plot title
        self._restore_window()
        self._update_actions()

    # =======================================================================================
    # menus
    # =======================================================================================
    def _build_menus(self) -> None:
        """The menu bar, from the action registry (``gui/actions.py`` defines each command)."""
        reg = self.action_registry = registry_for(self.model)
        m = self.model
        t = self.view.training
        bind = reg.bind
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self.act_new = bind("file.new", self.new_session)
        self.act_open = bind("file.open", self.choose_session)
        self.act_demo = bind("file.demo", self.open_demo)
        file_menu.addActions([self.act_new, self.act_open, self.act_demo])
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        self.act_export = bind("file.export_backbone", self.export_backbone)
        self.act_export_csv = bind("file.export_csv", self.export_cluster_csv)
        self.act_relink = bind("file.relink", self.choose_relink_folder)
        self.act_report = bind("file.export_report", self.export_report)
        self.act_compare = bind("file.compare", self.compare_with)
        file_menu.addActions([self.act_export, self.act_export_csv, self.act_report, self.act_compare, self.act_relink])
        file_menu.addSeparator()
        self.act_close = bind("file.close", self.close_session)
        self.act_quit = bind("file.quit", self.close)
        file_menu.addActions([self.act_close, self.act_quit])

        edit_menu = mb.addMenu("&Edit")
        # Every edit of the session (flags, names, tags, notes, merges, splits, bulk actions) is
        # logged in the session file: undo works after reopening it. A text field with the focus
        # keeps its own Ctrl+Z (Qt gives it the shortcut first).
        self.act_undo = bind("edit.undo", lambda: m.undo())
        self.act_redo = bind("edit.redo", lambda: m.redo())
        edit_menu.addActions([self.act_undo, self.act_redo])

        train_menu = mb.addMenu("&Training")
        for action in (t.start_action, t.pause_action, t.stop_action):
            train_menu.addAction(action)
            self.addAction(action)  # shortcuts work whichever page has focus
        train_menu.addSeparator()
        train_menu.addAction(t.rewind_action)

        view_menu = mb.addMenu("&View")
        for i, action_id in enumerate(("view.clusters", "view.plots", "view.explore", "view.skipped")):
            view_menu.addAction(bind(action_id, lambda _c=False, i=i: self._show_tab(i)))
        view_menu.addSeparator()
        self.act_follow = bind("view.follow", m.set_follow_live, signal="toggled")
        self.act_follow.setChecked(True)
        self.act_start_page = bind("view.start_page", self.show_start_page)
        view_menu.addActions([self.act_follow, self.act_start_page])
        view_menu.addSeparator()
        theme_menu = view_menu.addMenu("&Theme")
        group = QActionGroup(self)
        current = theme.saved_theme()
        # A choice among values, not a command: these stay local (no shortcut, always enabled).
        self.theme_actions: dict[str, QAction] = {}
        for name, label in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            a = theme_menu.addAction(label)
            a.setCheckable(True)
            a.setChecked(name == current)
            a.triggered.connect(lambda _c=False, n=name: self.set_theme(n))
            group.addAction(a)
            self.theme_actions[name] = a

        help_menu = mb.addMenu("&Help")
        help_menu.addAction(bind("help.method", self.show_method))
        help_menu.addAction(bind("help.glossary", lambda: self.show_glossary()))
        help_menu.addAction(bind("help.whats_this", QWhatsThis.enterWhatsThisMode))
        help_menu.addSeparator()
        help_menu.addAction(bind("help.shortcuts", self.show_shortcuts))
        help_menu.addAction(bind("help.about", self.show_about))
        for a in reg.actions():
            if reg.specs[a.objectName()].scope == WINDOW:
                self.addAction(a)  # window shortcuts work whichever page has focus

    def show_method(self) -> HelpDialog:
        """Help ▸ How DeepCluster works: docs/METHOD.md inside the app."""
        return self._show_help(method_dialog(self))

    def show_glossary(self, term: str | None = None) -> HelpDialog:
        """Help ▸ Glossary (at ``term``), also opened from a plot title."""
        return self._show_help(glossary_dialog(self, term))

    def _show_help(self, dialog: HelpDialog) -> HelpDialog:
        self.help_dialog = open_dialog(dialog, modal=False)
        return dialog

    def show_shortcuts(self) -> ShortcutsDialog:
        """Help ▸ Keyboard shortcuts, generated from the action registry."""
        self.shortcuts_dialog = open_dialog(ShortcutsDialog(self.action_registry, self), modal=False)
        return self.shortcuts_dialog

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

    def _on_edit_busy(self, busy: bool) -> None:
        self.edit_busy.setText(f"Saving: {self.model.edit_busy_text}…" if busy else "")
        self.edit_busy.setVisible(busy)
        self.edit_busy_bar.setVisible(busy)
        if busy:
            QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        else:
            QApplication.restoreOverrideCursor()

    def _update_actions(self) -> None:
        store = self.model.store
        self.action_registry.publish(session_open=store is not None, checkpoints=bool(store and store.checkpoints()))

    # =======================================================================================
    # sessions
    # =======================================================================================
    @property
    def store(self) -> SessionStore | None:
        return self.model.store

    @property
    def session_path(self) -> Path | None:
        return self.model.path

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
        dialog.accepted.connect(lambda d=dialog: self._session_created(d))
        open_dialog(dialog)

    def _session_created(self, dialog: NewSessionDialog) -> None:
        path = dialog.created_path
        if path is not None and self.open_session(path):
            self.training.expected = dialog.expected.phase_times()  # the ETA's start, as measured
            if dialog.start_check.isChecked():
                self.training.start()

    def choose_session(self) -> None:
        start = str(QSettings().value(LAST_SESSION_DIR_KEY, str(Path.home())))
        if (path := ask_open_file(self, "Open a dcgui session", start, "dcgui sessions (*.dcgui);;All files (*)")):
            self.open_session(path)

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
        from dcgui.services.session import open_session, open_to_view

        try:
            store, readonly = open_to_view(path)
        except Exception as exc:
            errors.show_error(self, exc, "Cannot open the session")
            if not path.exists():
                self.start_page.refresh()
            return False
        try:
            poll_store = open_session(path, check=False)  # just checked above: one page scan per open
        except Exception:  # e.g. a WAL file in a read-only folder: poll through the main connection
            poll_store = None
        self._close_stores(self.model.store)
        self._poll_store = poll_store
        self._data_version = (poll_store or store).data_version()
        QSettings().setValue(LAST_SESSION_DIR_KEY, str(path.parent))
        RecentSessions.add(path)
        self._announced = -1  # the epochs the file holds now are not news
        self.model.open(store, readonly)  # every view follows
        self.setWindowTitle(f"{path.name.removesuffix('.dcgui')} — dcgui" + (" (read-only)" if readonly else ""))
        self.setWindowFilePath(str(path))
        self.stack.setCurrentWidget(self.view)
        self._poll_timer.start()
        self._update_actions()
        self._check_folder(store)
        return True

    # =======================================================================================
    # the photo folder: which one, and relinking a moved one
    # =======================================================================================
    def _check_folder(self, store: SessionStore) -> None:
        """Say which folder the session uses when it is not the recorded one; offer to relink
        when it is missing (File > Relink folder… does the same at any time)."""
        from dcgui.services.folder import folder_note

        note = folder_note(store)
        if note is None:
            return
        if store.folder.is_dir():
            self.statusBar().showMessage(note[0].upper() + note[1:], 15000)
            return
        if self.model.readonly:
            self.statusBar().showMessage(f"The photo folder {store.folder} does not exist", 15000)
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Photo folder missing",
                          f"The photo folder of {store.path.name} does not exist:\n{store.folder}\n\n"
                          "If the photos moved, choose their new folder: dcgui checks that it holds the "
                          "same files first.", QMessageBox.StandardButton.NoButton, self)
        relink = box.addButton("Relink folder…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda b: self.choose_relink_folder() if b is relink else None)
        self.relink_prompt = box
        box.open()

    def choose_relink_folder(self) -> None:
        store = self.model.store
        if store is None or self.model.readonly:
            return
        if (folder := ask_folder(self, f"New photo folder of {store.path.name}", store.folder.parent)):
            self.relink_to(folder)

    def relink_to(self, folder: Path) -> None:
        """Check ``folder`` against the session's files on a worker, then point the session at it."""
        from dcgui.services.folder import check_relink

        store, path = self.model.store, self.model.path
        if store is None or path is None or self.model.readonly:
            return
        worker = GeneratorWorker(call_job(lambda: check_relink(store, folder)), name="relink",
                                 returned=lambda result: self._relink_checked(path, folder, *result),
                                 errored=lambda e: errors.show_error(self, e, "Cannot relink the folder"))
        self._relink_worker = worker
        worker.start()

    def _relink_checked(self, path: Path, folder: Path, checked: int, bad: list[Any]) -> None:
        from dcgui.services.folder import relink

        store = self.model.store
        if store is None or self.model.path != path:
            return  # another session was opened meanwhile
        try:
            if bad:
                relink(store, folder)  # raises the message that names the differing files
            store.set_folder(folder)
        except Exception as exc:
            errors.show_error(self, exc, "Cannot relink the folder")
            return
        self._open_now(path)  # every view reads the images from the new folder
        self.statusBar().showMessage(f"{path.name} now uses the photo folder {folder} "
                                     f"({checked} files checked: same names and sizes)", 15000)

    def close_session(self) -> None:
        self._when_not_training(self._close_now, "close the session")

    def _close_now(self) -> None:
        self._poll_timer.stop()
        store = self.model.store
        self.model.close()
        self._close_stores(store)
        self.setWindowTitle("dcgui")
        self.setWindowFilePath("")
        self.show_start_page()
        self._update_actions()

    def show_start_page(self) -> None:
        self.start_page.refresh()
        self.stack.setCurrentWidget(self.start_page)

    def _close_stores(self, store: SessionStore | None) -> None:
        """Close ``store`` (the model's, which the model no longer shows) and the poll connection."""
        for s in (self._poll_store, store):
            if s is not None:
                # Closing cannot lose data (every write is committed); a failure is harmless.
                with contextlib.suppress(sqlite3.Error):
                    s.close()
        self._poll_store = None

    # =======================================================================================
    # demo
    # =======================================================================================
    def open_demo(self) -> None:
        self._when_not_training(self._open_demo_now, "open the demo")

    def _open_demo_now(self) -> None:
        if self._demo_worker is not None and self._demo_worker.is_running:
            return
        path = demo_session_path()

        def prepare() -> tuple[Path, str, PhaseTimes | None, float]:
            from dcgui.core.device import available_devices
            from dcgui.core.images.demo import extract_demo
            from dcgui.core.train.estimate import PhaseTimes, measure_rates
            from dcgui.services.session import open_session

            folder = extract_demo()  # idempotent: returns at once when already extracted
            names = [n for n, _ in available_devices()]
            kind = device_type_of("auto", [(n, n) for n in names])
            def timed(cfg: TrainConfig, decode: bool) -> tuple[PhaseTimes, float]:
                # A few steps of the demo's network as it will train, a checkpoint write, and
                # (before the first run) decoding a few images as the cache build will.
                rates = measure_rates(cfg, DEMO_IMAGES, threads=cfg.threads or torch_threads_for_worker(),
                                      folder=folder if decode else None)
                setup = DEMO_IMAGES / rates.decode_images_per_s if rates.decode_images_per_s else 0.0
                return PhaseTimes.from_rates(cfg, DEMO_IMAGES, rates), setup

            expected, setup_s = None, 0.0
            if not path.exists():
                expected, setup_s = timed(demo_config(kind), decode=True)
            else:  # recorded epochs are the better estimate (read later); without any, measure
                with contextlib.suppress(Exception), open_session(path) as s:
                    if not s.epochs():
                        expected, setup_s = timed(s.config, decode=False)
            return folder, kind, expected, setup_s

        progress = QProgressDialog("Preparing the demo collection (4,000 images) and timing a few training "
                                   "steps on this machine…", "", 0, 0, self)
        progress.setCancelButton(None)
        progress.setWindowTitle("dcgui demo")
        progress.setMinimumDuration(400)
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        self._demo_progress = progress
        worker = GeneratorWorker(call_job(prepare), name="demo",
                                 returned=lambda result: self._demo_ready(path, *result),
                                 errored=lambda err: errors.show_error(self, err, "Cannot prepare the demo"),
                                 finished=self._demo_finished)
        self._demo_worker = worker
        self.statusBar().showMessage("Preparing the demo collection…")
        worker.start()

    def _demo_finished(self) -> None:
        if self._demo_progress is not None:
            self._demo_progress.reset()
            self._demo_progress.deleteLater()
            self._demo_progress = None

    def _demo_ready(self, path: Path, folder: Path, device_type: str, expected: PhaseTimes | None = None,
                    setup_s: float = 0.0) -> None:
        from dcgui.services.training import create_session

        if not path.exists():
            try:
                create_session(path, folder, demo_config(device_type)).close()
            except Exception as exc:
                errors.show_error(self, exc, "Cannot create the demo session")
                return
        if not self.open_session(path):
            return
        store = self.model.store
        self.statusBar().showMessage(f"Demo session: {path}", 8000)
        if store is None or self.model.readonly:
            return
        # The demo's full run, even after a quick look lowered the session's own target.
        last, target = store.last_epoch(), max(store.config.epochs, demo_config(device_type).epochs)
        if last >= target:
            return  # trained: just show it
        from dcgui.core.train.estimate import PhaseTimes

        recorded = PhaseTimes.from_epochs(store.epochs())
        if recorded is not None and expected is not None:
            recorded.overhead = expected.overhead  # not recorded: the measured checkpoint write
        expected = recorded or expected
        self.training.expected = expected  # the ETA's expectation until an epoch of this run ends
        per_epoch = expected.total if expected is not None else None
        quick = min(target, last + DEMO_QUICK_EPOCHS)
        choice = ask_demo_training(self, last, quick, target, per_epoch, setup_s if last == 0 else 0.0)
        if choice == "quick":
            self.training.start(quick)
        elif choice == "full":
            self.training.start(target)

    # =======================================================================================
    # epochs: live updates and the shared epoch control
    # =======================================================================================
    def poll(self) -> None:
        """Cheap: one ``PRAGMA data_version``; reads more only when another connection committed."""
        src = self._poll_store or self.model.store
        if src is None:
            return
        try:
            version = src.data_version()
        except Exception as exc:  # the file vanished or was damaged under us: say it once
            self._poll_timer.stop()
            errors.show_error(self, exc, "Lost the session file",
                              details=f"{self.model.path}: {exc}\nReopen the session once the file is back.")
            return
        if version == self._data_version:
            return
        self._data_version = version
        try:
            self.model.refresh()
        except (SessionFileError, sqlite3.DatabaseError) as exc:  # damaged while we read it
            self._poll_timer.stop()
            errors.show_error(self, exc, "Lost the session file",
                              details=f"{self.model.path}: {exc}\nReopen the session once the file is back.")
        except Exception as exc:  # a bug in a view, not a lost file: a crash report; keep following
            errors.show_error(self, exc, "dcgui")

    def _on_epochs(self, last: int) -> None:
        # Only a new epoch is news (opening a session also announces its epoch count).
        if self.model.store is not None and last > self._announced and self._announced >= 0 and not self.training.is_busy:
            self.statusBar().showMessage(f"Epoch {last} was saved by another process (following live)"
                                         if self.model.follow_live else f"Epoch {last} was saved", 8000)
        self._announced = last
        self._update_actions()

    def _on_follow_changed(self, on: bool) -> None:
        with quietly(self.act_follow):
            self.act_follow.setChecked(on)

    @property
    def epoch(self) -> int:
        """The epoch every tab shows."""
        return self.model.epoch

    def set_epoch(self, epoch: int) -> None:
        self.model.set_epoch(epoch)

    # =======================================================================================
    # training outcome
    # =======================================================================================
    def _on_training_error(self, err: WorkerError) -> None:
        errors.show_error(self, err, "Training stopped")

    def _on_run_ended(self, reason: str) -> None:
        self.model.refresh()
        self._update_actions()
        action, self._pending_after_stop = self._pending_after_stop, None
        if action is not None:
            action()

    # =======================================================================================
    # exports
    # =======================================================================================
    def export_backbone(self) -> None:
        if self.model.store is None:
            return
        from dcgui.gui.export_dialog import ExportDialog

        self._export_dialog = open_dialog(ExportDialog(self.model.store, self, epoch=self.model.epoch or None))

    def export_report(self) -> None:
        from dcgui.gui.show_method import export_report

        self._report_dialog = export_report(self, self.model)

    def compare_with(self) -> None:
        from dcgui.gui.show_method import compare_with

        self._compare_dialog = compare_with(self, self.model)

    def export_cluster_csv(self) -> None:
        self.view.clusters.commands.export_csv()

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
        store = self.model.store
        self.model.close()  # the views let go of the session; Explore cancels its jobs
        self._close_stores(store)
        event.accept()
        # Background jobs (Explore, thumbnails) end at their next check; wait for them so no
        # thread outlives the window (a QThread destroyed while running aborts the process).
        self.hide()
        stop_all_workers(timeout_ms=15_000)

