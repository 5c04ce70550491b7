"""Background computations for the Explore tabs: one queue, one job at a time.

Every heavy step (features, faiss, UMAP, evaluation) is a generator of
``dcgui.services.explore`` / ``dcgui.services.evaluate`` run in a ``GeneratorWorker``; each job
opens its own read-only ``SessionStore`` in its thread. A change of session or epoch in the model
stops the running job and discards its result (a generation counter); a job submitted with
``per_epoch=False`` (near-duplicates: judged from pixels) outlives an epoch change, so following a
training live does not restart it at every epoch. Features of the shown epoch are computed once
and shared by every tab (they are also cached on disk).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, Signal

from dcgui.core.control import RunControl
from dcgui.core.events import Message, PhaseProgress
from dcgui.gui.session_model import SessionModel
from dcgui.gui.worker import GeneratorWorker, WorkerError
from dcgui.services import explore as es

if TYPE_CHECKING:
    from dcgui.store import SessionStore

Work = Callable[["SessionStore", Any, RunControl], Generator[Any, Any, Any]]


class JobOwner(Protocol):
    """The tab a job works for: it shows the job's messages and errors in its own status line."""

    def say(self, text: str, transient: bool = False) -> None: ...

    def show_error(self, err: WorkerError) -> None: ...

    def job_ended(self) -> None: ...


@dataclass(frozen=True)
class _Job:
    factory: Callable[[RunControl], Generator[Any, Any, Any]]
    deliver: Callable[[Any], None]
    failed: Callable[[WorkerError], None]
    owner: JobOwner
    per_epoch: bool = True


# What each kind of job is, as a waiting tab names it.
JOB_NAMES = {"duplicates": "the duplicate search", "eval": "the evaluation", "map": "the map",
             "outliers": "the outlier scores", "similar": "the similar images"}


class ExploreJobs(QObject):
    """``busyChanged(bool)``; ``progress(PhaseProgress)`` for the shared progress bar."""

    busyChanged = Signal(bool)
    progress = Signal(object)

    def __init__(self, model: SessionModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.features: es.SessionFeatures | None = None
        self._generation = 0  # session or epoch changes
        self._session_generation = 0  # session changes only
        self._worker: GeneratorWorker | None = None
        self._owner: JobOwner | None = None
        self._running: tuple[str, bool] | None = None  # (kind, per_epoch) of the running job
        self._queue: OrderedDict[str, _Job] = OrderedDict()
        # Connected before any tab: a tab reacting to the same signal finds the old work gone.
        model.sessionChanged.connect(self.cancel)
        model.epochChanged.connect(lambda _e: self.cancel_epoch())

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Block until no job runs (tests and shutdown only)."""
        return self._worker.wait(timeout_ms) if self._worker is not None else True

    def cancel(self) -> None:
        """Forget the session's results: stop the running job, drop the queued ones."""
        self._generation += 1
        self._session_generation += 1
        self.features = None
        self._queue.clear()
        if self._worker is not None:
            self._worker.stop()

    def cancel_epoch(self) -> None:
        """Forget the epoch's results: stop and drop the jobs that depend on the epoch; a job that
        does not (``per_epoch=False``) runs on and delivers."""
        self._generation += 1
        self.features = None
        for kind in [k for k, job in self._queue.items() if job.per_epoch]:
            del self._queue[kind]
        if self._worker is not None and (self._running is None or self._running[1]):
            self._worker.stop()

    def pending(self, kind: str) -> bool:
        """Whether a job of ``kind`` is queued or running."""
        return kind in self._queue or (self._running is not None and self._running[0] == kind)

    def stop(self) -> None:
        """The user's Stop: end the running job and forget the queued ones."""
        self._queue.clear()
        if self._worker is not None:
            self._worker.stop()
            if self._owner is not None:
                self._owner.say("Stopping…", transient=True)

    def submit(self, kind: str, owner: JobOwner, work: Work, on_result: Callable[[Any], None],
               need_features: bool = True, per_epoch: bool = True) -> None:
        """Queue ``work`` for the model's session and epoch (one job per kind; the newest wins).
        ``per_epoch=False``: the result does not depend on the epoch (an epoch change keeps it)."""
        store = self.model.store
        if store is None:
            return
        path, epoch, feats = store.path, self.model.epoch, self.features

        def current() -> int:
            return self._generation if per_epoch else self._session_generation

        generation = current()

        def factory(control: RunControl) -> Generator[Any, None, Any]:
            from dcgui.services.session import open_session

            with open_session(path) as s:
                f = feats
                if f is None and need_features:
                    f = yield from es.iter_session_embedding(s, epoch, control=control)
                result = yield from work(s, f, control)
                return f, result

        def deliver(value: Any) -> None:
            if generation != current():
                return  # computed for another session or epoch
            f, result = value
            if f is not None and self.features is None and per_epoch:
                self.features = f
            try:
                on_result(result)
            except Exception as exc:  # shown in place: a broken view must not take the window down
                owner.show_error(WorkerError.from_exception(exc))

        def failed(err: WorkerError) -> None:
            if generation == current():
                owner.show_error(err)

        self._queue.pop(kind, None)
        self._queue[kind] = _Job(factory, deliver, failed, owner, per_epoch)
        if self._worker is None:
            self._start_next()
        elif self._running is not None and self._owner is not owner:
            # One job at a time: say why this tab stays empty (the map sat black behind a long
            # duplicate search with nothing saying so).
            running = JOB_NAMES.get(self._running[0], f"the {self._running[0]} job")
            owner.say(f"Waiting for {running} to finish (Stop, at the bottom right, ends it)…", transient=True)

    def _start_next(self) -> None:
        if not self._queue:
            self.busyChanged.emit(False)
            return
        kind, job = self._queue.popitem(last=False)
        owner = job.owner
        # No Qt parent: the worker module keeps it alive until its thread has ended.
        worker = GeneratorWorker(job.factory, name=f"explore-{kind}", progress_hz=10.0,
                                 event=lambda ev: self._on_event(owner, ev), returned=job.deliver, errored=job.failed,
                                 stopped=lambda: owner.say("Stopped."), finished=self._on_worker_finished)
        self._worker, self._owner, self._running = worker, owner, (kind, job.per_epoch)
        self.busyChanged.emit(True)
        owner.say("Working…", transient=True)
        worker.start()

    def _on_event(self, owner: JobOwner, ev: Any) -> None:
        if isinstance(ev, PhaseProgress):
            self.progress.emit(ev)
        elif isinstance(ev, Message):  # a warning (files changed on disk, ...) stays in view
            owner.say(ev.text, transient=ev.level != "warning")

    def _on_worker_finished(self) -> None:
        owner = self._owner
        self._worker, self._owner, self._running = None, None, None
        if owner is not None:
            owner.job_ended()
        self._start_next()
