"""The engine against theory: Che's approximation (LRU), its FIFO counterpart, M/M/1
and M/M/c response times, and consistent hashing's key movement."""

import numpy as np
import pytest

import cachesim
from cachesim.config import WorkloadConfig
from cachesim.policies.routing import ConsistentHash
from cachesim.theory import che_lru_hit_ratio, fifo_hit_ratio, mm1_response_time, mmc_response_time
from cachesim.workload import popularity


def one_node(**over):
    """One node, reads only, no loss, no network delay: the independent reference model."""
    base = {
        "seed": 7,
        "duration_s": 12.0,
        "warmup_s": 2.0,
        "snapshot_interval_s": 1.0,
        "workload": {
            "rate_rps": 20000,
            "clients": 1,
            "keys": 10000,
            "distribution": "zipf",
            "zipf_alpha": 0.8,
            "write_ratio": 0.0,
        },
        "cluster": {"nodes": 1, "capacity": 1000, "service_time_ms": 0.0, "concurrency": 64},
        "database": {"service_time_ms": 0.0, "concurrency": 64},
        "network": {"latency_ms": 0.0, "jitter_ms": 0.0, "loss_rate": 0.0},
        "client": {"timeout_ms": 10_000, "retries": 0},
    }
    cfg = cachesim.SimConfig.model_validate(base)
    return cfg.with_overrides(over)


def test_analytic_values_from_the_literature():
    p = popularity(WorkloadConfig(keys=10000, zipf_alpha=0.8))
    assert che_lru_hit_ratio(p, 1000) == pytest.approx(0.4367, abs=5e-5)
    assert fifo_hit_ratio(p, 1000) == pytest.approx(0.3942, abs=5e-5)
    assert che_lru_hit_ratio(p, 10000) == 1.0
    assert mm1_response_time(1600, 2000) == pytest.approx(1 / 400)
    assert mmc_response_time(1600, 2000, 1) == pytest.approx(1 / 400)
    # M/M/2 at a = 1: C(2, 1) = 1/3, W = 1/mu + C / (2 mu - lambda)
    assert mmc_response_time(1.0, 1.0, 2) == pytest.approx(1 + (1 / 3) / 1)


@pytest.mark.slow
@pytest.mark.parametrize("policy,expected", [("lru", 0.4367), ("fifo", 0.3942)])
def test_single_node_hit_ratio_matches_theory(policy, expected):
    res = cachesim.simulate(one_node(**{"cluster.eviction": policy}))
    assert res.summary["hits"] + res.summary["misses"] > 150_000
    assert res.summary["hit_ratio"] == pytest.approx(expected, abs=0.01)


@pytest.mark.slow
def test_lru_beats_fifo_and_bigger_caches_hit_more():
    lru = cachesim.simulate(one_node(duration_s=6)).summary["hit_ratio"]
    fifo = cachesim.simulate(one_node(duration_s=6, **{"cluster.eviction": "fifo"})).summary["hit_ratio"]
    big = cachesim.simulate(one_node(duration_s=6, **{"cluster.capacity": 3000})).summary["hit_ratio"]
    assert fifo < lru < big


def _queue_cfg(rate: float, servers: int):
    return cachesim.SimConfig.model_validate(
        {
            "seed": 3,
            "duration_s": 80.0,
            "warmup_s": 2.0,
            "snapshot_interval_s": 1.0,
            "workload": {"rate_rps": rate, "clients": 1, "keys": 50, "write_ratio": 0.0},
            "cluster": {
                "nodes": 1,
                "capacity": 50,
                "service_time_ms": 0.5,
                "service_distribution": "exponential",
                "concurrency": servers,
            },
            "database": {"service_time_ms": 0.0},
            "network": {"latency_ms": 0.0, "jitter_ms": 0.0},
            "client": {"timeout_ms": 60_000, "retries": 0},
        }
    )


@pytest.mark.slow
@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_mm1_mean_response_time(rho):
    mu = 2000.0
    res = cachesim.simulate(_queue_cfg(rho * mu, 1))
    assert res.summary["misses"] == 0  # all hits after warm-up: a pure M/M/1 queue
    expected_ms = mm1_response_time(rho * mu, mu) * 1000
    assert res.summary["latency_mean_ms"] == pytest.approx(expected_ms, rel=0.05)


@pytest.mark.slow
def test_mmc_mean_response_time():
    mu, c = 2000.0, 4
    res = cachesim.simulate(_queue_cfg(0.8 * c * mu, c).with_overrides({"duration_s": 30}))
    expected_ms = mmc_response_time(0.8 * c * mu, mu, c) * 1000
    assert res.summary["latency_mean_ms"] == pytest.approx(expected_ms, rel=0.05)


def test_consistent_hash_moves_only_the_dead_nodes_keys():
    names = [f"node-{i}" for i in range(1, 11)]
    ring = ConsistentHash(names, virtual_nodes=100)
    keys = range(20_000)
    before = {k: ring.pick(k) for k in keys}
    ring.set_healthy([i for i in range(10) if i != 3])
    after = {k: ring.pick(k) for k in keys}
    moved = [k for k in keys if before[k] != after[k]]
    assert all(before[k] == 3 for k in moved)  # only node-4's keys move
    assert not any(after[k] == 3 for k in keys)
    assert len(moved) / len(keys) == pytest.approx(1 / 10, abs=0.03)
    share = np.bincount([before[k] for k in keys], minlength=10) / len(keys)
    assert share.min() > 0.06 and share.max() < 0.14  # 100 virtual nodes balance well
    ring.set_healthy(range(10))
    assert {k: ring.pick(k) for k in keys} == before  # the node comes back to its keys
