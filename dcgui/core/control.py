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

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused engine so it can see the stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

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
