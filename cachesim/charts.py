"""Altair chart builders: DataFrame in, ``alt.Chart`` out. No streamlit here.

Each chart is two steps: ``*_data(...)`` prepares the frames a chart draws (long
format, events as rules) in pandas; a layout (``LAYOUTS[name]``) turns them into an
Altair chart. ``*_chart(...)`` does both; ``cachesim.ui.vega`` builds a spec once per
structure and then only swaps the frames, for pages that redraw several times a second.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

#: Chaos actions: drawn as solid rules.
CHAOS_KINDS = ("kill", "restart", "slow", "heal", "partition", "loss")
#: What the system noticed: drawn as dashed rules.
DETECTION_KINDS = ("node_down_detected", "node_up_detected", "anomaly", "recovered")
MARKER_KINDS = CHAOS_KINDS + DETECTION_KINDS
KIND_COLORS = {
    "kill": "#dc2626", "restart": "#16a34a", "slow": "#f59e0b", "heal": "#0d9488",
    "partition": "#7c3aed", "loss": "#db2777", "node_down_detected": "#991b1b",
    "node_up_detected": "#166534", "anomaly": "#ea580c", "recovered": "#0e7490",
}
STATE_COLORS = {"up": "#2563eb", "slow": "#f59e0b", "partitioned": "#7c3aed",
                "unrouted": "#94a3b8", "down": "#dc2626"}
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
    n = len(ts)
    if n <= max_points:
        return ts
    size = int(np.ceil(n / max_points))
    starts = np.arange(0, n, size)
    out = {}
    for c in ts.select_dtypes("number").columns:
        x = ts[c].to_numpy(float)
        ok = np.isfinite(x)
        sums, counts = np.add.reduceat(np.where(ok, x, 0.0), starts), np.add.reduceat(ok.astype(float), starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[c] = np.where(counts > 0, sums / counts, np.nan)
    out["t"] = ts["t"].to_numpy(float)[np.minimum(starts + size, n) - 1]
    return pd.DataFrame(out)


def node_state(nodes: pd.DataFrame) -> np.ndarray:
    """Each node row's state: down, partitioned, unrouted, slow or up."""
    return np.select(
        [~nodes["up"].to_numpy(bool), nodes["partitioned"].to_numpy(bool),
         ~nodes["routed"].to_numpy(bool), nodes["slow_factor"].to_numpy(float) > 1],
        ["down", "partitioned", "unrouted", "slow"], default="up")


def markers(events: pd.DataFrame | None, domain: Domain = None,
            kinds: Sequence[str] = MARKER_KINDS) -> pd.DataFrame:
    """The events drawn as rules (chaos actions and detections), inside ``domain``."""
    if events is None or events.empty:
        return pd.DataFrame({"t": [], "kind": [], "target": [], "message": [], "style": []})
    kind = events["kind"].to_numpy(object)
    t = events["t"].to_numpy(float)
    keep = np.isin(kind, list(kinds))
    if domain is not None:
        keep &= (t >= domain[0]) & (t <= domain[1])
    idx = np.flatnonzero(keep)
    return pd.DataFrame({
        "t": t[idx], "kind": kind[idx], "target": events["target"].to_numpy(object)[idx],
        "message": events["message"].to_numpy(object)[idx],
        "style": np.where(np.isin(kind[idx], list(CHAOS_KINDS)), "chaos", "detected")})


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
    return alt.Legend(orient="top", direction="horizontal", title=None, **kw)


def _rules(ev: pd.DataFrame, domain: Domain) -> alt.Chart:
    kinds = [k for k in MARKER_KINDS if k in set(ev["kind"])]
    return alt.Chart(ev).mark_rule(strokeWidth=1.5, opacity=0.85).encode(
        x=_x(domain),
        color=alt.Color("kind:N", title="event", scale=alt.Scale(domain=kinds, range=[KIND_COLORS[k] for k in kinds]),
                        legend=None),
        strokeDash=alt.StrokeDash("style:N", legend=None,
                                  scale=alt.Scale(domain=["chaos", "detected"], range=[[1, 0], [4, 3]])),
        tooltip=[alt.Tooltip("t:Q", format=".2f", title="t (s)"), alt.Tooltip("kind:N"),
                 alt.Tooltip("target:N"), alt.Tooltip("message:N")],
    )


def _with_rules(layers: list, d: Frames, domain: Domain, title: str, height: int) -> alt.LayerChart:
    if not d["rules"].empty:
        layers = [*layers, _rules(d["rules"], domain)]
    return alt.LayerChart(layer=layers, title=title, height=height, autosize=FIT_X,
                          resolve=alt.Resolve(scale=alt.ScaleResolveMap(color="independent")))


def _time_tooltip() -> alt.Tooltip:
    return alt.Tooltip("t:Q", format=".1f", title="t (s)")


def _tips(enabled: bool, *items: alt.Tooltip) -> list[alt.Tooltip] | alt.UndefinedType:
    """Tooltips, or none: a live chart redraws 5 times a second and the browser would
    format every tooltip of every mark each time."""
    return list(items) if enabled else alt.Undefined


def _long(ts: pd.DataFrame, series: dict[str, np.ndarray], value: str) -> pd.DataFrame:
    """Several series over ``ts["t"]`` as one long frame (t, series, value), undefined
    and (for log scales) non-positive values left out. Done here rather than with
    Vega-Lite transforms, which the browser would re-run on every redraw."""
    t = ts["t"].to_numpy(float)
    values = np.concatenate([np.asarray(v, dtype=float) for v in series.values()]) if series else np.array([])
    long = pd.DataFrame({"t": np.tile(t, len(series)), "series": np.repeat(list(series), len(t)), value: values})
    return long[np.isfinite(values)].reset_index(drop=True)


# -- time series ------------------------------------------------------------------------


def hit_ratio_data(ts: pd.DataFrame, events: pd.DataFrame | None = None, *, domain: Domain = None,
                   theory: float | None = None, theory_label: str = "analytic") -> Frames:
    d = {"ts": _long(ts, {"hit ratio": ts["hit_ratio"].to_numpy(float)}, "hit_ratio"),
         "rules": markers(events, domain)}
    if theory is not None:
        d["ref"] = pd.DataFrame({"hit_ratio": [float(theory)], "label": [f"{theory_label}: {theory:.1%}"]})
    return d


def _hit_ratio(d: Frames, domain: Domain, height: int = HEIGHT, tooltips: bool = True) -> alt.LayerChart:
    layers = [alt.Chart(d["ts"]).mark_line(strokeWidth=1.6).encode(
        x=_x(domain),
        y=alt.Y("hit_ratio:Q", title="hit ratio", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        color=alt.Color("series:N", legend=_legend(), scale=alt.Scale(domain=["hit ratio"], range=["#2563eb"])),
        tooltip=_tips(tooltips, _time_tooltip(), alt.Tooltip("hit_ratio:Q", format=".1%", title="hit ratio")))]
    if "ref" in d:
        layers += [
            alt.Chart(d["ref"]).mark_rule(color="#16a34a", strokeDash=[6, 4], strokeWidth=2).encode(
                y=alt.Y("hit_ratio:Q"), tooltip=[alt.Tooltip("label:N")]),
            alt.Chart(d["ref"]).mark_text(align="left", dx=4, dy=-8, color="#15803d", fontSize=11).encode(
                y=alt.Y("hit_ratio:Q"), x=alt.XValue(0), text=alt.Text("label:N")),
        ]
    return _with_rules(layers, d, domain, "Hit ratio", height)


def latency_data(ts: pd.DataFrame, events: pd.DataFrame | None = None, *, domain: Domain = None) -> Frames:
    """Long frame (t, series p50/p95/p99, ms) of positive latencies, and the rules."""
    series = {p: ts[f"latency_{p}_ms"].to_numpy(float) for p in PERCENTILE_COLORS}
    long = _long(ts, series, "ms")
    return {"ts": long[long["ms"] > 0].reset_index(drop=True), "rules": markers(events, domain)}


def _latency(d: Frames, domain: Domain, height: int = HEIGHT, tooltips: bool = True) -> alt.LayerChart:
    line = alt.Chart(d["ts"]).mark_line(strokeWidth=1.4).encode(
        x=_x(domain),
        y=alt.Y("ms:Q", title="latency (ms, log)", scale=alt.Scale(type="log")),
        color=alt.Color("series:N", legend=_legend(),
                        scale=alt.Scale(domain=list(PERCENTILE_COLORS), range=list(PERCENTILE_COLORS.values()))),
        tooltip=_tips(tooltips, _time_tooltip(), alt.Tooltip("series:N", title="percentile"),
                      alt.Tooltip("ms:Q", format=".2f")))
    return _with_rules([line], d, domain, "Latency p50 / p95 / p99", height)


def load_data(ts: pd.DataFrame, events: pd.DataFrame | None = None, *, domain: Domain = None) -> Frames:
    """Long frame (t, series, rps): throughput, DB load (reads + writes) and failures
    per simulated second; and the rules."""
    per_s = ts["interval_s"].to_numpy(float)
    series = {"throughput": ts["throughput_rps"].to_numpy(float),
              "DB load": (ts["db_reads"].to_numpy(float) + ts["db_writes"].to_numpy(float)) / per_s,
              "failures": ts["failed"].to_numpy(float) / per_s}
    return {"ts": _long(ts, series, "rps"), "rules": markers(events, domain)}


def _load(d: Frames, domain: Domain, height: int = HEIGHT, tooltips: bool = True) -> alt.LayerChart:
    line = alt.Chart(d["ts"]).mark_line(strokeWidth=1.4).encode(
        x=_x(domain),
        y=alt.Y("rps:Q", title="per simulated second"),
        color=alt.Color("series:N", legend=_legend(),
                        scale=alt.Scale(domain=list(LOAD_COLORS), range=list(LOAD_COLORS.values()))),
        tooltip=_tips(tooltips, _time_tooltip(), alt.Tooltip("series:N"), alt.Tooltip("rps:Q", format=",.0f")))
    return _with_rules([line], d, domain, "Throughput, DB load and failures", height)


def node_load_data(node_ts: pd.DataFrame, events: pd.DataFrame | None = None, *, domain: Domain = None,
                   max_marks: int = 6000) -> Frames:
    """Per-node, per-window cells (bounded to ``max_marks`` by keeping every k-th
    window), split into nodes serving (``cells``) and not serving (``off``)."""
    times = node_ts["t"].unique()
    step = max(1, int(np.ceil(len(times) * max(1, node_ts["name"].nunique()) / max_marks)))
    df = node_ts if step == 1 else node_ts[node_ts["t"].isin(times[::step])]
    interval = float(times[1] - times[0]) if len(times) > 1 else 1.0
    state = node_state(df)
    cells = pd.DataFrame({
        "t": df["t"].to_numpy(), "t0": df["t"].to_numpy() - interval * step, "name": df["name"].to_numpy(),
        "state": state, "rps": df["requests"].to_numpy() / interval,
        "fill": df["occupancy"].to_numpy() / df["capacity"].to_numpy()})
    serving = np.isin(state, ["up", "slow"])
    return {"cells": cells[serving].reset_index(drop=True), "off": cells[~serving].reset_index(drop=True),
            "rules": markers(events, domain)}


def _node_load(d: Frames, domain: Domain, height: int | None = None, tooltips: bool = True) -> alt.LayerChart:
    order = list(dict.fromkeys([*d["cells"]["name"], *d["off"]["name"]]))
    order.sort(key=lambda n: (len(n), n))  # node-2 before node-10
    y = alt.Y("name:N", title=None, sort=order)
    tip = _tips(tooltips, alt.Tooltip("name:N", title="node"), _time_tooltip(), alt.Tooltip("state:N"),
                alt.Tooltip("rps:Q", format=",.0f", title="req/s"),
                alt.Tooltip("fill:Q", format=".0%", title="occupancy"))
    states = [s for s in STATE_COLORS if s not in ("up", "slow")]
    serving = alt.Chart(d["cells"]).mark_rect().encode(
        x=_x(domain), x2=alt.X2("t0:Q"), y=y, tooltip=tip,
        color=alt.Color("rps:Q", title="req/s", scale=alt.Scale(scheme="blues"),
                        legend=alt.Legend(orient="right", gradientLength=70)))
    off = alt.Chart(d["off"]).mark_rect().encode(
        x=_x(domain), x2=alt.X2("t0:Q"), y=y, tooltip=tip,
        color=alt.Color("state:N", title="not serving", legend=alt.Legend(orient="right"),
                        scale=alt.Scale(domain=states, range=[STATE_COLORS[s] for s in states])))
    h = height or max(HEIGHT, min(400, 22 * len(order)))
    return _with_rules([serving, off], d, domain, "Per-node load and state", h)


def node_occupancy_data(latest: pd.DataFrame) -> Frames:
    """``latest``: one row per node (a node_timeseries() slice at one t)."""
    return {"nodes": pd.DataFrame({
        "name": latest["name"].to_numpy(), "state": node_state(latest),
        "occupancy": latest["occupancy"].to_numpy(), "capacity": latest["capacity"].to_numpy(),
        "fill": latest["occupancy"].to_numpy() / latest["capacity"].to_numpy()})}


def _node_occupancy(d: Frames, domain: Domain = None, height: int | None = None,
                    tooltips: bool = True) -> alt.Chart:
    df = d["nodes"]
    states = list(STATE_COLORS)
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("fill:Q", title="occupancy", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        y=alt.Y("name:N", title=None, sort=list(df["name"])),
        color=alt.Color("state:N", legend=alt.Legend(orient="bottom", direction="horizontal", title=None),
                        scale=alt.Scale(domain=states, range=[STATE_COLORS[s] for s in states])),
        tooltip=_tips(tooltips, alt.Tooltip("name:N"), alt.Tooltip("state:N"), alt.Tooltip("occupancy:Q"),
                      alt.Tooltip("capacity:Q"), alt.Tooltip("fill:Q", format=".0%")),
    ).properties(title="Cache occupancy", height=height or max(60, min(320, 20 * len(df))), autosize=FIT_X)


def hit_ratio_chart(ts: pd.DataFrame, events: pd.DataFrame | None = None, *, domain: Domain = None,
                    theory: float | None = None, theory_label: str = "analytic",
                    height: int = HEIGHT) -> alt.LayerChart:
    """Hit ratio per snapshot window; chaos rules; optional analytic reference line."""
    data = hit_ratio_data(ts, events, domain=domain, theory=theory, theory_label=theory_label)
    return _hit_ratio(data, domain, height)


def latency_chart(ts: pd.DataFrame, events: pd.DataFrame | None = None, *, domain: Domain = None,
                  height: int = HEIGHT) -> alt.LayerChart:
    """p50, p95 and p99 latency per window (log scale), with chaos rules."""
    return _latency(latency_data(ts, events, domain=domain), domain, height)


def load_chart(ts: pd.DataFrame, events: pd.DataFrame | None = None, *, domain: Domain = None,
               height: int = HEIGHT) -> alt.LayerChart:
    """Throughput, database load and failures per simulated second, with chaos rules."""
    return _load(load_data(ts, events, domain=domain), domain, height)


def node_load_chart(node_ts: pd.DataFrame, events: pd.DataFrame | None = None, *, domain: Domain = None,
                    max_marks: int = 6000, height: int | None = None) -> alt.LayerChart:
    """Heatmap of requests per second by node and window; nodes not serving in red/gray."""
    return _node_load(node_load_data(node_ts, events, domain=domain, max_marks=max_marks), domain, height)


def node_occupancy_chart(latest: pd.DataFrame, *, height: int | None = None) -> alt.Chart:
    """One bar per node: how full its cache is, colored by its state."""
    return _node_occupancy(node_occupancy_data(latest), None, height)


# -- layouts by name (see cachesim.ui.vega for the cached Vega-Lite specs) ---------------

LAYOUTS: dict[str, Callable[..., alt.TopLevelMixin]] = {
    "hit_ratio": _hit_ratio, "latency": _latency, "load": _load,
    "node_load": _node_load, "node_occupancy": _node_occupancy,
}


# -- distributions, comparisons, schedules ----------------------------------------------


def latency_cdf_chart(hist: pd.DataFrame, quantiles: Mapping[str, float | None] | None = None, *,
                      height: int = 260) -> alt.Chart | alt.LayerChart:
    """Cumulative distribution of request latency (log x) from ``latency_histogram()``,
    with dashed rules at the given quantiles, e.g. ``{"p50": 1.2, "p99": 8.0}``."""
    df = hist.loc[:, ["upper_ms", "count"]].sort_values("upper_ms")
    total = df["count"].sum()
    df = df.assign(cdf=df["count"].cumsum() / total if total else 0.0)
    line = alt.Chart(df).mark_line(interpolate="step-before", color="#2563eb").encode(
        x=alt.X("upper_ms:Q", title="latency (ms, log)", scale=alt.Scale(type="log")),
        y=alt.Y("cdf:Q", title="share of requests at or below", axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip("upper_ms:Q", format=".2f", title="≤ ms"), alt.Tooltip("cdf:Q", format=".2%")])
    q = pd.DataFrame([(k, float(v)) for k, v in (quantiles or {}).items() if v], columns=["quantile", "ms"])
    if q.empty:
        return line.properties(title="Latency distribution (CDF)", height=height, autosize=FIT_X)
    rules = alt.Chart(q).mark_rule(strokeDash=[4, 3], color="#64748b").encode(
        x=alt.X("ms:Q"), tooltip=[alt.Tooltip("quantile:N"), alt.Tooltip("ms:Q", format=".2f")])
    labels = alt.Chart(q).mark_text(align="left", dx=3, dy=-4, color="#334155", fontSize=11).encode(
        x=alt.X("ms:Q"), y=alt.YValue(12), text=alt.Text("quantile:N"))
    return alt.LayerChart(layer=[line, rules, labels], title="Latency distribution (CDF)", height=height,
                          autosize=FIT_X)


COMPARE_METRICS = {
    "hit_ratio": ("Hit ratio", ".1%"),
    "latency_p99_ms": ("Latency p99 (ms)", ".2f"),
    "throughput_rps": ("Throughput (req/s)", ",.0f"),
    "db_load_rps": ("DB load (req/s)", ",.0f"),
}


def compare_frame(frames: Mapping[str, pd.DataFrame], metric: str, max_points: int = 1000) -> pd.DataFrame:
    """Long frame (t, run, value) of one metric over several runs' timeseries."""
    parts = []
    for run, ts in frames.items():
        ts = downsample(ts, max_points)
        value = (ts["db_reads"] + ts["db_writes"]) / ts["interval_s"] if metric == "db_load_rps" else ts[metric]
        parts.append(pd.DataFrame({"t": ts["t"].to_numpy(), "run": run, "value": value.to_numpy(float)}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"t": [], "run": [], "value": []})


def compare_chart(frames: Mapping[str, pd.DataFrame], metric: str, *, height: int = 220) -> alt.Chart:
    """One metric of several runs overlaid, one color per run (in the given order)."""
    title, fmt = COMPARE_METRICS.get(metric, (metric, ",.3g"))
    df = compare_frame(frames, metric)
    scale = alt.Scale(type="log") if metric.startswith("latency") else alt.Scale(zero=metric != "hit_ratio")
    return alt.Chart(df).mark_line(strokeWidth=1.4).encode(
        x=_x(None),
        y=alt.Y("value:Q", title=title, scale=scale,
                axis=alt.Axis(format="%") if metric == "hit_ratio" else alt.Axis()),
        color=alt.Color("run:N", sort=list(frames), scale=alt.Scale(domain=list(frames), range=RUN_COLORS),
                        legend=alt.Legend(orient="bottom", direction="horizontal", title=None, columns=2,
                                          labelLimit=260)),
        tooltip=[alt.Tooltip("run:N"), _time_tooltip(), alt.Tooltip("value:Q", format=fmt, title=title)],
    ).properties(title=title, height=height, autosize=FIT_X)


def chaos_timeline_chart(spans: pd.DataFrame, duration_s: float, *, height: int | None = None) -> alt.Chart:
    """Scheduled faults as bars over the run: ``spans`` has at_s, end_s, action, target
    (``cachesim.ui.chaos_editor.schedule_spans`` makes it from a config's events)."""
    df = spans
    kinds = [k for k in CHAOS_KINDS if k in set(df["action"])]
    return alt.Chart(df).mark_bar(cornerRadius=3, opacity=0.85).encode(
        x=alt.X("at_s:Q", title="simulated time (s)", scale=alt.Scale(domain=[0, duration_s], nice=False),
                axis=alt.Axis(tickCount=10)),
        x2=alt.X2("end_s:Q"),
        y=alt.Y("target:N", title=None),
        color=alt.Color("action:N", legend=alt.Legend(orient="bottom", direction="horizontal", title=None),
                        scale=alt.Scale(domain=kinds, range=[KIND_COLORS[k] for k in kinds])),
        tooltip=[alt.Tooltip("action:N"), alt.Tooltip("target:N"), alt.Tooltip("at_s:Q", title="from (s)"),
                 alt.Tooltip("end_s:Q", title="until (s)", format=".1f")],
    ).properties(title="Chaos schedule", height=height or max(50, 28 * df["target"].nunique()), autosize=FIT_X)
