"""Engine throughput: simulated requests per wall second.

Runs the standard scenario (8 nodes, Zipf 0.9, 5% writes, 1 ms network hops with
jitter, LRU, consistent hashing, ~500,000 requests) through the full engine, and, in
the same process, a bare simpy model of the same hops (client -> node -> database on a
miss -> back, with node and database resources and a client timeout per request, but
no cache logic and no metrics), with the full engine's miss and write ratios.

    python benchmarks/bench_engine.py [--requests 500000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import simpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import cachesim  # noqa: E402


def standard_config(requests: int, scenario: str = "baseline") -> cachesim.SimConfig:
    """The standard scenario: ``scenario`` on 8 nodes at 2,000 req/s for ``requests``
    requests, a snapshot every 0.1 s, no warm-up."""
    rate = 2000.0
    return cachesim.load_scenario(scenario).with_overrides(
        {
            "cluster.nodes": 8,
            "duration_s": requests / rate,
            "warmup_s": 0,
            "snapshot_interval_s": 0.1,
            "workload.rate_rps": rate,
        }
    )


def run_engine(cfg: cachesim.SimConfig) -> tuple[float, dict]:
    t0 = time.perf_counter()
    res = cachesim.simulate(cfg)
    return time.perf_counter() - t0, res.summary


def run_bare(cfg: cachesim.SimConfig, n: int, miss_ratio: float) -> float:
    """The same hops with plain simpy processes, resources and timeouts."""
    env = simpy.Environment()
    c, d, net, w = cfg.cluster, cfg.database, cfg.network, cfg.workload
    nodes = [simpy.Resource(env, capacity=c.concurrency) for _ in range(c.nodes)]
    db = simpy.Resource(env, capacity=d.concurrency)
    rng = np.random.default_rng(cfg.seed)
    gaps = (rng.standard_exponential(n) / w.rate_rps).tolist()
    hops = np.maximum(0.0, net.latency_ms / 1e3 + net.jitter_ms / 1e3 * rng.standard_normal(4 * n)).tolist()
    svc = (rng.standard_exponential(n) * c.service_time_ms / 1e3).tolist()
    dbs = (rng.standard_exponential(n) * d.service_time_ms / 1e3).tolist()
    u = rng.random(n)
    writes = (u < w.write_ratio).tolist()
    misses = (rng.random(n) < miss_ratio).tolist()
    target = rng.integers(0, c.nodes, n).tolist()
    timeout = cfg.client.timeout_ms / 1e3

    def db_call(i):
        yield env.timeout(hops[4 * i + 1])
        with db.request() as r:
            yield r
            yield env.timeout(dbs[i])
        yield env.timeout(hops[4 * i + 2])

    def request(i):
        yield env.timeout(hops[4 * i])
        if writes[i]:
            yield env.process(db_call(i))
        else:
            with nodes[target[i]].request() as r:
                yield r
                yield env.timeout(svc[i])
            if misses[i]:
                yield env.process(db_call(i))
        yield env.timeout(hops[4 * i + 3])

    def client(i):
        done = env.process(request(i))
        yield done | env.timeout(timeout)

    def source():
        for i in range(n):
            yield env.timeout(gaps[i])
            env.process(client(i))

    env.process(source())
    t0 = time.perf_counter()
    env.run()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cfg = standard_config(args.requests)
    engine_best = bare_best = float("inf")
    summary: dict = {}
    for _ in range(args.repeat):
        el, summary = run_engine(cfg)
        engine_best = min(engine_best, el)
    reads = summary["hits"] + summary["misses"]
    miss_ratio = summary["misses"] / reads
    n = summary["issued"]
    for _ in range(args.repeat):
        bare_best = min(bare_best, run_bare(cfg, n, miss_ratio))
    e_rate, b_rate = n / engine_best, n / bare_best
    print(f"requests                 {n:>12,}")
    print(f"miss ratio (both models) {miss_ratio:>12.3f}")
    print(f"full engine              {e_rate:>12,.0f} req/s   ({engine_best:.2f} s, best of {args.repeat})")
    print(f"bare simpy model         {b_rate:>12,.0f} req/s   ({bare_best:.2f} s, best of {args.repeat})")
    print(f"engine / bare            {e_rate / b_rate:>12.2f} x")


if __name__ == "__main__":
    main()
