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
        "duration_s": 1.0,
        "snapshot_interval_s": 0.1,
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
        {"network.latency_ms": 0, "network.jitter_ms": 0, "duration_s": 4, "warmup_s": 0}
    )
    assert cachesim.simulate(cfg).summary["stale_sets"] == 0
    with_latency = cfg.with_overrides({"network.latency_ms": 1, "network.jitter_ms": 1})
    assert cachesim.simulate(with_latency).summary["stale_sets"] > 0


# -- leases -------------------------------------------------------------------------------


def test_a_lease_voided_by_the_invalidation_refuses_the_late_fill():
    """The race above with leases: the read's miss took the token at 1 ms, so the write
    (9 ms) sends the node its invalidation (10 ms), which voids the token: the fill at
    17.5 ms is refused, and the read at 0.5 s misses and reads version 1."""
    s = race(tiny(**{"cluster.leases.enabled": True})).run().summary
    assert s["stale_sets"] == 0 and s["stale_entry_time_s"] == 0.0
    assert s["lease_refused_fills"] == 1
    assert s["misses"] == 2 and s["hits"] == 0 and s["db_reads"] == 2
    assert s["stale_reads"] == 1  # only the first read's own answer (version 0, after the write)
    # no copy existed at the write and none older was stored after it: converged at once
    assert s["writes_unconverged"] == 0 and s["convergence_max_ms"] == 0.0


def test_a_second_miss_waits_for_the_lease_and_finds_the_value():
    """Two reads 1 ms apart on a cold key: the first takes the token and fills at 8.5 ms;
    the second (lookup at 2 ms) waits backoff_s = 10 ms, looks again at 12.5 ms and hits."""
    cfg = tiny(**{"cluster.leases.enabled": True, "cluster.leases.backoff_s": 0.01})
    sim = cachesim.Simulation(cfg)
    inject(sim, 0.0, False)
    inject(sim, 1 * MS, False)
    s = sim.run().summary
    assert s["lease_waits"] == 1 and s["db_reads"] == 1
    assert s["misses"] == 1 and s["hits"] == 1
    # the waiter: 1 ms there, 0.5 ms service + 10 ms back-off, 0.5 ms service, 1 ms back
    assert s["latency_max_ms"] == pytest.approx(13.0, rel=0.01)
    without = cachesim.Simulation(tiny())
    inject(without, 0.0, False)
    inject(without, 1 * MS, False)
    assert without.run().summary["db_reads"] == 2


def herd(**over) -> dict:
    cfg = cachesim.load_scenario("lease_herd").with_overrides({"duration_s": 10.0, **over})
    res = cachesim.simulate(cfg)
    ts = res.timeseries()
    ts = ts[ts.t > cfg.warmup_s + 1e-9]
    return res.summary | {"peak_db_read_rps": ts.db_reads.max() / cfg.snapshot_interval_s}


@pytest.fixture(scope="module")
def herds() -> dict:
    return {
        "off": herd(),
        "leases": herd(**{"cluster.leases.enabled": True}),
        "write_through": herd(**{"database.write_policy": "write_through"}),
    }


@pytest.mark.slow
def test_leases_cut_the_peak_database_read_rate_tenfold_and_stop_stale_sets(herds):
    off, on = herds["off"], herds["leases"]
    # max over 100 ms windows after warm-up: 830/s without, 40/s with (the paper: 17K/s to 1.3K/s)
    assert off["peak_db_read_rps"] >= 10 * on["peak_db_read_rps"] > 0
    assert off["stale_sets"] > 0 and on["stale_sets"] == 0
    assert on["lease_waits"] > 1000 and on["lease_refused_fills"] > 0
    assert on["failed"] == off["failed"] == 0
    assert on["latency_p99_ms"] > off["latency_p99_ms"]  # the cost: waiters wait back-off_s


@pytest.mark.slow
def test_leases_and_write_through_make_writes_converge_sooner(herds):
    off = herds["off"]
    for better in (herds["leases"], herds["write_through"]):
        assert better["convergence_mean_ms"] < off["convergence_mean_ms"]
        assert better["converged_1ms"] > off["converged_1ms"]
        assert better["stale_entry_time_s"] == 0.0 < off["stale_entry_time_s"]


# -- convergence --------------------------------------------------------------------------


@pytest.mark.parametrize("d_ms", [1.0, 3.0])
def test_every_write_converges_in_exactly_the_invalidation_delay(d_ms):
    """One node, every hop d (jitter 0): each write finds the key cached (a read filled
    it 0.1 s earlier), so it converges when its invalidation lands, exactly d later."""
    sim = cachesim.Simulation(tiny(**{"network.latency_ms": d_ms}))
    for j in range(4):
        inject(sim, 0.2 * j, False)
        inject(sim, 0.2 * j + 0.1, True)
    s = sim.run().summary
    assert s["writes_tracked"] == 4 and s["writes_unconverged"] == 0
    assert s["convergence_mean_ms"] == pytest.approx(d_ms, abs=1e-9)
    assert s["convergence_max_ms"] == pytest.approx(d_ms, abs=1e-9)
    assert s["converged_1ms"] == (1.0 if d_ms <= 1.0 else 0.0)
    assert s["converged_10ms"] == 1.0 and s["convergence_nines_10ms"] == 9.0


def test_a_stale_set_leaves_its_write_unconverged_and_a_ttl_bounds_it():
    s = race(tiny()).run().summary
    assert s["writes_unconverged"] == 1 and s["converged_10s"] == 0.0
    # with a TTL the stale copy stops being servable when it expires, 17.5 ms + 0.2 s
    s = race(tiny(**{"cluster.ttl_s": 0.2})).run().summary
    assert s["writes_unconverged"] == 0
    assert s["convergence_max_ms"] == pytest.approx(17.5 + 200 - 9.0, abs=1e-6)
    assert s["converged_100ms"] == 0.0 and s["converged_1s"] == 1.0


def test_nines():
    from cachesim.agents.consistency import nines

    assert nines(0.999) == pytest.approx(3.0)
    assert nines(0.9) == pytest.approx(1.0)
    assert nines(0.0) == 0.0 and nines(1.0) == 9.0 and nines(None) is None


# -- gutter pool --------------------------------------------------------------------------


def outage(gutter: int) -> tuple[dict, object]:
    cfg = cachesim.load_scenario("node_failure").with_overrides(
        {"duration_s": 22.0, "cluster.gutter_nodes": gutter, "cluster.gutter_ttl_s": 10.0}
    )
    res = cachesim.simulate(cfg)
    ts = res.timeseries()
    return res.summary, ts[(ts.t > 10.0) & (ts.t <= 20.0)]  # node-2 is down from 10 s to 20 s


@pytest.mark.slow
def test_a_gutter_pool_absorbs_a_dead_nodes_requests():
    s0, w0 = outage(0)
    s1, w1 = outage(1)
    # client-visible failures while node-2 is down (10-20 s): 54 without, 0 with (the paper: -99%)
    assert w0.failed.sum() > 20
    assert w1.failed.sum() <= 0.1 * w0.failed.sum()
    # database reads over the same window no higher: the gutter takes the dead node's
    # keys instead of the survivors, which keep their own
    assert w1.db_reads.sum() <= w0.db_reads.sum()
    assert w1.gutter_requests.sum() > 1000 and w0.gutter_requests.sum() == 0
    # no invalidation reaches the gutter: its copies serve stale reads until they expire
    assert w1.stale_reads.sum() > 5 * w0.stale_reads.sum()
    assert s1["writes_unconverged"] > s0["writes_unconverged"] == 0


def test_without_a_gutter_pool_nothing_changes():
    """gutter_nodes = 0 is today's engine: the gutter-free run of node_failure matches
    its figures before the gutter existed (the balancer rehashes onto the survivors)."""
    s, w = outage(0)
    assert s["gutter_requests"] == 0
    assert (s["failed"], s["db_reads"], s["stale_reads"]) == (54, 6841, 39)


# -- in the product -----------------------------------------------------------------------


def test_the_analyst_knows_the_mechanisms():
    from cachesim.analyst.offline import OfflineAnalyst
    from cachesim.analyst.tools import RunTools

    cfg = cachesim.load_scenario("lease_herd").with_overrides(
        {"duration_s": 4.0, "cluster.leases.enabled": True, "cluster.gutter_nodes": 1}
    )
    run = cachesim.simulate(cfg)
    s = run.summary
    tools = RunTools(run)
    got = tools.consistency()
    assert got["mechanisms"]["leases"] is True and got["mechanisms"]["gutter_nodes"] == 1
    assert got["figures"]["lease_refused_fills"] == s["lease_refused_fills"]
    assert got["converged_within"]["10ms"]["share"] == pytest.approx(s["converged_10ms"], abs=1e-4)
    text, steps = OfflineAnalyst(tools).compose("Did the leases help with consistency?")
    assert f"Leases refused {s['lease_refused_fills']:,} late fills" in text
    assert f"told misses to wait {s['lease_waits']:,} times" in text
    assert "get_consistency" in [st.name for st in steps]


@pytest.mark.slow
def test_config_fields_reach_the_link_toml_and_cli(tmp_path):
    import json
    import subprocess
    import sys

    from cachesim.ui.config_state import unflatten
    from cachesim.ui.fields import section_keys, spec_of

    keys = section_keys("cluster")
    for k in (
        "cluster.leases.enabled",
        "cluster.leases.interval_s",
        "cluster.leases.backoff_s",
        "cluster.gutter_nodes",
        "cluster.gutter_ttl_s",
    ):
        assert k in keys and spec_of(k).help
    assert spec_of("cluster.leases.enabled").kind == "bool"
    cfg = cachesim.load_scenario("baseline").with_overrides(
        {"cluster.leases.enabled": "true", "cluster.leases.backoff_s": "0.02", "cluster.gutter_nodes": "2"}
    )
    assert cachesim.SimConfig.model_validate(unflatten(cfg.flat())) == cfg  # the share link's round trip
    assert cachesim.SimConfig.from_toml(cfg.to_toml()) == cfg
    with pytest.raises(Exception, match="cluster.leases.backoff_s"):
        cfg.with_overrides({"cluster.leases.backoff_s": "0"})
    with pytest.raises(Exception, match="gutter_nodes"):
        cfg.with_overrides({"cluster.gutter_nodes": "65"})
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cachesim",
            "run",
            "--scenario",
            "baseline",
            "--set",
            "duration_s=1",
            "--set",
            "warmup_s=0",
            "--set",
            "cluster.leases.enabled=true",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(out.stdout)
    for k in (
        "stale_sets",
        "stale_entry_time_s",
        "lease_waits",
        "lease_refused_fills",
        "gutter_requests",
        "converged_1ms",
        "converged_10s",
        "convergence_nines_100ms",
        "writes_unconverged",
    ):
        assert k in summary
