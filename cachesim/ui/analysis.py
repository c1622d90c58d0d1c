"""The analysis page: one kept run in depth, compare runs, downloads.

Everything drawn is derived once per run and session (``state.derived``), so moving
between tabs or changing a filter never recomputes a chart from scratch.
"""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from .. import charts, derived
from ..archive import ArchiveError, run_from_zip, run_to_zip
from ..config import SimConfig
from ..events import EventKind as K
from ..narration import narrate_events
from ..results import RunResult
from ..theory import che_lru_hit_ratio, fifo_hit_ratio
from ..workload import popularity
from . import budget, fmt, nav, state
from .compare import render_compare
from .inputs import short
from .legend import marker_legend
from .text import plain

#: Events offered to the analyst ("Investigate"): those drawn as markers.
INVESTIGATE_KINDS = charts.MARKER_KINDS
MAX_INVESTIGATE = 25


# -- analytic reference -----------------------------------------------------------------


def theory_reference(cfg: SimConfig) -> tuple[float, str] | None:
    """The analytic hit ratio where theory applies (one node, reads only, LRU or FIFO,
    synthetic popularity, no TTL, no chaos): (value, label); else None."""
    w, c, ch = cfg.workload, cfg.cluster, cfg.chaos
    if (
        c.nodes != 1
        or w.write_ratio != 0
        or w.trace
        or c.eviction not in ("lru", "fifo")
        or c.ttl_s > 0
        or c.in_bytes
        or ch.events
        or ch.random_kill_per_min > 0
        or ch.random_slow_per_min > 0
    ):
        return None
    pop = popularity(w)
    if c.eviction == "lru":
        return float(che_lru_hit_ratio(pop, c.capacity)), "Che approximation (LRU)"
    return float(fifo_hit_ratio(pop, c.capacity)), "FIFO approximation"


THEORY_HELP = (
    "The analytic hit ratio is drawn where theory applies: one node, reads only (write ratio 0), "
    "LRU or FIFO, a synthetic key popularity, no TTL and no chaos."
)


def _theory(run_id: str, res: RunResult) -> tuple[float, str] | None:
    return state.derived(run_id, "theory", lambda: theory_reference(res.config))


# -- questions for the analyst ----------------------------------------------------------


def investigate_question(t: float, kind: str, target: str, message: str) -> str:
    """A question about one event for the analyst (``Why ... at t=10.0 s?``)."""
    at = f"t={t:.1f} s"
    who = target or "the system"
    text = {
        K.KILL: f"Why did the hit ratio and latency change when {who} was killed at {at}?",
        K.RESTART: f"Why did the metrics change when {who} restarted at {at}?",
        K.SLOW: f"Why did latency change when {who} was slowed down at {at}?",
        K.PARTITION: f"Why did requests fail or slow down when {who} was partitioned at {at}?",
        K.HEAL: f"Why did the metrics change after the heal of {who} at {at}?",
        K.LOSS: f"Why did latency and failures change when network loss started at {at}?",
    }.get(kind)  # type: ignore[call-overload]
    return text or f"Why did this happen at {at}: {message.rstrip('.')}?"


def _investigate(run_id: str, question: str) -> None:
    st.session_state["analyst_prefill"] = {"run_id": run_id, "question": question}
    st.session_state["analysis.go_analyst"] = True


# -- sections ---------------------------------------------------------------------------


def _pick_run(runs: dict[str, RunResult]) -> str:
    ids = list(runs)
    current = state.current_run_id()
    st.session_state["analysis.run"] = current if current in ids else ids[-1]
    st.selectbox(
        "Run",
        ids[::-1],
        key="analysis.run",
        on_change=lambda: state.set_current_run(st.session_state["analysis.run"]),
        help="Runs of this browser session, newest first.",
    )
    return st.session_state["analysis.run"]


def _header(run_id: str, res: RunResult) -> None:
    cfg = res.config
    if res.status == "finished":
        badge = ":green-badge[:material/check_circle: finished]"
    else:
        badge = f":orange-badge[:material/pause_circle: {res.status} at t = {res.sim_time_s:.1f} s]"
    unit = "bytes" if cfg.cluster.in_bytes else "items"
    st.markdown(
        f"{badge} &nbsp; {cfg.cluster.nodes} nodes × {cfg.cluster.node_capacity:,} {unit}"
        f" · {cfg.cluster.eviction}"
        f" · {cfg.cluster.routing} · {cfg.workload.rate_rps:,.0f} req/s · {cfg.duration_s:g} s"
        f" (warm-up {cfg.warmup_s:g} s excluded) · seed {cfg.seed}"
    )
    if cfg.description:
        with st.expander("What this scenario shows"):
            st.text(cfg.description)


def _kpis(run_id: str, res: RunResult) -> None:
    s = res.summary
    ref = _theory(run_id, res)
    cols = st.columns(7)
    gap = fmt.delta(s.get("hit_ratio"), ref[0], "pct") if ref else None
    cols[0].metric(
        "Hit ratio",
        fmt.pct(s.get("hit_ratio")),
        delta_color="off",
        delta=(f"{gap} vs theory" if gap else "= theory") if ref else None,
        help=f"{ref[1]}: {ref[0]:.2%}. {THEORY_HELP}" if ref else THEORY_HELP,
    )
    if s.get("byte_hit_ratio") is not None and (
        res.config.cluster.in_bytes or s.get("byte_hit_ratio") != s.get("hit_ratio")
    ):
        cols[0].metric(
            "Byte hit ratio",
            fmt.pct(s.get("byte_hit_ratio")),
            help="Bytes of the objects that hit / bytes of every object looked up (hits and misses).",
        )
    cols[1].metric("p50 latency", fmt.ms(s.get("latency_p50_ms")))
    cols[2].metric("p99 latency", fmt.ms(s.get("latency_p99_ms")))
    cols[3].metric("Throughput", fmt.rate(s.get("throughput_rps")))
    cols[4].metric("DB load", fmt.rate(s.get("db_load_rps")), help="Database reads + writes per simulated second.")
    failed, issued = s.get("failed") or 0, s.get("issued") or 0
    cols[5].metric(
        "Failed",
        fmt.count(failed),
        help="Requests that ended in a timeout or drop, after warm-up.",
        delta=fmt.pct(failed / issued, 2) + " of issued" if issued else None,
        delta_color="off",
        delta_arrow="off",
    )
    cols[6].metric("Stale reads", fmt.count(s.get("stale_reads")), help="Hits that returned an outdated value.")


def narrated_events(res: RunResult) -> pd.DataFrame:
    """The run's events with each chaos action's and detection's message replaced by
    its narration (cachesim.narration): what the markers' tooltips say."""
    events = res.events()
    if events.empty:
        return events
    return events.assign(message=narrate_events(events.itertuples(index=False), res.config))


def timeseries_chart(
    res: RunResult, ts: pd.DataFrame, events: pd.DataFrame, ref: tuple[float, str] | None
) -> alt.VConcatChart:
    """The Analysis time series (:func:`cachesim.charts.zoom_chart`): a strip of the whole
    run to drag a time range on, then hit ratio, latency (with the failure ratio), load
    and per-node load, whose x scales all follow the dragged range (double-click resets)."""
    return charts.zoom_chart(
        ts, res.node_timeseries(), events, theory=ref[0] if ref else None, theory_label=ref[1] if ref else "analytic"
    )


def _timeseries(run_id: str, res: RunResult) -> None:
    ts = state.derived(run_id, "ts.down", lambda: charts.downsample(res.timeseries()))
    events = state.derived(run_id, "events.narrated", lambda: narrated_events(res))
    ref = _theory(run_id, res)
    marker_legend(events)
    st.altair_chart(
        state.derived(run_id, "chart.zoom", lambda: timeseries_chart(res, ts, events, ref)), width="stretch"
    )
    st.caption(
        "Drag across the strip on top to zoom every chart to that time range; double-click it to see the "
        "whole run. Hover a marker for what the event did. Latency counts completed requests only: the "
        "red area on the latency chart is the share of requests that failed. "
        + (("Dashed green line: " + ref[1] + ". ") if ref else THEORY_HELP + " ")
    )


def _latency(run_id: str, res: RunResult) -> None:
    s = res.summary
    q = {"p50": s.get("latency_p50_ms"), "p95": s.get("latency_p95_ms"), "p99": s.get("latency_p99_ms")}
    c1, c2 = st.columns([3, 1])
    with c1:
        chart = state.derived(run_id, "chart.cdf", lambda: charts.latency_cdf_chart(res.latency_histogram(), q))
        st.altair_chart(chart, width="stretch")
    with c2:
        st.dataframe(
            pd.DataFrame(
                {
                    "latency": ["mean", "p50", "p95", "p99", "max"],
                    "ms": [s.get("latency_mean_ms"), *q.values(), s.get("latency_max_ms")],
                }
            ),
            hide_index=True,
            column_config={"ms": st.column_config.NumberColumn(format="%.2f")},
        )
        fr = s.get("failure_ratio")
        st.metric("Failure ratio", fmt.pct(fr, 2), help="Failed / (completed + failed), after warm-up.")
        st.caption(
            "Latency counts completed requests only: the failed ones (timeouts, drops) are not in these "
            "figures, so read them with the failure ratio. Percentiles come from a streaming log-bucket "
            "histogram (< 1% relative error)."
        )


def _consistency(run_id: str, res: RunResult) -> None:
    """Stale sets, the mechanisms (leases, gutter) and how soon writes converged."""
    s, c = res.summary, res.config.cluster
    if "writes_tracked" not in s:
        st.info("This run was saved before convergence was measured.", icon=":material/info:")
        return
    cols = st.columns(4)
    cols[0].metric(
        "Stale sets",
        fmt.count(s.get("stale_sets")),
        help="Fills that stored a version the database had already superseded, with no message on its "
        "way to fix it: the node serves the old value until the next write, eviction or TTL.",
    )
    cols[1].metric(
        "Stale entry time",
        f"{s.get('stale_entry_time_s') or 0:.3f} s",
        help="Total time the stale-set entries stayed in the caches (after warm-up).",
    )
    cols[2].metric(
        "Lease waits / refused fills",
        f"{fmt.count(s.get('lease_waits'))} / {fmt.count(s.get('lease_refused_fills'))}"
        if c.leases.enabled
        else "leases off",
        help="Misses told to wait while another lookup held the key's lease; late fills refused because "
        "an invalidation voided their lease.",
    )
    cols[3].metric(
        "Gutter reads",
        fmt.count(s.get("gutter_requests")) if c.gutter_nodes else "no gutter",
        help="Reads retried at the gutter pool after their node gave no answer.",
    )
    c1, c2 = st.columns([3, 2])
    with c1:
        chart = state.derived(run_id, "chart.convergence", lambda: charts.convergence_chart(s))
        st.altair_chart(chart, width="stretch")
    with c2:
        st.dataframe(
            charts.convergence_frame(s),
            hide_index=True,
            column_config={
                "share": st.column_config.NumberColumn(format="%.4f"),
                "nines": st.column_config.NumberColumn(format="%.2f"),
            },
        )
        st.caption(
            f"{fmt.count(s.get('writes_tracked'))} writes after warm-up; "
            f"{fmt.count(s.get('writes_unconverged'))} had an older copy still servable at the end. "
            "A write converges when no node (the gutter included) can serve an older version of its key; "
            "3 nines = 99.9%."
        )


def _events(run_id: str, res: RunResult) -> None:
    events = res.events()
    kinds = list(dict.fromkeys(events["kind"]))
    chosen = st.multiselect("Kinds", kinds, default=kinds, key=f"analysis.kinds.{run_id}")
    st.dataframe(
        events[events["kind"].isin(chosen)],
        hide_index=True,
        width="stretch",
        column_config={
            "t": st.column_config.NumberColumn("t (s)", format="%.2f"),
            "message": st.column_config.TextColumn(width="large"),
        },
    )
    notable = events[events["kind"].isin(INVESTIGATE_KINDS)].head(MAX_INVESTIGATE)
    if notable.empty:
        return
    st.markdown("**Investigate an event with the analyst**")
    for i, ev in enumerate(notable.itertuples(index=False)):
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        c1.markdown(f"`{ev.t:7.2f} s` **{plain(ev.kind)}** {plain(ev.message, None)}")
        c2.button(
            "Investigate",
            key=f"analysis.investigate.{i}",
            icon=":material/psychology:",
            width="stretch",
            on_click=_investigate,
            args=(run_id, investigate_question(ev.t, ev.kind, ev.target, ev.message)),
            help="Ask the analyst about this event.",
        )


def _nodes(run_id: str, res: RunResult) -> None:
    nodes = res.nodes()
    nodes["fill"] = derived.node_fill(nodes)
    st.dataframe(
        nodes,
        hide_index=True,
        width="stretch",
        column_config={
            "hit_ratio": st.column_config.NumberColumn("hit ratio", format="percent"),
            "fill": st.column_config.ProgressColumn("occupancy", min_value=0.0, max_value=1.0, format="percent"),
            "slow_factor": st.column_config.NumberColumn("slow ×", format="%.0f"),
        },
    )
    st.caption("Whole-run counts per node; up/routed/occupancy are the state at the end of the run.")


# -- downloads --------------------------------------------------------------------------


def summary_json(run_id: str, res: RunResult) -> str:
    return (
        json.dumps(
            {"run": run_id, "status": res.status, "sim_time_s": res.sim_time_s, "summary": res.summary}, indent=2
        )
        + "\n"
    )


def zip_bytes(res: RunResult) -> bytes:
    return run_to_zip(res)


UPLOAD_MSG = "analysis.upload_msg"


def _upload_run(key: str) -> None:
    upload = st.session_state.get(key)
    if upload is None:
        return
    lim = budget.limits()
    name = short(upload.name, 80)
    if upload.size > lim.max_run_upload_bytes:
        st.session_state[UPLOAD_MSG] = (
            False,
            f"{name} is {upload.size:,} bytes; at most {lim.max_run_upload_bytes:,} are accepted.",
        )
        return
    try:
        result = run_from_zip(upload.getvalue(), max_bytes=lim.max_run_upload_bytes, name=name)
    except ArchiveError as err:
        st.session_state[UPLOAD_MSG] = (False, str(err))
        return
    run_id = state.add_run(result)
    st.session_state[UPLOAD_MSG] = (True, f"Loaded {run_id} from {name}.")


def render_run_upload(key: str) -> None:
    """Upload a run downloaded earlier (its "Everything (ZIP)"): it joins this session's runs."""
    st.file_uploader(
        "Upload a downloaded run (ZIP)",
        type=["zip"],
        key=key,
        on_change=_upload_run,
        args=(key,),
        help="The ZIP from a run's Downloads tab. Runs live in the server's memory, so a restart "
        "loses them; the ZIP brings one back (for Analysis and the Analyst).",
    )
    msg = st.session_state.pop(UPLOAD_MSG, None)
    if msg:
        (st.success if msg[0] else st.error)(plain(msg[1], 300))


def _downloads(run_id: str, res: RunResult) -> None:
    stem = run_id.split(" · ")[0] + "-" + res.config.name
    files = [
        ("Time series (CSV)", f"{stem}-timeseries.csv", "text/csv", lambda: res.timeseries().to_csv(index=False)),
        ("Events (CSV)", f"{stem}-events.csv", "text/csv", lambda: res.events().to_csv(index=False)),
        ("Nodes (CSV)", f"{stem}-nodes.csv", "text/csv", lambda: res.nodes().to_csv(index=False)),
        ("Summary (JSON)", f"{stem}-summary.json", "application/json", lambda: summary_json(run_id, res)),
        ("Config (TOML)", f"{stem}.toml", "application/toml", lambda: res.config.to_toml()),
    ]
    cols = st.columns(3)
    for i, (label, name, mime, build) in enumerate(files):
        cols[i % 3].download_button(
            label,
            state.derived(run_id, f"dl.{name}", build),
            file_name=name,
            mime=mime,
            key=f"analysis.dl.{i}",
            icon=":material/download:",
            width="stretch",
            on_click="ignore",
        )
    cols[len(files) % 3].download_button(
        "Everything (ZIP)",
        lambda: zip_bytes(res),
        file_name=f"{stem}.zip",
        mime="application/zip",
        key="analysis.dl.zip",
        type="primary",
        icon=":material/folder_zip:",
        width="stretch",
        on_click="ignore",
    )
    st.caption(
        "The ZIP is what `RunResult.save()` writes; `RunResult.load(dir)` reads it back, and the upload "
        "below brings it back into this app (runs live in the server's memory: a restart loses them)."
    )
    render_run_upload("analysis.upload_run")


def _follow_live(runs: dict[str, RunResult]) -> None:
    """A kept run that was resumed and goes on: refresh its entry, so the page shows
    the run as it is now, not as it was when it stopped."""
    from . import control

    live = state.get_live()
    if live is None or live.status != "running" or live.run_id not in runs:
        return
    seen = len(live.sim.snapshots)
    if live.kept_at == seen:
        return
    with control.lock_of(live):
        result = live.result()
    state.update_run(live.run_id, result)  # type: ignore[arg-type]
    live.kept_at = seen


def _live_note(run_id: str, res: RunResult) -> None:
    live = state.get_live()
    if live is not None and live.status == "running" and live.run_id == run_id:
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        c1.info(
            f"This run is going on (resumed): shown up to t = {res.sim_time_s:.1f} s of {res.config.duration_s:g} s.",
            icon=":material/autorenew:",
        )
        c2.button("Show the latest", key="analysis.follow", icon=":material/refresh:", width="stretch")


def render_analysis_page() -> None:
    if st.session_state.pop("analysis.go_analyst", False):
        nav.switch_page(nav.ANALYST)
    st.title("Analysis")
    runs = state.get_runs()
    if not runs:
        st.info(
            "No runs yet in this session. Start one from the sidebar; finished and stopped runs appear here. "
            "Runs live in the server's memory, so a server restart loses them: upload a run you downloaded "
            "to bring it back.",
            icon=":material/info:",
        )
        nav.page_link(nav.LIVE, label="Go to the live run", icon=":material/monitoring:")
        render_run_upload("analysis.upload_first")
        return
    _follow_live(runs)
    runs = state.get_runs()
    run_id = _pick_run(runs)
    res = runs[run_id]
    _live_note(run_id, res)
    _header(run_id, res)
    _kpis(run_id, res)
    tabs = st.tabs(["Time series", "Latency", "Events", "Nodes", f"Compare ({len(runs)})", "Downloads", "Consistency"])
    with tabs[0]:
        _timeseries(run_id, res)
    with tabs[1]:
        _latency(run_id, res)
    with tabs[2]:
        _events(run_id, res)
    with tabs[3]:
        _nodes(run_id, res)
    with tabs[4]:
        render_compare(runs, run_id)
    with tabs[5]:
        _downloads(run_id, res)
    with tabs[6]:
        _consistency(run_id, res)
