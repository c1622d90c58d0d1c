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

Only keys with a write not yet converged are tracked copy by copy: the database hands
the tracker the copies its key has at the write (from the directory), and until the
write converges the nodes report that key's fills and removals. A converged write is
kept as one tuple (``last``) until its key's next write, since a later fill of an older
version (a stale set) reopens it. Removals arrive lazily (a node applies its messages
when next looked at) but always stamped with the moment they happen: so when a node is
looked at never changes a convergence time. A write with no copy anywhere converges at
once and costs one dict entry.
A counted write's convergence time is appended to a flat array (8 bytes; nothing when it
converged at once), and report() turns them, in one pass, into exact counts under 1 ms /
10 ms / 100 ms / 1 s / 10 s, a log-bucketed histogram, the mean and the max.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable

import numpy as np

from ..metrics import INV_LOG2_G, LOG2_MIN, MIN_MS, N_BUCKETS

#: The thresholds of the summary's "converged within" shares, in seconds.
WITHIN_S = (0.001, 0.01, 0.1, 1.0, 10.0)
WITHIN_KEYS = ("converged_1ms", "converged_10ms", "converged_100ms", "converged_1s", "converged_10s")
_EPS = 1e-12  # a convergence of exactly 1 ms is within 1 ms despite float rounding
_WITHIN_EPS = tuple(w + _EPS for w in WITHIN_S)


# A tracked write is a list, [version, t, tmax, converged, measured] (a list literal is
# cheaper to make than an object, on a path taken by every write of a cached key):
# ``tmax`` is the latest removal of an older copy seen so far. A tracked key's state is a
# pair (copies, writes): node name -> (version held, when it expires: inf without a TTL),
# and its writes not yet counted, oldest first (rarely more than one: a list).
_V, _T, _TMAX, _CONV, _MEAS = range(5)


class Convergence:
    """Tracks every written key's copies and the convergence of its writes."""

    def __init__(self, measure_from_s: float) -> None:
        self.measure_from_s = measure_from_s
        #: key -> (copies, writes); nodes test membership before reporting a fill or removal
        self.keys: dict[int, tuple[dict[str, tuple[int, float]], list[list]]] = {}
        #: key -> its latest write, converged: (version, t, measured, when it converged)
        self.last: dict[int, tuple[int, float, bool, float]] = {}
        #: the key's copies now, from the directory (set by the engine: Database.copies)
        self.gather: Callable[[int], dict[str, tuple[int, float]]] = lambda key: {}
        #: the counted writes' convergence times, when positive, in the order counted
        #: (summarized by report(), at once)
        self._times = array("d")
        self._zeros = 0  # counted writes with no older copy at all (converged at once)

    # -- from the database --------------------------------------------------------------

    def write(self, key: int, version: int, t: float, copies: dict[str, tuple[int, float]] | None) -> None:
        """A write of ``version`` at ``t``; ``copies`` are the key's copies now (None:
        the key is tracked, its copies known)."""
        measured = t >= self.measure_from_s
        k = self.keys.get(key)
        if k is None:
            prev = self.last.pop(key, None)
            if prev is not None and prev[2]:
                if prev[3] > prev[1]:
                    self._times.append(prev[3] - prev[1])
                else:  # converged at once
                    self._zeros += 1
            if not copies:  # nothing to converge: done at once
                self.last[key] = (version, t, measured, t)
                return
            k = (copies, [[version, t, t, False, measured]])
            self.keys[key] = k
            for v, expires in copies.values():
                if v < version and expires > t:
                    return  # the common case: an older copy can be served, the write is open
        else:
            k[1].append([version, t, t, False, measured])
        self._settle(k, t)
        self._retire(key, k)

    def _retire(self, key: int, k: tuple) -> None:
        """Count the converged writes but the latest; a key whose writes have all
        converged goes back to one tuple (the latest, which a stale set may reopen)."""
        w = k[1]
        while len(w) > 1 and w[0][_CONV]:
            self._final(w.pop(0))
        if w[0][_CONV]:
            last = w[0]
            del self.keys[key]
            self.last[key] = (last[_V], last[_T], last[_MEAS], last[_TMAX])

    def older_copy(self, node: str, key: int, version: int, t: float, expires: float) -> None:
        """``node`` stored ``version`` of an untracked key at ``t``, older than the
        database's: the key's latest write (converged) is reopened."""
        prev = self.last.pop(key, None)
        if prev is None:
            return
        copies = self.gather(key)  # this node's new copy among them
        copies[node] = (version, expires)
        self.keys[key] = (copies, [[prev[0], prev[1], prev[3], False, prev[2]]])

    # -- from the nodes -----------------------------------------------------------------

    def added(self, node: str, key: int, version: int, t: float, expires: float) -> None:
        """``node`` stored ``version`` of a tracked key at ``t`` (a fill or an update)."""
        k = self.keys[key]
        copies, writes = k
        replaced = node in copies
        if replaced:
            self._gone(k, node, t)
        copies[node] = (version, expires)
        if version < writes[-1][_V]:
            for w in writes:
                if w[_V] > version and w[_CONV]:
                    w[_CONV] = False  # a stale set: an older version is servable again
        if replaced:  # (a copy added never makes a write converge; one removed may)
            self._settle(k, t)
            if writes[0][_CONV]:
                self._retire(key, k)

    def removed(self, node: str, key: int, t: float) -> None:
        """``node``'s copy of a tracked key is gone as of ``t``."""
        k = self.keys[key]
        copies, writes = k
        if node not in copies:
            return
        if len(copies) == 1 and len(writes) == 1:
            # the common case, the steps of _gone, _settle and _retire without the calls:
            # the key's last copy goes and its one write converges (if it had not already)
            version, expires = copies[node]
            w = writes[0]
            tmax = w[_TMAX]
            if not w[_CONV]:
                end = t if t < expires else expires
                if w[_V] > version and end > tmax:
                    tmax = end
            del self.keys[key]
            self.last[key] = (w[_V], w[_T], w[_MEAS], tmax)
        else:
            self._gone(k, node, t)
            self._settle(k, t)
            if writes[0][_CONV]:
                self._retire(key, k)

    @staticmethod
    def _gone(k: tuple, node: str, t: float) -> None:
        version, expires = k[0].pop(node)
        end = min(t, expires)  # an expired copy could not be served after it expired
        for w in k[1]:
            if w[_V] > version and not w[_CONV] and end > w[_TMAX]:
                w[_TMAX] = end

    @staticmethod
    def _settle(k: tuple, now: float) -> None:
        """Mark converged the writes no older copy can be served for any more."""
        copies = k[0]
        for w in k[1]:
            if w[_CONV]:
                continue
            last = w[_TMAX]
            for version, expires in copies.values():
                if version < w[_V]:
                    if expires > now:
                        break
                    last = max(last, expires)
            else:
                w[_TMAX] = last
                w[_CONV] = True

    def _final(self, w: list) -> None:
        if w[_MEAS]:
            d = w[_TMAX] - w[_T]
            if d > 0.0:
                self._times.append(d)
            else:
                self._zeros += 1

    # -- results ------------------------------------------------------------------------

    def report(self, now: float) -> dict:
        """The measured writes so far: converged (with their times) and unconverged,
        as of ``now``; does not change the tracker."""
        times = list(self._times)
        zeros = self._zeros
        unconverged = 0
        for _, t, measured, tconv in self.last.values():
            if measured:
                if tconv > t:
                    times.append(tconv - t)
                else:
                    zeros += 1
        for copies, writes in self.keys.values():
            for w in writes:
                if not w[_MEAS]:
                    continue
                done, last = w[_CONV], w[_TMAX]
                if not done:
                    done = True
                    for version, expires in copies.values():
                        if version < w[_V]:
                            if expires > now:
                                done = False
                                break
                            last = max(last, expires)
                if done:
                    if last > w[_T]:
                        times.append(last - w[_T])
                    else:
                        zeros += 1
                else:
                    unconverged += 1
        return _summarize(times, zeros, unconverged)


def _summarize(times: list[float], zeros: int, unconverged: int) -> dict:
    """Convergence counts from the positive convergence times (in the order the writes
    converged) and the number converged at once: the shares within each threshold,
    a histogram in the latency buckets of cachesim.metrics, the mean and the max."""
    d = np.asarray(times, dtype=float)
    converged = len(d) + zeros
    band = np.bincount(np.searchsorted(_WITHIN_EPS, d, side="left"), minlength=len(WITHIN_S) + 1).tolist()
    band[0] += zeros
    within = [sum(band[: i + 1]) for i in range(len(WITHIN_S))]
    counts = np.zeros(N_BUCKETS, dtype=np.int64)
    if len(d):
        ms = d * 1000.0
        with np.errstate(divide="ignore"):
            x = (np.log2(ms) - LOG2_MIN) * INV_LOG2_G
        b = np.floor(x)
        # numpy's log2 may differ from math.log2 in the last bits: where that could move
        # a value across a bucket edge, take the bucket as metrics.bucket_index does
        for i in np.flatnonzero(np.abs(x - np.rint(x)) < 1e-6):
            b[i] = math.floor((math.log2(ms[i]) - LOG2_MIN) * INV_LOG2_G) if ms[i] > MIN_MS else 0.0
        idx = np.minimum(b.astype(np.int64) + 1, N_BUCKETS - 1)
        idx[ms <= MIN_MS] = 0
        counts += np.bincount(idx, minlength=N_BUCKETS)
        total_s, max_s = float(np.cumsum(d)[-1]), float(d.max())  # (cumsum: added in order, like a loop)
    else:
        total_s = max_s = 0.0
    counts[0] += zeros
    return {
        "converged": converged,
        "unconverged": unconverged,
        "within": within,
        "counts": counts,
        "mean_s": total_s / converged if converged else math.nan,
        "max_s": max_s if converged else math.nan,
    }


def nines(share: float | None) -> float | None:
    """The "nines" of a share: 0.999 -> 3.0; 1.0 -> inf is capped at 9."""
    if share is None:
        return None
    if share >= 1.0 - 1e-9:
        return 9.0
    return round(-math.log10(1.0 - share), 2) + 0.0  # (+ 0.0: never -0.0)
