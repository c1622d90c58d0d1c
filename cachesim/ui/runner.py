"""LiveRun: one Simulation advanced a little at a time for a live page.

No streamlit here: the page keeps a LiveRun in its session and calls
:meth:`LiveRun.advance` on every refresh with a wall-time budget. At full speed it
simulates for the whole budget; at N x real time it stops once simulated time has
caught up with N times the wall time since the run (re)started. Only the last
``window`` snapshots are kept as chart rows; the Simulation itself keeps everything
the final RunResult needs.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator

import numpy as np
import pandas as pd

from ..config import SimConfig
from ..engine import Simulation
from ..metrics import NODE_COLUMNS, SNAPSHOT_COLUMNS, Event, Snapshot
from ..results import EVENT_COLUMNS, RunResult

#: Speeds offered: None is "as fast as possible", a number is x real time.
SPEEDS: tuple[float | None, ...] = (None, 1.0, 2.0, 5.0, 10.0, 25.0, 100.0)
#: Wall seconds of simulation per refresh at full speed.
TICK_BUDGET_S = 0.12
#: How far real-time mode may fall behind before it stops trying to catch up.
MAX_LAG_S = 1.0
#: Seconds between redraws: the fastest, and the slowest a lagging browser may push it to.
REFRESH_MIN_S, REFRESH_MAX_S = 0.2, 0.6
#: A browser that takes longer than this to ask for more redraws is behind.
LAGGING_WAIT_S = 0.35


class LiveRun:
    """A Simulation with its chart buffers, status and pacing."""

    def __init__(self, config: SimConfig, *, speed: float | None = None, window: int | None = None) -> None:
        if window is None:
            from ..charts import DEFAULT_WINDOW  # altair loads with the live page, not the home page

            window = DEFAULT_WINDOW
        self.config = config
        self.sim = Simulation(config)
        self.window = window
        self.rows: deque[tuple[float, ...]] = deque(maxlen=window)  # SNAPSHOT_COLUMNS
        self.node_rows: deque[tuple[list[str], list[tuple]]] = deque(maxlen=window)  # names, other NODE_COLUMNS
        self.events: list[Event] = []
        self.speed = speed
        self.status = "running"  # running | stopped | finished
        self.run_id: str | None = None  # set once the run is in the session's registry
        self.refreshes: deque[float] = deque(maxlen=24)
        self.last_advance_s = 0.0
        self.refresh_s = REFRESH_MIN_S
        self.batch_ended: float | None = None
        self._gen: Iterator[Snapshot] | None = None
        self._anchor = (time.perf_counter(), 0.0)
        self._frames_at = -1
        self._frames: tuple[pd.DataFrame, pd.DataFrame] | None = None
        self._events_frame = pd.DataFrame(columns=list(EVENT_COLUMNS))

    # -- control ------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return float(self.sim.now)

    @property
    def progress(self) -> float:
        return min(1.0, self.sim.progress)

    @property
    def active(self) -> bool:
        return self.status == "running"

    def set_speed(self, speed: float | None) -> None:
        self.speed = speed
        self._anchor = (time.perf_counter(), self.now)

    def stop(self) -> None:
        if self.status == "running":
            self.sim.stop()
            self.status = "stopped"

    def resume(self) -> None:
        if self.status == "stopped":
            self._gen = None
            self.status = "running"
            self._anchor = (time.perf_counter(), self.now)

    def result(self) -> RunResult:
        return self.sim.result()

    def advance(self, budget_s: float = TICK_BUDGET_S) -> int:
        """Simulate for up to ``budget_s`` wall seconds (less in real-time mode);
        returns the number of new snapshots."""
        started = time.perf_counter()
        self.refreshes.append(started)
        if self.status != "running":
            return 0
        if self._gen is None:
            self._gen = self.sim.stream()
        target = math.inf
        if self.speed:
            wall0, sim0 = self._anchor
            target = sim0 + (started - wall0) * self.speed
            if target - self.now > MAX_LAG_S * self.speed:  # fell behind: don't sprint to catch up
                self._anchor = (started, self.now)
                target = self.now + budget_s * self.speed
        deadline = started + budget_s
        n = 0
        while self.now < target and time.perf_counter() < deadline:
            snap = next(self._gen, None)
            if snap is None:
                break
            self._ingest(snap)
            n += 1
            if self.sim.status == "finished":
                break
        if self.sim.status == "finished":
            self.status = "finished"
        self.last_advance_s = time.perf_counter() - started
        return n

    def pace(self, wait_s: float) -> None:
        """Adapt the redraw interval to the browser. ``wait_s``: how long the browser
        took to ask for the next batch of redraws after the last one ended. A browser
        that keeps up has asked already, and the next batch starts after Streamlit's
        own turnaround (about 0.1-0.2 s); one that lags behind the redraws asks late."""
        if wait_s > LAGGING_WAIT_S:
            self.refresh_s = min(REFRESH_MAX_S, self.refresh_s * 1.25)
        elif wait_s < LAGGING_WAIT_S - 0.1:
            self.refresh_s = max(REFRESH_MIN_S, self.refresh_s * 0.9)

    def refresh_rate(self) -> float:
        """Refreshes per wall second over the recent ones."""
        r = self.refreshes
        if len(r) < 2 or r[-1] <= r[0]:
            return 0.0
        return (len(r) - 1) / (r[-1] - r[0])

    # -- data ---------------------------------------------------------------------------

    def _ingest(self, snap: Snapshot) -> None:
        row = snap.row()
        self.rows.append(tuple(float(row[c]) for c in SNAPSHOT_COLUMNS))
        self.node_rows.append(([n.name for n in snap.nodes], [
            (snap.t, n.up, n.routed, n.slow_factor, n.partitioned, n.requests, n.hits, n.misses, n.occupancy,
             n.capacity, n.queue_len, n.busy) for n in snap.nodes]))
        if snap.events:
            self.events.extend(snap.events)
            self._events_frame = pd.DataFrame([(e.t, e.kind, e.source, e.target, e.message) for e in self.events],
                                              columns=list(EVENT_COLUMNS))

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(timeseries, node timeseries) of the visible window, rebuilt only when new
        snapshots arrived."""
        n = len(self.sim.snapshots)
        if self._frames is None or self._frames_at != n:  # numeric arrays: 20x faster than records
            ts = pd.DataFrame(np.array(self.rows, dtype=float).reshape(-1, len(SNAPSHOT_COLUMNS)),
                              columns=list(SNAPSHOT_COLUMNS))
            values = np.array([v for _, rows in self.node_rows for v in rows], dtype=float).reshape(
                -1, len(NODE_COLUMNS) - 1)
            nodes = pd.DataFrame(values, columns=[c for c in NODE_COLUMNS if c != "name"])
            nodes.insert(1, "name", [name for names, _ in self.node_rows for name in names])
            for c in ("up", "routed", "partitioned"):
                nodes[c] = nodes[c].astype(bool)
            self._frames, self._frames_at = (ts, nodes), n
        return self._frames

    def events_frame(self) -> pd.DataFrame:
        return self._events_frame

    def kpis(self, span_s: float = 1.0) -> dict[str, tuple[float | None, float | None]]:
        """(last ``span_s``, the ``span_s`` before) for each live KPI; None if undefined."""
        k = max(1, round(span_s / self.config.snapshot_interval_s))
        rows = [dict(zip(SNAPSHOT_COLUMNS, r, strict=True)) for r in list(self.rows)[-2 * k:]]
        return {name: (_kpi(name, rows[-k:]), _kpi(name, rows[-2 * k:-k])) for name in KPI_NAMES}


KPI_NAMES = ("hit_ratio", "latency_p99_ms", "throughput_rps", "db_load_rps", "stale_reads", "nodes_up")


def _kpi(name: str, rows: list[dict]) -> float | None:
    if not rows:
        return None
    seconds = sum(r["interval_s"] for r in rows)
    if name == "hit_ratio":
        lookups = sum(r["hits"] + r["misses"] for r in rows)
        return sum(r["hits"] for r in rows) / lookups if lookups else None
    if name == "latency_p99_ms":
        vals = [r["latency_p99_ms"] for r in rows if not math.isnan(r["latency_p99_ms"])]
        return float(np.mean(vals)) if vals else None
    if name == "throughput_rps":
        return sum(r["completed"] for r in rows) / seconds if seconds else None
    if name == "db_load_rps":
        return sum(r["db_reads"] + r["db_writes"] for r in rows) / seconds if seconds else None
    if name == "stale_reads":
        return float(sum(r["stale_reads"] for r in rows))
    return float(rows[-1]["nodes_up"])
