"""Pause / stop requests shared between the thread that runs an engine generator and its owner."""

from __future__ import annotations

import threading


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

    def check(self) -> None:
        """Raise ``StopRequested`` if a stop was asked for. Does not block on pause."""
        if self._stop.is_set():
            raise StopRequested
