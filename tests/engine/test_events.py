"""One vocabulary (cachesim.events, the policy registries): every consumer covers every
kind the config and the engine can produce, the event record carries its target kind
and its end, what undoes a fault is one rule, and the config's allowed policy names
are the registries'."""

from __future__ import annotations

import typing

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

import cachesim
from cachesim import charts, events
from cachesim.analyst.incidents import incidents
from cachesim.config import ChaosEvent, SimConfig, allowed_values, format_validation_error
from cachesim.events import EventKind as K
from cachesim.events import Group, TargetKind
from cachesim.narration import narrate, narrate_events
from cachesim.policies import EVICTION_POLICIES, LRU, ROUTING_POLICIES, Router, register_routing
from cachesim.results import RunResult
from cachesim.ui.analysis import INVESTIGATE_KINDS, investigate_question
from cachesim.ui.chaos_editor import APPLIES
from cachesim.ui.legend import LABELS
from cachesim.ui.live import KIND_STYLE
from cachesim.ui.runner import PAUSE_KINDS

CONFIG_ACTIONS = typing.get_args(ChaosEvent.model_fields["action"].annotation)


@pytest.fixture(scope="module")
def cfg() -> SimConfig:
    """Every chaos action once, open-ended and timed, on one and on several targets."""
    return SimConfig.model_validate(
        {
            "seed": 4,
            "duration_s": 11.0,
            "snapshot_interval_s": 0.1,
            "workload": {"rate_rps": 800.0, "keys": 2000},
            "cluster": {"nodes": 4, "capacity": 300},
            "chaos": {
                "events": [
                    {"at_s": 2.0, "action": "kill", "target": "node-1", "duration_s": 2.0},
                    {"at_s": 3.0, "action": "partition", "target": "node-2,node-3", "duration_s": 1.0},
                    {"at_s": 5.0, "action": "slow", "target": "node-4", "factor": 4.0},
                    {"at_s": 6.0, "action": "loss", "loss_rate": 0.1},
                    {"at_s": 7.0, "action": "heal"},
                    {"at_s": 8.0, "action": "loss", "loss_rate": 0.05, "duration_s": 1.0},
                ]
            },
        }
    )


@pytest.fixture(scope="module")
def run(cfg: SimConfig) -> RunResult:
    return cachesim.simulate(cfg)


def test_every_config_action_is_a_chaos_kind_every_consumer_covers():
    assert CONFIG_ACTIONS == tuple(k.value for k in events.CHAOS_ACTIONS)
    cfg = cachesim.load_scenario("node_failure")
    for action in CONFIG_ACTIONS:
        kind = K(action)
        assert kind.group is Group.CHAOS and kind.source == "chaos"
        assert action in KIND_STYLE and action in charts.KIND_COLORS and action in APPLIES
        assert action in events.VERBS and action in INVESTIGATE_KINDS and action in PAUSE_KINDS
        # an undo rule, or an instant that undoes others
        assert kind in events.UNDONE_BY or any(kind in u for u in events.UNDONE_BY.values())
        assert "Why did this happen" not in investigate_question(1.0, action, "node-1", "msg")
        assert narrate(action, "node-1", 1.0, cfg, message="MSG") != "MSG"


def test_every_kind_has_a_group_label_and_style_and_markers_a_colour_and_narration():
    cfg = cachesim.load_scenario("node_failure")
    for kind in K:
        assert kind in events.GROUPS and kind in LABELS and kind in KIND_STYLE
        assert LABELS[kind] in KIND_STYLE[kind]
    assert charts.MARKER_KINDS == tuple(k for k in K if k.group is not Group.RUN)
    for kind in charts.MARKER_KINDS:
        assert kind in charts.KIND_COLORS
        assert narrate(kind, "node-1", 1.0, cfg, message="MSG") != "MSG"
    assert set(PAUSE_KINDS) == {k.value for k in K if k.group in (Group.CHAOS, Group.DETECTION)}


def test_the_log_carries_kinds_sources_target_kinds_and_ends(run: RunResult):
    ev = run.events()
    assert list(ev.columns[:5]) == ["t", "kind", "source", "target", "message"]  # the contract, then more
    assert set(ev["kind"]) <= {k.value for k in K}
    assert all(src == K(kind).source for kind, src in zip(ev["kind"], ev["source"], strict=True))
    chaos = ev[ev["source"] == "chaos"].reset_index(drop=True)
    got = [
        (r.t, r.kind, r.target, r.target_kind, None if np.isnan(r.ends_at) else r.ends_at) for r in chaos.itertuples()
    ]
    assert got == [
        (2.0, "kill", "node-1", "endpoints", 4.0),
        (3.0, "partition", "node-2,node-3", "endpoints", 4.0),
        (4.0, "restart", "node-1", "endpoints", None),
        (4.0, "heal", "node-2,node-3", "endpoints", None),
        (5.0, "slow", "node-4", "endpoints", None),
        (6.0, "loss", "network", "network", None),
        (7.0, "heal", "all", "all", None),
        (8.0, "loss", "network", "network", 9.0),
        (9.0, "heal", "network", "network", None),
    ]
    detections = ev[ev["kind"].isin(["node_down_detected", "node_up_detected"])]
    assert set(detections["target_kind"]) == {"endpoints"}
    assert set(detections["target"]) == {"node-1", "node-2", "node-3"}  # both partitioned nodes were noticed
    assert set(ev.loc[ev["source"] == "engine", "target_kind"]) == {""}


def test_what_undoes_a_fault_is_one_rule(run: RunResult):
    """A restart ends the kill; the timed heal the partition; the heal of everything the
    slowdown, but not the loss (which the next loss replaces); the network's heal the
    timed loss."""
    healed = {(i.kind, i.t): i.healed_at for i in incidents(run)}
    assert healed == {
        ("kill", 2.0): 4.0,
        ("partition", 3.0): 4.0,
        ("restart", 4.0): None,
        ("slow", 5.0): 7.0,
        ("loss", 6.0): 8.0,
        ("loss", 8.0): 9.0,
    }
    loss = next(i for i in incidents(run) if i.kind == "loss")
    assert "chaos raised packet loss on the network at t=6.0 s" in loss.describe()


def test_the_narration_reads_target_kinds(run: RunResult, cfg: SimConfig):
    records = run.events()
    chaos = records[records["source"] == "chaos"]
    down: list[str] = []
    narrate_events(chaos[chaos["t"] <= 3.0].itertuples(), cfg, down)
    assert down == ["node-1", "node-2", "node-3"]  # a partition of two nodes puts both out
    texts = narrate_events(chaos[chaos["t"] > 3.0].itertuples(), cfg, down)
    assert down == []
    by_t = dict(zip(chaos.loc[chaos["t"] > 3.0, "t"].tolist(), texts, strict=False))
    assert by_t[7.0].startswith("Every partition and slowdown healed at t=7.0 s")
    assert by_t[9.0].startswith("Network loss back to 0% at t=9.0 s")


def test_a_frame_saved_without_the_new_columns_gets_them_derived(run: RunResult, tmp_path):
    d = run.save(tmp_path / "run")
    ev = pd.read_csv(d / "events.csv", keep_default_na=False)
    ev[["t", "kind", "source", "target", "message"]].to_csv(d / "events.csv", index=False)  # an older save
    back = RunResult.load(d).events()
    assert back["target_kind"].tolist() == run.events()["target_kind"].tolist()
    assert back["ends_at"].isna().all() and back["ends_at"].dtype == float
    assert [i.healed_at for i in incidents(RunResult.load(d))] == [i.healed_at for i in incidents(run)]


def test_event_records_derive_their_target_kind():
    assert events.Event(1.0, K.HEAL, "chaos", "m", "all").target_kind is TargetKind.ALL
    assert events.Event(1.0, K.LOSS, "chaos", "m", "network").endpoints() == []
    assert events.Event(1.0, K.PARTITION, "chaos", "m", "node-1,database").endpoints() == ["node-1", "database"]
    assert events.Event(1.0, K.RUN_STARTED, "engine", "m").target_kind is TargetKind.NONE


# -- policy names: the registries ------------------------------------------------------


class FirstHealthy(Router):
    """Every request to the lowest healthy node."""

    name = "first_healthy"

    def pick(self, key: int) -> int:
        return self.healthy[0] if self.healthy else -1


@pytest.fixture
def first_healthy():
    register_routing(FirstHealthy)
    yield FirstHealthy
    del ROUTING_POLICIES[FirstHealthy.name]


def test_a_registered_routing_policy_is_allowed_offered_and_runs(first_healthy):
    from cachesim.ui.fields import spec_of

    assert "first_healthy" in allowed_values("cluster.routing")
    assert "first_healthy" in spec_of("cluster.routing").options
    cfg = SimConfig.model_validate(
        {"duration_s": 2.0, "workload": {"write_ratio": 0.0}, "cluster": {"routing": "First_Healthy", "nodes": 3}}
    )
    assert cfg.cluster.routing == "first_healthy"
    nodes = cachesim.simulate(cfg).nodes().set_index("node")["requests"]
    assert nodes["node-1"] > 1000 and nodes["node-2"] == nodes["node-3"] == 0


def test_an_unknown_routing_names_the_field_and_the_registry(first_healthy):
    with pytest.raises(ValidationError) as err:
        SimConfig.model_validate({"cluster": {"routing": "nearest"}})
    assert format_validation_error(err.value) == (
        "cluster.routing: unknown routing policy 'nearest'; allowed: round_robin, random, least_outstanding, "
        "consistent_hash, first_healthy (got 'nearest')"
    )


def test_a_registered_eviction_policy_is_allowed(monkeypatch):
    with pytest.raises(ValidationError, match="cluster.eviction"):
        SimConfig.model_validate({"cluster": {"eviction": "lru_again"}})
    monkeypatch.setitem(EVICTION_POLICIES, "lru_again", LRU)
    assert "lru_again" in allowed_values("cluster.eviction")
    assert SimConfig.model_validate({"cluster": {"eviction": "lru_again"}}).cluster.eviction == "lru_again"
    assert "belady" not in allowed_values("cluster.eviction")  # offline: trace replay only
