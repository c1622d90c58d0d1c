"""RunResult: a finished (or stopped, or running) run as plain data and DataFrames.

Holds the config, the summary, one row per snapshot, per-node rows, the events and
the latency histogram; ``save(dir)`` writes them as TOML/JSON/CSV and
``RunResult.load(dir)`` gives back equal data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from . import events as event_vocabulary
from .config import SimConfig
from .derived import WINDOW_RATES, window_rates
from .derived import num as _num
from .derived import ratio as _ratio
from .hotkeys import FILES as HOT_FILES
from .hotkeys import HOT_KEY_COLUMNS, MOVED_COLUMNS, HotKeySummary, home_router, load_frames, save_frames
from .metrics import (
    BUCKET_VALUES,
    GROWTH,
    NODE_COLUMNS,
    TIMESERIES_COLUMNS,
    Event,
    SnapshotLog,
    bucket_edges,
    quantiles_from_counts,
)

if TYPE_CHECKING:
    from .engine import Simulation

T = TypeVar("T")

#: The summary keys DESIGN.md promises (more may follow them).
SUMMARY_KEYS = (
    "issued",
    "completed",
    "failed",
    "in_flight",
    "hits",
    "misses",
    "hit_ratio",
    "stale_reads",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "throughput_rps",
    "db_reads",
    "db_writes",
)
EVENT_COLUMNS = event_vocabulary.COLUMNS  # t, kind, source, target, message, target_kind, ends_at
DB_COLUMNS = ("t", "queue_len", "busy")
NODE_TABLE_COLUMNS = (
    "node",
    "up",
    "routed",
    "slow_factor",
    "requests",
    "hits",
    "misses",
    "hit_ratio",
    "dropped",
    "rejected",
    "evictions",
    "invalidated",
    "occupancy",
    "capacity",
    "outstanding",
)


@dataclass(frozen=True)
class RunRecord:
    """What the engine emits at the end of a run (or mid-run): everything a
    :class:`RunResult` is built from, as plain data, so results never reach into agents."""

    config: SimConfig
    status: str
    sim_time_s: float
    snapshots: SnapshotLog
    events: list[Event]
    counters: dict[str, int]  # the observer's cumulative counters now
    at_warmup: dict[str, int] | None  # and when warm-up ended (None: not yet)
    m_issued: int  # requests issued after warm-up ...
    m_failed: int  # ... failed,
    m_counts: np.ndarray  # ... and completed, by latency bucket
    m_sum_ms: float
    m_max_ms: float
    node_totals: list[tuple]  # NODE_TABLE_COLUMNS, one tuple per node
    hot_keys: HotKeySummary | None = None  # heavy-hitter sketches (cachesim.hotkeys)
    db_samples: list[tuple[float, int, int]] | None = None  # DB_COLUMNS at each snapshot
    stale_time_s: float = 0.0  # time entries spent stale after a stale set (after warm-up)
    convergence: dict | None = None  # Convergence.report(): the measured writes' convergence


@dataclass
class RunResult:
    """``_node_timeseries`` may be a callable that builds the frame: the per-node rows of
    a long run on many nodes are the largest thing a result holds, so they are made
    when first asked for (from the engine's compact columns), not before."""

    config: SimConfig
    summary: dict[str, Any]
    status: str
    sim_time_s: float
    _timeseries: pd.DataFrame
    _node_timeseries: pd.DataFrame | Callable[[], pd.DataFrame]
    _nodes: pd.DataFrame
    _events: pd.DataFrame
    _latency: pd.DataFrame
    _hot: HotKeySummary | None = None
    _db: pd.DataFrame | None = None
    _memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def cached(self, name: str, build: Callable[[], T]) -> T:
        """A value derived from this result (the analyst's findings, its size), built on
        first use and kept with the result: a result does not change once made (a run
        that goes on gives a new one)."""
        if name not in self._memo:
            self._memo[name] = build()
        return self._memo[name]

    def nbytes(self) -> int:
        """About how much memory the result holds: its frames (the event log's strings
        included) and, while the node timeseries is not built, the columns it is built from."""
        total = 0
        if self._hot is not None:
            total += self._hot.nbytes
        if self._db is not None:
            total += int(self._db.memory_usage(index=True).sum())
        for name in ("_timeseries", "_node_timeseries", "_nodes", "_events", "_latency"):
            part = getattr(self, name)
            if isinstance(part, pd.DataFrame):
                total += int(part.memory_usage(index=True, deep=name == "_events").sum())
            else:
                total += int(getattr(part, "nbytes", 0))
        return total

    def _node_frame(self) -> pd.DataFrame:
        if callable(self._node_timeseries):
            self._node_timeseries = self._node_timeseries()
        return self._node_timeseries

    # -- views --------------------------------------------------------------------------

    def timeseries(self) -> pd.DataFrame:
        """One row per snapshot: window counts, ratios, latencies, cumulative totals."""
        return self._timeseries.copy()

    def node_timeseries(self) -> pd.DataFrame:
        """One row per (snapshot, node): up/routed state, window load, occupancy, queue."""
        return self._node_frame().copy()

    def nodes(self) -> pd.DataFrame:
        """One row per node, whole-run counts and the state at the end."""
        return self._nodes.copy()

    def events(self) -> pd.DataFrame:
        """The event log: t, kind, source, target, message, target_kind, ends_at (see
        :mod:`cachesim.events`)."""
        return self._events.copy()

    def hot_keys(self, node: str | None = None, by: str = "requests", top: int = 20) -> pd.DataFrame:
        """The ``top`` keys by ``requests`` (lookups: hits + misses) or by ``misses``, over
        the whole run (warm-up included, like :meth:`nodes`) or on one ``node``. Columns:
        key, requests, requests_error, misses, misses_error (each count is an upper bound,
        at most its error above the true count; errors are at most lookups / k, with
        k = 1,000 counters per sketch up to 16 nodes: see cachesim.hotkeys.sizes),
        hit_ratio (from those bounds), home (the key's node with every node up, under
        consistent hashing, else ""), owners (the nodes that surely served it),
        owner_changed (a node other than its home served it). See :mod:`cachesim.hotkeys`."""
        if self._hot is None:
            return pd.DataFrame(columns=list(HOT_KEY_COLUMNS))
        return self._hot.frame(node, by, top, home_router(self.config))

    def database_timeseries(self) -> pd.DataFrame:
        """The database at each snapshot's end: t, queue_len (requests waiting for a
        slot), busy (slots in use, of ``database.concurrency``)."""
        return (self._db if self._db is not None else pd.DataFrame(columns=list(DB_COLUMNS))).copy()

    def moved_misses(self) -> pd.DataFrame:
        """Under consistent hashing, per snapshot window in which the balancer routed
        around a node: t, node, home, misses -- the misses ``node`` served on keys whose
        home is another node (``home``), i.e. keys it inherited."""
        if self._hot is None:
            return pd.DataFrame(columns=list(MOVED_COLUMNS))
        return self._hot.moved_frame()

    def latency_histogram(self) -> pd.DataFrame:
        """Latency distribution of the measured requests: lower_ms, upper_ms, value_ms, count
        (non-empty buckets only)."""
        return self._latency.copy()

    # -- building -----------------------------------------------------------------------

    @classmethod
    def from_simulation(cls, sim: Simulation) -> RunResult:
        return cls.from_record(sim.record())

    @classmethod
    def from_record(cls, rec: RunRecord) -> RunResult:
        ts, node_ts = _snapshot_frames(rec.snapshots)
        nodes = pd.DataFrame(
            [
                (name, up, routed, slow, req, hits, misses, _ratio(hits, hits + misses), *rest)
                for name, up, routed, slow, req, hits, misses, *rest in rec.node_totals
            ],
            columns=list(NODE_TABLE_COLUMNS),
        )
        events = event_vocabulary.frame(rec.events)
        return cls(
            config=rec.config,
            summary=_summary(rec),
            status=rec.status,
            sim_time_s=rec.sim_time_s,
            _timeseries=ts,
            _node_timeseries=node_ts,
            _nodes=nodes,
            _events=events,
            _latency=_latency_frame(rec.m_counts),
            _hot=rec.hot_keys,
            _db=pd.DataFrame(rec.db_samples, columns=list(DB_COLUMNS)) if rec.db_samples is not None else None,
        )

    # -- persistence --------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.config.save(d / "config.toml")
        meta = {"status": self.status, "sim_time_s": self.sim_time_s}
        (d / "summary.json").write_text(json.dumps(self.summary, indent=2) + "\n", encoding="utf-8")
        (d / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        self._timeseries.to_csv(d / "timeseries.csv", index=False)
        self._node_frame().to_csv(d / "node_timeseries.csv", index=False)
        self._nodes.to_csv(d / "nodes.csv", index=False)
        self._events.to_csv(d / "events.csv", index=False)
        self._latency.to_csv(d / "latency_histogram.csv", index=False)
        if self._db is not None:
            self._db.to_csv(d / "database_timeseries.csv", index=False)
        if self._hot is not None:
            for name, frame in save_frames(self._hot).items():
                frame.to_csv(d / name, index=False)
        return d

    @classmethod
    def load(cls, directory: str | Path) -> RunResult:
        d = Path(directory)
        if not (d / "summary.json").is_file():
            raise FileNotFoundError(f"{d} holds no saved run (summary.json is missing)")
        meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        events = pd.read_csv(
            d / "events.csv",
            keep_default_na=False,
            dtype={"kind": str, "source": str, "target": str, "message": str, "target_kind": str},
        )
        events["t"] = events["t"].astype(float)
        events = event_vocabulary.complete(events)  # saved before target_kind and ends_at existed
        return cls(
            config=SimConfig.load(d / "config.toml"),
            summary=json.loads((d / "summary.json").read_text(encoding="utf-8")),
            status=meta["status"],
            sim_time_s=float(meta["sim_time_s"]),
            _timeseries=with_rates(pd.read_csv(d / "timeseries.csv")),
            _node_timeseries=pd.read_csv(d / "node_timeseries.csv", dtype={"name": str}),
            _nodes=pd.read_csv(d / "nodes.csv", dtype={"node": str}),
            _events=events,
            _latency=pd.read_csv(d / "latency_histogram.csv"),
            _hot=_load_hot(d),
            _db=pd.read_csv(d / "database_timeseries.csv") if (d / "database_timeseries.csv").is_file() else None,
        )


def _snapshot_frames(snaps: SnapshotLog) -> tuple[pd.DataFrame, Callable[[], pd.DataFrame]]:
    """(timeseries, a builder of the node timeseries) from the engine's columns, handed
    to pandas without a copy where they can be."""
    n = len(snaps)  # once: the run may append meanwhile
    if not n:
        return (pd.DataFrame(columns=list(TIMESERIES_COLUMNS)), lambda: pd.DataFrame(columns=list(NODE_COLUMNS)))
    ts = pd.DataFrame(snaps.columns(n), columns=list(TIMESERIES_COLUMNS), copy=False)
    return ts, _NodeFrameBuilder(snaps, n)


class _NodeFrameBuilder:
    """Builds the node timeseries of the first ``n`` snapshots when first asked for;
    until then the result holds the engine's columns (``nbytes`` of them)."""

    def __init__(self, snaps: SnapshotLog, n: int) -> None:
        self._snaps, self._n = snaps, n

    @property
    def nbytes(self) -> int:
        return self._snaps.nbytes

    def __call__(self) -> pd.DataFrame:
        return pd.DataFrame(self._snaps.node_columns(self._n), columns=list(NODE_COLUMNS), copy=False)


def with_rates(ts: pd.DataFrame) -> pd.DataFrame:
    """A saved timeseries with the rates of :data:`TIMESERIES_COLUMNS` it lacks (a run
    saved before they were columns) made from its counts."""
    missing = [c for c in WINDOW_RATES if c not in ts]
    if not missing or not {"interval_s", "hits", "misses", "completed", "failed"} <= set(ts):
        return ts
    full = ts.assign(**{c: ts.get(c, 0) for c in ("hit_bytes", "miss_bytes", "db_reads", "db_writes")})
    rates = window_rates(full)
    return ts.assign(**{c: rates[c] for c in missing})


def _load_hot(d: Path) -> HotKeySummary | None:
    frames = {
        name: pd.read_csv(d / name, dtype={"node": str, "kind": str, "home": str})
        for name in HOT_FILES
        if (d / name).is_file()
    }
    return load_frames(SimConfig.load(d / "config.toml"), frames)


def _latency_frame(counts: np.ndarray) -> pd.DataFrame:
    idx = np.flatnonzero(counts)
    lower = bucket_edges()
    return pd.DataFrame(
        {
            "lower_ms": lower[idx],
            "upper_ms": np.where(idx == 0, lower[1], lower[idx] * GROWTH),
            "value_ms": BUCKET_VALUES[idx],
            "count": counts[idx],
        }
    )


def _summary(rec: RunRecord) -> dict[str, Any]:
    """Whole-run figures after warm-up (see DESIGN.md for the keys).

    issued/completed/failed/in_flight and the latencies describe the requests issued
    after warm-up (a request is in flight until its client has the answer or gives
    up); hits, misses, stale reads and database operations are counted from the
    moment warm-up ends. ``stale_read_ratio`` is stale reads / reads served by a node
    (hits + misses), ``failure_ratio`` failed / (completed + failed); both lie in [0, 1]."""
    cfg, counts = rec.config, rec.m_counts
    base = rec.at_warmup or rec.counters  # before warm-up ends nothing is measured yet
    d = {k: rec.counters[k] - base[k] for k in rec.counters}
    m_completed = int(counts.sum())
    p50, p95, p99 = quantiles_from_counts(counts, (0.5, 0.95, 0.99))
    measured_s = max(0.0, rec.sim_time_s - cfg.warmup_s)
    lookups = d["hits"] + d["misses"]
    summary: dict[str, Any] = {
        "issued": rec.m_issued,
        "completed": m_completed,
        "failed": rec.m_failed,
        "in_flight": rec.m_issued - m_completed - rec.m_failed,
        "hits": d["hits"],
        "misses": d["misses"],
        "hit_ratio": _ratio(d["hits"], lookups),
        "byte_hit_ratio": _ratio(d["hit_bytes"], d["hit_bytes"] + d["miss_bytes"]),
        "hit_bytes": d["hit_bytes"],
        "miss_bytes": d["miss_bytes"],
        "stale_reads": d["stale_reads"],
        "latency_mean_ms": _num(rec.m_sum_ms / m_completed) if m_completed else None,
        "latency_p50_ms": _num(p50),
        "latency_p95_ms": _num(p95),
        "latency_p99_ms": _num(p99),
        "throughput_rps": _ratio(m_completed, measured_s),
        "db_reads": d["db_reads"],
        "db_writes": d["db_writes"],
        # extensions
        "failure_ratio": _ratio(rec.m_failed, m_completed + rec.m_failed),
        "latency_max_ms": rec.m_max_ms if m_completed else None,
        "timeouts": d["timeouts"],
        "retries": d["retries"],
        "stale_read_ratio": _ratio(d["stale_reads"], lookups),
        "db_load_rps": _ratio(d["db_reads"] + d["db_writes"], measured_s),
        "invalidations_sent": d["invalidations_sent"],
        "invalidations_lost": d["invalidations_lost"],
        "updates_sent": d["updates_sent"],
        "updates_lost": d["updates_lost"],
        "measured_s": measured_s,
        "sim_time_s": rec.sim_time_s,
        # consistency and the mechanisms of issue 13
        "stale_sets": d["stale_sets"],
        "stale_entry_time_s": rec.stale_time_s,
        "lease_waits": d["lease_waits"],
        "lease_refused_fills": d["lease_refused_fills"],
        "gutter_requests": d["gutter_requests"],
    }
    summary.update(_convergence_summary(rec.convergence))
    return summary


def _convergence_summary(rep: dict | None) -> dict[str, Any]:
    """converged_<within>: the share of measured writes converged within 1 ms .. 10 s
    (of all measured writes, the unconverged included); their "nines" (0.999 -> 3);
    writes_unconverged; the mean and max convergence time of the converged."""
    from .agents.consistency import WITHIN_KEYS, nines

    if rep is None:
        return {}
    total = rep["converged"] + rep["unconverged"]
    out: dict[str, Any] = {"writes_tracked": total, "writes_unconverged": rep["unconverged"]}
    for key, n in zip(WITHIN_KEYS, rep["within"], strict=True):
        out[key] = _ratio(n, total)
    for key in WITHIN_KEYS:
        out[key.replace("converged_", "convergence_nines_")] = nines(out[key])
    out["convergence_mean_ms"] = _num(rep["mean_s"] * 1000.0)
    out["convergence_max_ms"] = _num(rep["max_s"] * 1000.0)
    return out
