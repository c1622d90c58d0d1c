"""Issue 13: stale sets, leases, the gutter pool and write convergence, each checked
against a hand-computed timing or its published effect."""

from __future__ import annotations

import pytest

import cachesim
from cachesim.agents.client import Request

MS = 0.001


def tiny(**over) -> cachesim.SimConfig:
    """One node, one key, constant service, no random traffic (requests are injected)."""
    base = {
        "duration_s": 1.0, "snapshot_interval_s": 0.1,
        "workload": {"rate_rps": 1e-6, "keys": 1},
        "cluster": {"nodes": 1, "capacity": 10, "service_time_ms": 0.5, "service_distribution": "constant"},
        "database": {"service_time_ms": 5.0, "service_distribution": "constant", "write_policy": "invalidate"},
        "network": {"latency_ms": 1.0, "jitter_ms": 0.0},
        "client": {"timeout_ms": 100.0, "retries": 0},
    }
    cfg = cachesim.SimConfig.model_validate(base)
    return cfg.with_overrides(over) if over else cfg


def inject(sim: cachesim.Simulation, at: float, is_write: bool, key: int = 0) -> None:
    """A client request of ``key`` sent at ``at`` (as Clients.fire does)."""
    clients = sim.clients

    def go(_v):
        clients.obs.issued += 1
        clients.obs.m_issued += 1
        clients.in_flight += 1
        clients._send(Request(key, is_write, at, True, 0))

    sim.env.call_later(at, go, None)


def slow_reply(sim: cachesim.Simulation, reply_s: float) -> None:
    """Every hop takes 1 ms, but the database's answer to a node takes ``reply_s``."""
    def transit(src, dst):
        return reply_s if (src, dst) == ("database", "node-1") else MS

    sim.net.transit = transit
    for n in sim.nodes:
        n._transit = transit


def race(cfg: cachesim.SimConfig) -> cachesim.Simulation:
    """A read at 0 misses (node at 1 ms, its service ends at 1.5 ms, the database reads
    version 0 at 7.5 ms, the answer takes 10 ms: the fill is at 17.5 ms); a write sent
    at 3 ms is served at 9 ms (version 1) and its invalidation lands at 10 ms, before
    the fill; a read at 0.5 s then hits the node's copy."""
    sim = cachesim.Simulation(cfg)
    slow_reply(sim, 10 * MS)
    inject(sim, 0.0, False)
    inject(sim, 3 * MS, True)
    inject(sim, 0.5, False)
    return sim


def test_a_fill_that_loses_the_race_to_an_invalidation_is_a_stale_set():
    res = race(tiny()).run()
    s = res.summary
    assert s["stale_sets"] == 1
    # stale from the fill at 17.5 ms to the end of the run: nothing replaces it
    assert s["stale_entry_time_s"] == pytest.approx(1.0 - 17.5 * MS, abs=1e-12)
    # both reads get version 0 after the write: the miss's answer, and the hit at 0.5 s
    assert s["stale_reads"] == 2 and s["hits"] == 1
    assert res.timeseries()["stale_sets"].tolist()[0] == 1


def test_a_stale_set_ends_when_its_entry_expires():
    s = race(tiny(**{"cluster.ttl_s": 0.2})).run().summary
    assert s["stale_sets"] == 1
    assert s["stale_entry_time_s"] == pytest.approx(0.2, abs=1e-12)  # 17.5 ms to its expiry
    assert s["stale_reads"] == 1 and s["hits"] == 0  # the copy expired before the read at 0.5 s


def test_a_fill_whose_invalidation_is_still_on_its_way_is_no_stale_set():
    """The same with a 2 ms answer: the fill (9.5 ms, after the write at 9 ms) lands
    before the invalidation (10 ms), which removes the copy on arrival."""
    sim = cachesim.Simulation(tiny())
    slow_reply(sim, 2 * MS)
    inject(sim, 0.0, False)
    inject(sim, 3 * MS, True)
    inject(sim, 0.5, False)
    s = sim.run().summary
    assert s["stale_sets"] == 0 and s["stale_entry_time_s"] == 0.0
    assert s["stale_reads"] == 1 and s["misses"] == 2  # the invalidation removed the copy


def test_no_stale_set_with_zero_latency():
    cfg = cachesim.load_scenario("write_heavy").with_overrides(
        {"network.latency_ms": 0, "network.jitter_ms": 0, "duration_s": 4, "warmup_s": 0})
    assert cachesim.simulate(cfg).summary["stale_sets"] == 0
    with_latency = cfg.with_overrides({"network.latency_ms": 1, "network.jitter_ms": 1})
    assert cachesim.simulate(with_latency).summary["stale_sets"] > 0
