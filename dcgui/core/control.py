"""Pause / stop requests shared between the thread that runs an engine generator and its owner."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from dcgui.core.events import Event, Paused, Resumed

T = TypeVar("T")

PAUSE_POLL_S = 0.2  # a paused thread wakes this often (so Ctrl-C reaches a paused main thread)


class StopRequested(Exception):
    """Raised inside a generator at a safe point when the owner asked it to stop."""


class RunControl:
    """Thread-safe flags checked by the engine between batches.

    ``stop()`` takes effect at the next check (within one batch); ``pause()`` blocks the engine's
    thread at the next check until ``resume()`` or ``stop()``.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._until: int | None = None

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused engine so it can see the stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def set_until(self, epoch: int | None) -> None:
        """Move the end of a running training to ``epoch`` (the engine reads it between epochs;
        None: the end it was started with). Assigning an int is atomic: no lock needed."""
        self._until = None if epoch is None else int(epoch)

    @property
    def until(self) -> int | None:
        return self._until

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; return True when running again (False on timeout)."""
        return self._running.wait(timeout)

    def block_while_paused(self, poll: float = PAUSE_POLL_S) -> float:
        """Block until resumed or stopped; return the seconds spent paused. Never raises."""
        if not self.paused:
            return 0.0
        t0 = time.perf_counter()
        while not self.wait_while_paused(poll):
            pass
        return time.perf_counter() - t0

    def check(self) -> None:
        """Raise ``StopRequested`` if a stop was asked for. Does not block on pause."""
        if self._stop.is_set():
            raise StopRequested

    def pause_point(self) -> float:
        """A safe point between batches: a stop raises ``StopRequested``, a pause blocks here
        (a stop during the pause raises too). Returns the seconds spent paused."""
        self.check()
        paused = self.block_while_paused()
        self.check()
        return paused


def iter_pause_point(control: RunControl, epoch: int = 0) -> Generator[Event, None, float]:
    """``control.pause_point()`` for a generator: announces the pause (``Paused``) and the end of
    it (``Resumed``) to whoever drives the generator."""
    control.check()
    if not control.paused:
        return 0.0
    yield Paused(epoch)
    paused = control.pause_point()
    yield Resumed(epoch)
    return paused


def relay(gen: Generator[Any, Any, T], keep: Callable[[Any], bool]) -> Generator[Any, None, T]:
    """``gen``'s events for which ``keep`` is true, then ``gen``'s return value (``yield from``
    with a filter: pauses and the like pass through, noise such as nested progress does not)."""
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if keep(event):
            yield event


def drain(gen: Generator[Any, Any, T], on_event: Callable[[Any], object] | None = None) -> T:
    """Run a generator to its end and return its return value; each event it yields goes to
    ``on_event`` (by default it is dropped)."""
    def handle(event: Any) -> bool:
        if on_event is not None:
            on_event(event)
        return False  # nothing is relayed: the first next() below runs ``gen`` to its end

    try:
        next(relay(gen, handle))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    raise AssertionError("unreachable: relay yields nothing when keep is always false")
