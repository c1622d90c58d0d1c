"""LiveRun: one Simulation advanced a little at a time for a live page.

No streamlit here: the page keeps a LiveRun in its session and calls
:meth:`LiveRun.advance` on every refresh with a wall-time budget. At full speed it
simulates for the whole budget; at N x real time it stops once simulated time has
caught up with N times the wall time since the run (re)started. Only the last
``window`` snapshots are kept as chart rows; the Simulation itself keeps everything
the final RunResult needs.

The chart rows live in preallocated numpy ring buffers, one contiguous column per
field: a snapshot is written in place as it arrives, and the visible window is a
view (no frame is rebuilt per refresh). Each buffer holds two windows, so the window
is always contiguous; when the buffer is full the last window is moved to the front
(one copy per ``window`` snapshots).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import derived
from ..config import SimConfig
from ..engine import Simulation
from ..events import PAUSE_KINDS as _PAUSE_KINDS
from ..events import frame as event_frame
from ..metrics import (
    N_BUCKETS,
    NODE_COLUMNS,
    SNAPSHOT_COLUMNS,
    TIMESERIES_COLUMNS,
    Event,
    Snapshot,
    quantiles_from_counts,
)
from ..results import EVENT_COLUMNS, RunResult

if TYPE_CHECKING:
    from ..charts import Columns

#: Speeds offered: None is "as fast as possible", a number is x real time.
SPEEDS: tuple[float | None, ...] = (None, 1.0, 1.5, 2.0, 5.0, 10.0, 25.0, 100.0)
#: Wall seconds a run should take at the default speed, so a visitor can watch it all.
WATCH_S = (15.0, 30.0)
WATCH_TARGET_S = 20.0
#: Wall seconds of simulation per refresh at full speed.
TICK_BUDGET_S = 0.12
#: How far real-time mode may fall behind before it stops trying to catch up.
MAX_LAG_S = 1.0
#: Seconds between redraws: the fastest, and the slowest a lagging browser may push it to.
REFRESH_MIN_S, REFRESH_MAX_S = 0.2, 0.6
#: A browser that takes longer than this to ask for more redraws is behind.
LAGGING_WAIT_S = 0.35
#: Per-node columns of the ring buffer: NODE_COLUMNS without the name (names are fixed per run).
NODE_VALUES = tuple(c for c in NODE_COLUMNS if c != "name")
_NODE_BOOL = ("up", "routed", "partitioned")
_snapshot_values = attrgetter(*SNAPSHOT_COLUMNS)
_node_values = attrgetter(*NODE_VALUES[1:])  # t is the snapshot's


def default_speed(duration_s: float) -> float:
    """The speed a run starts at unless the visitor chose one: of SPEEDS, the one that
    plays ``duration_s`` simulated seconds in WATCH_S wall seconds, nearest to
    WATCH_TARGET_S (a built-in 30 s scenario: 1.5x, 20 s); the slowest for a run shorter
    than WATCH_S, the fastest for a very long one."""
    real = [s for s in SPEEDS if s]
    fits = [s for s in real if WATCH_S[0] <= duration_s / s <= WATCH_S[1]]
    if fits:
        return min(fits, key=lambda s: (abs(duration_s / s - WATCH_TARGET_S), s))
    return real[0] if duration_s / real[0] < WATCH_S[0] else real[-1]


def speed_meaning(speed: float | None, duration_s: float) -> str:
    """What a speed means for a run of ``duration_s`` simulated seconds (one line)."""
    if speed is None:
        return (
            "max: as fast as the server can simulate (a run may be over before you see it); "
            "N× plays N simulated seconds per wall second"
        )
    wall = duration_s / speed
    return (
        f"{speed:g}× real time: {speed:g} simulated seconds per wall second, so this "
        f"{duration_s:g} s run plays in about {wall:.0f} s (if the server keeps up); max runs as fast as it can"
    )


class LiveRun:
    """A Simulation with its chart buffers, status and pacing."""

    def __init__(
        self,
        config: SimConfig,
        *,
        speed: float | None = None,
        window: int | None = None,
        trace=None,
        pause_at_events: bool = False,
        baseline: tuple[str, RunResult] | None = None,
        max_events: int = 10_000,
    ) -> None:
        from ..charts import DEFAULT_WINDOW, MARKER_KINDS  # altair loads with the live page, not the home page

        if window is None:
            window = DEFAULT_WINDOW
        self._marker_kinds = frozenset(MARKER_KINDS)
        self.config = config
        self.sim = Simulation(config, trace=trace, max_events=max_events)
        self.window = window
        # ring buffers (see the module docstring): [column, slot] and [column, slot, node]
        self._ts = np.empty((len(SNAPSHOT_COLUMNS), 2 * window))
        self._nodes: np.ndarray | None = None  # allocated at the first snapshot (node count)
        self._names: tuple[str, ...] = ()
        self._names_col = np.array([], dtype=object)
        self._end = 0  # the slot after the newest row
        self._seen = 0  # snapshots ingested
        #: The events are the simulation's own bounded log (``sim.events``); the page sees
        #: those up to the last snapshot ingested: sequence numbers below ``event_end``.
        self.event_end = 0
        self._kinds: set[str] = set()
        #: The run's latency histogram (all windows so far) after each of the last
        #: snapshots, oldest first, and before the first: the KPIs' percentiles come from
        #: the difference of two, the merged histogram of the windows between.
        k = _kpi_windows(config)
        self._latency_counts: deque[np.ndarray] = deque([np.zeros(N_BUCKETS, dtype=np.int64)], maxlen=2 * k + 1)
        self.speed = speed
        self.run_id: str | None = None  # set once the run is in the session's registry
        self.kept_at = -1  # snapshots the registry's copy of the run holds
        self.refreshes: deque[float] = deque(maxlen=24)
        self.last_advance_s = 0.0
        self.refresh_s = REFRESH_MIN_S
        self.batch_ended: float | None = None
        self._gen: Iterator[Snapshot] | None = None
        self._anchor = (time.perf_counter(), 0.0)
        self._frames_at = -1
        self._frames: tuple[pd.DataFrame, pd.DataFrame] | None = None
        self._columns_at = -1
        self._columns: tuple[Columns, Columns] | None = None
        self._events_at = -1
        self._events_frame = pd.DataFrame(columns=list(EVENT_COLUMNS))
        self._markers_at = -1
        self._marker_columns: Columns = {}
        # narration (cachesim.narration): one line per event, kept beside the event log and
        # as long as it (same bound, same sequence numbers); the nodes out so far
        self._narrations: deque[str] = deque(maxlen=self.sim.events.maxlen)
        self._down: list[str] = []
        self.last_narrated: int | None = None  # sequence number of the latest narrated event
        #: Pause (stop, resumable) after a snapshot that holds one of PAUSE_KINDS.
        self.pause_at_events = pause_at_events
        self.paused_for: int | None = None  # sequence number of the event the run paused at
        #: (run id, result) of the run this one changes one thing of: overlaid on the live charts.
        self.baseline = baseline
        self._baseline_cols: Columns | None = None

    # -- control ------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return float(self.sim.now)

    @property
    def progress(self) -> float:
        return min(1.0, self.sim.progress)

    @property
    def status(self) -> str:
        """The simulation's status as the page reads it: running (also before the first
        snapshot), stopped or finished."""
        status = self.sim.status
        return "running" if status == "ready" else status

    @property
    def active(self) -> bool:
        return self.status == "running"

    def set_speed(self, speed: float | None) -> None:
        self.speed = speed
        self._anchor = (time.perf_counter(), self.now)

    def stop(self) -> None:
        self.sim.stop()

    def resume(self) -> None:
        if self.status == "stopped":
            self.paused_for = None
            self._gen = None
            self.sim.resume()
            self._anchor = (time.perf_counter(), self.now)

    def result(self) -> RunResult:
        return self.sim.result()

    def advance(self, budget_s: float = TICK_BUDGET_S) -> int:
        """Simulate for up to ``budget_s`` wall seconds (less in real-time mode);
        returns the number of new snapshots."""
        started = time.perf_counter()
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
        pause_at = None
        while self.now < target and time.perf_counter() < deadline:
            snap = next(self._gen, None)
            if snap is None:
                break
            self._ingest(snap)
            n += 1
            if self.sim.status == "finished":
                break
            if self.pause_at_events and snap.events:
                first = self.event_end - len(snap.events)
                pause_at = next((first + i for i, e in enumerate(snap.events) if e.kind in PAUSE_KINDS), None)
                if pause_at is not None:
                    break
        if pause_at is not None and self.sim.status != "finished":
            self.stop()
            self.paused_for = pause_at
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
        if self._nodes is None:
            self._names = tuple(n.name for n in snap.nodes)
            self._nodes = np.empty((len(NODE_VALUES), self._ts.shape[1], len(self._names)))
        if self._end == self._ts.shape[1]:  # full: the last window (minus one row) to the front
            keep = self.window - 1
            self._ts[:, :keep] = self._ts[:, self._end - keep : self._end]
            self._nodes[:, :keep] = self._nodes[:, self._end - keep : self._end]
            self._end = keep
        i = self._end
        self._ts[:, i] = _snapshot_values(snap)
        if snap.nodes:
            self._nodes[0, i] = snap.t
            self._nodes[1:, i] = np.array([_node_values(n) for n in snap.nodes], dtype=float).T
        self._end += 1
        self._seen += 1
        self.event_end = self.sim.obs.events_end
        self._latency_counts.append(self.sim.obs.run_counts.copy())
        if snap.events:
            self._narrate(snap.events)
            self._kinds.update(e.kind for e in snap.events)

    def _narrate(self, events: tuple[Event, ...]) -> None:
        """One narration per event (cachesim.narration), knowing the nodes out so far."""
        from ..narration import NARRATED_KINDS, narrate_events

        start = self.event_end - len(events)
        self._narrations.extend(narrate_events(events, self.config, self._down))
        for i, e in enumerate(events):
            if e.kind in NARRATED_KINDS:
                self.last_narrated = start + i

    @property
    def event_start(self) -> int:
        """The sequence number of the oldest event still kept (the log is bounded)."""
        return min(self.sim.events.dropped, self.event_end)

    def event_at(self, seq: int | None) -> tuple[Event, str] | None:
        """The event with sequence number ``seq`` and its narration (its message when
        it has none), or None when it is not kept (or not ingested yet, or ``seq`` is None)."""
        if seq is None or not self.event_start <= seq < self.event_end:
            return None
        event = self.sim.events.at(seq)
        k = seq - (self.event_end - len(self._narrations))
        return event, (self._narrations[k] if k >= 0 else event.message)

    def recent_events(self, n: int) -> list[tuple[Event, str]]:
        """The last ``n`` events ingested with their narrations, oldest first."""
        first = max(self.event_start, self.event_end - n)
        return [told for seq in range(first, self.event_end) if (told := self.event_at(seq)) is not None]

    def _kept_events(self) -> list[Event]:
        return self.sim.events.between(self.event_start, self.event_end)

    def narration(self) -> tuple[Event, str] | None:
        """The latest narrated event and its narration (the live page's caption)."""
        i = self.paused_for if self.paused_for is not None else self.last_narrated
        return None if i is None else self.event_at(i)

    def baseline_columns(self) -> Columns | None:
        """The baseline run's time series (downsampled once), or None without a baseline."""
        if self.baseline is None:
            return None
        if self._baseline_cols is None:
            from ..charts import downsample_columns

            ts = self.baseline[1].timeseries()
            self._baseline_cols = downsample_columns(ts, 400, columns=("t", "hit_ratio", "latency_p99_ms"))
        return self._baseline_cols

    @property
    def points(self) -> int:
        """Snapshots in the visible window."""
        return min(self._seen, self.window)

    @property
    def node_names(self) -> tuple[str, ...]:
        """The cache nodes, in snapshot order (fixed for a run; empty before the first snapshot)."""
        return self._names

    def columns(self) -> tuple[Columns, Columns]:
        """(timeseries, node timeseries) of the visible window as numpy columns: views
        of the ring buffers (valid until the next :meth:`advance`) and the rates
        :func:`cachesim.derived.window_rates` makes from them that a Snapshot lacks. The node columns
        are flat, node by node within each window, like :meth:`frames`; the flags
        (up, routed, partitioned) are 0/1 floats."""
        if self._columns is None or self._columns_at != self._seen:
            a, b = self._end - self.points, self._end
            ts = {c: self._ts[k, a:b] for k, c in enumerate(SNAPSHOT_COLUMNS)}
            ts |= {c: v for c, v in derived.window_rates(ts).items() if c not in ts}  # TIMESERIES_COLUMNS
            if self._nodes is None:
                nodes = {c: np.array([], dtype=object if c == "name" else float) for c in NODE_COLUMNS}
            else:
                values = {c: self._nodes[k, a:b].reshape(-1) for k, c in enumerate(NODE_VALUES)}
                nodes = {"t": values.pop("t"), "name": self._name_column(b - a)} | values
            self._columns, self._columns_at = (ts, nodes), self._seen
        return self._columns

    def _name_column(self, rows: int) -> np.ndarray:
        """The node names of ``rows`` windows (node by node), a slice of one cached array."""
        if len(self._names_col) < rows * len(self._names):
            self._names_col = np.tile(np.array(self._names, dtype=object), self.window)
        return self._names_col[: rows * len(self._names)]

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(timeseries, node timeseries) of the visible window as DataFrames (floats;
        bools for the node flags), built from :meth:`columns` only when new snapshots
        arrived. The live page itself draws from :meth:`columns`."""
        if self._frames is None or self._frames_at != self._seen:
            ts_cols, node_cols = self.columns()
            ts = pd.DataFrame({c: v.copy() for c, v in ts_cols.items()}, columns=list(TIMESERIES_COLUMNS))
            nodes = pd.DataFrame(
                {c: v.astype(bool) if c in _NODE_BOOL else v.copy() for c, v in node_cols.items()},
                columns=list(NODE_COLUMNS),
            )
            self._frames, self._frames_at = (ts, nodes), self._seen
        return self._frames

    def events_frame(self) -> pd.DataFrame:
        """The events kept so far (EVENT_COLUMNS), rebuilt only when new ones arrived."""
        if self._events_at != self.event_end:
            self._events_frame = event_frame(self._kept_events())
            self._events_at = self.event_end
        return self._events_frame

    def marker_columns(self) -> Columns:
        """The events that charts draw as rules (MARKER_KINDS), as columns t, kind,
        target, message; rebuilt only when new events arrived."""
        if self._markers_at != self.event_end:
            marks = [e for e in self._kept_events() if e.kind in self._marker_kinds]
            self._marker_columns = {"t": np.array([e.t for e in marks], dtype=float)} | {
                c: np.array([str(getattr(e, c)) for e in marks], dtype=object) for c in ("kind", "target", "message")
            }
            self._markers_at = self.event_end
        return self._marker_columns

    def event_kinds(self) -> set[str]:
        """The kinds of all events so far."""
        return self._kinds

    def kpis(self) -> dict[str, tuple[float | None, float | None]]:
        """(the last KPI_SPAN_S, the KPI_SPAN_S before) for each live KPI; None if undefined.
        Ratios and rates are over the windows' counts together; the p99 latency is that
        of the windows' merged latency histogram."""
        k = _kpi_windows(self.config)
        m = min(2 * k, self.points)
        cols = {c: self._ts[i, self._end - m : self._end] for i, c in enumerate(SNAPSHOT_COLUMNS) if c in _KPI_COLUMNS}
        hist = self._latency_counts
        last = ({c: v[-k:] for c, v in cols.items()}, hist[-1] - hist[-1 - min(k, len(hist) - 1)])
        before = ({c: v[-2 * k : -k] for c, v in cols.items()}, hist[-1 - k] - hist[0] if len(hist) > k + 1 else None)
        a, b = _kpis(*last), _kpis(*before)
        return {name: (a[name], b[name]) for name in KPI_NAMES}


#: Events the run pauses at when ``pause_at_events`` is on: chaos actions and the
#: balancer's verdicts (not the observer's hit-ratio alerts, which come and go often).
PAUSE_KINDS = frozenset(k.value for k in _PAUSE_KINDS)

#: The live KPIs cover the last KPI_SPAN_S simulated seconds (and compare with the span before).
KPI_SPAN_S = 1.0
KPI_NAMES = ("hit_ratio", "latency_p99_ms", "throughput_rps", "db_load_rps", "stale_reads", "nodes_up")
_KPI_COLUMNS = ("interval_s", "hits", "misses", "completed", "db_reads", "db_writes", "stale_reads", "nodes_up")


def _kpi_windows(config: SimConfig) -> int:
    """Snapshot windows in KPI_SPAN_S."""
    return max(1, round(KPI_SPAN_S / config.snapshot_interval_s))


def _kpis(cols: dict[str, np.ndarray], latency: np.ndarray | None) -> dict[str, float | None]:
    """The KPIs over consecutive windows (``cols``: column -> values, oldest first;
    ``latency``: their merged latency histogram)."""
    if not len(cols["interval_s"]) or latency is None:
        return dict.fromkeys(KPI_NAMES)
    rates = derived.span_rates(
        {c: cols[c] for c in ("interval_s", "hits", "misses", "completed", "db_reads", "db_writes")}
    )
    (p99,) = quantiles_from_counts(latency, (0.99,))
    return {
        "hit_ratio": rates["hit_ratio"],
        "latency_p99_ms": derived.num(p99),
        "throughput_rps": rates["throughput_rps"],
        "db_load_rps": rates["db_load_rps"],
        "stale_reads": float(np.sum(cols["stale_reads"])),
        "nodes_up": float(cols["nodes_up"][-1]),
    }
