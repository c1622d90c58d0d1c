"""Narration (cachesim.narration): the words the live caption, the live log and the
Analysis markers share. Engine-free; the heirs are checked against the router itself."""

from __future__ import annotations

from collections import Counter

import pytest

import cachesim
from cachesim.metrics import Event
from cachesim.narration import heirs, narrate, narrate_event, narrate_events, node_names
from cachesim.policies.routing import ConsistentHash


@pytest.fixture(scope="module")
def node_failure():
    return cachesim.load_scenario("node_failure")


@pytest.fixture(scope="module")
def partition():
    return cachesim.load_scenario("network_partition")


def test_heirs_match_the_router(node_failure):
    """The shares heirs() computes from the ring are those the router gives node-2's keys."""
    names = node_names(node_failure)
    router = ConsistentHash(names, node_failure.cluster.virtual_nodes)
    before = {k: names[router.pick(k)] for k in range(40_000)}
    router.set_healthy([i for i, n in enumerate(names) if n != "node-2"])
    moved = Counter(names[router.pick(k)] for k, owner in before.items() if owner == "node-2")
    total = sum(moved.values())
    got = heirs(node_failure, "node-2")
    assert [h.name for h in got] == [n for n, _ in moved.most_common()]
    assert "node-2" not in {h.name for h in got}
    assert sum(h.share for h in got) == pytest.approx(1.0)
    for h in got:
        assert h.share == pytest.approx(moved[h.name] / total, abs=0.02)


def test_heirs_skip_nodes_already_down(node_failure):
    got = heirs(node_failure, "node-2", down=["node-1"])
    assert "node-1" not in {h.name for h in got}
    assert heirs(node_failure.with_overrides({"cluster.routing": "round_robin"}), "node-2") == []
    assert heirs(node_failure, "node-99") == []


def test_kill_says_what_happens_and_who_inherits(node_failure):
    text = narrate("kill", "node-2", 10.0, node_failure)
    first = heirs(node_failure, "node-2")[0]
    assert text.startswith("node-2 killed at t=10.0 s")
    assert "every 0.5 s" in text and "time out (after 100 ms, then retry 1×)" in text
    assert f"{first.name} ({first.share:.0%})" in text
    assert "do not have them cached" in text and "hit ratio dips" in text


def test_kill_with_other_routing_and_single_node(node_failure):
    rr = narrate("kill", "node-2", 10.0, node_failure.with_overrides({"cluster.routing": "random"}))
    assert "spreads over the other nodes" in rr and "keys move" not in rr
    one = narrate("kill", "node-1", 1.0, node_failure.with_overrides({"cluster.nodes": 1, "chaos.events": "[]"}))
    assert "every request fails" in one


def test_partition_node_and_database(partition):
    db = narrate("partition", "database", 12.0, partition)
    assert db.startswith("The database is cut off at t=12.0 s until t=16.0 s")
    assert "hits are still served" in db
    node = narrate("partition", "node-3", 22.0, partition)
    assert "until t=26.0 s" in node and "keys move to" in node and "keeps its cache" in node


def test_slow_uses_the_scheduled_factor(node_failure):
    cfg = node_failure.with_overrides(
        {"chaos.events": '[{"at_s": 5, "action": "slow", "target": "node-3", "duration_s": 3, "factor": 20}]'}
    )
    text = narrate("slow", "node-3", 5.0, cfg)
    assert text.startswith("node-3 slowed 20× at t=5.0 s until t=8.0 s")
    assert "10 ms instead of 0.5 ms" in text
    random_slow = narrate("slow", "node-1", 7.0, cfg)  # not in the schedule: the random slowdown's values
    assert f"slowed {cfg.chaos.random_slow_factor:g}×" in random_slow


def test_anomaly_keeps_the_observers_numbers(node_failure):
    ev = Event(10.4, "anomaly", "observer", "hit ratio fell to 0.68 from a recent average of 0.81")
    assert "hit ratio fell to 0.68 from a recent average of 0.81" in narrate_event(ev, node_failure)


def test_narrate_events_tracks_nodes_down(node_failure):
    evs = [
        Event(10.0, "kill", "chaos", "m", "node-2"),
        Event(12.0, "kill", "chaos", "m", "node-1"),
        Event(14.0, "run_finished", "engine", "plain message"),
    ]
    texts = narrate_events(evs, node_failure)
    assert "node-2 (" not in texts[1]  # node-2 is already down: it inherits nothing from node-1
    assert texts[2] == "plain message"
