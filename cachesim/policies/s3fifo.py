"""S3-FIFO (Yang et al., SOSP '23), the same as libCacheSim's ``S3FIFO``.

Three FIFO queues: a small one (10% of the capacity), a main one (the rest) and a
ghost queue of evicted keys (90% of the capacity, in the same unit). libCacheSim's
rules, which this follows step by step:

- a hit adds one to the object's counter (unbounded while in the small queue);
- a miss whose key is in the ghost queue goes to the main queue; any other miss goes
  to the small queue, except that an object not smaller than the small queue is not
  inserted at all (and one larger than the small queue is not even admitted, so
  nothing is evicted for it), and that before the first eviction a full small queue
  sends new objects to the main queue;
- eviction: from the main queue if it is over its share or the small queue is empty,
  else from the small queue. The small queue's oldest object moves to the main queue
  if it was hit at least twice (``move_to_main_threshold``), else it leaves, its key
  going to the ghost queue (which evicts FIFO); this repeats until one object has
  left. The main queue's oldest object is reinserted with ``min(count, 3) - 1`` if
  its counter is not zero (a 2-bit Clock), else it leaves.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from cachesim.policies.composite import CompositePolicy

__all__ = ["S3FIFO"]


class S3FIFO(CompositePolicy):
    """S3-FIFO with libCacheSim's defaults (small 10%, ghost 90%, threshold 2)."""

    name = "s3fifo"
    small_ratio = 0.1
    ghost_ratio = 0.9
    move_to_main_threshold = 2

    def _reset(self) -> None:
        cap = self.capacity
        self.small_cap = int(cap * self.small_ratio)
        self.main_cap = cap - self.small_cap
        self.ghost_cap = int(cap * self.ghost_ratio)
        self._small: OrderedDict[Hashable, int] = OrderedDict()  # key -> size, oldest first
        self._main: OrderedDict[Hashable, int] = OrderedDict()
        self._ghost: OrderedDict[Hashable, int] = OrderedDict()
        self._freq: dict[Hashable, int] = {}
        self.small_used = self.main_used = self.ghost_used = 0
        self._has_evicted = False
        self._hit_on_ghost = False

    def _size_of(self, key: Hashable) -> int:
        size = self._small.get(key)
        return self._main[key] if size is None else size

    def _lookup(self, key: Hashable) -> bool:
        freq = self._freq
        if key in self._small:
            freq[key] += 1
            return True
        ghost = self._ghost
        self._hit_on_ghost = False
        if ghost and key in ghost:
            self.ghost_used -= ghost.pop(key)
            self._hit_on_ghost = True
        if key in self._main:
            freq[key] += 1
            return True
        return False

    def _miss(self, key: Hashable, size: int) -> None:
        if size > self.small_cap or size > self.capacity:
            return
        capacity = self.capacity
        while self.small_used + self.main_used + size > capacity:
            self._evict()
        if self._hit_on_ghost:
            self._hit_on_ghost = False
            self._main[key] = size
            self.main_used += size
        else:
            if size >= self.small_cap:
                return
            if not self._has_evicted and self.small_used >= self.small_cap:
                self._main[key] = size
                self.main_used += size
            else:
                self._small[key] = size
                self.small_used += size
        self._freq[key] = 0
        self.used = self.small_used + self.main_used
        self._data[key] = None

    def _evict(self) -> None:
        self._has_evicted = True
        if self.main_used > self.main_cap or self.small_used == 0:
            self._evict_main()
        else:
            self._evict_small()
        self.used = self.small_used + self.main_used

    def _evict_small(self) -> None:
        small, main, freq = self._small, self._main, self._freq
        threshold = self.move_to_main_threshold
        while self.small_used > 0:
            key, size = small.popitem(last=False)
            self.small_used -= size
            if freq[key] >= threshold:
                main[key] = size
                self.main_used += size
                freq[key] = 0
                continue
            del freq[key]
            self._gone(key)
            self._ghost_insert(key, size)
            return

    def _ghost_insert(self, key: Hashable, size: int) -> None:
        cap = self.ghost_cap
        ghost = self._ghost
        if size > cap or key in ghost:
            return
        while self.ghost_used + size > cap:
            _, old = ghost.popitem(last=False)
            self.ghost_used -= old
        ghost[key] = size
        self.ghost_used += size

    def _evict_main(self) -> None:
        main, freq = self._main, self._freq
        while self.main_used > 0:
            key, size = main.popitem(last=False)
            f = freq[key]
            if f >= 1:
                main[key] = size
                freq[key] = min(f, 3) - 1
                continue
            self.main_used -= size
            del freq[key]
            self._gone(key)
            return

    def _remove(self, key: Hashable) -> None:
        size = self._small.pop(key, None)
        if size is not None:
            self.small_used -= size
        else:
            self.main_used -= self._main.pop(key)
        del self._freq[key]
        self.used = self.small_used + self.main_used
