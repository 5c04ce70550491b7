"""The one background reader of the engine: order, bounded read-ahead, errors, early close."""

from __future__ import annotations

import threading

import pytest

from dcgui.core.train.prefetch import THREAD_NAME, Prefetcher


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def test_results_come_in_item_order_and_the_thread_ends() -> None:
    with Prefetcher(list(range(10)), lambda i: i * i) as reader:
        assert len(reader) == 10
        assert list(reader) == [i * i for i in range(10)]
    assert not _reader_threads()
    assert list(Prefetcher([], lambda i: i)) == []


def test_reads_at_most_depth_batches_ahead() -> None:
    reached, overread = threading.Event(), threading.Event()

    def load(i: int) -> int:
        if i == 3:
            reached.set()
        if i >= 4:
            overread.set()
        return i

    reader = Prefetcher(list(range(20)), load, depth=2)
    try:
        it = iter(reader)
        assert next(it) == 0
        # item 0 taken, items 1-2 queued, item 3 read and waiting for room in the queue
        assert reached.wait(30)
        assert not overread.wait(0.3)  # a paused consumer does not make it read the whole cache
        assert next(it) == 1
        assert overread.wait(30)  # room again: reading goes on
    finally:
        reader.close()
    assert not _reader_threads()


def test_a_read_failure_is_raised_at_the_failed_item() -> None:
    def load(i: int) -> int:
        if i == 3:
            raise OSError(f"cannot read batch {i} (injected)")
        return i

    got: list[int] = []
    with Prefetcher(list(range(6)), load) as reader, pytest.raises(OSError, match="batch 3"):
        for x in reader:
            got.append(x)
    assert got == [0, 1, 2]  # every batch before the failure, none after, none twice
    assert not _reader_threads()


def test_closing_early_ends_a_reader_blocked_on_a_full_queue() -> None:
    reader = Prefetcher(list(range(100)), lambda i: i, depth=1)
    it = iter(reader)
    assert next(it) == 0
    reader.close()
    assert not _reader_threads()
    with pytest.raises(ValueError, match="depth=0"):
        Prefetcher([1], lambda i: i, depth=0)
