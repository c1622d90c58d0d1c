"""2Q (Johnson and Shasha, VLDB '94), the same as libCacheSim's ``TwoQ``.

A FIFO ``Ain`` (25% of the capacity) for objects seen once, an LRU ``Am`` (the rest)
for objects seen again, and a FIFO ghost ``Aout`` (50% of the capacity) of keys that
left ``Ain``. libCacheSim's rules, followed step by step:

- a hit in ``Ain`` changes nothing; a hit in ``Am`` moves the object to its head;
- an object larger than ``Ain`` is never admitted;
- a miss on a key in ``Aout`` leaves the ghost and is inserted into ``Am`` as an LRU of
  its own size would (evicting ``Am``'s LRU end until it fits ``Am``); any other miss
  is appended to ``Ain``;
- while the cache is over capacity: if ``Ain`` is over its share its oldest object
  leaves (its key to ``Aout``, a FIFO), else ``Am``'s least recently used one does.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from cachesim.policies.composite import CompositePolicy

__all__ = ["TwoQ"]


class TwoQ(CompositePolicy):
    """2Q with libCacheSim's defaults (``Ain`` 25%, ``Aout`` 50%)."""

    name = "twoq"
    ain_ratio = 0.25
    aout_ratio = 0.5

    def _reset(self) -> None:
        cap = self.capacity
        self.ain_cap = int(cap * self.ain_ratio)
        self.aout_cap = int(cap * self.aout_ratio)
        self.am_cap = cap - self.ain_cap
        # key -> size; first item = the end eviction starts from
        self._ain: OrderedDict[Hashable, int] = OrderedDict()
        self._aout: OrderedDict[Hashable, int] = OrderedDict()
        self._am: OrderedDict[Hashable, int] = OrderedDict()
        self.ain_used = self.aout_used = self.am_used = 0
        self._hit_on_ghost = False

    def _size_of(self, key: Hashable) -> int:
        size = self._ain.get(key)
        return self._am[key] if size is None else size

    def _lookup(self, key: Hashable) -> bool:
        if key in self._ain:
            return True
        aout = self._aout
        self._hit_on_ghost = False
        if aout and key in aout:
            self.aout_used -= aout.pop(key)
            self._hit_on_ghost = True
        am = self._am
        if key in am:
            am.move_to_end(key)
            return True
        return False

    def _miss(self, key: Hashable, size: int) -> None:
        if size > self.ain_cap:
            return
        capacity = self.capacity
        while self.ain_used + self.am_used + size > capacity:
            self._evict()
        if self._hit_on_ghost:
            self._hit_on_ghost = False
            if size > self.am_cap:
                return
            am = self._am
            while self.am_used + size > self.am_cap:
                old, old_size = am.popitem(last=False)
                self.am_used -= old_size
                self._gone(old)
            am[key] = size
            self.am_used += size
        else:
            self._ain[key] = size
            self.ain_used += size
        self.used = self.ain_used + self.am_used
        self._data[key] = None

    def _evict(self) -> None:
        if self.ain_used > self.ain_cap:
            key, size = self._ain.popitem(last=False)
            self.ain_used -= size
            self._gone(key)
            aout = self._aout
            if size <= self.aout_cap and key not in aout:
                while self.aout_used + size > self.aout_cap:
                    _, old = aout.popitem(last=False)
                    self.aout_used -= old
                aout[key] = size
                self.aout_used += size
        else:
            key, size = self._am.popitem(last=False)
            self.am_used -= size
            self._gone(key)
        self.used = self.ain_used + self.am_used

    def _remove(self, key: Hashable) -> None:
        size = self._ain.pop(key, None)
        if size is not None:
            self.ain_used -= size
        else:
            self.am_used -= self._am.pop(key)
        self.used = self.ain_used + self.am_used
