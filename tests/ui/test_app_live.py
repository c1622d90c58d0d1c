"""AppTest of the live page: the run advances in a worker beside the page; a short run
streams KPIs and charts; stop keeps the partial run, resume continues it, reset
clears the view; the run goes on while the visitor is on another page; rapid clicks
never raise.

Every wait polls a condition with a generous deadline (never a fixed sleep): the
worker's speed depends on the machine and on what else runs on it.
"""

from __future__ import annotations

import logging
import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.helpers import APP, LONG, REAL_TIME, charts_of, live_page, start, titles, unescape, wait_for


def test_ready_state_before_any_run():
    at = live_page()
    assert "No run yet" in at.info[0].value
    assert "node\\_failure" in at.caption[0].value and "800 req/s" in at.caption[0].value
    assert any("a server restart loses them" in c.value for c in at.caption)


@pytest.mark.slow
def test_a_short_run_produces_kpis_and_charts():
    at = live_page()
    live, worker = start(at)
    assert worker.wait(60) and worker.state == "finished"
    at.run()
    assert not at.exception
    assert live.status == "finished" and live.now == 12.0
    labels = [m.label for m in at.metric]
    assert labels == ["Hit ratio", "p99 latency", "Throughput", "DB load", "Stale reads", "Nodes up"]
    hit = at.metric[0].value
    assert hit.endswith("%") and 0 < float(hit[:-1]) <= 100
    assert at.metric[5].value == "5/6"  # node-2 was killed at t=10 (restarted only at t=20)
    assert titles(at) == [
        "Hit ratio",
        "Latency p50 / p95 / p99 (completed requests only) and failure ratio",
        "Throughput, DB load and failures",
        "Per-node load and state",
        "Cache occupancy",
    ]
    hit_spec = charts_of(at)[0]
    assert hit_spec["layer"][0]["encoding"]["y"]["field"] == "hit_ratio"
    assert hit_spec["layer"][0]["encoding"]["x"]["scale"]["domain"] == [0.0, 12.0]
    rules = hit_spec["layer"][-1]
    assert rules["mark"]["type"] == "rule" and "kill" in rules["encoding"]["color"]["scale"]["domain"]
    assert at.get("progress")[0].proto.value == 100
    assert "Finished" in at.success[0].value
    runs = at.session_state["cachesim.runs"]
    assert list(runs) == ["run-1 · node_failure"] and runs["run-1 · node_failure"].status == "finished"
    log = next(unescape(m.value) for m in at.markdown if "node-2 killed at t=10.0 s" in unescape(m.value))
    assert "**kill**" in log and "run finished" in log


@pytest.mark.slow
def test_stop_keeps_the_partial_run_and_resume_continues_it():
    at = live_page(LONG, **REAL_TIME)  # 1 x real time: the run is still going when Stop is clicked
    live, worker = start(at)
    wait_for(lambda: live.now >= 0.5, what="the run reaching t=0.5 s")
    said: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("cachesim.ui.control").addHandler(handler)
    try:
        at.button(key="live.stop").click().run()
    finally:
        logging.getLogger("cachesim.ui.control").removeHandler(handler)
    assert not at.exception
    assert not worker.alive and worker.state == "stopped"
    # the server log says which control stopped the run, and when (to find a stop nobody asked for)
    assert any(re.fullmatch(r"live run \S+ stopped by the Stop button at t=\d+\.\d\d s", m) for m in said), said
    print(f"\nstop: the worker let go {worker.stopped_after_s * 1e3:.1f} ms after stop()")
    stopped_at = live.now
    assert live.status == "stopped" and 0 < stopped_at < 60 and "Stopped at" in at.warning[0].value
    runs = at.session_state["cachesim.runs"]
    ((run_id, partial),) = runs.items()
    assert partial.status == "stopped" and partial.sim_time_s == stopped_at
    assert len(partial.timeseries()) == round(stopped_at / 0.1)
    at.run()
    assert live.now == stopped_at  # nothing moves while stopped
    assert at.button(key="live.resume").disabled is False and at.button(key="live.stop").disabled is True
    at.button_group[0].set_value(None).run()  # as fast as possible
    at.button(key="live.resume").click().run()
    resumed = at.session_state["cachesim.worker"]
    assert resumed is not worker and resumed.wait(120) and resumed.state == "finished"
    at.run()
    assert live.status == "finished" and live.now == 60.0
    assert list(at.session_state["cachesim.runs"]) == [run_id]  # the same run, now finished
    assert at.session_state["cachesim.runs"][run_id].status == "finished"


def test_reset_clears_the_view_and_keeps_the_runs():
    at = live_page(LONG, **REAL_TIME)
    live, worker = start(at)
    wait_for(lambda: live.sim.snapshots, what="a first snapshot")
    at.button(key="live.reset").click().run()
    assert not at.exception and not worker.alive
    assert at.session_state["cachesim.live"] is None and "No run yet" in at.info[0].value
    assert [r.status for r in at.session_state["cachesim.runs"].values()] == ["stopped"]


@pytest.mark.slow
def test_speed_control_paces_the_run():
    at = live_page(LONG, **REAL_TIME)
    live, worker = start(at)
    assert live.speed == 1.0
    wait_for(lambda: live.now >= 0.3, what="the run moving")
    began, t0 = time.perf_counter(), live.now
    wait_for(lambda: live.now >= t0 + 0.5, what="the run moving on")
    # at 1 x real time the run can never be ahead of the wall clock (a slow machine only lags)
    assert live.now - t0 <= (time.perf_counter() - began) * 1.0 + 0.3
    at.button_group[0].set_value(None).run()
    assert live.speed is None
    assert worker.wait(60) and live.status == "finished"


@pytest.mark.slow
def test_a_browser_behind_on_its_messages_gets_no_more_redraws(monkeypatch):
    """While the messages queued for the browser exceed BACKLOG_MAX, a batch of
    refreshes draws nothing more (the browser catches up instead of being dropped as
    overwhelmed, which froze the page and lost its clicks); once caught up it draws on."""
    from cachesim.ui import live as live_mod

    at = live_page(LONG, **REAL_TIME)
    live, worker = start(at)
    wait_for(lambda: live.now >= 0.3, what="the run moving")
    monkeypatch.setattr(live_mod, "BATCH_S", 0.6)  # a batch of refreshes per script run, as in the browser
    monkeypatch.setattr(live_mod, "send_backlog", lambda: live_mod.BACKLOG_MAX + 1)
    monkeypatch.setattr(live_mod, "BROWSER_WAIT_S", 0.3)  # how long a batch waits for the browser first
    before, began = len(live.refreshes), time.perf_counter()
    at.run()
    behind, waited = len(live.refreshes) - before, time.perf_counter() - began
    monkeypatch.setattr(live_mod, "send_backlog", lambda: live_mod.BACKLOG_MAX)
    before = len(live.refreshes)
    at.run()
    caught_up = len(live.refreshes) - before
    assert not at.exception and live.status == "running"
    assert behind == 1 and caught_up >= 2, (behind, caught_up)  # the batch's first draw, then nothing
    assert waited >= 0.3  # the batch waited for the browser before it drew
    worker.stop()


def test_the_run_goes_on_while_the_visitor_reads_another_page():
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update(LONG)
    at.session_state["live.speed_pref"] = 1.0
    at.run()
    at.sidebar.button(key="sidebar.run").click().run()
    live = at.session_state["cachesim.live"]
    at.switch_page("pages/3_Analysis.py").run()
    assert not at.exception and at.session_state["cachesim.live"] is live
    t = live.now
    wait_for(lambda: live.now > t + 0.3, what="the run advancing with no page script running")
    at.run()
    assert any("continues on the Live run page" in c.value for c in at.sidebar.caption)
    at.switch_page("pages/2_Live_Run.py").run()
    assert at.session_state["cachesim.live"] is live
    assert len(charts_of(at)) == 5
    at.button(key="live.stop").click().run()
    assert live.status == "stopped"


@pytest.mark.slow
def test_a_hundred_rapid_clicks_never_raise():
    at = live_page(LONG)
    live, _ = start(at)
    speeds = [None, 1.0, 5.0, 100.0]
    for i in range(100):
        kind = i % 4
        if kind == 0 and not at.button(key="live.stop").disabled:
            at.button(key="live.stop").click()
        elif kind == 1 and not at.button(key="live.resume").disabled:
            at.button(key="live.resume").click()
        elif kind == 2:
            at.button_group[0].set_value(speeds[(i // 4) % 4])
        at.run(timeout=60)
        assert not at.exception, f"click {i}"
        assert not at.error, f"click {i}: {at.error[0].value}"
    at.session_state["cachesim.worker"].stop()
    snaps = live.sim.snapshots  # consistent: no snapshot lost or taken twice, nothing lost in between
    assert [round(s.t, 6) for s in snaps] == [round(0.1 * (k + 1), 6) for k in range(len(snaps))]
    assert all(s.total_issued == s.total_completed + s.total_failed + s.in_flight for s in snaps)


def test_two_sessions_run_independently():
    a = live_page(LONG, **REAL_TIME)
    b = live_page({"scenario": "write_heavy", "duration_s": "60"}, **REAL_TIME)
    la, wa = start(a)
    lb, wb = start(b)
    assert la is not lb and la.config.name == "node_failure" and lb.config.name == "write_heavy"
    a.button(key="live.stop").click().run()
    t_b = lb.now
    wait_for(lambda: lb.now > t_b, what="b advancing after a stopped")
    assert wb.alive and lb.status == "running" and la.status == "stopped" and not wa.alive
    assert "cachesim.runs" not in b.session_state  # b kept nothing of a's
    assert list(a.session_state["cachesim.runs"]) == ["run-1 · node_failure"]
    b.button(key="live.stop").click().run()


def test_an_over_budget_run_is_refused_with_one_line(monkeypatch):
    monkeypatch.setenv("CACHESIM_MAX_REQUESTS_PER_RUN", "5000")
    at = live_page()  # 800 req/s x 12 s = 9,600 requests
    assert at.sidebar.button(key="sidebar.run").disabled
    (err,) = [e.value for e in at.sidebar.error]
    assert "9,600" in err and "5,000" in err and "CACHESIM_MAX_REQUESTS_PER_RUN" in err
    assert "cachesim.worker" not in at.session_state


def test_the_sidebar_shows_the_estimate_before_run():
    at = live_page()
    (cap,) = [c.value for c in at.sidebar.caption if c.value.startswith("This run:")]
    assert "about 9,600 simulated requests" in cap and "server time" in cap
