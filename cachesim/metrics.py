"""Measurement primitives: the latency buckets, snapshots, the event log.

Memory is bounded by the number of snapshots, never by the number of requests: the
latency distribution lives in fixed log-spaced buckets (counted by the observer, which
inlines :func:`bucket_of` on its hot path; :func:`quantiles_from_counts` reads them),
events in a bounded deque.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from itertools import islice

import numpy as np

from .derived import WINDOW_RATES, window_rates, window_row_rates
from .events import Event, EventKind, TargetKind

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
    """The bucket index of a latency: the definition the observer's hot path inlines
    (``Observer.completed_request``; a test holds the two equal)."""
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


class EventLog:
    """The run's events, the most recent ``maxlen`` kept; ``dropped`` counts the rest."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._events: deque[Event] = deque(maxlen=maxlen)
        self.total = 0

    def add(
        self,
        t: float,
        kind: str,
        source: str,
        message: str,
        target: str = "",
        *,
        target_kind: TargetKind | None = None,
        ends_at: float | None = None,
    ) -> Event:
        """Log an event (``target_kind``, unless given, is what ``target`` names for ``kind``)."""
        ev = Event(
            round(t, 9),
            EventKind(kind),
            source,
            message,
            target,
            target_kind or TargetKind.NONE,
            None if ends_at is None else round(ends_at, 9),
        )
        self._events.append(ev)
        self.total += 1
        return ev

    @property
    def maxlen(self) -> int:
        """How many events are kept at most."""
        return self._events.maxlen or 0

    @property
    def dropped(self) -> int:
        return self.total - len(self._events)

    def at(self, seq: int) -> Event:
        """The event with sequence number ``seq``; IndexError when it is not kept. Fast for
        the newest and the oldest events (a deque is indexed from its nearer end)."""
        i = seq - self.dropped
        if not 0 <= i < len(self._events):
            raise IndexError(seq)
        return self._events[i]

    def between(self, start: int, end: int) -> list[Event]:
        """Events with sequence numbers in [start, end) (those still kept)."""
        first = self.total - len(self._events)
        a, b = max(0, start - first), max(0, end - first)
        return list(islice(self._events, a, b))

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
    up: bool  # the process is alive
    routed: bool  # the balancer currently sends it traffic
    slow_factor: float
    partitioned: bool
    requests: int
    hits: int
    misses: int
    occupancy: int
    capacity: int
    queue_len: int
    busy: int


#: One node's record in a :class:`NodeTable` (29 bytes: per-window counts fit in 32 bits,
#: as the config bounds the requests of one window).
NODE_DTYPE = np.dtype(
    [
        ("up", "?"),
        ("routed", "?"),
        ("partitioned", "?"),
        ("slow_factor", "f4"),
        ("requests", "i4"),
        ("hits", "i4"),
        ("misses", "i4"),
        ("occupancy", "i4"),
        ("queue_len", "i4"),
        ("busy", "i4"),
    ]
)


class NodeTable:
    """Every cache node at the end of one snapshot window, as one numpy record array
    (``data``, one row per node, fields :data:`NODE_DTYPE`); iterating it gives
    :class:`NodeSnapshot` records. Compact: a 256-node table is 7.4 KB."""

    __slots__ = ("names", "capacity", "data")

    def __init__(self, names: tuple[str, ...], capacity: int, data: np.ndarray) -> None:
        self.names = names
        self.capacity = capacity
        self.data = data

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> NodeSnapshot:
        r = self.data[i]
        return NodeSnapshot(
            self.names[i],
            bool(r["up"]),
            bool(r["routed"]),
            float(r["slow_factor"]),
            bool(r["partitioned"]),
            int(r["requests"]),
            int(r["hits"]),
            int(r["misses"]),
            int(r["occupancy"]),
            self.capacity,
            int(r["queue_len"]),
            int(r["busy"]),
        )

    def __iter__(self):
        return (self[i] for i in range(len(self.names)))

    def column(self, name: str) -> np.ndarray:
        """One field for every node (``name`` and ``capacity`` included)."""
        if name == "name":
            return np.asarray(self.names, dtype=object)
        if name == "capacity":
            return np.full(len(self.names), self.capacity, dtype=np.int64)
        return self.data[name]


NO_NODES = NodeTable((), 0, np.zeros(0, dtype=NODE_DTYPE))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The system over one window ``(t - interval_s, t]``; counts are per window,
    ``total_*`` and ``in_flight`` cumulative, so ``total_issued == total_completed +
    total_failed + in_flight`` always holds. A request is in flight until its client has
    the answer or gives up, and counted as completed in the window its answer arrives
    in, so ``mean(in_flight) == throughput x mean latency`` (Little's law).
    ``failure_ratio`` is failed / (completed + failed) in the window: latencies describe
    the completed requests only, so read the two side by side."""

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
    updates_sent: int
    updates_lost: int
    hit_ratio: float
    failure_ratio: float
    throughput_rps: float
    latency_mean_ms: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    total_issued: int
    total_completed: int
    total_failed: int
    in_flight: int
    # the mechanisms of issue 13 (see agents/consistency.py, agents/leases.py, agents/gutter.py)
    stale_sets: int = 0  # fills that stored a version the database had already superseded
    lease_waits: int = 0  # misses told to wait and retry: another lookup holds the key's lease
    lease_refused_fills: int = 0  # fills refused: their lease was voided by an invalidation
    gutter_requests: int = 0  # reads retried at the gutter pool
    nodes: NodeTable = field(default=NO_NODES)
    events: tuple[Event, ...] = field(default=())
    #: bytes of the objects looked up that hit / missed (the counts, when objects have
    #: no sizes), and hit_bytes / (hit_bytes + miss_bytes)
    hit_bytes: int = 0
    miss_bytes: int = 0
    byte_hit_ratio: float = math.nan

    @property
    def nodes_up(self) -> int:
        return int(self.nodes.data["up"].sum())

    def row(self) -> dict[str, float | int]:
        """The scalar fields as one flat record (a timeseries row)."""
        return {name: getattr(self, name) for name in SNAPSHOT_COLUMNS if name != "nodes_up"} | {
            "nodes_up": self.nodes_up
        }


SNAPSHOT_COLUMNS = tuple(name for name in Snapshot.__dataclass_fields__ if name not in ("nodes", "events")) + (
    "nodes_up",
)
NODE_COLUMNS = ("t",) + tuple(NodeSnapshot.__dataclass_fields__)
#: A run's timeseries: the snapshot's columns, then the rates derived from its counts
#: that a Snapshot does not carry (see :func:`cachesim.derived.window_rates`).
TIMESERIES_COLUMNS = SNAPSHOT_COLUMNS + tuple(c for c in WINDOW_RATES if c not in SNAPSHOT_COLUMNS)

#: The columns a :class:`SnapshotLog` stores; the rest of a Snapshot is derived from them.
_STORED_INT = (
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
    "total_issued",
    "total_completed",
    "total_failed",
    "in_flight",
    "nodes_up",
    "events_end",
)
_STORED_FLOAT = ("t", "latency_mean_ms", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms")


class SnapshotLog:
    """The run's snapshots, kept as columns (about 200 bytes plus 29 per node each,
    against 1.5 KB or more as objects), so a long run's memory stays small. Indexing
    gives back the :class:`Snapshot`; :meth:`columns` gives every timeseries column as
    numpy arrays (views, no copy) and :meth:`node_columns` the per-node ones."""

    def __init__(self, names: tuple[str, ...], capacity: int, events: EventLog) -> None:
        self._names = names
        self._capacity = capacity
        self._events = events
        self._n = 0
        self._int = np.zeros((len(_STORED_INT), 16), dtype=np.int64)
        self._float = np.zeros((len(_STORED_FLOAT), 16), dtype=np.float64)
        self._nodes = np.zeros((16, len(names)), dtype=NODE_DTYPE)

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """The memory its columns hold (allocated, grown by doubling)."""
        return self._int.nbytes + self._float.nbytes + self._nodes.nbytes

    def append(self, snap: Snapshot) -> None:
        n = self._n
        if n == self._int.shape[1]:
            self._int = _grow(self._int, 1)
            self._float = _grow(self._float, 1)
            self._nodes = _grow(self._nodes, 0)
        for i, c in enumerate(_STORED_INT[:-2]):
            self._int[i, n] = getattr(snap, c)
        self._int[-2, n] = snap.nodes_up
        self._int[-1, n] = self._events.total
        for i, c in enumerate(_STORED_FLOAT):
            self._float[i, n] = getattr(snap, c)
        self._nodes[n] = snap.nodes.data
        self._n = n + 1

    def columns(self, n: int | None = None) -> dict[str, np.ndarray]:
        """Every :data:`TIMESERIES_COLUMNS` column of the first ``n`` snapshots (all)."""
        n = self._n if n is None else n
        cols = {c: self._int[i, :n] for i, c in enumerate(_STORED_INT[:-1])}
        cols |= {c: self._float[i, :n] for i, c in enumerate(_STORED_FLOAT)}
        cols["interval_s"] = np.diff(cols["t"], prepend=0.0).round(9)
        cols |= window_rates(cols)
        return {c: cols[c] for c in TIMESERIES_COLUMNS}

    def node_columns(self, n: int | None = None) -> dict[str, np.ndarray]:
        """:data:`NODE_COLUMNS`, one row per (snapshot, node), of the first ``n`` snapshots."""
        n = self._n if n is None else n
        k = len(self._names)
        data = self._nodes[:n].reshape(-1)
        cols: dict[str, np.ndarray] = {
            "t": np.repeat(self._float[0, :n], k),
            "name": np.tile(np.asarray(self._names, dtype=object), n),
        }
        for c in NODE_COLUMNS[2:]:
            cols[c] = np.full(n * k, self._capacity, dtype=np.int64) if c == "capacity" else data[c]
        return cols

    def __getitem__(self, i: int) -> Snapshot:
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        row: dict = {c: int(self._int[k, i]) for k, c in enumerate(_STORED_INT[:-2])}
        row |= {c: float(self._float[k, i]) for k, c in enumerate(_STORED_FLOAT)}
        t, prev = row["t"], float(self._float[0, i - 1]) if i else 0.0
        row["interval_s"] = round(t - prev, 9)
        row |= {c: v for c, v in window_row_rates(row).items() if c in Snapshot.__dataclass_fields__}
        start = int(self._int[-1, i - 1]) if i else 0
        events = tuple(self._events.between(start, int(self._int[-1, i])))
        return Snapshot(**row, nodes=NodeTable(self._names, self._capacity, self._nodes[i].copy()), events=events)

    def __iter__(self):
        return (self[i] for i in range(self._n))


def _grow(a: np.ndarray, axis: int) -> np.ndarray:
    shape = list(a.shape)
    shape[axis] *= 2
    out = np.zeros(shape, dtype=a.dtype)
    out[tuple(slice(0, s) for s in a.shape)] = a
    return out
