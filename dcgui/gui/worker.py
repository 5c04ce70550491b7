"""Run an engine generator on a QThread and re-emit its events as Qt signals (superqt-style).

``GeneratorWorker`` lives in the GUI thread and owns a private ``_Runner`` that is moved to a
``QThread``. The runner drives the generator and hands every event to the worker through a
queued signal, so *all public signals are emitted in the GUI thread*: slots, plain functions and
lambdas connected to them run there, never in the worker thread (PySide6 calls plain callables in
the emitting thread).

Control goes through ``dcgui.core.control.RunControl``: ``stop()`` and ``pause()`` take effect at
the generator's next check (engine generators check between batches) or, for generators that do
not look at the control, at their next yield. ``PhaseProgress`` events are throttled to at most
``progress_hz`` per second; every other event is delivered, in order.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from dcgui.core.control import RunControl, StopRequested
from dcgui.core.errors import is_user_error, user_message
from dcgui.core.events import PhaseProgress

GeneratorFactory = Callable[[RunControl], Generator[Any, Any, Any]]

# Workers whose thread is still alive: keeps them (and their QThread) from being collected
# while running, which would crash with "QThread: Destroyed while thread is still running".
_ALIVE: set[GeneratorWorker] = set()


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


class _Runner(QObject):
    """Drives the generator inside the worker thread; talks to the GUI only through ``out``."""

    out = Signal(str, object)  # (kind, payload) -> GeneratorWorker._dispatch (queued)

    def __init__(self, factory: GeneratorFactory, control: RunControl, progress_hz: float,
                 close_on_stop: bool) -> None:
        super().__init__()
        self._factory = factory
        self._control = control
        self._min_interval = 1.0 / progress_hz if progress_hz > 0 else 0.0
        self._close_on_stop = close_on_stop

    @Slot()
    def run(self) -> None:
        control = self._control
        self.out.emit("started", None)
        last_progress = 0.0
        pending: PhaseProgress | None = None
        gen: Generator[Any, Any, Any] | None = None
        try:
            gen = self._factory(control)
            while True:
                try:
                    event = next(gen)
                except StopIteration as stop:
                    if pending is not None:
                        self.out.emit("event", pending)
                    if control.stop_requested:
                        self.out.emit("stopped", None)
                    else:
                        self.out.emit("returned", stop.value)
                    break
                if isinstance(event, PhaseProgress):
                    now = time.monotonic()
                    # Throttle, but never swallow the end of a phase.
                    if now - last_progress >= self._min_interval or 0 < event.total <= event.done:
                        self.out.emit("event", event)
                        last_progress, pending = now, None
                    else:
                        pending = event
                else:
                    if pending is not None:  # keep the order: the newest progress first
                        self.out.emit("event", pending)
                        pending = None
                    self.out.emit("event", event)
                if control.paused and not control.stop_requested:
                    self.out.emit("paused", None)
                    control.block_while_paused(0.1)
                    if not control.stop_requested:
                        self.out.emit("resumed", None)
                if control.stop_requested and self._close_on_stop:
                    gen.close()
                    self.out.emit("stopped", None)
                    break
        except StopRequested:
            self.out.emit("stopped", None)
        except BaseException as exc:  # delivered to the GUI thread; nothing is lost in a console
            self.out.emit("errored", WorkerError.from_exception(exc))
        finally:
            if gen is not None:
                gen.close()  # runs the generator's finally blocks (closes its store) in this thread
            self.out.emit("finished", None)
            app = QCoreApplication.instance()
            if app is not None:
                self.moveToThread(app.thread())  # so it can be destroyed from the GUI thread
            thread = QThread.currentThread()
            thread.quit()


class GeneratorWorker(QObject):
    """Runs ``factory(control)`` (a generator) in a new ``QThread``.

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
                 close_on_stop: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.control = RunControl()
        self._runner = _Runner(factory, self.control, progress_hz, close_on_stop)
        self._runner.out.connect(self._dispatch)
        self._thread: QThread | None = None
        self._running = False
        self._finished = False
        self._is_paused = False

    # -- control (GUI thread) ----------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.name}: a worker can only be started once")
        thread = QThread()
        thread.setObjectName(f"dcgui-{self.name}")
        self._runner.moveToThread(thread)
        thread.started.connect(self._runner.run)
        thread.finished.connect(self._on_thread_finished)
        self._thread = thread
        self._running = True
        _ALIVE.add(self)
        thread.start()

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
        if self._thread is None:
            return True
        return bool(self._thread.wait(timeout_ms))

    # -- delivery (GUI thread) ---------------------------------------------------------------
    @Slot(str, object)
    def _dispatch(self, kind: str, payload: object) -> None:
        if kind == "event":
            self.event.emit(payload)
        elif kind == "started":
            self.started.emit()
        elif kind == "paused":
            self._is_paused = True
            self.paused.emit()
        elif kind == "resumed":
            self._is_paused = False
            self.resumed.emit()
        elif kind == "stopped":
            self.stopped.emit()
        elif kind == "returned":
            self.returned.emit(payload)
        elif kind == "errored":
            self.errored.emit(payload)
        elif kind == "finished":
            self._running = False
            self._is_paused = False
            self._finished = True
            self.finished.emit()

    @Slot()
    def _on_thread_finished(self) -> None:
        _ALIVE.discard(self)


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


def call_job(func: Callable[[], Any]) -> GeneratorFactory:
    """Run a plain (non-generator) function in a worker; its result arrives as ``returned``."""

    def job(control: RunControl) -> Generator[Any, None, Any]:
        return func()
        yield  # pragma: no cover - makes this a generator

    return job

