"""A snapshot's node table is built from the nodes touched since the last snapshot
(and those with work in hand); the others keep their last record with a window of no
requests. These tests rebuild every table the slow way, from every node, and require
the two to be equal at every snapshot, through kills, slowdowns, partitions, leases,
write-through, TTLs, a gutter pool and sized objects."""

from __future__ import annotations

import numpy as np
import pytest

import cachesim
from cachesim.metrics import NODE_DTYPE


class CheckedSimulation(cachesim.Simulation):
    """Builds each node table as the engine does, then from every node, and compares."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.checked = 0
        self.touched_sizes: list[int] = []
        self._full_prev = [(0, 0, 0)] * len(self.nodes)

    def _node_table(self):
        self.touched_sizes.append(len(self._touched))
        table = super()._node_table()
        for n in self._all_nodes:
            n.catch_up()  # a no-op if the engine caught up every node it needed to
        rows, prev = [], self._full_prev
        for i, n in enumerate(self.nodes):
            pr, ph, pm = prev[i]
            rows.append(
                (
                    n.alive,
                    self.balancer.believed_up[i],
                    self.net.is_partitioned(n.name),
                    n.slow_factor,
                    n.requests - pr,
                    n.hits - ph,
                    n.misses - pm,
                    n.occupancy,
                    len(n.queue),
                    n.busy,
                )
            )
        self._full_prev = [(n.requests, n.hits, n.misses) for n in self.nodes]
        full = np.array(rows, dtype=NODE_DTYPE)
        for field in NODE_DTYPE.names:
            np.testing.assert_array_equal(table.data[field], full[field], err_msg=f"{field} at t={self.env.now}")
        self.checked += 1
        return table


CASES = {
    "node_failure, 64 nodes": ("node_failure", {"cluster.nodes": 64}),
    "partition, write-through": ("network_partition", {"cluster.nodes": 32, "database.write_policy": "write_through"}),
    "random chaos, least outstanding": (
        "baseline",
        {
            "cluster.nodes": 48,
            "cluster.routing": "least_outstanding",
            "chaos.random_kill_per_min": 30.0,
            "chaos.random_slow_per_min": 30.0,
        },
    ),
    "leases and a gutter": ("lease_herd", {"cluster.nodes": 24, "cluster.gutter_nodes": 2}),
    "sized, TTL, overloaded": (
        "write_heavy",
        {
            "cluster.nodes": 16,
            "cluster.ttl_s": 0.3,
            "cluster.capacity": 0,
            "cluster.capacity_bytes": 200000,
            "workload.size": "lognormal",
            "cluster.service_time_ms": 4.0,
        },
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_node_table_from_touched_nodes_equals_the_one_from_every_node(name):
    scenario, over = CASES[name]
    cfg = cachesim.load_scenario(scenario).with_overrides({"duration_s": 12.0, "warmup_s": 1.0, **over})
    sim = CheckedSimulation(cfg)
    sim.run()
    assert sim.checked == sim.n_snapshots
    # and it did skip nodes: in most windows some node had nothing to report
    assert min(sim.touched_sizes[1:]) < len(sim.nodes)


def test_a_snapshot_reads_only_the_nodes_that_did_something():
    # 1,024 nodes, 200 requests per window: a window touches a few hundred nodes at most
    cfg = cachesim.load_scenario("baseline").with_overrides(
        {"cluster.nodes": 1024, "duration_s": 2.0, "warmup_s": 0, "snapshot_interval_s": 0.1}
    )
    sim = CheckedSimulation(cfg)
    sim.run()
    rate = cfg.workload.rate_rps
    per_window = rate * cfg.snapshot_interval_s
    assert sim.checked == 20
    # a node is read if a request reached it, a message or an answer from the database
    # arrived, or it still had work in hand: far fewer than every node
    assert max(sim.touched_sizes[1:]) < min(1024, 3 * per_window)
