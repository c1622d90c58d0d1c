"""Memory given back after runs are dropped: the server's case, in one process.

Three "sessions" (threads) each run and keep a large run (results built, node
timeseries and event log included), as the live page does; then the runs are dropped,
as when Streamlit frees closed sessions. Prints the RSS idle, with the runs held,
after ``gc.collect()`` alone, and after ``cachesim.ui.memory.release()`` (gc +
glibc ``malloc_trim``), each as a ratio to idle.

    python benchmarks/bench_release.py               # 3 runs of 300 s at 1,000 req/s on 10 nodes
    python benchmarks/bench_release.py --duration 1000
"""

from __future__ import annotations

import argparse
import gc
import sys
import threading
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cachesim  # noqa: E402
from cachesim.config import SimConfig  # noqa: E402
from cachesim.ui.memory import release  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=300.0, help="simulated seconds per run")
    ap.add_argument("--sessions", type=int, default=3)
    args = ap.parse_args()
    proc = psutil.Process()

    def rss() -> float:
        return proc.memory_info().rss / 1e6

    cachesim.simulate(SimConfig(duration_s=1, seed=1))  # imports and first-run caches
    gc.collect()
    idle = rss()
    cfg = cachesim.load_scenario("baseline").with_overrides(
        {"duration_s": args.duration, "workload.rate_rps": 1000, "cluster.nodes": 10, "warmup_s": 0}
    )
    held: list = []

    def session() -> None:
        r = cachesim.simulate(cfg)
        r.node_timeseries(), r.events()  # what the Analysis page builds
        held.append(r)

    threads = [threading.Thread(target=session) for _ in range(args.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    peak = rss()
    held.clear()
    gc.collect()
    after_gc = rss()
    release()
    after_release = rss()
    print(f"{args.sessions} runs of {args.duration:g} s at 1,000 req/s on 10 nodes, one thread each")
    for label, v in (
        ("idle", idle),
        ("runs held", peak),
        ("dropped, gc only", after_gc),
        ("dropped, release()", after_release),
    ):
        print(f"  {label:<20} {v:8.1f} MB  {v / idle:5.2f}x idle")


if __name__ == "__main__":
    main()
