"""Compare runs of this session: overlaid time series, KPI deltas, config differences."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from .. import charts
from ..results import RunResult

#: (summary key, label, higher is better)
KPIS = (
    ("hit_ratio", "Hit ratio", True), ("latency_p50_ms", "p50 latency (ms)", False),
    ("latency_p99_ms", "p99 latency (ms)", False), ("throughput_rps", "Throughput (req/s)", True),
    ("db_load_rps", "DB load (req/s)", False), ("failed", "Failed requests", False),
    ("stale_reads", "Stale reads", False),
)


def kpi_table(runs: dict[str, RunResult]) -> pd.DataFrame:
    """One row per KPI, one column per run, and ``Δ <run>`` columns: the relative
    change of each later run against the first."""
    ids = list(runs)
    rows = []
    for key, label, _ in KPIS:
        row: dict[str, object] = {"metric": label}
        values = [runs[r].summary.get(key) for r in ids]
        for r, v in zip(ids, values, strict=True):
            row[r] = v
        for r, v in zip(ids[1:], values[1:], strict=True):
            base = values[0]
            ok = v is not None and base not in (None, 0) and not (isinstance(v, float) and math.isnan(v))
            row[f"Δ {r.split(' · ')[0]}"] = (v - base) / abs(base) if ok else None
        rows.append(row)
    return pd.DataFrame(rows)


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
    chosen = st.multiselect("Runs to compare (the first is the reference)", ids, default=default,
                            key="compare.runs")
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
    delta_cols = [c for c in table.columns if c.startswith("Δ ")]
    config = {c: st.column_config.NumberColumn(c, format="%.3g") for c in chosen}
    config.update({c: st.column_config.NumberColumn(c, format="percent", help="Change against the first run")
                   for c in delta_cols})
    st.markdown("**KPIs** (after warm-up)")
    st.dataframe(table, hide_index=True, width="stretch", column_config=config)
    diff = config_diff(picked)
    st.markdown("**What differs in the configs**")
    if diff.empty:
        st.caption("Nothing: the runs have the same config.")
    else:
        st.dataframe(diff, hide_index=True, width="stretch")
