"""Replay agrees exactly (the same miss count) with the libcachesim package.

Zipf traces are generated here (seeded), written as CSV and as oracleGeneral binary,
and replayed both by ``cachesim.replay`` and by libCacheSim, count-based and in bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cachesim.policies import EVICTION_POLICIES, LRU
from cachesim.replay import ReplayResult, replay
from cachesim.traces import Trace, read_trace, write_trace

lcs = pytest.importorskip("libcachesim")

LCS_NAMES = {
    "lru": "LRU",
    "fifo": "FIFO",
    "lfu": "LFU",
    "clock": "Clock",
    "sieve": "Sieve",
    "s3fifo": "S3FIFO",
    "arc": "ARC",
    "twoq": "TwoQ",
    "slru": "SLRU",
    "lirs": "LIRS",
    "belady": "Belady",
}
N_OBJECTS = 3000
N_REQUESTS = 20_000


def zipf_trace(seed: int, *, alpha: float = 0.9, vary_sizes: bool = False) -> Trace:
    """Zipf popularity over scattered object ids; each object has one size (varied per
    request with ``vary_sizes``, as raw CSV traces are)."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, N_OBJECTS + 1) ** alpha
    ranks = rng.choice(N_OBJECTS, size=N_REQUESTS, p=weights / weights.sum())
    ids = rng.permutation(N_OBJECTS).astype(np.int64) * 7919 + 11
    object_sizes = rng.integers(1, 4096, size=N_OBJECTS)
    sizes = object_sizes[ranks]
    if vary_sizes:
        sizes = sizes + rng.integers(0, 2048, size=N_REQUESTS)
    return Trace(
        keys=ids[ranks],
        sizes=sizes.astype(np.int64),
        times=np.sort(rng.integers(0, 86_400, size=N_REQUESTS)).astype(np.float64),
        is_write=rng.random(N_REQUESTS) < 0.1,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("traces")
    pinned, varied = zipf_trace(1), zipf_trace(2, alpha=1.1, vary_sizes=True)
    return {
        "bin": write_trace(pinned, d / "zipf.oracleGeneral.bin"),
        "csv": write_trace(pinned, d / "zipf.csv"),
        "csv-varied": write_trace(varied, d / "zipf_varied.csv"),
    }


def fast_first(fast: object, slow: list) -> list:
    """One axis of a matrix: ``fast`` in the daily subset, the other values marked ``slow``."""
    return [fast, *(pytest.param(v, marks=pytest.mark.slow) for v in slow)]


def lcs_reader(path: Path, *, use_bytes: bool, string_keys: bool = False) -> object:
    if path.suffix == ".bin":
        params = lcs.ReaderInitParam(ignore_obj_size=not use_bytes)
        return lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE, params)
    header = path.read_text().splitlines()[0].split(",")
    params = lcs.ReaderInitParam(
        has_header=True,
        delimiter=",",
        ignore_obj_size=not use_bytes,
        obj_id_is_num=not string_keys,
        obj_id_is_num_set=True,
    )
    params.obj_id_field = header.index("key") + 1
    if "size" in header:
        params.obj_size_field = header.index("size") + 1
    if "time" in header:
        params.time_field = header.index("time") + 1
    return lcs.TraceReader(str(path), lcs.TraceType.CSV_TRACE, params)


def lcs_misses(path: Path, policy: str, capacity: int, *, use_bytes: bool, **kw: bool) -> tuple[int, int]:
    """(requests, misses) of libCacheSim's policy on the file."""
    # counted request by request: the reader's get_num_of_req() counts the records of
    # the file, including the size-0 ones that reading skips
    reader = lcs_reader(path, use_bytes=use_bytes, **kw)
    cache = getattr(lcs, LCS_NAMES[policy])(capacity)
    n = hits = 0
    for req in reader:
        n += 1
        hits += cache.get(req)
    return n, n - hits


@pytest.mark.parametrize("policy", list(LCS_NAMES))
@pytest.mark.parametrize("fmt", fast_first("bin", ["csv"]))
@pytest.mark.parametrize("capacity", fast_first(100, [1, 7, 10, 19, 700, 2500]))
def test_count_based_replay_matches_libcachesim(files: dict[str, Path], fmt: str, policy: str, capacity: int) -> None:
    if policy == "belady" and fmt != "bin":
        pytest.skip("Belady needs next-access times: oracleGeneral only in libCacheSim")
    path = files[fmt]
    result = replay(read_trace(path), policy, capacity)
    if policy == "s3fifo" and capacity < 10:
        # a small queue of 0: libcachesim aborts the process; we admit nothing
        assert result.misses == result.requests
        return
    assert (result.requests, result.misses) == lcs_misses(path, policy, capacity, use_bytes=False)


@pytest.mark.parametrize("policy", list(LCS_NAMES))
@pytest.mark.parametrize("fmt", fast_first("csv-varied", ["bin", "csv"]))
@pytest.mark.parametrize("capacity", fast_first(50_000, [3000, 600_000, 3_000_000]))
def test_byte_replay_matches_libcachesim(files: dict[str, Path], fmt: str, policy: str, capacity: int) -> None:
    # 3000 bytes: many objects are bigger than the cache and are never inserted;
    # csv-varied: an object's size changes between requests (a hit keeps the old one)
    if policy == "belady" and fmt != "bin":
        pytest.skip("Belady needs next-access times: oracleGeneral only in libCacheSim")
    path = files[fmt]
    result = replay(read_trace(path), policy, capacity, use_bytes=True)
    assert (result.requests, result.misses) == lcs_misses(path, policy, capacity, use_bytes=True)


@pytest.mark.parametrize("policy", ["lru", "lfu"])
def test_string_keys_match_libcachesim(tmp_path: Path, policy: str) -> None:
    rng = np.random.default_rng(5)
    weights = 1.0 / np.arange(1, 501) ** 1.0
    ranks = rng.choice(500, size=5000, p=weights / weights.sum())
    path = tmp_path / "strings.csv"
    # (libCacheSim's CSV reader needs at least two columns)
    path.write_text("key,size\n" + "".join(f"obj-{r:04d},1\n" for r in ranks))
    result = replay(read_trace(path), policy, 50)
    n, misses = lcs_misses(path, policy, 50, use_bytes=False, string_keys=True)
    assert (result.requests, result.misses) == (n, misses)


def test_zero_size_requests_are_skipped_like_libcachesim(tmp_path: Path) -> None:
    trace = zipf_trace(3)
    sizes = trace.sizes.copy()
    sizes[::9] = 0
    path = write_trace(Trace(keys=trace.keys, sizes=sizes), tmp_path / "zeros.oracleGeneral.bin")
    read = read_trace(path)
    assert read.zero_size_skipped == int((sizes == 0).sum())
    for use_bytes, capacity in [(False, 200), (True, 400_000)]:
        result = replay(read, "lru", capacity, use_bytes=use_bytes)
        expected = lcs_misses(path, "lru", capacity, use_bytes=use_bytes)
        assert (result.requests, result.misses) == expected


def test_both_formats_read_the_same_requests(files: dict[str, Path]) -> None:
    a, b = read_trace(files["bin"]), read_trace(files["csv"])
    assert a.format == "oracleGeneral" and b.format == "csv"
    np.testing.assert_array_equal(a.keys, b.keys)
    np.testing.assert_array_equal(a.sizes, b.sizes)
    np.testing.assert_array_equal(a.times, b.times)
    assert a.is_write is None and b.is_write is not None


def test_replay_result_and_policy_classes(files: dict[str, Path]) -> None:
    trace = read_trace(files["bin"])
    by_name = replay(trace, "lru", 100)
    by_class = replay(trace, LRU, 100)
    assert by_name == by_class
    assert by_name.hits + by_name.misses == by_name.requests == N_REQUESTS
    assert by_name.miss_ratio == pytest.approx(by_name.misses / N_REQUESTS)
    assert list(by_name.to_dict()) == ["requests", "hits", "misses", "miss_ratio"]
    assert isinstance(by_name, ReplayResult)
    # bigger caches never miss more (LRU is a stack algorithm)
    misses = [replay(trace, "lru", c).misses for c in (10, 100, 1000, N_OBJECTS)]
    assert misses == sorted(misses, reverse=True)
    assert misses[-1] == len(np.unique(trace.keys))  # only cold misses left


def test_every_policy_is_checked() -> None:
    assert set(EVICTION_POLICIES) == set(LCS_NAMES)


def test_replay_rejects_bad_arguments(files: dict[str, Path]) -> None:
    trace = read_trace(files["csv"])
    with pytest.raises(ValueError, match="capacity"):
        replay(trace, "lru", 0)
    with pytest.raises(ValueError, match="unknown eviction policy"):
        replay(trace, "nope", 10)
