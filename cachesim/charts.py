"""Altair chart builders: DataFrame in, ``alt.Chart`` out. No streamlit here.

Each chart is two steps: ``*_data(...)`` prepares the frames a chart draws (long
format, events as rules); a layout (``LAYOUTS[name]``) turns them into an Altair chart.
``*_chart(...)`` does both, for ``st.altair_chart``; ``cachesim.ui.vega`` builds a spec
once per structure and then only swaps the frames, for the live page, which redraws
several times a second.

The charts draw what results provide (the rates are timeseries columns, made by
:mod:`cachesim.derived`); they compute no metric themselves.

The data work itself is done on numpy columns (``*_columns(...)``: a mapping of column
name to array in, ``Columns`` out); a DataFrame is a mapping of columns too, so the
same functions serve whole-run frames and the live page's ring buffers, and
``*_data`` only wraps their output in DataFrames. The live page hands the columns to
Arrow directly and skips pandas (about 0.1-0.3 ms per DataFrame operation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from . import derived
from .events import CHAOS_ACTIONS, NOTICED_KINDS
from .events import MARKER_KINDS as _MARKER_KINDS
from .events import EventKind as K

#: Chaos actions: drawn as solid rules (the kinds are cachesim.events', as plain strings).
CHAOS_KINDS: tuple[str, ...] = tuple(k.value for k in CHAOS_ACTIONS)
#: What the system noticed (the balancer's verdicts, the observer's alerts): dashed rules.
DETECTION_KINDS: tuple[str, ...] = tuple(k.value for k in NOTICED_KINDS)
MARKER_KINDS: tuple[str, ...] = tuple(k.value for k in _MARKER_KINDS)
#: A colour for every marker kind (tests/engine/test_events.py checks that none is missing).
KIND_COLORS = {
    K.KILL: "#dc2626",
    K.RESTART: "#16a34a",
    K.SLOW: "#f59e0b",
    K.HEAL: "#0d9488",
    K.PARTITION: "#7c3aed",
    K.LOSS: "#db2777",
    K.NODE_DOWN_DETECTED: "#991b1b",
    K.NODE_UP_DETECTED: "#166534",
    K.ANOMALY: "#ea580c",
    K.RECOVERED: "#0e7490",
}
STATE_COLORS = {"up": "#2563eb", "slow": "#f59e0b", "partitioned": "#7c3aed", "unrouted": "#94a3b8", "down": "#dc2626"}
PERCENTILE_COLORS = {"p50": "#93c5fd", "p95": "#3b82f6", "p99": "#1e3a8a"}
RUN_COLORS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777"]
LOAD_COLORS = {"throughput": "#2563eb", "DB load": "#f59e0b", "failures": "#dc2626"}
#: Live charts show at most this many snapshots (older ones scroll off to the left).
DEFAULT_WINDOW = 600
HEIGHT = 220
#: Fit the container's width; ``height`` is the plot's own height (legends add to it).
FIT_X = alt.AutoSizeParams(type="fit-x", contains="padding")
Frames = dict[str, pd.DataFrame]
Domain = tuple[float, float] | None
#: Column name -> values (equal lengths): what the ``*_columns`` builders return.
Columns = dict[str, np.ndarray]
#: Anything ``data[name]`` gives a column of: a DataFrame or a mapping of arrays.
ColumnsLike = pd.DataFrame | Mapping[str, Any]


# -- frames -----------------------------------------------------------------------------


def window(df: pd.DataFrame, max_points: int = DEFAULT_WINDOW) -> pd.DataFrame:
    """The last ``max_points`` rows (a live chart's visible window)."""
    return df if len(df) <= max_points else df.iloc[-max_points:]


def live_domain(duration_s: float, interval_s: float, max_points: int = DEFAULT_WINDOW) -> Domain:
    """A live chart's x domain: the whole run when it fits the window (the axis stays
    put while the lines grow), else None (the axis follows the sliding window)."""
    return (0.0, float(duration_s)) if duration_s <= max_points * interval_s + 1e-9 else None


def downsample(ts: pd.DataFrame, max_points: int = 1500) -> pd.DataFrame:
    """At most ``max_points`` rows for whole-run charts: consecutive snapshots are
    averaged in groups (NaN ignored; the last row of each group gives ``t``)."""
    if len(ts) <= max_points:
        return ts
    return pd.DataFrame(downsample_columns(ts, max_points, columns=list(ts.select_dtypes("number").columns)))


def downsample_columns(ts: ColumnsLike, max_points: int = 1500, *, columns: Sequence[str]) -> Columns:
    """:func:`downsample` on numpy columns: ``columns`` of ``ts`` (``t`` among them),
    averaged in groups of consecutive rows when there are more than ``max_points``."""
    t = np.asarray(ts["t"], dtype=float)
    n = len(t)
    if n <= max_points:
        return {c: np.asarray(ts[c], dtype=float) for c in columns}
    size = int(np.ceil(n / max_points))
    starts = np.arange(0, n, size)
    out = {}
    for c in columns:
        x = np.asarray(ts[c], dtype=float)
        ok = np.isfinite(x)
        sums, counts = np.add.reduceat(np.where(ok, x, 0.0), starts), np.add.reduceat(ok.astype(float), starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[c] = np.where(counts > 0, sums / counts, np.nan)
    out["t"] = t[np.minimum(starts + size, n) - 1]
    return out


def node_state(nodes: ColumnsLike) -> np.ndarray:
    """Each node row's state (:func:`cachesim.derived.node_state`)."""
    return derived.node_state(nodes)


def _frame(cols: Columns) -> pd.DataFrame:
    return pd.DataFrame(cols)


def markers(events: pd.DataFrame | None, domain: Domain = None, kinds: Sequence[str] = MARKER_KINDS) -> pd.DataFrame:
    """The events drawn as rules (chaos actions and detections), inside ``domain``."""
    return _frame(marker_columns(events, domain, kinds))


def marker_columns(events: ColumnsLike | None, domain: Domain = None, kinds: Sequence[str] = MARKER_KINDS) -> Columns:
    """:func:`markers` on columns (``events``: t, kind, target, message). No events (None
    or an empty DataFrame) gives float columns, as an empty DataFrame has; events of
    which none is drawn give typed empty columns."""
    if events is None or (isinstance(events, pd.DataFrame) and events.empty):
        return {c: np.array([]) for c in ("t", "kind", "target", "message", "style")}
    kind = np.asarray(events["kind"], dtype=object)
    t = np.asarray(events["t"], dtype=float)
    keep = np.isin(kind, list(kinds))
    if domain is not None:
        keep &= (t >= domain[0]) & (t <= domain[1])
    idx = np.flatnonzero(keep)
    return {
        "t": t[idx],
        "kind": kind[idx],
        "target": np.asarray(events["target"], dtype=object)[idx],
        "message": np.asarray(events["message"], dtype=object)[idx],
        "style": np.where(np.isin(kind[idx], list(CHAOS_KINDS)), "chaos", "detected"),
    }


def legend_items(events: pd.DataFrame | None) -> list[tuple[str, str, bool]]:
    """(kind, color, dashed) for each marker kind among ``events``, in legend order: the
    one legend shown beside a group of charts (the charts themselves carry none)."""
    present = set() if events is None or events.empty else set(events["kind"])
    return [(k, KIND_COLORS[k], k in DETECTION_KINDS) for k in MARKER_KINDS if k in present]


# -- shared pieces ----------------------------------------------------------------------


def _x(domain: Domain, field: str = "t:Q", title: str = "simulated time (s)") -> alt.X:
    scale = alt.Scale(domain=list(domain), nice=False, zero=False) if domain else alt.Scale(zero=False, nice=False)
    return alt.X(field, title=title, scale=scale, axis=alt.Axis(tickCount=6))


def _legend(**kw: Any) -> alt.Legend:
    """Legends sit under the plot: Streamlit's chart toolbar (top right, on hover) would cover them on top."""
    return alt.Legend(orient="bottom", direction="horizontal", title=None, **kw)


def _rules(ev: pd.DataFrame, domain: Domain) -> alt.Chart:
    kinds = [k for k in MARKER_KINDS if k in set(ev["kind"])]
    return (
        alt.Chart(ev)
        .mark_rule(strokeWidth=1.5, opacity=0.85)
        .encode(
            x=_x(domain),
            color=alt.Color(
                "kind:N",
                title="event",
                scale=alt.Scale(domain=kinds, range=[KIND_COLORS[k] for k in kinds]),
                legend=None,
            ),
            strokeDash=alt.StrokeDash(
                "style:N", legend=None, scale=alt.Scale(domain=["chaos", "detected"], range=[[1, 0], [4, 3]])
            ),
            tooltip=[
                alt.Tooltip("t:Q", format=".2f", title="t (s)"),
                alt.Tooltip("kind:N"),
                alt.Tooltip("target:N"),
                alt.Tooltip("message:N"),
            ],
        )
    )


def _with_rules(layers: list, d: Frames, domain: Domain, title: str, height: int) -> alt.LayerChart:
    if not d["rules"].empty:
        layers = [*layers, _rules(d["rules"], domain)]
    return alt.LayerChart(
        layer=layers,
        title=title,
        height=height,
        autosize=FIT_X,
        resolve=alt.Resolve(scale=alt.ScaleResolveMap(color="independent")),
    )


def _time_tooltip() -> alt.Tooltip:
    return alt.Tooltip("t:Q", format=".1f", title="t (s)")


def _tips(enabled: bool, *items: alt.Tooltip) -> list[alt.Tooltip] | alt.UndefinedType:
    """Tooltips, or none: a live chart redraws 5 times a second and the browser would
    format every tooltip of every mark each time."""
    return list(items) if enabled else alt.Undefined


def _long(ts: ColumnsLike, series: dict[str, np.ndarray], value: str, *, positive: bool = False) -> Columns:
    """Several series over ``ts["t"]`` as one long frame (t, series, value), undefined
    and (with ``positive``, for log scales) non-positive values left out. Done here
    rather than with Vega-Lite transforms, which the browser would re-run on every redraw."""
    t = np.asarray(ts["t"], dtype=float)
    values = np.concatenate([np.asarray(v, dtype=float) for v in series.values()]) if series else np.array([])
    keep = np.isfinite(values)
    if positive:
        keep &= values > 0
    idx = np.flatnonzero(keep)
    names = np.array(list(series), dtype=object)  # object strings: to Arrow 3x faster than numpy's unicode
    return {"t": np.tile(t, len(series))[idx], "series": np.repeat(names, len(t))[idx], value: values[idx]}


# -- time series ------------------------------------------------------------------------


def hit_ratio_columns(ts: ColumnsLike) -> Columns:
    """The hit ratio chart's line: long columns (t, series, hit_ratio)."""
    return _long(ts, {"hit ratio": np.asarray(ts["hit_ratio"], dtype=float)}, "hit_ratio")


def hit_ratio_data(
    ts: pd.DataFrame,
    events: pd.DataFrame | None = None,
    *,
    domain: Domain = None,
    theory: float | None = None,
    theory_label: str = "analytic",
) -> Frames:
    d = {"ts": _frame(hit_ratio_columns(ts)), "rules": markers(events, domain)}
    if theory is not None:
        d["ref"] = pd.DataFrame({"hit_ratio": [float(theory)], "label": [f"{theory_label}: {theory:.1%}"]})
    return d


def _hit_ratio(d: Frames, domain: Domain, height: int = HEIGHT, tooltips: bool = True) -> alt.LayerChart:
    layers = [
        alt.Chart(d["ts"])
        .mark_line(strokeWidth=1.6)
        .encode(
            x=_x(domain),
            y=alt.Y("hit_ratio:Q", title="hit ratio", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color=alt.Color("series:N", legend=_legend(), scale=alt.Scale(domain=["hit ratio"], range=["#2563eb"])),
            tooltip=_tips(tooltips, _time_tooltip(), alt.Tooltip("hit_ratio:Q", format=".1%", title="hit ratio")),
        )
    ]
    layers += _previous(d, domain, "hit_ratio")
    if "ref" in d:
        layers += [
            alt.Chart(d["ref"])
            .mark_rule(color="#16a34a", strokeDash=[6, 4], strokeWidth=2)
            .encode(y=alt.Y("hit_ratio:Q"), tooltip=[alt.Tooltip("label:N")]),
            alt.Chart(d["ref"])
            .mark_text(align="left", dx=4, dy=-8, color="#15803d", fontSize=11)
            .encode(y=alt.Y("hit_ratio:Q"), x=alt.XValue(0), text=alt.Text("label:N")),
        ]
    return _with_rules(layers, d, domain, "Hit ratio", height)


#: The previous run's line (the run before a "change one thing"), drawn dashed under the live one.
PREVIOUS_COLOR = "#64748b"


def previous_columns(prev: ColumnsLike, field: str, domain: Domain = None) -> Columns:
    """One column of the previous run's time series (t, ``field``), finite values (and,
    for latencies, positive ones) inside ``domain``: the "prev" frame of the hit ratio
    and latency charts."""
    t = np.asarray(prev["t"], dtype=float)
    v = np.asarray(prev[field], dtype=float)
    keep = np.isfinite(v)
    if field.startswith("latency"):
        keep &= v > 0
    if domain is not None:
        keep &= (t >= domain[0]) & (t <= domain[1])
    return {"t": t[keep], "prev": v[keep]}


def _previous(d: Frames, domain: Domain, field: str) -> list[alt.Chart]:
    if "prev" not in d or d["prev"].empty:
        return []
    return [
        alt.Chart(d["prev"])
        .mark_line(strokeWidth=1.4, strokeDash=[5, 3], color=PREVIOUS_COLOR, opacity=0.9)
        .encode(x=_x(domain), y=alt.Y("prev:Q", title=None))
    ]


def failure_columns(ts: ColumnsLike) -> Columns:
    """The failure ratio per window (failed / (completed + failed)), where defined:
    drawn beside every latency chart, as latencies count completed requests only."""
    t = np.asarray(ts["t"], dtype=float)
    v = np.asarray(ts["failure_ratio"], dtype=float)
    keep = np.isfinite(v)
    return {"t": t[keep], "failure_ratio": v[keep]}


LATENCY_TITLE = "Latency p50 / p95 / p99 (completed requests only) and failure ratio"
FAILURE_COLOR = "#dc2626"


def latency_columns(ts: ColumnsLike) -> Columns:
    """Long columns (t, series p50/p95/p99, ms) of positive latencies."""
    return _long(
        ts, {p: np.asarray(ts[f"latency_{p}_ms"], dtype=float) for p in PERCENTILE_COLORS}, "ms", positive=True
    )


def latency_data(ts: pd.DataFrame, events: pd.DataFrame | None = None, *, domain: Domain = None) -> Frames:
    """Long frame (t, series p50/p95/p99, ms) of positive latencies, the failure ratio
    beside them (``fail``) and the rules."""
    return {"ts": _frame(latency_columns(ts)), "fail": _frame(failure_columns(ts)), "rules": markers(events, domain)}


def _latency(d: Frames, domain: Domain, height: int = HEIGHT, tooltips: bool = True) -> alt.LayerChart:
    line = (
        alt.Chart(d["ts"])
        .mark_line(strokeWidth=1.4)
        .encode(
            x=_x(domain),
            y=alt.Y("ms:Q", title="latency (ms, log)", scale=alt.Scale(type="log")),
            color=alt.Color(
                "series:N",
                legend=_legend(),
                scale=alt.Scale(domain=list(PERCENTILE_COLORS), range=list(PERCENTILE_COLORS.values())),
            ),
            tooltip=_tips(
                tooltips,
                _time_tooltip(),
                alt.Tooltip("series:N", title="percentile"),
                alt.Tooltip("ms:Q", format=".2f"),
            ),
        )
    )
    layers: list = [line, *_previous(d, domain, "latency_p99_ms")]
    if "fail" not in d:
        return _with_rules(layers, d, domain, "Latency p50 / p95 / p99 (completed requests only)", height)
    fail = (
        alt.Chart(d["fail"])
        .mark_area(color=FAILURE_COLOR, opacity=0.25, line={"color": FAILURE_COLOR})
        .encode(
            x=_x(domain),
            y=alt.Y(
                "failure_ratio:Q",
                title="failure ratio",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%", orient="right", titleColor=FAILURE_COLOR, labelColor=FAILURE_COLOR),
            ),
            tooltip=_tips(
                tooltips, _time_tooltip(), alt.Tooltip("failure_ratio:Q", format=".1%", title="failure ratio")
            ),
        )
    )
    chart = _with_rules([*layers, fail], d, domain, LATENCY_TITLE, height)
    chart.resolve = alt.Resolve(scale=alt.ScaleResolveMap(color="independent", y="independent"))
    return chart


#: The load chart's lines: series name -> timeseries column.
LOAD_SERIES = {"throughput": "throughput_rps", "DB load": "db_load_rps", "failures": "failures_rps"}


def load_columns(ts: ColumnsLike) -> Columns:
    """Long columns (t, series, rps): throughput, DB load (reads + writes) and failures
    per simulated second."""
    series = {name: np.asarray(ts[col], dtype=float) for name, col in LOAD_SERIES.items()}
    return _long(ts, series, "rps")


def load_data(ts: pd.DataFrame, events: pd.DataFrame | None = None, *, domain: Domain = None) -> Frames:
    """Long frame (t, series, rps): throughput, DB load (reads + writes) and failures
    per simulated second; and the rules."""
    return {"ts": _frame(load_columns(ts)), "rules": markers(events, domain)}


def _load(d: Frames, domain: Domain, height: int = HEIGHT, tooltips: bool = True) -> alt.LayerChart:
    line = (
        alt.Chart(d["ts"])
        .mark_line(strokeWidth=1.4)
        .encode(
            x=_x(domain),
            y=alt.Y("rps:Q", title="per simulated second"),
            color=alt.Color(
                "series:N",
                legend=_legend(),
                scale=alt.Scale(domain=list(LOAD_COLORS), range=list(LOAD_COLORS.values())),
            ),
            tooltip=_tips(tooltips, _time_tooltip(), alt.Tooltip("series:N"), alt.Tooltip("rps:Q", format=",.0f")),
        )
    )
    return _with_rules([line], d, domain, "Throughput, DB load and failures", height)


def node_load_columns(node_ts: ColumnsLike, max_marks: int = 6000) -> tuple[Columns, Columns]:
    """(cells, off) of :func:`node_load_data` on columns (``node_ts``: t, name, up,
    routed, partitioned, slow_factor, requests, occupancy, capacity)."""
    t = np.asarray(node_ts["t"], dtype=float)
    names = np.asarray(node_ts["name"], dtype=object)
    new_time = np.empty(len(t), dtype=bool)
    new_time[:1] = True
    np.not_equal(t[1:], t[:-1], out=new_time[1:])
    grouped = bool(np.all(t[1:] >= t[:-1]))  # rows ordered by time (always, for snapshots)
    times = t[new_time] if grouped else pd.unique(t)
    step = max(1, int(np.ceil(len(times) * max(1, len(pd.unique(names))) / max_marks)))
    if step == 1:
        rows = slice(None)
    elif grouped:  # every step-th time: by each row's time rank
        rows = np.flatnonzero((np.cumsum(new_time) - 1) % step == 0)
    else:
        rows = np.flatnonzero(np.isin(t, times[::step]))
    interval = float(times[1] - times[0]) if len(times) > 1 else 1.0
    t = t[rows]
    picked = {
        c: np.asarray(node_ts[c])[rows] for c in ("up", "partitioned", "routed", "slow_factor", "occupancy", "capacity")
    }
    code = derived.node_state_codes(picked)
    cells = {
        "t": t,
        "t0": t - interval * step,
        "name": names[rows],
        "state": derived.NODE_STATES[code],
        "rps": derived.ratios(np.asarray(node_ts["requests"])[rows], interval),
        "fill": derived.node_fill(picked),
    }
    serving = code >= derived.SERVING
    on, off = np.flatnonzero(serving), np.flatnonzero(~serving)
    return {c: v[on] for c, v in cells.items()}, {c: v[off] for c, v in cells.items()}


def node_load_data(
    node_ts: pd.DataFrame, events: pd.DataFrame | None = None, *, domain: Domain = None, max_marks: int = 6000
) -> Frames:
    """Per-node, per-window cells (bounded to ``max_marks`` by keeping every k-th
    window), split into nodes serving (``cells``) and not serving (``off``)."""
    cells, off = node_load_columns(node_ts, max_marks)
    return {"cells": _frame(cells), "off": _frame(off), "rules": markers(events, domain)}


def _node_load(d: Frames, domain: Domain, height: int | None = None, tooltips: bool = True) -> alt.LayerChart:
    order = list(dict.fromkeys([*d["cells"]["name"], *d["off"]["name"]]))
    order.sort(key=lambda n: (len(n), n))  # node-2 before node-10
    y = alt.Y("name:N", title=None, sort=order)
    tip = _tips(
        tooltips,
        alt.Tooltip("name:N", title="node"),
        _time_tooltip(),
        alt.Tooltip("state:N"),
        alt.Tooltip("rps:Q", format=",.0f", title="req/s"),
        alt.Tooltip("fill:Q", format=".0%", title="occupancy"),
    )
    states = [s for s in STATE_COLORS if s not in ("up", "slow")]
    serving = (
        alt.Chart(d["cells"])
        .mark_rect()
        .encode(
            x=_x(domain),
            x2=alt.X2("t0:Q"),
            y=y,
            tooltip=tip,
            color=alt.Color(
                "rps:Q",
                title="req/s",
                scale=alt.Scale(scheme="blues"),
                legend=alt.Legend(orient="bottom", gradientLength=120),
            ),
        )
    )
    off = (
        alt.Chart(d["off"])
        .mark_rect()
        .encode(
            x=_x(domain),
            x2=alt.X2("t0:Q"),
            y=y,
            tooltip=tip,
            color=alt.Color(
                "state:N",
                title="not serving",
                legend=alt.Legend(orient="bottom"),
                scale=alt.Scale(domain=states, range=[STATE_COLORS[s] for s in states]),
            ),
        )
    )
    h = height or max(HEIGHT, min(400, 22 * len(order)))
    return _with_rules([serving, off], d, domain, "Per-node load and state", h)


def node_occupancy_columns(latest: ColumnsLike) -> Columns:
    """The occupancy bars' columns (name, state, occupancy, capacity, fill)."""
    return {
        "name": np.asarray(latest["name"], dtype=object),
        "state": derived.node_state(latest),
        "occupancy": np.asarray(latest["occupancy"]),
        "capacity": np.asarray(latest["capacity"]),
        "fill": derived.node_fill(latest),
    }


def node_occupancy_data(latest: pd.DataFrame) -> Frames:
    """``latest``: one row per node (a node_timeseries() slice at one t)."""
    return {"nodes": _frame(node_occupancy_columns(latest))}


def _node_occupancy(d: Frames, domain: Domain = None, height: int | None = None, tooltips: bool = True) -> alt.Chart:
    df = d["nodes"]
    states = list(STATE_COLORS)
    return (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("fill:Q", title="occupancy", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            y=alt.Y("name:N", title=None, sort=list(df["name"])),
            color=alt.Color(
                "state:N",
                legend=alt.Legend(orient="bottom", direction="horizontal", title=None),
                scale=alt.Scale(domain=states, range=[STATE_COLORS[s] for s in states]),
            ),
            tooltip=_tips(
                tooltips,
                alt.Tooltip("name:N"),
                alt.Tooltip("state:N"),
                alt.Tooltip("occupancy:Q"),
                alt.Tooltip("capacity:Q"),
                alt.Tooltip("fill:Q", format=".0%"),
            ),
        )
        .properties(title="Cache occupancy", height=height or max(60, min(320, 20 * len(df))), autosize=FIT_X)
    )


def hit_ratio_chart(
    ts: pd.DataFrame,
    events: pd.DataFrame | None = None,
    *,
    domain: Domain = None,
    theory: float | None = None,
    theory_label: str = "analytic",
    height: int = HEIGHT,
) -> alt.LayerChart:
    """Hit ratio per snapshot window; chaos rules; optional analytic reference line."""
    data = hit_ratio_data(ts, events, domain=domain, theory=theory, theory_label=theory_label)
    return _hit_ratio(data, domain, height)


def latency_chart(
    ts: pd.DataFrame, events: pd.DataFrame | None = None, *, domain: Domain = None, height: int = HEIGHT
) -> alt.LayerChart:
    """p50, p95 and p99 latency per window (log scale), with chaos rules."""
    return _latency(latency_data(ts, events, domain=domain), domain, height)


def load_chart(
    ts: pd.DataFrame, events: pd.DataFrame | None = None, *, domain: Domain = None, height: int = HEIGHT
) -> alt.LayerChart:
    """Throughput, database load and failures per simulated second, with chaos rules."""
    return _load(load_data(ts, events, domain=domain), domain, height)


def node_load_chart(
    node_ts: pd.DataFrame,
    events: pd.DataFrame | None = None,
    *,
    domain: Domain = None,
    max_marks: int = 6000,
    height: int | None = None,
) -> alt.LayerChart:
    """Heatmap of requests per second by node and window; nodes not serving in red/gray."""
    return _node_load(node_load_data(node_ts, events, domain=domain, max_marks=max_marks), domain, height)


def node_occupancy_chart(latest: pd.DataFrame, *, height: int | None = None) -> alt.Chart:
    """One bar per node: how full its cache is, colored by its state."""
    return _node_occupancy(node_occupancy_data(latest), None, height)


# -- layouts by name (see cachesim.ui.vega for the cached Vega-Lite specs) ---------------

LAYOUTS: dict[str, Callable[..., alt.TopLevelMixin]] = {
    "hit_ratio": _hit_ratio,
    "latency": _latency,
    "load": _load,
    "node_load": _node_load,
    "node_occupancy": _node_occupancy,
}


# -- distributions, comparisons, schedules ----------------------------------------------


def latency_cdf_chart(
    hist: pd.DataFrame, quantiles: Mapping[str, float | None] | None = None, *, height: int = 260
) -> alt.Chart | alt.LayerChart:
    """Cumulative distribution of request latency (log x) from ``latency_histogram()``,
    with dashed rules at the given quantiles, e.g. ``{"p50": 1.2, "p99": 8.0}``."""
    df = hist.loc[:, ["upper_ms", "count"]].sort_values("upper_ms")
    total = df["count"].sum()
    df = df.assign(cdf=df["count"].cumsum() / total if total else 0.0)
    line = (
        alt.Chart(df)
        .mark_line(interpolate="step-before", color="#2563eb")
        .encode(
            x=alt.X("upper_ms:Q", title="latency (ms, log)", scale=alt.Scale(type="log")),
            y=alt.Y(
                "cdf:Q",
                title="share of requests at or below",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            tooltip=[alt.Tooltip("upper_ms:Q", format=".2f", title="≤ ms"), alt.Tooltip("cdf:Q", format=".2%")],
        )
    )
    q = pd.DataFrame([(k, float(v)) for k, v in (quantiles or {}).items() if v], columns=["quantile", "ms"])
    if q.empty:
        return line.properties(title="Latency distribution (CDF)", height=height, autosize=FIT_X)
    rules = (
        alt.Chart(q)
        .mark_rule(strokeDash=[4, 3], color="#64748b")
        .encode(x=alt.X("ms:Q"), tooltip=[alt.Tooltip("quantile:N"), alt.Tooltip("ms:Q", format=".2f")])
    )
    labels = (
        alt.Chart(q)
        .mark_text(align="left", dx=3, dy=-4, color="#334155", fontSize=11)
        .encode(x=alt.X("ms:Q"), y=alt.YValue(12), text=alt.Text("quantile:N"))
    )
    return alt.LayerChart(
        layer=[line, rules, labels], title="Latency distribution (CDF)", height=height, autosize=FIT_X
    )


CONVERGENCE_WITHIN = (
    ("1 ms", "converged_1ms"),
    ("10 ms", "converged_10ms"),
    ("100 ms", "converged_100ms"),
    ("1 s", "converged_1s"),
    ("10 s", "converged_10s"),
)


def convergence_frame(summary: Mapping[str, Any]) -> pd.DataFrame:
    """The share of writes converged within each threshold, and its nines."""
    rows = [
        (label, summary.get(key), summary.get(key.replace("converged_", "convergence_nines_")))
        for label, key in CONVERGENCE_WITHIN
    ]
    return pd.DataFrame([r for r in rows if r[1] is not None], columns=["within", "share", "nines"])


def convergence_chart(summary: Mapping[str, Any], *, height: int = 240) -> alt.Chart:
    """Bars: the share of writes after which no node could serve an older version of the
    key within 1 ms .. 10 s (the unconverged count against every bar)."""
    df = convergence_frame(summary)
    order = [label for label, _ in CONVERGENCE_WITHIN]
    return (
        alt.Chart(df)
        .mark_bar(color="#7c3aed")
        .encode(
            x=alt.X("within:N", sort=order, title="converged within"),
            y=alt.Y("share:Q", title="share of writes", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            tooltip=[
                alt.Tooltip("within:N"),
                alt.Tooltip("share:Q", format=".3%"),
                alt.Tooltip("nines:Q", format=".2f"),
            ],
        )
        .properties(title="Write convergence: no node serves an older version", height=height, autosize=FIT_X)
    )


#: In a two-column grid: the failure ratio sits beside the latency (which counts completed requests only).
COMPARE_METRICS = {
    "hit_ratio": ("Hit ratio", ".1%"),
    "throughput_rps": ("Throughput (req/s)", ",.0f"),
    "latency_p99_ms": ("Latency p99 (ms, completed requests only)", ".2f"),
    "failure_ratio": ("Failure ratio", ".1%"),
    "db_load_rps": ("DB load (req/s)", ",.0f"),
}


def compare_frame(frames: Mapping[str, pd.DataFrame], metric: str, max_points: int = 1000) -> pd.DataFrame:
    """Long frame (t, run, value) of one metric over several runs' timeseries."""
    parts = []
    for run, ts in frames.items():
        ts = downsample(ts, max_points)
        value = ts[metric]
        parts.append(pd.DataFrame({"t": ts["t"].to_numpy(), "run": run, "value": value.to_numpy(float)}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"t": [], "run": [], "value": []})


def compare_chart(frames: Mapping[str, pd.DataFrame], metric: str, *, height: int = 220) -> alt.Chart:
    """One metric of several runs overlaid, one color per run (in the given order)."""
    title, fmt = COMPARE_METRICS.get(metric, (metric, ",.3g"))
    df = compare_frame(frames, metric)
    scale = alt.Scale(type="log") if metric.startswith("latency") else alt.Scale(zero=metric != "hit_ratio")
    if metric == "failure_ratio":
        scale = alt.Scale(domain=[0, 1])
    return (
        alt.Chart(df)
        .mark_line(strokeWidth=1.4)
        .encode(
            x=_x(None),
            y=alt.Y(
                "value:Q",
                title=title,
                scale=scale,
                axis=alt.Axis(format="%") if metric.endswith("_ratio") else alt.Axis(),
            ),
            color=alt.Color(
                "run:N",
                sort=list(frames),
                scale=alt.Scale(domain=list(frames), range=RUN_COLORS),
                legend=alt.Legend(orient="bottom", direction="horizontal", title=None, columns=2, labelLimit=260),
            ),
            tooltip=[alt.Tooltip("run:N"), _time_tooltip(), alt.Tooltip("value:Q", format=fmt, title=title)],
        )
        .properties(title=title, height=height, autosize=FIT_X)
    )


def zoom_overview_data(ts: pd.DataFrame, events: pd.DataFrame | None = None) -> Frames:
    """The zoom strip's frames: hit ratio, failure ratio, marker times."""
    return {"hit": _frame(hit_ratio_columns(ts)), "fail": _frame(failure_columns(ts)), "rules": markers(events)}


def zoom_overview_chart(d: Frames, *, param: str = "zoom", height: int = 60) -> alt.LayerChart:
    """A slim strip of the whole run (hit ratio, and the failure ratio in red) that
    carries the interval selection ``param`` on x: drag on it to pick a time range that
    the charts below follow (:func:`zoom_chart`); double-click resets.
    ``d``: :func:`zoom_overview_data`."""
    brush = alt.selection_interval(name=param, encodings=["x"])
    hit, fail, rules = d["hit"], d["fail"], d["rules"]
    x = _x(None, title="drag here to zoom every chart below; double-click to reset")
    layers = [
        alt.Chart(hit)
        .mark_area(color="#93c5fd", opacity=0.7)
        .encode(
            x=x,
            y=alt.Y("hit_ratio:Q", title=None, scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%", tickCount=2)),
        )
        .add_params(brush)
    ]
    if not fail.empty:
        layers.append(alt.Chart(fail).mark_line(color=FAILURE_COLOR, strokeWidth=1).encode(x=x, y="failure_ratio:Q"))
    if not rules.empty:
        layers.append(alt.Chart(rules).mark_rule(color="#475569", strokeWidth=1, opacity=0.6).encode(x=x))
    return alt.LayerChart(
        layer=layers,
        height=height,
        autosize=FIT_X,
        title=alt.Title("Whole run: hit ratio (blue), failure ratio (red)", fontSize=11),
    )


#: The interval selection the Analysis charts share (drag on the strip; double-click resets).
ZOOM = "zoom"


def zoom_chart(
    ts: pd.DataFrame,
    node_ts: pd.DataFrame,
    events: pd.DataFrame | None = None,
    *,
    theory: float | None = None,
    theory_label: str = "analytic",
    param: str = ZOOM,
) -> alt.VConcatChart:
    """The whole-run time series stacked: a strip of the run to drag a time range on
    (:func:`zoom_overview_chart`), then hit ratio, latency (with the failure ratio), load
    and per-node load, whose x scales all take their domain from the dragged range
    (double-click shows the whole run again)."""
    overview = zoom_overview_chart(zoom_overview_data(ts, events), param=param)
    views = [
        hit_ratio_chart(ts, events, theory=theory, theory_label=theory_label),
        latency_chart(ts, events),
        load_chart(ts, events),
        node_load_chart(node_ts, events),
    ]
    for chart in (overview, *views):
        chart.autosize = alt.Undefined  # a stacked chart sizes as a whole (Streamlit fits it to the page)
        for unit in chart.layer:
            _inner_y_axis(unit)
    for chart in views:
        for unit in chart.layer:
            _follow(unit, param)
    return alt.vconcat(overview, *views).resolve_scale(x="independent", y="independent", color="independent")


def _follow(unit: alt.Chart, param: str) -> None:
    """Bind a unit's x scale to the selection ``param`` and clip its marks to the plot."""
    x = unit["encoding"]["x"]
    if isinstance(x, alt.X):
        x["scale"] = alt.Scale(domain=alt.ParameterExtent(param=param, encoding="x"))
    mark = unit["mark"]
    unit["mark"] = alt.MarkDef(**({"type": mark} if isinstance(mark, str) else mark.to_dict()), clip=True)


def _inner_y_axis(unit: alt.Chart) -> None:
    """Draw a unit's y axis labels inside the plot and reserve no room for the axis:
    Streamlit gives each view of a stacked chart the container's width for its plot, so
    anything outside the plot would push it past the container's edge."""
    y = unit["encoding"]["y"]
    if not isinstance(y, alt.Y) or y["axis"] is None:
        return
    axis = {} if y["axis"] is alt.Undefined else y["axis"].to_dict()
    right = axis.get("orient") == "right"
    axis |= {
        "labelAlign": "right" if right else "left",
        "labelPadding": -4,
        "tickSize": 0,
        "domain": False,
        "minExtent": 0,
        "maxExtent": 0,
        "title": None,
        "labelBaseline": "bottom",
        "labelOpacity": 0.8,
    }
    y["axis"] = alt.Axis(**axis)


def chaos_timeline_chart(spans: pd.DataFrame, duration_s: float, *, height: int | None = None) -> alt.Chart:
    """Scheduled faults as bars over the run: ``spans`` has at_s, end_s, action, target
    (``cachesim.ui.chaos_editor.schedule_spans`` makes it from a config's events)."""
    df = spans
    kinds = [k for k in CHAOS_KINDS if k in set(df["action"])]
    return (
        alt.Chart(df)
        .mark_bar(cornerRadius=3, opacity=0.85)
        .encode(
            x=alt.X(
                "at_s:Q",
                title="simulated time (s)",
                scale=alt.Scale(domain=[0, duration_s], nice=False),
                axis=alt.Axis(tickCount=10),
            ),
            x2=alt.X2("end_s:Q"),
            y=alt.Y("target:N", title=None),
            color=alt.Color(
                "action:N",
                legend=alt.Legend(orient="bottom", direction="horizontal", title=None),
                scale=alt.Scale(domain=kinds, range=[KIND_COLORS[k] for k in kinds]),
            ),
            tooltip=[
                alt.Tooltip("action:N"),
                alt.Tooltip("target:N"),
                alt.Tooltip("at_s:Q", title="from (s)"),
                alt.Tooltip("end_s:Q", title="until (s)", format=".1f"),
            ],
        )
        .properties(title="Chaos schedule", height=height or max(50, 28 * df["target"].nunique()), autosize=FIT_X)
    )
