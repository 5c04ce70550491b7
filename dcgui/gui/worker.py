"""Run an engine generator on a worker thread and re-emit its events as Qt signals.

The thread, the hand-over of each yielded value to the GUI thread and the bookkeeping of live
workers are superqt's ``GeneratorWorker`` (napari's thread worker). On top of it dcgui keeps its
own contract: ``_drive`` runs in the worker thread and turns the engine generator into
(kind, payload) pairs, and :class:`GeneratorWorker` (a QObject in the GUI thread) re-emits them as
its signals, so *all public signals are emitted in the GUI thread*: slots, plain functions and
lambdas connected to them run there, never in the worker thread (PySide6 calls plain callables in
the emitting thread).

Control goes through ``dcgui.core.control.RunControl``: ``stop()`` and ``pause()`` take effect at
the generator's next check (engine generators check between batches) or, for generators that do
not look at the control, at their next yield. ``PhaseProgress`` events are throttled to at most
``progress_hz`` per second; every other event is delivered, in order.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot
from PySide6.QtWidgets import QProgressDialog, QWidget
from superqt.utils import GeneratorWorker as _SuperqtGeneratorWorker

from dcgui.core.control import RunControl, StopRequested
from dcgui.core.errors import is_user_error, user_message
from dcgui.core.events import PhaseProgress

if TYPE_CHECKING:
    from dcgui.store import SessionStore

GeneratorFactory = Callable[[RunControl], Generator[Any, Any, Any]]
Slot_ = Callable[..., Any] | None  # a slot for one of GeneratorWorker's signals, or none

# Workers still running (stop_all_workers stops and waits for them at shutdown).
_ALIVE: set[GeneratorWorker] = set()
_POOL: QThreadPool | None = None
_NO_RESULT = object()  # _drive's return value when the run did not return (stopped or failed)


def _worker_pool() -> QThreadPool:
    """A pool without a small bound: a training run holds its thread for hours, and must never make
    image decoding (the global pool) or another worker wait for a thread."""
    global _POOL
    if _POOL is None:
        _POOL = QThreadPool()
        _POOL.setMaxThreadCount(64)
    return _POOL


@dataclass(frozen=True)
class WorkerError:
    """An exception raised by a worker's generator, as delivered to the GUI thread."""

    exception: BaseException
    message: str  # what to tell the user (the error itself for user-facing errors)
    details: str  # full traceback text, for the "details" part of the error dialog
    user_facing: bool  # dcgui.core.errors.USER_ERRORS: the message says what to fix

    @classmethod
    def from_exception(cls, exc: BaseException) -> WorkerError:
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        user = is_user_error(exc)
        message = user_message(exc) if user else f"{type(exc).__name__}: {str(exc) or type(exc).__name__}"
        return cls(exc, message, details, user)


def _drive(factory: GeneratorFactory, control: RunControl, progress_hz: float,
           close_on_stop: bool) -> Generator[tuple[str, object], None, object]:
    """Runs in the worker thread: drives ``factory(control)`` and yields what the GUI is told,
    as (kind, payload): ``event``, ``paused``, ``resumed``, ``stopped``, ``errored``; returns the
    generator's return value (``_NO_RESULT`` after a stop or an error)."""
    min_interval = 1.0 / progress_hz if progress_hz > 0 else 0.0
    last_progress = 0.0
    pending: PhaseProgress | None = None
    gen: Generator[Any, Any, Any] | None = None
    try:
        gen = factory(control)  # here, in the worker thread: what it opens belongs to this thread
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                if pending is not None:
                    yield "event", pending
                if control.stop_requested:
                    yield "stopped", None
                    return _NO_RESULT
                return stop.value
            if isinstance(event, PhaseProgress):
                now = time.monotonic()
                # Throttle, but never swallow the end of a phase.
                if now - last_progress >= min_interval or 0 < event.total <= event.done:
                    yield "event", event
                    last_progress, pending = now, None
                else:
                    pending = event
            else:
                if pending is not None:  # keep the order: the newest progress first
                    yield "event", pending
                    pending = None
                yield "event", event
            if control.paused and not control.stop_requested:
                yield "paused", None
                control.block_while_paused(0.1)
                if not control.stop_requested:
                    yield "resumed", None
            if control.stop_requested and close_on_stop:
                gen.close()
                yield "stopped", None
                return _NO_RESULT
    except StopRequested:
        yield "stopped", None
    except BaseException as exc:  # delivered to the GUI thread; nothing is lost in a console
        yield "errored", WorkerError.from_exception(exc)
    finally:
        if gen is not None:
            gen.close()  # runs the generator's finally blocks (closes its store) in this thread
    return _NO_RESULT


class _Job(_SuperqtGeneratorWorker):  # type: ignore[misc]
    """superqt's worker on dcgui's pool; ``done`` is set once its thread is through with it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(_drive, *args)
        self.done = threading.Event()

    def start(self) -> None:
        self._worker_set.add(self)
        self._finished.connect(self._set_discard)
        _worker_pool().start(self)

    def run(self) -> None:
        try:
            super().run()
        finally:
            self.done.set()


class GeneratorWorker(QObject):
    """Runs ``factory(control)`` (a generator) on a worker thread (superqt's ``GeneratorWorker``).

    ``factory`` is called *inside* the worker thread, so resources it opens (an SQLite
    connection) belong to that thread. Signals (all emitted in the GUI thread):

    * ``started()``; ``event(object)`` per yielded event (``PhaseProgress`` throttled);
    * ``paused()`` / ``resumed()`` when the run actually parks / continues;
    * exactly one of ``returned(object)`` (the generator's return value), ``stopped()`` (after
      ``stop()``, or ``StopRequested`` raised inside) or ``errored(WorkerError)``;
    * ``finished()`` last, always.

    ``close_on_stop=False`` is for generators that check the control themselves (the training
    engine): after ``stop()`` the worker keeps driving them until they end on their own, so an
    epoch being written is committed before the thread ends.
    """

    started = Signal()
    event = Signal(object)
    paused = Signal()
    resumed = Signal()
    stopped = Signal()
    returned = Signal(object)
    errored = Signal(object)
    finished = Signal()

    def __init__(self, factory: GeneratorFactory, *, name: str = "worker", progress_hz: float = 20.0,
                 close_on_stop: bool = True, parent: QObject | None = None,
                 event: Slot_ = None, returned: Slot_ = None, errored: Slot_ = None, stopped: Slot_ = None,
                 finished: Slot_ = None) -> None:
        """``event`` ... ``finished``: slots connected to the signals of those names (the usual
        wiring, given where the worker is made; more can be connected to the signals later)."""
        super().__init__(parent)
        self.name = name
        self.control = RunControl()
        self._job = _Job(factory, self.control, progress_hz, close_on_stop)
        self._job.started.connect(self._on_started)  # type: ignore[arg-type]
        self._job.yielded.connect(self._dispatch)
        self._job.returned.connect(self._on_returned)
        self._job.finished.connect(self._on_finished)  # type: ignore[arg-type]
        self._started = False
        self._running = False
        self._is_paused = False
        for signal, slot in ((self.event, event), (self.returned, returned), (self.errored, errored),
                             (self.stopped, stopped), (self.finished, finished)):
            if slot is not None:
                signal.connect(slot)

    # -- control (GUI thread) ----------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            raise RuntimeError(f"{self.name}: a worker can only be started once")
        self._started = True
        self._running = True
        _ALIVE.add(self)
        self._job.start()

    def pause(self) -> None:
        if self._running:
            self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def stop(self) -> None:
        """Ask the generator to stop at its next check; ``finished`` follows."""
        self.control.stop()

    @property
    def is_running(self) -> bool:
        """True from ``start()`` until ``finished`` was delivered."""
        return self._running

    @property
    def is_paused(self) -> bool:
        return self._is_paused

    @property
    def stop_requested(self) -> bool:
        return self.control.stop_requested

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the thread has ended (only for shutdown paths and tests)."""
        if not self._started:
            return True
        return self._job.done.wait(timeout_ms / 1000)

    # -- delivery (GUI thread) ---------------------------------------------------------------
    @Slot(object)
    def _dispatch(self, pair: tuple[str, object]) -> None:
        kind, payload = pair
        if kind == "event":
            self.event.emit(payload)
        elif kind == "paused":
            self._is_paused = True
            self.paused.emit()
        elif kind == "resumed":
            self._is_paused = False
            self.resumed.emit()
        elif kind == "stopped":
            self.stopped.emit()
        elif kind == "errored":
            self.errored.emit(payload)

    @Slot()
    def _on_started(self) -> None:
        self.started.emit()

    @Slot(object)
    def _on_returned(self, value: object) -> None:
        if value is not _NO_RESULT:
            self.returned.emit(value)

    @Slot()
    def _on_finished(self) -> None:
        self._running = False
        self._is_paused = False
        _ALIVE.discard(self)
        self.finished.emit()


def stop_all_workers(timeout_ms: int = 15_000) -> bool:
    """Ask every running worker to stop and wait for their threads (application shutdown).

    Returns False if some thread did not end within ``timeout_ms`` in total.
    """
    workers = list(_ALIVE)
    for w in workers:
        w.stop()
    deadline = time.monotonic() + timeout_ms / 1000
    ok = True
    for w in workers:
        left = max(0, int((deadline - time.monotonic()) * 1000))
        ok = w.wait(left) and ok
    return ok


def torch_threads_for_worker() -> int:
    """Intra-op threads for training next to a live GUI: leave one core to the GUI thread.

    torch releases the GIL inside its kernels but takes it between them; with every core busy the
    GUI thread also waits for a CPU, so one core stays free (METHOD: the UI answers within 50 ms).
    """
    cores = os.cpu_count() or 2
    env = os.environ.get("DCGUI_TORCH_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, cores - 1)


def training_job(session_path: Path, epochs: int | None = None, from_epoch: int | None = None) -> GeneratorFactory:
    """A factory for ``GeneratorWorker``: prepare the collection, then train ``session_path``.

    The worker opens its own ``SessionStore`` in its thread (SQLite connections are per thread)
    and closes it when the run ends, however it ends. ``training.iter_train`` runs
    ``training.iter_prepare`` first (scan + cache), then resumes from the last completed epoch;
    ``from_epoch`` first sets the later epochs aside (``training.rewind``) to continue from it.
    """

    def job(control: RunControl) -> Generator[Any, None, None]:
        from dcgui.services import training

        yield from training.iter_train_file(session_path, control, epochs, from_epoch,
                                            default_threads=torch_threads_for_worker())

    return job


def session_job(path: Path, run: Callable[[SessionStore, RunControl], Generator[Any, Any, Any]]) -> GeneratorFactory:
    """A factory for ``GeneratorWorker`` that opens the session file ``path`` in the worker thread
    (read-only: its own SQLite connection, closed when the run ends) and yields from
    ``run(store, control)``; the run's return value arrives as ``returned``."""

    def job(control: RunControl) -> Generator[Any, Any, Any]:
        from dcgui.services.session import open_session

        with open_session(path) as store:
            return (yield from run(store, control))

    return job


def worker_progress(worker: GeneratorWorker, parent: QWidget | None, text: str, title: str,
                    maximum: int = 0) -> QProgressDialog:
    """A progress dialog for ``worker``: shown after 0.4 s (short runs do not flash), its Stop button
    stops the worker, and it closes when the worker finishes. ``maximum`` 0: busy, no percentage."""
    progress = QProgressDialog(text, "Stop", 0, maximum, parent)
    progress.setWindowTitle(title)
    progress.setMinimumDuration(400)
    progress.setAutoClose(False)
    progress.setAutoReset(False)
    progress.canceled.connect(worker.stop)
    worker.finished.connect(progress.close)
    worker.finished.connect(progress.deleteLater)
    return progress


def call_job(func: Callable[[], Any]) -> GeneratorFactory:
    """Run a plain (non-generator) function in a worker; its result arrives as ``returned``."""

    def job(control: RunControl) -> Generator[Any, None, Any]:
        return func()
        yield  # pragma: no cover - makes this a generator

    return job

