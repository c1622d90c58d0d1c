"""Shared machinery for the policies built from several queues (S3-FIFO, ARC, 2Q, SLRU,
LIRS) and for Belady.

libCacheSim runs each of them through ``cache_get_base``: *find* (which may touch ghost
queues and adapt parameters even on a miss), then on a miss *can_insert*, *evict*
until the object fits, and *insert*. Their eviction is not "drop one victim": a step
may move objects between queues, evict nothing, or evict several. So these classes
implement that sequence themselves in :meth:`access` (one request of a replay) and
reuse it for the cache-node interface:

- ``get`` is a lookup that records a hit exactly as ``access`` does; a miss changes
  nothing (the node calls ``put`` next, which runs the whole miss path, ghost
  bookkeeping included, so ``get``-miss + ``put`` is one ``access``).
- ``put`` returns the keys that stopped being resident during that miss.
- ``_data`` holds exactly the resident keys (and their values); ``used`` is
  libCacheSim's occupied size.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from cachesim.policies.base import MISS, NO_EVICTIONS, EvictionPolicy

__all__ = ["CompositePolicy"]


class CompositePolicy(EvictionPolicy):
    """Base of the multi-queue policies: subclasses implement :meth:`_lookup` (the
    *find* step, True on a hit), :meth:`_miss` (the rest of a miss), :meth:`_size_of`,
    :meth:`_remove` (an invalidation) and :meth:`_reset` (empty state)."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._data: dict[Hashable, Any] = {}
        self._sizes: dict[Hashable, int] = {}
        self._log: list[Hashable] | None = None  # evicted keys, while ``put`` runs
        self._reset()

    # -- subclass hooks ----------------------------------------------------------------
    def _reset(self) -> None:
        raise NotImplementedError

    def _lookup(self, key: Hashable) -> bool:
        raise NotImplementedError

    def _miss(self, key: Hashable, size: int) -> None:
        raise NotImplementedError

    def _remove(self, key: Hashable) -> None:
        raise NotImplementedError

    def _size_of(self, key: Hashable) -> int:
        return self._sizes.get(key, 1)

    def _after(self) -> None:
        """Work libCacheSim does after every request (LIRS bounds its stack)."""

    # the abstract single-victim hooks of EvictionPolicy are not used: ``put`` is
    # overridden and runs the policy's own miss path
    def _hit(self, key: Hashable) -> None:  # pragma: no cover - not used
        self._lookup(key)

    def _evict_one(self) -> Hashable:  # pragma: no cover - not used
        raise NotImplementedError("composite policies evict through _miss")

    def _insert(self, key: Hashable, value: Any, size: int) -> None:  # pragma: no cover
        raise NotImplementedError("composite policies insert through _miss")

    # -- bookkeeping used by subclasses ----------------------------------------------
    def _gone(self, key: Hashable) -> None:
        """``key`` stopped being resident (evicted or demoted to a ghost)."""
        self._data.pop(key, None)
        if self._log is not None:
            self._log.append(key)

    # -- interface ---------------------------------------------------------------------
    def access(self, key: Hashable, size: int = 1) -> bool:
        """One request of a replay: True on a hit; a miss inserts if it can."""
        if self._lookup(key):
            return True
        self._miss(key, size)
        return False

    def get(self, key: Hashable) -> Any:
        if key in self._data and self._lookup(key):
            value = self._data.get(key)
            self._after()
            return value
        return MISS

    def put(self, key: Hashable, value: Any, size: int = 1) -> Sequence[Hashable]:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        resized = False
        if key in self._data:
            if self._size_of(key) == size:
                self._data[key] = value
                self._log = log = []
                try:  # an overwrite is a hit, which may cascade (SLRU, LIRS)
                    self._lookup(key)
                    self._after()
                finally:
                    self._log = None
                return log or NO_EVICTIONS
            self.discard(key)  # a new size: re-insert as a fresh object
            resized = True
        self._log = log = []
        try:
            if not self._lookup(key):
                self._miss(key, size)
            self._after()
        finally:
            self._log = None
        if key in self._data:
            self._data[key] = value
        elif resized and key not in log:
            log.append(key)  # dropped: the new size does not fit
        return log or NO_EVICTIONS

    def discard(self, key: Hashable) -> bool:
        if key not in self._data:
            return False
        self._remove(key)
        self._data.pop(key, None)
        return True

    def peek(self, key: Hashable) -> Any:
        return self._data.get(key, MISS)

    def clear(self) -> None:
        self._data.clear()
        self._sizes.clear()
        self.used = 0
        self._reset()

    def keys(self) -> list[Hashable]:
        """The resident keys (in no policy-specific order)."""
        return list(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(capacity={self.capacity}, used={self.used}, n={len(self)})"
