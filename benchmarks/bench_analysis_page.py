"""The Analysis page's server time: the first render of a kept run and the reruns after
it (any click reruns the page), through Streamlit's AppTest (no browser). The run is
node_failure as shipped (30 simulated s, six nodes).

    python benchmarks/bench_analysis_page.py [--root CHECKOUT] [--reruns 5]

``--root`` measures another checkout (to compare two versions on the same machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--reruns", type=int, default=5)
    args = ap.parse_args()
    root = args.root.resolve()
    sys.path.insert(0, str(root))

    from streamlit.testing.v1 import AppTest

    import cachesim

    run = cachesim.simulate(cachesim.load_scenario("node_failure"))
    at = AppTest.from_file(str(root / "app.py"), default_timeout=120)
    at.run()
    at.session_state["cachesim.runs"] = {"run-1 · node_failure": run}
    at.session_state["cachesim.run_counter"] = 1
    t = time.perf_counter()
    at.switch_page("pages/3_Analysis.py").run()
    first = time.perf_counter() - t
    if at.exception:
        raise SystemExit(f"the page failed: {at.exception}")
    reruns = []
    for _ in range(args.reruns):
        t = time.perf_counter()
        at.run()
        reruns.append(time.perf_counter() - t)
    print(f"checkout {root} (cachesim from {Path(cachesim.__file__).parent})")
    print(f"  first render     {first:6.2f} s")
    print(f"  rerun, median    {statistics.median(reruns):6.2f} s   ({', '.join(f'{x:.2f}' for x in reruns)})")


if __name__ == "__main__":
    main()
