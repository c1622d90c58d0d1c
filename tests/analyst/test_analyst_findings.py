"""Incidents, findings and the offline analyst on seeded runs with chaos.

Every number the analyst states is recomputed here from ``timeseries()`` and
``events()``, so a wrong window, an off-by-one or an averaged-away dip fails a test.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

import cachesim
from cachesim.analyst import OfflineAnalyst, RunTools, compute_findings, incidents, suggestions
from cachesim.analyst.incidents import BASELINE_S, RECOVERY_WINDOWS
from cachesim.analyst.offline import parse_question


@pytest.fixture(scope="module")
def custom() -> cachesim.RunResult:
    """Not a built-in scenario: node-3 killed at t=8 s, node-1 slowed at t=12 s, seed 7."""
    base = cachesim.load_scenario("baseline").to_dict()
    cfg = cachesim.SimConfig.model_validate(
        {
            **base,
            "name": "custom",
            "seed": 7,
            "duration_s": 16.0,
            "warmup_s": 2.0,
            "chaos": {
                "events": [
                    {"at_s": 8.0, "action": "kill", "target": "node-3"},
                    {"at_s": 12.0, "action": "slow", "target": "node-1", "factor": 20.0, "duration_s": 2.0},
                ]
            },
        }
    )
    return cachesim.simulate(cfg)


@pytest.fixture(scope="module")
def baseline() -> cachesim.RunResult:
    return cachesim.simulate(cachesim.load_scenario("baseline").with_overrides({"duration_s": 12.0, "warmup_s": 2.0}))


def _span(ts: pd.DataFrame, a: float, b: float) -> pd.DataFrame:
    return ts[(ts["t"] > a + 1e-9) & (ts["t"] <= b + 1e-9)]


def _check_incident_numbers(run: cachesim.RunResult, inc) -> None:  # type: ignore[no-untyped-def]
    """Recompute an incident's numbers from the raw data."""
    ts, ev = run.timeseries(), run.events()
    before = _span(ts, inc.t - BASELINE_S, inc.t)
    after = _span(ts, inc.t, inc.window_end)
    assert inc.hr_before == pytest.approx(before["hit_ratio"].mean())
    assert inc.hr_low == pytest.approx(after["hit_ratio"].min())
    assert inc.hr_low_t == pytest.approx(float(after.loc[after["hit_ratio"].idxmin(), "t"]))
    assert inc.failed == after["failed"].sum()
    assert inc.timeouts == after["timeouts"].sum()
    assert inc.p99_peak_ms == pytest.approx(after["latency_p99_ms"].max())
    if inc.recovered_at is not None:
        tail = after[after["t"] > inc.hr_low_t]["hit_ratio"]
        rolling = tail.rolling(RECOVERY_WINDOWS).mean()
        at = ts.loc[ts["t"].sub(inc.recovered_at).abs().idxmin()]
        assert rolling[at.name] == pytest.approx(inc.hr_recovered)
        assert inc.hr_recovered >= inc.hr_before - 0.05
    detect = ev[(ev["kind"] == "node_down_detected") & (ev["target"] == inc.target) & (ev["t"] >= inc.t)]
    if inc.kind == "kill":
        assert inc.detected_at == pytest.approx(float(detect["t"].iloc[0]))


def test_node_failure_incidents_name_the_node_and_times(node_failure_run: cachesim.RunResult) -> None:
    incs = incidents(node_failure_run)
    assert [(i.kind, i.target, i.t) for i in incs] == [("kill", "node-2", 10.0), ("restart", "node-2", 20.0)]
    kill, restart = incs
    for inc in incs:
        _check_incident_numbers(node_failure_run, inc)
    assert kill.dipped and kill.hr_low < kill.hr_before - 0.1
    assert 10.0 < kill.detected_at < 10.0 + 0.5 + 1e-9  # within one health-check interval
    assert kill.failed == node_failure_run.summary["failed"]  # every failure is the kill's
    assert kill.fail_first_t >= 10.0 and kill.fail_last_t <= kill.detected_at + 0.2
    assert restart.detected_at is not None and restart.failed == 0
    text = kill.describe()
    assert text.startswith(f"[t=10.0-{kill.end:.1f} s] chaos killed node-2 at t=10.0 s")
    assert f"marked it down at t={kill.detected_at:.2f} s" in text
    assert f"fell from {kill.hr_before:.2f} to {kill.hr_low:.2f} at t={kill.hr_low_t:.1f} s" in text
    assert f"{kill.failed} requests failed" in text


def test_custom_run_incidents(custom: cachesim.RunResult) -> None:
    kill, slow = incidents(custom)
    assert (kill.kind, kill.target, kill.t) == ("kill", "node-3", 8.0)
    assert (slow.kind, slow.target, slow.t, slow.healed_at) == ("slow", "node-1", 12.0, 14.0)
    for inc in (kill, slow):
        _check_incident_numbers(custom, inc)
    assert "chaos killed node-3 at t=8.0 s" in kill.describe()
    assert slow.p99_peak_ms > 2 * slow.p99_before_ms  # a 20x slower node shows in the tail
    assert "p99 latency peaked" in slow.describe()


def test_findings_are_computed_once_per_run(custom: cachesim.RunResult, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chat page, the offline analyst and the agent all ask for a run's findings on
    every answer and rerun: the run keeps them; another result (a run that went on) does not share them."""
    import dataclasses

    from cachesim.analyst import findings as findings_module

    calls = []
    real = findings_module.incidents
    monkeypatch.setattr(findings_module, "incidents", lambda run: calls.append(run) or real(run))
    run = dataclasses.replace(custom)  # a fresh result: nothing cached yet
    first = compute_findings(run)
    again = compute_findings(run)
    assert first == again and first is not again and len(calls) == 1
    OfflineAnalyst(RunTools(run)).answer("What happened?")
    assert len(calls) == 1
    first.clear()  # a caller's list is its own
    assert compute_findings(run) == again
    other = dataclasses.replace(run)
    assert compute_findings(other) == again and len(calls) == 2


def test_findings_cover_the_run(node_failure_run: cachesim.RunResult) -> None:
    fs = compute_findings(node_failure_run)
    topics = [f.topic for f in fs]
    assert topics[0] == "overview" and topics.count("incident") == 2
    s = node_failure_run.summary
    assert f"hit ratio {s['hit_ratio']:.3f}" in fs[0].text
    assert f"{s['failed']} failed" in fs[0].text
    nodes = node_failure_run.nodes()
    busiest = nodes.loc[nodes["requests"].idxmax(), "node"]
    node_text = next(f.text for f in fs if f.topic == "nodes")
    assert f"{busiest} served the most requests ({nodes['requests'].max()}" in node_text
    assert "Requests dropped: node-2" in node_text
    for f in fs:  # every cited range parses and lies inside the run
        for a, b in re.findall(r"\[t=([\d.]+)-([\d.]+) s\]", f.text):
            assert 0 <= float(a) <= float(b) <= node_failure_run.sim_time_s


def test_saturated_database_is_named(herd_run: cachesim.RunResult) -> None:
    run, cfg = herd_run, herd_run.config
    db = next(f for f in compute_findings(run) if f.topic == "database")
    cap = cfg.database.concurrency * 1000 / cfg.database.service_time_ms
    assert f"capacity of about {cap:.0f}/s" in db.text
    assert db.facts["load_rps"] == pytest.approx(run.summary["db_load_rps"], rel=1e-3)


def test_no_chaos_no_incidents(baseline: cachesim.RunResult) -> None:
    assert incidents(baseline) == []
    text, _ = OfflineAnalyst(RunTools(baseline)).compose("What happened in this run?")
    assert "No chaos action was scheduled in this run." in text


def test_parse_question() -> None:
    q = parse_question("Why did the hit ratio drop at t=10 s on node-2?")
    assert q.t == 10.0 and q.node == "node-2" and {"hit", "changed"} <= set(q.topics)
    assert parse_question("what happened around 12.5 seconds").t == 12.5
    assert parse_question("p99 latency?").topics == ("latency",)
    assert parse_question("compare with run-1", ("run-1 · baseline", "run-10 · x")).run_ref == "run-1 · baseline"


def test_offline_why_did_hit_ratio_drop(node_failure_run: cachesim.RunResult) -> None:
    kill = incidents(node_failure_run)[0]
    text, steps = OfflineAnalyst(RunTools(node_failure_run)).compose("Why did the hit ratio drop at t=10 s?")
    assert "chaos killed node-2 at t=10.0 s" in text
    assert f"t={kill.detected_at:.2f} s" in text and f"to {kill.hr_low:.2f}" in text
    ts = _span(node_failure_run.timeseries(), 8.0, 13.0)
    assert f"ranged from {ts['hit_ratio'].min():.2f} to {ts['hit_ratio'].max():.2f}" in text
    assert f", {ts['failed'].sum()} requests failed" in text
    assert f"worst window p99 was {ts['latency_p99_ms'].max():.0f} ms" in text
    assert "Database reads ran" not in text  # a chaos action explains this one
    assert [s.name for s in steps] == ["get_metrics", "search_events"]


def test_offline_blames_the_database_when_no_chaos_explains_a_drop(herd_run: cachesim.RunResult) -> None:
    text, _ = OfflineAnalyst(RunTools(herd_run)).compose("Why did the hit ratio fall at t=3 s?")
    ts = _span(herd_run.timeseries(), 1.0, 5.0)
    rate = ts["db_reads"].sum() / 4.0
    assert "No chaos action happened near t=3 s" in text
    assert f"Database reads ran at {rate:.0f}/s there against a capacity of about 1600/s" in text


def test_offline_common_questions(node_failure_run: cachesim.RunResult, baseline: cachesim.RunResult) -> None:
    s = node_failure_run.summary
    rt = RunTools(node_failure_run, "run-2", {"run-1": baseline})
    off = OfflineAnalyst(rt)
    assert f"p99 {s['latency_p99_ms']:.1f} ms" in off.compose("What was the p99 latency?")[0]
    assert f"{s['failed']} measured requests failed" in off.compose("How many failed?")[0]
    assert f"{s['stale_reads']} stale reads" in off.compose("Any stale reads?")[0]
    node2 = off.compose("Tell me about node-2")[0]
    assert "t=10 s: kill (chaos)" in node2 and "node_down_detected" in node2
    cmp_text, steps = off.compose("Compare with run-1")
    # run ids and config values are code spans: a run name from a link renders as text
    assert "Compared with `run-1`" in cmp_text and "cluster.nodes (`6` vs `4`)" in cmp_text
    assert f"failed: {s['failed']} here vs 0 in `run-1`" in cmp_text
    assert steps[0].name == "compare_runs"
    quiet = off.compose("What happened at t=25?")[0]
    assert "No chaos action happened near t=25 s" in quiet
    # deterministic: the same question gives the same answer
    assert off.compose("Why did the hit ratio drop?") == off.compose("Why did the hit ratio drop?")


def test_offline_answer_streams_steps_then_words(node_failure_run: cachesim.RunResult) -> None:
    events = list(OfflineAnalyst(RunTools(node_failure_run)).answer("Which node was hot?"))
    names = [type(e).__name__ for e in events]
    assert names[:2] == ["ToolStep", "ToolStep"] and names.count("TextDelta") > 10


def test_suggestions(node_failure_run: cachesim.RunResult, baseline: cachesim.RunResult) -> None:
    rt = RunTools(node_failure_run, "run-2", {"run-1": baseline})
    sug = suggestions(rt, compute_findings(node_failure_run), limit=10)
    assert sug[0] == "What happened when chaos killed node-2 at t=10 s?"
    assert "Compare this run with run-1." in sug
    assert sug[0] not in suggestions(rt, compute_findings(node_failure_run), asked=(sug[0],))
