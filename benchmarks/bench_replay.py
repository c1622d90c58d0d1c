"""Replay speed: cachesim's policies against libCacheSim's on the same generated trace.

    python benchmarks/bench_replay.py [--requests 1000000] [--objects 100000]
        [--alpha 0.9] [--capacity 10000] [--repeat 3] [--bytes] [--root CHECKOUT]
        [--policies lru,fifo,lfu,s3fifo,arc,twoq,slru,lirs,belady]

Generates a seeded Zipf trace, writes it as an oracleGeneral file in a temporary
folder, then times, per policy, ``cachesim.replay.replay`` (count-based, the trace
already read into numpy) and libCacheSim's ``process_trace`` on the same file (its
C reader included), the two interleaved run by run so that both see the same host
load. Prints requests per second (best of ``--repeat``) and checks the
two agree on the miss count. Belady's time includes computing every request's next
access (libCacheSim reads it from the file).

Rates and the ratio are by wall clock, as before; ``cpu ratio`` is the same ratio by
this process's CPU time (``time.process_time``), which other work on a shared host
does not inflate. The two differ: libCacheSim's run spends time off the CPU (its
reader), which only the wall clock counts, and on a loaded host the wall clock of the
longer Python run suffers more preemption.
``--bytes`` gives objects lognormal sizes (median 4 KiB, sigma 1, fixed per object)
and replays in bytes, ``--capacity`` then in KiB. ``--root`` measures another checkout
(e.g. the code before a change) with this script: its ratios compare with this one's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_ROOT = Path(__file__).resolve().parents[1]
if "--root" in sys.argv[:-1]:
    _ROOT = Path(sys.argv[sys.argv.index("--root") + 1]).resolve()
sys.path.insert(0, str(_ROOT))  # run from a checkout (or the one --root names)

from cachesim.replay import replay  # noqa: E402
from cachesim.traces import Trace, read_trace, write_trace  # noqa: E402

LCS_NAMES = {
    "lru": "LRU",
    "fifo": "FIFO",
    "lfu": "LFU",
    "clock": "Clock",
    "sieve": "Sieve",
    "s3fifo": "S3FIFO",
    "arc": "ARC",
    "twoq": "TwoQ",
    "slru": "SLRU",
    "lirs": "LIRS",
    "belady": "Belady",
}


def zipf_trace(n_requests: int, n_objects: int, alpha: float, seed: int = 1, *, sized: bool = False) -> Trace:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_objects + 1) ** alpha
    keys = rng.choice(n_objects, size=n_requests, p=weights / weights.sum()).astype(np.int64)
    if not sized:
        return Trace(keys=keys, sizes=np.ones(n_requests, dtype=np.int64))
    object_sizes = np.maximum(1, np.rint(rng.lognormal(np.log(4096), 1.0, size=n_objects))).astype(np.int64)
    return Trace(keys=keys, sizes=object_sizes[keys])


def best_of(repeat: int, fn: object) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--alpha", type=float, default=0.9)
    ap.add_argument("--capacity", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--policies", default="lru,fifo,lfu,s3fifo,arc,twoq,slru,lirs,belady")
    ap.add_argument("--bytes", action="store_true", help="sized objects, replayed in bytes (capacity in KiB)")
    ap.add_argument("--root", type=Path, default=_ROOT, help="the checkout to measure")
    args = ap.parse_args()
    capacity = args.capacity * 1024 if args.bytes else args.capacity
    try:
        import libcachesim as lcs
    except ImportError:
        lcs = None

    with tempfile.TemporaryDirectory() as tmp:
        trace = zipf_trace(args.requests, args.objects, args.alpha, sized=args.bytes)
        path = write_trace(trace, Path(tmp) / "zipf.oracleGeneral.bin")
        read_s, trace = best_of(1, lambda: read_trace(path))
        n = len(trace)  # type: ignore[arg-type]
        print(
            f"trace: {n:,} requests, Zipf({args.alpha}) over {args.objects:,} objects, "
            f"capacity {capacity:,} {'bytes' if args.bytes else 'objects'}; read_trace {read_s * 1e3:.0f} ms; "
            f"checkout {args.root}"
        )
        print(
            f"{'policy':<7} {'cachesim req/s':>15} {'libCacheSim req/s':>18} {'ratio':>6} {'cpu ratio':>9} "
            f"{'miss ratio':>10}  agree"
        )
        for policy in args.policies.split(","):

            def run_ours(p: str = policy) -> object:
                return replay(trace, p, capacity, use_bytes=args.bytes)

            def run_lcs(p: str = policy) -> float:
                params = lcs.ReaderInitParam(ignore_obj_size=not args.bytes)
                reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE, params)
                return getattr(lcs, LCS_NAMES[p])(capacity).process_trace(reader)[0]

            # interleaved (ours, theirs, ours, ...) so both see the same host load
            ours_s = lcs_s = ours_cpu = lcs_cpu = float("inf")
            ours = lcs_miss_ratio = None
            for _ in range(args.repeat):
                c0 = time.process_time()
                t, ours = best_of(1, run_ours)
                ours_s, ours_cpu = min(ours_s, t), min(ours_cpu, time.process_time() - c0)
                if lcs is not None:
                    c0 = time.process_time()
                    t, lcs_miss_ratio = best_of(1, run_lcs)
                    lcs_s, lcs_cpu = min(lcs_s, t), min(lcs_cpu, time.process_time() - c0)
            lcs_rate, agree = float("nan"), "n/a"
            if lcs is not None:
                lcs_rate = n / lcs_s
                agree = "yes" if round(lcs_miss_ratio * n) == ours.misses else "NO"  # type: ignore[operator, union-attr]
            rate = n / ours_s
            print(
                f"{policy:<7} {rate:>15,.0f} {lcs_rate:>18,.0f} {rate / lcs_rate:>6.2f} {lcs_cpu / ours_cpu:>9.2f} "
                f"{ours.miss_ratio:>10.4f}  {agree}"
            )  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
