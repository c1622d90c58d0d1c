"""Belady's MIN (the offline optimum for equal sizes), the same as libCacheSim's
``Belady``: evict the object whose next request is furthest in the future.

It needs the future, so it runs in trace replay only (never as a cache node's
policy): :meth:`Belady.set_future` gives it, for every request of the trace in order,
the 1-based position of the next request for the same key (-1 for none), as
:func:`cachesim.traces.next_access_vtime` computes and oracleGeneral files store.

Ties (objects never requested again) are broken exactly as libCacheSim's binary max
heap (``pqueue``) breaks them, which decides which of those objects stay when objects
have sizes: the heap below is that heap, operation for operation (insert = bubble up
from the end, pop = last to the root then percolate down, a hit = change priority in
place). The hit count does not depend on the ties (see :func:`belady_hits_sized`),
so trace replay counts with the bulk functions at the end of this module.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Sequence
from itertools import repeat

import numpy as np

from cachesim.policies.composite import CompositePolicy

__all__ = ["NEVER", "Belady"]

#: The priority of "never requested again" (above every position).
NEVER = 2**62


class Belady(CompositePolicy):
    """Belady's MIN over the future given by :meth:`set_future` (replay only)."""

    name = "belady"
    needs_future = True

    def _reset(self) -> None:
        self._heap: list[Hashable] = [None]  # 1-based binary max heap of keys
        self._pri: dict[Hashable, int] = {}
        self._pos: dict[Hashable, int] = {}
        self._future: list[int] | None = getattr(self, "_future", None)
        self._i = 0
        self._next = NEVER
        self._fast = False

    def set_future(self, next_access: Sequence[int], *, equal_sizes: bool = False) -> None:
        """The next-request position of every request to come, in order (-1: none);
        restarts the request count.

        ``equal_sizes=True`` promises every object has the same size (count-based
        replay). Then which of several never-requested-again objects is evicted cannot
        change any later hit, and :meth:`access` takes a fast path (``heapq`` with
        lazy deletion) with the same miss count; otherwise it replays libCacheSim's
        heap move for move, ties included.
        """
        raw = np.asarray(next_access, dtype=np.int64)
        self._i = 0
        self._fast = equal_sizes and not self._data
        if self._fast:  # "never again" as NEVER + the request's index: distinct
            raw = np.where(raw < 0, NEVER + np.arange(raw.shape[0], dtype=np.int64), raw)
        else:
            raw = np.where(raw < 0, NEVER, raw)
        self._future = raw.tolist()
        if self._fast:
            self._lazy: list[int] = []
            self._who: dict[int, Hashable] = {}  # heap entry -> its key

    def _size_of(self, key: Hashable) -> int:
        return self._sizes[key]

    # -- libCacheSim's pqueue ---------------------------------------------------------
    def _bubble_up(self, i: int) -> None:
        heap, pri, pos = self._heap, self._pri, self._pos
        moving = heap[i]
        mp = pri[moving]
        while i > 1:
            parent = heap[i >> 1]
            if not pri[parent] < mp:
                break
            heap[i] = parent
            pos[parent] = i
            i >>= 1
        heap[i] = moving
        pos[moving] = i

    def _percolate_down(self, i: int) -> None:
        heap, pri, pos = self._heap, self._pri, self._pos
        size = len(heap)
        moving = heap[i]
        mp = pri[moving]
        while True:
            c = i << 1
            if c >= size:
                break
            if c + 1 < size and pri[heap[c]] < pri[heap[c + 1]]:
                c += 1
            child = heap[c]
            if not mp < pri[child]:
                break
            heap[i] = child
            pos[child] = i
            i = c
        heap[i] = moving
        pos[moving] = i

    def _pop(self) -> Hashable:
        heap = self._heap
        head = heap[1]
        last = heap.pop()
        if len(heap) > 1:
            heap[1] = last
            self._percolate_down(1)
        del self._pos[head]
        del self._pri[head]
        return head

    # -- the request -------------------------------------------------------------------
    def access(self, key: Hashable, size: int = 1) -> bool:
        if not self._fast:
            return super().access(key, size)
        return self.run([key], [size]) == 1

    def run(self, keys: Sequence[Hashable], sizes: Sequence[int] | None = None) -> int:
        """Replay ``keys`` (with ``sizes``, default 1 each) in one call; the hits.
        The same decisions as :meth:`access` per request, with less overhead."""
        if not self._fast:
            return self._run_exact(keys, sizes)
        future = self._future
        assert future is not None
        # heap entries are plain ints (fast to compare): the next-request position,
        # or NEVER + the request's index for "never again" (set_future); both are
        # unique, and ``who`` maps an entry to its key
        i0 = self._i
        who = self._who
        pri, data, obj_sizes = self._pri, self._data, self._sizes
        lazy = self._lazy
        push, pop = heapq.heappush, heapq.heappop
        capacity = self.capacity
        used = self.used
        hits = 0
        limit = 32 * capacity + 65_536
        for j, key in enumerate(keys):
            nv = future[i0 + j]
            if key in pri:
                pri[key] = nv
                who[nv] = key
                push(lazy, -nv)
                hits += 1
                continue
            size = 1 if sizes is None else sizes[j]
            if size > capacity:
                continue
            while used + size > capacity:
                v = -pop(lazy)
                victim = who.pop(v)
                if pri.get(victim) != v:
                    continue  # stale: the key was hit or evicted since
                del pri[victim]
                used -= obj_sizes.pop(victim)
                del data[victim]
            pri[key] = nv
            obj_sizes[key] = size
            used += size
            data[key] = None
            who[nv] = key
            push(lazy, -nv)
            if len(lazy) > limit:  # drop the stale entries now and then
                lazy[:] = [e for e in lazy if pri.get(who[-e]) == -e]
                heapq.heapify(lazy)
                live = set(lazy)
                for v in [v for v in who if -v not in live]:
                    del who[v]
        self._i = i0 + len(keys)
        self.used = used
        return hits

    def _run_exact(self, keys: Sequence[Hashable], sizes: Sequence[int] | None) -> int:
        """:meth:`run` with libCacheSim's heap, move for move: the steps of
        :meth:`_lookup` and :meth:`_miss` in one loop, with the priorities in a list
        beside the heap (the dict of priorities is rebuilt at the end), so a sift
        compares list items instead of looking both keys up."""
        future = self._future
        if future is None:
            raise RuntimeError("belady needs the future: call set_future() first (replay only)")
        i0 = self._i
        if i0 + len(keys) > len(future):
            raise RuntimeError("belady: more requests than set_future() described")
        heap, pos, obj_sizes, data = self._heap, self._pos, self._sizes, self._data
        pri = self._pri
        hp = [0] + [pri[k] for k in heap[1:]]  # hp[i]: the priority of heap[i]

        def percolate_down(i: int) -> None:
            n = len(heap)
            moving, mp = heap[i], hp[i]
            while True:
                c = i << 1
                if c >= n:
                    break
                if c + 1 < n and hp[c] < hp[c + 1]:
                    c += 1
                cp = hp[c]
                if not mp < cp:
                    break
                down = heap[c]
                heap[i] = down
                hp[i] = cp
                pos[down] = i
                i = c
            heap[i] = moving
            hp[i] = mp
            pos[moving] = i

        capacity = self.capacity
        used = self.used
        hits = 0
        nv = self._next
        for j, (key, size) in enumerate(zip(keys, repeat(1) if sizes is None else sizes, strict=False)):
            nv = future[i0 + j]
            i = pos.get(key)
            if i is not None:  # a hit: change the priority in place
                hits += 1
                if hp[i] < nv:  # bubble_up(i), inlined
                    while i > 1:
                        parent = i >> 1
                        pp = hp[parent]
                        if not pp < nv:
                            break
                        up = heap[parent]
                        heap[i] = up
                        hp[i] = pp
                        pos[up] = i
                        i = parent
                    heap[i] = key
                    hp[i] = nv
                    pos[key] = i
                else:
                    hp[i] = nv
                    percolate_down(i)
                continue
            if size > capacity:
                continue
            while used + size > capacity:  # _pop: the furthest next request
                head = heap[1]
                last, last_p = heap.pop(), hp.pop()
                if len(heap) > 1:
                    heap[1] = last
                    hp[1] = last_p
                    percolate_down(1)
                del pos[head]
                used -= obj_sizes.pop(head)
                data.pop(head, None)
            obj_sizes[key] = size
            used += size
            i = len(heap)  # bubble_up from a new last place, inlined
            heap.append(key)
            hp.append(nv)
            while i > 1:
                parent = i >> 1
                pp = hp[parent]
                if not pp < nv:
                    break
                up = heap[parent]
                heap[i] = up
                hp[i] = pp
                pos[up] = i
                i = parent
            heap[i] = key
            hp[i] = nv
            pos[key] = i
            data[key] = None
        self._i = i0 + len(keys)
        self._next = nv
        self.used = used
        self._pri = {k: hp[i] for i, k in enumerate(heap) if i}
        return hits

    def _lookup(self, key: Hashable) -> bool:
        if self._fast:
            raise RuntimeError("belady: after set_future(equal_sizes=True) only access() replays")
        future = self._future
        if future is None:
            raise RuntimeError("belady needs the future: call set_future() first (replay only)")
        try:
            nv = future[self._i]
        except IndexError:
            raise RuntimeError("belady: more requests than set_future() described") from None
        self._i += 1
        self._next = nv
        pri = self._pri
        old = pri.get(key)
        if old is None:
            return False
        pri[key] = nv
        if old < nv:
            self._bubble_up(self._pos[key])
        else:
            self._percolate_down(self._pos[key])
        return True

    def _miss(self, key: Hashable, size: int) -> None:
        capacity = self.capacity
        if size > capacity:
            return
        sizes = self._sizes
        while self.used + size > capacity:
            victim = self._pop()
            self.used -= sizes.pop(victim)
            self._gone(victim)
        sizes[key] = size
        self.used += size
        self._pri[key] = self._next
        heap = self._heap
        heap.append(key)
        self._bubble_up(len(heap) - 1)
        self._data[key] = None

    def _remove(self, key: Hashable) -> None:
        heap, pri = self._heap, self._pri
        posn = self._pos.pop(key)
        old = pri.pop(key)
        last = heap.pop()
        if posn < len(heap):
            heap[posn] = last
            self._pos[last] = posn
            if old < pri[last]:
                self._bubble_up(posn)
            else:
                self._percolate_down(posn)
        self.used -= self._sizes.pop(key)


def belady_hits_sized(keys: np.ndarray, sizes: np.ndarray, capacity: int) -> int:
    """Belady's hits over ``keys`` with object ``sizes`` (byte-based replay): the same
    count as :class:`Belady` (libCacheSim's heap), from a lazy ``heapq`` of the cached
    objects that will be requested again, in one pass.

    Which of several never-requested-again objects libCacheSim's heap evicts first (its
    ties) decides which of them stay, never a hit count: they all rank above every other
    object, so a request evicts another object only when the objects that will be
    requested again (F) no longer fit beside the incoming one (sum(F) + size >
    capacity), and then it has evicted every never-again object first, whatever their
    order; those objects are never hit. So F, and with it every hit, evolves without
    them: a miss evicts the furthest-requested objects of F while sum(F) + size >
    capacity, then adds the object to F unless it is never requested again; a hit that
    is the object's last request takes it out of F. (Objects bigger than the cache are
    not inserted, and a hit keeps the size the object was inserted with, as in
    libCacheSim.)

    An object of F is found by its next request's position: a request at position ``t``
    hits exactly when ``t`` is cached. Heap entries are ``-next``; an entry goes stale
    when its request comes (all stale entries then lie below every live one, so a pop
    never meets one) and the stale ones are dropped now and then.
    """
    n = int(keys.shape[0])
    if n == 0:
        return 0
    from cachesim.traces import next_access_vtime

    cached: dict[int, int] = {}  # next request's position -> size, for F
    heap: list[int] = []
    push, pop = heapq.heappush, heapq.heappop
    used = hits = t = 0  # used: the bytes of F
    limit = 65_536
    for e, size in zip(next_access_vtime(keys).tolist(), sizes.tolist(), strict=True):
        t += 1
        s = cached.pop(t, None)
        if s is not None:  # a hit
            hits += 1
            if e > 0:
                cached[e] = s
                push(heap, -e)
            else:  # its last request: out of F
                used -= s
            continue
        if size > capacity:
            continue
        while used + size > capacity:  # (used > 0 here: a live entry is on top)
            used -= cached.pop(-pop(heap))
        if e > 0:
            cached[e] = size
            used += size
            push(heap, -e)
            if len(heap) > limit:  # drop the stale entries (requests already made)
                heap = [x for x in heap if x < -t]
                heapq.heapify(heap)
                limit = 2 * len(heap) + 65_536
    return hits
