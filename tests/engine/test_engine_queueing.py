"""The cache node's service slots are an exact FIFO multi-server queue.

With no network delay, a database that answers instantly and a constant service
time S, every request's latency is (start of service - arrival) + S, where the start
follows the FIFO c-server recursion: a request starts when it arrives or when the
earliest of the c slots frees, whichever is later. Record each request's arrival
and latency from the engine and replay the recursion by hand."""

import heapq
import json

import pytest

import cachesim
from cachesim.agents.observer import Observer


def _fifo_latencies(arrivals, c, s):
    free = [0.0] * c
    out = []
    for a in arrivals:
        start = max(a, heapq.heappop(free))
        heapq.heappush(free, start + s)
        out.append(start - a + s)
    return out


@pytest.mark.parametrize("concurrency, rate", [(1, 900.0), (3, 2800.0)])
def test_node_latency_follows_the_fifo_recursion(monkeypatch, concurrency, rate):
    s_ms = 1.0  # rho = rate * S / c = 0.9 and 0.93: long queues form
    cfg = cachesim.load_scenario("baseline").with_overrides(
        {
            "duration_s": 5,
            "warmup_s": 0,
            "workload.rate_rps": rate,
            "workload.keys": 1,
            "workload.write_ratio": 0,
            "cluster.nodes": 1,
            "cluster.concurrency": concurrency,
            "cluster.service_time_ms": s_ms,
            "cluster.service_distribution": "constant",
            "database.service_time_ms": 0,
            "network.latency_ms": 0,
            "network.jitter_ms": 0,
            "client.timeout_ms": 60_000,
        }
    )
    seen = []
    real = Observer.completed_request

    def record(self, t0, now, measured):
        seen.append((t0, now - t0))
        real(self, t0, now, measured)

    monkeypatch.setattr(Observer, "completed_request", record)
    sim = cachesim.Simulation(cfg)
    res = sim.run()
    seen.sort()
    arrivals = [t0 for t0, _ in seen]
    expected = _fifo_latencies(arrivals, concurrency, s_ms / 1000)
    got = [lat for _, lat in seen]
    assert len(got) > 0.95 * rate * cfg.duration_s
    assert max(abs(g - e) for g, e in zip(got, expected, strict=True)) < 1e-9
    assert max(expected) > 10 * s_ms / 1000  # the queue really formed
    # requests still queued or in service at the end are the ones not answered
    assert res.summary["in_flight"] == res.summary["issued"] - len(got)


def test_kill_loses_the_queue_and_the_work_in_service():
    """An overloaded node killed mid-run: what was queued or in service fails (after
    its timeout); nothing is answered twice; the books balance."""
    cfg = cachesim.load_scenario("baseline").with_overrides(
        {
            "duration_s": 4,
            "warmup_s": 0,
            "workload.rate_rps": 3000,
            "cluster.nodes": 1,
            "cluster.concurrency": 1,
            "cluster.service_time_ms": 0.5,
            "client.retries": 0,
            "chaos.events": json.dumps([{"at_s": 2.0, "action": "kill", "target": "node-1", "duration_s": 1.0}]),
        }
    )
    sim = cachesim.Simulation(cfg)
    queued_at_kill = []
    for snap in sim.stream():
        if abs(snap.t - 1.9) < 1e-9:
            queued_at_kill.append(snap.nodes[0].queue_len)
        assert snap.total_issued == snap.total_completed + snap.total_failed + snap.in_flight
    s = sim.result().summary
    assert queued_at_kill[0] > 50  # overloaded: 3000 req/s into one slot of 2000 req/s
    assert s["failed"] > 0 and s["issued"] == s["completed"] + s["failed"] + s["in_flight"]
