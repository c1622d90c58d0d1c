"""Chart builders: the specs hold the right fields, data, rules and windows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import cachesim
from cachesim import charts, derived
from cachesim.metrics import TIMESERIES_COLUMNS
from cachesim.ui import vega
from cachesim.ui.chaos_editor import schedule_spans


def layers(spec: dict) -> list[dict]:
    return spec.get("layer", [spec])


def records(spec: dict, layer: dict) -> list[dict]:
    """The data rows a layer draws, from an Altair ``to_dict()``."""
    name = (layer.get("data") or spec.get("data"))["name"]
    return spec["datasets"][name]


def layer_with_mark(spec: dict, mark: str) -> dict:
    return next(
        lay for lay in layers(spec) if (lay["mark"]["type"] if isinstance(lay["mark"], dict) else lay["mark"]) == mark
    )


# -- windows and frames -----------------------------------------------------------------


def test_window_keeps_the_last_points(node_failure_25s):
    ts = pd.concat([node_failure_25s.timeseries()] * 4, ignore_index=True)  # 1,000 rows
    w = charts.window(ts, 600)
    assert len(w) == 600
    assert w.index[0] == len(ts) - 600 and w.index[-1] == len(ts) - 1
    assert charts.window(ts.head(10), 600).equals(ts.head(10))


def test_live_domain_is_fixed_while_the_run_fits_the_window_then_slides():
    assert charts.live_domain(30.0, 0.1, 600) == (0.0, 30.0)
    assert charts.live_domain(60.0, 0.1, 600) == (0.0, 60.0)
    assert charts.live_domain(61.0, 0.1, 600) is None


def test_downsample_bounds_points_and_keeps_the_end(node_failure_25s):
    ts = node_failure_25s.timeseries()
    small = charts.downsample(ts, 50)
    assert len(small) <= 50
    assert small["t"].iloc[-1] == pytest.approx(ts["t"].iloc[-1])
    assert small["hit_ratio"].between(0, 1).all()
    assert charts.downsample(ts, 10_000) is ts


def test_markers_filters_kinds_and_domain(node_failure_25s):
    ev = node_failure_25s.events()
    m = charts.markers(ev)
    assert list(m["kind"]) == [k for k in ev["kind"] if k in charts.MARKER_KINDS]
    assert set(m["kind"]) >= {"kill", "restart", "node_down_detected"}
    assert "run_started" not in set(m["kind"])
    assert set(m.loc[m["kind"] == "kill", "style"]) == {"chaos"}
    assert set(m.loc[m["kind"] == "node_down_detected", "style"]) == {"detected"}
    inside = charts.markers(ev, (15.0, 25.0))
    assert (inside["t"] >= 15).all() and "kill" not in set(inside["kind"]) and "restart" in set(inside["kind"])
    assert charts.markers(None).empty and charts.markers(ev.iloc[0:0]).empty


def test_node_state_order_of_precedence():
    df = pd.DataFrame(
        {
            "up": [True, False, True, True, True],
            "partitioned": [False, False, True, False, False],
            "routed": [True, False, True, False, True],
            "slow_factor": [1.0, 1.0, 1.0, 1.0, 10.0],
        }
    )
    assert list(charts.node_state(df)) == ["up", "down", "partitioned", "unrouted", "slow"]


# -- time-series charts -----------------------------------------------------------------


def test_hit_ratio_chart_fields_and_chaos_rules(node_failure_25s):
    spec = charts.hit_ratio_chart(node_failure_25s.timeseries(), node_failure_25s.events()).to_dict()
    line = layer_with_mark(spec, "line")
    assert line["encoding"]["x"]["field"] == "t" and line["encoding"]["y"]["field"] == "hit_ratio"
    assert line["encoding"]["y"]["scale"]["domain"] == [0, 1]
    assert len(records(spec, line)) == len(node_failure_25s.timeseries())
    rule = layer_with_mark(spec, "rule")
    rows = records(spec, rule)
    kills = [r["t"] for r in rows if r["kind"] == "kill"]
    restarts = [r["t"] for r in rows if r["kind"] == "restart"]
    assert kills == [10.0] and restarts == [20.0]
    detected = [r for r in rows if r["kind"] == "node_down_detected"]
    assert detected and 10.0 < detected[0]["t"] < 11.0 and detected[0]["style"] == "detected"
    assert rule["encoding"]["x"]["field"] == "t"
    assert rule["encoding"]["color"]["scale"]["range"][0] == charts.KIND_COLORS["kill"]
    assert spec["autosize"]["type"] == "fit-x"


def test_no_events_no_rule_layer(node_failure_25s):
    spec = charts.hit_ratio_chart(node_failure_25s.timeseries(), None).to_dict()
    assert [lay["mark"]["type"] for lay in layers(spec)] == ["line"]


def test_rules_outside_a_live_window_are_left_out(node_failure_25s):
    ts = node_failure_25s.timeseries()
    w = ts[ts["t"] > 15]
    spec = charts.latency_chart(w, node_failure_25s.events(), domain=(15.0, 25.0)).to_dict()
    rows = records(spec, layer_with_mark(spec, "rule"))
    assert {r["kind"] for r in rows} >= {"restart"} and all(r["t"] >= 15 for r in rows)
    x = layer_with_mark(spec, "line")["encoding"]["x"]
    assert x["scale"]["domain"] == [15.0, 25.0]


def test_theory_reference_line(node_failure_25s):
    spec = charts.hit_ratio_chart(node_failure_25s.timeseries(), theory=0.8125, theory_label="Che (LRU)").to_dict()
    rule = layer_with_mark(spec, "rule")
    assert records(spec, rule) == [{"hit_ratio": 0.8125, "label": "Che (LRU): 81.2%"}]
    assert rule["encoding"]["y"]["field"] == "hit_ratio"


def test_latency_chart_draws_three_percentiles_on_a_log_scale(node_failure_25s):
    ts = node_failure_25s.timeseries()
    spec = charts.latency_chart(ts).to_dict()
    line = layer_with_mark(spec, "line")
    assert "transform" not in line  # prepared in pandas: the browser re-runs transforms on every redraw
    assert line["encoding"]["y"]["scale"]["type"] == "log"
    assert line["encoding"]["color"]["field"] == "series"
    assert line["encoding"]["color"]["scale"]["domain"] == ["p50", "p95", "p99"]
    rows = records(spec, line)
    p99 = [r["ms"] for r in rows if r["series"] == "p99"]
    assert p99 == [v for v in ts["latency_p99_ms"] if v > 0]
    assert all(r["ms"] > 0 for r in rows)


def test_load_chart_derives_db_load_and_failures(node_failure_25s):
    ts = node_failure_25s.timeseries()
    spec = charts.load_chart(ts).to_dict()
    line = layer_with_mark(spec, "line")
    assert line["encoding"]["color"]["scale"]["domain"] == ["throughput", "DB load", "failures"]
    rows = records(spec, line)
    db = [r["rps"] for r in rows if r["series"] == "DB load"]
    assert db == pytest.approx(list((ts["db_reads"] + ts["db_writes"]) / ts["interval_s"]))
    failures = [r["rps"] for r in rows if r["series"] == "failures"]
    assert failures == pytest.approx(list(ts["failed"] / ts["interval_s"]))
    assert max(failures) > 0  # requests to the killed node time out


def test_charts_can_leave_tooltips_out(node_failure_25s):
    frames = charts.hit_ratio_data(node_failure_25s.timeseries(), node_failure_25s.events())
    with_tips = charts.LAYOUTS["hit_ratio"](frames, None).to_dict()
    without = charts.LAYOUTS["hit_ratio"](frames, None, tooltips=False).to_dict()
    assert "tooltip" in with_tips["layer"][0]["encoding"] and "tooltip" not in without["layer"][0]["encoding"]


def test_node_load_marks_the_killed_node_down(node_failure_25s):
    spec = charts.node_load_chart(node_failure_25s.node_timeseries(), node_failure_25s.events()).to_dict()
    serving, off = records(spec, layers(spec)[0]), records(spec, layers(spec)[1])
    assert {c["name"] for c in off} == {"node-2"}
    down = [c["t"] for c in off if c["state"] == "down"]
    assert min(down) == pytest.approx(10.1) and max(down) <= 20.0
    # restarted at t=20, served again once the balancer's health check sees it (0.29 s later)
    assert all(20.0 < c["t"] <= 20.3 for c in off if c["state"] == "unrouted")
    assert {c["state"] for c in serving} <= {"up", "slow"}
    up = [c for c in serving if c["name"] == "node-1"]
    assert len(up) == len(node_failure_25s.timeseries()) and max(c["rps"] for c in up) > 0
    assert layers(spec)[1]["encoding"]["color"]["scale"]["range"][-1] == charts.STATE_COLORS["down"]
    y = layers(spec)[0]["encoding"]["y"]
    assert y["field"] == "name" and y["sort"] == [f"node-{i}" for i in range(1, 7)]


def test_node_load_bounds_the_marks_for_big_clusters():
    t = np.repeat(np.arange(1, 601) * 0.1, 100)
    names = np.tile([f"node-{i}" for i in range(1, 101)], 600)
    node_ts = pd.DataFrame(
        {
            "t": t,
            "name": names,
            "up": True,
            "routed": True,
            "partitioned": False,
            "slow_factor": 1.0,
            "requests": 5,
            "occupancy": 10,
            "capacity": 100,
        }
    )
    frames = charts.node_load_data(node_ts, max_marks=6000)
    cells = frames["cells"]
    assert 0 < len(cells) <= 6000 and cells["name"].nunique() == 100 and frames["off"].empty
    assert (cells["t"] - cells["t0"]).round(6).eq(1.0).all()  # every 10th window kept, cells 10x wider


def test_node_occupancy_chart(node_failure_25s):
    nts = node_failure_25s.node_timeseries()
    latest = nts[nts["t"] == nts["t"].max()]
    spec = charts.node_occupancy_chart(latest).to_dict()
    rows = records(spec, spec)
    assert [r["name"] for r in rows] == [f"node-{i}" for i in range(1, 7)]
    assert all(0 <= r["fill"] <= 1 for r in rows)
    assert spec["encoding"]["x"]["field"] == "fill"


# -- distributions, comparisons, schedules ----------------------------------------------


def test_latency_cdf_reaches_one_with_quantile_rules(node_failure_25s):
    s = node_failure_25s.summary
    spec = charts.latency_cdf_chart(
        node_failure_25s.latency_histogram(), {"p50": s["latency_p50_ms"], "p99": s["latency_p99_ms"]}
    ).to_dict()
    line = layer_with_mark(spec, "line")
    cdf = [r["cdf"] for r in records(spec, line)]
    assert cdf == sorted(cdf) and cdf[-1] == pytest.approx(1.0)
    assert line["encoding"]["x"]["scale"]["type"] == "log"
    rules = records(spec, layer_with_mark(spec, "rule"))
    assert [r["quantile"] for r in rules] == ["p50", "p99"]
    assert rules[0]["ms"] == pytest.approx(s["latency_p50_ms"])


def test_compare_chart_overlays_runs(node_failure_25s):
    other = cachesim.simulate(cachesim.load_scenario("baseline").with_overrides({"duration_s": "6"}))
    frames = {"run-1 · node_failure": node_failure_25s.timeseries(), "run-2 · baseline": other.timeseries()}
    long = charts.compare_frame(frames, "db_load_rps")
    assert list(long["run"].unique()) == list(frames)
    first = other.timeseries().iloc[0]
    got = long[long["run"] == "run-2 · baseline"]["value"].iloc[0]
    assert got == pytest.approx((first["db_reads"] + first["db_writes"]) / first["interval_s"])
    spec = charts.compare_chart(frames, "hit_ratio").to_dict()
    assert spec["encoding"]["color"]["field"] == "run" and spec["encoding"]["color"]["sort"] == list(frames)
    assert len(records(spec, spec)) == len(node_failure_25s.timeseries()) + len(other.timeseries())


def test_chaos_timeline_spans():
    schedule = pd.DataFrame(
        {
            "at_s": [10.0, 12.0, 20.0, 25.0],
            "action": ["kill", "slow", "restart", "partition"],
            "target": ["node-2", "node-1", "node-2", "node-3"],
            "duration_s": [None, 5.0, None, None],
        }
    )
    spec = charts.chaos_timeline_chart(schedule_spans(schedule, 30.0), 30.0).to_dict()
    rows = records(spec, spec)
    spans = [(r["action"], r["at_s"], r["end_s"]) for r in rows]
    assert spans == [
        ("kill", 10.0, 20.0),  # until the restart of node-2
        ("slow", 12.0, 17.0),  # its own duration
        ("restart", 20.0, 20.2),  # an instant (drawn 1/150 of the run wide)
        ("partition", 25.0, 30.0),
    ]  # never healed: to the end
    assert spec["encoding"]["x2"]["field"] == "end_s"


def test_legend_items(node_failure_25s):
    items = charts.legend_items(node_failure_25s.events())
    kinds = [k for k, _, _ in items]
    assert kinds[:2] == ["kill", "restart"] and ("node_down_detected", "#991b1b", True) in items
    assert charts.legend_items(None) == []


# -- cached Vega-Lite specs for live redraws -------------------------------------------


def fresh_build(kind: str, frames: dict, domain: tuple[float, float] | None = None) -> dict:
    """The chart as Altair draws it from scratch (no cached template), without its data."""
    return json.loads(json.dumps(vega.to_vega_lite(charts.LAYOUTS[kind](frames, domain), frames)))


def without_data(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k != "datasets"}


def test_fast_spec_equals_a_fresh_build_for_new_data_and_domains(node_failure_25s):
    ts = charts.window(node_failure_25s.timeseries(), 600)
    frames = charts.hit_ratio_data(ts, node_failure_25s.events(), domain=(0.0, 25.0))
    fast = vega.spec("hit_ratio", frames, domain=(0.0, 25.0))
    assert without_data(fast) == fresh_build("hit_ratio", frames, (0.0, 25.0))
    assert fast["datasets"]["ts"] is frames["ts"] and list(fast["datasets"]) == ["ts", "rules"]
    assert "usermeta" not in fast
    assert fast["layer"][0]["data"] == {"name": "ts"} and fast["layer"][1]["data"] == {"name": "rules"}
    later = charts.hit_ratio_data(ts.iloc[:-5], node_failure_25s.events(), domain=(0.0, 25.0))
    again = vega.spec("hit_ratio", later, domain=(0.0, 30.0))  # the same structure: the live page's next redraw
    assert without_data(again) == fresh_build("hit_ratio", later, (0.0, 30.0))
    assert again["layer"][0]["encoding"]["x"]["scale"]["domain"] == [0.0, 30.0]
    assert len(again["datasets"]["ts"]) == len(ts) - 5


def test_fast_spec_new_structure_when_event_kinds_change(node_failure_25s):
    ts = node_failure_25s.timeseries()
    early = charts.latency_data(ts[ts["t"] < 9], node_failure_25s.events(), domain=(0.0, 9.0))
    full = charts.latency_data(ts, node_failure_25s.events(), domain=(0.0, 25.0))
    before, after = vega.spec("latency", early), vega.spec("latency", full)
    assert len(after["layer"]) == len(before["layer"]) + 1  # the event markers' layer
    assert without_data(before) == fresh_build("latency", early) and without_data(after) == fresh_build("latency", full)
    assert "kill" in after["layer"][-1]["encoding"]["color"]["scale"]["domain"]


def test_fast_spec_arrow_datasets(node_failure_25s):
    frames = charts.load_data(charts.window(node_failure_25s.timeseries(), 600), node_failure_25s.events())
    out = vega.spec("load", frames, arrow=True, canvas=True)
    tbl = out["datasets"]["ts"]
    assert tbl.num_rows == 3 * len(node_failure_25s.timeseries()) and tbl.column_names == ["t", "series", "rps"]
    assert out["usermeta"] == {"embedOptions": {"renderer": "canvas"}}
    assert out["datasets"]["rules"].num_rows == len(frames["rules"])


# -- derived metrics (cachesim.derived: what the charts read, computed nowhere else) ------


def test_window_rates_are_defined_from_counts_and_nan_where_undefined():
    cols = {
        "interval_s": [0.1, 0.1, 0.0],
        "hits": [3, 0, 0],
        "misses": [1, 0, 0],
        "hit_bytes": [30, 0, 0],
        "miss_bytes": [90, 0, 0],
        "completed": [4, 0, 0],
        "failed": [1, 0, 2],
        "db_reads": [1, 0, 0],
        "db_writes": [2, 0, 0],
    }
    r = derived.window_rates(cols)
    assert list(r) == list(derived.WINDOW_RATES)
    np.testing.assert_allclose(r["hit_ratio"], [0.75, np.nan, np.nan])
    np.testing.assert_allclose(r["byte_hit_ratio"], [0.25, np.nan, np.nan])
    np.testing.assert_allclose(r["failure_ratio"], [0.2, np.nan, 1.0])
    np.testing.assert_allclose(r["throughput_rps"], [40.0, 0.0, np.nan])
    np.testing.assert_allclose(r["db_load_rps"], [30.0, 0.0, np.nan])
    np.testing.assert_allclose(r["failures_rps"], [10.0, 0.0, np.nan])
    span = derived.span_rates(
        {k: cols[k][:2] for k in ("interval_s", "hits", "misses", "completed", "db_reads", "db_writes")}
    )
    assert span == {"hit_ratio": 0.75, "throughput_rps": pytest.approx(20.0), "db_load_rps": pytest.approx(15.0)}


def test_timeseries_carries_the_rates_the_charts_draw(node_failure_25s):
    ts = node_failure_25s.timeseries()
    assert list(ts.columns) == list(TIMESERIES_COLUMNS)
    np.testing.assert_allclose(ts["db_load_rps"], (ts["db_reads"] + ts["db_writes"]) / ts["interval_s"])
    np.testing.assert_allclose(ts["failures_rps"], ts["failed"] / ts["interval_s"])
    sim = cachesim.Simulation(node_failure_25s.config)
    for _ in zip(range(3), sim.stream(), strict=False):
        pass
    row = sim.snapshots[2]  # a Snapshot rebuilt from the log: the same rates as the frame row
    assert (row.hit_ratio, row.failure_ratio, row.throughput_rps) == tuple(
        ts.loc[2, ["hit_ratio", "failure_ratio", "throughput_rps"]]
    )


def test_a_run_saved_without_the_rates_gets_them_on_load(node_failure_25s, tmp_path):
    node_failure_25s.save(tmp_path)
    ts = pd.read_csv(tmp_path / "timeseries.csv")
    ts.drop(columns=["db_load_rps", "failures_rps"]).to_csv(tmp_path / "timeseries.csv", index=False)
    back = cachesim.RunResult.load(tmp_path).timeseries()
    pd.testing.assert_frame_equal(back, ts, check_like=True)


def test_undefined_values_become_none_once():
    assert [derived.num(x) for x in (float("nan"), np.float64("nan"), None, np.int64(3), np.bool_(True), 0.5)] == [
        None,
        None,
        None,
        3,
        True,
        0.5,
    ]
    assert type(derived.num(np.int64(3))) is int
    assert derived.ratio(1, 0) is None and derived.ratio(1, 4) == 0.25


def test_config_diff_lists_the_keys_that_differ_in_order():
    base = cachesim.load_scenario("baseline")
    flats = {
        "a": base.flat(),
        "b": base.with_overrides({"cluster.nodes": "8"}).flat(),
        "c": base.with_overrides({"seed": "9", "description": "other words"}).flat(),
    }
    assert derived.config_diff(flats) == [
        ("cluster.nodes", [base.cluster.nodes, 8, base.cluster.nodes]),
        ("seed", [base.seed, base.seed, 9]),
    ]
