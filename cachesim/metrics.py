"""Measurement primitives: the streaming latency histogram, snapshots, the event log.

Memory is bounded by the number of snapshots, never by the number of requests: the
latency distribution lives in fixed log-spaced buckets, events in a bounded deque.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

#: Bucket growth factor. Reporting the bucket's geometric-harmonic midpoint keeps the
#: relative error of any quantile at most (G - 1) / (G + 1) < 1%.
GROWTH = 1.02
_LOG_G = math.log(GROWTH)
MIN_MS = 1e-3  # everything below 1 microsecond shares bucket 0
MAX_MS = 1e7
N_BUCKETS = int(math.ceil(math.log(MAX_MS / MIN_MS) / _LOG_G)) + 2
#: Representative value of each bucket: 2 G^i / (G + 1) * MIN_MS, the point whose
#: relative distance to both bucket edges is equal.
_EDGES = MIN_MS * GROWTH ** np.arange(N_BUCKETS + 1, dtype=float)
BUCKET_VALUES = np.concatenate(([MIN_MS / 2], 2 * _EDGES[1:N_BUCKETS] / (GROWTH + 1)))


#: ``bucket_of`` in base 2 and with ``math.floor``: several times faster than
#: ``int(math.log(x) / log(G))`` (``math.log`` and ``int()`` take slow generic paths).
LOG2_MIN = math.log2(MIN_MS)
INV_LOG2_G = 1.0 / math.log2(GROWTH)


def bucket_of(latency_ms: float) -> int:
    """The bucket index of a latency (the observer's hot path inlines this)."""
    if latency_ms <= MIN_MS:
        return 0
    i = math.floor((math.log2(latency_ms) - LOG2_MIN) * INV_LOG2_G) + 1
    return i if i < N_BUCKETS else N_BUCKETS - 1


def bucket_edges() -> np.ndarray:
    """Lower edge of every bucket (bucket 0 starts at 0)."""
    edges = MIN_MS * GROWTH ** np.arange(-1, N_BUCKETS - 1, dtype=float)
    edges[0] = 0.0
    return edges


def quantiles_from_counts(counts: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Quantiles (0..1) of a bucketed distribution; NaN when it is empty."""
    total = counts.sum()
    if total <= 0:
        return [math.nan] * len(qs)
    cum = np.cumsum(counts)
    out = []
    for q in qs:
        rank = max(1.0, math.ceil(q * total))
        idx = int(np.searchsorted(cum, rank, side="left"))
        out.append(float(BUCKET_VALUES[min(idx, N_BUCKETS - 1)]))
    return out


class LatencyHistogram:
    """Log-bucketed latency counts with an exact sum; O(1) memory in the request count."""

    __slots__ = ("counts", "total", "sum_ms", "max_ms")

    def __init__(self) -> None:
        self.counts = [0] * N_BUCKETS
        self.total = 0
        self.sum_ms = 0.0
        self.max_ms = 0.0

    def add(self, latency_ms: float) -> None:
        self.counts[bucket_of(latency_ms)] += 1
        self.total += 1
        self.sum_ms += latency_ms
        if latency_ms > self.max_ms:
            self.max_ms = latency_ms

    def array(self) -> np.ndarray:
        return np.asarray(self.counts, dtype=np.int64)

    def mean(self) -> float:
        return self.sum_ms / self.total if self.total else math.nan

    def quantiles(self, qs: tuple[float, ...] = (0.5, 0.95, 0.99)) -> list[float]:
        return quantiles_from_counts(self.array(), qs)


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened: a chaos action, a detection, an anomaly."""

    t: float
    kind: str
    source: str
    message: str
    target: str = ""


class EventLog:
    """The run's events, the most recent ``maxlen`` kept; ``dropped`` counts the rest."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._events: deque[Event] = deque(maxlen=maxlen)
        self.total = 0

    def add(self, t: float, kind: str, source: str, message: str, target: str = "") -> Event:
        ev = Event(round(t, 9), kind, source, message, target)
        self._events.append(ev)
        self.total += 1
        return ev

    @property
    def dropped(self) -> int:
        return self.total - len(self._events)

    def since(self, index: int) -> list[Event]:
        """Events with sequence number >= index (those still kept)."""
        first = self.total - len(self._events)
        start = max(0, index - first)
        return list(self._events)[start:]

    def __iter__(self):
        return iter(self._events)

    def __len__(self) -> int:
        return len(self._events)


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """One cache node at the end of a snapshot window (counts are per window)."""

    name: str
    up: bool          # the process is alive
    routed: bool      # the balancer currently sends it traffic
    slow_factor: float
    partitioned: bool
    requests: int
    hits: int
    misses: int
    occupancy: int
    capacity: int
    queue_len: int
    busy: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The system over one window ``(t - interval_s, t]``; counts are per window,
    ``total_*`` and ``in_flight`` cumulative, so ``total_issued == total_completed +
    total_failed + in_flight`` always holds."""

    t: float
    interval_s: float
    issued: int
    completed: int
    failed: int
    timeouts: int
    retries: int
    hits: int
    misses: int
    stale_reads: int
    db_reads: int
    db_writes: int
    invalidations_sent: int
    invalidations_lost: int
    hit_ratio: float
    throughput_rps: float
    latency_mean_ms: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    total_issued: int
    total_completed: int
    total_failed: int
    in_flight: int
    nodes: tuple[NodeSnapshot, ...] = field(default=())
    events: tuple[Event, ...] = field(default=())

    @property
    def nodes_up(self) -> int:
        return sum(n.up for n in self.nodes)

    def row(self) -> dict[str, float | int]:
        """The scalar fields as one flat record (a timeseries row)."""
        return {name: getattr(self, name) for name in SNAPSHOT_COLUMNS if name != "nodes_up"} | {
            "nodes_up": self.nodes_up
        }


SNAPSHOT_COLUMNS = tuple(
    name for name in Snapshot.__dataclass_fields__ if name not in ("nodes", "events")
) + ("nodes_up",)
NODE_COLUMNS = ("t",) + tuple(NodeSnapshot.__dataclass_fields__)
