"""The session page: training controls, the shared epoch bar, and the Clusters / Plots / Explore /
Skipped files tabs. Every part is a view of one :class:`SessionModel`; this module only builds
them and lays them out (see docs/ARCHITECTURE.md, "How the window is wired")."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHeaderView,
    QLabel,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QTableWidgetItem,
    QTabWidget,
    QWidget,
)

from dcgui.core.pathtext import printable
from dcgui.gui.cluster_browser import ClusterBrowser
from dcgui.gui.explore import ExplorePanel
from dcgui.gui.first_look import FirstLookView
from dcgui.gui.layout import Space, hbox, quietly, read_only_table, vbox, wrapped_label
from dcgui.gui.plots import PlotsPanel
from dcgui.gui.session_images import SessionImages
from dcgui.gui.session_model import SessionModel
from dcgui.gui.training_panel import TrainingPanel

TAB_CLUSTERS, TAB_PLOTS, TAB_EXPLORE, TAB_SKIPPED = range(4)


class EpochBar(QWidget):
    """The epoch shown in every tab (slider + spin box), "of N", and Follow live."""

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setPageStep(1)
        self.slider.setToolTip("Epoch shown in every tab")
        self.spin = QSpinBox()
        self.spin.setKeyboardTracking(False)
        self.of_label = QLabel("of 0")
        self.follow_check = QCheckBox("Follow live")
        self.follow_check.setToolTip("Show each new epoch as soon as it is saved (F5 toggles)")
        self.session_label = QLabel()
        self.session_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        hbox(QLabel("Epoch"), (self.slider, 2), self.spin, self.of_label, self.follow_check, Space(16),
             (self.session_label, 3), parent=self, margins=(8, 0, 8, 0))
        # A user's move goes to the model; the model's answer comes back through the slots below.
        self.slider.valueChanged.connect(self._user_epoch)
        self.spin.valueChanged.connect(self._user_epoch)
        self.follow_check.toggled.connect(model.set_follow_live)
        model.sessionChanged.connect(self._on_session)
        model.collectionChanged.connect(self._on_session)
        model.epochsChanged.connect(self._on_epochs)
        model.epochChanged.connect(self._on_epoch)
        model.followChanged.connect(self._on_follow)
        self._on_session()
        self._on_epochs(model.last_epoch)
        self._on_epoch(model.epoch)
        self._on_follow(model.follow_live)

    def _user_epoch(self, value: int) -> None:
        if value >= 1 and value != self.model.epoch:
            self.model.set_epoch(value)
            self._on_epoch(self.model.epoch)  # a refused value snaps back

    def _on_epochs(self, last: int) -> None:
        with quietly(self.slider, self.spin):
            for w in (self.slider, self.spin):
                w.setRange(1 if last else 0, last)
                w.setEnabled(last > 1)
        self.of_label.setText(f"of {last}")

    def _on_epoch(self, epoch: int) -> None:
        with quietly(self.slider, self.spin):
            self.slider.setValue(epoch)
            self.spin.setValue(epoch)

    def _on_follow(self, on: bool) -> None:
        with quietly(self.follow_check):
            self.follow_check.setChecked(on)

    def _on_session(self) -> None:
        s = self.model.store
        if s is None:
            self.session_label.setText("")
            self.session_label.setToolTip("")
            return
        cfg = s.config
        n = self.model.n_images
        images = f"{n:,} images" if n else "images not scanned yet"
        self.session_label.setText(f"{images} · {cfg.arch}, {cfg.image_size} px, k = {cfg.k} · {s.folder}")
        self.session_label.setToolTip(f"Session: {s.path}\nImages: {s.folder}\n{cfg.to_json()}")


class SkippedFilesView(QWidget):
    """Files of the folder that are not part of the session, and why. ``countChanged(int)``."""

    countChanged = Signal(int)

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.table = read_only_table(["File", "Reason"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setAlternatingRowColors(True)
        self.label = wrapped_label()
        vbox(self.label, (self.table, 1), parent=self)
        model.sessionChanged.connect(self._reload)
        model.collectionChanged.connect(self._reload)

    def _reload(self) -> None:
        s = self.model.store
        skipped = s.skipped() if s is not None else []
        self.table.setRowCount(len(skipped))
        for row, (path, reason) in enumerate(skipped):
            self.table.setItem(row, 0, QTableWidgetItem(printable(path)))  # caf\xe9.jpg, not caf.jpg
            self.table.setItem(row, 1, QTableWidgetItem(reason))
        n = len(skipped)
        self.label.setText(
            "No file was skipped: every image in the folder is part of the session." if n == 0 else
            f"{n:,} file{'s were' if n != 1 else ' was'} skipped and {'are' if n != 1 else 'is'} not part of "
            "the session. Fix or remove them and start a new session to include them."
        )
        self.countChanged.emit(n)


class SessionView(QWidget):
    """Training panel on top; the epoch bar shared by the tabs; Clusters / Plots / Explore /
    Skipped files. Builds every view on the same model and the same thumbnails."""

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.images = SessionImages(model, self)
        self.training = TrainingPanel(model)
        self.epoch_bar = EpochBar(model)
        self.clusters = ClusterBrowser(model, self.images)
        self.first_look = FirstLookView(model)
        # The Clusters tab shows the first look while a new session's images decode, the cluster
        # browser otherwise (epoch 1 clears the model's first look).
        self.clusters_stack = QStackedWidget()
        self.clusters_stack.addWidget(self.clusters)
        self.clusters_stack.addWidget(self.first_look)
        model.firstLookChanged.connect(
            lambda look: self.clusters_stack.setCurrentWidget(self.clusters if look is None else self.first_look))
        self.plots = PlotsPanel(model)
        self.explore = ExplorePanel(model, self.images.thumbnails)
        self.skipped = SkippedFilesView(model)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.clusters_stack, "Clusters")
        self.tabs.addTab(self.plots, "Plots")
        self.tabs.addTab(self.explore, "Explore")
        self.tabs.addTab(self.skipped, "Skipped files")
        # a click on a river band shows its images in the Clusters grid (the shared selection)
        self.plots.river.showImagesRequested.connect(lambda: self.tabs.setCurrentIndex(TAB_CLUSTERS))
        self.skipped.countChanged.connect(
            lambda n: self.tabs.setTabText(TAB_SKIPPED, f"Skipped files ({n:,})" if n else "Skipped files"))
        # Navigation between tabs is layout, so it lives here, not in the views.
        model.similarRequested.connect(lambda _i: self.tabs.setCurrentIndex(TAB_EXPLORE))
        self.explore.showInGridRequested.connect(lambda: self.tabs.setCurrentIndex(TAB_CLUSTERS))

        vbox(self.training, self.epoch_bar, (self.tabs, 1), parent=self, margins=0, spacing=4)

    # Shortcuts used by the window's menus and by tests.
    @property
    def epoch_spin(self) -> QSpinBox:
        return self.epoch_bar.spin

    @property
    def follow_check(self) -> QCheckBox:
        return self.epoch_bar.follow_check
