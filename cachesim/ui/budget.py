"""The deployment's budget: what one run, one session and the whole process may use.

The app is a public deployment: every visitor shares one process (a core or two,
about 2.7 GB), so every run and session has limits. The defaults suit a shared demo;
a private deployment raises them in ``st.secrets`` or the environment under the names
in :data:`LIMITS` (``CACHESIM_MAX_REQUESTS_PER_RUN = 50_000_000``). The CLI and the
Python API have no such limits: only the app checks them.

No Streamlit here (the page passes ``st.secrets``), so the checks are plain functions
the sweep page and tests call too: :func:`check_run`, :func:`check_sweep`.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ..config import SimConfig
from . import inputs


@dataclass(frozen=True)
class Limits:
    """Each field is read from ``CACHESIM_<FIELD NAME IN CAPITALS>`` (secrets, then env)."""

    max_requests_per_run: int = 1_000_000
    max_snapshot_cells_per_run: int = 100_000  # snapshots x nodes
    max_keys: int = 1_000_000
    max_chaos_events: int = 200
    max_upload_bytes: int = 1_000_000  # an uploaded or pasted config
    max_run_upload_bytes: int = 10_000_000  # an uploaded run (ZIP)
    max_runs_kept: int = 8  # finished or stopped runs per session
    max_kept_bytes: int = 200_000_000  # their memory, per session
    max_concurrent_runs: int = 3  # runs advancing at once in the process; the rest queue
    max_requests_per_sweep: int = 20_000_000  # each run also within max_requests_per_run
    max_sweep_runs: int = 2_000
    max_query_chars: int = 500  # per query parameter (the description: 2,000; chaos.events: 20,000)
    # the LLM analyst (it spends the owner's key)
    analyst_questions_per_session: int = 20
    analyst_tokens_per_session: int = 60_000
    analyst_questions_per_hour: int = 200  # the whole process
    analyst_tokens_per_hour: int = 600_000  # the whole process
    analyst_max_answer_chars: int = 20_000
    analyst_max_answer_s: float = 90.0

    @staticmethod
    def env_name(field_name: str) -> str:
        return "CACHESIM_" + field_name.upper()


def limits_from(secrets: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Limits:
    """Limits with overrides from ``secrets`` (e.g. ``st.secrets``) then ``env``; a value
    that is not a positive number is ignored (the default stays)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in fields(Limits):
        name = Limits.env_name(f.name)
        raw: Any = None
        if secrets is not None:
            try:
                raw = secrets.get(name)
            except Exception:  # st.secrets raises when there is no secrets file
                raw = None
        if raw in (None, ""):
            raw = env.get(name)
        if raw in (None, ""):
            continue
        try:
            value = float(str(raw).replace("_", ""))
        except ValueError:
            continue
        if math.isfinite(value) and value > 0:
            values[f.name] = value if f.type in (float, "float") else int(value)
    return Limits(**values)


def limits() -> Limits:
    """The deployment's limits (``st.secrets``, then the environment)."""
    try:
        import streamlit as st

        secrets: Mapping[str, Any] | None = dict(st.secrets)
    except Exception:  # no secrets file, or no streamlit: the environment only
        secrets = None
    return limits_from(secrets, os.environ)


def _how_to_raise(field_name: str) -> str:
    return f"a private deployment can raise it with {Limits.env_name(field_name)} in st.secrets or the environment"


# -- one run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    requests: float
    snapshot_cells: int
    wall_s: float | None  # at the speed measured on this machine (None: not measured yet)


def estimate(cfg: SimConfig, speed_rps: float | None = None) -> Estimate:
    """What ``cfg`` costs: simulated requests, snapshots x nodes, and wall seconds at
    ``speed_rps`` simulated requests per wall second."""
    requests = cfg.total_requests()
    snapshots = max(1, math.ceil(round(cfg.duration_s / cfg.snapshot_interval_s, 9)))
    wall = requests / speed_rps if speed_rps else None
    return Estimate(requests, snapshots * cfg.cluster.nodes, wall)


def check_run(cfg: SimConfig, lim: Limits, uploads: Collection[str] | None = None) -> str | None:
    """The first limit ``cfg`` exceeds, as one line naming it and how to raise it; None if
    the run fits. Also refuses a trace that is not a built-in sample or an upload."""
    problem = inputs.trace_problem(cfg.workload.trace, uploads)
    if problem:
        return problem
    est = estimate(cfg)
    if est.requests > lim.max_requests_per_run:
        return (
            f"This run needs about {est.requests:,.0f} simulated requests (workload.rate_rps x duration_s); "
            f"this deployment allows {lim.max_requests_per_run:,} per run. Lower the rate or the duration; "
            + _how_to_raise("max_requests_per_run")
            + "."
        )
    if est.snapshot_cells > lim.max_snapshot_cells_per_run:
        return (
            f"This run keeps {est.snapshot_cells:,} snapshot rows (duration_s / snapshot_interval_s x "
            f"cluster.nodes); this deployment allows {lim.max_snapshot_cells_per_run:,}. Raise "
            "snapshot_interval_s or lower the duration or the nodes; "
            + _how_to_raise("max_snapshot_cells_per_run")
            + "."
        )
    if cfg.workload.keys > lim.max_keys:
        return (
            f"workload.keys is {cfg.workload.keys:,}; this deployment allows {lim.max_keys:,}; "
            + _how_to_raise("max_keys")
            + "."
        )
    if len(cfg.chaos.events) > lim.max_chaos_events:
        return (
            f"chaos.events has {len(cfg.chaos.events):,} events; this deployment allows "
            f"{lim.max_chaos_events:,}; " + _how_to_raise("max_chaos_events") + "."
        )
    return None


def check_sweep(
    configs: Sequence[SimConfig], lim: Limits | None = None, uploads: Collection[str] | None = None
) -> str | None:
    """The whole-sweep budget: every run fits :func:`check_run`, and the sweep's runs and
    requests together fit their limits. One line, or None."""
    lim = lim or limits()
    if len(configs) > lim.max_sweep_runs:
        return (
            f"This sweep has {len(configs):,} runs; this deployment allows {lim.max_sweep_runs:,}; "
            + _how_to_raise("max_sweep_runs")
            + "."
        )
    total = 0.0
    for i, cfg in enumerate(configs):
        problem = check_run(cfg, lim, uploads)
        if problem:
            return f"Sweep run {i + 1}: {problem}"
        total += cfg.total_requests()
    if total > lim.max_requests_per_sweep:
        return (
            f"This sweep needs about {total:,.0f} simulated requests in all; this deployment allows "
            f"{lim.max_requests_per_sweep:,} per sweep; " + _how_to_raise("max_requests_per_sweep") + "."
        )
    return None


# -- the speed of this machine ------------------------------------------------------------

_speed_lock = threading.Lock()
_speed: list[float] = []  # measured once per process (a number, never mutated after)


def measured_speed() -> float:
    """Simulated requests per wall second on this machine, measured once per process on
    a small baseline run (about 0.2 s)."""
    with _speed_lock:
        if not _speed:
            from ..engine import Simulation

            cfg = SimConfig.model_validate(
                {"duration_s": 5.0, "snapshot_interval_s": 0.5, "workload": {"rate_rps": 3000.0}}
            )
            started = time.perf_counter()
            Simulation(cfg).run()
            _speed.append(cfg.total_requests() / max(time.perf_counter() - started, 1e-6))
        return _speed[0]


def describe(est: Estimate) -> str:
    """``about 60,000 requests · ~1 s at this server's speed``"""
    text = f"about {est.requests:,.0f} simulated requests"
    if est.wall_s is not None:
        wall = f"{est.wall_s:,.0f} s" if est.wall_s >= 1 else "under a second"
        text += f" · ~{wall} of server time"
    return text
