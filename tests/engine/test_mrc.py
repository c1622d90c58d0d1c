"""Miss-ratio curves: stack distances against a naive LRU stack, the exact curve
against replay (and libcachesim, in bytes too), SHARDS against the exact curve, the
replay grid, and the ``mrc`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachesim.cli import main
from cachesim.mrc import (
    default_sizes,
    lru_curve,
    miss_ratio_curve,
    replay_curve,
    reuse_distances,
    shards_curve,
    shards_sample,
    stack_distances,
)
from cachesim.replay import replay
from cachesim.samples import SampleSpec, generate, resolve_trace, sample_trace
from cachesim.traces import Trace, TraceError, write_trace


def naive_distances(keys: list[int], sizes: list[int] | None = None) -> list[int]:
    stack: list[int] = []  # most recent last
    size_of: dict[int, int] = {}
    out = []
    for i, k in enumerate(keys):
        s = 1 if sizes is None else sizes[i]
        if k in stack:
            pos = stack.index(k)
            out.append(s + sum(size_of[x] for x in stack[pos + 1 :]))
            stack.remove(k)
        else:
            out.append(-1)
        stack.append(k)
        size_of[k] = s
    return out


@settings(max_examples=200, deadline=None)
@given(
    reqs=st.lists(st.tuples(st.integers(0, 12), st.integers(1, 50)), max_size=120),
)
def test_stack_distances_match_a_naive_stack(reqs: list[tuple[int, int]]) -> None:
    keys = [k for k, _ in reqs]
    obj_size = {k: s for k, s in reqs}  # one size per object (the oracleGeneral case)
    sizes = [obj_size[k] for k in keys]
    arr = np.array(keys, dtype=np.int64)
    assert stack_distances(arr).tolist() == naive_distances(keys)
    assert stack_distances(arr, np.array(sizes)).tolist() == naive_distances(keys, sizes)


def test_reuse_distances_count_requests_not_objects() -> None:
    keys = np.array([1, 2, 2, 1, 3, 1])
    assert reuse_distances(keys).tolist() == [-1, -1, 1, 3, -1, 2]
    assert stack_distances(keys).tolist() == [-1, -1, 1, 2, -1, 2]


def zipf_trace(seed: int, n: int = 30_000, objects: int = 4_000, big: bool = False) -> Trace:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, objects + 1) ** 0.9
    ranks = rng.choice(objects, size=n, p=weights / weights.sum())
    object_sizes = rng.integers(1, 4096, size=objects)
    if big:  # a few objects bigger than the small caches below
        object_sizes[rng.choice(objects, size=40, replace=False)] = rng.integers(50_000, 400_000, 40)
    ids = rng.permutation(objects).astype(np.int64) * 7919 + 3
    return Trace(keys=ids[ranks], sizes=object_sizes[ranks].astype(np.int64))


def test_exact_curve_is_replay_at_every_size() -> None:
    trace = zipf_trace(1, n=8000, objects=1500)
    sizes = np.arange(1, 1501, 37)
    curve = lru_curve(trace, sizes)
    expected = [replay(trace, "lru", int(c)).misses for c in sizes]
    assert np.rint(curve.miss_ratios * len(trace)).astype(int).tolist() == expected
    assert curve.method == "exact" and curve.requests == 8000 and not curve.use_bytes


@pytest.mark.slow
def test_byte_curve_is_libcachesim_lru_at_20_sizes(tmp_path: Path) -> None:
    lcs = pytest.importorskip("libcachesim")
    trace = zipf_trace(2, big=True)
    path = write_trace(trace, tmp_path / "z.oracleGeneral.bin")
    # 20 sizes, many below the largest objects (which libCacheSim never admits)
    sizes = np.unique(np.geomspace(2000, 20_000_000, 20).astype(np.int64))
    assert len(sizes) == 20 and sizes.min() < trace.sizes.max() < sizes.max()
    curve = lru_curve(trace, sizes, use_bytes=True)
    for size, ratio in zip(sizes, curve.miss_ratios, strict=True):
        reader = lcs.TraceReader(
            str(path), lcs.TraceType.ORACLE_GENERAL_TRACE, lcs.ReaderInitParam(ignore_obj_size=False)
        )
        cache = lcs.LRU(int(size))
        misses = sum(not cache.get(req) for req in reader)
        assert round(ratio * len(trace)) == misses, size
    # the plain definition (every object counts, whatever the cache size) is not it
    plain = stack_distances(trace.keys, trace.sizes)
    small = int(sizes[0])
    plain_misses = int(((plain < 0) | (plain > small)).sum())
    assert plain_misses != round(curve.miss_ratios[0] * len(trace))


@pytest.mark.parametrize("use_bytes", [False, True])
def test_chunked_passes_equal_one_pass(use_bytes: bool) -> None:
    trace = zipf_trace(6, n=6000, objects=900, big=True)
    sizes = [1, 7, 50, 333, 900] if not use_bytes else [3000, 60_000, 400_000, 2_000_000]
    whole = lru_curve(trace, sizes, use_bytes=use_bytes, chunk=10**9)
    for chunk in (700, 2500, 5999):
        parts = lru_curve(trace, sizes, use_bytes=use_bytes, chunk=chunk)
        assert parts.miss_ratios.tolist() == whole.miss_ratios.tolist(), chunk


def test_curve_helpers() -> None:
    trace = zipf_trace(3, n=5000, objects=800)
    curve = lru_curve(trace)  # the default grid: 1 object to all of them
    assert curve.sizes[0] == 1 and curve.sizes[-1] == trace.n_objects
    assert np.all(np.diff(curve.miss_ratios) <= 0)  # LRU is a stack algorithm
    assert curve.miss_ratios[-1] == pytest.approx(trace.n_objects / len(trace))
    target = curve.capacity_for(0.8)
    assert target is not None
    i = list(curve.sizes).index(target)
    assert curve.miss_ratios[i] <= 0.2 < curve.miss_ratios[i - 1]
    assert curve.capacity_for(0.999) is None
    d = curve.to_dict()
    assert d["unit"] == "objects" and len(d["sizes"]) == len(d["miss_ratios"])
    json.dumps(d)
    grid = default_sizes(trace, use_bytes=True, points=10)
    assert grid[-1] == trace.sizes[np.unique(trace.keys, return_index=True)[1]].sum()
    with pytest.raises(ValueError, match="whole number >= 1"):
        lru_curve(trace, [0, 5])
    with pytest.raises(ValueError, match="non-empty"):
        lru_curve(trace, [])


@pytest.fixture(scope="module")
def million() -> Trace:
    spec = SampleSpec(
        seed=7,
        requests=1_000_000,
        objects=200_000,
        alpha=0.8,
        p_recent=0.2,
        recent_depth=500,
        one_hit=0.1,
    )
    return generate(spec)


@pytest.mark.slow
def test_shards_at_one_percent_is_within_001_of_exact(million: Trace) -> None:
    objects = million.n_objects
    sizes = np.linspace(objects / 50, objects, 50).astype(np.int64)
    exact = lru_curve(million, sizes)
    sampled = shards_curve(million, 0.01, sizes)
    mask = shards_sample(million, 0.01)
    assert 0.005 < mask.mean() < 0.02  # about 1% of the requests are kept
    assert sampled.method == "shards" and sampled.sample_rate == 0.01
    mae = float(np.abs(exact.miss_ratios - sampled.miss_ratios).mean())
    assert mae < 0.01


def test_shards_sampling_is_by_key_and_stable() -> None:
    trace = sample_trace("web")
    mask = shards_sample(trace, 0.1)
    kept = set(trace.keys[mask].tolist())
    assert not (set(trace.keys[~mask].tolist()) & kept)  # all of a key or none of it
    np.testing.assert_array_equal(mask, shards_sample(trace, 0.1))
    assert not np.array_equal(mask, shards_sample(trace, 0.1, salt=1))
    assert shards_sample(trace, 1.0).all()
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        shards_sample(trace, 0)
    # rate 1 is the exact curve; tiny sizes that hold no sampled unit miss everything
    sizes = [1, 10, 100, 1000]
    assert shards_curve(trace, 1.0, sizes).miss_ratios.tolist() == pytest.approx(
        lru_curve(trace, sizes).miss_ratios.tolist()
    )
    assert shards_curve(trace, 0.01, sizes).miss_ratios[:2].tolist() == [1.0, 1.0]


def test_replay_grid_in_parallel_is_replay() -> None:
    trace = zipf_trace(4, n=6000, objects=1000)
    sizes = [20, 100, 400]
    serial = replay_curve(trace, "s3fifo", sizes, jobs=1)
    parallel = replay_curve(trace, "s3fifo", sizes, jobs=2)
    expected = [replay(trace, "s3fifo", s).miss_ratio for s in sizes]
    assert serial.miss_ratios.tolist() == parallel.miss_ratios.tolist() == expected
    assert serial.method == "replay"
    with pytest.raises(ValueError, match="unknown eviction policy"):
        replay_curve(trace, "nope", sizes)
    # the dispatcher: LRU is exact, others replay, sampling scales the sizes
    assert miss_ratio_curve(trace, "lru", sizes).method == "exact"
    assert miss_ratio_curve(trace, "arc", sizes, jobs=1).method == "replay"
    sampled = miss_ratio_curve(trace, "arc", sizes, sample_rate=0.5, jobs=1)
    assert sampled.method == "shards" and np.all(np.abs(sampled.miss_ratios - expected) < 0.15)


def test_resolve_trace_specs(tmp_path: Path) -> None:
    assert resolve_trace("sample:zipf") is sample_trace("zipf")
    mine = zipf_trace(5, n=100, objects=10)
    assert resolve_trace("upload:mine.csv", {"mine.csv": mine}) is mine
    with pytest.raises(TraceError, match="no uploaded trace named 'x'"):
        resolve_trace("upload:x", {})
    with pytest.raises(TraceError, match="unknown sample 'nope'"):
        resolve_trace("sample:nope")
    path = write_trace(mine, tmp_path / "m.csv")
    assert resolve_trace(str(path)).keys.tolist() == mine.keys.tolist()


# -- the command ---------------------------------------------------------------------------


def test_mrc_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mrc", "sample:web", "--policy", "lru,s3fifo", "--sizes", "100,1k,5000", "--jobs", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["unit"] == "objects" and out["requests"] == 100_000
    lru, s3 = out["curves"]
    assert lru["sizes"] == s3["sizes"] == [100, 1000, 5000]
    trace = sample_trace("web")
    assert lru["miss_ratios"][1] == replay(trace, "lru", 1000).miss_ratio
    assert s3["miss_ratios"][2] == replay(trace, "s3fifo", 5000).miss_ratio
    assert set(out["capacity_for_90pct_hits"]) == {"lru", "s3fifo"}


def test_mrc_command_table_bytes_and_sampling(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mrc", "sample:zipf", "--bytes", "--sample", "0.1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "SHARDS at rate 0.1" in out[0] and "(bytes)" in out[0]
    assert len(out) == 1 + 1 + 20 + 1  # title, header, 20 sizes, the 90% answer
    assert out[-1].startswith("lru: 90% hit ratio at")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["mrc", "sample:web", "--policy", "lru,nope"], "unknown policy 'nope'"),
        (["mrc", "sample:web", "--policy", ","], "at least one policy"),
        (["mrc", "sample:web", "--sizes", "10,abc"], "'abc' is not a cache size"),
        (["mrc", "sample:web", "--sizes", "0"], "'0' must be a whole number >= 1"),
        (["mrc", "sample:web", "--sizes", "1.5"], "must be a whole number"),
        (["mrc", "sample:web", "--sample", "0"], "--sample: the rate must be in (0, 1]"),
        (["mrc", "sample:web", "--sample", "nan"], "--sample: the rate must be in (0, 1]"),
        (["mrc", "sample:nope"], "unknown sample 'nope'"),
        (["mrc", "/no/such/trace.csv"], "no such file"),
    ],
)
def test_mrc_command_bad_input(argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]
