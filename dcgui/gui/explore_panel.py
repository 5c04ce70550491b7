"""The Explore tab: similar images, near-duplicates, outliers, the 2-D map, evaluation.

Everything heavy (features, faiss, UMAP, evaluation) runs in a ``GeneratorWorker`` over the
generators of ``dcgui.services.explore`` / ``dcgui.services.evaluate``; each job opens its own
read-only ``SessionStore`` in its thread. One job runs at a time; a change of session or epoch
stops it and discards its result (a generation counter). The GUI thread only draws, counts
duplicates at a threshold (a binary search) and writes flags.

A sub-tab computes its content when it is first shown for an epoch, so a user who never opens
the map never pays for UMAP. Features are shared by the sub-tabs and cached on disk.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Generator, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QImage,
    QImageReader,
    QPixmap,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from dcgui.core.control import RunControl
from dcgui.core.events import Message, PhaseProgress
from dcgui.core.explore import (
    DEFAULT_DUPLICATE_THRESHOLD,
    DuplicateGroup,
    DuplicateIndex,
    FeatureIndex,
)
from dcgui.core.imageio import IMAGE_EXTENSIONS
from dcgui.core.pathtext import printable
from dcgui.gui.explore_mapview import MapView
from dcgui.gui.thumbnails import AsyncPixmapCache, image_from_jpeg
from dcgui.gui.worker import GeneratorWorker, WorkerError
from dcgui.services import explore as es

if TYPE_CHECKING:
    from dcgui.core.evaluate import EvalReport
    from dcgui.store import SessionStore

TAB_SIMILAR, TAB_DUPLICATES, TAB_OUTLIERS, TAB_MAP, TAB_EVAL = range(5)
ICON_SIZE = 96
SLIDER_MIN = 0.5  # the duplicate index keeps neighbour pairs down to this similarity
MAX_SELECTION_THUMBS = 300

_PHASE_TEXT = {"features": "Computing features", "neighbours": "Finding neighbours", "map": "Computing the 2-D map",
               "outliers": "Scoring outliers", "evaluation": "Evaluating", "scan": "Scanning the labelled folder",
               "cache": "Decoding the labelled folder"}


@dataclass(frozen=True)
class _Job:
    factory: Callable[[RunControl], Generator[Any, Any, Any]]
    deliver: Callable[[Any], None]
    failed: Callable[[WorkerError], None]


class _ThumbSource:
    """Thumbnail loader for ``AsyncPixmapCache``: opens the image cache lazily on a pool thread
    (its index can be large; the GUI thread never reads it)."""

    def __init__(self, cache_dir: Path, size: int) -> None:
        self.cache_dir, self.size = cache_dir, size
        self._cache: Any = None
        self._lock = threading.Lock()

    def __call__(self, i: Hashable) -> QImage:
        from dcgui.core.cache import ImageCache

        with self._lock:
            if self._cache is None:
                self._cache = ImageCache.open(self.cache_dir, self.size)
            cache = self._cache
        return image_from_jpeg(cache.thumbnail_jpeg(int(i)))  # type: ignore[call-overload]


class ThumbList(QListWidget):
    """Thumbnails with a caption, in a wrapping grid; icons arrive from the shared loader."""

    imageActivated = Signal(int)

    def __init__(self, loader: AsyncPixmapCache, icon_size: int = ICON_SIZE, wrap: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loader = loader
        self._items: dict[int, list[QListWidgetItem]] = {}
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setIconSize(QSize(icon_size, icon_size))
        self.setGridSize(QSize(icon_size + 24, icon_size + 40))
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setWrapping(wrap)
        if not wrap:
            self.setFlow(QListWidget.Flow.LeftToRight)
            self.setFixedHeight(icon_size + 64)
            self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self._blank = QPixmap(icon_size, icon_size)
        self._blank.fill(QColor(0, 0, 0, 0))
        loader.ready.connect(self._on_ready)
        self.itemDoubleClicked.connect(lambda item: self.imageActivated.emit(int(item.data(Qt.ItemDataRole.UserRole))))

    def set_images(self, entries: Sequence[tuple[int, str, str]]) -> None:
        """``entries``: (image index, caption, tooltip) per item, in order."""
        self.clear()
        self._items = {}
        for index, text, tip in entries:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, int(index))
            item.setToolTip(tip)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            pixmap = self._loader.request(int(index))
            item.setIcon(QIcon(pixmap if pixmap is not None else self._blank))
            self.addItem(item)
            self._items.setdefault(int(index), []).append(item)

    def set_caption(self, image_index: int, text: str) -> None:
        for item in self._items.get(int(image_index), []):
            item.setText(text)

    def image_indices(self) -> list[int]:
        return [int(self.item(r).data(Qt.ItemDataRole.UserRole)) for r in range(self.count())]

    def selected_images(self) -> list[int]:
        return [int(it.data(Qt.ItemDataRole.UserRole)) for it in self.selectedItems()]

    def has_icon(self, image_index: int) -> bool:
        """True once the real thumbnail (not the blank placeholder) is shown."""
        items = self._items.get(int(image_index), [])
        return bool(items) and self._loader.pixmap(int(image_index)) is not None

    def _on_ready(self, keys: list[Hashable]) -> None:
        for key in keys:
            items = self._items.get(key)  # type: ignore[call-overload]
            if not items:
                continue
            pixmap = self._loader.pixmap(key)
            if pixmap is not None:
                for item in items:
                    item.setIcon(QIcon(pixmap))
            else:
                for item in items:
                    item.setToolTip(f"{item.toolTip()}\n(thumbnail: {self._loader.error(key)})")


def _image_files(event: QDragEnterEvent | QDropEvent) -> list[Path]:
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls()
            if u.isLocalFile() and Path(u.toLocalFile()).suffix.lower() in IMAGE_EXTENSIONS]


class ExplorePanel(QWidget):
    """Similar / Duplicates / Outliers / Map / Evaluation for the session's network at an epoch.

    Signals: ``selectionChanged(list[int])`` (the map's lasso), ``flagsChanged(list[int])`` (images
    whose flag this panel changed), ``busyChanged(bool)``.
    """

    selectionChanged = Signal(list)
    flagsChanged = Signal(list)
    busyChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store: SessionStore | None = None
        self._epoch = 0
        self._generation = 0
        self._paths: list[str] = []
        self._worker: GeneratorWorker | None = None
        self._queue: OrderedDict[str, _Job] = OrderedDict()
        self._reset_results()
        self._query: int | Path | None = None
        self._eval_folder: Path | None = None
        self.labels_available = False
        self._transient = False
        self.loader = AsyncPixmapCache(None, capacity=3000, max_bytes=128 * 1024 * 1024)
        self.loader.ready.connect(self._query_thumb_ready)
        self.setAcceptDrops(True)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_similar(), "Similar")
        self.tabs.addTab(self._build_duplicates(), "Duplicates")
        self.tabs.addTab(self._build_outliers(), "Outliers")
        self.tabs.addTab(self._build_map(), "Map")
        self.tabs.addTab(self._build_eval(), "Evaluation")
        self.tabs.currentChanged.connect(lambda _: self._refresh())

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the computation running for this tab")
        self.stop_button.clicked.connect(self.stop)
        bar = QHBoxLayout()
        bar.addWidget(self.status, 1)
        bar.addWidget(self.progress)
        bar.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(bar)
        self._set_busy(False)
        self._update_enabled()

    def _reset_results(self) -> None:
        self._feats: es.SessionFeatures | None = None
        self._index: FeatureIndex | None = None
        self._dup: DuplicateIndex | None = None
        self._sizes: np.ndarray | None = None
        self._groups: list[DuplicateGroup] = []
        self._coords: np.ndarray | None = None
        self._outliers: list[es.Outlier] | None = None
        self._report: EvalReport | None = None
        self._similar_shown = False

    # =========================================================================================
    # building the sub-tabs
    # =========================================================================================
    def _build_similar(self) -> QWidget:
        w = QWidget()
        self.query_image = QLabel()
        self.query_image.setFixedSize(ICON_SIZE + 32, ICON_SIZE + 32)
        self.query_image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.query_image.setFrameShape(QLabel.Shape.StyledPanel)
        self.query_caption = QLabel("Drop an image file here, open one, or use “More like this” on an image "
                                    "in the cluster browser: its nearest neighbours under the network of the "
                                    "shown epoch appear below (cosine similarity of the features).")
        self.query_caption.setWordWrap(True)
        self.open_image_button = QPushButton("Open image…")
        self.open_image_button.setToolTip("Find the images most similar to any image file, inside or outside the folder")
        self.open_image_button.clicked.connect(self._choose_query_file)
        self.similar_count = QSpinBox()
        self.similar_count.setRange(1, 500)
        self.similar_count.setValue(40)
        self.similar_count.setPrefix("Show ")
        self.similar_count.setSuffix(" images")
        self.similar_count.setKeyboardTracking(False)
        self.similar_count.valueChanged.connect(lambda _: self._run_similar())
        top = QHBoxLayout()
        top.addWidget(self.query_image)
        col = QVBoxLayout()
        col.addWidget(self.query_caption, 1)
        row = QHBoxLayout()
        row.addWidget(self.open_image_button)
        row.addWidget(self.similar_count)
        row.addStretch(1)
        col.addLayout(row)
        top.addLayout(col, 1)
        self.similar_list = ThumbList(self.loader)
        self.similar_list.imageActivated.connect(self.show_similar)
        lay = QVBoxLayout(w)
        lay.addLayout(top)
        lay.addWidget(self.similar_list, 1)
        return w

    def _build_duplicates(self) -> QWidget:
        w = QWidget()
        self.dup_slider = QSlider(Qt.Orientation.Horizontal)
        self.dup_slider.setRange(int(SLIDER_MIN * 1000), 1000)
        self.dup_slider.setValue(int(DEFAULT_DUPLICATE_THRESHOLD * 1000))
        self.dup_slider.setToolTip("Images whose features have at least this cosine similarity (through a chain "
                                   "of nearest neighbours) form a group. 1.0 = identical.")
        self.dup_spin = QDoubleSpinBox()
        self.dup_spin.setRange(SLIDER_MIN, 1.0)
        self.dup_spin.setDecimals(3)
        self.dup_spin.setSingleStep(0.001)
        self.dup_spin.setValue(DEFAULT_DUPLICATE_THRESHOLD)
        self.dup_count = QLabel()
        self.dup_slider.valueChanged.connect(self._on_slider)
        self.dup_spin.valueChanged.connect(lambda v: self.dup_slider.setValue(round(v * 1000)))
        self._groups_timer = QTimer(self)
        self._groups_timer.setSingleShot(True)
        self._groups_timer.setInterval(200)  # regroup once the slider rests; the count is live
        self._groups_timer.timeout.connect(self._update_groups)
        self.group_list = QListWidget()
        self.group_list.currentRowChanged.connect(self._show_group)
        self.group_members = ThumbList(self.loader)
        self.group_members.imageActivated.connect(self.show_similar)
        self.keep_first_button = QPushButton("Keep first, flag the rest")
        self.keep_first_button.setToolTip("Flag every image of this group but the first (the largest file) as "
                                          "'duplicate'. No file is deleted or moved.")
        self.keep_first_button.clicked.connect(lambda: self.flag_group(self.group_list.currentRow()))
        self.keep_selected_button = QPushButton("Keep selected, flag the rest")
        self.keep_selected_button.clicked.connect(self._keep_selected)
        self.unflag_button = QPushButton("Unflag group")
        self.unflag_button.setToolTip("Clear the 'duplicate' flag of every image of this group")
        self.unflag_button.clicked.connect(lambda: self.unflag_group(self.group_list.currentRow()))
        self.flag_all_button = QPushButton("Flag all groups")
        self.flag_all_button.setToolTip("In every group, keep the first (largest file) and flag the others as "
                                        "'duplicate'. No file is deleted or moved.")
        self.flag_all_button.clicked.connect(self.flag_all_groups)
        top = QHBoxLayout()
        top.addWidget(QLabel("Similarity ≥"))
        top.addWidget(self.dup_slider, 2)
        top.addWidget(self.dup_spin)
        top.addWidget(self.dup_count, 2)
        buttons = QHBoxLayout()
        for b in (self.keep_first_button, self.keep_selected_button, self.unflag_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.flag_all_button)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.group_members, 1)
        rl.addLayout(buttons)
        split = QSplitter()
        split.addWidget(self.group_list)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        lay = QVBoxLayout(w)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        return w

    def _build_outliers(self) -> QWidget:
        w = QWidget()
        self.outlier_count = QSpinBox()
        self.outlier_count.setRange(1, 2000)
        self.outlier_count.setValue(60)
        self.outlier_count.setPrefix("Show ")
        self.outlier_count.setSuffix(" images")
        self.outlier_count.setKeyboardTracking(False)
        self.outlier_count.valueChanged.connect(lambda _: self._run_outliers())
        explain = QLabel("Images far from every cluster of this epoch, most unusual first. Score = 1 − cosine "
                         "similarity to the nearest cluster centroid (the mean feature of its members).")
        explain.setWordWrap(True)
        self.outlier_list = ThumbList(self.loader)
        self.outlier_list.imageActivated.connect(self.show_similar)
        self.exclude_button = QPushButton("Flag selected as 'exclude'")
        self.exclude_button.setToolTip("Mark the selected images so exports and curation leave them out")
        self.exclude_button.clicked.connect(lambda: self._flag(self.outlier_list.selected_images(), "exclude"))
        top = QHBoxLayout()
        top.addWidget(explain, 1)
        top.addWidget(self.outlier_count)
        top.addWidget(self.exclude_button)
        lay = QVBoxLayout(w)
        lay.addLayout(top)
        lay.addWidget(self.outlier_list, 1)
        return w

    def _build_map(self) -> QWidget:
        w = QWidget()
        self.map_view = MapView(self.loader)
        self.map_view.selectionChanged.connect(self._on_map_selection)
        self.map_view.pointActivated.connect(self.show_similar)
        self.colour_by = QComboBox()
        self.colour_by.addItem("Colour by cluster", "cluster")
        self.colour_by.addItem("Colour by label", "label")
        self.colour_by.currentIndexChanged.connect(lambda _: self._recolour_map())
        self.mode_group = QButtonGroup(self)
        mode_row = QHBoxLayout()
        for i, (mode, text, tip) in enumerate((
            ("pan", "Pan / zoom", "Drag to pan, wheel to zoom"),
            ("lasso", "Lasso", "Drag a free shape around points to select them (Shift adds)"),
            ("rect", "Rectangle", "Drag a rectangle to select points (Shift adds)"),
        )):
            b = QRadioButton(text)
            b.setToolTip(tip)
            b.setProperty("mode", mode)
            self.mode_group.addButton(b, i)
            mode_row.addWidget(b)
            if mode == "pan":
                b.setChecked(True)
        self.mode_group.buttonClicked.connect(lambda b: self.map_view.set_mode(b.property("mode")))
        self.selection_label = QLabel("No selection")
        self.clear_selection_button = QPushButton("Clear")
        self.clear_selection_button.clicked.connect(self.map_view.clear_selection)
        self.keep_selection_button = QPushButton("Flag 'keep'")
        self.keep_selection_button.clicked.connect(lambda: self._flag(self.map_view.selected(), "keep"))
        self.exclude_selection_button = QPushButton("Flag 'exclude'")
        self.exclude_selection_button.clicked.connect(lambda: self._flag(self.map_view.selected(), "exclude"))
        top = QHBoxLayout()
        top.addWidget(self.colour_by)
        top.addLayout(mode_row)
        top.addStretch(1)
        top.addWidget(self.selection_label)
        for b in (self.clear_selection_button, self.keep_selection_button, self.exclude_selection_button):
            top.addWidget(b)
        self.selection_strip = ThumbList(self.loader, icon_size=64, wrap=False)
        self.selection_strip.imageActivated.connect(self.show_similar)
        lay = QVBoxLayout(w)
        lay.addLayout(top)
        lay.addWidget(self.map_view, 1)
        lay.addWidget(self.selection_strip)
        return w

    def _build_eval(self) -> QWidget:
        w = QWidget()
        self.eval_folder_label = QLabel()
        self.eval_folder_label.setWordWrap(True)
        self.eval_choose_button = QPushButton("Labelled folder…")
        self.eval_choose_button.setToolTip("Evaluate on another folder with one sub-folder per class")
        self.eval_choose_button.clicked.connect(self._choose_eval_folder)
        self.eval_own_button = QPushButton("Use the session's folder")
        self.eval_own_button.clicked.connect(lambda: self.set_eval_folder(None))
        self.eval_button = QPushButton("Evaluate")
        self.eval_button.setToolTip("kNN, linear probe and NMI of this epoch's network and of its random "
                                    "initialisation (takes two feature passes)")
        self.eval_button.clicked.connect(self.run_evaluation)
        self.eval_table = QTableWidget(0, 4)
        self.eval_table.setHorizontalHeaderLabels(["Network", "kNN accuracy", "Linear probe", "NMI (k-means)"])
        self.eval_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.eval_table.verticalHeader().setVisible(False)
        self.eval_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.eval_notes = QLabel()
        self.eval_notes.setWordWrap(True)
        self.eval_notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top = QHBoxLayout()
        top.addWidget(self.eval_folder_label, 1)
        top.addWidget(self.eval_choose_button)
        top.addWidget(self.eval_own_button)
        top.addWidget(self.eval_button)
        lay = QVBoxLayout(w)
        lay.addLayout(top)
        self.eval_table.setMaximumHeight(120)
        self.eval_notes.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        lay.addWidget(self.eval_table)
        lay.addWidget(self.eval_notes)
        lay.addStretch(1)
        return w

    # =========================================================================================
    # public API (the main window)
    # =========================================================================================
    def set_session(self, store: SessionStore | None) -> None:
        """Show ``store`` (the window's store; jobs open their own read-only connection), or nothing."""
        self._cancel_jobs()
        self._store = store
        self._reset_results()
        self._query = None
        self._eval_folder = None
        self._paths = store.image_paths() if store is not None else []
        self.loader.reset(_ThumbSource(Path(store.cache_dir), store.config.cache_size) if store is not None else None)
        self._epoch = store.last_epoch() if store is not None else 0
        self._clear_views()
        self.labels_available = store is not None and store.labels() is not None
        self.colour_by.model().item(1).setEnabled(self.labels_available)  # type: ignore[attr-defined]
        if not self.labels_available:
            self.colour_by.setCurrentIndex(0)
        self.set_eval_folder(None)
        self._update_enabled()
        self._refresh()

    def set_epoch(self, epoch: int) -> None:
        """Use the network and clusters of ``epoch``; recompute what the visible tab shows."""
        epoch = int(epoch)
        if epoch == self._epoch:
            return
        self._cancel_jobs()
        self._epoch = epoch
        self._reset_results()
        self._clear_views(keep_query=True)
        self._update_enabled()
        self._refresh()

    @property
    def epoch(self) -> int:
        return self._epoch

    def show_similar(self, image_index: int) -> None:
        """Show the nearest neighbours of image ``image_index`` (the "More like this" action)."""
        if self._store is None:
            return
        self.tabs.setCurrentIndex(TAB_SIMILAR)
        self._query = int(image_index)
        self._show_query()
        self._run_similar()

    def query_file(self, path: Path) -> None:
        """Show the images most similar to any image file (dropped on the window, or opened)."""
        if self._store is None:
            return
        self.tabs.setCurrentIndex(TAB_SIMILAR)
        path = Path(path)
        inside = es.find_image_index(self._store, path)
        self._query = inside if inside is not None else path
        self._show_query()
        self._run_similar()

    def stop(self) -> None:
        """Stop the running job and forget the queued ones."""
        self._queue.clear()
        if self._worker is not None:
            self._worker.stop()
            self._say("Stopping…", transient=True)

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Block until no job runs (tests and shutdown only)."""
        return self._worker.wait(timeout_ms) if self._worker is not None else True

    # =========================================================================================
    # jobs
    # =========================================================================================
    def _job(self, kind: str, work: Callable[[SessionStore, es.SessionFeatures, RunControl], Generator[Any, Any, Any]],
             on_result: Callable[[Any], None], need_features: bool = True) -> None:
        """Queue ``work`` for the current session and epoch (one job per kind; the newest wins)."""
        if self._store is None:
            return
        path, epoch, feats, generation = self._store.path, self._epoch, self._feats, self._generation

        def factory(control: RunControl) -> Generator[Any, None, Any]:
            from dcgui.store import SessionStore

            store = SessionStore.open(path, readonly=True)
            try:
                f = feats
                if f is None and need_features:
                    f = yield from es.iter_session_embedding(store, epoch, control=control)
                result = yield from work(store, f, control)  # type: ignore[arg-type]
                return f, result
            finally:
                store.close()

        def deliver(value: Any) -> None:
            if generation != self._generation:
                return  # computed for another session or epoch
            f, result = value
            if f is not None and self._feats is None:
                self._feats = f
            try:
                on_result(result)
            except Exception as exc:  # shown in place: a broken view must not take the window down
                self._on_error(WorkerError.from_exception(exc))

        def failed(err: WorkerError) -> None:
            if generation == self._generation:
                self._on_error(err)

        self._queue.pop(kind, None)
        self._queue[kind] = _Job(factory, deliver, failed)
        if self._worker is None:
            self._start_next()

    def _start_next(self) -> None:
        if not self._queue:
            self._set_busy(False)
            return
        kind, job = self._queue.popitem(last=False)
        # No Qt parent: the worker module keeps it alive until its thread has ended.
        worker = GeneratorWorker(job.factory, name=f"explore-{kind}", progress_hz=10.0)
        worker.event.connect(self._on_event)
        worker.returned.connect(job.deliver)
        worker.errored.connect(job.failed)
        worker.stopped.connect(lambda: self._say("Stopped."))
        worker.finished.connect(self._on_worker_finished)
        self._worker = worker
        self._set_busy(True)
        self._say("Working…", transient=True)
        worker.start()

    def _on_worker_finished(self) -> None:
        self._worker = None
        if self._transient:  # "Working…" / a progress message of the job that just ended
            self._say("")
        self._start_next()

    def _say(self, text: str, transient: bool = False) -> None:
        """Show ``text`` in the status line; a transient one is cleared when the job ends."""
        self.status.setText(text)
        self.status.setToolTip("")
        self._transient = transient

    def _cancel_jobs(self) -> None:
        self._generation += 1
        self._queue.clear()
        if self._worker is not None:
            self._worker.stop()

    def _on_event(self, ev: Any) -> None:
        if isinstance(ev, PhaseProgress):
            self.progress.setRange(0, max(ev.total, 1))
            self.progress.setValue(min(ev.done, max(ev.total, 1)))
            self.progress.setFormat(f"{_PHASE_TEXT.get(ev.phase, ev.phase)} %p%")
        elif isinstance(ev, Message):
            self._say(ev.text, transient=True)

    def _on_error(self, err: WorkerError) -> None:
        self._say(f"<span style='color:#c0392b'>{_escape(err.message)}</span>")
        self.status.setToolTip(err.details)

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.stop_button.setVisible(busy)
        if not busy:
            self.progress.reset()
        self.busyChanged.emit(busy)

    # =========================================================================================
    # per-tab refresh
    # =========================================================================================
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._refresh()

    def _trained(self) -> bool:
        return self._store is not None and self._epoch >= 1

    def _refresh(self) -> None:
        """Start the visible tab's computation if its result is missing."""
        if self._store is None or not self.isVisible():
            return
        tab = self.tabs.currentIndex()
        if not self._trained():
            self._say("Train at least one epoch: exploring uses the network trained on your images.")
            return
        if tab == TAB_SIMILAR and self._query is not None and not self._similar_shown:
            self._run_similar()
        elif tab == TAB_DUPLICATES and self._dup is None:
            self._run_duplicates()
        elif tab == TAB_OUTLIERS and self._outliers is None:
            self._run_outliers()
        elif tab == TAB_MAP and self._coords is None:
            self._run_map()

    # -- similar ------------------------------------------------------------------------------
    def _run_similar(self) -> None:
        if self._store is None or self._query is None or not self._trained():
            return
        query, n, index = self._query, self.similar_count.value(), self._index

        def work(store: SessionStore, f: es.SessionFeatures, control: RunControl) -> Generator[Any, None, Any]:
            idx = index or FeatureIndex(f.features)
            res = yield from es.iter_similar(store, query, n, control=control, features=f, index=idx)
            return idx, res

        def done(value: Any) -> None:
            idx, res = value
            self._index = idx
            self._show_similar_result(res)

        self._job("similar", work, done)

    def _show_query(self) -> None:
        q = self._query
        if isinstance(q, int):
            pixmap = self.loader.request(q)  # None: it arrives through _query_thumb_ready
            self.query_image.setPixmap(pixmap if pixmap is not None else QPixmap())
            self.query_caption.setText(f"Images most similar to <b>{_escape(printable(self._paths[q]))}</b> (image {q}, "
                                       f"epoch {self._epoch})")
        elif isinstance(q, Path):
            # Decoded at thumbnail scale (a camera JPEG at full size would stall the GUI thread).
            reader = QImageReader(str(q))
            reader.setAutoTransform(True)
            size = reader.size()
            if size.isValid():
                reader.setScaledSize(size.scaled(ICON_SIZE + 24, ICON_SIZE + 24, Qt.AspectRatioMode.KeepAspectRatio))
            image = reader.read()
            self.query_image.setPixmap(QPixmap.fromImage(image) if not image.isNull() else QPixmap())
            self.query_caption.setText(f"Images most similar to <b>{_escape(str(q))}</b> (not in the collection; "
                                       f"epoch {self._epoch})")

    def _query_thumb_ready(self, keys: list[Hashable]) -> None:
        if isinstance(self._query, int) and self._query in keys:
            pixmap = self.loader.pixmap(self._query)
            if pixmap is not None:
                self.query_image.setPixmap(pixmap)

    def _show_similar_result(self, res: es.SimilarResult) -> None:
        self._similar_shown = True
        flags = self._store.image_flags() if self._store is not None else {}
        self.similar_list.set_images([
            (nb.index, f"{nb.rank}. {nb.score:.3f}" + (f"\n{flags[nb.index]}" if nb.index in flags else ""),
             f"{nb.path}\nsimilarity {nb.score:.4f}") for nb in res.neighbours])
        self._say(f"{len(res.neighbours)} nearest images (epoch {res.epoch}). "
                            "Double-click one for its own neighbours.")

    def _choose_query_file(self) -> None:
        exts = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(self, "Find similar images", "", f"Images ({exts})")
        if path:
            self.query_file(Path(path))

    # -- drag and drop --------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._store is not None and _image_files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        files = _image_files(event)
        if self._store is None or not files:
            event.ignore()
            return
        event.acceptProposedAction()
        self.query_file(files[0])

    # -- duplicates ---------------------------------------------------------------------------
    def _run_duplicates(self) -> None:
        def work(store: SessionStore, f: es.SessionFeatures, control: RunControl) -> Generator[Any, None, Any]:
            _, dup = yield from es.iter_session_duplicates(store, control=control, features=f.features)
            return dup, es.file_sizes(store)

        def done(value: Any) -> None:
            self._dup, self._sizes = value
            self._on_slider(self.dup_slider.value())
            self._update_groups()
            self._say(f"Near-duplicates among {self._dup.n:,} images (epoch {self._epoch}): move the slider; "
                      "groups are joined through each image's 8 nearest neighbours.")

        self.dup_count.setText("Finding neighbours…")
        self._job("duplicates", work, done)

    @property
    def threshold(self) -> float:
        return self.dup_slider.value() / 1000.0

    def set_threshold(self, t: float) -> None:
        """Move the slider to ``t`` and regroup now (a drag regroups once the slider rests)."""
        self.dup_slider.setValue(round(t * 1000))
        self._groups_timer.stop()
        self._update_groups()

    def duplicate_count(self) -> tuple[int, int]:
        """(groups, images) at the slider's threshold (0, 0 before the index exists)."""
        return self._dup.count(self.threshold) if self._dup is not None else (0, 0)

    def _on_slider(self, value: int) -> None:
        t = value / 1000.0
        if abs(self.dup_spin.value() - t) > 1e-9:
            self.dup_spin.blockSignals(True)
            self.dup_spin.setValue(t)
            self.dup_spin.blockSignals(False)
        if self._dup is None:
            return
        groups, images = self._dup.count(t)  # a binary search: live while dragging
        self.dup_count.setText(f"<b>{groups:,}</b> groups · {images:,} images · "
                               f"{images - groups:,} would be flagged")
        self._groups_timer.start()

    def _update_groups(self) -> None:
        if self._dup is None or self._feats is None:
            return
        self._groups = self._dup.groups(self.threshold, self._feats.features, prefer=self._sizes)
        self.group_list.clear()
        flags = self._store.image_flags() if self._store is not None else {}
        for g, grp in enumerate(self._groups, start=1):
            n_flagged = sum(1 for i in grp.rest if flags.get(int(i)) == "duplicate")
            text = f"Group {g}: {len(grp.members)} images, similarity ≥ {float(grp.similarity_to_first.min()):.3f}"
            if n_flagged:
                text += f" ({n_flagged} flagged)"
            self.group_list.addItem(text)
        if self._groups:
            self.group_list.setCurrentRow(0)
        else:
            self.group_members.set_images([])
        self._update_enabled()

    def _show_group(self, row: int) -> None:
        if not 0 <= row < len(self._groups):
            self.group_members.set_images([])
            return
        grp = self._groups[row]
        flags = self._store.image_flags() if self._store is not None else {}
        entries = []
        for j, (i, s) in enumerate(zip(grp.members, grp.similarity_to_first)):
            tag = "keep" if j == 0 else f"{float(s):.3f}"
            if flags.get(int(i)):
                tag += f" · {flags[int(i)]}"
            entries.append((int(i), tag, f"{printable(self._paths[int(i)])}\nsimilarity to the first {float(s):.4f}"))
        self.group_members.set_images(entries)
        self._update_enabled()

    def flag_group(self, row: int, keep: int | None = None) -> int:
        """Flag every image of group ``row`` but ``keep`` (default: its first) as 'duplicate'."""
        if not 0 <= row < len(self._groups):
            return 0
        grp = self._groups[row]
        keep = grp.keep if keep is None else int(keep)
        rest = [int(i) for i in grp.members if int(i) != keep]
        self._flag(rest, "duplicate")
        if self._store is not None and self._store.image_flags().get(keep) == "duplicate":
            self._flag([keep], None)  # the one kept now is no longer a duplicate
        return len(rest)

    def _keep_selected(self) -> None:
        sel = self.group_members.selected_images()
        if len(sel) == 1:
            self.flag_group(self.group_list.currentRow(), keep=sel[0])

    def unflag_group(self, row: int) -> None:
        if 0 <= row < len(self._groups) and self._store is not None:
            flags = self._store.image_flags()
            self._flag([int(i) for i in self._groups[row].members if flags.get(int(i)) == "duplicate"], None)

    def flag_all_groups(self) -> int:
        """Keep the first of every group at the current threshold and flag the others."""
        rest = [int(i) for g in self._groups for i in g.rest]
        self._flag(rest, "duplicate")
        return len(rest)

    def _flag(self, indices: Sequence[int], flag: str | None) -> None:
        if self._store is None or not indices or getattr(self._store, "readonly", False):
            return
        try:
            self._store.set_image_flag(list(indices), flag)
        except Exception as exc:  # a locked or read-only file: tell the user in place
            self._say(f"<span style='color:#c0392b'>Could not save the flags: {_escape(str(exc))}</span>")
            return
        verb = f"flagged '{flag}'" if flag else "unflagged"
        self._say(f"{len(indices)} image(s) {verb} (no file was changed).")
        self.flagsChanged.emit([int(i) for i in indices])
        if self.tabs.currentIndex() == TAB_DUPLICATES:
            row = self.group_list.currentRow()
            self._update_groups()
            if 0 <= row < self.group_list.count():
                self.group_list.setCurrentRow(row)

    # -- outliers -----------------------------------------------------------------------------
    def _run_outliers(self) -> None:
        if not self._trained():
            return
        n = self.outlier_count.value()

        def work(store: SessionStore, f: es.SessionFeatures, control: RunControl) -> Generator[Any, None, Any]:
            return (yield from es.iter_session_outliers(store, f.epoch, n, control=control, features=f.features))

        def done(result: list[es.Outlier]) -> None:
            self._outliers = result
            self._say(f"The {len(result)} images farthest from every cluster of epoch {self._epoch}. "
                      "Double-click one for its neighbours.")
            self.outlier_list.set_images([(o.index, f"{o.rank}. {o.score:.3f}\ncluster {o.cluster}",
                                           f"{o.path}\noutlier score {o.score:.4f} (cluster {o.cluster})")
                                          for o in result])

        self._job("outliers", work, done)

    # -- map ----------------------------------------------------------------------------------
    def _run_map(self) -> None:
        def work(store: SessionStore, f: es.SessionFeatures, control: RunControl) -> Generator[Any, None, Any]:
            return (yield from es.iter_session_map(store, f.epoch, control=control, features=f.features))

        self._job("map", work, self._show_map)

    def _show_map(self, coords: np.ndarray) -> None:
        self._coords = coords
        ids, names = self._map_colours()
        self.map_view.set_points(coords, ids, names, captions=self._paths)
        self._say(f"2-D map of {len(coords):,} images (UMAP of the epoch-{self._epoch} features). "
                            "Hover for a preview; double-click a point for its neighbours.")

    def _map_colours(self) -> tuple[np.ndarray | None, list[str] | None]:
        if self._store is None:
            return None, None
        if self.colour_by.currentData() == "label":
            labels = self._store.labels()
            if labels is not None:
                return labels, self._store.label_names()
        if 1 <= self._epoch <= self._store.last_epoch():
            assign = self._store.assignments(self._epoch)
            names = self._store.cluster_user_data()
            k = int(assign.max()) + 1 if len(assign) else 0
            return assign, [names.get(c, {}).get("name") or f"cluster {c}" for c in range(k)]
        return None, None

    def _recolour_map(self) -> None:
        if self._coords is not None:
            self.map_view.set_colours(*self._map_colours())

    def _on_map_selection(self, indices: list[int]) -> None:
        n = len(indices)
        self.selection_label.setText(f"{n:,} selected" if n else "No selection")
        shown = indices[:MAX_SELECTION_THUMBS]
        self.selection_strip.set_images([(i, printable(self._paths[i].rsplit("/", 1)[-1]), printable(self._paths[i]))
                                         for i in shown])
        self._update_enabled()
        self.selectionChanged.emit(list(indices))

    # -- evaluation ---------------------------------------------------------------------------
    def set_eval_folder(self, folder: Path | None) -> None:
        """Evaluate on ``folder`` (class sub-folders), or on the session's own labelled images."""
        self._eval_folder = Path(folder) if folder is not None else None
        if self._store is None:
            self.eval_folder_label.setText("")
        elif self._eval_folder is not None:
            self.eval_folder_label.setText(f"Labelled folder: <b>{_escape(str(self._eval_folder))}</b> "
                                           "(kNN on a stratified 50/50 split)")
        elif self.labels_available:
            self.eval_folder_label.setText(f"The session's folder, labelled by its class sub-folders "
                                           f"(kNN leave-one-out): {_escape(str(self._store.folder))}")
        else:
            self.eval_folder_label.setText("The session's folder has no class sub-folders, so there are no labels: "
                                           "choose a folder with one sub-folder per class to evaluate on.")
        self._update_enabled()

    def _choose_eval_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with one sub-folder per class")
        if folder:
            self.set_eval_folder(Path(folder))

    def run_evaluation(self) -> None:
        """Compare the epoch's network with its random initialisation, in the background."""
        if not self._trained():
            return
        folder, epoch = self._eval_folder, self._epoch

        def work(store: SessionStore, f: Any, control: RunControl) -> Generator[Any, None, Any]:
            from dcgui.services.evaluate import iter_evaluate

            return (yield from iter_evaluate(store, folder, epoch, control=control))

        self.eval_notes.setText("Evaluating…")
        self._job("eval", work, self._show_report, need_features=False)

    def _show_report(self, report: EvalReport) -> None:
        self._report = report
        self._say(f"Evaluation of epoch {report.epoch} against its random initialisation done.")
        self.eval_table.setRowCount(len(report.rows))
        for r, row in enumerate(report.rows):
            for c, value in enumerate((row.model, f"{row.knn_acc:.3f}", f"{row.linear_acc:.3f}", f"{row.nmi:.3f}")):
                item = QTableWidgetItem(value)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.eval_table.setItem(r, c, item)
        self.eval_notes.setText(
            f"{report.n_images:,} labelled images in {report.n_classes} classes (chance {report.chance:.3f}), "
            f"{report.folder}.\n"
            f"kNN: k=20 nearest images by cosine similarity vote with weight exp(similarity/0.07), "
            f"{report.knn_protocol}. Linear probe: {report.linear_protocol}. "
            f"NMI: k-means with k={report.n_classes} on the features against the labels.\n"
            f"Computed in {report.seconds:.1f} s.")

    # =========================================================================================
    # helpers
    # =========================================================================================
    def _clear_views(self, keep_query: bool = False) -> None:
        self.similar_list.set_images([])
        if not keep_query:
            self.query_image.setPixmap(QPixmap())
        self.group_list.clear()
        self.group_members.set_images([])
        self.dup_count.setText("")
        self.outlier_list.set_images([])
        self.map_view.set_points(np.zeros((0, 2)))
        self.selection_strip.set_images([])
        self.selection_label.setText("No selection")
        self.eval_table.setRowCount(0)
        self.eval_notes.setText("")
        self._say("")

    def _update_enabled(self) -> None:
        has = self._store is not None
        trained = self._trained()
        writable = has and not getattr(self._store, "readonly", False)
        why = "" if writable else "The session is open read-only: flags cannot be saved."
        self.open_image_button.setEnabled(trained)
        grp = self.group_list.currentRow() if hasattr(self, "group_list") else -1
        for b in (self.keep_first_button, self.unflag_button):
            b.setEnabled(writable and 0 <= grp < len(self._groups))
            b.setToolTip(why or b.toolTip())
        self.keep_selected_button.setEnabled(writable and 0 <= grp < len(self._groups))
        self.flag_all_button.setEnabled(writable and bool(self._groups))
        self.exclude_button.setEnabled(writable)
        has_sel = bool(self.map_view.selected())
        for b in (self.keep_selection_button, self.exclude_selection_button):
            b.setEnabled(writable and has_sel)
        self.clear_selection_button.setEnabled(has_sel)
        self.eval_button.setEnabled(trained and (self._eval_folder is not None or getattr(self, "labels_available", False)))
        self.eval_choose_button.setEnabled(trained)
        self.eval_own_button.setEnabled(trained and self._eval_folder is not None)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
