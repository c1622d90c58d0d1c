"""App start: from `streamlit run app.py` to the health endpoint answering, and to the
home page rendered in a real browser (Debian's headless Chromium through Playwright).

    python benchmarks/bench_app_start.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_start(browser) -> tuple[float, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if time.perf_counter() - t0 > 60:
                raise RuntimeError("not healthy within 60 s")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.02)
        healthy = time.perf_counter() - t0
        page = browser.new_page()
        page.goto(url)
        page.get_by_role("heading", name="cachesim").first.wait_for(timeout=60_000)
        rendered = time.perf_counter() - t0
        page.close()
        return healthy, rendered
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        runs = [one_start(browser) for _ in range(args.repeat)]
        browser.close()
    health = [h for h, _ in runs]
    render = [r for _, r in runs]
    print(f"runs                               {len(runs)}")
    print(f"start -> /_stcore/health answers   median {statistics.median(health):.2f} s  (min {min(health):.2f})")
    print(f"start -> home page rendered        median {statistics.median(render):.2f} s  (min {min(render):.2f})")


if __name__ == "__main__":
    main()
