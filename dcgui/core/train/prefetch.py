"""Read the next batches on a background thread while the current one computes.

One reader for the whole engine: the feature pass (contiguous slices of the cache, in order) and
the training pass (sorted index batches) both use it. A failure on the reader thread is handed to
the consumer and raised there, at the batch that failed: a lost error would silently train the
previous batch again or unpack ``None``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

PREFETCH_DEPTH = 2  # batches read ahead; bounded so a paused run does not read the whole cache
THREAD_NAME = "dcgui-prefetch"

T = TypeVar("T")
R = TypeVar("R")


class _Failed:
    """The reader's exception, carried through the queue to the consumer."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Prefetcher(Generic[T, R]):
    """``load(item)`` for every item, on a thread, at most ``depth`` ahead; iterate for the results.

    Results come in the order of ``items``. An exception raised by ``load`` is re-raised by the
    iterator in place of that result. ``close()`` (also on leaving a ``with`` block) cancels the
    reader and waits for its thread; call it when the consumer stops early.
    """

    def __init__(self, items: Sequence[T], load: Callable[[T], R], depth: int = PREFETCH_DEPTH,
                 name: str = THREAD_NAME) -> None:
        if depth < 1:
            raise ValueError(f"depth={depth} must be at least 1")
        self._items = items
        self._load = load
        self._queue: queue.Queue[R | _Failed] = queue.Queue(maxsize=depth)
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def __len__(self) -> int:
        return len(self._items)

    def _put(self, item: R | _Failed) -> bool:
        while not self._cancel.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put(self._load(item)):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(_Failed(exc))

    def __iter__(self) -> Iterator[R]:
        for _ in range(len(self._items)):
            got = self._get()
            if isinstance(got, _Failed):
                raise got.exc
            yield got

    def _get(self) -> R | _Failed:
        while True:
            try:
                return self._queue.get(timeout=0.5)
            except queue.Empty:
                # A reader that ended without handing over a result would leave us waiting forever.
                if not self._thread.is_alive() and self._queue.empty():
                    raise RuntimeError("the prefetch thread ended without reading every batch") from None

    def close(self) -> None:
        self._cancel.set()
        while True:  # unblock a reader waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=5.0)

    def __enter__(self) -> Prefetcher[T, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
