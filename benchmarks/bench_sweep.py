"""Sweeps: executors against serial on 16 baseline runs, and the parent's memory
over 1,000 small runs.

1. Speed-up: the ``baseline`` scenario, one point x 16 replications, run serially,
   on local processes (``ProcessExecutor(2)``, pool start included) and on a Dask
   ``LocalCluster(n_workers=2)`` (one thread per worker process; the cluster's start is
   timed on its own and left out of the ratio). Each executor's table must equal the
   serial one. ``--repeat N`` alternates the three N times and reports the median time
   of each, and ratios of medians, so load that comes and goes on a shared host hits all
   of them alike. Targets: processes >= 1.7x serial, Dask >= 1.6x on 2 cores. On a busy
   host the wall ratios mean little; the CPU seconds of the pools' workers against the
   serial run's give the overhead, whatever the load (2 x serial / workers' CPU bounds the
   speed-up on 2 idle cores).
2. Memory: 1,000 small runs (0.2 simulated s at 200 req/s) on local processes; the
   parent's resident set (``/proc/self/statm``) after 100 and after 1,000 runs.
   Target: under 1.2x.

    python benchmarks/bench_sweep.py [--repeat 1] [--runs 16] [--memory-runs 1000] [--no-dask]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cachesim  # noqa: E402
from cachesim.executors import DaskExecutor, ProcessExecutor, SerialExecutor  # noqa: E402
from cachesim.sweeps import plan_sweep, run_sweep  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


CPU: dict[str, list[float]] = {}


def cpu_s() -> float:
    """CPU seconds of this process and of its children that have ended (a pool's workers
    are joined when it closes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(plan, make, name: str):
    t, c = time.perf_counter(), cpu_s()
    with make() as ex:
        res = run_sweep(plan, ex)
    CPU.setdefault(name, []).append(cpu_s() - c)
    return time.perf_counter() - t, res.table


def speedup(runs: int, repeat: int, dask: bool) -> None:
    plan = plan_sweep(cachesim.load_scenario("baseline"), {"cluster.nodes": [4]}, runs)
    print(
        f"{runs} runs of the baseline scenario ({plan.requests(1):,.0f} requests each), {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f} at the start"
    )
    times: dict[str, list[float]] = {"serial": [], "processes": [], "forkserver": [], "dask": []}
    starts: list[float] = []
    cluster = None
    if dask:
        t = time.perf_counter()
        cluster = DaskExecutor("local", n_workers=2, processes=True)
        starts.append(time.perf_counter() - t)
    try:
        reference = None
        for _ in range(repeat):
            el, table = timed(plan, SerialExecutor, "serial")
            times["serial"].append(el)
            reference = table if reference is None else reference
            el, table = timed(plan, lambda: ProcessExecutor(2, start_method="fork"), "processes")  # the CLI's
            times["processes"].append(el)
            pd.testing.assert_frame_equal(reference, table)
            el, table = timed(plan, lambda: ProcessExecutor(2, start_method="forkserver"), "forkserver")  # the app's
            times["forkserver"].append(el)
            pd.testing.assert_frame_equal(reference, table)
            if cluster is not None:
                t = time.perf_counter()
                res = run_sweep(plan, cluster)
                times["dask"].append(time.perf_counter() - t)
                pd.testing.assert_frame_equal(reference, res.table)
    finally:
        if cluster is not None:
            cluster.close()
    med = {k: statistics.median(v) for k, v in times.items() if v}
    for name, values in times.items():
        if values:
            runs_text = ", ".join(f"{v:.2f}" for v in values)
            ratio = med["serial"] / med[name]
            print(f"  {name:<10} {med[name]:6.2f} s (median of {runs_text})  {ratio:.2f}x serial")
    if starts:
        print(f"  dask LocalCluster(n_workers=2) start: {starts[0]:.2f} s (not in the ratio)")
    serial_cpu = statistics.median(CPU["serial"])
    for name in ("processes",):  # a fork server's workers are its children, not ours
        c = statistics.median(CPU[name])
        print(
            f"  CPU seconds, {name}: {c:.2f} against {serial_cpu:.2f} serial ({c / serial_cpu:.2f}x): "
            f"on 2 idle cores at most {2 * serial_cpu / c:.2f}x serial"
        )
    print("  every executor's table equals the serial one")


def memory(n: int) -> None:
    cfg = cachesim.load_scenario("baseline").with_overrides(
        {"duration_s": 0.2, "warmup_s": 0, "snapshot_interval_s": 0.1, "workload.rate_rps": 200}
    )
    plan = plan_sweep(cfg, {"cluster.nodes": [2]}, n)
    marks: dict[int, float] = {}

    def progress(p) -> None:
        if p.done in (100, n):
            marks[p.done] = rss_mb()

    before = rss_mb()
    t = time.perf_counter()
    with ProcessExecutor(2, start_method="fork") as ex:
        res = run_sweep(plan, ex, progress=progress)
    el = time.perf_counter() - t
    assert len(res.table) == n, res.failures[:3]
    print(
        f"{n} small runs on 2 processes in {el:.1f} s: parent RSS {before:.1f} MB before, {marks[100]:.1f} MB "
        f"after 100 runs, {marks[n]:.1f} MB after {n} ({marks[n] / marks[100]:.3f}x)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--memory-runs", type=int, default=1000)
    ap.add_argument("--no-dask", action="store_true", help="skip Dask (it needs dask[distributed])")
    args = ap.parse_args()
    dask = not args.no_dask
    if dask:
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            print("dask[distributed] is not installed: skipping the Dask figures (pip install -r requirements-dev.txt)")
            dask = False
    speedup(args.runs, args.repeat, dask)
    if args.memory_runs:
        memory(args.memory_runs)


if __name__ == "__main__":
    main()
