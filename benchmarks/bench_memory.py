"""Peak memory of long runs: RSS for 1M and 10M simulated requests.

Each run happens in a fresh child process that reports its peak RSS (ru_maxrss), and
its RSS just after importing cachesim, so the figure is the run's own growth plus
the interpreter. Memory must stay flat in the number of requests: latencies live in a
fixed histogram, events in a bounded log; only snapshots accumulate.

    python benchmarks/bench_memory.py [--sizes 1000000,10000000] [--rate 20000]
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
n, rate = int(sys.argv[1]), float(sys.argv[2])
cfg = cachesim.load_scenario("baseline").with_overrides({
    "cluster.nodes": 8, "workload.rate_rps": rate, "duration_s": n / rate,
    "warmup_s": 0, "snapshot_interval_s": 0.1,
})
t = time.perf_counter()
res = cachesim.Simulation(cfg).run()
el = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"requests": res.summary["issued"], "seconds": el, "snapshots": len(res.timeseries()),
                  "import_rss_mb": base / 1024, "peak_rss_mb": peak / 1024}))
"""


def measure(n: int, rate: float) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(rate)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--rate", type=float, default=20_000.0, help="offered load, req/s")
    args = ap.parse_args()
    rows = [measure(int(s), args.rate) for s in args.sizes.split(",")]
    print(f"{'requests':>12} {'snapshots':>10} {'wall s':>8} {'req/s':>9} {'after import MB':>16} {'peak RSS MB':>12}")
    for r in rows:
        print(f"{r['requests']:>12,} {r['snapshots']:>10,} {r['seconds']:>8.1f} {r['requests'] / r['seconds']:>9,.0f} "
              f"{r['import_rss_mb']:>16.1f} {r['peak_rss_mb']:>12.1f}")
    if len(rows) > 1:
        print(f"peak RSS ratio, largest / smallest: {rows[-1]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.2f}x")


if __name__ == "__main__":
    main()
