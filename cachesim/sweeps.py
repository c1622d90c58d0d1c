"""Sweeps: the same config over a grid of parameter values x replications, as data.

``sweep(cfg, {"cluster.nodes": [2, 4, 8]}, seeds=3)`` runs every grid point with 3
replications and returns one flat row per run: the varied values, the seed, the
replication and the run's summary. :func:`run_sweep` is the full form: an executor
(serial, local processes, Dask; see :mod:`cachesim.executors`), progress, a stop
event that keeps what finished, runs that raise reported with their parameters while
the others go on, and adaptive replications. :func:`aggregate` gives each point's
mean and Student-t confidence interval of every metric.

Replication ``r`` of every point runs with the seed :func:`replication_seed`
``(base_seed, r)``, drawn from ``numpy.random.SeedSequence(base_seed, spawn_key=(r,))``:
independent streams, the same in any process, and the same at every point (common
random numbers: two points differ by their parameters, not by luck). Every config is
validated before anything runs, so a bad value fails at once and no work is lost.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import ConfigError, SimConfig
from .engine import simulate
from .executors import Executor, ProcessExecutor, SerialExecutor

#: Summary figures that a sweep table shows first.
KEY_METRICS = (
    "hit_ratio",
    "latency_p50_ms",
    "latency_p99_ms",
    "throughput_rps",
    "failed",
    "stale_reads",
    "db_load_rps",
)
#: Values one parameter may take in a sweep.
MAX_VALUES = 200
#: Points of the compact time series a run sends back when asked (per column).
SERIES_POINTS = 50
SERIES_COLUMNS = ("t", "hit_ratio", "throughput_rps", "latency_p99_ms", "failed")
#: Columns of a sweep table that are not metrics.
RUN_COLUMNS = ("seed", "replication")


# -- the grid ---------------------------------------------------------------------------


def _number(text: str, key: str) -> int | float:
    text = text.strip().replace("_", "")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{key}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"{key}: {text!r} is not a finite number")
    return value


def parse_values(key: str, spec: str) -> list[Any]:
    """A parameter's values from text: a list ``2,4,8`` (any values, e.g. ``lru,fifo``),
    a linear range ``lo:hi:step`` or a geometric one ``lo:hi:*factor``, both including
    ``hi`` when they land on it (``100:1000:300`` -> 100, 400, 700, 1000; ``100:800:*2``
    -> 100, 200, 400, 800). Whole numbers stay integers. At most MAX_VALUES values."""
    text = spec.strip()
    if not text:
        raise ConfigError(f"{key}: no values (e.g. {key}=2,4,8 or {key}=100:1000:100)")
    if ":" not in text:
        values: list[Any] = [v.strip() for v in text.split(",") if v.strip()]
        if not values:
            raise ConfigError(f"{key}: no values (e.g. {key}=2,4,8)")
        if len(values) > MAX_VALUES:
            raise ConfigError(f"{key}: {len(values)} values; a sweep allows at most {MAX_VALUES} per parameter")
        return values
    parts = text.split(":")
    if len(parts) != 3:
        raise ConfigError(f"{key}: a range is lo:hi:step or lo:hi:*factor, got {text!r}")
    lo, hi = _number(parts[0], key), _number(parts[1], key)
    geometric = parts[2].strip().startswith("*")
    step = _number(parts[2].strip().lstrip("*"), key)
    if hi < lo:
        raise ConfigError(f"{key}: the range's end ({hi:g}) is below its start ({lo:g})")
    if geometric and (lo <= 0 or step <= 1):
        raise ConfigError(f"{key}: a geometric range needs a start > 0 and a factor > 1, got {text!r}")
    if not geometric and step <= 0:
        raise ConfigError(f"{key}: a range's step must be > 0, got {text!r}")
    if geometric:
        count = math.floor(math.log(hi / lo) / math.log(step) + 1e-9) + 1
    else:
        count = math.floor((hi - lo) / step + 1e-9) + 1
    if count > MAX_VALUES:
        raise ConfigError(f"{key}: {text!r} gives {count} values; a sweep allows at most {MAX_VALUES} per parameter")
    whole = all(isinstance(v, int) for v in (lo, hi, step))
    out = []
    for i in range(count):
        v = lo * step**i if geometric else lo + i * step
        out.append(int(v) if whole else round(float(v), 12))
    return out


def replication_seed(base_seed: int, replication: int) -> int:
    """The seed of replication ``replication``: independent of the others, the same in
    any process, whatever the number of replications (a prefix never changes)."""
    ss = np.random.SeedSequence(base_seed, spawn_key=(replication,))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: the base config, the grid keys, each point's values and
    config, and the seed of each replication (explicit seeds, or derived)."""

    base: SimConfig
    keys: tuple[str, ...]
    points: tuple[tuple[dict[str, Any], SimConfig], ...]
    replications: int
    seeds: tuple[int, ...] | None = None

    def seed(self, replication: int) -> int:
        if self.seeds is not None:
            return self.seeds[replication]
        return replication_seed(self.base.seed, replication)

    @property
    def runs(self) -> int:
        return len(self.points) * self.replications

    def requests(self, replications: int | None = None) -> float:
        """Expected simulated requests of the sweep (sum of rate_rps * duration_s over
        runs), with ``replications`` per point (default: the plan's)."""
        reps = self.replications if replications is None else replications
        return sum(cfg.total_requests() for _, cfg in self.points) * reps


def plan_sweep(config: SimConfig, grid: Mapping[str, Sequence[Any] | str], seeds: int | Sequence[int] = 1) -> SweepPlan:
    """Validate a grid (values as a list, or as text for :func:`parse_values`) and the
    replications: ``seeds`` is their number, or an explicit list of seeds. Raises
    ConfigError, or pydantic's ValidationError naming the field of a bad value."""
    if not grid:
        raise ConfigError("a sweep needs at least one parameter to vary")
    values: dict[str, list[Any]] = {}
    for key, vals in grid.items():
        if key in ("seed", *RUN_COLUMNS):
            raise ConfigError(f"{key}: the seed is set by the replications, not swept")
        if isinstance(vals, str):
            vals = parse_values(key, vals)
        if not isinstance(vals, Sequence) or len(vals) == 0:
            raise ConfigError(f"sweep values for {key!r} must be a non-empty list")
        if len(vals) > MAX_VALUES:
            raise ConfigError(f"{key}: {len(vals)} values; a sweep allows at most {MAX_VALUES} per parameter")
        values[key] = list(vals)
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(f"replications must be >= 1, got {seeds}")
        reps, seed_list = seeds, None
    else:
        seed_list = tuple(int(s) for s in seeds)
        if not seed_list:
            raise ConfigError("a sweep needs at least one seed")
        reps = len(seed_list)
    points = []
    for combo in itertools.product(*values.values()):
        cfg = config.with_overrides(dict(zip(values, combo, strict=True)))
        flat = cfg.flat()
        points.append(({k: flat[k] for k in values}, cfg))
    return SweepPlan(config, tuple(values), tuple(points), reps, seed_list)


def sweep_configs(
    config: SimConfig, grid: Mapping[str, Sequence[Any] | str], seeds: int | Sequence[int] = 1
) -> list[tuple[dict[str, Any], SimConfig]]:
    """Every (varied values + seed, validated config) of the grid, in grid order."""
    plan = plan_sweep(config, grid, seeds)
    out = []
    for point, cfg in plan.points:
        for r in range(plan.replications):
            seed = plan.seed(r)
            out.append((point | {"seed": seed}, cfg.model_copy(update={"seed": seed})))
    return out


# -- one run (what a worker does) -------------------------------------------------------


def run_task(task: tuple[dict[str, Any], bool]) -> dict[str, Any]:
    """Run one config (as a dict) and return its summary, plus a compact time series
    (SERIES_POINTS rows of SERIES_COLUMNS) when asked: a few hundred bytes to a few KB,
    never the whole RunResult."""
    config, series = task
    res = simulate(SimConfig.model_validate(config))
    out: dict[str, Any] = {"summary": {k: _plain(v) for k, v in res.summary.items()}}
    if series:
        ts = res.timeseries()
        step = max(1, math.ceil(len(ts) / SERIES_POINTS))
        cols = [c for c in SERIES_COLUMNS if c in ts.columns]
        out["series"] = {c: ts[c].to_numpy(dtype=float)[step - 1 :: step].astype(np.float32).tolist() for c in cols}
    return out


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


# -- running a sweep --------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """Where a sweep is: runs done (failed ones included) of the total planned so far."""

    done: int
    total: int
    failed: int
    elapsed_s: float

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace so far; None before the first run finishes."""
        if self.done == 0:
            return None
        return self.elapsed_s / self.done * (self.total - self.done)


@dataclass(frozen=True)
class Adaptive:
    """Add replications to each point until the 95% CI half-width of ``metric`` is at
    most ``target``, or the point has ``max_replications`` runs; ``step`` more at a time."""

    metric: str
    target: float
    max_replications: int = 30
    step: int = 2

    def __post_init__(self) -> None:
        if not self.target > 0:
            raise ConfigError(f"adaptive target must be > 0, got {self.target}")
        if self.max_replications < 2:
            raise ConfigError(f"adaptive max replications must be >= 2, got {self.max_replications}")
        if self.step < 1:
            raise ConfigError(f"adaptive step must be >= 1, got {self.step}")


@dataclass
class SweepResult:
    """What a sweep produced: one row per finished run (``table``), the runs that
    raised (``failures``: params, seed, replication, error), whether it was stopped."""

    keys: tuple[str, ...]
    table: pd.DataFrame
    failures: list[dict[str, Any]] = field(default_factory=list)
    cancelled: bool = False
    series: pd.DataFrame | None = None
    executor: str = ""
    elapsed_s: float = 0.0

    def aggregate(self, metrics: Sequence[str] | None = None, confidence: float = 0.95) -> pd.DataFrame:
        return aggregate(self.table, self.keys, metrics, confidence)


def run_sweep(
    plan: SweepPlan,
    executor: Executor | None = None,
    *,
    progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    adaptive: Adaptive | None = None,
    series: bool = False,
) -> SweepResult:
    """Run a plan on ``executor`` (default: serial). Rows come back in grid order
    (point, then replication), whatever the order runs finish in, so every executor
    gives the same table. A run that raises is recorded in ``failures`` and the sweep
    goes on; once ``stop`` is set, the result holds the runs that had finished."""
    executor = executor or SerialExecutor()
    started = time.perf_counter()
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    series_rows: dict[tuple[int, int], dict[str, list[float]]] = {}
    failures: dict[tuple[int, int], dict[str, Any]] = {}
    reps = [0] * len(plan.points)  # replications submitted so far, per point
    todo = [(p, r) for p in range(len(plan.points)) for r in range(plan.replications)]
    state = {"done": 0, "failed": 0, "total": len(todo)}
    cancelled = False

    def report() -> None:
        if progress is not None:
            progress(Progress(state["done"], state["total"], state["failed"], time.perf_counter() - started))

    report()
    while todo:
        for p, r in todo:
            reps[p] = max(reps[p], r + 1)
        tasks = (
            (i, (plan.points[p][1].model_copy(update={"seed": plan.seed(r)}).to_dict(), series))
            for i, (p, r) in enumerate(todo)
        )
        for out in executor.run(run_task, tasks, stop):
            p, r = todo[out.index]
            if out.error is not None:
                failures[(p, r)] = plan.points[p][0] | {"seed": plan.seed(r), "replication": r, "error": out.error}
                state["failed"] += 1
            else:
                rows[(p, r)] = out.value["summary"]
                if "series" in out.value:
                    series_rows[(p, r)] = out.value["series"]
            state["done"] += 1
            report()
        todo = _more_replications(plan, adaptive, rows, reps) if adaptive else []
        if stop is not None and stop.is_set():  # stopped: runs left, or rounds left
            cancelled = state["done"] < state["total"] or bool(todo)
            break
        state["total"] += len(todo)
        if todo:
            report()
    table = _table(plan, rows)
    return SweepResult(
        plan.keys,
        table,
        [failures[k] for k in sorted(failures)],
        cancelled,
        _series_table(plan, series_rows) if series else None,
        executor.describe(),
        time.perf_counter() - started,
    )


def _more_replications(
    plan: SweepPlan, adaptive: Adaptive, rows: Mapping[tuple[int, int], dict[str, Any]], reps: list[int]
) -> list[tuple[int, int]]:
    """The next round of an adaptive sweep: ``step`` more replications for each point
    whose CI is still too wide and that is under the cap (explicit seeds are the cap)."""
    cap = adaptive.max_replications if plan.seeds is None else min(adaptive.max_replications, len(plan.seeds))
    todo = []
    for p in range(len(plan.points)):
        values = [rows[(p, r)].get(adaptive.metric, math.nan) for r in range(reps[p]) if (p, r) in rows]
        _, half = mean_ci(values)
        if reps[p] < cap and not (half <= adaptive.target):  # NaN (fewer than 2 values) asks for more
            todo.extend((p, r) for r in range(reps[p], min(cap, reps[p] + adaptive.step)))
    return todo


def _table(plan: SweepPlan, rows: Mapping[tuple[int, int], dict[str, Any]]) -> pd.DataFrame:
    records = [plan.points[p][0] | {"seed": plan.seed(r), "replication": r} | rows[(p, r)] for p, r in sorted(rows)]
    if not records:
        return pd.DataFrame(columns=[*plan.keys, *RUN_COLUMNS])
    return pd.DataFrame.from_records(records)


def _series_table(plan: SweepPlan, series: Mapping[tuple[int, int], dict[str, list[float]]]) -> pd.DataFrame:
    frames = []
    for p, r in sorted(series):
        frame = pd.DataFrame(series[(p, r)])
        for k, v in plan.points[p][0].items():
            frame[k] = v
        frame["replication"] = r
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def sweep(
    config: SimConfig,
    grid: Mapping[str, Sequence[Any] | str],
    *,
    seeds: int | Sequence[int] = 1,
    processes: int | None = None,
    executor: Executor | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> pd.DataFrame:
    """Run the grid; one row per run (varied values, seed, replication, summary).
    ``seeds``: replications per point (seeds derived from the config's seed) or an
    explicit list. Runs go to ``executor``, else to ``processes`` local worker processes
    (default: all cores; 1 is serial); each run is deterministic, so the table is the
    same either way. A run that raises is left out with a warning naming its values."""
    plan = plan_sweep(config, grid, seeds)
    own = executor is None
    if executor is None:
        workers = min(processes or os.cpu_count() or 1, plan.runs)
        executor = SerialExecutor() if workers <= 1 else ProcessExecutor(workers)
    try:
        result = run_sweep(plan, executor, progress=progress)
    finally:
        if own:
            executor.close()
    for f in result.failures:
        warnings.warn(f"sweep run failed: {failure_text(f)}", RuntimeWarning, stacklevel=2)
    return result.table


def failure_text(failure: Mapping[str, Any]) -> str:
    """``cluster.nodes=4, seed=123 (replication 0): ValueError: ...``"""
    params = ", ".join(f"{k}={v}" for k, v in failure.items() if k not in ("replication", "error"))
    return f"{params} (replication {failure['replication']}): {failure['error']}"


# -- statistics -------------------------------------------------------------------------


def _t_two_sided_prob(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with ``df`` (a whole number) degrees of freedom, in
    closed form (Abramowitz & Stegun 26.7.3-4), with theta = atan(t / sqrt(df))."""
    theta = math.atan(t / math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for k in range(2, df, 2):  # (1*3*...*(k-1)) / (2*4*...*k) cos^k
            term *= (k - 1) / k * c * c
            total += term
        return s * total
    if df == 1:
        return 2.0 * theta / math.pi
    term, total = c, c
    for k in range(3, df - 1, 2):  # (2*4*...*(k-1)) / (3*5*...*k) cos^k
        term *= (k - 1) / k * c * c
        total += term
    return 2.0 / math.pi * (theta + s * total)


def t_quantile(confidence: float, df: int) -> float:
    """The t with P(|T| <= t) = ``confidence`` for ``df`` degrees of freedom (e.g. 12.706
    for 0.95 and 1), by bisection on the exact distribution function."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if df < 1 or int(df) != df:
        raise ValueError(f"degrees of freedom must be a whole number >= 1, got {df}")
    df = int(df)
    lo, hi = 0.0, math.pi / 2  # bisection on theta: t = sqrt(df) tan(theta)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if _t_two_sided_prob(math.sqrt(df) * math.tan(mid), df) < confidence:
            lo = mid
        else:
            hi = mid
    return math.sqrt(df) * math.tan(0.5 * (lo + hi))


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """(mean, half-width of the Student-t confidence interval) of the finite values;
    the half-width is NaN with fewer than two of them, 0 when they are all equal."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan
    if x.size == 1:
        return float(x[0]), math.nan
    sd = float(np.std(x, ddof=1))
    return float(x.mean()), t_quantile(confidence, x.size - 1) * sd / math.sqrt(x.size)


def metric_columns(table: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """The table's numeric summary columns (not the parameters, seed or replication)."""
    skip = set(keys) | set(RUN_COLUMNS)
    return [
        c
        for c in table.columns
        if c not in skip and pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])
    ]


def aggregate(
    table: pd.DataFrame, grid_keys: Sequence[str], metrics: Sequence[str] | None = None, confidence: float = 0.95
) -> pd.DataFrame:
    """One row per grid point: ``runs``, and for each metric (default: every numeric
    summary column) ``_mean``, ``_std``, ``_ci`` (the half-width of the Student-t
    interval at ``confidence``), ``_lo`` and ``_hi``. NaN values (a p99 with nothing
    completed) are left out of their metric's figures."""
    keys = list(grid_keys)
    cols = [m for m in (metrics if metrics is not None else metric_columns(table, keys)) if m in table.columns]
    groups = table.groupby(keys, sort=False, dropna=False)
    columns: dict[str, pd.Series] = {"runs": groups.size()}
    for m in cols:
        stats = groups[m].agg(["mean", "std", "count"])
        q = stats["count"].map(lambda n: t_quantile(confidence, int(n) - 1) if n >= 2 else math.nan)
        half = q * stats["std"] / np.sqrt(stats["count"])
        half = half.where(~((stats["count"] >= 2) & (stats["std"] == 0)), 0.0)
        columns |= {
            f"{m}_mean": stats["mean"],
            f"{m}_std": stats["std"],
            f"{m}_ci": half,
            f"{m}_lo": stats["mean"] - half,
            f"{m}_hi": stats["mean"] + half,
        }
    out = pd.concat(columns, axis=1)
    return pd.concat([out.index.to_frame(index=False), out.reset_index(drop=True)], axis=1)


# -- saving -----------------------------------------------------------------------------


def _pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError(
            "Parquet needs pyarrow (pip install pyarrow; it comes with streamlit); or save as .csv"
        ) from None


def save_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a sweep table as ``.csv`` or ``.parquet`` (by the suffix)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        _pyarrow()
        table.to_parquet(p, index=False)
    elif suffix == ".csv":
        table.to_csv(p, index=False)
    else:
        raise ConfigError(f"{p.name}: a sweep table is saved as .csv or .parquet")
    return p


def load_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`save_table`."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        _pyarrow()
        return pd.read_parquet(p)
    if suffix == ".csv":
        return pd.read_csv(p)
    raise ConfigError(f"{p.name}: a sweep table is read from .csv or .parquet")


def parquet_bytes(table: pd.DataFrame) -> bytes:
    """The table as Parquet bytes (for a download)."""
    _pyarrow()
    return table.to_parquet(index=False)


# -- analytic references ----------------------------------------------------------------


def reference_value(cfg: SimConfig, metric: str) -> tuple[float, str] | None:
    """The analytic value of ``metric`` for ``cfg`` where theory applies, with its name:

    - ``hit_ratio``: one node, reads only, LRU (Che's approximation) or FIFO, a
      synthetic popularity of at most 1e6 keys, no TTL, no chaos;
    - ``latency_mean_ms``: an M/M/c queue: one node with ``concurrency`` slots and
      exponential service, reads only, everything cached (capacity >= keys), no
      network delay or loss, an instant database, no chaos, a stable load.
    Otherwise None."""
    from .theory import che_lru_hit_ratio, fifo_hit_ratio, mmc_response_time
    from .workload import popularity

    w, c, ch, n = cfg.workload, cfg.cluster, cfg.chaos, cfg.network
    plain = (
        c.nodes == 1
        and w.write_ratio == 0
        and not w.trace
        and not c.in_bytes
        and c.ttl_s == 0
        and not ch.events
        and ch.random_kill_per_min == 0
        and ch.random_slow_per_min == 0
    )
    if not plain:
        return None
    if metric == "hit_ratio" and c.eviction in ("lru", "fifo") and w.keys <= 1_000_000:
        pop = popularity(w)
        if c.eviction == "lru":
            return float(che_lru_hit_ratio(pop, c.capacity)), "Che approximation (LRU)"
        return float(fifo_hit_ratio(pop, c.capacity)), "FIFO approximation"
    if (
        metric == "latency_mean_ms"
        and c.service_distribution == "exponential"
        and c.service_time_ms > 0
        and c.capacity >= w.keys
        and n.latency_ms == 0
        and n.jitter_ms == 0
        and n.loss_rate == 0
        and cfg.database.service_time_ms == 0
    ):
        mu = 1000.0 / c.service_time_ms
        if w.rate_rps >= c.concurrency * mu:
            return None
        return mmc_response_time(w.rate_rps, mu, c.concurrency) * 1000.0, f"M/M/{c.concurrency}"
    return None


def iter_points(table: pd.DataFrame, keys: Sequence[str]) -> Iterator[dict[str, Any]]:
    """The distinct grid points of a table, in order."""
    for values in table[list(keys)].drop_duplicates().itertuples(index=False):
        yield dict(zip(keys, values, strict=True))
