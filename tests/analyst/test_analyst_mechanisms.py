"""Mechanism findings: their numbers are the run's own, their windows are labelled."""

from __future__ import annotations

import re

import pytest

import cachesim
from cachesim.analyst import RunTools, compute_findings, incidents
from cachesim.analyst.mechanisms import (
    coalescing_what_if,
    database_load,
    describe_what_if,
    herd,
    hot_keys,
    node_loss,
    stale_cause,
)
from cachesim.analyst.tools import ToolInputError


def test_node_loss_names_moved_keys_heirs_and_recovery(node_failure_16s) -> None:
    kill = next(i for i in incidents(node_failure_16s) if i.kind == "kill")
    f = node_loss(node_failure_16s, kill)
    assert f is not None and f.topic == "node_loss" and (f.t_start, f.t_end) == (10.0, 16.0)
    ts, nt = node_failure_16s.timeseries(), node_failure_16s.node_timeseries()
    after = ts[(ts["t"] > 10.0 + 1e-9) & (ts["t"] <= 16.0 + 1e-9)]
    mv = node_failure_16s.moved_misses()
    mv = mv[(mv["home"] == "node-2") & (mv["t"] > 10.0)]
    by = mv.groupby("node")["misses"].sum()
    assert f.facts["misses"] == int(after["misses"].sum())
    assert f.facts["moved_misses"] == int(by.sum()) > 0
    assert f.facts["moved_share"] == pytest.approx(by.sum() / after["misses"].sum(), abs=1e-4)
    assert f.facts["heirs"] == {str(k): int(v) for k, v in by.items()}
    before = nt[(nt["name"] == "node-2") & (nt["t"] > 8.0 + 1e-9) & (nt["t"] <= 10.0 + 1e-9)]
    served = int(before["hits"].sum() + before["misses"].sum())
    # window figures carry their window
    assert f"t=8.0-10.0 s: node-2 served {served:,} lookups" in f.text
    assert f"t=10.0-16.0 s: {f.facts['moved_misses']:,} of the {f.facts['misses']:,} misses" in f.text
    for heir in by[by >= 0.05 * by.sum()].index:
        assert f"{heir} ({int(by[heir]):,} misses on them)" in f.text
    assert kill.detected_at < f.facts["recovered_at"] <= 16.0
    assert f"{f.facts['recovered_at'] - 10.0:.1f} s after the kill" in f.text


def test_every_mechanism_finding_cites_its_range(node_failure_16s, herd_run) -> None:
    for run in (node_failure_16s, herd_run):
        for f in compute_findings(run):
            if f.topic in ("node_loss", "db_load", "stale_cause", "hot_keys", "herd"):
                m = re.match(r"\[t=([\d.]+)-([\d.]+) s\]", f.text)
                assert m, f.text
                assert (float(m.group(1)), float(m.group(2))) == (round(f.t_start, 1), round(f.t_end, 1))


def test_saturated_database_queue_and_little(herd_run) -> None:
    f = database_load(herd_run)
    s = herd_run.summary
    d = herd_run.database_timeseries()
    d = d[d["t"] > 1.0 + 1e-9]
    assert f.facts["saturated"] and f.facts["utilisation"] >= 0.9
    assert f.facts["queue_mean"] == pytest.approx(d["queue_len"].mean(), abs=0.06)
    assert f.facts["queue_max"] == d["queue_len"].max() > 100
    wait = 1000 * d["queue_len"].mean() / s["db_load_rps"]
    assert f.facts["queue_wait_ms"] == pytest.approx(wait, abs=0.01)
    assert f"waited about {wait:,.1f} ms" in f.text and "saturated" in f.text
    h = herd(herd_run, f)
    top = herd_run.hot_keys(by="misses", top=1).iloc[0]
    assert h.facts["top_key"] == top["key"] and h.facts["top_key_misses"] == top["misses"]
    assert f"key {top['key']} missed {top['misses']:,} times" in h.text and "coalescing is off" in h.text


def test_stale_cause_names_policy_losses_and_ttl() -> None:
    run = cachesim.simulate(cachesim.load_scenario("write_heavy").with_overrides({"duration_s": 6.0, "warmup_s": 1.0}))
    f = stale_cause(run)
    s = run.summary
    assert f.facts["lost"] == s["invalidations_lost"] > 0 and f.facts["sent"] == s["invalidations_sent"]
    assert "write policy 'invalidate'" in f.text
    assert f"{s['invalidations_lost']:,} of {s['invalidations_sent']:,} invalidations" in f.text
    assert "network loss rate 2%" in f.text and "its 2 s TTL expires" in f.text


def test_hot_keys_finding_names_the_key_behind_the_imbalance() -> None:
    run = cachesim.simulate(cachesim.load_scenario("hot_key").with_overrides({"duration_s": 4.0, "warmup_s": 1.0}))
    f = hot_keys(run)
    nd = run.nodes().set_index("node")
    lookups = nd["hits"] + nd["misses"]
    busiest = str(lookups.idxmax())
    assert f.facts["busiest"] == busiest and f.facts["busiest_lookups"] == lookups.max()
    assert f.facts["busiest_top_key"] == 0
    assert f"{busiest} did the most lookups, {int(lookups.max()):,}" in f.text
    assert "its hottest key, key 0" in f.text


def test_tools_hot_keys_and_what_if() -> None:
    run = cachesim.simulate(cachesim.load_scenario("baseline").with_overrides({"duration_s": 3.0, "warmup_s": 1.0}))
    rt = RunTools(run)
    out = rt.hot_keys(top=5)
    assert [r["key"] for r in out["keys"]] == list(run.hot_keys(top=5)["key"])
    assert rt.hot_keys(node="node-2", by="misses")["node"] == "node-2"
    with pytest.raises(ToolInputError, match="no node"):
        rt.hot_keys(node="node-9")
    with pytest.raises(ToolInputError, match="requests' or 'misses"):
        rt.hot_keys(by="bytes")
    w = rt.coalescing_what_if()
    assert rt.coalescing_what_if() is w  # simulated once
    other = cachesim.simulate(run.config.with_overrides({"cluster.coalesce_misses": True}))
    assert w["what_if"]["db_reads"] == other.summary["db_reads"]
    assert w["this_run"]["db_reads"] == run.summary["db_reads"]
    text = describe_what_if(w)
    assert f"database reads {other.summary['db_reads']:,} instead of {run.summary['db_reads']:,}" in text


def test_what_if_refuses_a_run_over_its_budget(monkeypatch) -> None:
    run = cachesim.simulate(cachesim.load_scenario("baseline").with_overrides({"duration_s": 1.0, "warmup_s": 0.0}))
    monkeypatch.setattr("cachesim.analyst.mechanisms.WHAT_IF_MAX_REQUESTS", 100)
    w = coalescing_what_if(run)
    assert "the what-if runs only up to 100" in w["error"]
    assert describe_what_if(w).startswith("The coalescing what-if was not run")


def test_agent_tool_get_hot_keys(node_failure_16s) -> None:
    import json

    from cachesim.analyst.agent import make_tools

    tools = {t.name: t for t in make_tools(RunTools(node_failure_16s))}
    out = json.loads(tools["get_hot_keys"].invoke({"by": "misses", "top": 3}))
    assert [r["key"] for r in out["keys"]] == list(node_failure_16s.hot_keys(by="misses", top=3)["key"])
    assert out["by"] == "misses" and "whole run" in out["window"]
    err = json.loads(tools["get_hot_keys"].invoke({"node": "node-99"}))
    assert err["error"].startswith("no node 'node-99'")
    assert "what_if_coalescing" in tools
