"""Unit behaviour of the eviction policies (their agreement with libCacheSim is in
test_replay.py)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cachesim.config import EVICTION_NAMES, SimConfig
from cachesim.policies import (
    ARC,
    EVICTION_POLICIES,
    LFU,
    LIRS,
    LRU,
    MISS,
    NO_EVICTIONS,
    ONLINE_EVICTION_NAMES,
    S3FIFO,
    SLRU,
    Belady,
    Clock,
    EvictionPolicy,
    Sieve,
    make_eviction,
)
from cachesim.replay import replay
from cachesim.traces import Trace, next_access_vtime

#: The single-queue policies, whose small-capacity behaviour the generic tests below
#: pin down; the multi-queue ones (S3-FIFO, ARC, 2Q, SLRU, LIRS) have tests of their own
#: (libCacheSim gives them no room at tiny capacities: S3-FIFO's small queue is 10%).
NAMES = ["lru", "fifo", "lfu", "clock", "sieve"]
COMPOSITE = ["s3fifo", "arc", "twoq", "slru", "lirs"]


def filled(name: str, capacity: int, keys: list[str]) -> EvictionPolicy:
    cache = make_eviction(name, capacity)
    for k in keys:
        assert cache.put(k, f"v{k}") is NO_EVICTIONS or len(keys) > capacity
    return cache


# -- the interface, for every policy -------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_get_miss_then_put_then_hit(name: str) -> None:
    cache = make_eviction(name, 3)
    assert cache.get("a") is MISS
    assert cache.put("a", 0) is NO_EVICTIONS  # falsy values are values
    assert cache.get("a") == 0
    assert "a" in cache and "b" not in cache
    assert len(cache) == 1 and cache.used == 1


@pytest.mark.parametrize("name", NAMES)
def test_capacity_is_never_exceeded_and_evictions_are_reported(name: str) -> None:
    cache = make_eviction(name, 3)
    evicted: list[str] = []
    for i in range(20):
        out = cache.put(f"k{i}", i)
        evicted.extend(out)
        assert len(cache) <= 3 and cache.used == len(cache)
    assert len(evicted) == 17
    assert len(set(evicted)) == 17
    assert all(k not in cache for k in evicted)


@pytest.mark.parametrize("name", NAMES)
def test_peek_and_update_do_not_count_as_access(name: str) -> None:
    cache = filled(name, 2, ["a", "b"])
    before = cache.keys()  # type: ignore[attr-defined]
    assert cache.peek("a") == "va"
    assert cache.peek("zz") is MISS
    assert cache.update("a", "new") is True
    assert cache.update("zz", 1) is False
    assert "zz" not in cache
    assert cache.keys() == before  # type: ignore[attr-defined]
    assert cache.peek("a") == "new"
    # with no access recorded, every policy evicts the oldest insertion first
    assert list(cache.put("c", 3)) == ["a"]


@pytest.mark.parametrize("name", NAMES)
def test_discard_and_clear(name: str) -> None:
    cache = filled(name, 4, ["a", "b", "c"])
    cache.get("b")
    assert cache.discard("b") is True
    assert cache.discard("b") is False
    assert "b" not in cache and len(cache) == 2 and cache.used == 2
    # the slot is free again: no eviction needed for two more
    assert cache.put("d", 4) is NO_EVICTIONS
    assert cache.put("e", 5) is NO_EVICTIONS
    cache.clear()
    assert len(cache) == 0 and cache.used == 0 and cache.get("a") is MISS
    assert cache.put("x", 1) is NO_EVICTIONS and cache.get("x") == 1


@pytest.mark.parametrize("name", NAMES)
def test_sizes_too_big_objects_and_resizing(name: str) -> None:
    cache = make_eviction(name, 10)
    assert cache.put("big", 1, size=11) is NO_EVICTIONS
    assert "big" not in cache and cache.used == 0
    cache.put("a", 1, size=4)
    cache.put("b", 2, size=4)
    assert cache.used == 8
    assert list(cache.put("c", 3, size=3)) == ["a"]  # room is made before inserting
    assert cache.used == 7
    cache.put("b", 22, size=6)  # a new size re-inserts b
    assert cache.peek("b") == 22 and cache.used <= 10
    with pytest.raises(ValueError):
        cache.put("z", 0, size=0)


@pytest.mark.parametrize("name", NAMES)
def test_access_is_lookup_plus_insert(name: str) -> None:
    cache = make_eviction(name, 2)
    assert cache.access("a") is False
    assert cache.access("a") is True
    assert cache.peek("a") is None
    assert cache.access("huge", 3) is False and "huge" not in cache
    assert cache.access("b", 2) is False  # evicts a to fit
    assert "a" not in cache and cache.used == 2


def test_make_eviction_rejects_unknown_names_and_bad_capacity() -> None:
    with pytest.raises(ValueError, match="unknown eviction policy 'nope'.*lru"):
        make_eviction("nope", 10)
    for name in EVICTION_POLICIES:
        with pytest.raises(ValueError, match="capacity must be >= 1"):
            make_eviction(name, 0)


# -- each policy's rule ----------------------------------------------------------------


def test_lru_evicts_least_recently_used() -> None:
    cache = filled("lru", 3, ["a", "b", "c"])
    cache.get("a")
    assert list(cache.put("d", 4)) == ["b"]
    cache.put("c", "again")  # overwriting counts as an access
    assert list(cache.put("e", 5)) == ["a"]
    assert cache.keys() == ["d", "c", "e"]  # type: ignore[attr-defined]


def test_fifo_ignores_hits() -> None:
    cache = filled("fifo", 3, ["a", "b", "c"])
    cache.get("a")
    cache.get("a")
    assert list(cache.put("d", 4)) == ["a"]


def test_lfu_evicts_lowest_count_and_breaks_ties_by_who_got_there_first() -> None:
    cache = LFU(3)
    for k in "abc":
        cache.access(k)
    cache.access("c")  # c: 2
    cache.access("a")  # a: 2, reached 2 after c
    assert cache.frequency("a") == 2 and cache.frequency("b") == 1
    assert list(cache.put("d", 4)) == ["b"]  # the only count-1 object
    assert list(cache.put("e", 5)) == ["d"]  # new objects start at 1
    cache.access("e")  # e: 2, last to reach it
    assert cache.keys() == ["c", "a", "e"]
    assert list(cache.put("f", 6)) == ["c"]  # c reached 2 first
    assert cache.frequency("c") == 0  # counts are forgotten on eviction
    cache.put("c", 7)
    assert cache.frequency("c") == 1


def test_lfu_multi_eviction_keeps_its_minimum() -> None:
    cache = LFU(10)
    cache.put("a", 1, size=3)
    cache.put("b", 1, size=3)
    cache.put("c", 1, size=3)
    for _ in range(3):
        cache.get("a")
    cache.get("b")
    # needs 9 free: evicts c (1), then b (2), then a (4)
    assert list(cache.put("d", 1, size=9)) == ["c", "b", "a"]
    assert cache.used == 9 and cache.keys() == ["d"]


def test_clock_gives_a_second_chance() -> None:
    cache = Clock(3)
    for k in "abc":
        cache.put(k, k)
    cache.get("a")
    assert list(cache.put("d", "d")) == ["b"]  # a had its bit set: cleared, moved on
    assert cache.keys() == ["c", "a", "d"]
    cache.get("c")
    cache.get("a")
    assert list(cache.put("e", "e")) == ["d"]


def test_sieve_hand_stays_where_it_stopped() -> None:
    cache = Sieve(3)
    for k in "abc":
        cache.put(k, k)
    cache.get("a")
    assert list(cache.put("d", "d")) == ["b"]  # hand passes a (clearing it), evicts b
    cache.get("d")
    # the hand is at c (unvisited): c goes, although a was inserted earlier
    assert list(cache.put("e", "e")) == ["c"]
    cache.get("e")
    # the hand clears d and e, wraps past the head to the tail: a (unvisited) goes
    assert list(cache.put("f", "f")) == ["a"]
    assert cache.keys() == ["d", "e", "f"]


def test_sieve_discard_of_the_hand_moves_it_on() -> None:
    cache = Sieve(3)
    for k in "abc":
        cache.put(k, k)
    cache.get("a")
    cache.put("d", "d")  # evicts b, hand now at c
    assert cache.discard("c")
    cache.put("e", "e")  # no eviction needed
    assert list(cache.put("f", "f")) == ["d"]  # hand moved on to d (unvisited)


# -- properties ------------------------------------------------------------------------

ops = st.lists(
    st.tuples(
        st.sampled_from(["get", "put", "access", "discard", "update", "peek"]),
        st.integers(0, 15),
        st.integers(1, 6),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(NAMES + COMPOSITE), capacity=st.integers(1, 60), script=ops)
def test_used_never_exceeds_capacity_and_len_matches(
    name: str, capacity: int, script: list[tuple[str, int, int]]
) -> None:
    cache = make_eviction(name, capacity)
    sizes: dict[int, int] = {}
    for op, key, size in script:
        if op == "get":
            cache.get(key)  # a hit may cascade (SLRU cools, LIRS demotes): silently
            sizes = {k: v for k, v in sizes.items() if k in cache}
        elif op == "put":
            for k in cache.put(key, key, size):
                sizes.pop(k)
            if key in cache:
                sizes[key] = size
        elif op == "access":
            if not cache.access(key, size) and key in cache:
                sizes[key] = size
            sizes = {k: v for k, v in sizes.items() if k in cache}  # silent evictions
        elif op == "discard":
            assert cache.discard(key) is (sizes.pop(key, None) is not None)
        elif op == "update":
            assert cache.update(key, -1) is (key in sizes)
        else:
            cache.peek(key)
        stored = cache.keys()  # type: ignore[attr-defined]
        assert cache.used <= capacity
        assert len(cache) == len(stored) == len(set(stored)) == len(sizes)
        assert set(stored) == set(sizes)
        assert cache.used == sum(sizes.values())


class _ReferenceLRU:
    """A deliberately naive LRU/FIFO model for the property below."""

    def __init__(self, capacity: int, lru: bool) -> None:
        self.capacity, self.lru, self.items = capacity, lru, OrderedDict[int, int]()

    def access(self, key: int, size: int) -> bool:
        if key in self.items:
            if self.lru:
                self.items.move_to_end(key)
            return True
        if size <= self.capacity:
            while sum(self.items.values()) + size > self.capacity:
                self.items.popitem(last=False)
            self.items[key] = size
        return False


@settings(max_examples=100, deadline=None)
@given(
    kind=st.sampled_from(["lru", "fifo"]),
    capacity=st.integers(1, 20),
    reqs=st.lists(st.tuples(st.integers(0, 25), st.integers(1, 8)), max_size=300),
)
def test_lru_fifo_match_a_naive_model(kind: str, capacity: int, reqs: list[tuple[int, int]]) -> None:
    cache = make_eviction(kind, capacity)
    model = _ReferenceLRU(capacity, lru=kind == "lru")
    for key, size in reqs:
        assert cache.access(key, size) == model.access(key, size)
    assert cache.keys() == list(model.items)  # type: ignore[attr-defined]


def test_get_is_the_same_as_access_on_hits() -> None:
    a, b = LRU(3), LRU(3)
    for k in [1, 2, 3, 1, 4, 2, 5, 1]:
        if a.get(k) is MISS:
            a.put(k, None)
        b.access(k)
    assert a.keys() == b.keys()


# -- the multi-queue policies and Belady -------------------------------------------------


def zipf_keys(seed: int, n: int = 4000, objects: int = 400) -> list[int]:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, objects + 1) ** 0.9
    return rng.choice(objects, size=n, p=weights / weights.sum()).tolist()


def test_registry_and_config_names() -> None:
    assert set(EVICTION_POLICIES) == set(NAMES + COMPOSITE) | {"belady"}
    assert ONLINE_EVICTION_NAMES == tuple(n for n in EVICTION_POLICIES if n != "belady")
    assert EVICTION_NAMES == ONLINE_EVICTION_NAMES  # the config takes them from here
    assert SimConfig.model_validate({"cluster": {"eviction": "s3fifo"}}).cluster.eviction == "s3fifo"
    with pytest.raises(ValueError, match="belady"):
        SimConfig.model_validate({"cluster": {"eviction": "belady"}})
    for name, cls in EVICTION_POLICIES.items():
        assert cls.name == name


@pytest.mark.parametrize("name", COMPOSITE)
def test_composite_get_put_is_the_same_as_access(name: str) -> None:
    # a cache node does get, then put on a miss; replay does access: same decisions
    node, replayed = make_eviction(name, 40), make_eviction(name, 40)
    hits = 0
    for i, key in enumerate(zipf_keys(3)):
        value = node.get(key)
        if value is MISS:
            node.put(key, f"v{key}")
        else:
            assert value == f"v{key}"
            hits += 1
        assert replayed.access(key) is (value is not MISS), i
        assert set(node.keys()) == set(replayed.keys())  # type: ignore[attr-defined]
        assert node.used == replayed.used <= 40
        # libCacheSim's LIRS can leave a hit HIR object resident but uncounted (it is
        # pushed out of Q while making LIR room for it); everyone else counts exactly
        assert node.used == len(node) or name == "lirs"
    assert 1000 < hits < 3500


@pytest.mark.parametrize("name", COMPOSITE)
def test_composite_put_reports_exactly_what_left(name: str) -> None:
    cache = make_eviction(name, 40)
    resident: set[int] = set()
    for key in zipf_keys(4):
        if cache.get(key) is not MISS:
            resident &= set(cache.keys())  # type: ignore[attr-defined]  (hits may evict)
        else:
            evicted = cache.put(key, key)
            assert len(set(evicted)) == len(evicted)
            resident -= set(evicted)
            if key in cache:
                resident.add(key)
        assert resident == set(cache.keys())  # type: ignore[attr-defined]
    assert cache.put(10_000, 1, size=41) is NO_EVICTIONS and 10_000 not in cache


def test_s3fifo_small_queue_ghost_and_main() -> None:
    cache = S3FIFO(100)  # small queue 10, main 90, ghost 90
    assert (cache.small_cap, cache.main_cap, cache.ghost_cap) == (10, 90, 90)
    for k in range(10):
        cache.access(k)
    for _ in range(2):
        cache.access(0)  # hit twice in the small queue: will move to main
    for k in range(10, 100):  # before the first eviction a full small queue feeds main
        cache.access(k)
    assert cache.main_used == 90 and cache.small_used == 10
    cache.access(1000)  # needs room: main is not over its share, evict from small
    assert 0 in cache and 1 not in cache  # 0 moved to main, 1 went to the ghost
    assert 1 in cache._ghost and cache.main_used == 91 and 1000 in cache._small
    assert cache.access(1) is False  # a ghost hit is a miss that goes to main
    assert 1 in cache._main and 1 not in cache._ghost
    tiny = S3FIFO(9)  # a small queue of 0: libCacheSim admits nothing
    assert tiny.access(1) is False and tiny.access(1) is False and len(tiny) == 0


def test_arc_ghost_hits_move_p() -> None:
    cache = ARC(4)
    for k in "abab":
        cache.access(k)  # a, b seen twice: L2
    cache.access("c")
    cache.access("d")
    assert list(cache._l1) == ["c", "d"] and list(cache._l2) == ["a", "b"]
    cache.access("e")  # |L1| = 2 > p = 0: L1's tail goes to the ghost B1
    assert list(cache._b1) == ["c"] and "c" not in cache
    assert cache.access("c") is False  # a B1 hit: p grows by max(|B2| / |B1|, 1) = 1
    assert cache.p == 1
    # REPLACE: |L1| = 2 > p, so L1's tail (d) goes to B1; c goes to the head of L2
    assert list(cache._l2) == ["a", "b", "c"] and list(cache._b1) == ["d"]
    assert list(cache._l1) == ["e"]
    cache.access("b")
    cache.access("y")  # |L1| = 1 == p, the key was not in B2: L2's tail (a) goes to B2
    assert list(cache._b2) == ["a"] and list(cache._l1) == ["e", "y"]


def test_slru_promotes_and_cools() -> None:
    cache = SLRU(8)  # four segments of 2
    for k in "abcdefgh":
        cache.access(k)  # a filling cache fills the upper segments too
    assert [list(s) for s in cache._segs] == [["a", "b"], ["c", "d"], ["e", "f"], ["g", "h"]]
    cache.access("a")  # to segment 1; its LRU (c) cools to segment 0
    assert [list(s) for s in cache._segs][:2] == [["b", "c"], ["d", "a"]]
    cache.access("i")  # evicts from the lowest segment: b
    assert "b" not in cache and cache._where["i"] == 0


def test_lirs_keeps_lir_set_against_a_scan() -> None:
    cache = LIRS(100)  # HIR share 1
    hot = list(range(50))
    for _ in range(3):
        for k in hot:
            cache.access(k)
    for k in range(1000, 3000):  # a long scan of one-hit wonders
        cache.access(k)
    assert all(k in cache for k in hot)  # LRU would have lost every one of them
    assert cache.hirs_count <= cache.hirs_limit and cache.used <= 100


def test_belady_evicts_the_furthest_next_use() -> None:
    keys = ["a", "b", "c", "a", "b", "d", "a", "b", "c"]
    cache = Belady(2)
    with pytest.raises(RuntimeError, match="set_future"):
        cache.access("a")
    cache.set_future(next_access_vtime(np.array([ord(k) for k in keys])).tolist())
    hits = [cache.access(k) for k in keys]
    # at c the residents are a (next use 4) and b (5): b goes; then c (9) goes for b,
    # b (8) for d; no bypass: the incoming object is always inserted, as libCacheSim does
    assert hits == [False, False, False, True, False, False, True, False, False]
    assert replay(_trace(keys), "belady", 2).misses == 7
    assert replay(_trace(keys), "lru", 2).misses == 9


def _trace(keys: list[str]) -> Trace:
    arr = np.array([ord(k) for k in keys], dtype=np.int64)
    return Trace(keys=arr, sizes=np.ones(len(arr), np.int64))


def test_belady_fast_path_matches_the_exact_heap() -> None:
    keys = zipf_keys(7, n=6000, objects=700)
    future = next_access_vtime(np.array(keys)).tolist()
    exact, fast, stepwise = Belady(50), Belady(50), Belady(50)
    exact.set_future(future)
    fast.set_future(future, equal_sizes=True)
    stepwise.set_future(future, equal_sizes=True)
    hits = [exact.access(k) for k in keys]
    assert fast.run(keys) == sum(hits)  # the same misses (ties cannot matter)
    assert [stepwise.access(k) for k in keys] == hits
    assert len(fast) == len(exact) == 50
    with pytest.raises(RuntimeError, match="only access"):
        fast.get(fast.keys()[0])
