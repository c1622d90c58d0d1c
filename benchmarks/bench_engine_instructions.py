"""Engine cost in CPU instructions per simulated request, independent of machine load.

Wall-clock rates on a shared 2-core VM move by 20-40% with whatever else runs on the
host; an instruction count does not. This runs the standard scenario of
``bench_engine.py`` under valgrind's cachegrind at two lengths and prints the
difference per request (start-up and imports cancel out). Needs ``valgrind``
(Debian: ``apt-get install valgrind``); takes about 2 minutes.

    python benchmarks/bench_engine_instructions.py [--short 4000] [--long 24000] [--root .]

To compare two versions, run it with ``--root`` pointing at a checkout of each.
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
import sys
sys.path[:0] = [{root!r}, {bench!r}]
from bench_engine import standard_config
import cachesim
cachesim.simulate(standard_config({n}))
"""


def instructions(root: Path, n: int) -> int:
    code = RUN.format(root=str(root), bench=str(root / "benchmarks"), n=n)
    out = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         os.path.realpath(sys.executable), "-c", code],
        capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, check=True)
    m = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if not m:
        raise SystemExit(f"no instruction count in valgrind's output:\n{out.stderr[-2000:]}")
    return int(m.group(1).replace(",", ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=int, default=4000, help="requests in the short run")
    ap.add_argument("--long", type=int, default=24000, help="requests in the long run")
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                    help="the checkout to measure")
    args = ap.parse_args()
    if args.long <= args.short:
        raise SystemExit("--long must be greater than --short")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    root = args.root.resolve()
    short, long = instructions(root, args.short), instructions(root, args.long)
    per = (long - short) / (args.long - args.short)
    print(f"checkout                  {root}")
    print(f"instructions, {args.short:>6,} req   {short:>16,}")
    print(f"instructions, {args.long:>6,} req   {long:>16,}")
    print(f"instructions per request  {per:>16,.0f}")


if __name__ == "__main__":
    main()
