"""Byte-sized caches in the engine and a trace's own timing (issue 14, sections 1 and 3):
``cluster.capacity_bytes``, ``workload.size``, ``network.bandwidth_mbps``,
``workload.trace_timing`` / ``trace_speed`` and writes from a trace's ``op`` column."""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

import cachesim
from cachesim.config import format_validation_error
from cachesim.replay import replay
from cachesim.sizes import lognormal_size
from cachesim.traces import Trace, TraceError, write_trace

#: a run where nothing takes time: the engine makes the same decisions as a replay
ZERO_TIME = {
    "duration_s": 100.0,
    "snapshot_interval_s": 1.0,
    "workload": {"write_ratio": 0.0, "trace_timing": "trace", "trace_speed": 100.0},
    "cluster": {"nodes": 1, "service_time_ms": 0.0, "service_distribution": "constant", "concurrency": 64},
    "database": {"service_time_ms": 0.0, "service_distribution": "constant", "concurrency": 64},
    "network": {"latency_ms": 0.0, "jitter_ms": 0.0},
    "client": {"timeout_ms": 10_000.0, "retries": 0},
}


def _config(base: dict, **sections: dict) -> cachesim.SimConfig:
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for name, fields in sections.items():
        if isinstance(fields, dict):
            data.setdefault(name, {}).update(fields)
        else:
            data[name] = fields
    return cachesim.SimConfig.model_validate(data)


def zipf_trace(seed: int, n_requests: int = 6000, n_objects: int = 800) -> Trace:
    """Zipf keys, one second apart, sizes per object varied per request (as raw CSV
    traces are)."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_objects + 1) ** 0.9
    ranks = rng.choice(n_objects, size=n_requests, p=weights / weights.sum())
    sizes = rng.integers(1, 4096, size=n_objects)[ranks] + rng.integers(0, 512, size=n_requests)
    return Trace(
        keys=(ranks * 31 + 7).astype(np.int64),
        sizes=sizes.astype(np.int64),
        times=np.arange(n_requests, dtype=np.float64),
        source="zipf",
    )


# -- config --------------------------------------------------------------------------------


def test_one_capacity_binds_and_the_message_names_both_fields() -> None:
    with pytest.raises(ValidationError) as err:
        cachesim.SimConfig.model_validate({"cluster": {"capacity": 10, "capacity_bytes": 1000}})
    line = format_validation_error(err.value)
    assert "cluster.capacity " in line and "cluster.capacity_bytes" in line and "\n" not in line
    cfg = cachesim.SimConfig().with_overrides({"cluster.capacity_bytes": "65536"})  # the other is zeroed
    assert (cfg.cluster.capacity, cfg.cluster.capacity_bytes, cfg.cluster.node_capacity) == (0, 65536, 65536)
    back = cfg.with_overrides({"cluster.capacity": 50})
    assert (back.cluster.capacity, back.cluster.capacity_bytes, back.cluster.in_bytes) == (50, 0, False)
    assert cachesim.SimConfig.from_toml(cfg.to_toml()) == cfg
    with pytest.raises(ValidationError, match="cluster.capacity_bytes"):
        cfg.with_overrides({"cluster.capacity": 5, "cluster.capacity_bytes": 9})


def test_size_fields_are_validated() -> None:
    for bad in ({"size": "pareto"}, {"size_bytes": 0}, {"size_sigma": -1}, {"trace_speed": 0}):
        with pytest.raises(ValidationError, match="workload"):
            cachesim.SimConfig.model_validate({"workload": bad})
    with pytest.raises(ValidationError, match="network.bandwidth_mbps"):
        cachesim.SimConfig.model_validate({"network": {"bandwidth_mbps": -1}})


# -- sizes -------------------------------------------------------------------------------


def test_lognormal_sizes_are_a_function_of_key_and_seed_with_the_given_mean() -> None:
    size = lognormal_size(4096, 1.0, seed=7)
    sizes = np.array([size(k) for k in range(200_000)])
    assert sizes.mean() == pytest.approx(4096, rel=0.02)
    assert np.log(sizes).std() == pytest.approx(1.0, rel=0.02)
    assert [size(k) for k in (5, 99, 5, -3, 2**62)] == [size(5), size(99), size(5), size(-3), size(2**62)]
    other = lognormal_size(4096, 1.0, seed=8)
    assert sum(size(k) != other(k) for k in range(100)) > 95
    assert lognormal_size(100, 0.0, seed=1)(12345) == 100  # no spread: the mean


@pytest.mark.slow
def test_sizes_keep_no_table_per_key() -> None:
    size = lognormal_size(4096, 2.0, seed=1)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for k in range(0, 10**7, 97):  # 100,000 keys spread over 10^7
        size(k)
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert grown < 20_000


@pytest.mark.slow
def test_all_sizes_one_with_a_byte_capacity_is_the_item_capacity_run() -> None:
    base = {
        "seed": 5,
        "duration_s": 3.0,
        "snapshot_interval_s": 0.25,
        "workload": {"rate_rps": 3000, "keys": 2000, "write_ratio": 0.1},
        "cluster": {"nodes": 3, "ttl_s": 0.5, "coalesce_misses": True, "eviction": "s3fifo"},
        "network": {"latency_ms": 1.0, "jitter_ms": 0.5, "loss_rate": 0.01},
        "chaos": {"events": [{"at_s": 1.0, "action": "kill", "target": "node-2", "duration_s": 0.5}]},
    }
    for eviction in ("s3fifo", "lru", "arc"):
        items = _config(base, cluster={"capacity": 150, "eviction": eviction})
        in_bytes = _config(
            base,
            cluster={"capacity": 0, "capacity_bytes": 150, "eviction": eviction},
            workload={"size": "fixed", "size_bytes": 1},
        )
        a, b = cachesim.simulate(items), cachesim.simulate(in_bytes)
        assert b.summary == a.summary
        assert a.summary["evictions" if "evictions" in a.summary else "hits"] > 0
        pd.testing.assert_frame_equal(a.timeseries(), b.timeseries())
        pd.testing.assert_frame_equal(a.nodes(), b.nodes())
        assert a.summary["byte_hit_ratio"] == a.summary["hit_ratio"]


@pytest.mark.parametrize("eviction", ["lru", "fifo", "lfu", "clock", "sieve", "s3fifo", "arc", "twoq", "slru", "lirs"])
def test_byte_capacity_engine_at_zero_latency_agrees_with_byte_replay(eviction: str) -> None:
    trace = zipf_trace(3)
    capacity = int(0.1 * np.unique(trace.keys, return_index=True)[1].size * trace.sizes.mean())
    cfg = _config(
        ZERO_TIME,
        cluster={"capacity": 0, "capacity_bytes": capacity, "eviction": eviction},
        workload={"trace": "zipf.csv"},
    )
    s = cachesim.simulate(cfg, trace=trace).summary
    ref = replay(trace, eviction, capacity, use_bytes=True)
    assert (s["issued"], s["completed"]) == (len(trace), len(trace))
    assert (s["hits"], s["misses"]) == (ref.hits, ref.misses)
    assert 0.1 < s["hit_ratio"] < 0.9
    assert s["hit_bytes"] + s["miss_bytes"] == int(trace.sizes.sum())


@pytest.mark.parametrize("eviction", ["lru", "s3fifo", "arc", "slru"])
def test_byte_capacity_engine_agrees_with_libcachesim(tmp_path: Path, eviction: str) -> None:
    lcs = pytest.importorskip("libcachesim")
    names = {"lru": "LRU", "s3fifo": "S3FIFO", "arc": "ARC", "slru": "SLRU"}
    trace = zipf_trace(4)
    path = write_trace(trace, tmp_path / "zipf.csv")
    capacity = 200_000
    params = lcs.ReaderInitParam(
        has_header=True, delimiter=",", ignore_obj_size=False, obj_id_is_num=True, obj_id_is_num_set=True
    )
    header = path.read_text().splitlines()[0].split(",")
    params.obj_id_field = header.index("key") + 1
    params.obj_size_field = header.index("size") + 1
    params.time_field = header.index("time") + 1
    cache = getattr(lcs, names[eviction])(capacity)
    n = hits = hit_bytes = 0
    for req in lcs.TraceReader(str(path), lcs.TraceType.CSV_TRACE, params):
        n += 1
        hit = cache.get(req)
        hits += hit
        hit_bytes += req.obj_size if hit else 0
    cfg = _config(
        ZERO_TIME,
        cluster={"capacity": 0, "capacity_bytes": capacity, "eviction": eviction},
        workload={"trace": str(path)},
    )
    s = cachesim.simulate(cfg).summary
    assert (s["issued"], s["hits"], s["misses"]) == (n, hits, n - hits)
    assert s["hit_bytes"] == hit_bytes
    assert s["byte_hit_ratio"] == pytest.approx(hit_bytes / int(trace.sizes.sum()))


# -- transfer time -------------------------------------------------------------------------


def _latencies(bandwidth: float, ops: list[bool]) -> dict:
    n = len(ops)
    trace = Trace(
        keys=np.array([2 if w else 1 for w in ops], dtype=np.int64),
        sizes=np.ones(n, dtype=np.int64),
        times=np.arange(n, dtype=np.float64),
        is_write=np.array(ops),
        source="hand",
    )
    cfg = _config(
        ZERO_TIME,
        duration_s=float(n + 1),
        workload={"trace": "hand.csv", "trace_speed": 1.0, "size": "fixed", "size_bytes": 1000},
        network={"latency_ms": 1.0, "bandwidth_mbps": bandwidth},
    )
    return cachesim.simulate(cfg, trace=trace).summary


def test_transfer_time_adds_size_over_bandwidth_to_the_hops_that_carry_an_object() -> None:
    # 1,000 bytes at 8 Mbit/s: 1 ms on each hop that carries the object.
    # A miss: client->node 1, node->db 1, db->node 1+1, node->client 1+1 = 6 ms;
    # each later hit: client->node 1, node->client 1+1 = 3 ms.
    s = _latencies(8.0, [False] * 10)
    assert (s["misses"], s["hits"]) == (1, 9)
    assert s["latency_max_ms"] == pytest.approx(6.0)
    assert s["latency_mean_ms"] == pytest.approx((6.0 + 9 * 3.0) / 10)
    off = _latencies(0.0, [False] * 10)
    assert off["latency_max_ms"] == pytest.approx(4.0)
    assert off["latency_mean_ms"] == pytest.approx((4.0 + 9 * 2.0) / 10)
    # a write carries its object to the database (1+1) and gets a bare reply (1): 3 ms
    w = _latencies(8.0, [True])
    assert (w["db_writes"], w["latency_max_ms"]) == (1, pytest.approx(3.0))
    assert _latencies(0.0, [True])["latency_max_ms"] == pytest.approx(2.0)


# -- trace timing ----------------------------------------------------------------------------


def _fire_times(cfg: cachesim.SimConfig, trace: Trace) -> tuple[list[float], dict]:
    sim = cachesim.Simulation(cfg, trace=trace)
    seen: list[float] = []
    fire = sim.clients.fire

    def watched() -> None:
        seen.append(sim.env.now)
        fire()

    sim.clients.fire = watched  # type: ignore[method-assign]
    return seen, sim.run().summary


def test_arrivals_are_the_traces_timestamps_scaled() -> None:
    times = np.array([100.0, 100.5, 102.0, 102.0, 110.0, 130.0])
    trace = Trace(keys=np.arange(6, dtype=np.int64), sizes=np.ones(6, dtype=np.int64), times=times, source="t")
    cfg = cachesim.SimConfig.model_validate(
        {
            "duration_s": 12.0,
            "snapshot_interval_s": 0.5,
            "workload": {"trace": "t.csv", "trace_timing": "trace", "trace_speed": 2.0},
        }
    )
    seen, s = _fire_times(cfg, trace)
    assert seen == [0.0, 0.25, 1.0, 1.0, 5.0]  # 130 s is at 15 s: after the run's 12 s
    assert s["issued"] == 5
    poisson, _ = _fire_times(cfg.with_overrides({"workload.trace_timing": "poisson"}), trace)
    assert len(poisson) > 1000  # at rate_rps, wrapping around the keys


def test_writes_come_from_the_op_column(tmp_path: Path) -> None:
    path = tmp_path / "ops.csv"
    path.write_text("time,key,op\n0,1,get\n1,2,set\n2,1,get\n3,3,SET\n4,1,write\n5,4,read\n6,2,get\n")
    cfg = cachesim.SimConfig.model_validate(
        {"duration_s": 10.0, "workload": {"trace": str(path), "trace_timing": "trace", "write_ratio": 0.9}}
    )
    s = cachesim.simulate(cfg).summary
    assert (s["issued"], s["db_writes"], s["hits"] + s["misses"]) == (7, 3, 4)


def test_trace_timing_without_a_time_column_is_one_line_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "keys.csv"
    path.write_text("key\n1\n2\n1\n")
    cfg = cachesim.SimConfig.model_validate({"workload": {"trace": str(path), "trace_timing": "trace"}})
    with pytest.raises(TraceError) as err:
        cachesim.Simulation(cfg)
    msg = str(err.value)
    assert msg.startswith("workload.trace_timing:") and "time column" in msg and "\n" not in msg
    with pytest.raises(ValidationError, match="workload.trace_timing"):
        cachesim.SimConfig.model_validate({"workload": {"trace_timing": "trace"}})


def test_trace_sizes_fill_a_byte_cache_by_the_latest_request() -> None:
    # capacity 100 bytes: key 1 (60 B) and key 2 (50 B) cannot both stay
    trace = Trace(
        keys=np.array([1, 2, 1, 2], dtype=np.int64),
        sizes=np.array([60, 50, 60, 50], dtype=np.int64),
        times=np.arange(4, dtype=np.float64),
        source="s",
    )
    cfg = _config(
        ZERO_TIME, workload={"trace": "s.csv", "trace_speed": 1.0}, cluster={"capacity": 0, "capacity_bytes": 100}
    )
    s = cachesim.simulate(cfg, trace=trace).summary
    assert (s["hits"], s["misses"], s["miss_bytes"]) == (0, 4, 220)
    roomy = cachesim.simulate(cfg.with_overrides({"cluster.capacity_bytes": 110}), trace=trace).summary
    assert (roomy["hits"], roomy["hit_bytes"], roomy["byte_hit_ratio"]) == (2, 110, 0.5)
    assert not math.isnan(roomy["hit_ratio"])
