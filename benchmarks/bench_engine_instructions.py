"""Engine cost in CPU instructions per simulated request, independent of machine load.

Wall-clock rates on a shared 2-core VM move by 20-40% with whatever else runs on the
host; an instruction count does not. Each case runs the standard scenario of
``bench_engine.py`` (8 nodes unless told otherwise) under valgrind's cachegrind at two
lengths and prints the difference per request (start-up and imports cancel out), and
its ratio to the first case, measured in the same run. Needs ``valgrind`` (Debian:
``apt-get install valgrind``); about 2 minutes per case.

    python benchmarks/bench_engine_instructions.py                       # the standard case
    python benchmarks/bench_engine_instructions.py --scaling             # 8/256/1024 nodes, routing
    python benchmarks/bench_engine_instructions.py --case nodes=256 --case nodes=256,routing=random

To compare two versions, run it with ``--root`` pointing at a checkout of each. It runs
the interpreter that runs it, and hands it this process's import path: under valgrind a
virtual environment's interpreter may start as its base interpreter, without the
environment's site-packages (simpy and the rest).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

RUN = """
import site
import sys
sys.path[:0] = [{root!r}, {bench!r}]
for path in {paths!r}:  # the running interpreter's (a virtual environment's site-packages included)
    if path not in sys.path:
        site.addsitedir(path)
from bench_engine import standard_config
import cachesim
cfg = standard_config({n}).with_overrides({over!r})
cachesim.simulate(cfg)
"""

SCALING = ["nodes=8", "nodes=256", "nodes=1024", "nodes=256,routing=random", "nodes=256,routing=least_outstanding"]


def parse_case(text: str) -> dict[str, str]:
    keys = {"nodes": "cluster.nodes", "routing": "cluster.routing", "keys": "workload.keys"}
    out = {}
    for part in filter(None, text.split(",")):
        k, _, v = part.partition("=")
        out[keys.get(k, k)] = v
    return out


def instructions(root: Path, n: int, over: dict[str, str]) -> int:
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    code = RUN.format(root=str(root), bench=str(root / "benchmarks"), paths=paths, n=n, over=over)
    out = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            "-c",
            code,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"},
        check=True,
    )
    m = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if not m:
        raise SystemExit(f"no instruction count in valgrind's output:\n{out.stderr[-2000:]}")
    return int(m.group(1).replace(",", ""))


def per_request(root: Path, short: int, long: int, over: dict[str, str]) -> float:
    return (instructions(root, long, over) - instructions(root, short, over)) / (long - short)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=int, default=4000, help="requests in the short run")
    ap.add_argument("--long", type=int, default=24000, help="requests in the long run")
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="the checkout to measure")
    ap.add_argument(
        "--case",
        action="append",
        default=[],
        help="overrides, e.g. nodes=256,routing=random (repeatable; default: the standard case)",
    )
    ap.add_argument("--scaling", action="store_true", help=f"the cases {', '.join(SCALING)}")
    args = ap.parse_args()
    if args.long <= args.short:
        raise SystemExit("--long must be greater than --short")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    root = args.root.resolve()
    cases = (SCALING if args.scaling else []) + args.case or [""]
    print(f"checkout {root}; instructions per request ({args.long:,} - {args.short:,} requests)")
    first = None
    for case in cases:
        per = per_request(root, args.short, args.long, parse_case(case))
        first = first or per
        print(f"  {case or 'standard':<40} {per:>10,.0f}   {per / first:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
