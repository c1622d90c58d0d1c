"""LIRS (Jiang and Zhang, SIGMETRICS '02), the same as libCacheSim's ``LIRS``.

A stack ``S`` (LRU order) of LIR objects, resident HIR objects and non-resident HIR
keys; a queue ``Q`` (LRU order) of the resident HIR objects, 1% of the capacity (at
least 1 unit); and ``NH``, the non-resident keys of ``S`` in LRU order. The rules are
libCacheSim's, followed step by step, including its choices that differ from the
paper (a hit on a HIR object that is only in ``Q`` first makes room among the LIR
objects; a non-resident HIR key that is requested again becomes LIR at once):

- hit on a LIR object: move it to the top of ``S`` and prune ``S`` (drop HIR entries
  from its bottom until a LIR one is there);
- hit on a resident HIR object in ``S``: it leaves ``Q`` and becomes LIR, demoting
  bottom LIR objects to ``Q`` while the LIR share is exceeded;
- hit on a resident HIR object only in ``Q``: demote LIR objects while the LIR share
  would be exceeded by it, then push it on ``S`` as resident HIR;
- miss on a non-resident HIR key of ``S``: demote LIR objects to make room, and it
  becomes resident LIR; a miss on a new key becomes LIR while the LIR share has room,
  else resident HIR (in ``S`` and ``Q``), evicting ``Q``'s bottom as needed;
- after every request, while ``S`` holds more than twice the capacity, the oldest
  non-resident key is dropped from ``S``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from cachesim.policies.composite import CompositePolicy

__all__ = ["LIRS"]


class LIRS(CompositePolicy):
    """LIRS with libCacheSim's 1% HIR share."""

    name = "lirs"
    hir_ratio = 0.01

    def _reset(self) -> None:
        cap = self.capacity
        self.hirs_limit = max(1, int(self.hir_ratio * cap))
        self.lirs_limit = cap - self.hirs_limit
        self.hirs_count = self.lirs_count = self.nonresident = 0
        # key -> size; first item = the bottom (LRU end), last = the top
        self._s: OrderedDict[Hashable, int] = OrderedDict()
        self._q: OrderedDict[Hashable, int] = OrderedDict()
        self._nh: OrderedDict[Hashable, int] = OrderedDict()
        self.s_used = 0
        self._lir: set[Hashable] = set()  # keys of S that are LIR
        self._res: set[Hashable] = set()  # keys of S marked resident

    def _size_of(self, key: Hashable) -> int:
        size = self._s.get(key)
        return self._q[key] if size is None else size

    # -- the request -------------------------------------------------------------------
    def access(self, key: Hashable, size: int = 1) -> bool:
        hit = self._lookup(key)
        if not hit:
            self._miss(key, size)
        self._limit_stack()
        return hit

    def _after(self) -> None:
        self._limit_stack()

    def _lookup(self, key: Hashable) -> bool:
        s, q = self._s, self._q
        in_s = key in s
        in_q = key in q
        if in_s:
            s.move_to_end(key)
        if in_q:
            q.move_to_end(key)
        if in_s:
            if key in self._lir:
                self._prune()
                return True
            if key in self._res:
                self._hit_hir_in_s(key, in_q)
                return True
            return False
        if in_q:
            self._hit_hir_in_q(key)
            return True
        return False

    def _miss(self, key: Hashable, size: int) -> None:
        if size > self.capacity:
            return
        s = self._s
        # can_insert
        if key in s:  # a non-resident HIR key
            s_size = s[key]
            while self.lirs_count + s_size > self.lirs_limit:
                self._evict_lir()
            old = self._nh.pop(key, None)
            if old is not None:
                self.nonresident -= s_size
        else:
            if size > self.lirs_limit or size > self.hirs_limit:
                return
            if self.lirs_count + size > self.lirs_limit and self.hirs_count + size > self.hirs_limit:
                while self.hirs_count + size > self.hirs_limit:
                    self._evict_hir()
        # evict until it fits
        capacity = self.capacity
        while self.used + size > capacity:
            before = self.used
            if key in s and key not in self._lir and key not in self._res:
                while self.hirs_count >= self.hirs_limit:
                    self._evict_hir()
                self._evict_lir()
            elif key not in s and key not in self._q:
                if self.lirs_count + size > self.lirs_limit and self.hirs_count + size > self.hirs_limit:
                    self._evict_hir()
            if self.used >= before:  # libCacheSim would spin here; never seen
                break
        # insert
        if key in s:
            if key not in self._lir and key not in self._res:
                s_size = s[key]
                self._lir.add(key)
                self._res.add(key)
                self.lirs_count += s_size
                self.used += s_size
                self._data[key] = None
            return
        if key in self._q:
            return
        s[key] = size
        self.s_used += size
        self._res.add(key)
        if self.lirs_count + size <= self.lirs_limit:
            self._lir.add(key)
            self.lirs_count += size
        else:
            self._q[key] = size
            self.hirs_count += size
        self.used += size
        self._data[key] = None

    # -- libCacheSim's helpers -----------------------------------------------------------
    def _s_drop(self, key: Hashable) -> int:
        size = self._s.pop(key)
        self.s_used -= size
        self._lir.discard(key)
        self._res.discard(key)
        return size

    def _prune(self) -> None:
        s, nh = self._s, self._nh
        lir, res = self._lir, self._res
        while len(s) > 1:
            key = next(iter(s))
            if key in lir:
                break
            if key not in res and key in nh:
                del nh[key]
                self.nonresident -= s[key]
            self._s_drop(key)
            if key in self._data and key not in self._q:
                self._gone(key)  # a resident-but-uncounted HIR object (see _hit_hir_in_q)

    def _hit_hir_in_s(self, key: Hashable, in_q: bool) -> None:
        if in_q:
            q_size = self._q.pop(key)
            self.hirs_count -= q_size
            self.used -= q_size
        s_size = self._s[key]
        while self.lirs_count + s_size > self.lirs_limit:
            self._evict_lir()
        self._lir.add(key)
        self.lirs_count += s_size
        self.used += s_size

    def _hit_hir_in_q(self, key: Hashable) -> None:
        q_size = self._q[key]
        value = self._data.get(key)
        while self.lirs_count + q_size > self.lirs_limit:
            self._evict_lir()
        self._s[key] = q_size
        self.s_used += q_size
        self._res.add(key)
        self._data[key] = value  # resident again even if demotions pushed it out of Q

    def _evict_lir(self) -> None:
        key = next(iter(self._s))
        size = self._s_drop(key)
        self.lirs_count -= size
        self.used -= size
        if size <= self.hirs_limit:
            while self.hirs_count + size > self.hirs_limit:
                self._evict_hir()
            q = self._q
            q[key] = size
            q.move_to_end(key)
            self.hirs_count += size
            self.used += size
        else:
            self._gone(key)
        self._prune()

    def _evict_hir(self) -> None:
        key, size = self._q.popitem(last=False)
        self.hirs_count -= size
        s = self._s
        if key in s:
            self._res.discard(key)
            nh = self._nh
            nh[key] = size
            nh.move_to_end(key)
            self.nonresident += s[key]
        self.used -= size
        self._gone(key)

    def _limit_stack(self) -> None:
        limit = 2 * self.capacity
        nh, s = self._nh, self._s
        while self.s_used > limit and nh:
            key, size = nh.popitem(last=False)
            self.nonresident -= size
            if key in s:
                self._s_drop(key)

    def _remove(self, key: Hashable) -> None:
        q_size = self._q.pop(key, None)
        if q_size is not None:
            self.hirs_count -= q_size
            self.used -= q_size
            if key in self._s:
                self._s_drop(key)
            return
        if key in self._lir:
            size = self._s_drop(key)
            self.lirs_count -= size
            self.used -= size
            self._prune()
        elif key in self._res:  # resident HIR only in S
            size = self._s_drop(key)
            self.hirs_count -= size
            self.used -= size
