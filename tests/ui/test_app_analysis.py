"""AppTest of the analysis page: a run held in session state renders with KPIs,
charts, events, nodes and downloads; compare; theory overlay; the analyst hand-off."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

import cachesim
from cachesim import charts
from cachesim.ui.analysis import investigate_question, theory_reference, zip_bytes
from cachesim.ui.compare import config_diff, delta_table, kpi_table
from tests.ui.helpers import APP


@pytest.fixture(scope="module")
def failure_run() -> cachesim.RunResult:
    return cachesim.simulate(cachesim.load_scenario("node_failure").with_overrides({"duration_s": "14"}))


@pytest.fixture(scope="module")
def theory_run() -> cachesim.RunResult:
    cfg = cachesim.load_scenario("baseline").with_overrides(
        {"cluster.nodes": "1", "workload.write_ratio": "0", "duration_s": "10", "warmup_s": "3"}
    )
    return cachesim.simulate(cfg)


def analysis(runs: dict[str, cachesim.RunResult]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.session_state["cachesim.runs"] = dict(runs)
    at.session_state["cachesim.run_counter"] = len(runs)
    at.switch_page("pages/3_Analysis.py").run()
    assert not at.exception
    return at


def chart_specs(at: AppTest) -> list[dict]:
    """Every chart drawn, the views of a stacked (zoomable) spec each on its own."""
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart") + at.get("arrow_vega_lite_chart")]
    return [v for s in specs for v in [s, *s.get("vconcat", [])]]


def test_no_runs_yet():
    at = analysis({})
    assert "No runs yet" in at.info[0].value


def test_renders_a_run_held_in_session_state(failure_run):
    at = analysis({"run-1 · node_failure": failure_run})
    assert at.selectbox(key="analysis.run").value == "run-1 · node_failure"
    kpis = {m.label: m.value for m in at.metric}
    assert list(kpis) == [
        "Hit ratio",
        "p50 latency",
        "p99 latency",
        "Throughput",
        "DB load",
        "Failed",
        "Stale reads",
        "Failure ratio",  # beside the latency distribution
        "Stale sets",
        "Stale entry time",
        "Lease waits / refused fills",
        "Gutter reads",
    ]
    assert kpis["Stale sets"] == f"{failure_run.summary['stale_sets']:,}"
    assert kpis["Lease waits / refused fills"] == "leases off" and kpis["Gutter reads"] == "no gutter"
    assert kpis["Failure ratio"] == f"{failure_run.summary['failure_ratio']:.2%}"
    assert kpis["Hit ratio"] == f"{failure_run.summary['hit_ratio']:.1%}"
    assert kpis["Failed"] == f"{failure_run.summary['failed']:,}"
    titles = [s.get("title") for s in chart_specs(at)]
    for title in (
        "Hit ratio",
        charts.LATENCY_TITLE,
        "Throughput, DB load and failures",
        "Per-node load and state",
        "Latency distribution (CDF)",
        "Write convergence: no node serves an older version",
    ):
        assert title in titles
    hit = next(s for s in chart_specs(at) if s.get("title") == "Hit ratio")
    rule = hit["layer"][-1]
    assert rule["mark"]["type"] == "rule" and rule["encoding"]["color"]["scale"]["domain"][0] == "kill"
    tables = at.dataframe
    events = next(t.value for t in tables if "message" in t.value.columns)
    assert {"kill", "node_down_detected", "run_finished"} <= set(events["kind"])
    nodes = next(t.value for t in tables if "node" in t.value.columns)
    assert list(nodes["node"]) == [f"node-{i}" for i in range(1, 7)]
    assert len(at.get("download_button")) == 6
    assert "Compare needs two runs" in at.info[0].value


def test_theory_is_drawn_where_it_applies(theory_run, failure_run):
    value, label = theory_reference(theory_run.config)
    assert label == "Che approximation (LRU)" and 0 < value < 1
    assert theory_reference(failure_run.config) is None
    at = analysis({"run-1 · baseline": theory_run})
    hit_kpi = at.metric[0]
    assert "vs theory" in hit_kpi.delta and label in hit_kpi.help
    hit = next(s for s in chart_specs(at) if s.get("title") == "Hit ratio")
    ref_rule = next(lay for lay in hit["layer"] if lay["mark"]["type"] == "rule")
    assert ref_rule["encoding"]["y"]["field"] == "hit_ratio" and "x" not in ref_rule["encoding"]  # a level
    assert abs(theory_run.summary["hit_ratio"] - value) < 0.05  # the simulation agrees with Che


def test_compare_two_runs(failure_run, theory_run):
    at = analysis({"run-1 · node_failure": failure_run, "run-2 · baseline": theory_run})
    assert at.selectbox(key="analysis.run").value == "run-2 · baseline"  # the latest is current
    assert at.multiselect(key="compare.runs").value == ["run-2 · baseline", "run-1 · node_failure"]
    specs = chart_specs(at)
    compare = [s for s in specs if s.get("encoding", {}).get("color", {}).get("field") == "run"]
    assert len(compare) == 5
    kpis = next(t.value for t in at.dataframe if "hit ratio" in t.value.columns and len(t.value) == 2)
    assert list(kpis["run"]) == ["run-2 · baseline", "run-1 · node_failure"]
    assert kpis["hit ratio"].iloc[0] == f"{theory_run.summary['hit_ratio']:.2%}"
    diff = next(t.value for t in at.dataframe if "field" in t.value.columns)
    assert list(diff.columns) == ["field", "before", "after"]
    assert {"cluster.nodes", "chaos.events", "workload.write_ratio"} <= set(diff["field"])
    events = diff.set_index("field").loc["chaos.events"]
    assert events["before"] == "(none)" and events["after"].startswith("kill node-2 at 10 s")
    at.multiselect(key="compare.runs").set_value(["run-1 · node_failure"]).run()
    assert any("Pick at least two runs" in w.value for w in at.warning)


def test_compare_tables(failure_run, theory_run):
    runs = {"a": theory_run, "b": failure_run}
    table = kpi_table(runs)
    assert list(table["run"]) == ["a", "b"]
    deltas = delta_table(table)
    ref, other = theory_run.summary["hit_ratio"], failure_run.summary["hit_ratio"]
    assert deltas["hit ratio"].iloc[0] == pytest.approx((other - ref) * 100)  # percentage points
    p99, p99_ref = failure_run.summary["latency_p99_ms"], theory_run.summary["latency_p99_ms"]
    assert deltas["p99 (ms)"].iloc[0] == pytest.approx((p99 - p99_ref) / p99_ref * 100)  # relative, in %
    assert "seed" not in set(config_diff(runs)["field"])


def test_run_picker_switches_the_current_run(failure_run, theory_run):
    at = analysis({"run-1 · node_failure": failure_run, "run-2 · baseline": theory_run})
    at.selectbox(key="analysis.run").set_value("run-1 · node_failure").run()
    assert at.session_state["cachesim.current_run"] == "run-1 · node_failure"
    assert at.metric[0].value == f"{failure_run.summary['hit_ratio']:.1%}"


@pytest.mark.slow
def test_investigate_hands_the_event_to_the_analyst(failure_run, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    at = analysis({"run-1 · node_failure": failure_run})
    buttons = [b for b in at.button if b.key and b.key.startswith("analysis.investigate.")]
    assert buttons and len(buttons) <= 25
    question = "Why did the hit ratio and latency change when node-2 was killed at t=10.0 s?"
    at.button(key="analysis.investigate.0").click().run()  # the first notable event: the kill at t=10
    assert not at.exception
    # the analyst page took the prefill ({"run_id", "question"}) and asked it
    assert "analyst_prefill" not in at.session_state
    asked = [m for m in at.chat_message if any(re.sub(r"\\(.)", r"\1", md.value) == question for md in m.markdown)]
    assert len(asked) == 1


def test_investigate_questions():
    assert investigate_question(20.0, "restart", "node-2", "x") == (
        "Why did the metrics change when node-2 restarted at t=20.0 s?"
    )
    q = investigate_question(10.4, "anomaly", "", "hit ratio fell to 0.64 from a recent average of 0.82")
    assert q == "Why did this happen at t=10.4 s: hit ratio fell to 0.64 from a recent average of 0.82?"


def test_downloads_round_trip(failure_run, tmp_path):
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(zip_bytes(failure_run))) as zf:
        zf.extractall(tmp_path)
        assert {"config.toml", "summary.json", "timeseries.csv", "events.csv"} <= set(zf.namelist())
    back = cachesim.RunResult.load(tmp_path)
    assert back.summary == failure_run.summary and back.config == failure_run.config


def test_a_byte_sized_run_shows_its_byte_hit_ratio():
    cfg = cachesim.load_scenario("baseline").with_overrides(
        {"duration_s": "6", "warmup_s": "1", "cluster.capacity_bytes": "2000000", "workload.size": "lognormal"}
    )
    res = cachesim.simulate(cfg)
    at = analysis({"run-1 · bytes": res})
    kpis = {m.label: m.value for m in at.metric}
    assert list(kpis)[:2] == ["Hit ratio", "Byte hit ratio"]
    assert kpis["Byte hit ratio"] == f"{res.summary['byte_hit_ratio']:.1%}"
    assert res.summary["byte_hit_ratio"] != res.summary["hit_ratio"]
    assert any("× 2,000,000 bytes" in m.value for m in at.markdown)
