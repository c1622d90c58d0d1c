"""Sweeps: a grid of configs x replications as data, validated before anything runs,
with Student-t confidence intervals, the same table from every executor."""

import io
import math
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

import cachesim
import cachesim.sweeps as sweep_mod
from cachesim import cli
from cachesim.executors import ProcessExecutor, SerialExecutor
from cachesim.sweeps import (
    Adaptive,
    Progress,
    aggregate,
    load_table,
    mean_ci,
    parse_values,
    plan_sweep,
    reference_value,
    replication_seed,
    run_sweep,
    run_task,
    save_table,
    t_quantile,
)
from cachesim.theory import che_lru_hit_ratio, mmc_response_time
from cachesim.workload import popularity

ROOT = Path(__file__).resolve().parents[2]
BASE = cachesim.load_scenario("baseline").with_overrides({"duration_s": 3, "warmup_s": 1})
TINY = BASE.with_overrides({"duration_s": 1, "warmup_s": 0.2, "workload.rate_rps": 500})


# -- the grid and its seeds -------------------------------------------------------------


def test_sweep_rows_are_the_runs_summaries():
    table = cachesim.sweep(BASE, {"cluster.capacity": [100, 2000]}, seeds=2, processes=1)
    s0, s1 = replication_seed(BASE.seed, 0), replication_seed(BASE.seed, 1)
    assert list(table["cluster.capacity"]) == [100, 100, 2000, 2000]
    assert list(table["seed"]) == [s0, s1, s0, s1]  # common random numbers across points
    assert list(table["replication"]) == [0, 1, 0, 1]
    one = cachesim.simulate(BASE.with_overrides({"cluster.capacity": 2000, "seed": s1})).summary
    assert table.iloc[3][list(one)].to_dict() == one
    small, big = table.groupby("cluster.capacity")["hit_ratio"].mean()
    assert big > small + 0.15


def test_explicit_seeds_are_used_as_given():
    table = cachesim.sweep(TINY, {"cluster.nodes": [1]}, seeds=[5, 9], processes=1)
    assert list(table["seed"]) == [5, 9]
    assert table.iloc[1]["issued"] == cachesim.simulate(TINY.with_overrides({"seed": 9})).summary["issued"]


@pytest.mark.slow
def test_replication_seeds_are_derived_stable_and_distinct():
    seeds = [replication_seed(1, r) for r in range(50)]
    assert len(set(seeds)) == 50 and all(0 <= s < 2**32 for s in seeds)
    assert seeds[0] == int(np.random.SeedSequence(1, spawn_key=(0,)).generate_state(1, np.uint32)[0])
    assert replication_seed(2, 0) != seeds[0]
    # the same in another process (no hash randomisation, no process state)
    code = "from cachesim.sweeps import replication_seed as s; print([s(1, r) for r in range(5)])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(seeds[:5])
    # a plan with more replications keeps the first ones' seeds
    assert [plan_sweep(TINY, {"cluster.nodes": [1]}, 3).seed(r) for r in range(3)] == seeds[:3]


def test_values_from_lists_and_ranges():
    assert parse_values("cluster.nodes", "2, 4,8") == ["2", "4", "8"]
    assert parse_values("cluster.capacity", "100:1000:300") == [100, 400, 700, 1000]
    assert parse_values("cluster.capacity", "100:1000:400") == [100, 500, 900]
    assert parse_values("cluster.capacity", "100:800:*2") == [100, 200, 400, 800]
    assert parse_values("workload.zipf_alpha", "0.6:1.0:0.1") == [0.6, 0.7, 0.8, 0.9, 1.0]
    assert parse_values("cluster.eviction", "lru,fifo") == ["lru", "fifo"]
    for spec, msg in [
        ("", "no values"),
        ("5:1:1", "below its start"),
        ("1:5:0", "step must be > 0"),
        ("0:8:*2", "geometric"),
        ("1:2", "lo:hi:step"),
        ("a:5:1", "'a' is not a number"),
        ("1:100000:1", "at most 200"),
    ]:
        with pytest.raises(cachesim.ConfigError, match=msg) as err:
            parse_values("cluster.capacity", spec)
        assert str(err.value).startswith("cluster.capacity") and "\n" not in str(err.value)


def test_bad_point_fails_before_any_run(monkeypatch):
    calls = []
    monkeypatch.setattr(sweep_mod, "run_task", lambda task: calls.append(task))
    with pytest.raises(ValidationError, match="cluster.nodes"):
        cachesim.sweep(BASE, {"cluster.nodes": [2, 0]}, processes=1)
    with pytest.raises(cachesim.ConfigError, match="non-empty list"):
        cachesim.sweep(BASE, {"cluster.nodes": []}, processes=1)
    with pytest.raises(cachesim.ConfigError, match="unknown config key"):
        cachesim.sweep(BASE, {"cluster.nodez": [1]}, processes=1)
    with pytest.raises(cachesim.ConfigError, match="seed is set by the replications"):
        cachesim.sweep(BASE, {"seed": [1, 2]}, processes=1)
    with pytest.raises(cachesim.ConfigError, match="replications must be >= 1"):
        plan_sweep(BASE, {"cluster.nodes": [1]}, 0)
    assert calls == []


def test_plan_counts_the_requests_of_the_whole_sweep():
    plan = plan_sweep(BASE, {"workload.rate_rps": [1000, 3000], "cluster.nodes": [1, 2]}, 3)
    assert plan.runs == 12
    assert plan.requests() == pytest.approx((1000 + 3000) * 2 * 3 * BASE.duration_s)
    assert plan.requests(10) == pytest.approx((1000 + 3000) * 2 * 10 * BASE.duration_s)


# -- statistics -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "df, expected", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (29, 2.0452), (100, 1.9840), (1000, 1.9623)]
)
def test_t_quantile_matches_the_tables(df, expected):
    assert t_quantile(0.95, df) == pytest.approx(expected, abs=5e-5)


def test_t_quantile_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 5, 8, 17, 64, 333):
        for conf in (0.8, 0.9, 0.95, 0.99):
            assert t_quantile(conf, df) == pytest.approx(stats.t.ppf(0.5 + conf / 2, df), rel=1e-9)
    with pytest.raises(ValueError, match="confidence"):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile(0.95, 0)


def test_mean_and_confidence_interval_by_hand():
    mean, half = mean_ci([1.0, 2.0, 3.0])  # sd 1, n 3: t(0.975, 2) / sqrt(3)
    assert mean == 2.0 and half == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert mean_ci([4.0, 4.0]) == (4.0, 0.0)
    assert mean_ci([7.0])[0] == 7.0 and math.isnan(mean_ci([7.0])[1])
    assert mean_ci([1.0, float("nan"), 3.0])[0] == 2.0
    table = pd.DataFrame(
        {
            "x": ["a", "a", "a", "b", "b", "c"],
            "seed": [1, 2, 3, 1, 2, 1],
            "replication": [0, 1, 2, 0, 1, 0],
            "m": [1.0, 2.0, 3.0, 5.0, 5.0, 9.0],
            "p99": [1.0, np.nan, 3.0, 2.0, 4.0, np.nan],
        }
    )
    agg = aggregate(table, ["x"]).set_index("x")
    assert list(agg["runs"]) == [3, 2, 1]
    assert agg.loc["a", "m_mean"] == 2.0
    assert agg.loc["a", "m_ci"] == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert agg.loc["a", "m_lo"] == pytest.approx(2.0 - agg.loc["a", "m_ci"])
    assert agg.loc["b", "m_ci"] == 0.0 and math.isnan(agg.loc["c", "m_ci"])
    assert agg.loc["a", "p99_mean"] == 2.0  # the NaN left out
    assert agg.loc["a", "p99_ci"] == pytest.approx(12.7062 * math.sqrt(2) / math.sqrt(2), rel=1e-4)
    assert "seed_mean" not in agg and "replication_mean" not in agg


def test_every_numeric_summary_metric_gets_a_ci():
    res = run_sweep(plan_sweep(TINY, {"cluster.nodes": [1, 2]}, 3))
    agg = res.aggregate()
    for key in cachesim.simulate(TINY).summary:
        assert {f"{key}_mean", f"{key}_ci", f"{key}_lo", f"{key}_hi"} <= set(agg.columns)
    means = res.table.groupby("cluster.nodes", sort=False)["hit_ratio"].mean()
    assert list(agg["hit_ratio_mean"]) == pytest.approx(list(means))


# -- executors --------------------------------------------------------------------------


GRID = {"cluster.nodes": [1, 3], "cluster.eviction": ["lru", "fifo"]}


@pytest.fixture(scope="module")
def serial_table():
    return run_sweep(plan_sweep(TINY, GRID, 2), SerialExecutor()).table


@pytest.mark.slow
def test_processes_give_the_same_table(serial_table):
    with ProcessExecutor(2) as ex:
        res = run_sweep(plan_sweep(TINY, GRID, 2), ex)
    assert res.executor == "processes (2 workers)" and not res.failures
    pd.testing.assert_frame_equal(serial_table, res.table)
    # the short form, with processes by default
    pd.testing.assert_frame_equal(serial_table, cachesim.sweep(TINY, GRID, seeds=2, processes=2))


def test_dask_local_cluster_gives_the_same_table(serial_table):
    pytest.importorskip("dask.distributed")
    from cachesim.executors import DaskExecutor

    with DaskExecutor("local", n_workers=2, processes=False) as ex:
        assert ex.workers == 2
        res = run_sweep(plan_sweep(TINY, GRID, 2), ex)
    assert res.executor.startswith("dask at LocalCluster") and not res.failures
    pd.testing.assert_frame_equal(serial_table, res.table)


_FLAKY_CALLS: list[int] = []


def _fails_once(x):
    _FLAKY_CALLS.append(x)
    if _FLAKY_CALLS.count(x) == 1:
        raise OSError("worker lost")
    return x * 10


def test_dask_retries_a_failed_task():
    """Tasks go in with ``retries=``: one that fails (as when its worker dies) runs again."""
    pytest.importorskip("dask.distributed")
    from cachesim.executors import DaskExecutor

    _FLAKY_CALLS.clear()
    with DaskExecutor("local", n_workers=1, processes=False, retries=1) as ex:
        outs = sorted(ex.run(_fails_once, [(0, 1), (1, 2)]), key=lambda o: o.index)
    assert [(o.value, o.error) for o in outs] == [(10, None), (20, None)]
    assert sorted(_FLAKY_CALLS) == [1, 1, 2, 2]


@pytest.mark.slow
def test_dask_runs_the_task_of_a_lost_worker_again(tmp_path):
    """A worker process that dies mid-task: its task runs again on a worker that lives."""
    pytest.importorskip("dask.distributed")
    from cachesim.executors import DaskExecutor

    marker = str(tmp_path / "died")

    def die_once(x):  # pickled by value: the workers need not import this module
        import os

        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)
        return x + 1

    with DaskExecutor("local", n_workers=2, processes=True) as ex:
        outs = list(ex.run(die_once, [(0, 41)]))
    assert [(o.index, o.value, o.error) for o in outs] == [(0, 42, None)]
    assert Path(marker).exists()


def test_a_missing_dask_is_one_clear_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    monkeypatch.setitem(sys.modules, "dask", None)
    assert cli.main(["sweep", "--vary", "cluster.nodes=1,2", "--dask", "local"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Dask is not installed" in err and "requirements-dev.txt" in err


def test_dask_scheduler_from_the_environment(monkeypatch):
    from cachesim import executors

    seen = []

    class FakeDask:
        def __init__(self, address, n_workers=None):
            seen.append(address)

    monkeypatch.setattr(executors, "DaskExecutor", FakeDask)
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://10.0.0.5:8786")
    assert isinstance(executors.make_executor(), FakeDask)
    assert isinstance(executors.make_executor(dask="local"), FakeDask)
    assert seen == ["tcp://10.0.0.5:8786", "local"]
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
    assert isinstance(executors.make_executor(jobs=1), SerialExecutor)
    assert isinstance(executors.make_executor(jobs=3), ProcessExecutor)
    assert executors.make_executor().workers >= 1


def test_a_task_payload_is_small():
    assert len(pickle.dumps((BASE.to_dict(), True))) < 10_000  # what goes to the worker
    for series in (False, True):
        out = run_task((BASE.to_dict(), series))
        assert len(pickle.dumps(out)) < 10_000
    assert set(out["summary"]) == set(cachesim.simulate(BASE).summary)
    assert len(out["series"]["t"]) <= sweep_mod.SERIES_POINTS and out["series"]["t"][-1] == pytest.approx(3.0)


def test_series_are_returned_when_asked():
    res = run_sweep(plan_sweep(TINY, {"cluster.nodes": [1, 2]}, 2), series=True)
    assert set(res.series["cluster.nodes"]) == {1, 2} and set(res.series["replication"]) == {0, 1}
    assert len(res.series) == 4 * 10  # 10 snapshots of a 1 s run
    assert run_sweep(plan_sweep(TINY, {"cluster.nodes": [1]}, 1)).series is None


# -- failures, stop, progress -----------------------------------------------------------


@pytest.mark.parametrize(
    "executor",
    [SerialExecutor, pytest.param(lambda: ProcessExecutor(2), marks=pytest.mark.slow)],
    ids=["serial", "processes"],
)
def test_a_run_that_raises_is_reported_and_the_sweep_goes_on(tmp_path, executor):
    good = tmp_path / "good.csv"
    good.write_text("key\n" + "\n".join(str(i % 7) for i in range(200)) + "\n")
    missing = tmp_path / "missing.csv"
    with executor() as ex:
        res = run_sweep(plan_sweep(TINY, {"workload.trace": [str(good), str(missing)]}, 2), ex)
    assert list(res.table["workload.trace"]) == [str(good)] * 2
    assert [(f["workload.trace"], f["replication"]) for f in res.failures] == [(str(missing), 0), (str(missing), 1)]
    assert "missing.csv" in res.failures[0]["error"] and "\n" not in res.failures[0]["error"]
    assert "workload.trace=" in sweep_mod.failure_text(res.failures[0])
    with pytest.warns(RuntimeWarning, match="sweep run failed"):
        cachesim.sweep(TINY, {"workload.trace": [str(good), str(missing)]}, processes=1)


def test_a_stop_after_the_last_run_is_not_a_cancel():
    stop = threading.Event()
    res = run_sweep(
        plan_sweep(TINY, {"cluster.nodes": [1, 2]}, 1),
        stop=stop,
        progress=lambda p: stop.set() if p.done == p.total else None,
    )
    assert stop.is_set() and not res.cancelled and len(res.table) == 2


def test_progress_counts_up_with_an_eta():
    seen: list[Progress] = []
    run_sweep(plan_sweep(TINY, {"cluster.nodes": [1, 2, 3]}, 1), progress=seen.append)
    assert [(p.done, p.total) for p in seen] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert seen[0].eta_s is None and seen[1].eta_s > 0 and seen[-1].eta_s == 0
    assert seen[-1].fraction == 1.0


@pytest.mark.parametrize(
    "executor",
    [SerialExecutor, pytest.param(lambda: ProcessExecutor(2, window=2), marks=pytest.mark.slow)],
    ids=["serial", "processes"],
)
def test_stop_keeps_the_finished_runs(executor, serial_table):
    stop = threading.Event()

    def progress(p):
        if p.done >= 2:
            stop.set()

    with executor() as ex:
        res = run_sweep(plan_sweep(TINY, GRID, 2), ex, progress=progress, stop=stop)
    assert res.cancelled and 2 <= len(res.table) < 8
    keyed = serial_table.set_index([*GRID, "replication"])
    for _, row in res.table.iterrows():  # every kept run is the run the full sweep has
        ref = keyed.loc[(row["cluster.nodes"], row["cluster.eviction"], row["replication"])]
        assert row["issued"] == ref["issued"] and row["hit_ratio"] == ref["hit_ratio"]


# -- adaptive replications --------------------------------------------------------------


def test_adaptive_adds_seeds_until_the_ci_is_narrow_enough():
    plan = plan_sweep(TINY, {"cluster.capacity": [50, 2000]}, 2)
    rule = Adaptive("hit_ratio", target=0.01, max_replications=9, step=3)
    totals = []
    res = run_sweep(plan, adaptive=rule, progress=lambda p: totals.append(p.total))
    agg = res.aggregate(["hit_ratio"])
    for _, row in agg.iterrows():
        assert row["runs"] == 9 or row["hit_ratio_ci"] <= 0.01
        assert row["runs"] in (2, 5, 8, 9)
    assert agg["runs"].max() > 2 and totals[-1] == len(res.table) == agg["runs"].sum()
    # replications are numbered without gaps and seeded as in a plain sweep
    for _, grp in res.table.groupby("cluster.capacity"):
        assert list(grp["replication"]) == list(range(len(grp)))
        assert list(grp["seed"]) == [replication_seed(TINY.seed, r) for r in range(len(grp))]
    with ProcessExecutor(2) as ex:  # the same rounds, whoever runs them
        pd.testing.assert_frame_equal(res.table, run_sweep(plan, ex, adaptive=rule).table)
    with pytest.raises(cachesim.ConfigError, match="target"):
        Adaptive("hit_ratio", target=0)


# -- saving -----------------------------------------------------------------------------


def test_csv_and_parquet_round_trip(tmp_path, serial_table, monkeypatch):
    for name in ("s.csv", "s.parquet"):
        path = save_table(serial_table, tmp_path / name)
        pd.testing.assert_frame_equal(load_table(path), serial_table, check_dtype=False)
    with pytest.raises(cachesim.ConfigError, match=r"\.csv or \.parquet"):
        save_table(serial_table, tmp_path / "s.xlsx")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(cachesim.ConfigError, match="Parquet needs pyarrow"):
        save_table(serial_table, tmp_path / "t.parquet")


# -- analytic references ----------------------------------------------------------------


def test_reference_values_where_theory_applies():
    one = cachesim.SimConfig.model_validate(
        {"workload": {"keys": 5000, "zipf_alpha": 0.8, "write_ratio": 0.0}, "cluster": {"nodes": 1, "capacity": 500}}
    )
    value, label = reference_value(one, "hit_ratio")
    assert value == pytest.approx(che_lru_hit_ratio(popularity(one.workload), 500)) and "Che" in label
    assert reference_value(one.with_overrides({"cluster.nodes": 2}), "hit_ratio") is None
    assert reference_value(one.with_overrides({"workload.write_ratio": 0.1}), "hit_ratio") is None
    assert reference_value(one, "latency_p99_ms") is None
    queue = one.with_overrides(
        {
            "cluster.capacity": 5000,
            "network.latency_ms": 0,
            "network.jitter_ms": 0,
            "database.service_time_ms": 0,
            "cluster.concurrency": 4,
            "cluster.service_time_ms": 0.5,
            "workload.rate_rps": 6000,
        }
    )
    value, label = reference_value(queue, "latency_mean_ms")
    assert value == pytest.approx(mmc_response_time(6000, 2000, 4) * 1000) and label == "M/M/4"
    assert reference_value(queue.with_overrides({"workload.rate_rps": 8000}), "latency_mean_ms") is None
    assert reference_value(queue.with_overrides({"network.latency_ms": 1}), "latency_mean_ms") is None


# -- command line -----------------------------------------------------------------------


@pytest.mark.slow
def test_sweep_command_line(tmp_path):
    out, pq = tmp_path / "s.csv", tmp_path / "s.parquet"
    cmd = [
        sys.executable,
        "-m",
        "cachesim",
        "sweep",
        "--set",
        "duration_s=2",
        "--set",
        "warmup_s=0.5",
        "--vary",
        "cluster.nodes=1:2:1",
        "--reps",
        "2",
        "--jobs",
        "2",
        "--csv",
        str(out),
        "--parquet",
        str(pq),
    ]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "4 runs (2 points x 2 seeds) on processes (2 workers)" in res.stdout
    assert "hit_ratio_ci" in res.stdout and res.stderr == ""  # no bar: stderr is not a terminal
    table = pd.read_csv(out)
    assert list(table["cluster.nodes"]) == [1, 1, 2, 2] and list(table["replication"]) == [0, 1, 0, 1]
    pd.testing.assert_frame_equal(pd.read_parquet(pq), table, check_dtype=False)
    bad = subprocess.run(cmd[:-4] + ["--vary", "network.loss_rate=0.5,1.5"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "network.loss_rate" in bad.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--vary", "cluster.capacity=5:1:1"], "below its start"),
        (["--vary", "cluster.nodes=1,2", "--target-ci", "hit=0.1"], "--target-ci expects METRIC=HALF_WIDTH"),
        (["--vary", "cluster.nodes=1,2", "--target-ci", "hit_ratio=x"], "must be a number"),
        (["--vary", "cluster.nodes=1,2", "--csv", "/no/such/dir/s.csv"], "no such directory"),
        (["--vary", "cluster.nodes=1,2", "--csv", "s.txt"], ".csv or .parquet"),
    ],
)
def test_sweep_command_line_errors(capsys, args, message):
    assert cli.main(["sweep", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_sweep_command_line_reports_failed_runs(tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text("key\n1\n2\n3\n")
    code = cli.main(
        [
            "sweep",
            "--set",
            "duration_s=1",
            "--set",
            "warmup_s=0",
            "--jobs",
            "1",
            "--vary",
            f"workload.trace={good},{tmp_path / 'nope.csv'}",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0 and "1 runs (1 points x 1 seeds)" in out and "1 failed" in out
    assert err.count("\n") == 1 and "run failed: workload.trace=" in err and "nope.csv" in err


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal():
    stream = _Tty()
    bar = cli._SweepBar(stream)
    bar(Progress(0, 4, 0, 0.0))
    bar(Progress(4, 4, 1, 8.0))
    bar.clear()
    text = stream.getvalue()
    assert "0/4 runs" in text and "4/4 runs, 1 failed" in text and text.endswith("\r\x1b[K")
    assert (
        cli.sweep_progress_line(Progress(1, 4, 0, 2.0))
        == "[########......................] 1/4 runs, ETA 6 s  2.0 s elapsed"
    )
    quiet = io.StringIO()
    cli._SweepBar(quiet)(Progress(1, 4, 0, 2.0))
    assert quiet.getvalue() == ""
