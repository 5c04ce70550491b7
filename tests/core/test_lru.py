"""``dcgui.core.lru.LRU``: the one least-recently-used cache (store, cluster browser, pixmaps)."""

from __future__ import annotations

import pytest

from dcgui.core.lru import LRU


def test_count_bound_evicts_the_least_recently_used() -> None:
    lru: LRU[int, str] = LRU(3)
    for i in range(3):
        lru.put(i, str(i))
    assert lru.get(0) == "0"  # 1 is now the oldest
    lru.put(3, "3")
    assert lru.keys() == [2, 0, 3] and 1 not in lru and lru.evictions == 1
    assert lru.pop(2) == "2" and lru.pop(2) is None and len(lru) == 2


def test_size_bound_keeps_the_total_and_the_newest_item() -> None:
    lru: LRU[str, bytes] = LRU(100, max_size=10, size=len)
    lru.put("a", b"x" * 4)
    lru.put("b", b"x" * 4)
    assert lru.total_size == 8
    lru.put("a", b"x" * 5)  # replacing counts the new size only
    assert lru.total_size == 9 and lru.keys() == ["b", "a"]
    lru.put("c", b"x" * 3)  # 12 > 10: the oldest goes
    assert lru.keys() == ["a", "c"] and lru.total_size == 8
    lru.put("big", b"x" * 50)  # alone over the bound: still kept
    assert lru.keys() == ["big"] and lru.total_size == 50
    lru.clear()
    assert len(lru) == 0 and lru.total_size == 0


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        LRU(0)
    with pytest.raises(ValueError, match="together"):
        LRU(5, max_size=10)
