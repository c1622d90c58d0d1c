"""The live page's data path: the ring buffers of LiveRun hold exactly the snapshots a
run from scratch has, and one refresh (``build_update``: numpy columns straight to
Arrow) draws exactly what the DataFrame builders draw from the same window."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import cachesim
from cachesim import charts
from cachesim.metrics import N_BUCKETS, NODE_COLUMNS, TIMESERIES_COLUMNS, quantiles_from_counts
from cachesim.narration import narrate_events
from cachesim.ui import vega
from cachesim.ui.live import CHARTS, DISPLAY_POINTS, HEATMAP_CELLS, _log, build_update
from cachesim.ui.runner import KPI_NAMES, LiveRun

# node-2 is killed at t=10 and restarted at t=20; seeded, so every run is the same
CONFIG = cachesim.load_scenario("node_failure").with_overrides({"duration_s": "25"})
SMALL_WINDOW = 40  # 4 simulated s: the window slides and the ring buffer wraps several times


def steps(live: LiveRun):
    """Advance in small ticks to the end, yielding after each one that brought snapshots."""
    while live.status == "running":
        if live.advance(0.01):
            yield


def reference_specs(live: LiveRun) -> list[dict]:
    """The five specs as the page built them before build_update: DataFrames of the
    window, the DataFrame chart builders, Arrow conversion in vega.spec."""
    cfg = live.config
    ts, nodes = live.frames()
    events = live.events_frame()
    shown = charts.downsample(ts, DISPLAY_POINTS)
    domain = charts.live_domain(cfg.duration_s, cfg.snapshot_interval_s, live.window)
    rules = domain or (float(ts["t"].iloc[0]), float(ts["t"].iloc[-1]))
    fast = {"domain": domain, "arrow": True, "canvas": True, "tooltips": False}
    latest = nodes[nodes["t"].to_numpy() == nodes["t"].iloc[-1]]
    return [
        vega.spec("hit_ratio", charts.hit_ratio_data(shown, events, domain=rules), **fast),
        vega.spec("latency", charts.latency_data(shown, events, domain=rules), **fast),
        vega.spec("load", charts.load_data(shown, events, domain=rules), **fast),
        vega.spec("node_load", charts.node_load_data(nodes, events, domain=rules, max_marks=HEATMAP_CELLS), **fast),
        vega.spec("node_occupancy", charts.node_occupancy_data(latest), arrow=True, canvas=True, tooltips=False),
    ]


def window_histograms(config: cachesim.SimConfig) -> list[np.ndarray]:
    """The run's latency histogram (all windows so far) before the first snapshot and
    after each one, from a run of the same config streamed snapshot by snapshot."""
    sim = cachesim.Simulation(config)
    cum = [np.zeros(N_BUCKETS, dtype=np.int64)]
    for _ in sim.stream():
        cum.append(sim.obs.run_counts.copy())
    return cum


def reference_kpis(rows: list[dict], k: int, cum: list[np.ndarray]) -> dict:
    """LiveRun.kpis from row dicts (the last 2k snapshots) and the cumulative latency
    histograms (``cum[n]``: after n snapshots): ratios and rates from summed counts, the
    p99 from the histogram of the k windows (cum[n] - cum[n - k])."""
    n = len(cum) - 1

    def kpi(name: str, rs: list[dict], hist: np.ndarray) -> float | None:
        if not rs:
            return None
        seconds = sum(r["interval_s"] for r in rs)
        if name == "hit_ratio":
            lookups = sum(r["hits"] + r["misses"] for r in rs)
            return sum(r["hits"] for r in rs) / lookups if lookups else None
        if name == "latency_p99_ms":
            (p99,) = quantiles_from_counts(hist, (0.99,))
            return None if math.isnan(p99) else p99
        if name == "throughput_rps":
            return sum(r["completed"] for r in rs) / seconds if seconds else None
        if name == "db_load_rps":
            return sum(r["db_reads"] + r["db_writes"] for r in rs) / seconds if seconds else None
        if name == "stale_reads":
            return float(sum(r["stale_reads"] for r in rs))
        return float(rs[-1]["nodes_up"])

    rows = rows[-2 * k :]
    last, before = cum[n] - cum[max(0, n - k)], cum[max(0, n - k)] - cum[max(0, n - 2 * k)]
    return {name: (kpi(name, rows[-k:], last), kpi(name, rows[-2 * k : -k], before)) for name in KPI_NAMES}


def assert_same_specs(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want) == len(CHARTS)
    for g, w in zip(got, want, strict=True):
        assert {k: v for k, v in g.items() if k != "datasets"} == {k: v for k, v in w.items() if k != "datasets"}
        assert list(g["datasets"]) == list(w["datasets"])
        for name, table in g["datasets"].items():
            assert isinstance(table, pa.Table)
            assert table.schema == w["datasets"][name].schema, name
            assert table.equals(w["datasets"][name]), name


@pytest.mark.slow
def test_ring_buffers_equal_the_run_from_scratch(node_failure_25s):
    assert node_failure_25s.config == CONFIG  # the shared run is this module's config
    ts_all, nodes_all = node_failure_25s.timeseries(), node_failure_25s.node_timeseries()
    cum = window_histograms(CONFIG)
    n_nodes = CONFIG.cluster.nodes
    live = LiveRun(CONFIG, window=SMALL_WINDOW)
    checked = averaged = 0
    for _ in steps(live):
        seen = len(live.sim.snapshots)
        points = min(seen, SMALL_WINDOW)
        assert live.points == points
        ts, nodes = live.frames()
        want_ts = ts_all.iloc[seen - points : seen].reset_index(drop=True).astype(float)
        pd.testing.assert_frame_equal(ts, want_ts, check_exact=True)
        want_nodes = nodes_all.iloc[(seen - points) * n_nodes : seen * n_nodes].reset_index(drop=True)
        want_nodes = want_nodes.astype(
            {c: float for c in NODE_COLUMNS if c not in ("name", "up", "routed", "partitioned")}
        )
        pd.testing.assert_frame_equal(nodes, want_nodes, check_exact=True)
        cols_ts, cols_nodes = live.columns()
        assert list(cols_ts) == list(TIMESERIES_COLUMNS) and list(cols_nodes) == list(NODE_COLUMNS)
        for c in TIMESERIES_COLUMNS:  # the rates a Snapshot lacks, too, made as the result makes them
            np.testing.assert_array_equal(cols_ts[c], want_ts[c].to_numpy())
        rows = want_ts.to_dict("records")
        got, want = live.kpis(), reference_kpis(rows, 10, cum[: seen + 1])
        assert list(got) == list(want)
        for name, pair in want.items():  # sums in another order: equal to the last bits
            assert got[name] == tuple(None if v is None else pytest.approx(v, rel=1e-12) for v in pair), name
        window_p99s = [r["latency_p99_ms"] for r in rows[-10:] if not math.isnan(r["latency_p99_ms"])]
        averaged += got["latency_p99_ms"][0] != pytest.approx(float(np.mean(window_p99s)), rel=1e-9)
        checked += 1
    assert live.status == "finished" and len(live.sim.snapshots) == 250
    assert checked > 10 and len(live.sim.snapshots) > 4 * SMALL_WINDOW  # the buffer wrapped more than once
    assert live.kpis()["nodes_up"] == (6.0, 6.0)
    assert averaged > checked // 2  # the p99 of the last second is not the mean of its windows' p99s


def test_events_and_markers_are_kept_as_they_arrive(node_failure_25s):
    live = LiveRun(CONFIG, window=SMALL_WINDOW)
    for _ in steps(live):
        pass
    events = node_failure_25s.events()
    pd.testing.assert_frame_equal(live.events_frame(), events)
    marks = live.marker_columns()
    want = events[events["kind"].isin(charts.MARKER_KINDS)]
    assert list(marks["kind"]) == list(want["kind"]) and {"kill", "restart"} <= set(marks["kind"])
    np.testing.assert_array_equal(marks["t"], want["t"].to_numpy())
    assert live.event_kinds() == set(events["kind"])


def test_the_live_run_keeps_one_bounded_event_log_and_one_status():
    """The live page reads the simulation's own event log (bounded) and status: no second list."""
    cfg = cachesim.load_scenario("baseline").with_overrides(
        {"duration_s": 10, "chaos.random_slow_per_min": 600, "chaos.random_slow_duration_s": 0.05}
    )
    live = LiveRun(cfg, window=SMALL_WINDOW, max_events=50)
    assert live.status == "running" and live.sim.status == "ready"  # before the first snapshot
    for _ in steps(live):
        assert live.status == live.sim.status
        assert len(live.events_frame()) <= 50 and len(live.recent_events(1000)) <= 50
    full = cachesim.Simulation(cfg).run().events()  # the same run, every event kept
    total = live.sim.events.total
    assert total == len(full) > 100 and live.event_end == total
    kept = live.events_frame()
    pd.testing.assert_frame_equal(kept, full.iloc[total - 50 :].reset_index(drop=True))
    assert live.event_at(live.event_start - 1) is None and live.event_at(total) is None
    told = live.recent_events(3)
    assert [e.t for e, _ in told] == list(full["t"].iloc[-3:])
    assert [text for _, text in told] == [narrate_events(full.itertuples(), cfg)[i] for i in range(total - 3, total)]
    assert "run finished" in _log(live).split("  \n")[1]  # newest first, after the "run finished" line
    live = LiveRun(cfg, window=SMALL_WINDOW)
    live.stop()
    assert (live.status, live.sim.status, live.advance(0.05)) == ("stopped", "stopped", 0)
    live.resume()
    assert live.status == "running" and live.advance(0.05) > 0


@pytest.mark.slow
@pytest.mark.parametrize("window", [SMALL_WINDOW, 600], ids=["sliding", "fixed-axis"])
def test_build_update_draws_what_the_dataframe_builders_draw(window):
    live = LiveRun(CONFIG, window=window)
    assert build_update(live).specs == []  # nothing before the first snapshot
    checked = 0
    for _ in steps(live):
        up = build_update(live)
        assert_same_specs(up.specs, reference_specs(live))
        assert up.kpis == live.kpis() and up.log == _log(live)
        assert up.legend == tuple(k for k, _, _ in charts.legend_items(live.events_frame()))
        checked += 1
    assert checked > 10
    up = build_update(live)
    assert up.legend[:2] == ("kill", "restart")
    domain = up.specs[0]["layer"][0]["encoding"]["x"]["scale"].get("domain")
    assert domain == ([0.0, 25.0] if window == 600 else None)
    rules = up.specs[0]["datasets"]["rules"]
    if window == SMALL_WINDOW:  # only the events inside the last 4 s
        assert all(t >= 21.0 for t in rules.column("t").to_pylist())
    else:
        assert "kill" in rules.column("kind").to_pylist()
    assert up.specs[3]["datasets"]["rules"] is rules  # one table, shared by the charts


def test_build_update_times_each_chart():
    live = LiveRun(CONFIG, window=SMALL_WINDOW)
    next(steps(live))
    times: dict[str, float] = {}
    build_update(live, times)
    assert list(times) == ["shared", *CHARTS] and all(v >= 0 for v in times.values())


def test_spec_from_arrow_tables_equals_spec_from_dataframes(node_failure_25s):
    ts = charts.window(node_failure_25s.timeseries(), 600)
    frames = charts.load_data(ts, node_failure_25s.events(), domain=(0.0, 25.0))
    from_df = vega.spec("load", frames, domain=(0.0, 25.0), arrow=True)
    tables = {
        "ts": vega.table(charts.load_columns(ts)),
        "rules": vega.table(charts.marker_columns(node_failure_25s.events(), (0.0, 25.0))),
    }
    from_tables = vega.spec("load", tables, domain=(0.0, 25.0), arrow=True)
    fresh = vega.to_vega_lite(charts.LAYOUTS["load"](frames, (0.0, 25.0)), frames)  # Altair, from scratch
    assert {k: v for k, v in from_df.items() if k != "datasets"} == json.loads(json.dumps(fresh))
    assert {k: v for k, v in from_tables.items() if k != "datasets"} == json.loads(json.dumps(fresh))
    for name in ("ts", "rules"):
        assert from_tables["datasets"][name].equals(from_df["datasets"][name])


def test_node_load_on_rows_in_any_order(node_failure_25s):
    """Rows not ordered by time take the general path (the k-th distinct time in order
    of appearance), as the builder always did."""
    nts = node_failure_25s.node_timeseries().sample(frac=1.0, random_state=7).reset_index(drop=True)
    got = charts.node_load_data(nts, max_marks=600)
    times = nts["t"].unique()
    step = int(np.ceil(len(times) * nts["name"].nunique() / 600))
    df = nts[nts["t"].isin(times[::step])]
    state = charts.node_state(df)
    cells = pd.DataFrame(
        {
            "t": df["t"].to_numpy(),
            "t0": df["t"].to_numpy() - float(times[1] - times[0]) * step,
            "name": df["name"].to_numpy(),
            "state": state,
            "rps": df["requests"].to_numpy() / float(times[1] - times[0]),
            "fill": df["occupancy"].to_numpy() / df["capacity"].to_numpy(),
        }
    )
    serving = np.isin(state, ["up", "slow"])
    pd.testing.assert_frame_equal(got["cells"], cells[serving].reset_index(drop=True), check_exact=True)
    pd.testing.assert_frame_equal(got["off"], cells[~serving].reset_index(drop=True), check_exact=True)
    assert step > 1 and len(got["off"]) > 0
