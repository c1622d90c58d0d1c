"""Byte-based Belady replay (:func:`belady_hits_sized`, the loop ``replay`` runs) makes
libCacheSim's decisions: the same miss count as the step-by-step :class:`Belady` (its
heap, move for move) and as libCacheSim itself, on traces with many "never requested
again" objects (the heap's ties), sizes that vary, objects bigger than the cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cachesim.policies.belady import Belady, belady_hits_sized
from cachesim.replay import replay
from cachesim.traces import Trace, next_access_vtime, read_trace, write_trace


def tie_heavy_trace(seed: int, n: int = 3000) -> Trace:
    """Zipf requests mixed with one-hit wonders (each a "never again" object on arrival),
    sizes 1..5000 bytes per object; on odd seeds a request's size also varies (a hit
    keeps the size the object was inserted with)."""
    rng = np.random.default_rng(seed)
    objects = 300
    weights = 1.0 / np.arange(1, objects + 1) ** 0.9
    keys = rng.choice(objects, size=n, p=weights / weights.sum()).astype(np.int64)
    wonders = rng.random(n) < 0.3
    keys[wonders] = 10_000 + np.flatnonzero(wonders)  # never requested again
    object_sizes = rng.integers(1, 5000, size=10_000 + n)
    sizes = object_sizes[keys]
    if seed % 2:
        sizes = sizes + rng.integers(0, 2000, size=n)
    return Trace(keys=keys * 7919 - 3, sizes=sizes.astype(np.int64))


def stepwise_hits(trace: Trace, capacity: int) -> int:
    cache = Belady(capacity)
    cache.set_future(next_access_vtime(trace.keys))
    return sum(cache.access(k, s) for k, s in zip(trace.keys.tolist(), trace.sizes.tolist(), strict=True))


@pytest.mark.parametrize("seed", range(3))
def test_tie_order_changes_the_contents_never_the_hits(seed: int) -> None:
    # what belady_hits_sized rests on: evicting the never-again objects in another
    # order (Belady's lazy heapq path: ties by request order) leaves other objects
    # in the cache, with the same hits
    trace = tie_heavy_trace(seed)
    future = next_access_vtime(trace.keys)
    contents_differed = False
    for capacity in (20_000, 60_000, 150_000):
        exact, other = Belady(capacity), Belady(capacity)
        exact.set_future(future)
        other.set_future(future, equal_sizes=True)
        keys, sizes = trace.keys.tolist(), trace.sizes.tolist()
        assert exact.run(keys, sizes) == other.run(keys, sizes) == belady_hits_sized(trace.keys, trace.sizes, capacity)
        contents_differed |= set(exact.keys()) != set(other.keys())
    assert contents_differed


@pytest.mark.parametrize("seed", range(6))
def test_sized_loop_matches_the_stepwise_heap(seed: int) -> None:
    trace = tie_heavy_trace(seed)
    for capacity in (4000, 20_000, 60_000, 150_000, 400_000):
        exact = stepwise_hits(trace, capacity)
        assert belady_hits_sized(trace.keys, trace.sizes, capacity) == exact
        assert replay(trace, "belady", capacity, use_bytes=True).hits == exact
        assert 0 < exact < len(trace)


def test_sized_loop_edge_cases() -> None:
    empty = np.array([], dtype=np.int64)
    assert belady_hits_sized(empty, empty, 10) == 0
    keys = np.array([1, 2, 1, 3, 1, 2], dtype=np.int64)
    # 2 never fits (bigger than the cache); a size-0 object always fits
    assert belady_hits_sized(keys, np.array([5, 50, 5, 0, 5, 50]), 10) == 2
    sizes = np.array([6, 5, 6, 1, 6, 5])
    # capacity 10: the incoming object is always inserted: 2 evicts 1, 1 evicts 2; one hit
    assert belady_hits_sized(keys, sizes, 10) == 1
    # capacity 11: 1 and 2 fit, then 3 (1 byte) evicts the one requested furthest ahead (2)
    assert belady_hits_sized(keys, sizes, 11) == 2
    assert belady_hits_sized(keys, sizes, 12) == 3
    for capacity in (10, 11, 12):
        assert belady_hits_sized(keys, sizes, capacity) == stepwise_hits(Trace(keys=keys, sizes=sizes), capacity)


def test_sized_replay_matches_libcachesim(tmp_path: Path) -> None:
    lcs = pytest.importorskip("libcachesim")
    trace = tie_heavy_trace(2, n=8000)
    path = write_trace(trace, tmp_path / "ties.oracleGeneral.bin")
    ours = read_trace(path)
    for capacity in (5000, 40_000, 250_000, 1_000_000):
        params = lcs.ReaderInitParam(ignore_obj_size=False)
        reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE, params)
        cache = lcs.Belady(capacity)
        theirs = sum(1 for req in reader if not cache.get(req))
        assert replay(ours, "belady", capacity, use_bytes=True).misses == theirs
