"""Sweeps: a grid of configs as data, validated before anything runs."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

import cachesim
import cachesim.sweeps as sweep_mod

ROOT = Path(__file__).resolve().parents[1]
BASE = cachesim.load_scenario("baseline").with_overrides({"duration_s": 3, "warmup_s": 1})


def test_sweep_rows_are_the_runs_summaries():
    table = cachesim.sweep(BASE, {"cluster.capacity": [100, 2000]}, seeds=2)
    assert list(table["cluster.capacity"]) == [100, 100, 2000, 2000]
    assert list(table["seed"]) == [1, 2, 1, 2]
    one = cachesim.simulate(BASE.with_overrides({"cluster.capacity": 2000, "seed": 2})).summary
    assert table.iloc[3][list(one)].to_dict() == one
    small, big = table.groupby("cluster.capacity")["hit_ratio"].mean()
    assert big > small + 0.15


def test_parallel_sweep_gives_the_same_table():
    grid = {"cluster.nodes": [1, 3], "cluster.eviction": ["lru", "fifo"]}
    serial = cachesim.sweep(BASE, grid)
    parallel = cachesim.sweep(BASE, grid, processes=2)
    pd.testing.assert_frame_equal(serial, parallel)
    agg = sweep_mod.aggregate(serial, list(grid))
    assert len(agg) == 4 and (agg["runs"] == 1).all() and "hit_ratio_mean" in agg


def test_bad_point_fails_before_any_run(monkeypatch):
    calls = []
    monkeypatch.setattr(sweep_mod, "_run", lambda cfg: calls.append(cfg))
    with pytest.raises(ValidationError, match="cluster.nodes"):
        cachesim.sweep(BASE, {"cluster.nodes": [2, 0]})
    with pytest.raises(cachesim.ConfigError, match="non-empty list"):
        cachesim.sweep(BASE, {"cluster.nodes": []})
    assert calls == []


def test_sweep_command_line(tmp_path):
    out = tmp_path / "s.csv"
    cmd = [sys.executable, "-m", "cachesim", "sweep", "--set", "duration_s=2", "--set", "warmup_s=0.5",
           "--vary", "cluster.nodes=1,2", "--csv", str(out)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "2 runs (2 points x 1 seeds)" in res.stdout
    assert list(pd.read_csv(out)["cluster.nodes"]) == [1, 2]
    bad = subprocess.run(cmd[:-2] + ["--vary", "network.loss_rate=0.5,1.5"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "network.loss_rate" in bad.stderr
