"""The Sweep page: one or two parameters x replications of the sidebar's config, run
off the page thread, shown as a line with 95% CI bands or a heatmap.

A sweep runs in a :class:`SweepJob`: a worker thread owned by the session that holds
an executor (local processes, or serial with ``CACHESIM_SWEEP_WORKERS=1``; a Dask
cluster when the server has ``DASK_SCHEDULER_ADDRESS``: never an address from the
browser). The page polls the job's progress from an ``st.fragment(run_every=...)``;
Stop keeps the runs that finished. The whole sweep has a budget of simulated requests
(``CACHESIM_MAX_SWEEP_REQUESTS``, from the environment or the app's secrets) and of
runs (MAX_RUNS). The share link holds the sweep's definition next to the config.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from pydantic import ValidationError

from ..config import ConfigError, SimConfig, format_validation_error
from ..executors import Executor, ExecutorError, SerialExecutor, make_executor
from ..sweeps import (
    MAX_VALUES,
    Progress,
    SweepPlan,
    SweepResult,
    metric_columns,
    parquet_bytes,
    plan_sweep,
    reference_value,
    run_sweep,
)
from . import budget, share
from . import config_state as cs
from .fields import section_keys, spec_of
from .text import plain

JOB = "sweep.job"
DEF = "sweep.def"
DEF_APPLIED = "sweep.url_applied"
BUDGET_ENV = "CACHESIM_MAX_SWEEP_REQUESTS"
WORKERS_ENV = "CACHESIM_SWEEP_WORKERS"
DEFAULT_MAX_REQUESTS = 2e7
#: Runs one sweep may have in the app, whatever their size.
MAX_RUNS = 2000
MAX_REPS = 50
#: Query parameters of the share link, and the longest text each may hold.
URL_PARAMS = ("sweep.x", "sweep.xv", "sweep.y", "sweep.yv", "sweep.reps", "sweep.metric")
MAX_PARAM_CHARS = 200
POLL_S = 0.5
NONE = "(none)"
SECTIONS = (None, "workload", "cluster", "database", "network", "client", "chaos")


# -- the definition -----------------------------------------------------------------------


@dataclass(frozen=True)
class SweepDef:
    """What the user asked for: parameter(s), their values as text, replications, the
    metric shown."""

    x: str = "cluster.capacity"
    xv: str = "100:3200:*2"
    y: str = ""
    yv: str = ""
    reps: int = 3
    metric: str = "hit_ratio"

    def grid(self) -> dict[str, str]:
        grid = {self.x: self.xv}
        if self.y:
            if self.y == self.x:
                raise ConfigError(f"{self.y}: choose two different parameters")
            grid[self.y] = self.yv
        return grid


def sweepable_keys() -> list[str]:
    """Dotted keys a sweep can vary: every number, flag and choice except the seed
    (the replications set it)."""
    keys = []
    for section in SECTIONS:
        for key in section_keys(section):
            if key not in ("seed", "name", "description") and spec_of(key).kind in ("int", "float", "bool", "choice"):
                keys.append(key)
    return keys


def default_values(key: str, cfg: SimConfig) -> str:
    """A starting list of values for ``key`` around the current config's value."""
    spec, value = spec_of(key), cfg.flat().get(key)
    if spec.kind == "choice":
        return ",".join(spec.options)
    if spec.kind == "bool":
        return "false,true"
    if spec.kind == "int":
        v = max(1, int(value or 1))
        return ",".join(str(x) for x in sorted({max(1, v // 2), v, v * 2}))
    v = float(value or 0.0)
    if v == 0:
        return "0"
    return ",".join(f"{x:g}" for x in (v / 2, v, v * 2))


def encode_def(d: SweepDef) -> dict[str, str]:
    params = {"sweep.x": d.x, "sweep.xv": d.xv, "sweep.reps": str(d.reps), "sweep.metric": d.metric}
    if d.y:
        params |= {"sweep.y": d.y, "sweep.yv": d.yv}
    return params


def decode_def(params: Mapping[str, str]) -> SweepDef:
    """A definition from a link's parameters; raises ConfigError naming the parameter."""
    keys = sweepable_keys()
    for name in URL_PARAMS:
        if len(params.get(name, "")) > MAX_PARAM_CHARS:
            raise ConfigError(f"{name}: at most {MAX_PARAM_CHARS} characters")
    d = SweepDef()
    x, y = params.get("sweep.x", d.x), params.get("sweep.y", "")
    for name, key in (("sweep.x", x), ("sweep.y", y)):
        if key and key not in keys:
            raise ConfigError(f"{name}: {key!r} is not a parameter a sweep can vary")
    reps_text = params.get("sweep.reps", str(d.reps))
    try:
        reps = int(reps_text)
    except ValueError:
        raise ConfigError(f"sweep.reps: a whole number 1..{MAX_REPS}, got {reps_text!r}") from None
    if not 1 <= reps <= MAX_REPS:
        raise ConfigError(f"sweep.reps: a whole number 1..{MAX_REPS}, got {reps}")
    return SweepDef(
        x=x,
        xv=params.get("sweep.xv", d.xv),
        y=y,
        yv=params.get("sweep.yv", "") if y else "",
        reps=reps,
        metric=params.get("sweep.metric", d.metric),
    )


def take_link_params() -> None:
    """Before the sidebar reads the link: move the sweep's parameters out of the URL
    into the session (once per session), so the sidebar sees only the config's."""
    present = {k: st.query_params.get(k) for k in URL_PARAMS if k in st.query_params}
    for k in present:
        del st.query_params[k]
    if st.session_state.get(DEF_APPLIED):
        return
    st.session_state[DEF_APPLIED] = True
    if not present:
        return
    try:
        st.session_state[DEF] = decode_def(present)
        st.session_state["sweep.notice"] = ("info", "Sweep definition loaded from the link.")
    except ConfigError as err:
        st.session_state["sweep.notice"] = ("error", f"The link's sweep could not be used: {err}")


def get_def() -> SweepDef:
    if DEF not in st.session_state:
        st.session_state[DEF] = SweepDef()
    return st.session_state[DEF]


def _commit(field: str) -> None:
    value = st.session_state[f"sw:{field}"]
    if field == "y" and value == NONE:
        value = ""
    d = replace(get_def(), **{field: value})
    if field in ("x", "y") and value:  # a new parameter starts from values around the current config
        cfg = cs.last_valid()
        d = replace(d, **{f"{field}v": default_values(value, cfg)})
    st.session_state[DEF] = d


# -- budget -------------------------------------------------------------------------------


def _secret(name: str) -> Any:
    try:
        return st.secrets.get(name)
    except Exception:  # no secrets file: that is fine
        return None


def max_sweep_requests() -> float:
    """The request budget of one sweep: the environment, else the app's secrets, else
    DEFAULT_MAX_REQUESTS."""
    raw = os.environ.get(BUDGET_ENV) or _secret(BUDGET_ENV)
    if raw is None or str(raw).strip() == "":
        return DEFAULT_MAX_REQUESTS
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_MAX_REQUESTS
    return value if value > 0 and math.isfinite(value) else DEFAULT_MAX_REQUESTS


def budget_error(plan: SweepPlan, limit: float) -> str | None:
    """One line refusing a sweep over the budget, else None."""
    if plan.runs > MAX_RUNS:
        return f"This sweep has {plan.runs:,} runs; the app runs at most {MAX_RUNS:,} per sweep."
    requests = plan.requests()
    if requests > limit:
        return (
            f"This sweep would simulate {requests:,.0f} requests over {plan.runs:,} runs (rate_rps x duration_s "
            f"summed); the limit is {limit:,.0f}. Set {BUDGET_ENV} in the environment or the app's secrets "
            f"to raise it."
        )
    return None


# -- the job ------------------------------------------------------------------------------


def app_executor() -> Executor:
    """Dask when the server names a scheduler (DASK_SCHEDULER_ADDRESS), else local
    processes (CACHESIM_SWEEP_WORKERS of them, default all cores; 1 is serial)."""
    try:
        workers = int(os.environ.get(WORKERS_ENV, "0") or 0)
    except ValueError:
        workers = 0
    if workers == 1 and not os.environ.get("DASK_SCHEDULER_ADDRESS"):
        return SerialExecutor()
    return make_executor(workers or None)


class SweepJob:
    """A sweep running in a worker thread of this session, with its executor.

    No streamlit here: the page reads :attr:`progress`, calls :meth:`stop`, and shows
    :attr:`result` once :attr:`done`."""

    def __init__(self, plan: SweepPlan, definition: SweepDef, executor: Executor) -> None:
        self.plan = plan
        self.definition = definition
        self.executor = executor
        self.progress = Progress(0, plan.runs, 0, 0.0)
        self.result: SweepResult | None = None
        self.error: str | None = None
        self.references: dict[str, pd.DataFrame | None] = {}  # by metric, computed once
        self._stop = threading.Event()
        self._done = threading.Event()
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._work, name="cachesim-sweep", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        try:
            self.result = run_sweep(self.plan, self.executor, progress=self._on_progress, stop=self._stop)
        except Exception as exc:  # shown on the page, one line
            self.error = " ".join(f"{type(exc).__name__}: {exc}".split())
        finally:
            try:
                self.executor.close()
            finally:
                self._done.set()

    def _on_progress(self, progress: Progress) -> None:
        self.progress = progress

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() and not self.done

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)


def start_job(cfg: SimConfig, d: SweepDef) -> tuple[SweepJob | None, str | None]:
    """Validate and start a sweep of ``cfg``; (job, None) or (None, one-line error)."""
    try:
        plan = plan_sweep(cfg, d.grid(), d.reps)
    except ValidationError as err:
        return None, format_validation_error(err)
    except ValueError as err:
        return None, str(err)
    refused = budget_error(plan, max_sweep_requests()) or budget.check_sweep(
        [cfg for _, cfg in plan.points] * plan.replications, uploads=list(st.session_state.get("traces") or ())
    )
    if refused:
        return None, refused
    old = st.session_state.get(JOB)
    if old is not None and not old.done:
        old.stop()
    try:
        executor = app_executor()
    except ExecutorError as err:
        return None, str(err)
    job = SweepJob(plan, d, executor)
    st.session_state[JOB] = job
    return job, None


# -- charts -------------------------------------------------------------------------------


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def line_chart(agg: pd.DataFrame, x: str, metric: str, reference: pd.DataFrame | None = None) -> alt.LayerChart:
    """Mean of ``metric`` against ``x`` with its 95% CI as a band (numeric x) or error
    bars (choices), and the analytic reference as a dashed line where there is one."""
    data = agg[[x, "runs", f"{metric}_mean", f"{metric}_lo", f"{metric}_hi", f"{metric}_ci"]].rename(
        columns={x: "x", f"{metric}_mean": "mean", f"{metric}_lo": "lo", f"{metric}_hi": "hi", f"{metric}_ci": "ci"}
    )
    numeric = _numeric(data["x"])
    positive = numeric and bool((data["x"] > 0).all())
    log = positive and data["x"].max() / data["x"].min() >= 10
    xenc = alt.X(
        "x:Q" if numeric else "x:N",
        title=x,
        sort=None,
        scale=alt.Scale(type="log", domain=[float(data["x"].min()), float(data["x"].max())], nice=False)
        if log
        else alt.Undefined,
    )
    tooltip = [
        alt.Tooltip("x", title=x),
        alt.Tooltip("mean:Q", title=f"{metric} mean", format=".4g"),
        alt.Tooltip("ci:Q", title="95% CI ±", format=".3g"),
        alt.Tooltip("runs:Q", title="runs"),
    ]
    base = alt.Chart(data).encode(x=xenc)
    band = (base.mark_area(opacity=0.25) if numeric else base.mark_rule(strokeWidth=2)).encode(
        y=alt.Y("lo:Q", title=metric, scale=alt.Scale(zero=False)), y2="hi:Q"
    )
    line = base.mark_line(point=True).encode(y="mean:Q", tooltip=tooltip)
    layers = [band, line]
    if reference is not None and len(reference):
        ref = (
            alt.Chart(reference)
            .mark_line(strokeDash=[6, 4], color="#dc2626")
            .encode(
                x=alt.X("x:Q" if numeric else "x:N"),
                y="value:Q",
                tooltip=[
                    alt.Tooltip("x", title=x),
                    alt.Tooltip("value:Q", title="theory", format=".4g"),
                    alt.Tooltip("label:N", title="reference"),
                ],
            )
        )
        layers.append(ref)
    return alt.layer(*layers).properties(
        title=f"{metric}: mean and 95% CI over replications",
        height=360,
        padding={"left": 12, "right": 8, "top": 4, "bottom": 4},
    )


def heatmap(agg: pd.DataFrame, x: str, y: str, metric: str) -> alt.LayerChart:
    """Mean of ``metric`` over two parameters, each cell labelled; CI in the tooltip."""
    data = agg[[x, y, "runs", f"{metric}_mean", f"{metric}_ci"]].rename(
        columns={x: "x", y: "y", f"{metric}_mean": "mean", f"{metric}_ci": "ci"}
    )
    data["label"] = data["mean"].map(lambda v: "" if pd.isna(v) else f"{v:.3g}")
    tooltip = [
        alt.Tooltip("x", title=x),
        alt.Tooltip("y", title=y),
        alt.Tooltip("mean:Q", title=f"{metric} mean", format=".4g"),
        alt.Tooltip("ci:Q", title="95% CI ±", format=".3g"),
        alt.Tooltip("runs:Q", title="runs"),
    ]
    base = alt.Chart(data).encode(x=alt.X("x:O", title=x, sort=None), y=alt.Y("y:O", title=y, sort=None))
    cells = base.mark_rect().encode(color=alt.Color("mean:Q", title=metric), tooltip=tooltip)
    text = base.mark_text(fontSize=11).encode(text="label:N", tooltip=tooltip)
    return alt.layer(cells, text).properties(title=f"{metric}: mean over replications", height=360)


def references(plan: SweepPlan, metric: str) -> pd.DataFrame | None:
    """The analytic value of ``metric`` at each point of a one-parameter sweep, where
    theory applies (Che for LRU's hit ratio, M/M/c for the mean latency)."""
    if len(plan.keys) != 1:
        return None
    rows = []
    for point, cfg in plan.points:
        ref = reference_value(cfg, metric)
        if ref is not None:
            rows.append({"x": point[plan.keys[0]], "value": ref[0], "label": ref[1]})
    return pd.DataFrame(rows) if rows else None


# -- the page -----------------------------------------------------------------------------


def render_sweep_page(cfg: SimConfig | None) -> None:
    st.title("Sweep")
    st.caption(
        "Vary one or two parameters of the sidebar's config, run each point several times with "
        "independent seeds, and see the mean and its 95% confidence interval."
    )
    notice = st.session_state.pop("sweep.notice", None)
    if notice:
        (st.error if notice[0] == "error" else st.info)(plain(notice[1], None))
    if cfg is None:
        st.warning("The config in the sidebar has errors; fix them to run a sweep.")
        return
    _definition_form(cfg)
    job: SweepJob | None = st.session_state.get(JOB)
    if job is not None and not job.done:
        _progress(job)
    elif job is not None:
        _results(job)


def _definition_form(cfg: SimConfig) -> SweepDef:
    d = get_def()
    keys = sweepable_keys()
    c1, c2, c3 = st.columns([2, 3, 1])
    st.session_state["sw:x"] = d.x if d.x in keys else keys[0]
    c1.selectbox(
        "Parameter",
        keys,
        key="sw:x",
        on_change=_commit,
        args=("x",),
        help="Any number, flag or choice of the config (dotted name).",
    )
    st.session_state["sw:xv"] = d.xv
    c2.text_input(
        "Values",
        key="sw:xv",
        on_change=_commit,
        args=("xv",),
        max_chars=MAX_PARAM_CHARS,
        help=f"A list (2,4,8 or lru,fifo), a range lo:hi:step (100:1000:100) or a geometric range "
        f"lo:hi:*factor (100:3200:*2); at most {MAX_VALUES} values.",
    )
    st.session_state["sw:reps"] = d.reps
    c3.number_input(
        "Replications",
        min_value=1,
        max_value=MAX_REPS,
        step=1,
        key="sw:reps",
        on_change=_commit,
        args=("reps",),
        help="Runs per point, each with its own seed derived from the config's seed.",
    )
    c1, c2, _ = st.columns([2, 3, 1])
    st.session_state["sw:y"] = d.y if d.y in keys else NONE
    c1.selectbox(
        "Second parameter (optional)",
        [NONE, *keys],
        key="sw:y",
        on_change=_commit,
        args=("y",),
        help="A second parameter makes a grid, shown as a heatmap.",
    )
    if d.y:
        st.session_state["sw:yv"] = d.yv
        c2.text_input("Its values", key="sw:yv", on_change=_commit, args=("yv",), max_chars=MAX_PARAM_CHARS)
    job: SweepJob | None = st.session_state.get(JOB)
    running = job is not None and not job.done
    limit = max_sweep_requests()
    b1, b2 = st.columns([1, 4], vertical_alignment="center")
    go = b1.button("Run sweep", type="primary", icon=":material/play_arrow:", key="sw:run", disabled=running)
    b2.caption(f"Budget: {limit:,.0f} simulated requests and {MAX_RUNS:,} runs per sweep.")
    if go:
        _, error = start_job(cfg, get_def())
        if error:
            st.error(plain(error, None), icon=":material/error:")
    return get_def()


@st.fragment(run_every=POLL_S)
def _progress(job: SweepJob) -> None:
    if job.done:
        st.rerun()  # the whole page, to show the result
    p = job.progress
    eta = p.eta_s
    text = (
        f"{p.done}/{p.total} runs"
        + (f", {p.failed} failed" if p.failed else "")
        + (f", about {eta:,.0f} s left" if eta is not None else "")
    )
    st.progress(p.fraction, text=("Stopping after the runs in progress… " if job.stopping else "") + text)
    st.caption(f"Running on {job.executor.describe()}.")
    if st.button(
        "Stop",
        icon=":material/stop:",
        key="sw:stop",
        disabled=job.stopping,
        help="Stop the sweep; the runs that finished are kept.",
    ):
        job.stop()


def _results(job: SweepJob) -> None:
    if job.error is not None:
        st.error(plain(f"The sweep stopped with an error: {job.error}", None))
        return
    res = job.result
    assert res is not None
    d, plan = job.definition, job.plan
    head = f"{len(res.table):,} runs on {res.executor} in {res.elapsed_s:,.1f} s"
    if res.cancelled:
        st.warning(f"Stopped: {head} kept.", icon=":material/stop:")
    else:
        st.success(f"Finished: {head}.", icon=":material/check:")
    if res.failures:
        with st.expander(f"{len(res.failures)} runs failed", icon=":material/error:"):
            for f in res.failures[:50]:
                st.text(", ".join(f"{k}={v}" for k, v in f.items() if k != "error") + f": {f['error']}")
    if res.table.empty:
        st.info("No run finished.")
        return
    metrics = metric_columns(res.table, plan.keys)
    st.session_state["sw:metric"] = d.metric if d.metric in metrics else metrics[0]
    metric = st.selectbox("Metric", metrics, key="sw:metric", on_change=_commit_metric, args=(job,))
    agg = res.aggregate([metric])
    if len(plan.keys) == 1:
        if metric not in job.references:
            job.references[metric] = references(plan, metric)
        ref = job.references[metric]
        st.altair_chart(line_chart(agg, plan.keys[0], metric, ref), width="stretch")
        if ref is not None:
            st.caption(f"Dashed: {ref['label'].iloc[0]}, where theory applies.")
    else:
        st.altair_chart(heatmap(agg, plan.keys[0], plan.keys[1], metric), width="stretch")
    st.dataframe(agg, hide_index=True, width="stretch")
    _downloads(job)
    link = share.link(share.encode(plan.base, cs.scenario()) | encode_def(d))
    st.caption("Share link: opens this config and this sweep's definition (run it again to see the result).")
    st.code(link, language=None, wrap_lines=True)


def _commit_metric(job: SweepJob) -> None:
    metric = st.session_state["sw:metric"]
    job.definition = replace(job.definition, metric=metric)
    st.session_state[DEF] = replace(get_def(), metric=metric)


def _downloads(job: SweepJob) -> None:
    res = job.result
    assert res is not None
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download CSV",
        res.table.to_csv(index=False).encode(),
        "sweep.csv",
        "text/csv",
        key="sw:csv",
        icon=":material/download:",
    )
    try:
        data = parquet_bytes(res.table)
    except ConfigError as err:
        c2.caption(str(err))
    else:
        c2.download_button(
            "Download Parquet",
            data,
            "sweep.parquet",
            "application/octet-stream",
            key="sw:parquet",
            icon=":material/download:",
        )


__all__ = ["SweepDef", "SweepJob", "render_sweep_page", "take_link_params"]
