"""SimConfig: validation with field-named errors, TOML round trips, dotted overrides."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import cachesim
from cachesim.config import ConfigError, SimConfig, format_validation_error

# (dotted field, values outside what it allows)
BAD_VALUES = {
    "duration_s": [0, -1, "abc", 1e9],
    "seed": [-1, "x", 1.5],
    "snapshot_interval_s": [0, -0.1],
    "workload.rate_rps": [0, -5, "fast"],
    "workload.clients": [0, 2.5],
    "workload.keys": [0, -10],
    "workload.distribution": ["pareto", 3],
    "workload.zipf_alpha": [-0.1, 5],
    "workload.write_ratio": [-0.01, 1.01, "half"],
    "cluster.nodes": [0, -1, 2000, "many"],
    "cluster.capacity": [-1, -3],
    "cluster.eviction": ["mru", ""],
    "cluster.routing": ["sticky"],
    "cluster.concurrency": [0],
    "cluster.service_time_ms": [-1],
    "cluster.virtual_nodes": [0],
    "database.write_policy": ["write_back"],
    "database.concurrency": [0],
    "network.loss_rate": [1.0, -0.1, 2],
    "network.latency_ms": [-1],
    "client.timeout_ms": [0, -5],
    "client.retries": [-1, 11],
}


def _nested(dotted: str, value) -> dict:
    out: dict = {}
    node = out
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(BAD_VALUES)).flatmap(lambda f: st.tuples(st.just(f), st.sampled_from(BAD_VALUES[f]))))
def test_invalid_value_raises_validation_error_naming_the_field(case):
    field, value = case
    with pytest.raises(ValidationError) as info:
        SimConfig.model_validate(_nested(field, value))
    locs = [".".join(map(str, e["loc"])) for e in info.value.errors()]
    assert any(loc.startswith(field) for loc in locs), (field, locs)
    assert field in format_validation_error(info.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["seed", "duration_s", "workload", "cluster", "chaos", "network", "bogus", "warmup_s"]),
        json_values,
        max_size=4,
    )
)
def test_arbitrary_input_never_raises_anything_but_validation_error(data):
    try:
        SimConfig.model_validate(data)
    except ValidationError as err:
        assert format_validation_error(err)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(
        [
            "cluster.nodes",
            "workload.rate_rps",
            "network.loss_rate",
            "seed",
            "cluster.eviction",
            "chaos.events",
            "workload.trace",
            "client.retries",
        ]
    ),
    st.text(max_size=12),
)
def test_overrides_with_any_string_raise_only_config_errors(key, text):
    try:
        cachesim.load_scenario("baseline").with_overrides({key: text})
    except (ValidationError, ConfigError):
        pass


def test_cross_field_checks_name_the_field():
    with pytest.raises(ValidationError, match="warmup_s .* must be less than duration_s"):
        SimConfig.model_validate({"duration_s": 5, "warmup_s": 5})
    with pytest.raises(ValidationError, match=r"chaos.events.0.target: 'node-9' is not a node"):
        SimConfig.model_validate(
            {"cluster": {"nodes": 3}, "chaos": {"events": [{"at_s": 1, "action": "kill", "target": "node-9"}]}}
        )
    with pytest.raises(ValidationError, match="needs a target"):
        SimConfig.model_validate({"chaos": {"events": [{"at_s": 1, "action": "kill"}]}})
    with pytest.raises(ValidationError, match="unknown eviction policy 'mru'"):
        SimConfig.model_validate({"cluster": {"eviction": "mru"}})
    with pytest.raises(ValidationError) as info:
        SimConfig.model_validate({"cluster": {"nodez": 3}})
    assert format_validation_error(info.value) == "cluster.nodez: unknown field"


def test_config_is_frozen():
    cfg = SimConfig()
    with pytest.raises(ValidationError):
        cfg.seed = 5  # type: ignore[misc]


@pytest.mark.parametrize("name", cachesim.list_scenarios())
def test_scenarios_round_trip_through_toml(name, tmp_path):
    cfg = cachesim.load_scenario(name)
    assert cfg.name == name and len(cfg.description) > 80
    assert SimConfig.from_toml(cfg.to_toml()) == cfg
    cfg.save(tmp_path / "c.toml")
    assert SimConfig.load(tmp_path / "c.toml") == cfg


def test_scenario_list_and_unknown_scenario():
    names = cachesim.list_scenarios()
    assert names[0] == "baseline"
    assert {"hot_key", "node_failure", "network_partition", "write_heavy", "thundering_herd"} <= set(names)
    with pytest.raises(ConfigError, match="unknown scenario 'nope'.*baseline"):
        cachesim.load_scenario("nope")


def test_overrides_take_strings_and_return_new_configs():
    cfg = cachesim.load_scenario("baseline")
    new = cfg.with_overrides(
        {
            "cluster.nodes": "8",
            "network.loss_rate": "0.1",
            "cluster.coalesce_misses": "true",
            "cluster.eviction": "FIFO",
        }
    )
    assert (new.cluster.nodes, new.network.loss_rate, new.cluster.coalesce_misses) == (8, 0.1, True)
    assert new.cluster.eviction == "fifo" and cfg.cluster.nodes == 4
    events = json.dumps([{"at_s": 2, "action": "kill", "target": "node-2", "duration_s": 1}])
    assert new.with_overrides({"chaos.events": events}).chaos.events[0].target == "node-2"
    with pytest.raises(ConfigError, match="unknown config key 'cluster.nodez'"):
        cfg.with_overrides({"cluster.nodez": 3})
    with pytest.raises(ConfigError, match="not a section"):
        cfg.with_overrides({"seed.x": 3})
    with pytest.raises(ValidationError, match="cluster.nodes"):
        cfg.with_overrides({"cluster.nodes": "0"})


def test_flat_round_trips_through_overrides():
    cfg = cachesim.load_scenario("node_failure")
    flat = {k: str(v) for k, v in cfg.flat().items()}
    assert SimConfig().with_overrides(flat) == cfg


def test_bad_toml_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid TOML"):
        SimConfig.from_toml("seed = = 1")
    with pytest.raises(ConfigError, match="not found"):
        SimConfig.load("/nonexistent/x.toml")


# -- floors, sections, nesting (a public deployment) -------------------------------------

FLOORS = {  # dotted key: (a value below the floor, the floor)
    "cluster.health_check_interval_s": (1e-300, 0.01),
    "cluster.ttl_s": (1e-9, 0.001),
    "client.timeout_ms": (1e-300, 0.01),
    "chaos.random_downtime_s": (1e-300, 0.001),
    "chaos.random_slow_duration_s": (1e-300, 0.001),
    "snapshot_interval_s": (1e-300, 0.001),
}


@pytest.mark.parametrize("key", sorted(FLOORS))
def test_every_time_interval_has_a_floor(key):
    below, floor = FLOORS[key]
    with pytest.raises(ValidationError) as err:
        SimConfig().with_overrides({key: below})
    assert key in format_validation_error(err.value)
    SimConfig().with_overrides({key: floor})  # the floor itself is allowed


def test_a_chaos_duration_has_a_floor_and_ttl_zero_means_none():
    event = {"at_s": 1.0, "action": "kill", "target": "node-1", "duration_s": 1e-300}
    with pytest.raises(ValidationError, match="duration_s"):
        SimConfig.model_validate({"chaos": {"events": [event]}})
    assert SimConfig().with_overrides({"cluster.ttl_s": 0}).cluster.ttl_s == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"cluster": "1", "cluster.nodes": "2"},
        {"cluster.nodes": "2", "cluster": "1"},
        {"workload": "x"},
        {"chaos": "[]"},
    ],
)
def test_a_section_used_as_a_value_is_one_config_error(overrides):
    with pytest.raises(ConfigError) as err:
        SimConfig().with_overrides(overrides)
    assert "is a section, not a value" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 1000 + "]" * 1000,
        "[chaos]\nevents = " + "[" * 1000 + "]" * 1000,
        "a = " + "{b = " * 1000 + "1" + "}" * 1000,
    ],
)
def test_deep_toml_is_one_config_error(text):
    with pytest.raises(ConfigError, match="nests more than 16 levels deep"):
        SimConfig.from_toml(text)


def test_nesting_check_ignores_brackets_in_strings_and_comments():
    text = 'name = "' + "[" * 40 + '"\n# ' + "{" * 40 + "\ndescription = '" + "]" * 40 + "'\n"
    cfg = SimConfig.from_toml(text)
    assert cfg.name == "[" * 40


def test_deep_json_events_and_dicts_are_one_error():
    with pytest.raises(ConfigError, match="nests more than 16"):
        SimConfig().with_overrides({"chaos.events": "[" * 1000 + "]" * 1000})
    nested: object = {}
    for _ in range(1000):
        nested = {"x": nested}
    with pytest.raises(ValidationError, match="nests more than 16"):
        SimConfig.model_validate({"workload": nested})
