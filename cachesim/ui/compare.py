"""Compare runs of this session: overlaid time series, KPI deltas, config differences."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from .. import charts
from ..results import RunResult
from .text import plain

#: (summary key, column label, column format)
KPIS = (
    ("hit_ratio", "hit ratio", "percent"), ("latency_p50_ms", "p50 (ms)", "%.2f"),
    ("latency_p99_ms", "p99 (ms)", "%.2f"), ("throughput_rps", "throughput (req/s)", "%.0f"),
    ("db_load_rps", "DB load (req/s)", "%.0f"), ("failed", "failed", "%d"), ("stale_reads", "stale reads", "%d"),
)


def _num(v: object) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)  # type: ignore[arg-type]


def kpi_table(runs: dict[str, RunResult]) -> pd.DataFrame:
    """One row per run (in order), one column per KPI (summary after warm-up)."""
    return pd.DataFrame([{"run": r, **{label: _num(res.summary.get(key)) for key, label, _ in KPIS}}
                         for r, res in runs.items()])


def delta_table(table: pd.DataFrame) -> pd.DataFrame:
    """Each later run's KPIs relative to the first run's: (x - ref) / |ref|; empty
    where the reference is 0 or undefined."""
    ref = table.iloc[0]
    rows = []
    for _, row in table.iloc[1:].iterrows():
        out: dict[str, object] = {"run": row["run"]}
        for _, label, _ in KPIS:
            base, v = ref[label], row[label]
            ok = pd.notna(base) and pd.notna(v) and base != 0
            out[label] = (v - base) / abs(base) if ok else None
        rows.append(out)
    return pd.DataFrame(rows, columns=["run", *(label for _, label, _ in KPIS)])


def config_diff(runs: dict[str, RunResult]) -> pd.DataFrame:
    """The config fields whose values differ between the runs (one column per run)."""
    flats = {r: res.config.flat() for r, res in runs.items()}
    keys = sorted({k for f in flats.values() for k in f} - {"description"})
    rows = []
    for k in keys:
        vals = [flats[r].get(k) for r in runs]
        if any(v != vals[0] for v in vals[1:]):
            rows.append({"field": k, **{r: "" if v is None else str(v) for r, v in zip(runs, vals, strict=True)}})
    return pd.DataFrame(rows, columns=["field", *runs])


def render_compare(runs: dict[str, RunResult], current: str) -> None:
    ids = list(runs)
    if len(ids) < 2:
        st.info("Compare needs two runs or more: run another scenario or change a parameter and run again.",
                icon=":material/compare_arrows:")
        return
    default = [current] + [r for r in reversed(ids) if r != current][:1]
    if "compare.runs" in st.session_state:  # a run may have left the registry (oldest dropped)
        st.session_state["compare.runs"] = [r for r in st.session_state["compare.runs"] if r in ids] or default
    else:
        st.session_state["compare.runs"] = default
    chosen = st.multiselect("Runs to compare (the first is the reference)", ids, key="compare.runs")
    if len(chosen) < 2:
        st.warning("Pick at least two runs.", icon=":material/warning:")
        return
    picked = {r: runs[r] for r in chosen}
    frames = {r: res.timeseries() for r, res in picked.items()}
    c1, c2 = st.columns(2)
    for i, metric in enumerate(charts.COMPARE_METRICS):
        with (c1 if i % 2 == 0 else c2):
            st.altair_chart(charts.compare_chart(frames, metric), width="stretch")
    table = kpi_table(picked)
    st.markdown("**KPIs** (after warm-up)")
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        label: st.column_config.NumberColumn(label, format=f) for _, label, f in KPIS})
    st.markdown(f"**Change against {plain(chosen[0])}**")
    deltas = delta_table(table)
    labels = [label for _, label, _ in KPIS]
    deltas[labels] = deltas[labels].astype(float) * 100
    st.dataframe(deltas, hide_index=True, width="stretch", column_config={
        label: st.column_config.NumberColumn(label, format="%+.1f%%") for _, label, _ in KPIS})
    diff = config_diff(picked)
    st.markdown("**What differs in the configs**")
    if diff.empty:
        st.caption("Nothing: the runs have the same config.")
    else:
        st.dataframe(diff, hide_index=True, width="stretch")
