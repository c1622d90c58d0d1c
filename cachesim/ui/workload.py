"""The Workload page: a trace (uploaded or built in), its key popularity, its reuse
distances, and miss-ratio curves with the capacity that gives a 90% hit ratio; one
button puts that trace and capacity into the sidebar config.

Uploads are parsed from memory (never written to disk, never named by a path), bounded
by ``CACHESIM_MAX_UPLOAD_MB`` (environment or ``st.secrets``; default 20 MB) and by
:data:`MAX_REQUESTS`. A parsed upload is kept in ``st.session_state["traces"][NAME]``,
which is what ``workload.trace = "upload:NAME"`` refers to. A bad file leaves one
error line and changes nothing else. Work per page view is bounded: the curves are
computed once per (trace, policy, unit, sampling) and kept in the session; replays of
traces longer than :data:`REPLAY_BUDGET` requests are SHARDS-sampled down to it.

The analysis helpers at the top are plain functions (no Streamlit) and tested as such.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from ..mrc import MissRatioCurve, miss_ratio_curve, stack_distances
from ..policies import EVICTION_POLICIES, ONLINE_EVICTION_NAMES
from ..samples import SAMPLE_TRACES, sample_trace
from ..traces import Trace, TraceError, read_trace_bytes
from . import config_state as cs

#: ``st.session_state`` key of the uploaded traces (name -> Trace).
TRACES = "traces"
_DIGESTS = "workload.digests"  # upload name -> content digest
_CURVES = "workload.curves"  # (trace id, policy, unit, rate, points) -> MissRatioCurve
_ANALYSIS = "workload.analysis"  # trace id -> TraceSummary
_LAST_UPLOAD = "workload.last_upload"  # the file_id already parsed
_MESSAGE = "workload.message"  # ("error" | "success", text) shown once
DEFAULT_UPLOAD_MB = 20
#: Longest trace the app accepts (the CLI has no such limit).
MAX_REQUESTS = 2_000_000
#: Requests a non-LRU curve replays per size at most (longer traces are sampled).
REPLAY_BUDGET = 200_000
CURVE_POINTS = 14
MAX_UPLOADS = 5  # traces kept per session
TARGET_HIT_RATIO = 0.9


# -- analysis (no Streamlit) ---------------------------------------------------------------


@dataclass(frozen=True)
class TraceSummary:
    """What the page shows about a trace before any curve."""

    requests: int
    objects: int
    one_hit_share: float  # of the objects, requested exactly once
    zipf_alpha: float  # fitted on the rank-frequency plot
    mean_size: float
    popularity: pd.DataFrame  # rank, requests (log-spaced ranks), fit
    reuse: pd.DataFrame  # distinct objects in between (log2 bins), share of requests
    cold_share: float  # first requests, the miss-ratio floor


def fit_zipf(counts: np.ndarray) -> tuple[float, float]:
    """(alpha, log10 intercept) of ``count ~ c / rank^alpha``, fitted by least squares
    on log-spaced ranks of the objects requested at least twice (the singletons' tail
    is flat and would drag the slope); (0, log10 max) if there is nothing to fit."""
    ordered = np.sort(np.asarray(counts))[::-1]
    top = ordered[ordered >= 2]
    if top.shape[0] < 3:
        return 0.0, float(np.log10(max(int(ordered[0]) if ordered.size else 1, 1)))
    ranks = np.unique(np.geomspace(1, top.shape[0], num=min(60, top.shape[0])).astype(np.int64))
    x, y = np.log10(ranks), np.log10(top[ranks - 1])
    slope, intercept = np.polyfit(x, y, 1)
    return float(max(-slope, 0.0)), float(intercept)


def summarise(trace: Trace) -> TraceSummary:
    """Popularity, reuse distances and basic counts of ``trace``."""
    _, counts = np.unique(trace.keys, return_counts=True)
    alpha, intercept = fit_zipf(counts)
    ordered = np.sort(counts)[::-1]
    ranks = np.unique(np.geomspace(1, ordered.shape[0], num=min(300, ordered.shape[0])).astype(np.int64))
    popularity = pd.DataFrame(
        {
            "rank": ranks,
            "requests": ordered[ranks - 1],
            "fit": 10 ** (intercept - alpha * np.log10(ranks)),
        }
    )
    dist = stack_distances(trace.keys)
    seen = dist[dist > 0]
    n = len(trace)
    if seen.size:
        top = int(np.ceil(np.log2(seen.max() + 1)))
        edges = 2 ** np.arange(0, top + 1)
        hist, _ = np.histogram(seen, bins=np.append(edges, edges[-1] * 2))
        reuse = pd.DataFrame(
            {
                "from": edges[: hist.shape[0]],
                "bin": [f"{a:,}-{2 * a - 1:,}" if a > 1 else "1" for a in edges[: hist.shape[0]]],
                "share": hist / n,
            }
        )
        reuse = reuse[reuse["share"] > 0].reset_index(drop=True)
    else:
        reuse = pd.DataFrame({"from": [], "bin": [], "share": []})
    return TraceSummary(
        requests=n,
        objects=int(counts.shape[0]),
        one_hit_share=float((counts == 1).sum() / counts.shape[0]) if counts.size else 0.0,
        zipf_alpha=alpha,
        mean_size=float(trace.sizes.mean()) if n else 0.0,
        popularity=popularity,
        reuse=reuse,
        cold_share=float(counts.shape[0] / n) if n else 0.0,
    )


def curve_for_app(
    trace: Trace, policy: str, *, use_bytes: bool, rate: float | None, points: int = CURVE_POINTS
) -> MissRatioCurve:
    """A curve whose cost is bounded: exact LRU always (or SHARDS at ``rate``); other
    policies replay at most :data:`REPLAY_BUDGET` requests per size, sampling longer
    traces (in this process: a page must not fork)."""
    from ..mrc import default_sizes

    sizes = default_sizes(trace, use_bytes=use_bytes, points=points)
    if policy != "lru" and (rate is None or rate * len(trace) > REPLAY_BUDGET):
        budget = REPLAY_BUDGET / max(len(trace), 1)
        rate = None if budget >= 1 else budget
    return miss_ratio_curve(trace, policy, sizes, use_bytes=use_bytes, sample_rate=rate, jobs=1)


def per_node_capacity(total: int, nodes: int) -> int:
    """The per-node capacity that gives ``nodes`` nodes ``total`` together."""
    return max(1, math.ceil(total / max(nodes, 1)))


def upload_limit_mb(secrets: Mapping[str, Any] | None, env: Mapping[str, str]) -> int:
    """``CACHESIM_MAX_UPLOAD_MB`` from the environment, else the secrets, else 20;
    a value that is not a whole number in [1, 1024] is ignored."""
    for source in (env, secrets or {}):
        raw = source.get("CACHESIM_MAX_UPLOAD_MB")
        if raw is None:
            continue
        try:
            value = int(str(raw).strip())
        except ValueError:
            continue
        if 1 <= value <= 1024:
            return value
    return DEFAULT_UPLOAD_MB


def clean_name(name: str) -> str:
    """An upload's display name: one line, at most 60 characters, never empty."""
    text = " ".join(str(name).split())[:60]
    return text or "upload"


def parse_upload(data: bytes, name: str, limit_mb: int) -> Trace:
    """A trace from uploaded bytes, or TraceError (one line)."""
    limit = limit_mb * 1024 * 1024
    if len(data) > limit:
        raise TraceError(f"{name}: {len(data) / 1e6:.1f} MB is over the {limit_mb} MB upload limit")
    trace = read_trace_bytes(data, name, max_bytes=8 * limit)
    if len(trace) > MAX_REQUESTS:
        raise TraceError(
            f"{name}: {len(trace):,} requests; the app takes at most {MAX_REQUESTS:,} "
            "(use `python -m cachesim mrc` for longer traces)"
        )
    return trace


# -- the page ------------------------------------------------------------------------------


def _secrets() -> Mapping[str, Any] | None:
    try:
        return dict(st.secrets)
    except Exception:  # no secrets file: the environment or the default
        return None


def _uploads() -> dict[str, Trace]:
    return st.session_state.setdefault(TRACES, {})


def _on_upload() -> None:
    """Parse a new upload once; a bad one leaves a message and changes nothing."""
    file = st.session_state.get("workload.upload")
    if file is None or st.session_state.get(_LAST_UPLOAD) == file.file_id:
        return
    st.session_state[_LAST_UPLOAD] = file.file_id
    name = clean_name(file.name)
    try:
        trace = parse_upload(file.getvalue(), name, upload_limit_mb(_secrets(), os.environ))
    except TraceError as err:
        st.session_state[_MESSAGE] = ("error", str(err))
        return
    uploads = _uploads()
    uploads.pop(name, None)
    while len(uploads) >= MAX_UPLOADS:
        uploads.pop(next(iter(uploads)))
    uploads[name] = trace
    st.session_state.setdefault(_DIGESTS, {})[name] = hashlib.blake2b(file.getvalue(), digest_size=12).hexdigest()
    st.session_state["workload.uploaded"] = name
    st.session_state[_MESSAGE] = ("success", f"Read {name}: {len(trace):,} requests.")


def _pick_trace() -> tuple[str, str, Trace] | None:
    """(spec, trace id, trace) of the chosen trace, or None."""
    source = st.radio("Trace", ["Built-in sample", "Upload"], key="workload.source", horizontal=True)
    if source == "Built-in sample":
        name = st.selectbox("Sample", list(SAMPLE_TRACES), key="workload.sample")
        st.caption(SAMPLE_TRACES[name])
        return f"sample:{name}", f"sample:{name}", sample_trace(name)
    limit = upload_limit_mb(_secrets(), os.environ)
    st.file_uploader(
        f"CSV (a key column; optional time, size, op) or oracleGeneral binary, optionally "
        f"zstd-compressed; at most {limit} MB",
        key="workload.upload",
        on_change=_on_upload,
        max_upload_size=limit,
    )
    uploads = _uploads()
    if not uploads:
        st.info("No trace uploaded yet in this session.")
        return None
    names = list(uploads)
    if st.session_state.get("workload.uploaded") not in names:
        st.session_state["workload.uploaded"] = names[-1]
    name = st.selectbox("Uploaded traces (this session)", names, key="workload.uploaded")
    digest = st.session_state.get(_DIGESTS, {}).get(name, "")
    return f"upload:{name}", f"upload:{name}:{digest}", uploads[name]


def _summary(trace_id: str, trace: Trace) -> TraceSummary:
    memo = st.session_state.setdefault(_ANALYSIS, {})
    if trace_id not in memo:
        memo.clear()  # one trace's analysis at a time: bounded memory
        memo[trace_id] = summarise(trace)
    return memo[trace_id]


def _curve(trace_id: str, trace: Trace, policy: str, use_bytes: bool, rate: float | None) -> MissRatioCurve:
    memo = st.session_state.setdefault(_CURVES, {})
    key = (trace_id, policy, use_bytes, rate, CURVE_POINTS)
    if key not in memo:
        if len(memo) > 40:
            memo.clear()
        memo[key] = curve_for_app(trace, policy, use_bytes=use_bytes, rate=rate)
    return memo[key]


def _popularity_chart(summary: TraceSummary) -> None:
    spec = {
        "title": f"Key popularity (rank-frequency, log-log); fitted Zipf alpha = {summary.zipf_alpha:.2f}",
        "layer": [
            {
                "mark": {"type": "point", "filled": True, "size": 18},
                "encoding": {
                    "x": {
                        "field": "rank",
                        "type": "quantitative",
                        "scale": {"type": "log"},
                        "title": "popularity rank",
                    },
                    "y": {"field": "requests", "type": "quantitative", "scale": {"type": "log"}, "title": "requests"},
                    "tooltip": [{"field": "rank"}, {"field": "requests"}],
                },
            },
            {
                "mark": {"type": "line", "color": "#dc2626", "strokeDash": [4, 3]},
                "encoding": {
                    "x": {"field": "rank", "type": "quantitative", "scale": {"type": "log"}},
                    "y": {"field": "fit", "type": "quantitative", "scale": {"type": "log"}},
                },
            },
        ],
    }
    st.vega_lite_chart(summary.popularity, spec, width="stretch")


def _reuse_chart(summary: TraceSummary) -> None:
    spec = {
        "title": "Reuse distance (distinct objects requested in between)",
        "mark": "bar",
        "encoding": {
            "x": {"field": "bin", "type": "ordinal", "sort": None, "title": "distinct objects in between"},
            "y": {"field": "share", "type": "quantitative", "axis": {"format": "%"}, "title": "share of requests"},
            "tooltip": [{"field": "bin"}, {"field": "share", "format": ".2%"}],
        },
    }
    st.vega_lite_chart(summary.reuse, spec, width="stretch")


def _curve_chart(curves: list[MissRatioCurve], unit: str) -> None:
    rows = [
        {"policy": c.policy, "size": int(s), "miss_ratio": float(m)}
        for c in curves
        for s, m in zip(c.sizes, c.miss_ratios, strict=True)
    ]
    marks = [{"policy": c.policy, "size": cap} for c in curves if (cap := c.capacity_for(TARGET_HIT_RATIO)) is not None]
    spec: dict[str, Any] = {
        "title": f"Miss-ratio curves; dashed: miss ratio {1 - TARGET_HIT_RATIO:.0%}, "
        "rules: the capacity that reaches it",
        "layer": [
            {
                "data": {"name": "curves"},
                "mark": {"type": "line", "point": True},
                "encoding": {
                    "x": {
                        "field": "size",
                        "type": "quantitative",
                        "scale": {"type": "log"},
                        "title": f"cache size ({unit})",
                    },
                    "y": {
                        "field": "miss_ratio",
                        "type": "quantitative",
                        "scale": {"domain": [0, 1]},
                        "title": "miss ratio",
                    },
                    "color": {"field": "policy", "type": "nominal"},
                    "tooltip": [{"field": "policy"}, {"field": "size"}, {"field": "miss_ratio", "format": ".4f"}],
                },
            },
            {
                "data": {"values": [{"y": 1 - TARGET_HIT_RATIO}]},
                "mark": {"type": "rule", "strokeDash": [4, 3], "color": "#6b7280"},
                "encoding": {"y": {"field": "y", "type": "quantitative"}},
            },
        ],
        "datasets": {"curves": rows},
    }
    if marks:
        spec["layer"].append(
            {
                "data": {"values": marks},
                "mark": {"type": "rule", "strokeWidth": 2},
                "encoding": {
                    "x": {"field": "size", "type": "quantitative"},
                    "color": {"field": "policy", "type": "nominal"},
                    "tooltip": [{"field": "policy"}, {"field": "size", "title": "capacity"}],
                },
            }
        )
    st.vega_lite_chart(spec, width="stretch")


def _apply(spec: str, policy: str, per_node: int, use_bytes: bool = False) -> None:
    field, other = (
        ("cluster.capacity_bytes", "cluster.capacity") if use_bytes else ("cluster.capacity", "cluster.capacity_bytes")
    )
    cs.set_value("workload.trace", spec)
    cs.set_value(field, per_node)
    cs.set_value(other, 0)  # exactly one capacity binds
    cs.set_value("cluster.eviction", policy)
    if use_bytes:
        cs.set_value("workload.size", "trace")  # the trace's own sizes fill the nodes
    st.session_state[_MESSAGE] = (
        "success",
        f"Sidebar config set: workload.trace = {spec}, {field} = {per_node:,} per node, "
        f"cluster.eviction = {policy}. Press Run simulation in the sidebar.",
    )


def render_workload_page() -> None:
    st.title("Workload")
    st.caption("A trace's popularity and reuse, and how big a cache must be for it.")
    message_slot = st.empty()
    picked = _pick_trace()
    message = st.session_state.pop(_MESSAGE, None)
    if message:  # plain text: never rendered as Markdown
        (message_slot.error if message[0] == "error" else message_slot.success)(
            message[1], icon=":material/error:" if message[0] == "error" else ":material/check:"
        )
    if picked is None:
        return
    spec, trace_id, trace = picked
    summary = _summary(trace_id, trace)
    cols = st.columns(5)
    cols[0].metric("Requests", f"{summary.requests:,}")
    cols[1].metric("Objects", f"{summary.objects:,}")
    cols[2].metric("Zipf alpha (fit)", f"{summary.zipf_alpha:.2f}")
    cols[3].metric("Seen once", f"{summary.one_hit_share:.1%}", help="Share of objects requested exactly once.")
    cols[4].metric(
        "Miss-ratio floor", f"{summary.cold_share:.1%}", help="First requests: no cache, however big, avoids them."
    )
    left, right = st.columns(2)
    with left:
        _popularity_chart(summary)
    with right:
        _reuse_chart(summary)

    st.subheader("Miss-ratio curves")
    c1, c2, c3 = st.columns([3, 1, 1])
    policies = c1.multiselect(
        "Policies", list(EVICTION_POLICIES), default=["lru", "s3fifo"], key="workload.policies", max_selections=5
    )
    unit = c2.radio("Cache size in", ["objects", "bytes"], key="workload.unit", horizontal=True)
    rates = {"exact": None, "SHARDS 10%": 0.1, "SHARDS 1%": 0.01}
    rate_label = c3.selectbox(
        "LRU curve", list(rates), key="workload.rate", help="Exact from stack distances, or SHARDS spatial sampling."
    )
    if not policies:
        st.info("Pick at least one policy.")
        return
    use_bytes = unit == "bytes"
    with st.spinner("Computing the curves..."):
        curves = [_curve(trace_id, trace, p, use_bytes, rates[rate_label]) for p in policies]
    _curve_chart(curves, unit)
    table = pd.DataFrame(
        {
            "policy": [c.policy for c in curves],
            "method": [c.method + (f" ({c.sample_rate:g})" if c.method == "shards" else "") for c in curves],
            f"capacity for a {TARGET_HIT_RATIO:.0%} hit ratio ({unit})": [
                f"{cap:,}" if (cap := c.capacity_for(TARGET_HIT_RATIO)) is not None else "not reached" for c in curves
            ],
            "lowest miss ratio": [float(c.miss_ratios.min()) for c in curves],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")

    st.subheader("Run the cluster on this trace")
    runnable = [c for c in curves if c.policy in ONLINE_EVICTION_NAMES]
    reached = [c for c in runnable if c.capacity_for(TARGET_HIT_RATIO) is not None]
    if not reached:
        st.info(f"No live policy reaches a {TARGET_HIT_RATIO:.0%} hit ratio on this trace (Belady is offline only).")
        return
    choice = st.selectbox("Policy", [c.policy for c in reached], key="workload.run_policy")
    curve = next(c for c in reached if c.policy == choice)
    total = int(curve.capacity_for(TARGET_HIT_RATIO) or 1)
    nodes = int(cs.values().get("cluster.nodes", 1) or 1)
    per_node = per_node_capacity(total, nodes)
    what = "bytes" if use_bytes else "objects"
    st.caption(
        f"{choice} reaches a {TARGET_HIT_RATIO:.0%} hit ratio with {total:,} {what}; the "
        f"{nodes} nodes of the sidebar config share the keys, so each gets {per_node:,}."
    )
    st.button(
        f"Use this trace with {per_node:,} {what} per node",
        key="workload.apply",
        type="primary",
        on_click=_apply,
        args=(spec, choice, per_node, use_bytes),
        icon=":material/settings:",
    )
