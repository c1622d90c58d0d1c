"""Live overhead: the standard scenario streamed the way the Live page streams it,
through the chart builders, against the same run headless (no browser involved).

The live path: ``LiveRun.advance`` simulates for a wall-time tick, then every chart of
the page is rebuilt from the 600-snapshot window (Altair builders -> Vega-Lite specs
with Arrow data, exactly the calls the page makes). Also: the time to build one chart
update (all five charts) at a full 600-point window.

    python benchmarks/bench_live.py [--requests 500000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cachesim  # noqa: E402
from cachesim import charts  # noqa: E402
from cachesim.ui import vega  # noqa: E402
from cachesim.ui.live import DISPLAY_POINTS, HEATMAP_CELLS  # noqa: E402
from cachesim.ui.runner import TICK_BUDGET_S, LiveRun  # noqa: E402


def standard_config(requests: int) -> cachesim.SimConfig:
    rate = 2000.0
    return cachesim.load_scenario("node_failure").with_overrides({
        "cluster.nodes": 8, "duration_s": requests / rate, "warmup_s": 0,
        "snapshot_interval_s": 0.1, "workload.rate_rps": rate,
    })


def build_update(live: LiveRun) -> list[dict]:
    """Every chart of one Live-page refresh (the calls of cachesim.ui.live._fill)."""
    cfg = live.config
    ts, nodes = live.frames()
    events = live.events_frame()
    shown = charts.downsample(ts, DISPLAY_POINTS)
    domain = charts.live_domain(cfg.duration_s, cfg.snapshot_interval_s, live.window)
    rules = domain or (float(ts["t"].iloc[0]), float(ts["t"].iloc[-1]))
    fast = {"domain": domain, "arrow": True, "canvas": True, "tooltips": False}
    latest = nodes[nodes["t"].to_numpy() == nodes["t"].iloc[-1]]
    live.kpis()
    return [
        vega.spec("hit_ratio", charts.hit_ratio_data(shown, events, domain=rules), **fast),
        vega.spec("latency", charts.latency_data(shown, events, domain=rules), **fast),
        vega.spec("load", charts.load_data(shown, events, domain=rules), **fast),
        vega.spec("node_load", charts.node_load_data(nodes, events, domain=rules, max_marks=HEATMAP_CELLS), **fast),
        vega.spec("node_occupancy", charts.node_occupancy_data(latest), arrow=True, canvas=True, tooltips=False),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500_000)
    args = ap.parse_args()
    cfg = standard_config(args.requests)

    t0 = time.perf_counter()
    cachesim.simulate(cfg)
    headless = time.perf_counter() - t0

    live = LiveRun(cfg)
    updates = 0
    t0 = time.perf_counter()
    while live.status == "running":
        live.advance(TICK_BUDGET_S)
        if live.rows:
            build_update(live)
            updates += 1
    streamed = time.perf_counter() - t0

    one = []
    for _ in range(30):
        live._frames = None  # noqa: SLF001 -- a refresh after new snapshots rebuilds the frames too
        t = time.perf_counter()
        build_update(live)
        one.append(time.perf_counter() - t)

    print(f"snapshots                         {len(live.sim.snapshots):>10,}")
    print(f"headless run                      {headless:>10.2f} s")
    print(f"streamed with chart updates       {streamed:>10.2f} s   ({updates} updates, "
          f"{updates / streamed:.1f} per wall second)")
    print(f"live / headless                   {streamed / headless:>10.2f} x")
    print(f"one update, 600-point window      {statistics.median(one) * 1e3:>10.1f} ms median "
          f"(min {min(one) * 1e3:.1f}, 5 charts)")


if __name__ == "__main__":
    main()
