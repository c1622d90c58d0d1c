"""Derived metrics: every figure computed from a run's counts is defined here once.

The observer, the snapshot log and the live ring buffers keep counts (hits, misses,
completed, failed, database reads and writes, each per snapshot window) and the
latency percentiles; the ratios and rates are made from them by the functions below,
on scalars (:func:`ratio`, :func:`per_second`) or on numpy columns (:func:`ratios`,
:func:`window_rates`). Results, the live page, the charts and the analyst all read
what these give and compute nothing of their own.

Undefined values: a ratio with nothing to divide by is NaN in a column (pandas and the
charts leave it out) and None in a summary or an answer (JSON has no NaN):
:func:`num` turns the one into the other. No streamlit, no pandas here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

#: The ratios and rates of a snapshot window, made from its counts by :func:`window_rates`.
WINDOW_RATES = ("hit_ratio", "byte_hit_ratio", "failure_ratio", "throughput_rps", "db_load_rps", "failures_rps")


# -- undefined values -------------------------------------------------------------------


def undefined(x: Any) -> bool:
    """Whether ``x`` is no value: None or NaN (a Python or numpy float)."""
    return x is None or (isinstance(x, (float, np.floating)) and math.isnan(x))


def num(x: Any) -> Any:
    """``x`` with NaN as None and numpy scalars as Python ones (for summaries and JSON);
    anything else as it is."""
    if undefined(x):
        return None
    if isinstance(x, np.generic):
        return x.item()
    return x


# -- scalars ----------------------------------------------------------------------------


def ratio(a: float, b: float) -> float | None:
    """``a / b``, None when ``b`` is 0 (a hit ratio with no lookups)."""
    return a / b if b else None


def per_second(count: float, seconds: float) -> float | None:
    """``count`` per ``seconds``; None over no time."""
    return count / seconds if seconds > 0 else None


# -- columns ----------------------------------------------------------------------------


def ratios(a: Any, b: Any) -> np.ndarray:
    """``a / b`` element-wise, NaN where ``b`` is 0."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.divide(a, b, out=np.full(np.broadcast(a, b).shape, np.nan), where=b > 0)


def _rates(c: Callable[[str], Any], div: Callable[[Any, Any], Any]) -> dict[str, Any]:
    """The formulas of :data:`WINDOW_RATES`, over ``c(name)`` (columns or scalars) with ``div``."""
    interval = c("interval_s")
    return {
        "hit_ratio": div(c("hits"), c("hits") + c("misses")),
        "byte_hit_ratio": div(c("hit_bytes"), c("hit_bytes") + c("miss_bytes")),
        "failure_ratio": div(c("failed"), c("completed") + c("failed")),
        "throughput_rps": div(c("completed"), interval),
        "db_load_rps": div(c("db_reads") + c("db_writes"), interval),
        "failures_rps": div(c("failed"), interval),
    }


def window_rates(cols: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """:data:`WINDOW_RATES` of each snapshot window from its counts (``cols``: a
    DataFrame or a mapping of arrays with interval_s, hits, misses, hit_bytes,
    miss_bytes, completed, failed, db_reads, db_writes):

    - hit_ratio = hits / (hits + misses); byte_hit_ratio the same in bytes;
    - failure_ratio = failed / (completed + failed) (latencies count completed requests
      only: read the two side by side);
    - throughput_rps = completed per second; db_load_rps = (db_reads + db_writes) per
      second; failures_rps = failed per second."""
    return _rates(lambda name: np.asarray(cols[name], dtype=float), ratios)


def window_row_rates(row: Mapping[str, float]) -> dict[str, float]:
    """:func:`window_rates` of one window (``row``: the same counts as numbers), NaN where
    undefined: what the observer puts in each Snapshot."""
    return _rates(row.__getitem__, _nan_ratio)


def _nan_ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def span_rates(cols: Mapping[str, Any]) -> dict[str, float | None]:
    """The ratios and rates over consecutive windows taken together (the live KPIs):
    counts summed first, then divided, so a quiet window weighs as little as it should.
    None where undefined."""
    s = {k: float(np.sum(np.asarray(v, dtype=float))) for k, v in cols.items()}
    seconds = s["interval_s"]
    return {
        "hit_ratio": ratio(s["hits"], s["hits"] + s["misses"]),
        "throughput_rps": per_second(s["completed"], seconds),
        "db_load_rps": per_second(s["db_reads"] + s["db_writes"], seconds),
    }


# -- nodes ------------------------------------------------------------------------------

#: Node states by code, in order of precedence (a down node is down, whatever else holds).
NODE_STATES = np.array(["down", "partitioned", "unrouted", "slow", "up"], dtype=object)
#: State codes from here on (slow, up) are nodes serving requests.
SERVING = 3


def node_state_codes(nodes: Mapping[str, Any]) -> np.ndarray:
    """Each node row's state as an index in :data:`NODE_STATES` (``nodes``: up, routed,
    partitioned, slow_factor)."""
    code = np.full(len(nodes["up"]), len(NODE_STATES) - 1, dtype=np.intp)
    code[np.asarray(nodes["slow_factor"], dtype=float) > 1] = 3
    code[~np.asarray(nodes["routed"], dtype=bool)] = 2
    code[np.asarray(nodes["partitioned"], dtype=bool)] = 1
    code[~np.asarray(nodes["up"], dtype=bool)] = 0
    return code


def node_state(nodes: Mapping[str, Any]) -> np.ndarray:
    """Each node row's state: down, partitioned, unrouted, slow or up (the first that
    holds, in that order)."""
    return NODE_STATES[node_state_codes(nodes)]


def node_fill(nodes: Mapping[str, Any]) -> np.ndarray:
    """Each node row's occupancy / capacity."""
    return ratios(nodes["occupancy"], nodes["capacity"])


# -- differences between runs -----------------------------------------------------------


def config_diff(
    flats: Mapping[str, Mapping[str, Any]], ignore: tuple[str, ...] = ("description",)
) -> list[tuple[str, list[Any]]]:
    """The dotted config keys whose values differ between runs (``flats``: run ->
    ``config.flat()``, in order), each with its value in every run (None where a run
    has no such key), sorted by key."""
    keys = sorted({k for f in flats.values() for k in f} - set(ignore))
    rows = []
    for k in keys:
        vals = [f.get(k) for f in flats.values()]
        if any(v != vals[0] for v in vals[1:]):
            rows.append((k, vals))
    return rows
