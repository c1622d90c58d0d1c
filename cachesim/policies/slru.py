"""Segmented LRU, the same as libCacheSim's ``SLRU``.

Four LRU segments of a quarter of the capacity each (integer division), segment 0
the lowest. libCacheSim's rules, followed step by step:

- a hit in the top segment moves the object to its head; a hit in a lower segment
  promotes it to the head of the next one, and while that segment is over its share
  its LRU object is demoted to the head of the segment below (cascading; demotion out
  of segment 0 is an eviction);
- an object larger than a segment is never admitted;
- a miss first evicts while the cache is over capacity, then goes to the head of the
  lowest segment with room for it (so a filling cache fills the upper segments too);
  if none has room, it evicts until the whole cache has room and goes to segment 0;
- eviction takes the LRU object of the lowest non-empty segment.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from itertools import repeat

from cachesim.policies.composite import CompositePolicy

__all__ = ["SLRU"]


class SLRU(CompositePolicy):
    """SLRU with libCacheSim's default of four equal segments."""

    name = "slru"
    n_segments = 4

    def _reset(self) -> None:
        n = self.n_segments
        self.segment_cap = self.capacity // n
        # per segment: key -> size; first item = the LRU end
        self._segs: list[OrderedDict[Hashable, int]] = [OrderedDict() for _ in range(n)]
        self.seg_used = [0] * n
        self._where: dict[Hashable, int] = {}

    def _size_of(self, key: Hashable) -> int:
        return self._segs[self._where[key]][key]

    def run(self, keys: Sequence[Hashable], sizes: Sequence[int] | None = None) -> int:
        """Replay ``keys`` (with ``sizes``, default 1 each) in one call; the hits.

        The steps of :meth:`_lookup` (with :meth:`_promote`'s first demotion) and of
        the common misses in one loop, in the same order; cascades of more than one
        demotion and the rarer placements call the methods. A cache that holds values
        (a node's) replays request by request (:meth:`access`); an empty one (a
        replay's) keeps its resident keys only in ``_where`` meanwhile and sets
        ``_data`` once at the end."""
        if self._data:
            return sum(map(self.access, keys, repeat(1) if sizes is None else sizes))
        segs, used, where = self._segs, self.seg_used, self._where
        top = self.n_segments - 1
        top_touch = segs[top].move_to_end
        cap = self.segment_cap
        capacity = self.capacity
        hits = 0
        for key, size in zip(keys, repeat(1) if sizes is None else sizes, strict=False):
            i = where.get(key)
            if i is not None:
                hits += 1
                if i == top:
                    top_touch(key)
                    continue
                # _promote: to the head of the next segment, then cool it while it is over
                moved = segs[i].pop(key)
                segs[i + 1][key] = moved
                used[i] -= moved
                used[i + 1] += moved
                where[key] = i + 1
                while True:
                    j = where.get(key)
                    if j is None or used[j] <= cap:
                        break
                    if j == 0:
                        self._evict()
                        continue
                    # _cool(j): its LRU object to the head of the segment below
                    cold, cold_size = segs[j].popitem(last=False)
                    segs[j - 1][cold] = cold_size
                    used[j] -= cold_size
                    used[j - 1] += cold_size
                    where[cold] = j - 1
                    while used[j - 1] > cap:
                        self._cool(j - 1)
                continue
            if size > capacity or size > cap:
                continue
            total = self.used
            if total + size > capacity:
                while total + size > capacity:  # _evict, inlined (put logs through _miss)
                    j = 0
                    while used[j] <= 0:
                        j += 1
                    victim, vsize = segs[j].popitem(last=False)
                    used[j] -= vsize
                    total -= vsize
                    del where[victim]
                self.used = total
            if used[0] + size <= cap:
                segs[0][key] = size
                used[0] += size
                where[key] = 0
                self.used = total + size
                continue
            self._miss(key, size)  # the rarer placements
        self._data = dict.fromkeys(where)
        return hits

    def _lookup(self, key: Hashable) -> bool:
        i = self._where.get(key)
        if i is None:
            return False
        if i == self.n_segments - 1:
            self._segs[i].move_to_end(key)
        else:
            self._promote(key, i)
        return True

    def _promote(self, key: Hashable, i: int) -> None:
        where = self._where
        segs = self._segs
        size = segs[i].pop(key)
        segs[i + 1][key] = size
        used = self.seg_used
        used[i] -= size
        used[i + 1] += size
        where[key] = i + 1
        cap = self.segment_cap
        while True:
            j = where.get(key)
            if j is None or used[j] <= cap:
                break
            self._cool(j)

    def _cool(self, i: int) -> None:
        if i == 0:
            self._evict()
            return
        segs, used = self._segs, self.seg_used
        key, size = segs[i].popitem(last=False)
        segs[i - 1][key] = size
        used[i] -= size
        used[i - 1] += size
        self._where[key] = i - 1
        while used[i - 1] > self.segment_cap:
            self._cool(i - 1)

    def _evict(self) -> None:
        used = self.seg_used
        i = 0
        while used[i] <= 0:
            i += 1
        key, size = self._segs[i].popitem(last=False)
        used[i] -= size
        self.used -= size
        del self._where[key]
        self._data.pop(key, None)  # (absent while run() replays)
        if self._log is not None:
            self._log.append(key)

    def _miss(self, key: Hashable, size: int) -> None:
        capacity = self.capacity
        cap = self.segment_cap
        if size > capacity or size > cap:
            return
        evict = self._evict
        while self.used + size > capacity:
            evict()
        used = self.seg_used
        nth = -1
        if used[0] + size <= cap:
            nth = 0
        else:
            for i in range(1, self.n_segments):
                if used[i] + size <= cap:
                    nth = i
                    break
        if nth == -1:
            while self.used + size > capacity:
                self._evict()
            nth = 0
        self._segs[nth][key] = size
        used[nth] += size
        self._where[key] = nth
        self.used += size
        self._data[key] = None

    def _remove(self, key: Hashable) -> None:
        i = self._where.pop(key)
        size = self._segs[i].pop(key)
        self.seg_used[i] -= size
        self.used -= size
