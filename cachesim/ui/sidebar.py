"""The sidebar every page draws first: scenario, the most-tweaked parameters, Run.

``render_sidebar()`` returns the valid SimConfig, or None while some value is
invalid (the message is shown under the widget and Run is disabled).
"""

from __future__ import annotations

import streamlit as st

from ..config import SimConfig
from . import budget, control, nav, share, state
from . import config_state as cs
from .control import keep_partial, start_run
from .fields import field_widget
from .runner import LiveRun
from .text import plain

__all__ = ["keep_partial", "live_status_text", "render_sidebar", "start_run"]

#: (dotted key, short label) in the order they appear; pairs share a row.
QUICK_FIELDS = (
    (("cluster.nodes", "Nodes"), ("cluster.capacity", "Capacity")),
    (("cluster.routing", "Routing"),),  # alone in its row: "least_outstanding" needs the whole width
    (("cluster.eviction", "Eviction"), ("seed", "Seed")),
    (("workload.rate_rps", "Rate (req/s)"), ("workload.zipf_alpha", "Zipf alpha")),
    (("workload.write_ratio", "Write ratio"), ("network.loss_rate", "Loss rate")),
    (("network.latency_ms", "Latency (ms)"), ("duration_s", "Duration (s)")),
)
QUICK_KEYS = {key for row in QUICK_FIELDS for key, _ in row}


def _pretty(name: str) -> str:
    return "custom (defaults)" if name == cs.CUSTOM else name.replace("_", " ")


def _pick_scenario() -> None:
    cs.load(st.session_state["sidebar.scenario"])


def _reset_scenario() -> None:
    cs.load(cs.scenario())


def _scenario_picker() -> None:
    names = cs.scenario_names()
    st.session_state["sidebar.scenario"] = cs.scenario()
    st.selectbox(
        "Scenario",
        names,
        key="sidebar.scenario",
        format_func=_pretty,
        on_change=_pick_scenario,
        help="A built-in starting point; every value below can be changed.",
    )
    slot = st.empty()  # always there, so the widgets below keep their place in the page
    if cs.modified():
        c1, c2 = slot.container().columns([3, 2], vertical_alignment="center")
        c1.caption(":orange[●] modified from the scenario")
        c2.button(
            "Reset to scenario",
            key="sidebar.reset",
            on_click=_reset_scenario,
            type="tertiary",
            help="Discard your parameter changes and load the scenario's values again (the live run is not touched).",
        )


PAGES = (
    ("app.py", "Home", ":material/home:"),
    (nav.CONFIGURE, "Configure", ":material/tune:"),
    (nav.LIVE, "Live run", ":material/monitoring:"),
    (nav.ANALYSIS, "Analysis", ":material/analytics:"),
    (nav.ANALYST, "Analyst", ":material/psychology:"),
    (nav.SWEEP, "Sweep", ":material/ssid_chart:"),
    (nav.WORKLOAD, "Workload", ":material/insights:"),
)


def _navigation() -> None:
    for page, label, icon in PAGES:
        nav.page_link(page, label=label, icon=icon)
    st.divider()


def live_status_text(live: LiveRun) -> str:
    worker = state.get_worker()
    label = {"running": ":blue[● running]", "stopped": ":orange[■ stopped]", "finished": ":green[✓ finished]"}[
        live.status
    ]
    if live.status == "running" and worker is not None and worker.live is live and worker.state == "queued":
        label = ":gray[◌ queued for a free slot]"
    return f"Live run {label} · t = {live.now:.1f} of {live.config.duration_s:g} s ({live.progress:.0%})"


def _estimate(cfg: SimConfig | None) -> None:
    """The run's cost before Run: requests and server time at this machine's speed."""
    if cfg is None:
        return
    est = budget.estimate(cfg, budget.measured_speed())
    st.caption(f"This run: {budget.describe(est)}.")


def render_sidebar(*, live_status: bool = True) -> SimConfig | None:
    """Draw the sidebar; the current config if valid, else None. ``live_status=False``
    leaves the live run's status line to the page (the live page updates it itself)."""
    share.apply_once()
    check = cs.check()
    with st.sidebar:
        _navigation()
        # Conditional messages go into slots that are always drawn, so a message that
        # comes or goes never shifts (and briefly duplicates) the widgets after it.
        notice, notice_slot = st.session_state.get(cs.NOTICE), st.empty()
        if notice:
            (notice_slot.error if notice[0] == "error" else notice_slot.info)(plain(notice[1], 800))
        _scenario_picker()
        for row in QUICK_FIELDS:
            cols = st.columns(len(row))
            for col, (key, label) in zip(cols, row, strict=True):
                field_widget("sb", key, container=col, label=label, errors={})
            _errors(st.empty(), [error_text(k, check.fields[k]) for k, _ in row if k in check.fields])
        others = [error_text(k, m) for k, m in check.fields.items() if k not in QUICK_KEYS]
        slot = st.empty()
        if others or check.general:
            with slot.container():
                _errors(st.empty(), [*others, *check.general])
                if others:
                    nav.page_link(nav.CONFIGURE, label="Fix it on the Configure page", icon=":material/tune:")
        _estimate(check.config)
        refusal = control.check(check.config) if check.config is not None else None
        st.button(
            "Run simulation",
            type="primary",
            icon=":material/play_arrow:",
            key="sidebar.run",
            on_click=_run_clicked,
            disabled=not check.ok or refusal is not None,
            width="stretch",
            help="Start a live run of this config." if check.ok and refusal is None else "Fix the problem shown first.",
        )
        refused_slot = st.empty()
        if refusal:
            refused_slot.error(refusal, icon=":material/block:")
        control.sync()
        live, status_slot = state.get_live(), st.empty()
        if live_status and live is not None:
            status_slot.caption(
                live_status_text(live) + ("; it continues on the Live run page." if live.active else "")
            )
    share.sync(check.config, cs.scenario())
    if st.session_state.pop(GO_LIVE, False):  # Run was clicked on another page
        nav.switch_page(nav.LIVE)
    return check.config


#: Set by a Run click: the page shows the live run (the live page pops it itself).
GO_LIVE = "sidebar.go_live"


def _run_clicked() -> None:
    """Start the run in the click's callback, before any page draws, so every page
    (the live page draws its header before the sidebar) sees the new run."""
    cfg = cs.current()
    if cfg is not None and start_run(cfg) is None:
        st.session_state[GO_LIVE] = True


def _errors(slot, messages: list[str]) -> None:
    if messages:
        with slot.container():
            for msg in messages:
                st.error(plain(msg, 600), icon=":material/error:")


def error_text(key: str, message: str) -> str:
    """A validation message that names its field once."""
    return message if message.startswith(key) else f"{key}: {message}"
