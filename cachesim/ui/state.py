"""Per-session state: the run registry, derived-data caches and the live run.

Everything lives in ``st.session_state`` (one browser session each), initialised
behind guards; nothing mutable is shared between sessions.

The run registry is a contract with the analyst page: ``get_runs()``,
``add_run(result)``, ``current_run_id()``, ``set_current_run(run_id)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import streamlit as st

from ..results import RunResult

if TYPE_CHECKING:
    from .runner import LiveRun
    from .worker import RunWorker

RUNS = "cachesim.runs"
COUNTER = "cachesim.run_counter"
CURRENT = "cachesim.current_run"
DERIVED = "cachesim.derived"
LIVE = "cachesim.live"
WORKER = "cachesim.worker"
OWNER = "cachesim.owner"
#: Runs kept per session when no budget says otherwise; the oldest (never the current
#: one) are dropped beyond this, or beyond the budget's bytes.
MAX_RUNS = 20
T = TypeVar("T")


def _registry() -> dict[str, RunResult]:
    if RUNS not in st.session_state:
        st.session_state[RUNS] = {}
    return st.session_state[RUNS]


def get_runs() -> dict[str, RunResult]:
    """This session's finished or stopped runs, oldest first: run id -> result."""
    return dict(_registry())


def add_run(result: RunResult) -> str:
    """Keep ``result``; returns its id (``"run-3 · node_failure"``) and makes it current."""
    n = st.session_state.get(COUNTER, 0) + 1
    st.session_state[COUNTER] = n
    run_id = f"run-{n} · {result.config.name}"
    runs = _registry()
    runs[run_id] = result
    st.session_state[CURRENT] = run_id
    _trim(run_id)
    return run_id


def _trim(keep: str) -> None:
    """Drop the oldest runs (never ``keep``) beyond the budget's count and bytes."""
    from .budget import limits

    lim = limits()
    runs = _registry()
    most = min(MAX_RUNS, lim.max_runs_kept)
    for old in list(runs):
        too_many = len(runs) > most
        if old == keep or not (too_many or sum(map(result_bytes, runs.values())) > lim.max_kept_bytes):
            continue
        del runs[old]
        _derived().pop(old, None)


def result_bytes(result: RunResult) -> int:
    """About how much memory a kept run holds (its frames), kept with the result."""
    return result.cached("nbytes", result.nbytes)


def update_run(run_id: str, result: RunResult) -> None:
    """Replace a kept run's result (a stopped run that was resumed and went on)."""
    runs = _registry()
    if run_id not in runs:
        add_run(result)
        return
    runs[run_id] = result
    _derived().pop(run_id, None)


def current_run_id() -> str | None:
    """The selected run, else the latest one, else None."""
    runs = _registry()
    chosen = st.session_state.get(CURRENT)
    if chosen in runs:
        return chosen
    return next(reversed(runs), None) if runs else None


def set_current_run(run_id: str) -> None:
    if run_id not in _registry():
        raise KeyError(f"no run {run_id!r} in this session")
    st.session_state[CURRENT] = run_id


def _derived() -> dict[str, dict[str, Any]]:
    if DERIVED not in st.session_state:
        st.session_state[DERIVED] = {}
    return st.session_state[DERIVED]


def derived(run_id: str, name: str, build: Callable[[], T]) -> T:
    """A value derived from a kept run (a frame, a chart spec, CSV bytes), built once
    per run and session."""
    cache = _derived().setdefault(run_id, {})
    if name not in cache:
        cache[name] = build()
    return cache[name]


# -- the live run -----------------------------------------------------------------------


def get_live() -> LiveRun | None:
    return st.session_state.get(LIVE)


def set_live(live: LiveRun | None) -> None:
    st.session_state[LIVE] = live


def get_worker() -> RunWorker | None:
    """The worker advancing the live run (None before the first run, or after a reset)."""
    return st.session_state.get(WORKER)


def set_worker(worker: RunWorker | None) -> None:
    st.session_state[WORKER] = worker


class _Owner:
    """A token that lives exactly as long as the session's state: workers hold a weak
    reference to it and stop when it is gone."""


def owner() -> object:
    if OWNER not in st.session_state:
        from .memory import JANITOR

        st.session_state[OWNER] = _Owner()
        JANITOR.watch(st.session_state[OWNER])  # the session's memory goes back to the system when it is freed
    return st.session_state[OWNER]
