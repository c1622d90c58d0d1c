"""AppTest of the live page's explaining parts (issue 12): the default speed makes a
built-in scenario watchable, the narration caption and log, "Pause at each event",
and "Change one thing". Waits poll conditions (never fixed sleeps)."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import cachesim
from cachesim.narration import narrate
from cachesim.ui.runner import SPEEDS, WATCH_S, default_speed, speed_meaning
from tests.ui.helpers import APP, AS_FAST_AS_POSSIBLE, ROOT, charts_of, live_page, start, unescape, wait_for

SHORT = {"scenario": "node_failure", "duration_s": "12", "workload.rate_rps": "600"}


@pytest.mark.parametrize("name", cachesim.list_scenarios())
def test_the_default_speed_makes_each_builtin_scenario_watchable(name):
    cfg = cachesim.load_scenario(name)
    speed = default_speed(cfg.duration_s)
    assert speed in SPEEDS
    assert WATCH_S[0] <= cfg.duration_s / speed <= WATCH_S[1] == 30.0 and WATCH_S[0] == 15.0


def test_default_speed_edges_and_the_caption():
    assert default_speed(30.0) == 1.5  # 20 s of wall time
    assert default_speed(5.0) == 1.0  # shorter than watchable: real time
    assert default_speed(600.0) == 25.0  # 24 s
    assert default_speed(1e6) == 100.0
    assert "plays in about 20 s" in speed_meaning(1.5, 30.0)
    assert speed_meaning(None, 30.0).startswith("max: as fast as the server can")


def test_a_new_run_starts_at_the_watchable_speed_and_says_what_it_means():
    at = live_page({"scenario": "node_failure"})
    live, _ = start(at)
    assert live.speed == 1.5
    assert any("1.5× real time" in c.value and "about 20 s" in c.value for c in at.caption)
    at.button(key="live.stop").click().run()


def test_pause_at_each_event_narrates_and_resume_continues():
    at = live_page(SHORT, **AS_FAST_AS_POSSIBLE, **{"live.pause": True})
    live, worker = start(at)
    assert live.pause_at_events
    assert worker.wait(90) and live.status == "stopped"
    kill, _ = live.event_at(live.paused_for)
    assert (kill.kind, kill.target, kill.t) == ("kill", "node-2", 10.0)
    assert live.now == pytest.approx(10.1)  # paused at the snapshot that holds the kill
    at.run()
    assert not at.exception
    words = narrate("kill", "node-2", 10.0, live.config)
    assert any(unescape(i.value) == words for i in at.info)  # the caption
    assert any("Paused at the kill at t = 10.00 s" in unescape(w.value) for w in at.warning)
    log = [unescape(m.value) for m in at.markdown if "killed at t=10.0 s" in unescape(m.value)]
    assert log and words in log[0]  # the same words in the live log
    at.button(key="live.resume").click().run()
    wait_for(lambda: not at.session_state["cachesim.worker"].alive, what="the next pause")
    nxt, _ = live.event_at(live.paused_for)
    assert nxt.kind == "node_down_detected" and nxt.t > 10.0
    at.toggle(key="live.pause").set_value(False).run()
    at.button(key="live.resume").click().run()
    wait_for(lambda: live.status == "finished", what="the run to finish without pausing")
    assert live.paused_for is None


@pytest.mark.slow
def test_change_one_thing_reruns_the_same_seed_with_the_old_run_overlaid():
    at = live_page(SHORT, **AS_FAST_AS_POSSIBLE)
    first, worker = start(at)
    assert worker.wait(90)
    at.run()
    assert first.status == "finished" and first.run_id
    assert at.button(key="live.reset").label == "Clear live view"  # not a second "Reset" (the sidebar's)
    at.selectbox(key="live.change.key").set_value("cluster.nodes").run()
    at.text_input(key="live.change.value.cluster.nodes").set_value("2.7").run()
    at.button(key="live.change.run").click().run()
    assert at.session_state["cachesim.live"] is first  # refused, with a message naming the field
    assert any("cluster.nodes: Input should be a valid integer" in unescape(e.value) for e in at.error)
    at.text_input(key="live.change.value.cluster.nodes").set_value("8").run()
    at.button(key="live.change.run").click().run()
    second = at.session_state["cachesim.live"]
    assert second is not first and second.config.cluster.nodes == 8
    assert second.config.seed == first.config.seed
    assert second.baseline[0] == first.run_id
    assert any("cluster.nodes: 6 → 8" in unescape(c.value) for c in at.caption)
    assert at.session_state["cachesim.worker"].wait(90)
    at.run()
    hit = next(s for s in charts_of(at) if s.get("title") == "Hit ratio")
    prev = [layer for layer in hit["layer"] if layer.get("data", {}).get("name") == "prev"]
    assert prev and prev[0]["mark"]["strokeDash"] == [5, 3]  # the first run, dashed under the new one


# -- Analysis: zoom, narrated markers, compare, following a resumed run ------------------


@pytest.fixture(scope="module")
def failure_result():
    cfg = cachesim.load_scenario("node_failure").with_overrides(
        {"duration_s": 14, "warmup_s": 0, "workload.rate_rps": 600}
    )
    return cachesim.simulate(cfg)


def test_the_analysis_charts_share_one_zoom(failure_result):
    from cachesim import charts
    from cachesim.ui.analysis import narrated_events, timeseries_chart

    events = narrated_events(failure_result)
    chart = timeseries_chart(failure_result, charts.downsample(failure_result.timeseries()), events, None)
    spec = chart.to_dict()  # an Altair chart, for st.altair_chart: validated against the Vega-Lite schema here
    strip, *views = spec["vconcat"]
    (param,) = spec["params"]
    assert {k: v for k, v in param.items() if k != "views"} == {
        "name": charts.ZOOM,
        "select": {"type": "interval", "encodings": ["x"]},
    }  # dblclick clears it
    assert param["views"] == [strip["layer"][0]["name"]]  # the brush is on the strip
    assert [v["title"] for v in views] == [
        "Hit ratio",
        charts.LATENCY_TITLE,
        "Throughput, DB load and failures",
        "Per-node load and state",
    ]
    for view in views:  # every chart, every layer: the x domain is the brushed range
        for unit in view["layer"]:
            if unit["encoding"]["x"].get("field") == "t":
                assert unit["encoding"]["x"]["scale"]["domain"] == {"param": charts.ZOOM, "encoding": "x"}
            assert unit["mark"]["clip"] is True
    assert all("autosize" not in v for v in spec["vconcat"])  # the stack is sized as a whole
    # the markers' tooltips carry the narration
    rules = next(u for u in views[0]["layer"] if u["mark"]["type"] == "rule")
    table = pd.DataFrame(spec["datasets"][rules["data"]["name"]])
    kill = table[table["kind"] == "kill"]["message"].iloc[0]
    assert kill == narrate("kill", "node-2", 10.0, failure_result.config)


def test_latency_says_completed_only_and_shows_failures(failure_result):
    from cachesim import charts
    from cachesim.ui import vega

    spec = vega.spec("latency", charts.latency_data(failure_result.timeseries(), failure_result.events()))
    assert "completed requests only" in spec["title"] and "failure ratio" in spec["title"]
    fail = next(u for u in spec["layer"] if u.get("data", {}).get("name") == "fail")
    assert fail["encoding"]["y"]["field"] == "failure_ratio" and spec["resolve"]["scale"]["y"] == "independent"
    ratio = spec["datasets"]["fail"]["failure_ratio"]
    assert ratio.max() > 0  # node-2's requests time out after the kill
    assert ((ratio >= 0) & (ratio <= 1)).all()


def test_compare_shows_points_dashes_and_a_readable_diff(failure_result):
    from cachesim.ui.compare import config_diff, delta_display, delta_table, kpi_display, kpi_table

    other = cachesim.simulate(failure_result.config.with_overrides({"cluster.nodes": 8}))
    runs = {"a": failure_result, "b": other}
    table = kpi_table(runs)
    deltas = delta_table(table)
    hr = (other.summary["hit_ratio"] - failure_result.summary["hit_ratio"]) * 100
    assert deltas["hit ratio"].iloc[0] == pytest.approx(hr)
    shown = delta_display(deltas)
    assert shown["hit ratio"].iloc[0] == f"{hr:+,.1f} pp"
    fr = (other.summary["failure_ratio"] - failure_result.summary["failure_ratio"]) * 100
    assert shown["failure ratio"].iloc[0] == f"{fr:+,.1f} pp"
    assert shown["stale reads"].iloc[0].endswith(" %") or shown["stale reads"].iloc[0] == "–"
    table.loc[0, "p99 (ms)"] = None  # undefined: a dash, never "None"
    assert kpi_display(table)["p99 (ms)"].iloc[0] == "–"
    assert delta_display(delta_table(table))["p99 (ms)"].iloc[0] == "–"
    assert "None" not in kpi_display(table).to_string() + delta_display(delta_table(table)).to_string()
    diff = config_diff(runs)
    assert diff.to_dict("records") == [{"field": "cluster.nodes", "before": "6", "after": "8"}]


def test_analysis_follows_a_resumed_run():
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update({"scenario": "node_failure", "duration_s": "60", "workload.rate_rps": "600"})
    at.session_state["live.speed_pref"] = 5.0
    at.run()
    at.sidebar.button(key="sidebar.run").click().run()
    live = at.session_state["cachesim.live"]
    wait_for(lambda: live.now >= 0.5, what="the run moving")
    at.button(key="live.stop").click().run()
    stopped_at = live.now
    at.button(key="live.resume").click().run()
    wait_for(lambda: live.now >= stopped_at + 1.0, what="the resumed run moving on")
    at.switch_page("pages/3_Analysis.py").run()
    assert not at.exception
    kept = at.session_state["cachesim.runs"][live.run_id]
    assert kept.sim_time_s > stopped_at  # not the stopped copy
    assert any("going on (resumed)" in i.value for i in at.info)
    at.session_state["cachesim.worker"].stop()


def test_the_analyst_page_sets_its_title_and_runs_the_sidebars_scenario(monkeypatch):
    import ast

    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CACHESIM_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    page = ROOT / "pages" / "4_Analyst.py"
    calls = [
        n
        for n in ast.walk(ast.parse(page.read_text()))
        if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "set_page_config"
    ]
    (call,) = calls
    kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    assert kw["page_title"] == "Analyst · cachesim" and kw["layout"] == "wide"
    at = AppTest.from_file(str(page), default_timeout=90)
    at.query_params.update({"scenario": "hot_key", "duration_s": "4", "warmup_s": "0"})
    at.run()
    assert not at.exception
    assert not [s for s in at.selectbox if s.key == "analyst_quick_scenario"]  # no picker of its own
    assert at.sidebar.selectbox(key="sidebar.scenario").value == "hot_key"
    assert at.button(key="analyst_quick_run").label == "Run hot\\_key and analyse it"
    at.button(key="analyst_quick_run").click().run()
    (run,) = at.session_state["cachesim.runs"].values()
    assert run.config.name == "hot_key" and run.config.duration_s == 4.0  # the sidebar's values too


def test_the_home_diagram_orders_nodes_one_to_n():
    from cachesim.ui.home import system_diagram

    dot = system_diagram(cachesim.load_scenario("node_failure"))  # 6 nodes: node-1, node-2, ⋮, node-6
    # one record node: dot keeps its fields in order, top to bottom with rankdir=LR
    assert 'tier [shape=Mrecord, label="<n0> node-1|<n1> node-2|<n2> ⋮|<n3> node-6"];' in dot
    assert "lb -> tier:n0; lb -> tier:n1; lb -> tier:n3;" in dot
    nine = system_diagram(cachesim.load_scenario("baseline").with_overrides({"cluster.nodes": 4}))
    assert 'label="<n0> node-1|<n1> node-2|<n2> node-3|<n3> node-4"' in nine
