"""Eviction policies: LRU, FIFO, LFU, Clock and Sieve, each the same as libCacheSim's.

Every policy is O(1) per request (amortised for Clock and Sieve) and keeps its queue in
an :class:`~collections.OrderedDict` (or, for Sieve, a dict-linked list), whose first
item is the end eviction starts from. ``get``/``access`` allocate nothing; ``put``
allocates a list only when it evicts.

Sizes: count-based use gives every object size 1; with sizes, ``capacity`` is in the
same unit. Only sizes other than 1 are stored (``_sizes``), so counting costs nothing
extra. The rules follow libCacheSim's ``cache_get_base``: on a miss, an object bigger
than the whole cache is not inserted; otherwise victims are evicted *until the new
object fits* and only then is it inserted; a hit leaves the stored size alone.

Checked request by request against the ``libcachesim`` package (tests/policies/test_replay.py):

- ``lru``: evicts the least recently used.
- ``fifo``: evicts the oldest insertion; hits change nothing.
- ``lfu``: evicts the lowest access count; an object's count starts at 1 on insert and
  is forgotten on eviction. Ties go to the object that reached its current count
  earliest (libCacheSim appends to the tail of its per-frequency list and evicts from
  the head), i.e. LRU among equals.
- ``clock``: FIFO with one reference bit (second chance); a hit sets the bit, eviction
  scans from the oldest, giving a set bit a second chance (cleared, moved to newest).
- ``sieve``: new objects at the head, a hand that walks from the tail towards the head
  clearing visited bits and evicts the first unvisited object, staying where it stopped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from cachesim.policies.base import MISS, EvictionPolicy

__all__ = ["FIFO", "LFU", "LRU", "Clock", "QueuePolicy"]


class QueuePolicy(EvictionPolicy):
    """Shared machinery for policies kept as one ordered queue (first item = tail)."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}  # only the sizes that are not 1

    # -- hooks -----------------------------------------------------------------
    def _hit(self, key: Hashable) -> None:
        """Record an access to a stored key (policy-specific)."""

    def _insert(self, key: Hashable, value: Any, size: int) -> None:
        self._data[key] = value
        if size != 1:
            self._sizes[key] = size
        self.used += size

    def _evict_one(self) -> Hashable:
        """Remove the policy's victim, update ``used``, and return its key."""
        key, _ = self._data.popitem(last=False)
        self.used -= self._sizes.pop(key, 1) if self._sizes else 1
        return key

    def _forget(self, key: Hashable) -> None:
        """Drop per-key metadata of the subclass (on discard)."""

    def _admit_at_tail(self, key: Hashable, size: int) -> bool:
        """A replay miss: insert ``key`` at the tail, evicting from the head until it
        fits (LRU and FIFO evict alike; they differ only on a hit). Returns False."""
        data = self._data
        capacity = self.capacity
        if size > capacity:
            return False
        used = self.used + size
        if used > capacity:
            sizes = self._sizes
            popitem = data.popitem
            while used > capacity:
                victim, _ = popitem(False)
                used -= sizes.pop(victim, 1) if sizes else 1
        data[key] = None
        if size != 1:
            self._sizes[key] = size
        self.used = used
        return False

    # -- interface ---------------------------------------------------------------

    def get(self, key: Hashable) -> Any:
        data = self._data
        if key in data:
            self._hit(key)
            return data[key]
        return MISS

    def discard(self, key: Hashable) -> bool:
        data = self._data
        if key not in data:
            return False
        del data[key]
        self.used -= self._sizes.pop(key, 1)
        self._forget(key)
        return True

    def peek(self, key: Hashable) -> Any:
        return self._data.get(key, MISS)

    def clear(self) -> None:
        self._data.clear()
        self._sizes.clear()
        self.used = 0

    def keys(self) -> list[Hashable]:
        """The stored keys, from the end eviction starts at to the newest."""
        return list(self._data)

    def size_of(self, key: Hashable) -> int:
        """The stored size of ``key`` (KeyError if absent)."""
        if key not in self._data:
            raise KeyError(key)
        return self._sizes.get(key, 1)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(capacity={self.capacity}, used={self.used}, n={len(self)})"


class LRU(QueuePolicy):
    """Least recently used."""

    name = "lru"

    def _hit(self, key: Hashable) -> None:
        self._data.move_to_end(key)

    def get(self, key: Hashable) -> Any:
        data = self._data
        if key in data:
            data.move_to_end(key)
            return data[key]
        return MISS

    def access(self, key: Hashable, size: int = 1) -> bool:
        data = self._data
        if key in data:
            data.move_to_end(key)
            return True
        return self._admit_at_tail(key, size)


class FIFO(QueuePolicy):
    """First in, first out: a hit changes nothing."""

    name = "fifo"

    def get(self, key: Hashable) -> Any:
        return self._data.get(key, MISS)

    def access(self, key: Hashable, size: int = 1) -> bool:
        if key in self._data:
            return True
        return self._admit_at_tail(key, size)


class Clock(QueuePolicy):
    """FIFO with a one-bit reference flag (second chance), as libCacheSim's ``Clock``."""

    name = "clock"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._referenced: set[Hashable] = set()

    def _hit(self, key: Hashable) -> None:
        self._referenced.add(key)

    def _evict_one(self) -> Hashable:
        data = self._data
        referenced = self._referenced
        while True:
            key = next(iter(data))
            if key not in referenced:
                break
            referenced.discard(key)
            data.move_to_end(key)
        del data[key]
        self.used -= self._sizes.pop(key, 1) if self._sizes else 1
        return key

    def _forget(self, key: Hashable) -> None:
        self._referenced.discard(key)

    def clear(self) -> None:
        super().clear()
        self._referenced.clear()

    def access(self, key: Hashable, size: int = 1) -> bool:
        if key in self._data:
            self._referenced.add(key)
            return True
        capacity = self.capacity
        if size > capacity:
            return False
        evict = self._evict_one
        while self.used + size > capacity:
            evict()
        self._data[key] = None
        if size != 1:
            self._sizes[key] = size
        self.used += size
        return False


class LFU(EvictionPolicy):
    """Least frequently used; ties evict the object that reached its count first."""

    name = "lfu"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._data: dict[Hashable, Any] = {}
        self._sizes: dict[Hashable, int] = {}  # only the sizes that are not 1
        self._freq: dict[Hashable, int] = {}
        # count -> the keys with that count, in the order they reached it
        self._buckets: dict[int, OrderedDict[Hashable, None]] = {}
        self._min = 0  # lowest non-empty count; 0 = unknown (recomputed when needed)

    def _bump(self, key: Hashable, f: int) -> None:
        buckets = self._buckets
        bucket = buckets[f]
        del bucket[key]
        f += 1
        self._freq[key] = f
        upper = buckets.get(f)
        if upper is None:
            upper = buckets[f] = OrderedDict()
        upper[key] = None
        if not bucket:
            del buckets[f - 1]
            if self._min == f - 1:
                self._min = f

    def _evict_one(self) -> Hashable:
        buckets = self._buckets
        low = self._min or min(buckets)
        bucket = buckets[low]
        key, _ = bucket.popitem(last=False)
        if bucket:
            self._min = low
        else:
            del buckets[low]
            self._min = 0
        del self._data[key]
        del self._freq[key]
        self.used -= self._sizes.pop(key, 1) if self._sizes else 1
        return key

    def _insert(self, key: Hashable, value: Any, size: int) -> None:
        self._data[key] = value
        self._freq[key] = 1
        ones = self._buckets.get(1)
        if ones is None:
            ones = self._buckets[1] = OrderedDict()
        ones[key] = None
        self._min = 1
        if size != 1:
            self._sizes[key] = size
        self.used += size

    def _hit(self, key: Hashable) -> None:
        self._bump(key, self._freq[key])

    def get(self, key: Hashable) -> Any:
        f = self._freq.get(key)
        if f is None:
            return MISS
        self._bump(key, f)
        return self._data[key]

    def access(self, key: Hashable, size: int = 1) -> bool:
        f = self._freq.get(key)
        if f is not None:
            self._bump(key, f)
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
        f = self._freq.pop(key, None)
        if f is None:
            return False
        bucket = self._buckets[f]
        del bucket[key]
        if not bucket:
            del self._buckets[f]
            if self._min == f:
                self._min = 0
        del self._data[key]
        self.used -= self._sizes.pop(key, 1)
        return True

    def peek(self, key: Hashable) -> Any:
        return self._data.get(key, MISS)

    def clear(self) -> None:
        self._data.clear()
        self._sizes.clear()
        self._freq.clear()
        self._buckets.clear()
        self._min = 0
        self.used = 0

    def frequency(self, key: Hashable) -> int:
        """Accesses counted since ``key`` was inserted (0 if absent)."""
        return self._freq.get(key, 0)

    def keys(self) -> list[Hashable]:
        """The stored keys in eviction order (lowest count first, then oldest)."""
        return [k for f in sorted(self._buckets) for k in self._buckets[f]]

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __repr__(self) -> str:
        return f"LFU(capacity={self.capacity}, used={self.used}, n={len(self)})"
