"""The live page: controls, then a panel of ``st.empty`` placeholders refilled while
the run goes on.

Each refresh simulates for a wall-time budget (or up to N x real time), then fills
the placeholders: progress bar, KPI row, charts (from cached Vega-Lite templates, see
``cachesim.ui.vega``), live log. What a refresh draws is computed by
:func:`build_update` without Streamlit (benchmarks/bench_live.py times the same call):
numpy columns of the run's ring buffers straight to Arrow tables, no pandas.

Refreshes come in batches: one script run refreshes in a loop for about BATCH_S
seconds, and the browser asks for the next batch through an
``st.fragment(run_every=...)`` timer. Batches keep Streamlit's per-run overhead off
most refreshes (a fragment rerun per refresh gave 1-2 refreshes per second, the
batches give 4-5); the asking keeps a slow browser from being flooded. A click (Stop,
speed, a sidebar value) or a page change reruns the page, which ends the batch at
its next redraw; the LiveRun sits in the session, so nothing is lost and coming back
continues the run. When the run ends the page reruns once so the controls and the
run registry catch up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from .. import charts, derived
from ..events import CHAOS_ACTIONS, LABELS
from ..events import EventKind as K
from . import config_state as cs
from . import control, fmt, hotkeys, nav, share, state, vega
from .legend import marker_legend
from .runner import SPEEDS, LiveRun, speed_meaning
from .sidebar import live_status_text, start_run
from .text import plain

#: Seconds of refreshes in one script run (see _live_panel); tests set it to 0 (one refresh
#: per script run) with monkeypatch.
BATCH_S = 1.0
SPEED_PREF = "live.speed_pref"
HEADER = "live.header_status"
#: Whether the header was drawn while the run's worker was still winding down after a
#: Stop (the run says "stopped", the worker has not let go yet: a busy machine): the
#: panel keeps refreshing until it has, then the page reruns to show when it stopped.
WINDING = "live.header_winding"
LOG_LINES = 60
#: Per-node heatmap cells per refresh (more windows are thinned out). The browser
#: redraws every chart 5 times a second, and its Vega runs each mark's encoding through
#: an interpreter: the cost grows with the marks drawn, so the live view draws fewer.
HEATMAP_CELLS = 600
#: Points per line the browser draws: the 600-snapshot window averaged in groups.
DISPLAY_POINTS = 200
#: Colour of each event kind in the log (its words: cachesim.events.LABELS; chaos
#: actions and anomalies in bold). Every kind has one (tests/engine/test_events.py).
KIND_COLOR = {
    K.KILL: "red",
    K.RESTART: "green",
    K.SLOW: "orange",
    K.HEAL: "blue",
    K.PARTITION: "violet",
    K.LOSS: "red",
    K.NODE_DOWN_DETECTED: "red",
    K.NODE_UP_DETECTED: "green",
    K.ANOMALY: "orange",
    K.RECOVERED: "green",
    K.RUN_STARTED: "gray",
    K.RUN_FINISHED: "gray",
}
_BOLD = (*CHAOS_ACTIONS, K.ANOMALY)
KIND_STYLE = {k: f":{c}[{f'**{LABELS[k]}**' if k in _BOLD else LABELS[k]}]" for k, c in KIND_COLOR.items()}


#: The timeseries columns the line charts draw (the only ones downsampled per refresh).
LINE_COLUMNS = (
    "t",
    "hit_ratio",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "throughput_rps",
    "db_load_rps",
    "failures_rps",
    "failure_ratio",
)
#: The charts of a refresh, in :attr:`Update.specs` order (four in the grid, then occupancy).
CHARTS = ("hit_ratio", "latency", "load", "node_load", "node_occupancy")


def _speed_label(speed: float | None) -> str:
    return "max" if speed is None else f"{speed:g}×"


# -- controls ---------------------------------------------------------------------------


def _stop() -> None:
    live = state.get_live()
    if live is not None and live.status == "running":
        control.stop_live("the Stop button")


def _resume() -> None:
    control.resume_live()


def _reset() -> None:
    control.reset_live()


def _set_speed() -> None:
    speed = st.session_state["live.speed"]
    st.session_state[SPEED_PREF] = speed
    control.set_speed(speed)


def _set_pause() -> None:
    on = bool(st.session_state[control.PAUSE])
    live = state.get_live()
    if live is not None:
        live.pause_at_events = on  # a plain flag the worker reads between snapshots


#: Lets the speed control wrap on a narrow screen (390 px) instead of being cut off.
WRAP_CSS = (
    "<style>.st-key-live-speed [data-testid='stButtonGroup'] > div { flex-wrap: wrap; }"
    ".st-key-live-speed [data-testid='stButtonGroup'] { max-width: 100%; }</style>"
)


def _controls(live: LiveRun) -> None:
    c1, c2, c3, c4 = st.columns([1, 1, 1.3, 1.2], vertical_alignment="bottom")
    c1.button(
        "Stop",
        icon=":material/stop:",
        key="live.stop",
        on_click=_stop,
        disabled=not live.active,
        width="stretch",
        help="Pause the run; the partial run is kept and can be analysed.",
    )
    c2.button(
        "Resume",
        icon=":material/play_arrow:",
        key="live.resume",
        on_click=_resume,
        disabled=live.status != "stopped",
        width="stretch",
        help="Continue where it stopped.",
    )
    c3.button(
        "Clear live view",
        icon=":material/clear_all:",
        key="live.reset",
        on_click=_reset,
        width="stretch",
        help="Stop the run and empty this page; runs already kept stay on the Analysis page. "
        '(The sidebar\'s "Reset to scenario" is another thing: it restores the parameters.)',
    )
    st.session_state[control.PAUSE] = live.pause_at_events
    c4.toggle(
        "Pause at each event",
        key=control.PAUSE,
        on_change=_set_pause,
        help="The run pauses at each chaos action and each time the balancer marks a node down or up "
        "(not at hit-ratio alerts); read the narration, then press Resume.",
    )
    st.markdown(WRAP_CSS, unsafe_allow_html=True)
    st.session_state["live.speed"] = live.speed
    with st.container(key="live-speed"):
        st.segmented_control(
            "Speed",
            SPEEDS,
            key="live.speed",
            format_func=_speed_label,
            on_change=_set_speed,
            help="Simulated seconds per wall second: N× plays N simulated seconds per wall "
            "second; max is as fast as the server can.",
        )
        st.caption("Speed " + speed_meaning(live.speed, live.config.duration_s) + ".")


def _ready() -> None:
    cfg = cs.current()
    st.info(
        "No run yet. Choose a scenario and parameters in the sidebar, then press **Run simulation**.",
        icon=":material/play_circle:",
    )
    if cfg is not None:
        st.caption(
            f"Ready: **{plain(cfg.name)}** · {cfg.cluster.nodes} nodes × {cfg.cluster.capacity:,} items, "
            f"{cfg.cluster.eviction}, {cfg.cluster.routing} · {cfg.workload.rate_rps:,.0f} req/s for "
            f"{cfg.duration_s:g} simulated s"
        )
        st.toggle(
            "Pause at each event",
            key=control.PAUSE,
            help="The run pauses at each chaos action and each time the balancer marks a node down or up; "
            "read the narration, then press Resume.",
        )
        if st.button("Run this config", type="primary", icon=":material/play_arrow:", key="live.start"):
            if start_run(cfg) is None:
                st.rerun()
        refused = st.session_state.get(control.REFUSED)
        if refused:
            st.error(refused, icon=":material/block:")


# -- the panel --------------------------------------------------------------------------


def _kpi_row(k: dict[str, tuple[float | None, float | None]], n: int, cols: list[Any]) -> None:
    """The KPI metrics (``k``: LiveRun.kpis(), ``n`` nodes), one per (placeholder) column."""
    spec = [
        ("Hit ratio", "hit_ratio", fmt.pct, "pct", "normal", "Hits / lookups over the last simulated second."),
        (
            "p99 latency",
            "latency_p99_ms",
            fmt.ms,
            "ms",
            "inverse",
            "99th percentile of the latencies of the requests completed in the last simulated second.",
        ),
        ("Throughput", "throughput_rps", fmt.rate, "rate", "normal", "Requests completed per simulated second."),
        ("DB load", "db_load_rps", fmt.rate, "rate", "inverse", "Database reads + writes per simulated second."),
        (
            "Stale reads",
            "stale_reads",
            lambda v: fmt.count(v) + "/s",
            "count",
            "inverse",
            "Hits that returned an outdated value, last second.",
        ),
    ]
    for col, (label, name, show, kind, color, help_text) in zip(cols, spec, strict=False):
        now, before = k[name]
        col.metric(
            label,
            show(now),
            fmt.delta(now, before, kind),
            delta_color=color,
            help=f"{help_text} The delta compares with the second before.",
        )
    up, up_before = k["nodes_up"]
    cols[5].metric(
        "Nodes up",
        f"{up:.0f}/{n}" if up is not None else fmt.DASH,
        fmt.delta(up, up_before, "count"),
        help="Cache nodes whose process is alive.",
    )


def _log(live: LiveRun) -> str:
    lines = []
    for e, text in reversed(live.recent_events(LOG_LINES)):  # newest first; narrated events in their words
        lines.append(f"`{e.t:7.2f} s` {KIND_STYLE.get(e.kind, plain(e.kind))} {plain(text, None)}")
    if live.status == "finished":
        lines.insert(0, f"`{live.now:7.2f} s` :green[**run finished**]")
    elif live.status == "stopped":
        lines.insert(0, f"`{live.now:7.2f} s` :orange[**stopped**] — Resume continues from here")
    return "  \n".join(lines) or "_Nothing yet._"


@dataclass
class Update:
    """What one refresh draws, computed without Streamlit (see :func:`build_update`)."""

    kpis: dict[str, tuple[float | None, float | None]]
    legend: tuple[str, ...]  # the marker kinds among the events, in legend order
    log: str
    specs: list[dict[str, Any]]  # Vega-Lite specs in CHARTS order; none before the first snapshot


def build_update(live: LiveRun, times: dict[str, float] | None = None) -> Update:
    """Everything a refresh of the panel draws: KPIs, marker legend, log and the five
    chart specs, from the run's ring buffers (numpy columns straight to Arrow). The
    window's columns, the downsampled lines and the rules (one Arrow table shared by
    four charts) are computed once; each chart then only builds its own columns.
    ``times``, if given, receives the wall seconds of the shared part ("shared") and
    of each chart (by CHARTS name)."""
    t0 = time.perf_counter()
    kpis = live.kpis()
    legend = tuple(k for k in charts.MARKER_KINDS if k in live.event_kinds())
    log = _log(live)
    if live.points == 0:
        return Update(kpis, legend, log, [])
    cfg = live.config
    ts, nodes = live.columns()
    shown = charts.downsample_columns(ts, DISPLAY_POINTS, columns=LINE_COLUMNS)
    domain = charts.live_domain(cfg.duration_s, cfg.snapshot_interval_s, live.window)
    span = domain or (float(ts["t"][0]), float(ts["t"][-1]))
    rules = vega.table(charts.marker_columns(live.marker_columns() if live.event_end else None, span))
    latest = {c: v[-len(live.node_names) :] for c, v in nodes.items()} if live.node_names else nodes

    base = live.baseline_columns()

    def prev(field: str) -> vega.Frames:
        """The run before the change (dashed), over the same span."""
        return {} if base is None else {"prev": vega.table(charts.previous_columns(base, field, span))}

    def node_load() -> vega.Frames:
        cells, off = charts.node_load_columns(nodes, HEATMAP_CELLS)
        return {"cells": vega.table(cells), "off": vega.table(off), "rules": rules}

    fast = {"domain": domain, "arrow": True, "canvas": True, "tooltips": False}
    builders: dict[str, tuple[Callable[[], vega.Frames], dict[str, Any]]] = {
        "hit_ratio": (
            lambda: {"ts": vega.table(charts.hit_ratio_columns(shown)), **prev("hit_ratio"), "rules": rules},
            fast,
        ),
        "latency": (
            lambda: {
                "ts": vega.table(charts.latency_columns(shown)),
                **prev("latency_p99_ms"),
                "fail": vega.table(charts.failure_columns(shown)),
                "rules": rules,
            },
            fast,
        ),
        "load": (lambda: {"ts": vega.table(charts.load_columns(shown)), "rules": rules}, fast),
        "node_load": (node_load, fast),
        "node_occupancy": (
            lambda: {"nodes": vega.table(charts.node_occupancy_columns(latest))},
            {"arrow": True, "canvas": True, "tooltips": False},
        ),
    }
    if times is not None:
        times["shared"] = time.perf_counter() - t0
    specs = []
    for kind, (frames, opts) in builders.items():
        t = time.perf_counter()
        specs.append(vega.spec(kind, frames(), **opts))
        if times is not None:
            times[kind] = time.perf_counter() - t
    return Update(kpis, legend, log, specs)


@dataclass
class Slots:
    """The page's placeholders, filled again on every refresh."""

    status: Any
    progress: Any
    kpis: list[Any]
    legend: Any
    charts: list[Any]
    log: Any
    occupancy: Any
    footer: Any
    hot: Any  # the hot-keys board
    drawn: dict[str, Any] = field(default_factory=dict)  # what the slots show, to skip unchanged redraws
    narration: Any = None  # the latest event in words (cachesim.narration)


def _layout() -> Slots:
    with st.sidebar:
        status = st.empty()
    progress = st.empty()
    narration = st.empty()
    kpis = [c.empty() for c in st.columns(6)]
    left, right = st.columns([3, 1], gap="medium")
    with left:
        legend = st.empty()
        r1, r2 = st.columns(2), st.columns(2)
        chart_slots = [r1[0].empty(), r1[1].empty(), r2[0].empty(), r2[1].empty()]
    with right:
        st.markdown("**Live log**")
        log = st.container(height=300, border=True).empty()
        occupancy = st.empty()
    footer = st.empty()
    return Slots(status, progress, kpis, legend, chart_slots, log, occupancy, footer, st.empty(), narration=narration)


def _fill(live: LiveRun, slots: Slots) -> float:
    """Redraw everything from the run's current state; returns the wall seconds spent."""
    t0 = time.perf_counter()
    live.refreshes.append(t0)
    cfg = live.config
    slow = live.status != "running" or slots.drawn.get("n", 0) % 5 == 0  # ~once a second
    slots.drawn["n"] = slots.drawn.get("n", 0) + 1
    if slow:
        slots.status.caption(live_status_text(live))
    slots.progress.progress(live.progress, text=f"t = {live.now:.1f} of {cfg.duration_s:g} simulated s · {live.status}")
    up = build_update(live)
    _narration(live, slots)
    _kpi_row(up.kpis, cfg.cluster.nodes, slots.kpis)
    if not up.specs:
        slots.footer.caption("Waiting for the first snapshot…")
        return time.perf_counter() - t0
    if up.legend != slots.drawn.get("legend"):  # redraw only what changed (when refreshing in a loop)
        with slots.legend.container():
            marker_legend(live.events_frame())
        slots.drawn["legend"] = up.legend
    for slot, spec in zip(slots.charts, up.specs[:4], strict=True):
        slot.vega_lite_chart(spec, width="stretch")
    if up.log != slots.drawn.get("log"):
        slots.log.markdown(up.log)
        slots.drawn["log"] = up.log
    slots.occupancy.vega_lite_chart(up.specs[4], width="stretch")
    if live.status != "running" or t0 - slots.drawn.get("hot_at", -1e9) >= hotkeys.LIVE_REFRESH_S:
        hotkeys.draw_live_board(live, slots.hot)
        slots.drawn["hot_at"] = t0
    spent = time.perf_counter() - t0
    if slow:
        slots.footer.caption(
            f"{live.refresh_rate():.1f} refreshes/s (every {live.refresh_s:.2f} s, slower if the browser lags) · "
            f"each draw {spent * 1e3:.0f} ms (the run advances beside the page) · "
            f"speed {_speed_label(live.speed)} · charts show the last {live.window} snapshots"
        )
    return spent


def _narration(live: LiveRun, slots: Slots) -> None:
    """The latest chaos event or detection in words, above the KPIs (redrawn when it changes)."""
    told = live.narration()
    if slots.narration is None or told is None or told[1] == slots.drawn.get("narration"):
        return
    ev, text = told
    icon = ":material/pause_circle:" if live.paused_for is not None else ":material/campaign:"
    slots.narration.info(plain(text, None), icon=icon)
    slots.drawn["narration"] = text


def _refresh_batch() -> None:
    """Redraw the panel in a loop for about BATCH_S wall seconds (once when the run is
    not going). The run advances in its worker; a refresh only reads it, under the
    worker's lock, and draws into the placeholders."""
    live = state.get_live()
    if live is None:
        return
    if live.active:
        _wait_for_browser(BROWSER_WAIT_S)  # before anything is sent: a batch starts with ~60 messages
    slots = _layout()
    batch = BATCH_S
    started = time.perf_counter()
    lock = control.lock_of(live)
    with lock:
        _fill(live, slots)
    if st.session_state.get(HEADER) == "running" and not live.active:
        control.sync()
        st.rerun()  # the run ended since the page's header was drawn: controls and registry catch up
    if st.session_state.get(WINDING) and not _winding_down(live):
        control.sync()
        st.rerun()  # the worker let go after the header was drawn: show when the run stopped
    while live.active:
        frame_start = time.perf_counter()
        worker = state.get_worker()
        if worker is None or worker.live is not live or not worker.alive:
            control.sync()
            st.rerun()  # the run ended (finished, failed or stopped): controls and registry catch up
        if send_backlog() <= BACKLOG_MAX:  # else the browser is behind: let it catch up, draw nothing
            with lock:
                _fill(live, slots)
        if time.perf_counter() - started >= batch:
            return
        until = frame_start + live.refresh_s
        while time.perf_counter() < until:  # pacing the redraws, not waiting for the run
            if _click_waiting():
                return  # make way at once: Streamlit would only see the click at the next redraw
            time.sleep(min(CLICK_POLL_S, max(0.0, until - time.perf_counter())))


#: How often a batch between redraws looks for a click waiting to rerun the page.
CLICK_POLL_S = 0.02
#: Messages a batch lets wait for this session's browser before it stops drawing (a
#: refresh is about 15). The server queues what it sends; a browser that reads slower
#: than the refreshes come (a busy machine, a slow tab) would see the queue grow until
#: Streamlit drops the connection as overwhelmed (500 messages): the page freezes and
#: its clicks, Stop included, are lost. Skipping redraws keeps the queue short, so a
#: click's answer is never behind seconds of stale charts.
BACKLOG_MAX = 45


#: The longest a batch waits, before it draws, for the browser to catch up (then it
#: draws once anyway: a fragment run that draws nothing would blank the panel).
BROWSER_WAIT_S = 5.0


def _wait_for_browser(limit_s: float) -> None:
    """Wait until the browser has read what it was sent (a backlog of at most
    BACKLOG_MAX messages), a click is waiting, or ``limit_s`` has passed."""
    deadline = time.perf_counter() + limit_s
    while send_backlog() > BACKLOG_MAX and time.perf_counter() < deadline and not _click_waiting():
        time.sleep(CLICK_POLL_S)


def send_backlog() -> int:
    """Messages queued for this session's browser and not yet sent (0 when unknown).
    Reads the session client's send queue, an internal of Streamlit 1.67's server: on
    another version the batch simply draws on (and Streamlit's own limit applies)."""
    try:
        from streamlit.runtime import Runtime
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

        ctx = get_script_run_ctx()
        info = Runtime.instance()._session_mgr.get_active_session_info(ctx.session_id)  # type: ignore[union-attr]
        unflushed = len(info.session._browser_queue._queue)  # type: ignore[union-attr]  # not yet handed over
        return unflushed + int(info.client._send_queue.qsize())  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - not under a server, or another Streamlit version
        return 0


def _click_waiting() -> bool:
    """Whether a rerun of the whole page (a click, a widget change, a page change) is
    waiting for this batch. Streamlit hands it over at the page's next element, and the
    batch sleeps between redraws; looking lets Stop act at once. This reads the script
    run context's request queue, an internal of Streamlit 1.67: if it is not there,
    the batch simply sleeps (and a click waits for the next redraw)."""
    try:
        from streamlit.runtime.scriptrunner_utils.script_requests import ScriptRequestType
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

        requests = get_script_run_ctx().script_requests  # type: ignore[union-attr]
        state = requests._state
        if state == ScriptRequestType.STOP:
            return True
        if state != ScriptRequestType.RERUN:
            return False
        data = requests._rerun_data
        return not (data.fragment_id_queue and not data.is_fragment_scoped_rerun)  # not just the next batch
    except Exception:  # noqa: BLE001 - another Streamlit version: just sleep
        return False


#: While a run goes on, the browser asks for the next batch of refreshes every
#: ASK_EVERY_S. Asking is what paces the server: a browser that falls behind (a slow
#: machine, a busy tab) asks later, the wait slows the redraws down (LiveRun.pace), and
#: the browser is not flooded for long, so clicks stay responsive. A click reruns the page,
#: which ends the batch at its next redraw.
ASK_EVERY_S = 0.5


def _guarded_batch() -> None:
    from .errors import guarded  # a fragment rerun runs only this: it needs its own net

    guarded(_refresh_batch)


_live_panel = st.fragment(run_every=ASK_EVERY_S)(_guarded_batch)


def _winding_down(live: LiveRun) -> bool:
    """The run is no longer running but its worker has not ended yet."""
    worker = state.get_worker()
    return not live.active and worker is not None and worker.live is live and worker.alive


def _panel(live: LiveRun) -> None:
    if live.active or st.session_state.get(WINDING):
        _live_panel()
    else:
        _refresh_batch()


def render_live_page() -> None:
    """The page's header: title, controls and the run's status (the panel follows the
    sidebar: :func:`render_live_panel`)."""
    share.apply_once()  # a link's config, before the sidebar draws (it is drawn after this)
    st.session_state.pop("sidebar.go_live", None)  # a Run click: this is the page it goes to
    st.title("Live run")
    control.sync()
    live = state.get_live()
    if live is None:
        _ready()
        st.caption(RESTART_NOTE)
        return
    cfg = live.config
    worker = state.get_worker()
    st.caption(
        f"**{plain(live.run_id or cfg.name)}** · {cfg.cluster.nodes} nodes × {cfg.cluster.capacity:,} items, "
        f"{cfg.cluster.eviction}, {cfg.cluster.routing} · {cfg.workload.rate_rps:,.0f} req/s · seed {cfg.seed}"
    )
    render_live_page_baseline_note(live)
    _controls(live)
    refused = st.session_state.get(control.REFUSED)
    if refused:
        st.error(refused, icon=":material/block:")
    st.session_state[HEADER] = live.status  # what the header below shows (see _refresh_batch)
    st.session_state[WINDING] = _winding_down(live)
    failed = worker is not None and worker.live is live and worker.state == "failed"
    if failed:
        st.error(
            f"The run stopped on an unexpected error (id {worker.error_id}); the partial run is kept. "
            "Quote the id if you report it.",
            icon=":material/error:",
        )
    elif live.status == "finished":
        st.success(f"Finished: {plain(live.run_id)} is kept for analysis.", icon=":material/check_circle:")
        nav.page_link(nav.ANALYSIS, label="Open it on the Analysis page", icon=":material/analytics:")
        _change_one_thing(live)
    elif live.status == "stopped" and (paused := live.event_at(live.paused_for)) is not None:
        ev = paused[0]
        st.warning(
            f"Paused at the {plain(ev.kind)} at t = {ev.t:.2f} s (the narration below says what it does). "
            "Resume continues; turn off “Pause at each event” to run through.",
            icon=":material/pause_circle:",
        )
    elif live.status == "stopped":
        st.warning(
            f"Stopped at t = {live.now:.1f} s: the partial run is kept as {plain(live.run_id)}. Resume continues it.",
            icon=":material/pause_circle:",
        )
        if worker is not None and worker.live is live and worker.ended_at is not None:
            ended = datetime.fromtimestamp(worker.ended_at, tz=UTC)
            st.caption(f"The run stopped at {ended:%H:%M:%S}.{ended.microsecond // 1000:03d} UTC (server clock).")
        nav.page_link(nav.ANALYSIS, label="Analyse the partial run", icon=":material/analytics:")
    else:
        note = control.queue_note(worker)
        if note:
            st.info(note, icon=":material/hourglass_top:")
        st.caption("The run goes on beside the page: you can read another page meanwhile. " + RESTART_NOTE)


#: Fields "Change one thing" does not offer (labels, the seed it keeps, the event table).
UNCHANGEABLE = ("name", "description", "seed", "chaos.events", "workload.trace")
CHANGE_MSG = "live.change.msg"


def changeable_fields(cfg: Any) -> list[str]:
    return [k for k in cfg.flat() if k not in UNCHANGEABLE]


def change_one_thing(live: LiveRun, key: str, text: str) -> str | None:
    """Start ``live``'s config again with ``key`` set to ``text`` (same seed), with the
    finished run as the baseline to overlay and compare; None, or one line saying why not."""
    from pydantic import ValidationError

    from ..config import ConfigError, format_validation_error

    old = live.config.flat().get(key)
    try:
        cfg = live.config.with_overrides({key: text.strip()})
    except ValidationError as err:
        return plain(format_validation_error(err), 400)
    except (ConfigError, ValueError) as err:
        return plain(f"{key}: {err}", 400)
    if cfg.flat().get(key) == old:
        return f"{key} is {old} already: change it to see what it does."
    runs = state.get_runs()
    if live.run_id is None or live.run_id not in runs:
        return "The finished run is no longer kept (the oldest runs are dropped); run it again first."
    st.session_state[control.BASELINE] = (live.run_id, runs[live.run_id])
    problem = start_run(cfg)
    if problem is not None:
        st.session_state.pop(control.BASELINE, None)
    return problem


def _change_clicked(live: LiveRun) -> None:
    key = st.session_state.get("live.change.key")
    text = st.session_state.get(f"live.change.value.{key}", "")
    st.session_state[CHANGE_MSG] = change_one_thing(live, str(key), str(text))


def _change_one_thing(live: LiveRun) -> None:
    """From a finished run: edit one field, run the same seed again, watch both."""
    with st.expander(
        "Change one thing and run again (same seed)",
        icon=":material/difference:",
        expanded=bool(st.session_state.get(CHANGE_MSG)),
    ):
        st.caption(
            "The new run keeps every other value and the seed, so any difference comes from this one "
            "change. The live charts draw this run's hit ratio and p99 latency dashed under the new run's; "
            "Analysis → Compare shows the differences."
        )
        flat = live.config.flat()
        c1, c2, c3 = st.columns([2, 2, 1.4], vertical_alignment="bottom")
        key = c1.selectbox("Field", changeable_fields(live.config), key="live.change.key")
        c2.text_input(
            "New value",
            value=str(flat.get(key)),
            key=f"live.change.value.{key}",
            help=f"Now {flat.get(key)}. Numbers, true/false, or one of the allowed names.",
        )
        c3.button(
            "Run again",
            type="primary",
            icon=":material/replay:",
            key="live.change.run",
            on_click=_change_clicked,
            args=(live,),
            width="stretch",
        )
        msg = st.session_state.pop(CHANGE_MSG, None)
        if msg:
            st.error(msg, icon=":material/error:")


def render_live_page_baseline_note(live: LiveRun) -> None:
    """Under the header of a run that changes one thing: what it is compared with."""
    if live.baseline is None:
        return
    base_id, base = live.baseline
    diff = derived.config_diff({"before": base.config.flat(), "after": live.config.flat()})
    what = ", ".join(f"{k}: {before} → {after}" for k, (before, after) in diff) or "nothing"
    st.caption(f"Changed one thing from {plain(base_id)} ({plain(what, 300)}); dashed gray lines are {plain(base_id)}.")


def render_live_panel() -> None:
    """The live panel (after the sidebar, so the header's status is drawn before both)."""
    live = state.get_live()
    if live is not None:
        _panel(live)


RESTART_NOTE = (
    "Runs live in the server's memory: a server restart loses them. Download a run from the "
    "Analysis page to keep it; you can upload it back there."
)
