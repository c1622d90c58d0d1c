"""AppTest of the shared sidebar: its values become the config, bad values are
explained beside the widget and disable Run, and nothing is lost between pages."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

import cachesim
from tests.ui.helpers import APP, unescape


def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    return at


def draft_config(at: AppTest) -> cachesim.SimConfig:
    from cachesim.ui.config_state import validate

    check = validate(at.session_state["cfg.values"])
    assert check.ok, check.messages()
    return check.config


def sidebar_errors(at: AppTest) -> list[str]:
    return [unescape(e.value) for e in at.sidebar.error]


def test_defaults_to_the_baseline_scenario():
    at = app()
    assert at.sidebar.selectbox(key="sidebar.scenario").value == "baseline"
    assert at.sidebar.number_input(key="sb:cluster.nodes").value == 4
    assert draft_config(at) == cachesim.load_scenario("baseline")


def test_sidebar_values_become_the_config():
    at = app()
    sb = at.sidebar
    sb.number_input(key="sb:cluster.nodes").set_value(8)
    sb.number_input(key="sb:cluster.capacity").set_value(250)
    sb.selectbox(key="sb:cluster.eviction").set_value("fifo")
    sb.selectbox(key="sb:cluster.routing").set_value("round_robin")
    sb.number_input(key="sb:workload.rate_rps").set_value(3500.0)
    sb.number_input(key="sb:workload.zipf_alpha").set_value(1.1)
    sb.number_input(key="sb:workload.write_ratio").set_value(0.2)
    sb.number_input(key="sb:network.latency_ms").set_value(2.5)
    sb.number_input(key="sb:network.loss_rate").set_value(0.01)
    sb.number_input(key="sb:duration_s").set_value(12.0)
    sb.text_input(key="sb:seed").set_value("42").run()
    assert not at.exception and not sidebar_errors(at)
    expected = cachesim.load_scenario("baseline").with_overrides(
        {
            "cluster.nodes": 8,
            "cluster.capacity": 250,
            "cluster.eviction": "fifo",
            "cluster.routing": "round_robin",
            "workload.rate_rps": 3500.0,
            "workload.zipf_alpha": 1.1,
            "workload.write_ratio": 0.2,
            "network.latency_ms": 2.5,
            "network.loss_rate": 0.01,
            "duration_s": 12.0,
            "seed": 42,
        }
    )
    assert draft_config(at) == expected
    assert at.sidebar.button(key="sidebar.run").disabled is False
    assert at.query_params["cluster.nodes"] == "8" and at.query_params["cluster.eviction"] == "fifo"
    assert any("modified from the scenario" in c.value for c in at.sidebar.caption)


def test_invalid_value_shows_the_field_error_and_disables_run():
    at = app()
    at.sidebar.number_input(key="sb:cluster.nodes").set_value(0).run()
    assert not at.exception
    errors = sidebar_errors(at)
    assert len(errors) == 1 and errors[0].startswith("cluster.nodes:") and "greater than or equal to 1" in errors[0]
    assert at.sidebar.button(key="sidebar.run").disabled is True
    before = dict(at.query_params)
    at.sidebar.number_input(key="sb:network.loss_rate").set_value(1.5).run()
    assert len(sidebar_errors(at)) == 2 and any(e.startswith("network.loss_rate:") for e in sidebar_errors(at))
    assert dict(at.query_params) == before  # the link keeps the last valid config
    at.sidebar.number_input(key="sb:cluster.nodes").set_value(3)
    at.sidebar.number_input(key="sb:network.loss_rate").set_value(0.0).run()
    assert not sidebar_errors(at) and at.sidebar.button(key="sidebar.run").disabled is False


def test_cross_field_error_names_the_field():
    at = app()
    at.sidebar.number_input(key="sb:duration_s").set_value(4.0).run()  # baseline warms up for 5 s
    assert not at.exception
    assert any(e.startswith("warmup_s") and "less than duration_s" in e for e in sidebar_errors(at))
    assert at.sidebar.button(key="sidebar.run").disabled is True


def test_chaos_target_outside_the_cluster_is_an_error():
    at = app()
    at.sidebar.selectbox(key="sidebar.scenario").set_value("node_failure").run()
    at.sidebar.number_input(key="sb:cluster.nodes").set_value(1).run()
    assert not at.exception
    assert any(e.startswith("chaos.events:") and "node-2" in e for e in sidebar_errors(at))
    assert at.sidebar.button(key="sidebar.run").disabled is True


def test_scenario_picker_loads_the_scenario_and_reset_restores_it():
    at = app()
    at.sidebar.selectbox(key="sidebar.scenario").set_value("node_failure").run()
    assert at.sidebar.number_input(key="sb:cluster.nodes").value == 6
    assert draft_config(at) == cachesim.load_scenario("node_failure")
    at.sidebar.number_input(key="sb:cluster.nodes").set_value(9).run()
    assert at.query_params == {"scenario": "node_failure", "cluster.nodes": "9"}
    at.sidebar.button(key="sidebar.reset").click().run()
    assert at.sidebar.number_input(key="sb:cluster.nodes").value == 6
    assert at.query_params == {"scenario": "node_failure"}


def test_values_survive_page_changes():
    at = app()
    at.sidebar.number_input(key="sb:cluster.nodes").set_value(7)
    at.sidebar.number_input(key="sb:workload.zipf_alpha").set_value(1.3).run()
    at.switch_page("pages/1_Configure.py").run()
    assert not at.exception
    assert at.sidebar.number_input(key="sb:cluster.nodes").value == 7
    assert at.number_input(key="cf:cluster.nodes").value == 7
    assert at.number_input(key="cf:workload.zipf_alpha").value == 1.3
    at.switch_page("pages/3_Analysis.py").run()
    at.switch_page("app.py").run()
    assert at.sidebar.number_input(key="sb:cluster.nodes").value == 7
    assert draft_config(at).workload.zipf_alpha == 1.3


def test_run_button_starts_a_live_run_and_opens_the_live_page():
    at = app()
    at.sidebar.number_input(key="sb:duration_s").set_value(8.0).run()
    at.sidebar.button(key="sidebar.run").click().run()
    assert not at.exception
    assert at.title[0].value == "Live run"
    assert at.session_state["cachesim.live"].config.duration_s == 8.0


def test_a_fractional_node_count_and_a_too_large_seed_are_refused_with_a_message():
    at = app()
    at.sidebar.number_input(key="sb:cluster.nodes").set_value(2.7).run()
    assert not at.exception
    errors = sidebar_errors(at)
    assert any(
        e.startswith("cluster.nodes: Input should be a valid integer, got a number with a fractional part")
        for e in errors
    ), errors
    assert at.sidebar.button(key="sidebar.run").disabled is True
    assert at.sidebar.number_input(key="sb:cluster.nodes").value == 2.7  # shown as typed, not truncated
    at.sidebar.number_input(key="sb:cluster.nodes").set_value(3.0).run()
    assert draft_config(at).cluster.nodes == 3 and not sidebar_errors(at)
    at.sidebar.text_input(key="sb:seed").set_value(str(2**64)).run()
    errors = sidebar_errors(at)
    assert any(e.startswith("seed: Input should be less than or equal to 9223372036854775807") for e in errors)
    assert at.sidebar.button(key="sidebar.run").disabled is True
    at.sidebar.text_input(key="sb:seed").set_value(str(2**63 - 1)).run()  # the largest: exact, not rounded
    assert draft_config(at).seed == 2**63 - 1 and not sidebar_errors(at)


def test_the_sidebar_reset_is_named_for_what_it_does_and_routing_has_its_own_row():
    from cachesim.ui.sidebar import QUICK_FIELDS

    at = app()
    at.sidebar.number_input(key="sb:cluster.nodes").set_value(9).run()
    assert at.sidebar.button(key="sidebar.reset").label == "Reset to scenario"
    assert (("cluster.routing", "Routing"),) in QUICK_FIELDS  # the select spans the sidebar: its value shows whole
