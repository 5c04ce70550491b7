"""Start / pause / resume / stop training, with progress for the phase and the run.

The panel owns the training ``GeneratorWorker`` (``worker.training_job``: its own SessionStore in
its thread, ``training.iter_train``) and turns its events into two progress bars, images per
second, an ETA and a status line. Per-event work is a few label updates, so the GUI thread stays
free while torch trains. Every finished epoch is re-emitted as ``epochFinished`` for the views,
every error as ``errorOccurred`` for the window's error dialog.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QGridLayout,
    QInputDialog,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QToolButton,
    QWidget,
)
from superqt import QElidingLabel

from dcgui.core.config import FIELD_HELP
from dcgui.core.events import (
    PHASE_CACHE,
    PHASE_CLUSTERING,
    PHASE_FEATURES,
    PHASE_SCAN,
    PHASE_TRAINING,
    CollectionReady,
    EpochFinished,
    EpochMetrics,
    Finished,
    FirstLook,
    Message,
    PhaseProgress,
    Stopped,
    first_look_summary,
    phase_label,
    steering_summary,
)
from dcgui.core.train.estimate import PhaseTimes, RunEta
from dcgui.gui.actions import registry_for
from dcgui.gui.layout import Space, hbox, spin_box
from dcgui.gui.session_model import IDLE, PAUSED, RUNNING, STOPPING, SessionModel
from dcgui.gui.worker import GeneratorWorker, WorkerError, training_job
from dcgui.services.training import SessionBusyError

# Share of an epoch's time per phase until a finished epoch gives real numbers.
_DEFAULT_WEIGHTS = {PHASE_FEATURES: 0.25, PHASE_CLUSTERING: 0.1, PHASE_TRAINING: 0.65}
_EPOCH_PHASES = (PHASE_FEATURES, PHASE_CLUSTERING, PHASE_TRAINING)


START_LABELS = ("Start training", "Resume training", "Resume")  # the first button's labels


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m:02d} min"
    if m:
        return f"{m} min {s:02d} s"
    return f"{s} s"


class TrainingPanel(QWidget):
    """Signals: ``stateChanged(str)`` (idle/running/paused/stopping), ``epochFinished(object)``,
    ``collectionReady(object)``, ``runEnded(str)`` ("finished", "stopped" or "error"),
    ``errorOccurred(object)`` (a ``WorkerError``), ``message(str)``."""

    stateChanged = Signal(str)
    epochFinished = Signal(object)
    collectionReady = Signal(object)
    runEnded = Signal(str)
    errorOccurred = Signal(object)
    message = Signal(str)

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self._worker: GeneratorWorker | None = None
        self._state = IDLE
        self._last_epoch = 0
        self._target = 0
        self._weights = dict(_DEFAULT_WEIGHTS)
        self._phase_frac = {p: 0.0 for p in _EPOCH_PHASES}
        self._current_epoch = 0
        self._eta: RunEta | None = None  # from the first epoch of a run on (CollectionReady)
        self.expected: PhaseTimes | None = None  # an epoch as measured before the run (the window sets it)
        self._end_reason = ""
        self._status_epoch = 0  # the epoch the status line last announced
        self._syncing_spin = False
        self._run_frac = 0.0  # share of the current epoch done (for the run bar after a new target)
        self._last_progress: PhaseProgress | None = None  # re-told when the target changes
        self._live_status: Callable[[], str] | None = None

        reg = registry_for(model)  # gui/actions.py defines the commands, their keys and when they are enabled
        self.start_action = reg.bind("train.start", self.start_or_resume, self)
        self.pause_action = reg.bind("train.pause", self.pause, self)
        self.stop_action = reg.bind("train.stop", self.stop, self)
        self.rewind_action = reg.bind("train.rewind", self.ask_resume_from)

        def tool(action: QAction) -> QToolButton:
            b = QToolButton()
            b.setDefaultAction(action)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            b.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
            return b

        self.start_button = tool(self.start_action)
        self._fix_start_width()
        self.pause_button = tool(self.pause_action)
        self.stop_button = tool(self.stop_action)

        self.epochs_spin = spin_box(1, 100_000, prefix="until epoch ")
        self.epochs_spin.setToolTip("Train until this many epochs are done in total. Can be changed while "
                                    "training runs or is paused: the run then ends at the new target.")
        self.epochs_spin.valueChanged.connect(self._on_target_edited)

        # One line, "…" where a narrow window cuts it (the tooltip holds the whole sentence).
        self.status_label = QElidingLabel("No session open.")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.speed_label = QLabel("")
        self.eta_label = QLabel("")
        for label in (self.speed_label, self.eta_label):
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        self.phase_label = QLabel("Phase")
        self.phase_bar = QProgressBar()
        self.phase_bar.setFormat("%p%")
        self.epoch_label = QLabel("Run")
        self.epoch_bar = QProgressBar()
        self.epoch_bar.setRange(0, 1000)
        self.epoch_bar.setFormat("")
        for bar in (self.phase_bar, self.epoch_bar):
            bar.setMaximumHeight(18)

        top = hbox(self.start_button, self.pause_button, self.stop_button, self.epochs_spin, Space(8),
                   (self.status_label, 1), self.speed_label, Space(8), self.eta_label)
        bars = QGridLayout()
        bars.addWidget(self.phase_label, 0, 0)
        bars.addWidget(self.phase_bar, 0, 1)
        bars.addWidget(self.epoch_label, 1, 0)
        bars.addWidget(self.epoch_bar, 1, 1)
        # What the last epoch's clustering respected of the person's corrections (issue 24)
        self.steering_label = QLabel("")
        self.steering_label.setObjectName("steeringLabel")
        self.steering_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.steering_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bars.addWidget(self.steering_label, 2, 0, 1, 2)
        bars.setColumnStretch(1, 1)
        bars.setColumnMinimumWidth(0, 260)
        layout = QGridLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(top, 0, 0)
        layout.addLayout(bars, 1, 0)
        self._reset_progress()
        self._update_actions()
        model.sessionChanged.connect(self._on_session)
        model.epochsChanged.connect(self.sync_epochs)
        self.stateChanged.connect(model.set_training_state)

    # ---------------------------------------------------------------------------------------
    # session
    # ---------------------------------------------------------------------------------------
    def _on_session(self) -> None:
        """Show the model's session (the GUI thread's connection); training opens its own
        connection to the session's path."""
        if self.is_busy:
            raise RuntimeError("stop training before switching sessions")
        store = self.model.store
        self._weights = dict(_DEFAULT_WEIGHTS)
        self.expected = None  # another session's measurement says nothing about this one
        if store is not None:
            self._last_epoch = store.last_epoch()
            # The recorded target is a total ("until epoch"): reached already, the box offers one
            # more epoch (adding the target again doubled it on every reopen: 6 -> 12).
            self._target = max(store.config.epochs, self._last_epoch + 1)
            # The range first: the previous session's minimum would clamp this session's target.
            self._set_spin(self._target, minimum=max(1, self._last_epoch + 1))
            epochs = store.epochs()
            if epochs:
                self._learn_weights(epochs[-1])
            self._show_steering(epochs[-1] if epochs else None)
        else:
            self._last_epoch = self._target = 0
            self._show_steering(None)
        self._reset_progress()
        self._set_status(self._idle_text())
        self._update_actions()

    def _show_steering(self, m: EpochMetrics | None) -> None:
        """The steering line: what epoch ``m`` excluded and which constraints it applied."""
        store = self.model.store
        if store is None:
            self.steering_label.setText("")
            return
        try:
            on = store.config.steer
        except Exception:  # a config this dcgui cannot read: the line is only informative
            on = True
        if not on:
            text = "Steering is off: exclusions, merges and splits do not change the training (Settings)."
        elif m is None:
            text = "Steering on: images you exclude, clusters you merge or split steer the next epochs."
        elif m.excluded or m.constraints:
            text = f"Epoch {m.epoch} steering: {steering_summary(m)}."
        else:
            text = f"Epoch {m.epoch} steering: no exclusions, merges or splits to respect yet."
        self.steering_label.setText(text)
        self.steering_label.setToolTip(FIELD_HELP["steer"])

    def sync_epochs(self, last_epoch: int) -> None:
        """The store now holds ``last_epoch`` epochs (from our run or another process)."""
        store = self.model.store
        if last_epoch != self._last_epoch and store is not None:
            epochs = store.epochs()
            self._show_steering(epochs[-1] if epochs else None)
        self._last_epoch = last_epoch
        if self._state == IDLE:
            if self.epochs_spin.value() <= last_epoch and store is not None:
                self._set_spin(max(store.config.epochs, last_epoch + 1), minimum=last_epoch + 1)
            self._set_status(self._idle_text())
            self._show_run_progress(0.0)
        self._update_actions()

    def _idle_text(self) -> str:
        store = self.model.store
        if store is None:
            return "No session open."
        n = self._last_epoch
        target = store.config.epochs
        if self.model.readonly:
            return f"{n} epoch{'s' if n != 1 else ''} trained. Opened read-only: training is off."
        if n == 0:
            return "Not trained yet. Press Start training (Ctrl+Enter)."
        if n < target:
            return f"{n} of {target} epochs trained. Resume training to continue from epoch {n + 1}."
        until = self.epochs_spin.value()
        if until > n:  # the box already offers more (one more epoch after a finished run)
            return f"{n} epochs trained. Resume training to go on until epoch {until}, or raise “until epoch” first."
        return f"{n} epochs trained. Raise “until epoch” and resume to train more."

    # ---------------------------------------------------------------------------------------
    # control
    # ---------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def is_busy(self) -> bool:
        """A training worker exists and has not finished (running, paused or stopping)."""
        return self._worker is not None and self._worker.is_running

    @property
    def worker(self) -> GeneratorWorker | None:
        return self._worker

    def start_or_resume(self) -> None:
        if self._state == PAUSED:
            self.resume()
        elif self._state == IDLE:
            self.start()

    def start(self, epochs: int | None = None, from_epoch: int | None = None) -> bool:
        """Start (or continue) training up to ``epochs`` in total (default: the spin box);
        ``from_epoch``: continue from that earlier epoch instead of the last one."""
        if self.is_busy or self.model.path is None or self.model.readonly:
            return False
        target = int(epochs if epochs is not None else self.epochs_spin.value())
        start_from = self._last_epoch if from_epoch is None else from_epoch
        if target <= start_from:
            target = start_from + 1
        if from_epoch is not None:
            self._last_epoch = from_epoch
        self._target = target
        self._set_spin(target, minimum=start_from + 1)
        worker = GeneratorWorker(training_job(self.model.path, target, from_epoch), name="training", close_on_stop=False,
                                 event=self._on_event, stopped=self._on_stopped, returned=self._on_returned,
                                 errored=self._on_errored, finished=self._on_finished)
        worker.paused.connect(lambda: self._set_state(PAUSED))
        worker.resumed.connect(lambda: self._set_state(RUNNING))
        self._worker = worker
        self._end_reason = ""
        self._eta = None
        self._status_epoch = 0
        self._reset_progress()
        self._set_status("Preparing: scanning the folder and decoding new images…")
        self._set_state(RUNNING)
        worker.start()
        return True

    def set_target(self, epochs: int) -> None:
        """Train until ``epochs`` in total; while training runs or is paused, the run ends there
        (never before the epoch in progress). The session's setting is updated too."""
        self.epochs_spin.setValue(int(epochs))

    @property
    def target(self) -> int:
        return self._target

    def _on_target_edited(self, value: int) -> None:
        if self._syncing_spin:
            return
        if self.is_busy and self._state in (RUNNING, PAUSED) and self._worker is not None:
            value = max(int(value), self._last_epoch + 1)
            self._target = value
            self._worker.control.set_until(value)  # the engine reads it between epochs
            self.model.set_target_epochs(value)
            self._show_run_progress(self._run_frac)
            self._retell_target()
            self.message.emit(f"Training now ends after epoch {value}.")
        self._update_actions()

    def _set_spin(self, value: int, minimum: int) -> None:
        self._syncing_spin = True
        try:
            self.epochs_spin.setMinimum(max(1, minimum))
            self.epochs_spin.setValue(value)
        finally:
            self._syncing_spin = False

    def ask_resume_from(self) -> bool:
        """Ask for an earlier epoch and continue training from it (the later epochs are archived)."""
        if self.is_busy or self.model.path is None or self.model.readonly or self._last_epoch < 1:
            return False
        last = self._last_epoch
        epoch, ok = QInputDialog.getInt(
            self, "Resume from an earlier epoch",
            f"Continue training from epoch (0-{last - 1}; 0 = the random initialisation), up to epoch {last} "
            f"again.\nThe epochs after it are set aside, whole, in an archive session in "
            f"{self.model.path.name}.d/archive/, which dcgui can open.",
            last - 1, 0, last - 1)
        if not ok:
            return False
        return self.start(last, from_epoch=epoch)  # the set-aside epochs are trained again

    def pause(self) -> None:
        if self._worker is not None and self._state == RUNNING:
            self._worker.pause()
            self._set_status("Pausing after the current batch…")

    def resume(self) -> None:
        if self._worker is not None and self._state == PAUSED:
            self._worker.resume()

    def stop(self) -> None:
        """Stop at the next batch; the last finished epoch stays saved (``runEnded`` follows)."""
        if self._worker is not None and self._worker.is_running and self._state != STOPPING:
            self._worker.stop()
            self._set_state(STOPPING)
            self._set_status("Stopping after the current batch… finished epochs are saved.")

    def wait(self, timeout_ms: int = 60_000) -> bool:
        return self._worker.wait(timeout_ms) if self._worker is not None else True

    # ---------------------------------------------------------------------------------------
    # events (GUI thread, keep them cheap)
    # ---------------------------------------------------------------------------------------
    def _on_event(self, ev: object) -> None:
        if isinstance(ev, PhaseProgress):
            self._on_progress(ev)
        elif isinstance(ev, EpochFinished):
            m = ev.metrics
            self._last_epoch = m.epoch
            self._learn_weights(m)
            self._phase_frac = {p: 0.0 for p in _EPOCH_PHASES}
            self._run_frac = 0.0
            nmi = f", NMI(t−1, t) {m.nmi_prev:.3f}" if m.nmi_prev is not None else ""
            if self._eta is not None:
                self._eta.epoch_finished(PhaseTimes(m.seconds_features, m.seconds_clustering, m.seconds_training))
            self._set_live_status(lambda: f"Epoch {m.epoch} of {self._target} done in {format_duration(m.seconds)}"
                                          f" (loss {m.loss:.3f}{nmi}).")
            self._show_steering(m)
            self._show_run_progress(0.0)
            # The worker committed the epoch before yielding it: the model reads it now rather
            # than at the window's next poll.
            self.model.refresh()
            self.epochFinished.emit(ev)
        elif isinstance(ev, FirstLook):
            self._set_status(first_look_summary(ev))
            self.model.set_first_look(ev)
        elif isinstance(ev, CollectionReady):
            skipped = f", {len(ev.skipped):,} skipped" if ev.skipped else ""
            self._set_status(f"{ev.n_images:,} images ready{skipped}. Starting epoch {self._last_epoch + 1}…")
            self.model.collection_ready()
            # The ETA starts with the epochs (scanning and decoding have their own progress):
            # the session's recorded epochs are the best expectation, else the measured estimate.
            prior = PhaseTimes.from_epochs(self.model.store.epochs()) if self.model.store is not None else None
            self._eta = RunEta(self._target, self._last_epoch, prior or self.expected)
            self.collectionReady.emit(ev)
        elif isinstance(ev, Message):
            self._set_status(ev.text)
            self.message.emit(ev.text)
        elif isinstance(ev, Stopped | Finished):
            self._last_epoch = ev.last_completed_epoch

    def _on_progress(self, ev: PhaseProgress) -> None:
        phase = ev.phase
        self.phase_bar.setFormat("%p%")
        if ev.total > 0:
            self.phase_bar.setRange(0, ev.total)
            self.phase_bar.setValue(min(ev.done, ev.total))
        else:
            self.phase_bar.setRange(0, 0)  # busy indicator: total unknown (scanning)
        self.phase_label.setToolTip(self._samples_tip(ev.total) if phase == PHASE_TRAINING else "")
        self._last_progress = ev
        self.phase_label.setText(self._phase_text(ev))
        if ev.images_per_second > 0:
            self.speed_label.setText(f"{ev.images_per_second:,.0f} images/s")
        if phase in _EPOCH_PHASES:
            self._current_epoch = ev.epoch
            self._phase_frac[phase] = ev.done / ev.total if ev.total else 0.0
            if self._eta is not None:
                self._eta.progress(phase, self._phase_frac[phase])
            order = _EPOCH_PHASES.index(phase)
            for p in _EPOCH_PHASES[:order]:  # earlier phases of this epoch are complete
                self._phase_frac[p] = 1.0
            frac = sum(self._weights[p] * self._phase_frac[p] for p in _EPOCH_PHASES)
            self._run_frac = frac
            self._show_run_progress(frac)
            if self._state == RUNNING and ev.epoch != self._status_epoch:
                self._status_epoch = ev.epoch
                epoch = ev.epoch
                self._set_live_status(lambda: self._training_text(epoch))

    def _phase_text(self, ev: PhaseProgress) -> str:
        phase = ev.phase
        # The training pass draws *samples* (an image can be drawn several times per epoch).
        unit = {PHASE_CLUSTERING: "iterations", PHASE_TRAINING: "samples"}.get(phase, "images")
        if phase == PHASE_SCAN:
            return f"{phase_label(phase).text}: {ev.done:,} images found"
        if phase == PHASE_CACHE:
            return f"{phase_label(phase).text}: {ev.done:,} / {ev.total:,}"
        text = f"Epoch {ev.epoch}/{self._target} · {phase_label(phase).text}"
        if phase != PHASE_CLUSTERING:
            text += f": {ev.done:,} / {ev.total:,} {unit}"
        return text

    def _training_text(self, epoch: int) -> str:
        return f"Training epoch {epoch} of {self._target}. Pause or stop at any time; finished epochs are saved."

    def _retell_target(self) -> None:
        """A new target while running or paused: every text naming it says the new one (the
        phase label, and the status line while it tells the epoch in progress)."""
        ev = self._last_progress
        if ev is not None and ev.phase in _EPOCH_PHASES:
            self.phase_label.setText(self._phase_text(ev))
        if self._live_status is not None:
            self.status_label.setText(text := self._live_status())
            self.status_label.setToolTip(text)

    def _fix_start_width(self) -> None:
        """The first button keeps the width of its longest label (Start training / Resume
        training / Resume), so the target box beside it does not move when the label changes."""
        text = self.start_action.text()
        widths = []
        for label in START_LABELS:
            self.start_action.setText(label)
            widths.append(self.start_button.sizeHint().width())
        self.start_action.setText(text)
        self.start_button.setFixedWidth(max(widths))

    def _show_run_progress(self, frac: float) -> None:
        done_units = self._last_epoch + min(max(frac, 0.0), 1.0)
        target = max(self._target, 1)
        self.epoch_bar.setValue(int(1000 * min(done_units / target, 1.0)))
        self.epoch_bar.setFormat(f"{self._last_epoch} / {self._target} epochs")
        self.epoch_label.setText(f"Run: epoch {min(self._last_epoch + 1, self._target)} of {self._target}"
                                 if self._state in (RUNNING, PAUSED) else "Run")
        if self._state != RUNNING or self._eta is None:
            return
        self._eta.target = self._target
        eta = self._eta.remaining()
        # Nothing rather than a guess before one epoch's passes are known (no measured estimate).
        self.eta_label.setText(f"ETA {format_duration(eta)}" if eta is not None else "")

    def _samples_tip(self, total: int) -> str:
        n = self.model.store.n_images if self.model.store is not None else 0
        if not n or not total:
            return ""
        per = total / n
        return (f"This epoch trains on {total:,} samples drawn from the {n:,} images, evenly over the clusters "
                f"(about {per:.1f} per image): on a small collection one pass is too few steps for the new top "
                "layer to learn (docs/METHOD.md, step 5). Setting: samples per epoch.")

    def _learn_weights(self, m: object) -> None:
        secs = {PHASE_FEATURES: getattr(m, "seconds_features", 0.0),
                PHASE_CLUSTERING: getattr(m, "seconds_clustering", 0.0),
                PHASE_TRAINING: getattr(m, "seconds_training", 0.0)}
        total = sum(secs.values())
        if total > 0:
            self._weights = {p: s / total for p, s in secs.items()}

    def _on_stopped(self) -> None:
        self._end_reason = "stopped"
        self._set_status(f"Stopped. Epoch {self._last_epoch} is saved; resume training to continue.")

    def _on_returned(self, _value: object) -> None:
        self._end_reason = "finished"
        self._set_status(f"Finished: {self._last_epoch} epochs trained.")

    def _on_errored(self, err: WorkerError) -> None:
        self._end_reason = "error"
        first = err.message.splitlines()[0] if err.message else "error"
        if isinstance(err.exception, SessionBusyError):  # nothing ran: another process trains it
            self._set_status(f"Training did not start: {first}")
        else:
            self._set_status(f"Training stopped with an error: {first}")
        self.errorOccurred.emit(err)

    def _on_finished(self) -> None:
        reason = self._end_reason or "finished"
        self._set_state(IDLE)
        self._clear_bars()
        # A first look promises that training follows: a run that ended before epoch 1 takes it back.
        self.model.set_first_look(None)
        self.runEnded.emit(reason)

    # ---------------------------------------------------------------------------------------
    # display
    # ---------------------------------------------------------------------------------------
    def _reset_progress(self) -> None:
        self._last_progress = None
        self._phase_frac = {p: 0.0 for p in _EPOCH_PHASES}
        self._clear_bars()

    def _clear_bars(self) -> None:
        """Empty phase and run bars, no speed, no ETA: nothing is running."""
        self.phase_bar.setRange(0, 1)
        self.phase_bar.setValue(0)
        self.phase_bar.setFormat("")
        self.phase_label.setText("Phase")
        self.speed_label.setText("")
        self.eta_label.setText("")
        self._show_run_progress(0.0)

    def _set_live_status(self, make: Callable[[], str]) -> None:
        """A status that names the target: made again when the target changes."""
        self._set_status(make())
        self._live_status = make

    def _set_status(self, text: str) -> None:
        self._live_status = None
        self.status_label.setText(text)
        self.status_label.setToolTip(text)

    def _set_state(self, state: str) -> None:
        if state == self._state:
            return
        if state == PAUSED:
            self._set_status("Paused. Resume (Ctrl+Enter) continues from the same batch.")
            self.eta_label.setText("")
            if self._eta is not None:
                self._eta.pause()
        elif state == RUNNING and self._state == PAUSED:
            self._set_status("Resuming…")
            self._status_epoch = 0  # the next progress event announces the epoch again
            if self._eta is not None:
                self._eta.resume()
        self._state = state
        self._update_actions()
        self.stateChanged.emit(state)

    def _update_actions(self) -> None:
        has_session = self.model.path is not None and self.model.store is not None and not self.model.readonly
        s = self._state
        registry_for(self.model).publish(train_ready=has_session, train_state=s, train_last_epoch=self._last_epoch)
        # Editable while training too: the run can end earlier or later without stopping it.
        self.epochs_spin.setEnabled(has_session and s != STOPPING)
        self._syncing_spin = True
        try:
            self.epochs_spin.setMinimum(max(1, self._last_epoch + 1))
        finally:
            self._syncing_spin = False
