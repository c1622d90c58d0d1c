"""RunResult: a finished (or stopped, or running) run as plain data and DataFrames.

Holds the config, the summary, one row per snapshot, per-node rows, the events and
the latency histogram; ``save(dir)`` writes them as TOML/JSON/CSV and
``RunResult.load(dir)`` gives back equal data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .config import SimConfig
from .metrics import (
    BUCKET_VALUES,
    GROWTH,
    NODE_COLUMNS,
    SNAPSHOT_COLUMNS,
    Event,
    SnapshotLog,
    bucket_edges,
    quantiles_from_counts,
)

if TYPE_CHECKING:
    from .engine import Simulation

#: The summary keys DESIGN.md promises (more may follow them).
SUMMARY_KEYS = ("issued", "completed", "failed", "in_flight", "hits", "misses", "hit_ratio",
                "stale_reads", "latency_mean_ms", "latency_p50_ms", "latency_p95_ms",
                "latency_p99_ms", "throughput_rps", "db_reads", "db_writes")
EVENT_COLUMNS = ("t", "kind", "source", "target", "message")
NODE_TABLE_COLUMNS = ("node", "up", "routed", "slow_factor", "requests", "hits", "misses",
                      "hit_ratio", "dropped", "rejected", "evictions", "invalidated", "occupancy",
                      "capacity", "outstanding")


@dataclass(frozen=True)
class RunRecord:
    """What the engine emits at the end of a run (or mid-run): everything a
    :class:`RunResult` is built from, as plain data, so results never reach into agents."""

    config: SimConfig
    status: str
    sim_time_s: float
    snapshots: SnapshotLog
    events: list[Event]
    counters: dict[str, int]        # the observer's cumulative counters now
    at_warmup: dict[str, int] | None  # and when warm-up ended (None: not yet)
    m_issued: int                   # requests issued after warm-up ...
    m_failed: int                   # ... failed,
    m_counts: np.ndarray            # ... and completed, by latency bucket
    m_sum_ms: float
    m_max_ms: float
    node_totals: list[tuple]        # NODE_TABLE_COLUMNS, one tuple per node


def _num(x: float) -> float | None:
    """NaN (undefined, e.g. a hit ratio with no lookups) becomes None."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


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

    def nbytes(self) -> int:
        """About how much memory the result holds: its frames (the event log's strings
        included) and, while the node timeseries is not built, the columns it is built from."""
        total = 0
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
        """The event log: t, kind, source, target, message."""
        return self._events.copy()

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
            [(name, up, routed, slow, req, hits, misses, _ratio(hits, hits + misses), *rest)
             for name, up, routed, slow, req, hits, misses, *rest in rec.node_totals],
            columns=list(NODE_TABLE_COLUMNS))
        events = pd.DataFrame([(e.t, e.kind, e.source, e.target, e.message) for e in rec.events],
                              columns=list(EVENT_COLUMNS))
        return cls(config=rec.config, summary=_summary(rec), status=rec.status, sim_time_s=rec.sim_time_s,
                   _timeseries=ts, _node_timeseries=node_ts, _nodes=nodes, _events=events,
                   _latency=_latency_frame(rec.m_counts))

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
        return d

    @classmethod
    def load(cls, directory: str | Path) -> RunResult:
        d = Path(directory)
        if not (d / "summary.json").is_file():
            raise FileNotFoundError(f"{d} holds no saved run (summary.json is missing)")
        meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        events = pd.read_csv(d / "events.csv", keep_default_na=False,
                             dtype={"kind": str, "source": str, "target": str, "message": str})
        events["t"] = events["t"].astype(float)
        return cls(
            config=SimConfig.load(d / "config.toml"),
            summary=json.loads((d / "summary.json").read_text(encoding="utf-8")),
            status=meta["status"], sim_time_s=float(meta["sim_time_s"]),
            _timeseries=pd.read_csv(d / "timeseries.csv"),
            _node_timeseries=pd.read_csv(d / "node_timeseries.csv", dtype={"name": str}),
            _nodes=pd.read_csv(d / "nodes.csv", dtype={"node": str}),
            _events=events,
            _latency=pd.read_csv(d / "latency_histogram.csv"),
        )


def _snapshot_frames(snaps: SnapshotLog) -> tuple[pd.DataFrame, Callable[[], pd.DataFrame]]:
    """(timeseries, a builder of the node timeseries) from the engine's columns, handed
    to pandas without a copy where they can be."""
    n = len(snaps)  # once: the run may append meanwhile
    if not n:
        return (pd.DataFrame(columns=list(SNAPSHOT_COLUMNS)), lambda: pd.DataFrame(columns=list(NODE_COLUMNS)))
    ts = pd.DataFrame(snaps.columns(n), columns=list(SNAPSHOT_COLUMNS), copy=False)
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


def _latency_frame(counts: np.ndarray) -> pd.DataFrame:
    idx = np.flatnonzero(counts)
    lower = bucket_edges()
    return pd.DataFrame({
        "lower_ms": lower[idx],
        "upper_ms": np.where(idx == 0, lower[1], lower[idx] * GROWTH),
        "value_ms": BUCKET_VALUES[idx],
        "count": counts[idx],
    })


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
    }
    return summary
