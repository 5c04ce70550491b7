"""The start page: recent sessions and the three ways in (new, demo, open).

Recent sessions are kept in QSettings (path + when last opened). Each row also shows how many
epochs the file holds and its image folder, read through a read-only connection (which checks the
file: ``PRAGMA quick_check``) on the thread pool, one file after the other, so a slow or
unmounted disk never freezes the window: a row says "checking…" until its file has answered,
then its state (epochs, damaged, missing). Files that no longer exist are greyed out and say so,
and can be removed from the list.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QPoint, QSettings, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QAction, QFont, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCommandLinkButton,
    QHeaderView,
    QLabel,
    QMenu,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from dcgui import __version__
from dcgui.gui import theme
from dcgui.gui.layout import Space, Stretch, hbox, vbox, wrapped_label

RECENT_KEY = "recent/sessions"
MAX_RECENT = 12
PATH_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True)
class RecentEntry:
    path: Path
    last_opened: str  # ISO timestamp (local time)

    @property
    def exists(self) -> bool:
        return self.path.is_file()


class RecentSessions:
    """The recent-session list in QSettings, newest first, at most ``MAX_RECENT``."""

    @staticmethod
    def entries() -> list[RecentEntry]:
        raw = QSettings().value(RECENT_KEY, "[]")
        try:
            items = json.loads(raw if isinstance(raw, str) else "[]")
        except json.JSONDecodeError:
            items = []
        out = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                out.append(RecentEntry(Path(item["path"]), str(item.get("last_opened", ""))))
        return out

    @staticmethod
    def _save(entries: list[RecentEntry]) -> None:
        data = [{"path": str(e.path), "last_opened": e.last_opened} for e in entries[:MAX_RECENT]]
        QSettings().setValue(RECENT_KEY, json.dumps(data))

    @classmethod
    def add(cls, path: Path) -> None:
        path = Path(path).absolute()
        now = _dt.datetime.now().isoformat(timespec="seconds")
        rest = [e for e in cls.entries() if e.path != path]
        cls._save([RecentEntry(path, now), *rest])

    @classmethod
    def remove(cls, path: Path) -> None:
        path = Path(path).absolute()
        cls._save([e for e in cls.entries() if e.path != path])


@dataclass(frozen=True)
class SessionSummary:
    epochs: str  # "3 / 20"
    folder: str  # the folder of images the session trains on ("" when unknown)
    tooltip: str


def session_summary(path: Path) -> SessionSummary:
    """Epochs, image folder and a tooltip for a session file, read-only; never raises."""
    if not path.is_file():
        return SessionSummary("—", "", f"{path} no longer exists (moved or deleted)")
    try:
        from dcgui.services.session import open_session

        with open_session(path) as store:
            last = store.last_epoch()
            target = store.config.epochs
            n = store.n_images
            folder = str(store.folder)
        return SessionSummary(f"{last} / {target}", folder,
                              f"Session: {path}\nImages: {folder}\n{n:,} images, {last} of {target} epochs trained")
    except Exception as exc:  # a damaged or newer file: show it, let opening explain in full
        return SessionSummary("?", "", f"{path}\ncannot be read: {exc}")


CHECKING = "checking…"


class _Relay(QObject):
    summary = Signal(int, str, object)  # generation, path, SessionSummary


def _when(iso: str) -> str:
    try:
        t = _dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    today = _dt.date.today()
    if t.date() == today:
        return f"today {t:%H:%M}"
    if (today - t.date()).days == 1:
        return f"yesterday {t:%H:%M}"
    return f"{t:%Y-%m-%d %H:%M}"


class StartPage(QWidget):
    """Signals: ``newSessionRequested()``, ``openDemoRequested()``, ``openSessionRequested()``
    (show a file chooser), ``openRecentRequested(str)`` (a path)."""

    newSessionRequested = Signal()
    openDemoRequested = Signal()
    openSessionRequested = Signal()
    openRecentRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None, icon: QIcon | None = None) -> None:
        super().__init__(parent)
        logo = QLabel()
        if icon is not None and not icon.isNull():
            logo.setPixmap(icon.pixmap(QSize(96, 96)))
        title = QLabel("dcgui")
        f = QFont(title.font())
        f.setPointSizeF(f.pointSizeF() * 2.2)
        f.setBold(True)
        title.setFont(f)
        tagline = wrapped_label("DeepCluster on your own photos: train a network without labels, "
                                "watch its clusters form, browse, curate and export.")
        version = QLabel(f"version {__version__}")
        version.setStyleSheet(f"color: {theme.muted_colour(self.palette()).name()};")

        self.new_button = QCommandLinkButton("New session from folder…",
                                             "Pick a folder of images; dcgui scans it and suggests settings.")
        self.demo_button = QCommandLinkButton("Open demo collection",
                                              "4,000 Fashion-MNIST images in 10 classes: see NMI rise within minutes.")
        self.open_button = QCommandLinkButton("Open session…", "Continue a .dcgui session file.")
        self.new_button.clicked.connect(self.newSessionRequested)
        self.demo_button.clicked.connect(self.openDemoRequested)
        self.open_button.clicked.connect(self.openSessionRequested)

        head = hbox((logo, 0, Qt.AlignmentFlag.AlignTop), (vbox(title, version, Stretch(1)), 1))
        left = vbox(head, tagline, Space(16), self.new_button, self.demo_button, self.open_button, Stretch(1))

        recent_title = QLabel("Recent sessions")
        rf = QFont(recent_title.font())
        rf.setBold(True)
        rf.setPointSizeF(rf.pointSizeF() * 1.2)
        recent_title.setFont(rf)
        self.recent_tree = QTreeWidget()
        self.recent_tree.setHeaderLabels(["Session", "Epochs", "Last opened", "Image folder"])
        self.recent_tree.setRootIsDecorated(False)
        self.recent_tree.setAlternatingRowColors(True)
        self.recent_tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.recent_tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.recent_tree.itemActivated.connect(self._activated)
        self.recent_tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.recent_tree.customContextMenuRequested.connect(self._context_menu)
        self.empty_label = wrapped_label("No recent sessions yet. Start with the demo collection or a folder of "
                                         "your photos.")
        self.empty_label.setStyleSheet(f"color: {theme.muted_colour(self.palette()).name()};")
        hint = QLabel("Double-click to open · right-click to remove from the list")
        hint.setStyleSheet(f"color: {theme.muted_colour(self.palette()).name()};")
        self.hint_label = hint
        right = vbox(recent_title, (self.recent_tree, 1), self.empty_label, hint)

        hbox((left, 2), (right, 3), parent=self, margins=(32, 28, 32, 28), spacing=32)
        self._generations = itertools.count(1)
        self._generation = 0
        self._pending: set[str] = set()  # paths whose summary has not arrived yet
        self._relay = _Relay()
        self._relay.summary.connect(self._on_summary, Qt.ConnectionType.QueuedConnection)
        self.refresh()

    @property
    def checking(self) -> bool:
        """Whether some row still waits for its file's answer (tests)."""
        return bool(self._pending)

    def refresh(self) -> None:
        """Re-read the recent list at once; each file's state follows from the thread pool."""
        self.recent_tree.clear()
        entries = RecentSessions.entries()
        self._generation = generation = next(self._generations)
        for e in entries:
            name = e.path.name.removesuffix(".dcgui")
            # "Folder" is the folder of images (what the user recognises), not where the file is.
            item = QTreeWidgetItem([name, CHECKING, _when(e.last_opened), ""])
            item.setData(0, PATH_ROLE, str(e.path))
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignCenter)
            for col in range(4):
                item.setToolTip(col, f"Session: {e.path}\n(its file is being read)")
            self.recent_tree.addTopLevelItem(item)
        self._pending = {str(e.path) for e in entries}
        self.empty_label.setVisible(not entries)
        self.hint_label.setVisible(bool(entries))
        if entries:
            QThreadPool.globalInstance().start(_summaries_job([e.path for e in entries], generation, self._relay))

    def _on_summary(self, generation: int, path: str, summary: SessionSummary) -> None:
        if generation != self._generation:
            return  # a refresh came since: its own job answers
        self._pending.discard(path)
        for r in range(self.recent_tree.topLevelItemCount()):
            item = self.recent_tree.topLevelItem(r)
            if item is None or item.data(0, PATH_ROLE) != path:
                continue
            item.setText(1, summary.epochs)
            item.setText(3, summary.folder or "—")
            for col in range(4):
                item.setToolTip(col, summary.tooltip)
            if summary.epochs in ("—", "?"):  # missing or unreadable: greyed out, and said
                muted = theme.muted_colour(self.palette())
                for col in range(4):
                    item.setForeground(col, muted)
                name = Path(path).name.removesuffix(".dcgui")
                item.setText(0, f"{name} ({'missing' if summary.epochs == '—' else 'cannot be read'})")

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        self.openRecentRequested.emit(str(item.data(0, PATH_ROLE)))

    def _context_menu(self, pos: QPoint) -> None:
        item = self.recent_tree.itemAt(pos)
        if item is None:
            return
        path = Path(str(item.data(0, PATH_ROLE)))
        menu = QMenu(self)
        open_action = QAction("Open", menu)
        open_action.setEnabled(item.text(1) != "—")  # known missing (no file access on this thread)
        remove_action = QAction("Remove from list", menu)
        menu.addAction(open_action)
        menu.addAction(remove_action)
        chosen = menu.exec(self.recent_tree.viewport().mapToGlobal(pos))
        if chosen is open_action:
            self.openRecentRequested.emit(str(path))
        elif chosen is remove_action:
            RecentSessions.remove(path)
            self.refresh()


def _summaries_job(paths: list[Path], generation: int, relay: _Relay) -> Callable[[], None]:
    """One pool task reading the files one after the other (a slow disk is asked once at a time)."""
    def job() -> None:
        for path in paths:
            relay.summary.emit(generation, str(path), session_summary(path))
    return job
