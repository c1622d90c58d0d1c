"""The session's live run and its worker: start (within the budget), stop, resume,
reset, and keeping stopped or finished runs in the registry.

Pages call these from callbacks and script runs; the run itself advances in a
:class:`~cachesim.ui.worker.RunWorker` thread, so it goes on while the visitor reads
another page. Every call that reads the Simulation holds the worker's lock.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import streamlit as st
from streamlit.logger import get_logger

from ..config import SimConfig
from . import budget, state
from .runner import LiveRun, default_speed
from .worker import RunWorker, log_error, process_slots, runtime_session_check

log = get_logger(__name__)  # Streamlit's handler and level (info): the server log says who stopped a run

#: The live page's "Pause at each event" toggle (a new run starts with its value).
PAUSE = "live.pause"
#: A run to overlay and compare with, set by "Change one thing": (run id, result).
BASELINE = "live.baseline"
#: The last refusal of a Run (one line), shown beside the Run button.
REFUSED = "cachesim.run_refused"
#: Seconds a Stop click waits for the worker to let go of the run.
STOP_WAIT_S = 2.0


def uploads() -> list[str]:
    """Names of the traces uploaded in this session (the Workload page keeps them)."""
    traces = st.session_state.get("traces")
    return list(traces) if isinstance(traces, dict) else []


def lock_of(live: LiveRun | None) -> Any:
    """The lock around ``live``'s Simulation (a no-op context when no worker owns it)."""
    worker = state.get_worker()
    if worker is not None and live is not None and worker.live is live:
        return worker.lock
    return nullcontext()


def check(cfg: SimConfig) -> str | None:
    """Why ``cfg`` may not run here (one line), or None."""
    return budget.check_run(cfg, budget.limits(), uploads())


def start_run(cfg: SimConfig) -> str | None:
    """Start a live run of ``cfg`` in a worker; the run in progress is kept as stopped.
    Returns None, or the one line saying why the run was refused (also kept for the
    sidebar to show beside Run)."""
    problem = check(cfg)
    if problem is None:
        try:
            live = LiveRun(
                cfg,
                speed=_speed(cfg),
                trace=_trace(cfg),
                pause_at_events=bool(st.session_state.get(PAUSE, False)),
                baseline=st.session_state.pop(BASELINE, None),
            )
        except (ValueError, OSError) as exc:  # e.g. a named trace the engine cannot load
            problem = f"The run could not start (error {log_error(exc, 'starting a run')}); try another config."
    st.session_state[REFUSED] = problem
    if problem is not None:
        return problem
    stop_live("a new run")
    state.set_live(live)
    _start_worker(live)
    return None


def _trace(cfg: SimConfig):
    """The trace ``workload.trace`` names (a sample, or this session's upload), or None.
    Never a path: :func:`check` has refused anything else."""
    if not cfg.workload.trace:
        return None
    from ..samples import resolve_trace

    return resolve_trace(cfg.workload.trace, st.session_state.get("traces"))


#: The speed the visitor chose on the live page (absent until they choose one).
SPEED_PREF = "live.speed_pref"


def _speed(cfg: SimConfig) -> float | None:
    """The visitor's chosen speed, else one that makes ``cfg`` watchable (see default_speed)."""
    if SPEED_PREF in st.session_state:
        return st.session_state[SPEED_PREF]
    return default_speed(cfg.duration_s)


def _start_worker(live: LiveRun) -> RunWorker:
    lim = budget.limits()
    worker = RunWorker(
        live, process_slots(lim.max_concurrent_runs), owner=state.owner(), connected=runtime_session_check()
    )
    state.set_worker(worker)
    return worker.start()


def stop_live(why: str = "") -> bool:
    """Stop the live run (if running) and keep it; True once the worker has let go.
    ``why`` (the control that stopped it) goes to the server log with the run's clock."""
    live, worker = state.get_live(), state.get_worker()
    if live is None:
        return True
    if live.active:
        log.info("live run %s stopped by %s at t=%.2f s", live.run_id or live.config.name, why or "?", live.now)
    released = worker is None or worker.live is not live or worker.stop(STOP_WAIT_S)
    if released:
        with lock_of(live):
            live.stop()
        sync()
    return released


def resume_live() -> None:
    live = state.get_live()
    if live is None or live.status != "stopped":
        return
    worker = state.get_worker()
    if worker is not None and worker.alive:
        return
    problem = check(live.config)  # the budget may have changed since
    if problem:
        st.session_state[REFUSED] = problem
        return
    live.resume()
    _start_worker(live)


def reset_live() -> None:
    live = state.get_live()
    if live is not None and live.sim.snapshots:
        stop_live("Clear live view")
    state.set_live(None)
    state.set_worker(None)


def set_speed(speed: float | None) -> None:
    live = state.get_live()
    if live is not None:
        with lock_of(live):
            live.set_speed(speed)


def sync() -> None:
    """Keep the live run in the registry once its worker has ended (finished, stopped,
    or failed) and whenever it moved on since it was last kept."""
    live, worker = state.get_live(), state.get_worker()
    if live is None or (worker is not None and worker.live is live and worker.alive):
        return
    if live.status == "running" and (worker is None or worker.live is not live):
        return  # built, never started (a test's own LiveRun)
    if not live.sim.snapshots:
        return
    seen = len(live.sim.snapshots)
    if live.kept_at == seen:
        return
    with lock_of(live):
        keep_partial(live)
    live.kept_at = seen


def keep_partial(live: LiveRun) -> None:
    """Put a stopped or finished live run in the registry (or refresh its entry)."""
    with lock_of(live):
        result = live.result()
    if live.run_id is None or live.run_id not in state.get_runs():
        live.run_id = state.add_run(result)
    else:
        state.update_run(live.run_id, result)
        state.set_current_run(live.run_id)
    live.kept_at = len(live.sim.snapshots)


def queue_note(worker: RunWorker | None) -> str | None:
    """ "Queued: 2 runs ahead" while the worker waits for a slot, else None."""
    if worker is None or worker.state != "queued":
        return None
    pos = worker.queue_position()
    ahead = f"{pos - 1} run{'s' if pos - 1 != 1 else ''} ahead of it" if pos else "starting"
    return (
        f"Waiting for a free slot: this server runs {worker.slots.limit} simulations at once and all are "
        f"busy ({ahead}). It starts on its own."
    )
