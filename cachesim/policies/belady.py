"""Belady's MIN (the offline optimum for equal sizes), the same as libCacheSim's
``Belady``: evict the object whose next request is furthest in the future.

It needs the future, so it runs in trace replay only (never as a cache node's
policy): :meth:`Belady.set_future` gives it, for every request of the trace in order,
the 1-based position of the next request for the same key (-1 for none), as
:func:`cachesim.traces.next_access_vtime` computes and oracleGeneral files store.

Ties (objects never requested again) are broken exactly as libCacheSim's binary max
heap (``pqueue``) breaks them, which matters when objects have sizes: the heap below
is that heap, operation for operation (insert = bubble up from the end, pop = last
to the root then percolate down, a hit = change priority in place).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

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

    def set_future(self, next_access: Sequence[int]) -> None:
        """The next-request position of every request to come, in order (-1: none);
        restarts the request count."""
        self._future = [NEVER if v < 0 else int(v) for v in next_access]
        self._i = 0

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
    def _lookup(self, key: Hashable) -> bool:
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
