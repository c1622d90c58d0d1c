"""The observer: counters every agent increments, and a snapshot every interval.

Counters are plain integers on one object (the cheapest thing to bump on the hot
path); a snapshot takes the differences since the last one. Latencies go into
log-bucketed counts, never into a list.
"""

from __future__ import annotations

import math
from heapq import heappop, heappush

import numpy as np

from ..derived import window_row_rates
from ..events import EventKind
from ..hotkeys import Recorder
from ..metrics import (
    INV_LOG2_G,
    LOG2_MIN,
    MIN_MS,
    N_BUCKETS,
    EventLog,
    NodeTable,
    Snapshot,
    quantiles_from_counts,
)

_floor = math.floor
_log2 = math.log2

#: Counters that a snapshot reports per window.
WINDOW_COUNTERS = (
    "issued",
    "completed",
    "failed",
    "timeouts",
    "retries",
    "hits",
    "misses",
    "stale_reads",
    "db_reads",
    "db_writes",
    "invalidations_sent",
    "invalidations_lost",
    "updates_sent",
    "updates_lost",
    "stale_sets",
    "lease_waits",
    "lease_refused_fills",
    "gutter_requests",
    "hit_bytes",
    "miss_bytes",
)


class Observer:
    """Counts what happens and turns it into :class:`Snapshot` records."""

    #: Slots (CPython 3.11 keeps at most 29 attributes of an instance in its fast inline
    #: layout; the observer has more, and the nodes and clients bump its counters per
    #: request). ``__dict__`` keeps other attributes settable.
    __slots__ = (
        *WINDOW_COUNTERS,
        "_anomalous",
        "_event_index",
        "_hr_ewma",
        "_prev",
        "_prev_t",
        "_w_counts",
        "_w_sum_ms",
        "at_warmup",
        "counts_bytes",
        "events",
        "failed_time_s",
        "failed_unavailable",
        "horizon",
        "hot",
        "late",
        "m_counts",
        "m_failed",
        "m_issued",
        "m_max_ms",
        "m_sum_ms",
        "measure_from_s",
        "run_counts",
        "__dict__",
    )

    def __init__(self, measure_from_s: float, events: EventLog) -> None:
        self.events = events
        self.measure_from_s = measure_from_s
        #: hot-key buffers and sketches (a cachesim.hotkeys.Recorder, set by the engine)
        self.hot: Recorder | None = None
        for name in WINDOW_COUNTERS:
            setattr(self, name, 0)
        #: Whether the nodes count hit_bytes/miss_bytes (a sized run); otherwise every
        #: object is 1 byte and the byte counts are the hit and miss counts.
        self.counts_bytes = False
        self.failed_unavailable = 0
        self.failed_time_s = 0.0  # the time the failed requests spent in the system
        # requests issued at or after warm-up ("measured"): their outcomes
        self.m_issued = 0
        self.m_failed = 0
        self.m_counts = [0] * N_BUCKETS
        self.m_sum_ms = 0.0
        self.m_max_ms = 0.0
        # the current window's latencies
        self._w_counts = [0] * N_BUCKETS
        self._w_sum_ms = 0.0
        self.run_counts = np.zeros(N_BUCKETS, dtype=np.int64)
        #: Completions recorded before their answer arrives, whose arrival falls after
        #: the current window (``horizon``): (arrival, t0, measured). They are in flight
        #: until then, and counted in the window of their arrival.
        self.late: list[tuple[float, float, bool]] = []
        self.horizon = math.inf
        self._prev = {name: 0 for name in WINDOW_COUNTERS}
        self._prev_t = 0.0
        self._event_index = 0
        self.at_warmup: dict[str, int] | None = None if measure_from_s > 0 else self.counters()
        # anomaly detection state
        self._hr_ewma = math.nan
        self._anomalous = False

    # -- hot path -----------------------------------------------------------------------

    def completed_request(self, t0: float, arrival: float, measured: bool) -> None:
        """A request's answer arrives at ``arrival`` (now or soon: see Clients.answer)."""
        if arrival > self.horizon:
            heappush(self.late, (arrival, t0, measured))
            return
        lat = (arrival - t0) * 1000.0
        if lat <= MIN_MS:
            b = 0
        else:
            b = _floor((_log2(lat) - LOG2_MIN) * INV_LOG2_G) + 1  # metrics.bucket_of, inlined
            if b >= N_BUCKETS:
                b = N_BUCKETS - 1
        self.completed += 1
        self._w_counts[b] += 1
        self._w_sum_ms += lat
        if measured:
            self.m_counts[b] += 1
            self.m_sum_ms += lat
            if lat > self.m_max_ms:
                self.m_max_ms = lat

    @property
    def m_completed(self) -> int:
        """Measured requests completed (each is in ``m_counts`` once)."""
        return sum(self.m_counts)

    def failed_request(self, measured: bool, unavailable: bool, duration_s: float) -> None:
        """A request failed after ``duration_s`` in the system."""
        self.failed += 1
        self.failed_time_s += duration_s
        if unavailable:
            self.failed_unavailable += 1
        if measured:
            self.m_failed += 1

    # -- snapshots ----------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        c = {name: getattr(self, name) for name in WINDOW_COUNTERS}
        if not self.counts_bytes:
            c["hit_bytes"], c["miss_bytes"] = c["hits"], c["misses"]
        return c

    def mark_warmup(self) -> None:
        self.at_warmup = self.counters()

    def settle(self, t: float) -> int:
        """Count the late completions that have arrived by ``t``; return how many are
        still on their way (in flight)."""
        late = self.late
        while late and late[0][0] <= t:
            arrival, t0, measured = heappop(late)
            horizon, self.horizon = self.horizon, math.inf
            self.completed_request(t0, arrival, measured)
            self.horizon = horizon
        return len(late)

    def snapshot(self, t: float, in_flight: int, nodes: NodeTable) -> Snapshot:
        in_flight += self.settle(t)
        now = self.counters()
        win = {k: now[k] - self._prev[k] for k in WINDOW_COUNTERS}
        interval = round(t - self._prev_t, 9)
        counts = np.asarray(self._w_counts, dtype=np.int64)
        p50, p95, p99 = quantiles_from_counts(counts, (0.5, 0.95, 0.99))
        mean = self._w_sum_ms / win["completed"] if win["completed"] else math.nan
        self.run_counts += counts
        rates = window_row_rates(win | {"interval_s": interval})
        new_events = tuple(self.events.since(self._event_index))
        self._event_index = self.events.total
        snap = Snapshot(
            t=round(t, 9),
            interval_s=interval,
            **win,
            hit_ratio=rates["hit_ratio"],
            failure_ratio=rates["failure_ratio"],
            throughput_rps=rates["throughput_rps"],
            latency_mean_ms=mean,
            latency_p50_ms=p50,
            latency_p95_ms=p95,
            latency_p99_ms=p99,
            total_issued=now["issued"],
            total_completed=now["completed"],
            total_failed=now["failed"],
            in_flight=in_flight,
            nodes=nodes,
            events=new_events,
            byte_hit_ratio=rates["byte_hit_ratio"],
        )
        self._prev = now
        self._prev_t = t
        self._w_counts = [0] * N_BUCKETS
        self._w_sum_ms = 0.0
        return snap

    @property
    def events_end(self) -> int:
        """The sequence number after the last event the latest snapshot carries (events
        logged since, such as an anomaly found in that snapshot, go in the next one)."""
        return self._event_index

    def check_anomaly(self, snap: Snapshot) -> None:
        """Log when the window hit ratio falls well below its recent average, and when
        it recovers (once each, not every window)."""
        hr = snap.hit_ratio
        if math.isnan(hr):
            return
        if math.isnan(self._hr_ewma):
            self._hr_ewma = hr
            return
        drop = self._hr_ewma - hr
        if not self._anomalous and drop > 0.12:
            self._anomalous = True
            self.events.add(
                snap.t,
                EventKind.ANOMALY,
                "observer",
                f"hit ratio fell to {hr:.2f} from a recent average of {self._hr_ewma:.2f}",
            )
        elif self._anomalous and drop < 0.05:
            self._anomalous = False
            self.events.add(snap.t, EventKind.RECOVERED, "observer", f"hit ratio back to {hr:.2f}")
        if not self._anomalous:
            self._hr_ewma = 0.8 * self._hr_ewma + 0.2 * hr
