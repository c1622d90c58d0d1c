"""The home page: what cachesim is, the simulated system, scenarios to start from."""

from __future__ import annotations

import streamlit as st

from ..config import SimConfig, scenario_description
from . import config_state as cs
from . import nav
from .sidebar import start_run
from .text import plain


def system_diagram(cfg: SimConfig) -> str:
    """Graphviz DOT of the simulated system, labelled with ``cfg``'s values."""
    c, w, n = cfg.cluster, cfg.workload, cfg.network
    names = [f"node-{i}" for i in range(1, min(c.nodes, 3) + 1)]
    if c.nodes > 3:
        names[-1:] = ["⋮", f"node-{c.nodes}"] if c.nodes > 4 else [names[-1], f"node-{c.nodes}"]
    # one record node, its fields node-1 .. node-N top to bottom: dot keeps a record's
    # field order, where separate nodes may be reordered to shorten edges
    fields = "|".join(f"<n{i}> {name}" for i, name in enumerate(names))
    nodes = f'    tier [shape=Mrecord, label="{fields}"];'
    mid = len(names) // 2
    lb_edges = " ".join(f"lb -> tier:n{i};" for i, name in enumerate(names) if name != "⋮")
    faults = len(cfg.chaos.events)
    tier = f"{c.nodes} cache node{'s' if c.nodes != 1 else ''} · {c.capacity:,} items · {c.eviction.upper()}"
    if c.leases.enabled:
        tier += f"\\nleases: 1 token/key per {c.leases.interval_s:g} s, others wait {c.leases.backoff_s * 1000:g} ms"
    gutter = ""
    if c.gutter_nodes:
        gutter = (
            f'  gutter [label="gutter pool\\n{c.gutter_nodes} node{"s" if c.gutter_nodes != 1 else ""} · '
            f'TTL {c.gutter_ttl_s:g} s", fillcolor="#ecfdf5", color="#10b981"];\n'
            '  lb -> gutter [label="no answer: retry here", style=dashed, color="#059669", '
            'fontcolor="#059669"];\n  gutter -> db [label="misses", color="#b45309", style=dashed];\n'
        )
    return f"""digraph cachesim {{
  rankdir=LR; compound=true; ordering=out; bgcolor="transparent"; nodesep=0.18; ranksep=0.7; pad=0.1;
  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, fillcolor="#eff6ff",
        color="#93c5fd", margin="0.15,0.06"];
  edge [fontname="Helvetica", fontsize=9, color="#64748b", fontcolor="#475569"];
  clients [label="{w.clients} clients\n{w.rate_rps:,.0f} req/s · {w.distribution}\n{w.write_ratio:.0%} writes"];
  lb [label="load balancer\n{c.routing.replace("_", " ")}"];
  subgraph cluster_tier {{
    label="{tier}";
    fontname="Helvetica"; fontsize=10; fontcolor="#1e3a8a"; style="rounded,dashed"; color="#93c5fd";
{nodes}
  }}
  db [label="database\n{cfg.database.service_time_ms:g} ms", shape=cylinder, fillcolor="#fef3c7", color="#f59e0b"];
  chaos [label="chaos monkey\n{faults} scheduled fault{"s" if faults != 1 else ""}", fillcolor="#fee2e2",
         color="#f87171"];
  clients -> lb [label="{n.latency_ms:g} ms/hop"];
  {lb_edges}
  tier:n{mid} -> db [ltail=cluster_tier, label="misses", color="#b45309", fontcolor="#b45309"];
  db -> tier:n{mid} [lhead=cluster_tier, label="{cfg.database.write_policy.replace("_", " ")}", style=dotted,
               color="#7c3aed", fontcolor="#7c3aed", constraint=false];
  chaos -> tier:n0 [lhead=cluster_tier, style=dashed, color="#dc2626", fontcolor="#dc2626",
                    label="kill · slow · partition"];
{gutter}  {{rank=same; lb; chaos}}
}}"""


def _open(name: str) -> None:
    cs.load(name)
    st.session_state["home.go"] = ("configure", name)


def _run(name: str) -> None:
    cs.load(name)
    st.session_state["home.go"] = ("run", name)


def render_home() -> None:
    go = st.session_state.pop("home.go", None)
    if go is not None:
        if go[0] == "run" and (cfg := cs.current()) is not None:
            if start_run(cfg) is None:
                nav.switch_page(nav.LIVE)
        elif go[0] == "configure":
            nav.switch_page(nav.CONFIGURE)
    st.title("cachesim")
    st.markdown(
        "#### Watch a distributed cache live: hit ratio, tail latency and database load as nodes fail, "
        "keys get hot and the network drops packets."
    )
    st.markdown(
        "A discrete-event simulation (simpy) of clients, a load balancer, cache nodes with real eviction "
        "policies, an authoritative database, a lossy network and a chaos monkey. Every run is a pure "
        "function of its config and seed, so what you see can be shared, replayed and compared."
    )
    steps = st.columns(3)
    for col, (page, title, text, icon) in zip(
        steps,
        (
            (
                nav.CONFIGURE,
                "1 · Configure",
                "Every parameter, a chaos timeline, TOML import/export and a share link.",
                ":material/tune:",
            ),
            (
                nav.LIVE,
                "2 · Live run",
                "Charts that update as the simulation runs; stop, resume, change speed.",
                ":material/monitoring:",
            ),
            (
                nav.ANALYSIS,
                "3 · Analysis",
                "Whole-run charts with chaos markers, latency distribution, compare runs.",
                ":material/analytics:",
            ),
        ),
        strict=True,
    ):
        with col.container(border=True):
            nav.page_link(page, label=f"**{title}**", icon=icon)
            st.caption(text)
    st.subheader("The simulated system")
    cfg = cs.current() or cs.last_valid()
    st.caption(
        f"Drawn for the current config ({plain(cfg.name)}): change it in the sidebar and the diagram follows. "
        "An observer samples every component each snapshot interval; that is what the charts show."
    )
    st.graphviz_chart(system_diagram(cfg), width="stretch")
    st.subheader("Start from a scenario")
    names = [n for n in cs.scenario_names() if n != cs.CUSTOM]
    for i in range(0, len(names), 3):
        cols = st.columns(3)
        for col, name in zip(cols, names[i : i + 3], strict=False):
            with col.container(border=True, height="stretch"):
                st.markdown(f"**{name.replace('_', ' ').capitalize()}**")
                text = scenario_description(name)
                st.caption(text if len(text) < 260 else text[: text.rfind(" ", 0, 250)] + " …", help=text)
                b1, b2 = st.columns(2)
                b1.button(
                    "Run",
                    key=f"home.run.{name}",
                    icon=":material/play_arrow:",
                    type="primary",
                    on_click=_run,
                    args=(name,),
                    width="stretch",
                )
                b2.button(
                    "Configure",
                    key=f"home.open.{name}",
                    icon=":material/tune:",
                    on_click=_open,
                    args=(name,),
                    width="stretch",
                )
