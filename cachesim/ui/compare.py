"""Compare runs of this session: overlaid time series, KPI deltas, config differences."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from .. import charts, derived
from ..derived import num, undefined
from ..results import RunResult
from .text import plain

#: (summary key, column label, column format)
KPIS = (
    ("hit_ratio", "hit ratio", "percent"),
    ("failure_ratio", "failure ratio", "percent"),
    ("latency_p50_ms", "p50 (ms)", "%.2f"),
    ("latency_p99_ms", "p99 (ms)", "%.2f"),
    ("throughput_rps", "throughput (req/s)", "%.0f"),
    ("db_load_rps", "DB load (req/s)", "%.0f"),
    ("failed", "failed", "%d"),
    ("stale_reads", "stale reads", "%d"),
)


def kpi_table(runs: dict[str, RunResult]) -> pd.DataFrame:
    """One row per run (in order), one column per KPI (summary after warm-up)."""
    return pd.DataFrame(
        [{"run": r, **{label: num(res.summary.get(key)) for key, label, _ in KPIS}} for r, res in runs.items()]
    )


#: KPIs that are ratios: their change is a difference in percentage points, not a relative change.
RATIOS = ("hit_ratio", "failure_ratio")
DASH = "–"


def delta_table(table: pd.DataFrame) -> pd.DataFrame:
    """Each later run's KPIs against the first run's: for ratios (hit ratio, failure
    ratio) the difference in percentage points, (x - ref) x 100; for the others the
    relative change in percent, (x - ref) / |ref| x 100. None where undefined (a
    missing value, or a relative change from 0)."""
    ref = table.iloc[0]
    rows = []
    for _, row in table.iloc[1:].iterrows():
        out: dict[str, object] = {"run": row["run"]}
        for key, label, _ in KPIS:
            base, v = ref[label], row[label]
            if pd.isna(base) or pd.isna(v):
                out[label] = None
            elif key in RATIOS:
                out[label] = (v - base) * 100
            else:
                out[label] = (v - base) / abs(base) * 100 if base != 0 else None
        rows.append(out)
    return pd.DataFrame(rows, columns=["run", *(label for _, label, _ in KPIS)])


def _value_text(key: str, fmt: str, v: object) -> str:
    if undefined(v):
        return DASH
    x = float(v)  # type: ignore[arg-type]
    if fmt == "percent":
        return f"{x:.2%}"
    if fmt == "%d":
        return f"{x:,.0f}"
    if fmt == "%.0f":
        return f"{x:,.0f}"
    return f"{x:,.2f}"


def kpi_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`kpi_table` as text: percentages, thousands separators, "–" where undefined."""
    out = pd.DataFrame({"run": table["run"]})
    for key, label, f in KPIS:
        out[label] = [_value_text(key, f, v) for v in table[label]]
    return out


def delta_display(deltas: pd.DataFrame) -> pd.DataFrame:
    """:func:`delta_table` as text: ``+3.2 pp`` for ratios, ``-12.0 %`` for the rest, "–" where undefined."""
    out = pd.DataFrame({"run": deltas["run"]})
    for key, label, _ in KPIS:
        unit = " pp" if key in RATIOS else " %"
        out[label] = [DASH if v is None or pd.isna(v) else f"{float(v):+,.1f}{unit}" for v in deltas[label]]
    return out


def _events_text(value: object) -> str:
    """``chaos.events`` (JSON) as a short readable schedule."""
    import json

    try:
        events = json.loads(str(value or "[]"))
    except json.JSONDecodeError:
        return str(value)
    if not events:
        return "(none)"
    parts = []
    for e in events:
        if not isinstance(e, dict):
            continue
        text = f"{e.get('action', '?')} {e.get('target') or 'all'} at {float(e.get('at_s', 0)):g} s"
        if e.get("duration_s") is not None:
            text += f" for {float(e['duration_s']):g} s"
        parts.append(text)
    return "; ".join(parts)


def _config_text(key: str, value: object) -> str:
    if key == "chaos.events":
        return _events_text(value)
    return DASH if value is None or value == "" else str(value)


def config_diff(runs: dict[str, RunResult]) -> pd.DataFrame:
    """The config fields whose values differ, as text: field, before (the first run),
    after (the second), or one "after" column per later run when there are more."""
    ids = list(runs)
    names = ["before", "after"] if len(ids) == 2 else ["before", *(f"after: {r}" for r in ids[1:])]
    rows = [
        {"field": k, **{n: _config_text(k, v) for n, v in zip(names, vals, strict=True)}}
        for k, vals in derived.config_diff({r: res.config.flat() for r, res in runs.items()})
    ]
    return pd.DataFrame(rows, columns=["field", *names])


def render_compare(runs: dict[str, RunResult], current: str) -> None:
    ids = list(runs)
    if len(ids) < 2:
        st.info(
            "Compare needs two runs or more: run another scenario or change a parameter and run again.",
            icon=":material/compare_arrows:",
        )
        return
    default = [current] + [r for r in reversed(ids) if r != current][:1]
    pair = _changed_pair(ids, current)
    if pair is not None and st.session_state.get("compare.for") != current:
        st.session_state["compare.runs"] = pair  # a "change one thing" run: before, after
    st.session_state["compare.for"] = current
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
        with c1 if i % 2 == 0 else c2:
            st.altair_chart(charts.compare_chart(frames, metric), width="stretch")
    table = kpi_table(picked)
    st.markdown("**KPIs** (after warm-up)")
    st.dataframe(kpi_display(table), hide_index=True, width="stretch")
    st.markdown(f"**Change against {plain(chosen[0])}**")
    st.dataframe(delta_display(delta_table(table)), hide_index=True, width="stretch")
    st.caption(
        "Hit ratio and failure ratio change in percentage points (pp: 80% → 83% is +3.0 pp); the other "
        "KPIs change relative to the first run, in percent. Latency counts completed requests only, so "
        "read it with the failure ratio. – : not defined (no requests, or a change from 0)."
    )
    diff = config_diff(picked)
    st.markdown("**What differs in the configs**")
    if diff.empty:
        st.caption("Nothing: the runs have the same config.")
    else:
        st.dataframe(diff, hide_index=True, width="stretch")


def _changed_pair(ids: list[str], current: str) -> list[str] | None:
    """[before, after] when ``current`` is the live run made by "Change one thing"."""
    from . import state

    live = state.get_live()
    if live is None or live.run_id != current or live.baseline is None or live.baseline[0] not in ids:
        return None
    return [live.baseline[0], current]
