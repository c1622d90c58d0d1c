"""The engine's trust: a run does not depend on how it is watched, and its metrics add up
(Little's law, ratios in [0, 1], the documented mean delay), at any cluster size."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cachesim
from cachesim.agents.network import Network
from cachesim.config import NetworkConfig
from cachesim.environment import SimEnvironment
from cachesim.rng import RandomStreams

#: Everything that says what happened to the requests of a run.
FATE_KEYS = (
    "issued",
    "completed",
    "failed",
    "in_flight",
    "hits",
    "misses",
    "stale_reads",
    "db_reads",
    "db_writes",
    "timeouts",
    "retries",
    "invalidations_sent",
    "invalidations_lost",
    "updates_sent",
    "updates_lost",
    "stale_sets",
    "lease_waits",
    "lease_refused_fills",
    "gutter_requests",
    "writes_tracked",
    "writes_unconverged",
    "converged_1ms",
    "converged_100ms",
    "hit_bytes",
    "miss_bytes",
)


def fate(res: cachesim.RunResult) -> tuple:
    """Counts exactly; the mean latency to 12 digits (a sum taken in another order)."""
    mean = res.summary["latency_mean_ms"]
    conv = res.summary["convergence_mean_ms"]
    return (
        tuple(res.summary[k] for k in FATE_KEYS)
        + (tuple(res.latency_histogram()["count"]),)
        + (None if mean is None else round(mean, 9),)
        + (round(res.summary["stale_entry_time_s"], 9), None if conv is None else round(conv, 9))
    )


@st.composite
def configs(draw) -> cachesim.SimConfig:
    nodes = draw(st.integers(1, 6))
    events = []
    if draw(st.booleans()):
        events.append(
            {
                "at_s": draw(st.floats(0.2, 1.5)),
                "action": "kill",
                "target": f"node-{draw(st.integers(1, nodes))}",
                "duration_s": draw(st.floats(0.1, 1.0)),
            }
        )
    if draw(st.booleans()):
        events.append(
            {
                "at_s": draw(st.floats(0.2, 1.5)),
                "action": "partition",
                "target": f"node-{draw(st.integers(1, nodes))}",
                "duration_s": 0.5,
            }
        )
    if draw(st.booleans()):
        events.append({"at_s": draw(st.floats(0.0, 1.5)), "action": "loss", "loss_rate": 0.3, "duration_s": 0.4})
    latency = draw(st.floats(0.1, 5.0))
    capacity = draw(st.integers(0, 300))
    sizes = draw(st.sampled_from(["trace", "fixed", "lognormal"]))  # "trace": no trace, 1 byte each
    in_bytes = draw(st.booleans())
    trace = draw(st.sampled_from([None, None, "sample:zipf", "sample:web"]))
    timing = (
        {
            "trace": trace,
            "trace_timing": draw(st.sampled_from(["poisson", "trace"])),
            "trace_speed": draw(st.floats(0.5, 2.0)),
        }
        if trace
        else {}
    )
    return cachesim.SimConfig.model_validate(
        {
            "seed": draw(st.integers(0, 2**32)),
            "duration_s": 2.0,
            "warmup_s": draw(st.sampled_from([0.0, 0.5])),
            "workload": {
                "rate_rps": draw(st.floats(200, 3000)),
                "keys": draw(st.integers(10, 3000)),
                "write_ratio": draw(st.floats(0, 0.5)),
                "distribution": draw(st.sampled_from(["zipf", "uniform", "hotspot"])),
                "size": sizes,
                "size_bytes": draw(st.integers(1, 5000)),
                "size_sigma": draw(st.floats(0, 2)),
                **timing,
            },
            "cluster": {
                "nodes": nodes,
                "capacity": 0 if in_bytes else capacity,
                "capacity_bytes": capacity * draw(st.integers(1, 3000)) if in_bytes else 0,
                "routing": draw(st.sampled_from(["round_robin", "random", "least_outstanding", "consistent_hash"])),
                "concurrency": draw(st.integers(1, 8)),
                "queue_limit": draw(st.integers(0, 50)),
                "ttl_s": draw(st.sampled_from([0.0, 0.3])),
                "coalesce_misses": draw(st.booleans()),
                "health_check_interval_s": draw(st.sampled_from([0.1, 0.5])),
                "leases": {
                    "enabled": draw(st.booleans()),
                    "interval_s": draw(st.sampled_from([0.05, 10.0])),
                    "backoff_s": draw(st.sampled_from([0.001, 0.01])),
                },
                "gutter_nodes": draw(st.integers(0, 2)),
                "gutter_ttl_s": draw(st.sampled_from([0.2, 10.0])),
            },
            "database": {
                "write_policy": draw(st.sampled_from(["invalidate", "write_through", "none"])),
                "service_time_ms": draw(st.floats(0.5, 5.0)),
            },
            "network": {
                "latency_ms": latency,
                "jitter_ms": draw(st.floats(0, 3 * latency)),
                "loss_rate": draw(st.sampled_from([0.0, 0.02])),
                "bandwidth_mbps": draw(st.sampled_from([0.0, 10.0, 1000.0])),
            },
            "client": {"timeout_ms": draw(st.floats(5, 100)), "retries": draw(st.integers(0, 2))},
            "chaos": {"events": events},
        }
    )


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs(), data=st.data())
def test_watching_never_changes_a_run(cfg, data):
    """Every request-level result is identical across snapshot intervals, and with
    stop(), result() and resume at random points, whatever the routing, jitter, loss
    and chaos."""
    ref = fate(cachesim.simulate(cfg.with_overrides({"snapshot_interval_s": 0.1})))
    for interval in (0.05, 0.25):
        assert fate(cachesim.simulate(cfg.with_overrides({"snapshot_interval_s": interval}))) == ref

    sim = cachesim.Simulation(cfg.with_overrides({"snapshot_interval_s": 0.05}))
    stops = data.draw(st.lists(st.integers(1, 3000), min_size=1, max_size=4))
    fired = {"n": 0}
    real_fire = sim.clients.fire

    def fire():
        fired["n"] += 1
        if fired["n"] in stops:
            sim.stop()  # mid-snapshot, between two events
        real_fire()

    sim.clients.fire = fire
    sim.env.set_feed(sim.clients)
    k = 0
    while not sim.finished:
        for _ in sim.stream():
            k += 1
            if k % 7 == 0:
                sim.result()  # a mid-run result changes nothing
    assert fate(sim.result()) == ref


@pytest.mark.slow
@pytest.mark.parametrize("name", cachesim.list_scenarios())
def test_littles_law_on_every_scenario(name):
    """Mean in-flight requests = (time in the system of the requests that ended) / time,
    that is throughput x mean time in system, within 3% in steady state: a request is in
    flight until its client has the answer (its latency) or gives up (its time to fail)."""
    cfg = cachesim.load_scenario(name).with_overrides({"snapshot_interval_s": 0.01})
    sim = cachesim.Simulation(cfg)
    start = cfg.warmup_s + 1.0
    in_flight, busy_s, failed_s0 = [], 0.0, None
    for snap in sim.stream():
        if snap.t <= start:
            failed_s0 = sim.obs.failed_time_s
            continue
        in_flight.append(snap.in_flight)
        if snap.completed:
            busy_s += snap.completed * snap.latency_mean_ms / 1000.0
    busy_s += sim.obs.failed_time_s - failed_s0
    period = cfg.duration_s - start
    assert np.mean(in_flight) == pytest.approx(busy_s / period, rel=0.03)


def test_snapshot_books_balance_with_late_answers():
    """An answer recorded before it arrives counts as in flight until it arrives, so
    every snapshot balances and the window's completions are those that arrived in it."""
    cfg = cachesim.load_scenario("baseline").with_overrides(
        {
            "duration_s": 3,
            "warmup_s": 0,
            "snapshot_interval_s": 0.002,
            "network.latency_ms": 5.0,
            "network.jitter_ms": 5.0,
        }
    )
    for snap in cachesim.Simulation(cfg).stream():
        assert snap.total_issued == snap.total_completed + snap.total_failed + snap.in_flight
        assert snap.in_flight >= 0


@pytest.mark.parametrize("latency, jitter", [(1.0, 0.2), (1.0, 1.0), (2.0, 6.0)])
def test_network_delay_mean_and_spread_are_the_documented_ones(latency, jitter):
    env = SimEnvironment()
    streams = RandomStreams(3)
    net = Network(env, NetworkConfig(latency_ms=latency, jitter_ms=jitter), streams["network"], streams["fanout"])
    d = np.array([net.transit("a", "b") for _ in range(200_000)]) * 1000.0
    assert (d > 0).all()
    assert d.mean() == pytest.approx(latency, rel=0.01 if jitter < 3 else 0.03)
    assert d.std() == pytest.approx(jitter, rel=0.02 if jitter < 3 else 0.06)
    fan = np.concatenate([net.fanout("database", [f"node-{i}" for i in range(100)])[0] for _ in range(2000)]) * 1000.0
    assert fan.mean() == pytest.approx(latency, rel=0.02 if jitter < 3 else 0.05)


def test_jitter_without_latency_is_refused():
    with pytest.raises(Exception, match="jitter_ms"):
        cachesim.SimConfig.model_validate({"network": {"latency_ms": 0, "jitter_ms": 1}})


def test_stale_read_ratio_is_a_share_of_reads():
    """stale reads / reads served by a node: at most 1, defined whenever reads were
    served (the case that once gave 39.3)."""
    cfg = cachesim.load_scenario("baseline").with_overrides(
        {
            "duration_s": 5,
            "warmup_s": 0,
            "workload.write_ratio": 0.5,
            "cluster.capacity": 1,
            "network.latency_ms": 50,
            "network.jitter_ms": 10,
            "client.timeout_ms": 1000,
        }
    )
    s = cachesim.simulate(cfg).summary
    assert s["stale_reads"] > 0
    assert s["stale_read_ratio"] == pytest.approx(s["stale_reads"] / (s["hits"] + s["misses"]))
    assert 0 < s["stale_read_ratio"] <= 1


def test_no_cache_sends_every_read_to_the_database():
    cfg = cachesim.load_scenario("baseline").with_overrides({"duration_s": 4, "warmup_s": 0, "cluster.capacity": 0})
    s = cachesim.simulate(cfg).summary
    assert s["hits"] == 0 and s["hit_ratio"] == 0.0
    assert s["misses"] > 6000 and 0 <= s["misses"] - s["db_reads"] < 50  # the last reads still on their way


@pytest.mark.slow
def test_coalescing_is_decided_at_lookup():
    """With coalescing on, no two database reads of one key are ever under way from one
    node at once (unless the first is older than the timeout)."""
    cfg = cachesim.load_scenario("thundering_herd").with_overrides({"duration_s": 6, "cluster.coalesce_misses": True})
    sim = cachesim.Simulation(cfg)
    inflight: dict[tuple[str, int], int] = {}
    worst = {"n": 0}
    for node in sim.nodes:
        real_fetch, real_fetched = node._fetch, node.on_fetched

        def fetch(req, _real=real_fetch, _n=node):
            if req.epoch == _n.epoch:
                k = (_n.name, req.key)
                inflight[k] = inflight.get(k, 0) + 1
                worst["n"] = max(worst["n"], inflight[k])
            _real(req)

        def fetched(req, _real=real_fetched, _n=node):
            k = (_n.name, req.key)
            if inflight.get(k):
                inflight[k] -= 1
            _real(req)

        node._fetch, node.on_fetched = fetch, fetched
    res = sim.run()
    assert res.summary["misses"] > 3 * res.summary["db_reads"] > 0
    assert worst["n"] == 1
    off = cachesim.simulate(cfg.with_overrides({"cluster.coalesce_misses": False})).summary
    assert off["db_reads"] > 2 * res.summary["db_reads"]


def test_failure_ratio_beside_latency():
    """A failed request has no latency; the failure ratio says how many there were."""
    res = cachesim.simulate(cachesim.load_scenario("network_partition"))
    s, ts = res.summary, res.timeseries()
    assert s["failure_ratio"] == pytest.approx(s["failed"] / (s["completed"] + s["failed"]))
    assert ts["failure_ratio"].max() > 0.2  # the outage is visible
    ended = ts["completed"] + ts["failed"]
    ok = ended > 0
    assert np.allclose(ts.loc[ok, "failure_ratio"], ts.loc[ok, "failed"] / ended[ok])
    assert ts["failure_ratio"].dropna().between(0, 1).all()


def test_invalidations_and_updates_are_counted_apart():
    base = cachesim.load_scenario("write_heavy").with_overrides({"duration_s": 3, "warmup_s": 0})
    inv = cachesim.simulate(base.with_overrides({"database.write_policy": "invalidate"})).summary
    upd = cachesim.simulate(base.with_overrides({"database.write_policy": "write_through"})).summary
    nodes = base.cluster.nodes
    assert inv["invalidations_sent"] == nodes * inv["db_writes"] and inv["updates_sent"] == 0
    assert upd["updates_sent"] == nodes * upd["db_writes"] and upd["invalidations_sent"] == 0


@pytest.mark.slow
def test_a_thousand_nodes_run():
    cfg = cachesim.load_scenario("node_failure").with_overrides(
        {"cluster.nodes": 1024, "duration_s": 12, "cluster.capacity": 20}
    )
    res = cachesim.simulate(cfg)
    assert len(res.nodes()) == 1024 and res.summary["completed"] > 12000
    assert len(res.node_timeseries()) == 1024 * len(res.timeseries())
    assert res.nodes()["up"].sum() == 1023 and not res.nodes()["up"][1]  # node-2 was killed at t=10
    assert not math.isnan(res.summary["hit_ratio"])


def test_a_retired_run_answers_as_before():
    """A finished run lets go of its engine (``retire``) and still gives the same result,
    hot keys and clock; a run that has not finished keeps its engine (it may resume)."""
    cfg = cachesim.load_scenario("node_failure").with_overrides({"duration_s": 20, "seed": 3})
    sim = cachesim.Simulation(cfg)
    it = sim.stream()
    next(it)
    assert not sim.retire() and sim.nodes  # running: not retired
    for _ in it:
        pass
    before = sim.result()
    hot_before = sim.hot_keys(top=5)
    assert sim.retire() and sim.retire()  # idempotent
    assert sim.nodes == [] and sim.env is None and sim.clients is None
    after = sim.result()
    assert sim.now == cfg.duration_s == after.summary["sim_time_s"]
    assert after.summary == before.summary
    assert after.timeseries().equals(before.timeseries())
    assert after.nodes().equals(before.nodes())
    assert after.events().equals(before.events())
    assert sim.hot_keys(top=5).equals(hot_before) and len(hot_before)
    sim.stop()  # nothing to stop: no error
    assert sim.status == "finished" and list(sim.stream()) == []
