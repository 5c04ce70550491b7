"""A least-recently-used cache bounded by a count and, optionally, by a total size.

One implementation for the decoded assignments of the store, the cluster browser's per-epoch
numbers and the window's pixmaps (each had its own ``OrderedDict`` bookkeeping).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most ``capacity`` items and, with ``size``, at most ``max_size`` in total (the newest item
    is kept even when it alone is larger). ``get`` marks an item as recently used."""

    def __init__(self, capacity: int, max_size: float | None = None,
                 size: Callable[[V], float] | None = None) -> None:
        if capacity < 1 or (max_size is not None and max_size <= 0):
            raise ValueError(f"LRU: capacity={capacity} must be at least 1 and max_size={max_size} positive")
        if (max_size is None) != (size is None):
            raise ValueError("LRU: max_size and size go together")
        self.capacity = capacity
        self.max_size = max_size
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self.total_size: float = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: K) -> V | None:
        """The value of ``key`` (marked as recently used), or None."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self.pop(key)
        self._items[key] = value
        self.total_size += self._size(value) if self._size is not None else 0
        while len(self._items) > 1 and (len(self._items) > self.capacity
                                        or (self.max_size is not None and self.total_size > self.max_size)):
            _, evicted = self._items.popitem(last=False)
            self.total_size -= self._size(evicted) if self._size is not None else 0
            self.evictions += 1

    def pop(self, key: K) -> V | None:
        """Forget ``key``; its value, or None."""
        old = self._items.pop(key, None)
        if old is not None and self._size is not None:
            self.total_size -= self._size(old)
        return old

    def clear(self) -> None:
        self._items.clear()
        self.total_size = 0

    def keys(self) -> list[K]:
        """Oldest first."""
        return list(self._items)
