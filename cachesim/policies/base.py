"""The eviction-policy interface shared by cache nodes and trace replay.

A policy stores ``key -> value`` for at most ``capacity`` units (items, or bytes when
objects carry sizes) and decides what to evict. Cache nodes and ``replay`` use the
very same classes, so a policy checked against libCacheSim is the policy the
simulated cluster runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from typing import Any, ClassVar

#: Returned by :meth:`EvictionPolicy.get` on a miss (values may be falsy, e.g. version 0).
MISS: Any = object()

#: The shared, immutable "nothing was evicted" answer of :meth:`EvictionPolicy.put`
#: (no allocation on the hot path). Callers must not mutate what ``put`` returns.
NO_EVICTIONS: tuple[Hashable, ...] = ()


class EvictionPolicy(ABC):
    """A bounded key/value store with an eviction rule.

    ``capacity`` is in units of ``size`` (1 per object when counting items).
    """

    name: ClassVar[str]

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.used = 0  # sum of the sizes stored

    @abstractmethod
    def get(self, key: Hashable) -> Any:
        """Look ``key`` up as a request would: return its value (and record the access)
        or :data:`MISS`."""

    # Subclasses keep ``_data`` (key -> value) and ``_sizes`` (sizes other than 1) and
    # implement the three hooks below; ``put`` and ``update`` are the same for all.
    _data: Any
    _sizes: dict[Hashable, int]

    @abstractmethod
    def _hit(self, key: Hashable) -> None:
        """Record an access to a stored key, as the policy does on a hit."""

    @abstractmethod
    def _evict_one(self) -> Hashable:
        """Remove the policy's victim, update ``used``, and return its key."""

    @abstractmethod
    def _insert(self, key: Hashable, value: Any, size: int) -> None:
        """Store a new key that fits, and count its size in ``used``."""

    def put(self, key: Hashable, value: Any, size: int = 1) -> Sequence[Hashable]:
        """Insert ``key`` after a miss (or overwrite it, which counts as an access),
        evicting as the policy says; a stored key given a new size is re-inserted.

        Returns the evicted keys, oldest decision first (:data:`NO_EVICTIONS` when
        none). An object larger than the whole capacity is not inserted (and nothing
        is evicted for it)."""
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        if key in self._data:
            if self._sizes.get(key, 1) == size:
                self._data[key] = value
                self._hit(key)
                return NO_EVICTIONS
            self.discard(key)  # a new size: re-insert as a fresh object
            if size > self.capacity:
                return [key]  # dropped: the new size does not fit at all
        capacity = self.capacity
        if size > capacity:
            return NO_EVICTIONS
        evicted: Sequence[Hashable] = NO_EVICTIONS
        if self.used + size > capacity:
            victims: list[Hashable] = []
            evict = self._evict_one
            while self.used + size > capacity:
                victims.append(evict())
            evicted = victims
        self._insert(key, value, size)
        return evicted

    def update(self, key: Hashable, value: Any) -> bool:
        """Replace the value of a key already stored without counting an access
        (write-through). Returns False, changing nothing, if the key is absent."""
        if key in self._data:
            self._data[key] = value
            return True
        return False

    @abstractmethod
    def discard(self, key: Hashable) -> bool:
        """Remove ``key`` (an invalidation). Returns whether it was stored."""

    @abstractmethod
    def peek(self, key: Hashable) -> Any:
        """The stored value or :data:`MISS`, without recording an access."""

    @abstractmethod
    def clear(self) -> None:
        """Drop everything (a node restarting cold)."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __contains__(self, key: Hashable) -> bool: ...
