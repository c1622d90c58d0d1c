"""The run worker: it stops when its session goes (the session's state freed, or the
runtime no longer listing the session), runs queue for the process's slots, and
Stop acts within one slice. Waits poll conditions with generous deadlines."""

from __future__ import annotations

import gc
import re
import time
import weakref
from pathlib import Path

import pytest

from cachesim.config import SimConfig
from cachesim.ui.runner import LiveRun
from cachesim.ui.worker import RunSlots, RunWorker, log_error
from tests.ui.helpers import LONG, REAL_TIME, live_page, start, wait_for

#: Long enough (5 M requests) never to finish within a test.
ENDLESS = {"duration_s": 5000.0, "snapshot_interval_s": 0.5, "workload": {"rate_rps": 1000.0}}


class Owner:
    """Stands for the session's state object."""


def endless(speed: float | None = None) -> LiveRun:
    return LiveRun(SimConfig.model_validate(ENDLESS), speed=speed)


def test_a_worker_stops_and_frees_its_run_when_the_session_state_is_gone():
    owner = Owner()
    live = endless()
    worker = RunWorker(live, RunSlots(2), owner=owner).start()
    ref = weakref.ref(live)
    wait_for(lambda: ref().now > 1.0, what="the run moving")
    del owner, live
    gc.collect()
    assert worker.wait(30)
    assert worker.state == "stopped" and worker.reason == "session closed" and worker.live is None
    gc.collect()
    assert ref() is None  # nothing holds the run any more: its memory is freed


def test_a_finished_run_keeps_its_record_not_its_engine():
    """Once a run finishes, its worker retires the engine: the page's LiveRun (kept in
    the session until the next run) no longer holds the nodes' caches and the clients,
    and its result is the one the run ended with."""
    live = LiveRun(SimConfig.model_validate({"duration_s": 5.0, "snapshot_interval_s": 0.5}))
    engine = weakref.ref(live.sim.env)  # the event queue, and through it every agent
    worker = RunWorker(live, RunSlots(2)).start()
    assert worker.wait(60) and worker.state == "finished"
    gc.collect()
    assert live.sim.nodes == [] and engine() is None
    res = live.result()
    assert res.summary["sim_time_s"] == 5.0 and len(res.timeseries()) == 10


def test_a_worker_stops_when_the_runtime_no_longer_lists_its_session():
    connected = [True]
    live = endless()
    worker = RunWorker(live, RunSlots(2), connected=lambda: connected[0], grace_s=0.05).start()
    wait_for(lambda: live.now > 0.5, what="the run moving")
    assert worker.alive
    connected[0] = False  # the tab closed
    assert worker.wait(30) and worker.reason == "session closed" and live.status == "stopped"


@pytest.mark.slow
def test_a_blip_shorter_than_the_grace_period_does_not_stop_the_run():
    calls = [0]

    def flaky() -> bool:
        calls[0] += 1
        return calls[0] % 50 != 0  # disconnected for one check in fifty

    live = endless()
    worker = RunWorker(live, RunSlots(2), connected=flaky, grace_s=30.0).start()
    wait_for(lambda: calls[0] > 200, what="many session checks")
    assert worker.alive and live.status == "running"
    assert worker.stop() and worker.reason == "stopped"


def test_a_real_streamlit_session_that_goes_away_stops_its_run():
    at = live_page(LONG, **REAL_TIME)
    _, worker = start(at)
    assert worker.alive
    del at  # the session and its state are dropped
    gc.collect()
    assert worker.wait(30) and worker.reason == "session closed" and worker.live is None


def test_runs_queue_for_the_process_slots_first_come_first_served():
    slots = RunSlots(1)
    a, b, c = endless(speed=1.0), endless(speed=1.0), endless(speed=1.0)
    wa = RunWorker(a, slots).start()
    wait_for(lambda: wa.state == "running", what="the first run starting")
    wb = RunWorker(b, slots).start()
    wait_for(lambda: wb.queue_position() == 1, what="the second run queued")
    wc = RunWorker(c, slots).start()
    wait_for(lambda: wc.queue_position() == 2, what="the third run queued behind it")
    assert b.now == 0 and slots.busy == 1
    assert wa.stop()
    wait_for(lambda: wb.state == "running" and b.now > 0, what="the second run taking the slot")
    assert wc.state == "queued" and wc.queue_position() == 1
    assert wc.stop() and wc.state == "stopped" and c.now == 0  # stopped while queued: never ran
    assert wb.stop() and slots.busy == 0


def test_stop_acts_within_one_slice_at_full_speed():
    live = endless()
    worker = RunWorker(live, RunSlots(2)).start()
    wait_for(lambda: live.now > 2.0, what="the run moving")
    began = time.perf_counter()
    assert worker.stop(wait_s=30)
    waited = time.perf_counter() - began
    print(
        f"\nstop at full speed: the worker let go after {waited * 1e3:.1f} ms "
        f"(slice {0.05 * 1e3:.0f} ms + at most one snapshot interval of 0.5 simulated s)"
    )
    assert live.status == "stopped" and worker.state == "stopped"
    t = live.now
    assert worker.wait(1) and live.now == t  # nothing moves after the stop


def test_an_error_in_the_run_is_logged_with_an_id_and_no_message(caplog):
    live = endless()

    def boom(budget_s: float = 0.0) -> int:
        raise ValueError("secret file content")

    live.advance = boom  # type: ignore[method-assign]
    worker = RunWorker(live, RunSlots(1)).start()
    assert worker.wait(30) and worker.state == "failed" and worker.error_id
    text = caplog.text
    assert worker.error_id in text and "ValueError" in text and "secret file content" not in text


def test_log_error_gives_distinct_short_ids():
    ids = {log_error(RuntimeError("x"), "test") for _ in range(20)}
    assert len(ids) == 20 and all(len(i) == 8 for i in ids)


@pytest.mark.slow
def test_a_freed_session_gives_its_memory_back():
    """The janitor releases memory (gc + malloc_trim) once a watched session owner is freed,
    once for a burst of them; waits for the condition, never for a fixed time."""
    from cachesim.ui.memory import Janitor
    from cachesim.ui.state import _Owner

    janitor = Janitor(settle_s=0.05)
    owners = [_Owner() for _ in range(3)]
    for o in owners:
        janitor.watch(o)
    assert janitor.releases == 0
    owners.clear()
    gc.collect()
    deadline = time.monotonic() + 60
    while janitor.releases == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert janitor.releases >= 1


@pytest.mark.slow
def test_release_returns_arrow_pool_pages_to_the_system():
    """Tables the pages send are built in Arrow's own pool (mimalloc or jemalloc), which
    keeps freed pages: a release hands them back, so a server's RSS falls once its
    visitors' runs are gone (320 MB built and freed here: RSS falls by most of it)."""
    import numpy as np
    import pyarrow as pa

    from cachesim.ui.memory import release, rss_mb

    if rss_mb() is None:
        pytest.skip("RSS is read from /proc (Linux)")
    built = [
        pa.concat_arrays([pa.array(np.full(1_000_000, float(i))), pa.array(np.zeros(1_000_000))]) for i in range(20)
    ]
    assert pa.total_allocated_bytes() >= 300e6
    peak = rss_mb()
    del built
    release()
    assert peak - rss_mb() >= 200, (peak, rss_mb())


def test_the_app_puts_arrow_on_the_system_allocator():
    """With Arrow on glibc's malloc and few malloc arenas, the janitor's malloc_trim
    reaches what Arrow freed too (``benchmarks/bench_load.py`` gives the figures). The
    app's memory module does it when imported: checked in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "import pyarrow as pa; before = pa.default_memory_pool().backend_name; "
        "import cachesim.ui.memory; "
        "print(before, pa.default_memory_pool().backend_name, pa.array([1.0, 2.0]).sum().as_py())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    before, after, total = out.stdout.split()
    assert before != "system"  # Arrow's own pool (mimalloc or jemalloc) by default
    assert (after, total) == ("system", "3.0")


def test_the_census_says_who_holds_a_frame():
    """The memory census (logged after each release with CACHESIM_MEMORY_CENSUS) counts
    the frames alive and follows one back to the dict that keeps it."""
    import pandas as pd

    from cachesim.ui.memory import _holders, census

    frame = pd.DataFrame({"a": [1, 2]})
    keeper = {"kept_frames_for_the_census": [frame]}
    assert re.search(r"kept: .*DataFrame [1-9]", census())
    assert "kept_frames_for_the_census" in _holders(frame, []).split(" <- ")[1]
    keeper.clear()
