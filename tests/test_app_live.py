"""AppTest of the live page: a short run streams KPIs and charts; stop keeps the
partial run, resume continues it, reset clears the view; leaving loses nothing."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
LIVE = str(ROOT / "pages" / "2_Live_Run.py")
APP = str(ROOT / "app.py")
SHORT = {"scenario": "node_failure", "duration_s": "12", "workload.rate_rps": "800"}


def live_page(params: dict[str, str] | None = None, *, refreshes_per_run: bool = False) -> AppTest:
    at = AppTest.from_file(LIVE, default_timeout=90)
    at.query_params.update(params or SHORT)
    if refreshes_per_run:
        at.session_state["live.max_loop_s"] = 0.0  # one refresh per script run: the test steps the run
    at.run()
    assert not at.exception
    return at


def charts_of(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart") + at.get("arrow_vega_lite_chart")]


def titles(at: AppTest) -> list[str]:
    return [spec.get("title") for spec in charts_of(at)]


def test_ready_state_before_any_run():
    at = live_page()
    assert "No run yet" in at.info[0].value
    assert "node_failure" in at.caption[0].value and "800 req/s" in at.caption[0].value


def test_a_short_run_produces_kpis_and_charts():
    at = live_page()
    at.session_state["live.max_loop_s"] = 60.0  # refresh until the end within one script run
    at.sidebar.button(key="sidebar.run").click().run()
    assert not at.exception
    live = at.session_state["cachesim.live"]
    assert live.status == "finished" and live.now == 12.0
    labels = [m.label for m in at.metric]
    assert labels == ["Hit ratio", "p99 latency", "Throughput", "DB load", "Stale reads", "Nodes up"]
    hit = at.metric[0].value
    assert hit.endswith("%") and 0 < float(hit[:-1]) <= 100
    assert at.metric[5].value == "5/6"  # node-2 was killed at t=10 (restarted only at t=20)
    assert titles(at) == ["Hit ratio", "Latency p50 / p95 / p99", "Throughput, DB load and failures",
                          "Per-node load and state", "Cache occupancy"]
    hit_spec = charts_of(at)[0]
    assert hit_spec["layer"][0]["encoding"]["y"]["field"] == "hit_ratio"
    assert hit_spec["layer"][0]["encoding"]["x"]["scale"]["domain"] == [0.0, 12.0]
    rules = hit_spec["layer"][-1]
    assert rules["mark"]["type"] == "rule" and "kill" in rules["encoding"]["color"]["scale"]["domain"]
    assert at.get("progress")[0].proto.value == 100
    assert "Finished" in at.success[0].value
    runs = at.session_state["cachesim.runs"]
    assert list(runs) == ["run-1 · node_failure"] and runs["run-1 · node_failure"].status == "finished"
    log = next(m.value for m in at.markdown if "chaos killed node-2" in m.value)
    assert "**kill**" in log and "run finished" in log


def test_stop_keeps_the_partial_run_and_resume_continues_it():
    at = live_page(refreshes_per_run=True)
    at.session_state["live.tick_budget_s"] = 0.05
    at.sidebar.button(key="sidebar.run").click().run()
    live = at.session_state["cachesim.live"]
    assert live.status == "running" and 0 < live.now < 12
    at.button(key="live.stop").click().run()
    assert not at.exception
    stopped_at = live.now
    assert live.status == "stopped" and "Stopped at" in at.warning[0].value
    runs = at.session_state["cachesim.runs"]
    (run_id, partial), = runs.items()
    assert partial.status == "stopped" and partial.sim_time_s == stopped_at
    assert len(partial.timeseries()) == round(stopped_at / 0.1)
    at.run()
    assert live.now == stopped_at  # nothing moves while stopped
    assert at.button(key="live.resume").disabled is False and at.button(key="live.stop").disabled is True
    at.button(key="live.resume").click().run()
    assert live.now > stopped_at
    at.session_state["live.max_loop_s"] = 60.0
    at.run()
    assert live.status == "finished"
    assert list(at.session_state["cachesim.runs"]) == [run_id]  # the same run, now finished
    assert at.session_state["cachesim.runs"][run_id].status == "finished"


def test_reset_clears_the_view_and_keeps_the_runs():
    at = live_page(refreshes_per_run=True)
    at.sidebar.button(key="sidebar.run").click().run()
    at.button(key="live.reset").click().run()
    assert not at.exception
    assert at.session_state["cachesim.live"] is None and "No run yet" in at.info[0].value
    assert [r.status for r in at.session_state["cachesim.runs"].values()] == ["stopped"]


def test_speed_control_paces_the_run():
    at = live_page(refreshes_per_run=True)
    at.sidebar.button(key="sidebar.run").click().run()
    at.button_group[0].set_value(1.0).run()  # 1 x real time
    live = at.session_state["cachesim.live"]
    assert live.speed == 1.0
    t0 = live.now
    at.run()
    assert live.now - t0 <= 0.5  # one refresh of about 0.2 wall seconds moves ~0.2 simulated seconds


def test_leaving_the_page_and_coming_back_loses_nothing():
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update(SHORT)
    at.session_state["live.max_loop_s"] = 0.0
    at.run()
    at.sidebar.button(key="sidebar.run").click().run()
    live = at.session_state["cachesim.live"]
    t = live.now
    at.switch_page("pages/3_Analysis.py").run()
    assert not at.exception and at.session_state["cachesim.live"] is live and live.now == t
    assert any("continues on the Live run page" in c.value for c in at.sidebar.caption)
    at.switch_page("pages/2_Live_Run.py").run()
    assert at.session_state["cachesim.live"] is live and live.now > t
    assert len(charts_of(at)) == 5


def test_two_sessions_run_independently():
    a = live_page(refreshes_per_run=True)
    b = live_page({"scenario": "write_heavy", "duration_s": "20"}, refreshes_per_run=True)
    for at in (a, b):
        at.session_state["live.tick_budget_s"] = 0.03
    a.sidebar.button(key="sidebar.run").click().run()
    b.sidebar.button(key="sidebar.run").click().run()
    la, lb = a.session_state["cachesim.live"], b.session_state["cachesim.live"]
    assert la is not lb and la.config.name == "node_failure" and lb.config.name == "write_heavy"
    a.button(key="live.stop").click().run()
    t_b = lb.now
    b.run()
    assert lb.status == "running" and lb.now > t_b and la.status == "stopped"
    assert "cachesim.runs" not in b.session_state  # b kept nothing of a's
    assert list(a.session_state["cachesim.runs"]) == ["run-1 · node_failure"]
