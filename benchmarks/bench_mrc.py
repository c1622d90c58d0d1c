"""Miss-ratio curve speed and memory: exact LRU (stack distances), SHARDS, and the
memory of each against the distinct (sampled) objects.

    python benchmarks/bench_mrc.py [--requests 1000000] [--repeat 3]

Traces are generated (seeded) by ``cachesim.samples.generate``: Zipf(0.8) popularity
with 20% short-range repeats and 10% one-hit wonders. Prints, best of ``--repeat``:

- the exact LRU curve (count-based, 40 sizes; byte-based, 20 sizes above the largest
  object) in requests per second, with ``np.sort`` of the keys as a same-run yardstick;
- the SHARDS curve at 1% (hashing included) in requests per second and its mean
  absolute error against the exact curve at 50 evenly spaced sizes;
- peak traced memory (tracemalloc, numpy included) of the exact curve for traces that
  differ only in length or only in distinct objects, and of the SHARDS curve, per
  distinct (sampled) object: memory follows the distinct objects, not the requests.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from cachesim.mrc import lru_curve, shards_curve, shards_sample  # noqa: E402
from cachesim.samples import SampleSpec, generate  # noqa: E402
from cachesim.traces import Trace  # noqa: E402


def trace_of(requests: int, objects: int, seed: int = 7, one_hit: float = 0.1) -> Trace:
    return generate(
        SampleSpec(
            seed=seed, requests=requests, objects=objects, alpha=0.8, p_recent=0.2, recent_depth=500, one_hit=one_hit
        )
    )


def best_of(repeat: int, fn: object) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_mb(fn: object) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()  # type: ignore[operator]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.requests
    trace = trace_of(n, 200_000)
    u = trace.n_objects
    print(f"trace: {n:,} requests, {u:,} distinct objects")

    sort_s, _ = best_of(args.repeat, lambda: np.sort(trace.keys))
    count_sizes = np.unique(np.geomspace(1, u, 40).astype(np.int64))
    exact_s, _ = best_of(args.repeat, lambda: lru_curve(trace, count_sizes))
    print(
        f"exact LRU curve, objects, {len(count_sizes)} sizes: {n / exact_s:,.0f} req/s "
        f"({exact_s:.2f} s; np.sort of the keys: {sort_s * 1e3:.0f} ms, ratio {exact_s / sort_s:.0f}x)"
    )
    first = np.unique(trace.keys, return_index=True)[1]
    total = int(trace.sizes[first].sum())
    byte_sizes = np.linspace(max(total // 50, int(trace.sizes.max())), total, 20).astype(np.int64)
    bytes_s, _ = best_of(args.repeat, lambda: lru_curve(trace, byte_sizes, use_bytes=True))
    print(
        f"exact LRU curve, bytes, 20 sizes >= the largest object: {n / bytes_s:,.0f} req/s "
        f"({bytes_s:.2f} s; each size below the largest object adds one pass)"
    )

    shards_s, sampled = best_of(args.repeat, lambda: shards_curve(trace, 0.01, count_sizes))
    even = np.linspace(u / 50, u, 50).astype(np.int64)
    mae = float(np.abs(lru_curve(trace, even).miss_ratios - shards_curve(trace, 0.01, even).miss_ratios).mean())
    maes = [
        float(np.abs(lru_curve(trace, even).miss_ratios - shards_curve(trace, 0.01, even, salt=s).miss_ratios).mean())
        for s in range(1, 6)
    ]
    print(
        f"SHARDS 1%: {n / shards_s:,.0f} req/s ({shards_s * 1e3:.0f} ms); MAE vs exact at 50 "
        f"sizes: {mae:.4f} (salt 0; salts 1-5: {', '.join(f'{m:.4f}' for m in maes)})"
    )

    print("memory (peak traced, MB) of the exact curve:")
    for req, obj in ((n, 50_000), (2 * n, 50_000), (n, 200_000)):
        t = trace_of(req, obj, seed=11, one_hit=0.0)
        mb = peak_mb(lambda t=t: lru_curve(t, count_sizes))
        print(
            f"  {req:>10,} requests, {t.n_objects:>8,} distinct objects: {mb:7.1f} MB "
            f"({mb * 1e6 / t.n_objects:,.0f} B per distinct object)"
        )
    print("memory (peak traced, MB) of the SHARDS 1% curve (the sampled requests, one hashing chunk):")
    for req, obj in ((n, 50_000), (2 * n, 50_000), (n, 200_000)):
        t = trace_of(req, obj, seed=11, one_hit=0.0)
        kept = int(np.unique(t.keys[shards_sample(t, 0.01)]).shape[0])
        mb = peak_mb(lambda t=t: shards_curve(t, 0.01, count_sizes))
        print(f"  {req:>10,} requests, {kept:>8,} sampled objects: {mb:7.1f} MB")


if __name__ == "__main__":
    main()
