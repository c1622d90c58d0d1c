"""Sweeps: the same config over a grid of parameter values (and seeds), as data.

``sweep(cfg, {"cluster.nodes": [2, 4, 8]}, seeds=3)`` runs every combination with
every seed and returns one flat row per run: the varied values, the seed, and the
run's summary. Every config is validated before anything runs, so a bad value fails
at once and no work is lost to it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pandas as pd

from .config import ConfigError, SimConfig
from .engine import simulate

#: Summary figures that a sweep table shows first.
KEY_METRICS = ("hit_ratio", "latency_p50_ms", "latency_p99_ms", "throughput_rps", "failed",
               "stale_reads", "db_load_rps")


def sweep_configs(config: SimConfig, grid: Mapping[str, Sequence[Any]],
                  seeds: int | Sequence[int] = 1) -> list[tuple[dict[str, Any], SimConfig]]:
    """Every (varied values + seed, validated config) of the grid, in grid order."""
    if not grid:
        raise ConfigError("a sweep needs at least one parameter to vary")
    for key, values in grid.items():
        if isinstance(values, str) or not isinstance(values, Sequence) or len(values) == 0:
            raise ConfigError(f"sweep values for {key!r} must be a non-empty list")
    seed_list = list(range(config.seed, config.seed + seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise ConfigError("a sweep needs at least one seed")
    out = []
    for combo in itertools.product(*grid.values()):
        point = dict(zip(grid.keys(), combo, strict=True))
        base = config.with_overrides(point)
        for seed in seed_list:
            out.append((point | {"seed": seed}, base.with_overrides({"seed": seed})))
    return out


def _run(cfg: SimConfig) -> dict[str, Any]:
    return simulate(cfg).summary


def sweep(config: SimConfig, grid: Mapping[str, Sequence[Any]], *, seeds: int | Sequence[int] = 1,
          processes: int = 1) -> pd.DataFrame:
    """Run the grid; one row per run (varied values, seed, summary). ``processes`` > 1
    runs them in parallel worker processes (each run is independent and deterministic,
    so the table is the same either way)."""
    runs = sweep_configs(config, grid, seeds)
    cfgs = [cfg for _, cfg in runs]
    if processes > 1 and len(cfgs) > 1:
        with ProcessPoolExecutor(max_workers=processes) as pool:
            summaries = list(pool.map(_run, cfgs))
    else:
        summaries = [_run(cfg) for cfg in cfgs]
    return pd.DataFrame([point | summary for (point, _), summary in zip(runs, summaries, strict=True)])


def aggregate(table: pd.DataFrame, grid_keys: Sequence[str],
              metrics: Sequence[str] = KEY_METRICS) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each grid point's key metrics."""
    cols = [m for m in metrics if m in table.columns]
    agg = table.groupby(list(grid_keys), sort=False)[cols].agg(["mean", "std"])
    agg.columns = [f"{m}_{stat}" for m, stat in agg.columns]
    agg.insert(0, "runs", table.groupby(list(grid_keys), sort=False).size())
    return agg.reset_index()
