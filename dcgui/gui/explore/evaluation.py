"""Explore › Evaluation: kNN, linear probe and NMI of the epoch's network against its random
initialisation, on the session's labelled images or another labelled folder."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QTableWidgetItem,
    QWidget,
)

from dcgui.core.control import RunControl
from dcgui.gui.explore.common import ExploreTab, escape
from dcgui.gui.explore.jobs import ExploreJobs
from dcgui.gui.files import ask_folder
from dcgui.gui.help import GLOSSARY, definitions_html
from dcgui.gui.layout import Stretch, button, hbox, read_only_table, vbox, wrapped_label
from dcgui.gui.session_model import SessionModel

if TYPE_CHECKING:
    from dcgui.core.analysis.evaluate import EvalReport
    from dcgui.store import SessionStore


class EvaluationTab(ExploreTab):
    def __init__(self, model: SessionModel, jobs: ExploreJobs, parent: QWidget | None = None) -> None:
        super().__init__(model, jobs, parent)
        self._folder: Path | None = None
        self._report: EvalReport | None = None
        self.labels_available = False
        self.folder_label = wrapped_label()
        self.choose_button = button("Labelled folder…", self._choose_folder,
                                    tip="Evaluate on another folder with one sub-folder per class")
        self.own_button = button("Use the session's folder", lambda: self.set_folder(None))
        self.eval_button = button("Evaluate", self.run, tip="kNN, linear probe and NMI of this epoch's network and "
                                  "of its random initialisation (takes two feature passes)")
        self.table = read_only_table(["Network", "kNN accuracy", "Linear probe", "NMI (k-means)"])
        for col, term in ((1, "kNN"), (2, "linear probe"), (3, "NMI")):
            head = self.table.horizontalHeaderItem(col)
            if head is not None:  # the glossary entry of each measure, on its column header
                head.setToolTip(f"{term}: {GLOSSARY[term]}")
                head.setWhatsThis(definitions_html([term]))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMaximumHeight(120)
        self.notes = wrapped_label()
        self.notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notes.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        top = hbox((self.folder_label, 1), self.choose_button, self.own_button, self.eval_button)
        vbox(top, self.table, self.notes, Stretch(1), parent=self)

    @property
    def report(self) -> EvalReport | None:
        return self._report

    def set_folder(self, folder: Path | None) -> None:
        """Evaluate on ``folder`` (class sub-folders), or on the session's own labelled images."""
        self._folder = Path(folder) if folder is not None else None
        store = self.model.store
        if store is None:
            self.folder_label.setText("")
        elif self._folder is not None:
            self.folder_label.setText(f"Labelled folder: <b>{escape(str(self._folder))}</b> "
                                      "(kNN on a stratified 50/50 split)")
        elif self.labels_available:
            self.folder_label.setText(f"The session's folder, labelled by its class sub-folders "
                                      f"(kNN leave-one-out): {escape(str(store.folder))}")
        else:
            self.folder_label.setText("The session's folder has no class sub-folders, so there are no labels: "
                                      "choose a folder with one sub-folder per class to evaluate on.")
        self.update_enabled()

    # -- ExploreTab -----------------------------------------------------------------------------
    def _on_session(self) -> None:
        store = self.model.store
        self.labels_available = store is not None and store.labels() is not None
        self._folder = None
        super()._on_session()
        self.set_folder(None)

    def reset(self) -> None:
        self._report = None
        self.table.setRowCount(0)
        self.notes.setText("")

    def refresh(self) -> None:
        """Evaluation runs only when asked (it takes two feature passes)."""
        if self.model.store is not None and self.isVisible() and not self.trained():
            self.say("Train at least one epoch: exploring uses the network trained on your images.")

    def update_enabled(self) -> None:
        trained = self.trained()
        self.eval_button.setEnabled(trained and (self._folder is not None or self.labels_available))
        self.choose_button.setEnabled(trained)
        self.own_button.setEnabled(trained and self._folder is not None)

    def run(self) -> None:
        """Compare the epoch's network with its random initialisation, in the background."""
        if not self.trained():
            return
        folder, epoch = self._folder, self.model.epoch

        def work(store: SessionStore, f: Any, control: RunControl) -> Generator[Any, None, Any]:
            from dcgui.services.evaluate import iter_evaluate

            return (yield from iter_evaluate(store, folder, epoch, control=control))

        self.notes.setText("Evaluating…")
        self.jobs.submit("eval", self, work, self._show_report, need_features=False)

    # -- internals ------------------------------------------------------------------------------
    def _choose_folder(self) -> None:
        if (folder := ask_folder(self, "Folder with one sub-folder per class")):
            self.set_folder(folder)

    def _show_report(self, report: EvalReport) -> None:
        self._report = report
        self.say(f"Evaluation of epoch {report.epoch} against its random initialisation done.")
        self.table.setRowCount(len(report.rows))
        for r, row in enumerate(report.rows):
            for c, value in enumerate((row.model, f"{row.knn_acc:.3f}", f"{row.linear_acc:.3f}", f"{row.nmi:.3f}")):
                item = QTableWidgetItem(value)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.notes.setText(
            f"{report.n_images:,} labelled images in {report.n_classes} classes (chance {report.chance:.3f}), "
            f"{report.folder}.\n"
            f"kNN: k=20 nearest images by cosine similarity vote with weight exp(similarity/0.07), "
            f"{report.knn_protocol}. Linear probe: {report.linear_protocol}. "
            f"NMI: k-means with k={report.n_classes} on the features against the labels.\n"
            f"Computed in {report.seconds:.1f} s.")
