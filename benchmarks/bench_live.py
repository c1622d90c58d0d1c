"""Live overhead: the standard scenario streamed the way the Live page streams it,
through the chart builders, against the same run headless (no browser involved).

The live path: ``LiveRun.advance`` simulates for a wall-time tick, then
``cachesim.ui.live.build_update`` computes everything the page draws on a refresh
(KPIs, marker legend, log, and the five charts as Vega-Lite specs with Arrow data
from the 600-snapshot window): the very call the page makes, minus Streamlit itself.
The ratio is measured three ways: two separate runs (wall time, and this process's
CPU time), and the two loops advanced turn by turn (see :func:`interleaved`), which
is the one to trust on a machine with other load. Also: the time of one such update
at a full 600-point window, split into the part the charts share (window columns,
KPIs, log, downsampled lines, rules) and each chart, and the same measured inside the
streamed run(s) once the window is full.

    python benchmarks/bench_live.py [--requests 500000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cachesim  # noqa: E402
from cachesim.engine import Simulation  # noqa: E402
from cachesim.ui import vega  # noqa: E402
from cachesim.ui.live import CHARTS, Update, build_update  # noqa: E402
from cachesim.ui.runner import TICK_BUDGET_S, LiveRun  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine  # noqa: E402


def standard_config(requests: int) -> cachesim.SimConfig:
    """bench_engine's standard scenario, with node_failure's chaos (its markers and
    rules are part of what the charts draw)."""
    return bench_engine.standard_config(requests, scenario="node_failure")


def refresh(live: LiveRun, times: dict[str, float] | None = None) -> Update:
    """What one Live-page refresh computes (cachesim.ui.live._fill calls the same)."""
    return build_update(live, times)


def ms(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1e3:>10.2f} ms median (min {min(xs) * 1e3:.2f})"


def stream(cfg: cachesim.SimConfig, in_run: list[float]) -> tuple[LiveRun, float, float, int]:
    """The Live page's loop: simulate a tick, refresh, again. Returns the run, its wall
    and CPU seconds and the number of refreshes; ``in_run`` gets each refresh's seconds
    once the window is full."""
    vega._TEMPLATES.clear()  # noqa: SLF001 -- every live run starts cold, like the first one of an app process
    live = LiveRun(cfg)
    updates = 0
    c0, t0 = time.process_time(), time.perf_counter()
    while live.status == "running":
        live.advance(TICK_BUDGET_S)
        if live.points:
            t = time.perf_counter()
            refresh(live)
            if live.points == live.window:
                in_run.append(time.perf_counter() - t)
            updates += 1
    return live, time.perf_counter() - t0, time.process_time() - c0, updates


def interleaved(cfg: cachesim.SimConfig) -> tuple[float, float]:
    """The live loop and a headless run of the same config advanced turn by turn: after
    each tick and refresh, the headless run steps through as many snapshots. Load from
    other processes then hits both alike (two separate runs can meet different load).
    Returns (live seconds, headless seconds), neither building the final RunResult."""
    vega._TEMPLATES.clear()  # noqa: SLF001
    live, sim = LiveRun(cfg), Simulation(cfg)
    steps = sim.stream()
    t_live = t_headless = 0.0
    while live.status == "running":
        t = time.perf_counter()
        n = live.advance(TICK_BUDGET_S)
        if live.points:
            refresh(live)
        t_live += time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(n):
            next(steps)
        t_headless += time.perf_counter() - t
    assert len(sim.snapshots) == len(live.sim.snapshots)
    return t_live, t_headless


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500_000)
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="alternate headless and streamed runs this many times; the ratio compares the fastest "
        "of each (other load on the machine only ever slows a run down)",
    )
    args = ap.parse_args()
    cfg = standard_config(args.requests)

    headless, streamed, cpu, turns, in_run = [], [], [], [], []
    for _ in range(args.repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        cachesim.simulate(cfg)
        headless.append(time.perf_counter() - t0)
        cpu_headless = time.process_time() - c0
        live, seconds, cpu_streamed, updates = stream(cfg, in_run)
        streamed.append((seconds, updates))
        cpu.append(cpu_streamed / cpu_headless)
        t_live, t_headless = interleaved(cfg)
        turns.append(t_live / t_headless)

    # the cost of filling the ring buffers, apart: the same snapshots into a fresh LiveRun
    again = LiveRun(cfg)
    t0 = time.perf_counter()
    for snap in live.sim.snapshots:
        again._ingest(snap)  # noqa: SLF001
    ingest = time.perf_counter() - t0

    whole: list[float] = []
    parts: dict[str, list[float]] = {}
    for _ in range(50):
        live._columns = None  # noqa: SLF001 -- as after new snapshots (the window is re-sliced)
        times: dict[str, float] = {}
        t = time.perf_counter()
        refresh(live, times)
        whole.append(time.perf_counter() - t)
        for k, v in times.items():
            parts.setdefault(k, []).append(v)

    best, (best_s, best_n) = min(headless), min(streamed)
    runs = "" if args.repeat == 1 else f"   (fastest of {args.repeat}: " + ", ".join(f"{h:.2f}" for h in headless) + ")"
    print(f"snapshots                         {len(live.sim.snapshots):>10,}")
    print(f"headless run                      {best:>10.2f} s{runs}")
    print(
        f"streamed with chart updates       {best_s:>10.2f} s   ({best_n} updates, "
        f"{best_n / best_s:.1f} per wall second)"
    )
    print(f"  of which filling the buffers    {ingest:>10.2f} s   ({len(live.sim.snapshots):,} snapshots)")
    pairs = (
        ""
        if args.repeat == 1
        else "   (run by run: " + ", ".join(f"{s / h:.2f}" for h, (s, _) in zip(headless, streamed, strict=True)) + ")"
    )
    print(f"live / headless                   {best_s / best:>10.2f} x{pairs}")
    print(f"  in CPU time of this process     {min(cpu):>10.2f} x   (run by run: {', '.join(f'{c:.2f}' for c in cpu)})")
    print(
        f"  interleaved, turn by turn       {statistics.median(turns):>10.2f} x   (median; run by run: "
        f"{', '.join(f'{c:.2f}' for c in turns)})"
    )
    print(f"one update, 600-point window      {ms(whole)}  (5 charts, KPIs, legend, log)")
    print(f"  shared by the charts            {ms(parts['shared'])}  (window, KPIs, log, lines, rules)")
    for kind in CHARTS:
        print(f"  {kind:<31} {ms(parts[kind])}")
    if in_run:
        print(f"updates during the runs, full window {ms(in_run)[3:]}  ({len(in_run)} updates)")


if __name__ == "__main__":
    main()
