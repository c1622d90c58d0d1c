"""SIEVE (Zhang et al., NSDI '24), the same as libCacheSim's ``Sieve``.

New objects go to the head of a queue and never move. A hand walks from the tail
towards the head: a visited object has its bit cleared and is passed over, the first
unvisited one is evicted, and the hand stays just past it (wrapping to the tail after
the head). The queue is a doubly linked list kept in two dicts, so every step is O(1)
and eviction is amortised O(1).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from cachesim.policies.base import MISS, EvictionPolicy

__all__ = ["Sieve"]

_NIL: Any = object()  # "no neighbour" / "hand at the tail" (keys may be any hashable)


class Sieve(EvictionPolicy):
    """SIEVE eviction with libCacheSim's hand and size rules."""

    name = "sieve"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._data: dict[Hashable, Any] = {}
        self._sizes: dict[Hashable, int] = {}  # only the sizes that are not 1
        self._newer: dict[Hashable, Any] = {}  # towards the head
        self._older: dict[Hashable, Any] = {}  # towards the tail
        self._visited: set[Hashable] = set()
        self._head: Any = _NIL
        self._tail: Any = _NIL
        self._hand: Any = _NIL

    def _link_head(self, key: Hashable) -> None:
        head = self._head
        self._older[key] = head
        self._newer[key] = _NIL
        if head is _NIL:
            self._tail = key
        else:
            self._newer[head] = key
        self._head = key

    def _unlink(self, key: Hashable) -> None:
        older = self._older.pop(key)
        newer = self._newer.pop(key)
        if older is _NIL:
            self._tail = newer
        else:
            self._newer[older] = newer
        if newer is _NIL:
            self._head = older
        else:
            self._older[newer] = older

    def _evict_one(self) -> Hashable:
        visited = self._visited
        newer = self._newer
        key = self._tail if self._hand is _NIL else self._hand
        while key in visited:
            visited.discard(key)
            key = newer[key]
            if key is _NIL:
                key = self._tail
        self._hand = newer[key]
        self._unlink(key)
        del self._data[key]
        self.used -= self._sizes.pop(key, 1) if self._sizes else 1
        return key

    def _insert(self, key: Hashable, value: Any, size: int) -> None:
        self._data[key] = value
        self._link_head(key)
        if size != 1:
            self._sizes[key] = size
        self.used += size

    def _hit(self, key: Hashable) -> None:
        self._visited.add(key)

    def get(self, key: Hashable) -> Any:
        value = self._data.get(key, MISS)
        if value is not MISS:
            self._visited.add(key)
        return value

    def access(self, key: Hashable, size: int = 1) -> bool:
        if key in self._data:
            self._visited.add(key)
            return True
        capacity = self.capacity
        if size > capacity:
            return False
        evict = self._evict_one
        while self.used + size > capacity:
            evict()
        self._insert(key, None, size)
        return False

    def discard(self, key: Hashable) -> bool:
        if key not in self._data:
            return False
        if self._hand is not _NIL and self._hand == key:
            self._hand = self._newer[key]
        self._unlink(key)
        del self._data[key]
        self._visited.discard(key)
        self.used -= self._sizes.pop(key, 1)
        return True

    def peek(self, key: Hashable) -> Any:
        return self._data.get(key, MISS)

    def clear(self) -> None:
        for store in (self._data, self._sizes, self._newer, self._older, self._visited):
            store.clear()
        self._head = self._tail = self._hand = _NIL
        self.used = 0

    def keys(self) -> list[Hashable]:
        """The stored keys from the tail (oldest insertion) to the head."""
        out: list[Hashable] = []
        key = self._tail
        while key is not _NIL:
            out.append(key)
            key = self._newer[key]
        return out

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __repr__(self) -> str:
        return f"Sieve(capacity={self.capacity}, used={self.used}, n={len(self)})"
