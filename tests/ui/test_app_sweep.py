"""AppTest of the Sweep page: a sweep of the sidebar's config runs in a worker thread,
shows a CI band (with Che's reference) or a heatmap, stops keeping finished runs,
refuses a sweep over the budget, and its share link restores the definition."""

from __future__ import annotations

import json
import multiprocessing
import sys
import time

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import cachesim
from cachesim.executors import ProcessExecutor, SerialExecutor
from cachesim.sweeps import plan_sweep
from cachesim.theory import che_lru_hit_ratio
from cachesim.ui import sweep as ui
from cachesim.ui.text import JOINER
from cachesim.workload import popularity
from tests.ui.helpers import APP, ROOT

PAGE = "pages/5_Sweep.py"
#: Small runs: one node, reads only (theory applies), 2 simulated seconds.
SMALL = {
    "duration_s": 2.0,
    "warmup_s": 0.5,
    "cluster.nodes": 1,
    "workload.write_ratio": 0.0,
    "workload.rate_rps": 1000.0,
}


@pytest.fixture(autouse=True)
def serial(monkeypatch):
    monkeypatch.setenv(ui.WORKERS_ENV, "1")  # runs in the job's thread: quick to start on a busy machine
    monkeypatch.delenv(ui.BUDGET_ENV, raising=False)
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)


def sweep_page(overrides: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.session_state["cfg.values"].update(overrides or SMALL)
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def wait_done(at: AppTest, deadline_s: float = 120.0) -> ui.SweepJob:
    job = at.session_state[ui.JOB]
    assert job.wait(deadline_s), "the sweep did not finish in time"
    at.run()
    assert not at.exception
    return job


def shown(element) -> str:
    """An alert's text as the reader sees it (the page escapes typed text for Markdown)."""
    return element.value.replace("\\", "").replace(JOINER, "")


def specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart") + at.get("arrow_vega_lite_chart")]


def _marks(spec: dict) -> list[str]:
    out = []
    for layer in spec.get("layer", []):
        mark = layer.get("mark")
        out.append(mark["type"] if isinstance(mark, dict) else mark)
    return out


def test_page_shows_the_definition_from_the_current_config():
    at = sweep_page()
    assert at.title[0].value == "Sweep"
    assert at.selectbox(key="sw:x").value == "cluster.capacity"
    assert at.text_input(key="sw:xv").value == "100:3200:*2"
    assert "seed" not in at.selectbox(key="sw:x").options and "workload.rate_rps" in at.selectbox(key="sw:x").options
    at.selectbox(key="sw:x").set_value("cluster.nodes").run()
    assert at.text_input(key="sw:xv").value == "1,2"  # around the sidebar's 1 node
    at.selectbox(key="sw:y").set_value("cluster.eviction").run()
    assert at.text_input(key="sw:yv").value.startswith("lru,fifo")
    assert not at.exception


@pytest.mark.slow
def test_a_one_parameter_sweep_draws_the_ci_band_and_che():
    at = sweep_page(SMALL | {"duration_s": 8.0, "warmup_s": 4.0, "workload.rate_rps": 3000.0})  # warm caches
    at.text_input(key="sw:xv").set_value("100:1600:*4").run()
    at.number_input(key="sw:reps").set_value(2).run()
    at.button(key="sw:run").click().run()
    job = wait_done(at)
    res = job.result
    assert list(res.table["cluster.capacity"]) == [100, 100, 400, 400, 1600, 1600]
    assert at.success[0].value.startswith("Finished: 6 runs on serial")
    (spec,) = specs(at)
    assert _marks(spec) == ["area", "line", "line"]
    ref = ui.references(job.plan, "hit_ratio")  # the dashed line's data
    assert list(ref["label"]) == ["Che approximation (LRU)"] * 3
    che = dict(zip(ref["x"], ref["value"], strict=True))
    pop = popularity(job.plan.base.workload)
    assert che == pytest.approx({c: che_lru_hit_ratio(pop, c) for c in (100, 400, 1600)})
    means = res.table.groupby("cluster.capacity")["hit_ratio"].mean()
    assert means.is_monotonic_increasing and (means - pd.Series(che)).abs().max() < 0.01
    assert "Che approximation" in at.caption[-2].value or any("Che" in c.value for c in at.caption)
    assert [b.label for b in at.get("download_button")] == ["Download CSV", "Download Parquet"]
    link = at.code[0].value
    assert "sweep.x=cluster.capacity" in link and "sweep.reps=2" in link and "cluster.nodes=1" in link
    # another metric from the same runs, no rerun of the sweep
    at.selectbox(key="sw:metric").set_value("latency_p99_ms").run()
    (spec,) = specs(at)
    assert _marks(spec) == ["area", "line"] and "latency_p99_ms" in spec["title"]
    assert at.session_state[ui.JOB] is job


@pytest.mark.slow
def test_two_parameters_draw_a_heatmap():
    at = sweep_page()
    at.selectbox(key="sw:x").set_value("cluster.capacity").run()
    at.text_input(key="sw:xv").set_value("100,1000").run()
    at.selectbox(key="sw:y").set_value("cluster.eviction").run()
    at.text_input(key="sw:yv").set_value("lru,fifo").run()
    at.number_input(key="sw:reps").set_value(1).run()
    at.button(key="sw:run").click().run()
    job = wait_done(at)
    assert len(job.result.table) == 4
    (spec,) = specs(at)
    assert _marks(spec) == ["rect", "text"]
    assert ui.references(job.plan, "hit_ratio") is None  # theory draws only against one parameter
    chart = ui.heatmap(job.result.aggregate(["hit_ratio"]), "cluster.capacity", "cluster.eviction", "hit_ratio")
    (cells,) = chart.to_dict()["datasets"].values()
    assert {(c["x"], c["y"]) for c in cells} == {(100, "lru"), (100, "fifo"), (1000, "lru"), (1000, "fifo")}
    assert all(c["label"] == f"{c['mean']:.3g}" for c in cells)


def test_the_line_chart_data():
    agg = pd.DataFrame(
        {
            "k": [1, 10, 100],
            "runs": [3, 3, 3],
            "m_mean": [0.1, 0.2, 0.3],
            "m_ci": [0.01, 0.02, 0.0],
            "m_lo": [0.09, 0.18, 0.3],
            "m_hi": [0.11, 0.22, 0.3],
        }
    )
    ref = pd.DataFrame({"x": [1, 10, 100], "value": [0.12, 0.21, 0.33], "label": ["Che approximation (LRU)"] * 3})
    spec = ui.line_chart(agg, "k", "m", ref).to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["area", "line", "line"]
    assert spec["layer"][0]["encoding"]["x"]["scale"] == {"type": "log", "domain": [1.0, 100.0], "nice": False}
    data = list(spec["datasets"].values())
    assert [r["lo"] for r in data[0]] == [0.09, 0.18, 0.3] and [r["value"] for r in data[1]] == [0.12, 0.21, 0.33]
    cat = ui.line_chart(agg.assign(k=["lru", "fifo", "lfu"]), "k", "m").to_dict()
    assert [layer["mark"]["type"] for layer in cat["layer"]] == ["rule", "line"]  # error bars for choices


def test_a_sweep_over_the_budget_is_refused(monkeypatch):
    monkeypatch.setenv(ui.BUDGET_ENV, "10000")
    at = sweep_page()
    at.button(key="sw:run").click().run()
    (err,) = at.error
    text = shown(err)
    assert "the limit is 10,000" in text and ui.BUDGET_ENV in text and "\n" not in text
    assert ui.JOB not in at.session_state
    assert "Budget: 10,000 simulated requests" in at.caption[1].value


def test_bad_values_are_one_line_naming_the_field():
    at = sweep_page()
    at.text_input(key="sw:xv").set_value("100,-1").run()
    at.button(key="sw:run").click().run()
    assert "cluster.capacity" in shown(at.error[0]) and ui.JOB not in at.session_state
    at.text_input(key="sw:xv").set_value("9:1:1").run()
    at.button(key="sw:run").click().run()
    assert "below its start" in shown(at.error[0])


def test_stop_keeps_the_finished_runs():
    at = sweep_page()
    at.text_input(key="sw:xv").set_value("100:2000:10").run()  # 191 points x 3: far more than can finish
    at.button(key="sw:run").click().run()
    job = at.session_state[ui.JOB]
    deadline = time.monotonic() + 60
    while job.progress.done < 2 and time.monotonic() < deadline:
        job.wait(0.05)  # a condition with a deadline
    assert job.progress.done >= 2
    at.run()
    assert at.get("progress")
    at.button(key="sw:stop").click().run()
    job = wait_done(at)
    res = job.result
    assert res.cancelled and 2 <= len(res.table) < job.plan.runs
    assert at.warning[0].value.startswith(f"Stopped: {len(res.table)} runs")
    assert specs(at)  # the chart of what finished


def test_the_share_link_restores_the_sweep():
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=60)
    at.query_params.update(
        {
            "scenario": "baseline",
            "cluster.nodes": "2",
            "sweep.x": "workload.zipf_alpha",
            "sweep.xv": "0.6:1.0:0.2",
            "sweep.y": "cluster.eviction",
            "sweep.yv": "lru,fifo",
            "sweep.reps": "4",
            "sweep.metric": "latency_p99_ms",
        }
    )
    at.run()
    assert not at.exception
    assert at.selectbox(key="sw:x").value == "workload.zipf_alpha"
    assert at.text_input(key="sw:xv").value == "0.6:1.0:0.2"
    assert at.selectbox(key="sw:y").value == "cluster.eviction" and at.text_input(key="sw:yv").value == "lru,fifo"
    assert at.number_input(key="sw:reps").value == 4
    assert at.session_state["cfg.values"]["cluster.nodes"] == 2  # the config's part went to the sidebar
    assert any("loaded from the link" in shown(i) for i in at.info)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"sweep.x": "seed"}, "sweep.x: 'seed' is not a parameter"),
        ({"sweep.xv": "1," * 150}, "sweep.xv: at most 200 characters"),
        ({"sweep.reps": "500"}, "sweep.reps: a whole number 1..50"),
    ],
)
def test_a_bad_share_link_says_which_parameter(params, message):
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=60)
    at.query_params.update(params)
    at.run()
    assert not at.exception
    assert any(message in shown(e) for e in at.error)
    assert at.selectbox(key="sw:x").value == "cluster.capacity"  # the default sweep instead


def test_link_round_trip_and_budget_helpers(monkeypatch):
    d = ui.SweepDef(
        x="cluster.nodes", xv="1,2,4", y="cluster.routing", yv="random,round_robin", reps=5, metric="throughput_rps"
    )
    assert ui.decode_def(ui.encode_def(d)) == d
    assert ui.decode_def({"sweep.x": "cluster.nodes", "sweep.yv": "x"}).y == ""
    monkeypatch.setenv(ui.BUDGET_ENV, "5e6")
    assert ui.max_sweep_requests() == 5e6
    monkeypatch.setenv(ui.BUDGET_ENV, "lots")
    assert ui.max_sweep_requests() == ui.DEFAULT_MAX_REQUESTS
    plan = plan_sweep(cachesim.load_scenario("baseline"), {"cluster.nodes": [1, 2]}, 3)
    assert plan.requests() == 6 * 2000 * 30
    assert ui.budget_error(plan, 360_000) is None
    assert "360,000 requests over 6 runs" in ui.budget_error(plan, 359_999)
    big = plan_sweep(cachesim.load_scenario("baseline"), {"cluster.capacity": "1:200:1"}, 11)
    assert "at most 2,000" in ui.budget_error(big, 1e30)


@pytest.mark.parametrize(
    "make",
    [SerialExecutor, pytest.param(lambda: ProcessExecutor(2), marks=pytest.mark.slow)],
    ids=["serial", "processes"],
)
def test_a_job_runs_off_the_calling_thread(make):
    cfg = cachesim.load_scenario("baseline").with_overrides(SMALL)
    plan = plan_sweep(cfg, {"cluster.capacity": [100, 1000]}, 2)
    before = set(multiprocessing.active_children())
    job = ui.SweepJob(plan, ui.SweepDef(), make())
    assert job.wait(120) and job.error is None
    assert job.progress.done == 4 and len(job.result.table) == 4
    assert not set(multiprocessing.active_children()) - before  # the job closed its executor: no worker left


def test_the_app_picks_its_executor_from_the_server_environment(monkeypatch):
    assert isinstance(ui.app_executor(), SerialExecutor)  # CACHESIM_SWEEP_WORKERS=1 (the fixture)
    monkeypatch.setenv(ui.WORKERS_ENV, "3")
    ex = ui.app_executor()
    assert isinstance(ex, ProcessExecutor) and ex.workers == 3
    monkeypatch.delenv(ui.WORKERS_ENV)
    assert isinstance(ui.app_executor(), ProcessExecutor)
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:8786")
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(ui.ExecutorError, match="Dask is not installed"):
        ui.app_executor()


def test_plain_text_for_markdown_elements():
    text = "got '[x](http://evil.example)' **b** <b>h</b> :red[a] $x$ www.c.example a@b.example"
    out = ui.plain(text)
    assert out.replace("\\", "").replace(JOINER, "") == text  # reads as typed
    for live in ("](", "**", "<b>", ":red[", "$x$", "http://", "www.", "a@b"):
        assert live not in out


def test_mmc_reference_against_rate():
    from cachesim.theory import mmc_response_time

    queue = cachesim.load_scenario("baseline").with_overrides(
        {
            "cluster.nodes": 1,
            "workload.write_ratio": 0,
            "workload.keys": 50,
            "cluster.capacity": 50,
            "network.latency_ms": 0,
            "network.jitter_ms": 0,
            "database.service_time_ms": 0,
            "cluster.concurrency": 2,
            "cluster.service_time_ms": 0.5,
        }
    )
    plan = plan_sweep(queue, {"workload.rate_rps": [1000, 3000, 5000]}, 1)  # 5000 >= 2 x 2000: unstable
    ref = ui.references(plan, "latency_mean_ms")
    assert list(ref["x"]) == [1000.0, 3000.0] and set(ref["label"]) == {"M/M/2"}
    assert list(ref["value"]) == pytest.approx([mmc_response_time(r, 2000, 2) * 1000 for r in (1000, 3000)])
    assert ui.references(plan, "hit_ratio") is not None and ui.references(plan, "failed") is None
