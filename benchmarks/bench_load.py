"""Load on a shared deployment: many browser sessions in one Streamlit process.

Two measurements against a real ``streamlit run app.py`` driven by Playwright
(headless Chromium at /usr/bin/chromium), each session its own browser context:

``load`` (default): SESSIONS sessions each do RUNS runs of the largest size the demo
budget allows (1,000,000 simulated requests and 100,000 snapshot rows: 10 nodes for
1,000 simulated seconds at 1,000 req/s, a snapshot every 0.1 s); each session starts a
run and reads the Analysis page while it goes on beside the page (the runs queue for
the process's slots), then starts the next. Prints the server's
RSS when idle, its peak during the load, and after the sessions closed (Streamlit keeps
a closed session for a reconnect for 2 minutes; the script waits that out, then opens
one page so the runtime drops the expired sessions, and collects).

``refresh``: three sessions at once; one runs the largest run at full speed, the other
two run at 1 x real time and the script reads their live pages' refresh rate (the
page's own "refreshes/s" figure, averaged over the window) while the first one
burns.

    python benchmarks/bench_load.py                 # 10 sessions x 3 runs
    python benchmarks/bench_load.py --sessions 4 --runs 2
    python benchmarks/bench_load.py refresh --seconds 30

No asserts: the figures are printed (compare them with the README's).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
SIDEBAR = '[data-testid="stSidebar"]'
LARGEST = "/?scenario=baseline&duration_s=1000&workload.rate_rps=1000&cluster.nodes=10&warmup_s=0"
SERVER_LOG = Path(os.environ.get("TMPDIR", "/tmp")) / "cachesim_bench_load_server.log"
WARMUP = "/?scenario=baseline&duration_s=2&warmup_s=0"
REALTIME = "/?scenario=node_failure&duration_s=600&workload.rate_rps=1000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
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
    log = open(SERVER_LOG, "wb")  # noqa: SIM115 - the server's whole life
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("streamlit did not start")


def rss_mb(pid: int) -> float:
    p = psutil.Process(pid)
    return (p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))) / 1e6


class PeakSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self._halt = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.5):
            self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return self.peak


def open_page(browser, url: str, path: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.set_default_timeout(600_000)
    page.goto(url + path)
    page.wait_for_selector(f"{SIDEBAR} >> text=Run simulation")
    return context, page


def click_run(page) -> None:  # type: ignore[no-untyped-def]
    page.locator(SIDEBAR).get_by_role("button", name="Run simulation").click()
    page.wait_for_selector("text=Live log")


def finished(page) -> bool:  # type: ignore[no-untyped-def]
    return page.locator("text=is kept for analysis").count() > 0


def read_elsewhere(page) -> None:  # type: ignore[no-untyped-def]
    """Leave the live page for Analysis: the run goes on beside the page."""
    page.locator(SIDEBAR).get_by_role("link", name="Analysis", exact=True).click()
    page.wait_for_selector("h1:has-text('Analysis')")


def finished_elsewhere(page) -> bool:  # type: ignore[no-untyped-def]
    """Rerun the Analysis page (its sidebar link) and read the sidebar's run status."""
    page.locator(SIDEBAR).get_by_role("link", name="Analysis", exact=True).click()
    page.wait_for_timeout(300)
    return page.locator(f"{SIDEBAR} >> text=✓ finished").count() > 0


def smaps_summary(pid: int) -> str:
    """Where the server's resident memory is, by kind of mapping (Linux's smaps): the
    main heap, anonymous mappings (glibc's other arenas, Python's object arenas, large
    allocations, thread stacks) by size, and files (libraries)."""
    kinds: dict[str, float] = {}
    size_kb, name = 0, ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                size_kb, name = (hi - lo) // 1024, head[5] if len(head) > 5 else ""
            elif head[0] == "Rss:":
                if name.startswith("/"):
                    kind = "files"
                elif name:
                    kind = name
                elif size_kb <= 1024:
                    kind = "anon <= 1 MB"
                elif size_kb <= 65536:
                    kind = "anon 1-64 MB"
                else:
                    kind = "anon > 64 MB"
                kinds[kind] = kinds.get(kind, 0.0) + int(head[1]) / 1024
    ranked = sorted(kinds.items(), key=lambda kv: -kv[1])
    return "resident by mapping: " + ", ".join(f"{k} {v:.0f} MB" for k, v in ranked)


def settle(browser, url: str, reconnect_s: float) -> None:  # type: ignore[no-untyped-def]
    """Wait out Streamlit's reconnect window for closed sessions, then open one page so
    the runtime drops the expired ones (and the server's janitor releases their memory)."""
    time.sleep(reconnect_s)
    ctx, _ = open_page(browser, url, "/")
    ctx.close()


def load(args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    proc, url = start_server()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
            # warm the server: one small run seen on the pages the sessions use, so the
            # imports of those pages (charts, analysis) are in the idle figure, not in "after"
            ctx, page = open_page(browser, url, WARMUP)
            click_run(page)
            page.wait_for_selector("text=is kept for analysis")
            read_elsewhere(page)
            page.wait_for_selector("[data-testid='stMetric']")
            ctx.close()
            if os.environ.get("CACHESIM_MEMORY_CENSUS"):  # the server logs a census at each release:
                settle(browser, url, args.reconnect_s)  # one for idle too, after the warm-up is freed
            time.sleep(2)
            idle = rss_mb(proc.pid)
            if args.smaps:
                print(smaps_summary(proc.pid))
            print(
                f"server idle: {idle:.0f} MB RSS (after one warm-up session: a 2 s run, Live and Analysis)", flush=True
            )
            sampler = PeakSampler(proc.pid)
            sampler.start()
            started = time.perf_counter()
            sessions = [open_page(browser, url, LARGEST) for _ in range(args.sessions)]
            done = [0] * len(sessions)
            for _, page in sessions:  # each session starts a run, then reads the Analysis page meanwhile
                click_run(page)
                read_elsewhere(page)
            while min(done) < args.runs:
                for i, (_, page) in enumerate(sessions):
                    if done[i] < args.runs and finished_elsewhere(page):
                        done[i] += 1
                        print(
                            f"  session {i + 1}: run {done[i]} finished at {time.perf_counter() - started:.0f} s, "
                            f"server RSS {rss_mb(proc.pid):.0f} MB (peak {sampler.peak:.0f})",
                            flush=True,
                        )
                        if done[i] < args.runs:
                            click_run(page)
                            read_elsewhere(page)
                time.sleep(2.0)
            wall = time.perf_counter() - started
            peak = sampler.stop()
            print(
                f"{args.sessions} sessions x {args.runs} runs of 1,000,000 requests / 100,000 snapshot rows: "
                f"{wall:.0f} s wall; peak server RSS {peak:.0f} MB"
            )
            for ctx, _ in sessions:
                ctx.close()
            closed = time.perf_counter()
            settle(browser, url, args.reconnect_s)
            time.sleep(5)
            after = rss_mb(proc.pid)
            print(
                f"after the sessions closed (+{time.perf_counter() - closed:.0f} s): {after:.0f} MB RSS "
                f"({after / idle:.2f}x idle)"
            )
            if args.smaps:
                print(smaps_summary(proc.pid))
            released = [ln for ln in SERVER_LOG.read_text(errors="replace").splitlines() if "memory released" in ln]
            print(
                f"the server released memory {len(released)} time(s) as sessions were freed"
                + (f"; last: {released[-1].split('sessions freed: ')[-1]}" if released else "")
            )
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    gc.collect()


def refresh(args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    proc, url = start_server()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
            burner = open_page(browser, url, LARGEST)
            watchers = [open_page(browser, url, REALTIME) for _ in range(2)]
            for _, page in watchers:
                click_run(page)
                page.get_by_role("radio", name="1×", exact=True).click()
                page.wait_for_selector("text=speed 1×")
            click_run(burner[1])
            rates: list[list[float]] = [[], []]
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline and not finished(burner[1]):
                for i, (_, page) in enumerate(watchers):
                    text = page.locator("text=refreshes/s").first.inner_text()
                    m = re.match(r"([0-9.]+) refreshes/s", text)
                    if m:
                        rates[i].append(float(m.group(1)))
                time.sleep(1.0)
            burning = "still running" if not finished(burner[1]) else "finished"
            for i, r in enumerate(rates):
                if r:
                    print(
                        f"session {i + 2} (1x real time) while session 1 runs at full speed: "
                        f"{sum(r) / len(r):.1f} refreshes/s on average, {min(r):.1f} at the lowest "
                        f"({len(r)} readings over {args.seconds:g} s; the full-speed run {burning})"
                    )
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=("load", "refresh"), default="load")
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--reconnect-s",
        type=float,
        default=125.0,
        help="how long Streamlit keeps a closed session for a reconnect (2 minutes)",
    )
    parser.add_argument("--smaps", action="store_true", help="print where the server's memory is, after close")
    parser.add_argument("--seconds", type=float, default=30.0, help="refresh: how long to watch")
    args = parser.parse_args()
    (refresh if args.mode == "refresh" else load)(args)


if __name__ == "__main__":
    main()
