"""The chart beside an answer: hit ratio and p99 latency over the cited window, with
the cited time ranges as shaded bands and chaos actions as rules (Altair, no streamlit)."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from ..results import RunResult

PAD_S = 2.0


def window_for(ranges: Sequence[tuple[float, float]], t_max: float) -> tuple[float, float]:
    """The time window that shows every cited range with some context around it."""
    a = max(0.0, min(r[0] for r in ranges) - PAD_S)
    b = min(t_max, max(r[1] for r in ranges) + PAD_S)
    return (a, b) if b > a else (0.0, t_max)


def cited_window_chart(run: RunResult, ranges: Sequence[tuple[float, float]], height: int = 220) -> alt.Chart | None:
    """Hit ratio and p99 latency in the window around ``ranges``; None if nothing to show."""
    t_max = float(run.sim_time_s)
    ranges = [(max(0.0, a), min(t_max, b)) for a, b in ranges if a <= t_max]
    if not ranges:
        return None
    a, b = window_for(ranges, t_max)
    ts = run.timeseries()
    ts = ts[(ts["t"] >= a) & (ts["t"] <= b)]
    if ts.empty:
        return None
    long = ts.melt(
        id_vars=["t"], value_vars=["hit_ratio", "latency_p99_ms"], var_name="metric", value_name="value"
    ).dropna()
    long["metric"] = long["metric"].map({"hit_ratio": "hit ratio", "latency_p99_ms": "p99 latency (ms)"})
    # a point citation [t=A s] becomes a band one snapshot wide
    step = float(run.config.snapshot_interval_s)
    bands = pd.DataFrame([{"start": r0, "end": max(r1, r0 + step), "label": f"t={r0:g}-{r1:g} s"} for r0, r1 in ranges])
    ev = run.events()
    ev = ev[(ev["source"] == "chaos") & (ev["t"] >= a) & (ev["t"] <= b)][["t", "kind", "target"]]
    scale = alt.Scale(domain=[a, b], zero=False, nice=False)
    x = alt.X("t:Q", title="simulated time (s)", scale=scale)
    band = (
        alt.Chart(bands)
        .mark_rect(opacity=0.18, color="#f58518", clip=True)
        .encode(x=alt.X("start:Q", scale=scale), x2="end:Q", tooltip=[alt.Tooltip("label:N", title="cited")])
    )
    rules = (
        alt.Chart(ev)
        .mark_rule(color="#e45756", strokeDash=[4, 3])
        .encode(x=alt.X("t:Q", scale=scale), tooltip=["t:Q", "kind:N", "target:N"])
    )
    line = (
        alt.Chart(long)
        .mark_line(interpolate="step-before")
        .encode(
            x=x,
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            tooltip=["t:Q", "metric:N", alt.Tooltip("value:Q", format=".3f")],
        )
    )
    panels = [
        alt.layer(band, rules, line.transform_filter(alt.datum.metric == m)).properties(height=height // 2, title=m)
        for m in ("hit ratio", "p99 latency (ms)")
    ]
    return alt.vconcat(*panels).resolve_scale(y="independent")
