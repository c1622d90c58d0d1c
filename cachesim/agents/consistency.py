"""Consistency, measured the way operators measure it: per write, the time until no node
can serve an older version of its key (Polaris-style convergence), and how long entries
spent stale after a stale set.

A write of version ``v`` of a key at ``t_w`` *converges* at the first moment after which
no node (the gutter pool included) holds a copy of the key older than ``v``: every copy
that existed at the write is gone (its invalidation applied at its arrival, or the
newer version written over it, or it was evicted, expired or lost with its node), and
so is every older copy filled afterwards (a stale set reopens a write that had
converged). Its convergence time is that moment minus ``t_w``; a write whose key still
has an older copy at the end of the run is *unconverged*.

Only keys that have been written are tracked: the database hands the tracker the
copies its key has at the write (from the directory), and from then on the nodes
report that key's fills and removals. Removals arrive lazily (a node applies its
messages when next looked at) but always stamped with the moment they happen, and a
record leaves the tracker only at a later write of its key, after the key's holders
have caught up: so when a node is looked at never changes a convergence time.
Convergence times go into exact counts under 1 ms / 10 ms / 100 ms / 1 s / 10 s and a
log-bucketed histogram (memory bounded by the keys written, not the writes).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from ..metrics import N_BUCKETS, bucket_of

#: The thresholds of the summary's "converged within" shares, in seconds.
WITHIN_S = (0.001, 0.01, 0.1, 1.0, 10.0)
WITHIN_KEYS = ("converged_1ms", "converged_10ms", "converged_100ms", "converged_1s", "converged_10s")
_EPS = 1e-12  # a convergence of exactly 1 ms is within 1 ms despite float rounding


class _Write:
    __slots__ = ("version", "t", "tmax", "converged", "measured")

    def __init__(self, version: int, t: float, measured: bool) -> None:
        self.version = version
        self.t = t
        self.tmax = t  # the latest removal of an older copy seen so far
        self.converged = False
        self.measured = measured


class _Key:
    __slots__ = ("copies", "writes")

    def __init__(self) -> None:
        #: node name -> (version held, when it expires: inf without a TTL)
        self.copies: dict[str, tuple[int, float]] = {}
        self.writes: deque[_Write] = deque()


class Convergence:
    """Tracks every written key's copies and the convergence of its writes."""

    def __init__(self, measure_from_s: float) -> None:
        self.measure_from_s = measure_from_s
        #: key -> its state; nodes test membership before reporting a fill or removal
        self.keys: dict[int, _Key] = {}
        self.within = [0] * len(WITHIN_S)
        self.counts = np.zeros(N_BUCKETS, dtype=np.int64)  # convergence times, in ms buckets
        self.converged = 0
        self.sum_s = 0.0
        self.max_s = 0.0

    # -- from the database --------------------------------------------------------------

    def write(self, key: int, version: int, t: float, copies: dict[str, tuple[int, float]]) -> None:
        """A write of ``version`` at ``t``; ``copies`` are the key's copies now (used
        when the key is not tracked yet)."""
        k = self.keys.get(key)
        if k is None:
            self.keys[key] = k = _Key()
            k.copies = copies
        k.writes.append(_Write(version, t, t >= self.measure_from_s))
        self._settle(k, t)
        w = k.writes
        while len(w) > 1 and w[0].converged:  # the latest write stays: a stale set may reopen it
            self._final(w.popleft())

    # -- from the nodes -----------------------------------------------------------------

    def added(self, node: str, key: int, version: int, t: float, expires: float) -> None:
        """``node`` stored ``version`` of a tracked key at ``t`` (a fill or an update)."""
        k = self.keys[key]
        copies = k.copies
        replaced = node in copies
        if replaced:
            self._gone(k, node, t)
        copies[node] = (version, expires)
        if version < k.writes[-1].version:
            for w in k.writes:
                if w.version > version and w.converged:
                    w.converged = False  # a stale set: an older version is servable again
        if replaced:  # (a copy added never makes a write converge; one removed may)
            self._settle(k, t)

    def removed(self, node: str, key: int, t: float) -> None:
        """``node``'s copy of a tracked key is gone as of ``t``."""
        k = self.keys[key]
        if node in k.copies:
            self._gone(k, node, t)
            self._settle(k, t)

    def _gone(self, k: _Key, node: str, t: float) -> None:
        version, expires = k.copies.pop(node)
        end = min(t, expires)  # an expired copy could not be served after it expired
        for w in k.writes:
            if w.version > version and not w.converged and end > w.tmax:
                w.tmax = end

    @staticmethod
    def _settle(k: _Key, now: float) -> None:
        """Mark converged the writes no older copy can be served for any more."""
        for w in k.writes:
            if w.converged:
                continue
            last = w.tmax
            for version, expires in k.copies.values():
                if version < w.version:
                    if expires > now:
                        break
                    last = max(last, expires)
            else:
                w.tmax = last
                w.converged = True

    def _final(self, w: _Write) -> None:
        if not w.measured:
            return
        self._count(w.tmax - w.t, self.within, self.counts)
        self.converged += 1
        d = w.tmax - w.t
        self.sum_s += d
        self.max_s = max(self.max_s, d)

    @staticmethod
    def _count(d: float, within: list[int], counts: np.ndarray) -> None:
        for i, limit in enumerate(WITHIN_S):
            if d <= limit + _EPS:
                within[i] += 1
        counts[bucket_of(d * 1000.0)] += 1

    # -- results ------------------------------------------------------------------------

    def report(self, now: float) -> dict:
        """The measured writes so far: converged (with their times) and unconverged,
        as of ``now``; does not change the tracker."""
        within = list(self.within)
        counts = self.counts.copy()
        converged, unconverged, total_s, max_s = self.converged, 0, self.sum_s, self.max_s
        for k in self.keys.values():
            for w in k.writes:
                if not w.measured:
                    continue
                done, last = w.converged, w.tmax
                if not done:
                    done = True
                    for version, expires in k.copies.values():
                        if version < w.version:
                            if expires > now:
                                done = False
                                break
                            last = max(last, expires)
                if done:
                    d = last - w.t
                    self._count(d, within, counts)
                    converged += 1
                    total_s += d
                    max_s = max(max_s, d)
                else:
                    unconverged += 1
        return {"converged": converged, "unconverged": unconverged, "within": within, "counts": counts,
                "mean_s": total_s / converged if converged else math.nan, "max_s": max_s if converged else math.nan}


def nines(share: float | None) -> float | None:
    """The "nines" of a share: 0.999 -> 3.0; 1.0 -> inf is capped at 9."""
    if share is None:
        return None
    if share >= 1.0 - 1e-9:
        return 9.0
    return round(-math.log10(1.0 - share), 2) + 0.0  # (+ 0.0: never -0.0)
