"""ARC (Megiddo and Modha, FAST '03), the same as libCacheSim's ``ARC``.

Two LRU lists of resident objects, L1 (seen once recently) and L2 (seen at least
twice), each with a ghost list of evicted keys (B1, B2), and a target size ``p`` for
L1. libCacheSim's rules, followed step by step (sizes in the capacity's unit):

- a hit in L1 moves the object to the head of L2; a hit in L2 moves it to L2's head;
- a request whose key is in B1 raises ``p`` by ``max(|B2| / |B1|, 1)`` (at most the
  capacity), one in B2 lowers it by ``max(|B1| / |B2|, 1)`` (at least 0); the key
  leaves the ghost list, the request is a miss and the object is inserted at L2's head.
  Any other miss goes to L1's head;
- eviction after a ghost hit is REPLACE: L1's tail goes to B1 if L1 is not empty and
  (``|L1| > p``, or ``|L1| == p`` and the key was in B2), or if L2 is empty; else L2's
  tail goes to B2;
- eviction after any other miss: if ``|L1| + |B1| + size`` exceeds the capacity, drop
  B1's tail and REPLACE if B1 is not empty, else drop L1's tail outright; otherwise, if
  all four lists together reach twice the capacity, drop B2's tail (if any), then
  REPLACE. The "key was in a ghost list" flags are only reset when a key is found.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from itertools import repeat

from cachesim.policies.composite import CompositePolicy

__all__ = ["ARC"]


class ARC(CompositePolicy):
    """Adaptive Replacement Cache with libCacheSim's tie-breaking."""

    name = "arc"

    def _reset(self) -> None:
        # key -> size; the first item is the tail (LRU end), the last the head
        self._l1: OrderedDict[Hashable, int] = OrderedDict()
        self._l2: OrderedDict[Hashable, int] = OrderedDict()
        self._b1: OrderedDict[Hashable, int] = OrderedDict()
        self._b2: OrderedDict[Hashable, int] = OrderedDict()
        self.l1_size = self.l2_size = self.b1_size = self.b2_size = 0
        self.p = 0.0
        self._in_b1 = self._in_b2 = False
        self._n_req = 0
        self._ghost_vtime = -1

    def _size_of(self, key: Hashable) -> int:
        size = self._l1.get(key)
        return self._l2[key] if size is None else size

    def run(self, keys: Sequence[Hashable], sizes: Sequence[int] | None = None) -> int:
        """Replay ``keys`` (with ``sizes``, default 1 each) in one call; the hits.

        The steps of :meth:`_lookup` + :meth:`_miss` (with :meth:`_ghosts`,
        :meth:`_evict_miss` and :meth:`_replace`) in one loop, in the same order, the
        state in local variables: about twice as fast as a call per request. A cache
        that holds values (a node's) replays request by request (:meth:`access`); an
        empty one (a replay's) keeps its resident keys only in L1 and L2 meanwhile and
        sets ``_data`` once at the end."""
        if self._data:
            return sum(map(self.access, keys, repeat(1) if sizes is None else sizes))
        l1, l2, b1, b2 = self._l1, self._l2, self._b1, self._b2
        l2_touch = l2.move_to_end
        l1_size, l2_size, b1_size, b2_size = self.l1_size, self.l2_size, self.b1_size, self.b2_size
        in_b1, in_b2 = self._in_b1, self._in_b2
        capacity = self.capacity
        twice = capacity * 2
        p = self.p
        hits = 0
        for key, size in zip(keys, repeat(1) if sizes is None else sizes, strict=False):
            if key in l2:
                in_b1 = in_b2 = False
                l2_touch(key)
                hits += 1
                continue
            if key in l1:
                in_b1 = in_b2 = False
                size_1 = l1.pop(key)
                l2[key] = size_1
                l1_size -= size_1
                l2_size += size_1
                hits += 1
                continue
            ghost_hit = False
            if key in b1:  # _ghosts
                in_b1, in_b2, ghost_hit = True, False, True
                p = min(p + max(b2_size / b1_size, 1), capacity)
                b1_size -= b1.pop(key)
            elif key in b2:
                in_b1, in_b2, ghost_hit = False, True, True
                p = max(p - max(b1_size / b2_size, 1), 0)
                b2_size -= b2.pop(key)
            if size > capacity:
                continue
            while l1_size + l2_size + size > capacity:
                if not ghost_hit:  # _evict_miss
                    if l1_size + b1_size + size > capacity:
                        if b1_size <= 0:
                            l1_size -= l1.popitem(last=False)[1]
                            continue
                        _, old = b1.popitem(last=False)
                        b1_size -= old
                    elif l1_size + b1_size + l2_size + b2_size >= twice and b2_size > 0:
                        _, old = b2.popitem(last=False)
                        b2_size -= old
                # _replace
                if (l1_size > 0 and (l1_size > p or (l1_size == p and in_b2))) or l2_size == 0:
                    victim, old = l1.popitem(last=False)
                    l1_size -= old
                    b1[victim] = old
                    b1_size += old
                else:
                    victim, old = l2.popitem(last=False)
                    l2_size -= old
                    b2[victim] = old
                    b2_size += old
            if ghost_hit:
                l2[key] = size
                l2_size += size
                in_b1 = in_b2 = False
            else:
                l1[key] = size
                l1_size += size
        self._data = dict.fromkeys(l1)
        self._data.update(dict.fromkeys(l2))
        self.l1_size, self.l2_size, self.b1_size, self.b2_size = l1_size, l2_size, b1_size, b2_size
        self.used = l1_size + l2_size
        self._in_b1, self._in_b2 = in_b1, in_b2
        self.p = p
        # A ghost hit is consumed within its request here; the request count only
        # serves to tell a ghost hit of the current request (get + put), so none is pending.
        self._n_req += len(keys)
        self._ghost_vtime = -1
        return hits

    def _lookup(self, key: Hashable) -> bool:
        self._n_req += 1
        l1 = self._l1
        if key in l1:
            self._in_b1 = self._in_b2 = False
            size = l1.pop(key)
            self._l2[key] = size
            self.l1_size -= size
            self.l2_size += size
            return True
        l2 = self._l2
        if key in l2:
            self._in_b1 = self._in_b2 = False
            l2.move_to_end(key)
            return True
        self._ghosts(key)
        return False

    def _ghosts(self, key: Hashable) -> None:
        """A miss: adapt ``p`` if the key is in a ghost list (and drop it there)."""
        if key in self._b1:
            self._in_b2 = False
            self._in_b1 = True
            self._ghost_vtime = self._n_req
            delta = max(self.b2_size / self.b1_size, 1)
            self.p = min(self.p + delta, self.capacity)
            self.b1_size -= self._b1.pop(key)
        elif key in self._b2:
            self._in_b1 = False
            self._in_b2 = True
            self._ghost_vtime = self._n_req
            delta = max(self.b1_size / self.b2_size, 1)
            self.p = max(self.p - delta, 0)
            self.b2_size -= self._b2.pop(key)

    def _miss(self, key: Hashable, size: int) -> None:
        capacity = self.capacity
        if size > capacity:
            return
        ghost_hit = self._ghost_vtime == self._n_req and (self._in_b1 or self._in_b2)
        while self.l1_size + self.l2_size + size > capacity:
            if ghost_hit:
                self._replace()
            else:
                self._evict_miss(size)
        if ghost_hit:
            self._l2[key] = size
            self.l2_size += size
            self._in_b1 = self._in_b2 = False
            self._ghost_vtime = -1
        else:
            self._l1[key] = size
            self.l1_size += size
        self.used = self.l1_size + self.l2_size
        self._data[key] = None

    def _replace(self) -> None:
        l1_size = self.l1_size
        if (l1_size > 0 and (l1_size > self.p or (l1_size == self.p and self._in_b2))) or (self.l2_size == 0):
            key, size = self._l1.popitem(last=False)
            self.l1_size -= size
            self._b1[key] = size
            self.b1_size += size
        else:
            key, size = self._l2.popitem(last=False)
            self.l2_size -= size
            self._b2[key] = size
            self.b2_size += size
        self._gone(key)

    def _evict_miss(self, size: int) -> None:
        capacity = self.capacity
        if self.l1_size + self.b1_size + size > capacity:
            if self.b1_size > 0:
                _, old = self._b1.popitem(last=False)
                self.b1_size -= old
                self._replace()
            else:
                key, old = self._l1.popitem(last=False)
                self.l1_size -= old
                self._gone(key)
        else:
            total = self.l1_size + self.b1_size + self.l2_size + self.b2_size
            if total >= capacity * 2 and self.b2_size > 0:
                _, old = self._b2.popitem(last=False)
                self.b2_size -= old
            self._replace()

    def _remove(self, key: Hashable) -> None:
        size = self._l1.pop(key, None)
        if size is not None:
            self.l1_size -= size
        else:
            self.l2_size -= self._l2.pop(key)
        self.used = self.l1_size + self.l2_size
