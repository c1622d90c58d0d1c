"""Peak memory of long runs, large clusters and large key spaces.

Each case runs in a fresh child process that reports its peak RSS (ru_maxrss) and its
RSS just after importing cachesim, so the figure is the run's own growth plus the
interpreter. Memory must stay flat in the number of requests (latencies live in a
fixed histogram, events in a bounded log, snapshots as compact columns), grow only
mildly with the cluster (29 bytes per node per snapshot) and not at all with the key
space (the Zipf sampler needs no table of probabilities).

    python benchmarks/bench_memory.py            # all cases (about 2 x 10M requests: many minutes)
    python benchmarks/bench_memory.py --quick    # 1e5 vs 1e6 requests only

Cases: 1e5 and 1e7 requests at 2,000 req/s on 8 nodes (the ratio is the figure);
1e6 requests at 256 nodes; set-up time and memory of 1e7 keys against 1e4.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
import cachesim
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n, rate, nodes, keys = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
setup_only = sys.argv[5] == "1"
cfg = cachesim.load_scenario("baseline").with_overrides({
    "cluster.nodes": nodes, "workload.rate_rps": rate, "duration_s": n / rate,
    "warmup_s": 0, "snapshot_interval_s": 0.1, "workload.keys": keys,
})
t = time.perf_counter()
sim = cachesim.Simulation(cfg)
setup = time.perf_counter() - t
if setup_only:
    sim.env.advance(0.001)  # the first requests drawn
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"requests": 0, "seconds": 0, "snapshots": 0, "setup_s": setup,
                      "import_rss_mb": base / 1024, "peak_rss_mb": peak / 1024}))
    raise SystemExit
res = sim.run()
el = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"requests": res.summary["issued"], "seconds": el, "snapshots": len(res.timeseries()),
                  "setup_s": setup, "import_rss_mb": base / 1024, "peak_rss_mb": peak / 1024}))
"""


def measure(n: int, rate: float, nodes: int = 8, keys: int = 10_000, setup_only: bool = False) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(rate), str(nodes), str(keys), "1" if setup_only else "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def show(label: str, r: dict) -> None:
    rate = r["requests"] / r["seconds"] if r["seconds"] else 0
    print(
        f"{label:<34} {r['requests']:>11,} {r['snapshots']:>9,} {r['seconds']:>7.1f} {rate:>8,.0f} "
        f"{r['setup_s']:>8.3f} {r['import_rss_mb']:>8.1f} {r['peak_rss_mb']:>9.1f}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1e5 and 1e6 requests only")
    args = ap.parse_args()
    print(
        f"{'case':<34} {'requests':>11} {'snaps':>9} {'wall s':>7} {'req/s':>8} {'setup s':>8} "
        f"{'import':>8} {'peak MB':>9}"
    )
    small = measure(100_000, 2000.0)
    show("1e5 requests, 8 nodes", small)
    big = measure(1_000_000 if args.quick else 10_000_000, 2000.0)
    show(f"{big['requests']:.0e} requests, 8 nodes", big)
    print(f"  peak RSS ratio, long / short run: {big['peak_rss_mb'] / small['peak_rss_mb']:.2f}x")
    if args.quick:
        return
    show("1e6 requests, 256 nodes", measure(1_000_000, 2000.0, nodes=256))
    k4 = measure(2000, 2000.0, keys=10_000, setup_only=True)
    k7 = measure(2000, 2000.0, keys=10_000_000, setup_only=True)
    show("set-up, 1e4 keys", k4)
    show("set-up, 1e7 keys", k7)
    print(
        f"  1e7 keys add {k7['peak_rss_mb'] - k4['peak_rss_mb']:.1f} MB and "
        f"{k7['setup_s'] - k4['setup_s']:.3f} s of set-up"
    )


if __name__ == "__main__":
    main()
