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

    @abstractmethod
    def put(self, key: Hashable, value: Any, size: int = 1) -> Sequence[Hashable]:
        """Insert ``key`` after a miss (or overwrite it), evicting as the policy says.

        Returns the evicted keys, oldest decision first: a new list, or the shared
        :data:`NO_EVICTIONS` when nothing was evicted (treat it as read-only). An object
        larger than the whole capacity is not inserted and nothing is evicted for it (if
        it was stored with another size, that entry is dropped and returned).
        Room is made *before* the new key goes in, as libCacheSim does. Putting a key
        already stored replaces its value and size and counts as an access (the hit a
        request would have been)."""

    def access(self, key: Hashable, size: int = 1) -> bool:
        """One request as libCacheSim's ``get`` sees it: a lookup that records the
        access, and on a miss an insert (value ``None``) of ``size`` units if it fits.
        Returns whether it was a hit. A hit never changes the stored size.

        Trace replay calls this in its inner loop; subclasses override it with a
        fused version that allocates nothing."""
        if self.get(key) is not MISS:
            return True
        self.put(key, None, size)
        return False

    @abstractmethod
    def update(self, key: Hashable, value: Any) -> bool:
        """Replace the value of a key already stored without counting an access
        (write-through). Returns False, changing nothing, if the key is absent."""

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
