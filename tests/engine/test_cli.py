"""The command line, run as a user would: ``python -m cachesim ...`` in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cachesim.replay import replay
from cachesim.traces import Trace, read_trace, write_trace

#: Each test starts ``python -m cachesim`` (1-2 s of imports); test_fuzz_doors.py calls main() in-process.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHORT = ["--set", "duration_s=2", "--set", "warmup_s=0.5"]


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cachesim", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_usage_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit status 2, nothing on stdout, exactly one line on stderr holding ``fragments``."""
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("cachesim: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    weights = 1.0 / np.arange(1, 1001) ** 0.9
    keys = rng.choice(1000, size=5000, p=weights / weights.sum()).astype(np.int64)
    sizes = rng.integers(1, 100, size=1000)[keys]
    path = tmp_path_factory.mktemp("cli") / "zipf.oracleGeneral.bin"
    return write_trace(Trace(keys=keys, sizes=sizes), path)


# -- scenarios and replay ------------------------------------------------------------------


def test_scenarios_lists_names_with_descriptions() -> None:
    proc = cli("scenarios")
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0].split()
    assert first[0] == "baseline" and len(first) > 3


@pytest.mark.parametrize("use_bytes", [False, True])
def test_replay_json_is_the_replay_result(trace_file: Path, use_bytes: bool) -> None:
    extra = ["--bytes"] if use_bytes else []
    capacity = "2000" if use_bytes else "100"
    proc = cli("replay", trace_file, "--policy", "lfu", "--capacity", capacity, *extra, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert list(out) == ["requests", "hits", "misses", "miss_ratio"]
    expected = replay(read_trace(trace_file), "lfu", int(capacity), use_bytes=use_bytes)
    assert out == expected.to_dict()


def test_replay_table(trace_file: Path) -> None:
    proc = cli("replay", trace_file, "--policy", "lru", "--capacity", "100")
    assert proc.returncode == 0, proc.stderr
    rows = dict(line.split(None, 1) for line in proc.stdout.splitlines())
    assert rows["requests"] == "5,000"
    assert rows["capacity"] == "100 objects"


# -- bad input: exit 2, one line ---------------------------------------------------------


def test_unknown_scenario() -> None:
    assert_usage_error(cli("run", "--scenario", "nope"), "unknown scenario 'nope'", "baseline")


def test_bad_set_key() -> None:
    assert_usage_error(cli("run", "--set", "cluster.nodez=3"), "unknown config key 'cluster.nodez'")


def test_bad_set_value() -> None:
    assert_usage_error(cli("run", "--set", "cluster.nodes=0"), "cluster.nodes", "greater than or equal to 1")
    assert_usage_error(cli("run", "--set", "cluster.nodes=many"), "cluster.nodes")
    assert_usage_error(cli("run", "--set", "cluster.nodes"), "--set expects KEY=VALUE")


def test_missing_files(tmp_path: Path) -> None:
    assert_usage_error(
        cli("replay", tmp_path / "none.csv", "--policy", "lru", "--capacity", "5"), "none.csv: no such file"
    )
    assert_usage_error(cli("run", "--config", tmp_path / "none.toml"), "none.toml")


def test_bad_config_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("duration_s = 5\n[cluster]\nnodes = -1\n")
    assert_usage_error(cli("run", "--config", path), "cluster.nodes")
    path.write_text("duration_s = = 5\n")
    assert_usage_error(cli("run", "--config", path), "bad.toml")


def test_malformed_csv_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("key,size\na,1\nb,2\nc,lots\n")
    assert_usage_error(cli("replay", path, "--policy", "lru", "--capacity", "5"), "bad.csv", "line 4", "'lots'")


def test_truncated_bin_names_the_record(tmp_path: Path) -> None:
    path = tmp_path / "cut.bin"
    path.write_bytes(bytes(24 * 3 + 7))
    assert_usage_error(
        cli("replay", path, "--policy", "fifo", "--capacity", "5"),
        "cut.bin",
        "3 whole 24-byte records",
        "7 trailing bytes",
        "record 4",
    )


@pytest.mark.parametrize("capacity", ["0", "-4", "ten"])
def test_bad_capacity(trace_file: Path, capacity: str) -> None:
    assert_usage_error(cli("replay", trace_file, "--policy", "lru", "--capacity", capacity), "--capacity")


def test_bad_policy_and_missing_arguments(trace_file: Path) -> None:
    assert_usage_error(cli("replay", trace_file, "--policy", "nope", "--capacity", "5"), "nope")
    assert_usage_error(cli("replay", trace_file, "--capacity", "5"), "--policy")
    assert_usage_error(cli("frobnicate"), "frobnicate")
    assert_usage_error(cli("run", "--scenario", "baseline", "--config", "x.toml"), "not allowed")


def test_negative_capacity_in_a_run() -> None:
    assert_usage_error(cli("run", "--set", "cluster.capacity=-1"), "cluster.capacity")


# -- runs (need the engine) -----------------------------------------------------------------


def test_run_json_is_deterministic() -> None:
    first = cli("run", "--scenario", "baseline", *SHORT, "--json")
    second = cli("run", "--scenario", "baseline", *SHORT, "--json")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stderr == ""  # no progress bar when stderr is not a terminal
    summary = json.loads(first.stdout)
    assert len(first.stdout.strip().splitlines()) == 1
    for key in (
        "issued",
        "completed",
        "failed",
        "in_flight",
        "hits",
        "misses",
        "hit_ratio",
        "latency_p99_ms",
        "throughput_rps",
        "db_reads",
        "db_writes",
    ):
        assert key in summary
    assert summary["issued"] == summary["completed"] + summary["failed"] + summary["in_flight"]


def test_run_table_and_out_round_trip(tmp_path: Path) -> None:
    import cachesim

    out = tmp_path / "run"
    proc = cli("run", "--scenario", "baseline", *SHORT, "--out", out)
    assert proc.returncode == 0, proc.stderr
    rows = dict(line.split(None, 1) for line in proc.stdout.splitlines()[1:] if line.strip())
    assert "hit_ratio" in rows and "issued" in rows
    loaded = cachesim.RunResult.load(out)
    as_json = cli("run", "--scenario", "baseline", *SHORT, "--json")
    assert loaded.summary == json.loads(as_json.stdout)


def test_run_from_a_config_file(tmp_path: Path) -> None:
    import cachesim

    path = tmp_path / "cfg.toml"
    cachesim.load_scenario("baseline").with_overrides({"duration_s": 2, "warmup_s": 0}).save(path)
    proc = cli("run", "--config", path, "--set", "cluster.nodes=2", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["issued"] > 0


# -- every bad input exits 2 with one line ----------------------------------------------


def test_sweep_with_a_missing_trace_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    proc = cli("sweep", "--set", f"workload.trace={missing}", "--vary", "cluster.nodes=2,4", *SHORT)
    assert_usage_error(proc, "missing.csv")


def test_a_section_used_as_a_value_is_one_line() -> None:
    assert_usage_error(cli("run", "--set", "cluster=1", "--set", "cluster.nodes=2"), "cluster is a section")


def test_deeply_nested_config_file_is_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 1000 + "]" * 1000 + "\n", encoding="utf-8")
    assert_usage_error(cli("run", "--config", deep), "nests more than 16 levels")
    assert_usage_error(cli("run", "--set", "chaos.events=" + "[" * 1000 + "]" * 1000), "nests more than 16 levels")
