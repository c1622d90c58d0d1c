"""The Configure page: every SimConfig field, grouped; chaos timeline; TOML import
and export; the share link."""

from __future__ import annotations

import streamlit as st
from pydantic import ValidationError

from ..config import ConfigError, SimConfig, format_validation_error
from . import budget, nav, share
from . import config_state as cs
from .chaos_editor import render_chaos_editor
from .control import REFUSED, start_run
from .fields import field_widget, section_keys
from .inputs import short
from .text import plain

SECTIONS = (
    ("Run", None, "Name, seed, how long to simulate and how often to measure."),
    ("Workload", "workload", "What the clients ask for and how fast."),
    ("Cluster", "cluster", "The cache nodes, their eviction policy and how the balancer routes."),
    ("Database", "database", "The authoritative store behind the cache."),
    ("Network", "network", "Delay and loss on every hop."),
    ("Client", "client", "Timeouts and retries."),
    ("Chaos", "chaos", "Faults on a schedule, and random ones at a rate."),
)
IMPORT_MSG = "configure.import_msg"


def import_toml(text: str, source: str) -> tuple[bool, str]:
    """Make the TOML the draft if it is a valid config; else leave the draft as it
    was. Returns (ok, message)."""
    try:
        cfg = SimConfig.from_toml(text, source=source)
    except ValidationError as err:
        return False, short(f"{source} is not a valid config: {format_validation_error(err)}", 600)
    except ConfigError as err:
        return False, short(err, 600)
    problem = cs.app_problem(cfg)  # a trace path is refused; nothing was opened
    if problem:
        return False, f"{source}: {problem}"
    cs.replace(cfg, cfg.name, notice=("info", f"Imported {source}."))
    return True, f"Imported {source}: {cfg.name}."


def _import_file() -> None:
    upload = st.session_state.get("configure.upload")
    if upload is None:
        return
    name = short(upload.name, 80)
    if upload.size > max_import_bytes():
        st.session_state[IMPORT_MSG] = (
            False,
            f"{name} is too large for a config ({upload.size:,} bytes; at most {max_import_bytes():,}).",
        )
        return
    try:
        text = upload.getvalue().decode("utf-8")
    except UnicodeDecodeError:
        st.session_state[IMPORT_MSG] = (False, f"{name} is not a UTF-8 text file.")
        return
    st.session_state[IMPORT_MSG] = import_toml(text, name)


def max_import_bytes() -> int:
    """The budget's upload and paste size."""
    return budget.limits().max_upload_bytes


def _import_text() -> None:
    text = st.session_state.get("configure.paste", "")
    if not text.strip():
        st.session_state[IMPORT_MSG] = (False, "Paste a TOML config first.")
        return
    if len(text.encode("utf-8", "replace")) > max_import_bytes():
        st.session_state[IMPORT_MSG] = (False, f"The pasted TOML is too large (at most {max_import_bytes():,} bytes).")
        return
    st.session_state[IMPORT_MSG] = import_toml(text, "the pasted TOML")


def _status(check: cs.Check) -> None:
    name = cs.scenario()
    based = "defaults" if name == cs.CUSTOM else f"the **{name.replace('_', ' ')}** scenario"
    note = " (modified)" if cs.modified() else ""
    if check.ok:
        cfg = check.config
        nodes = f"{cfg.cluster.nodes} node{'s' if cfg.cluster.nodes != 1 else ''}"
        st.success(
            f"Valid config based on {based}{note}: about {cfg.total_requests():,.0f} requests over "
            f"{cfg.duration_s:g} simulated seconds, {nodes}.",
            icon=":material/check:",
        )
    else:
        st.error(
            f"Based on {based}{note}; fix {len(check.messages())} problem(s) to run:  \n"
            + "  \n".join(f"- {plain(m, 600)}" for m in check.messages()),
            icon=":material/error:",
        )


def _section(key: str | None) -> None:
    keys = section_keys(key)
    cols = st.columns(3)
    for i, k in enumerate(keys):
        if k == "description":
            continue
        field_widget("cf", k, container=cols[i % 3])
    if key is None:
        field_widget("cf", "description")


def _import_export(check: cs.Check) -> None:
    c1, c2 = st.columns(2, gap="large")
    with c1:
        st.markdown("**Import a TOML config**")
        st.file_uploader(
            "Config file",
            type=["toml"],
            key="configure.upload",
            on_change=_import_file,
            help="A file written by Export, the CLI or by hand (see the README's config reference).",
        )
        st.text_area(
            "…or paste TOML",
            key="configure.paste",
            height=120,
            placeholder="seed = 7\nduration_s = 20.0\n\n[cluster]\nnodes = 8",
            max_chars=max_import_bytes(),
        )
        st.button("Import pasted TOML", key="configure.paste_go", on_click=_import_text, icon=":material/upload:")
        msg = st.session_state.get(IMPORT_MSG)
        if msg:
            note = "" if msg[0] else " The current config was kept."
            (st.success if msg[0] else st.error)(plain(msg[1], 800) + note)
    with c2:
        st.markdown("**Export**")
        cfg = check.config or cs.last_valid()
        st.download_button(
            "Download config (TOML)",
            cfg.to_toml(),
            file_name=f"{cfg.name}.toml",
            mime="application/toml",
            key="configure.export",
            icon=":material/download:",
            disabled=not check.ok,
            on_click="ignore",
        )
        if not check.ok:
            st.caption("Fix the problems above to export; the last valid config is shown below.")
        st.markdown("**Share link**")
        params = share.encode(cfg, cs.scenario())
        st.code(share.link(params), language=None, wrap_lines=True)
        st.caption(
            "The address bar always holds this link: send it and the other person gets exactly this "
            "config (only the fields that differ from the scenario are in it)."
        )
        with st.expander("TOML preview"):
            st.code(cfg.to_toml(), language="toml")


def render_configure_page() -> None:
    st.title("Configure")
    check = cs.check()
    top = st.columns([4, 1, 1], vertical_alignment="center")
    with top[0]:
        _status(check)
    top[1].button(
        "Reset to scenario",
        key="configure.reset",
        icon=":material/restart_alt:",
        width="stretch",
        on_click=cs.load,
        args=(cs.scenario(),),
        disabled=not cs.modified(),
        help="Discard the changes: load the scenario again.",
    )
    if (
        top[2].button(
            "Run",
            key="configure.run",
            icon=":material/play_arrow:",
            type="primary",
            width="stretch",
            disabled=not check.ok,
        )
        and check.config is not None
    ):
        if start_run(check.config) is None:
            nav.switch_page(nav.LIVE)
    refused = st.session_state.get(REFUSED)
    if refused and check.ok:
        st.error(refused, icon=":material/block:")
    tabs = st.tabs([title for title, _, _ in SECTIONS] + ["Import · export · share"])
    cfg = check.config or cs.last_valid()
    for tab, (_, key, blurb) in zip(tabs, SECTIONS, strict=False):
        with tab:
            st.caption(blurb)
            if key == "chaos":
                render_chaos_editor(cfg.duration_s, cfg.cluster.nodes)
                st.markdown("**Random faults**")
            _section(key)
    with tabs[-1]:
        _import_export(check)
