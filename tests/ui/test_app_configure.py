"""AppTest of the Configure page: every field, TOML import/export, the share link."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import cachesim
from cachesim.config import SimConfig
from cachesim.ui import chaos_editor, share
from cachesim.ui.config_state import validate
from cachesim.ui.fields import section_keys, spec_of
from tests.ui.helpers import APP, unescape


def configure(params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params or {})
    at.run()
    at.switch_page("pages/1_Configure.py").run()
    assert not at.exception
    return at


def draft(at: AppTest) -> SimConfig:
    check = validate(at.session_state["cfg.values"])
    assert check.ok, check.messages()
    return check.config


def test_every_field_has_a_widget_with_help():
    at = configure()
    widgets = {
        w.key: w
        for kind in ("number_input", "selectbox", "text_input", "text_area", "toggle")
        for w in getattr(at, kind)
        if w.key and w.key.startswith("cf:")
    }
    for section in (None, "workload", "cluster", "database", "network", "client", "chaos"):
        for key in section_keys(section):
            assert f"cf:{key}" in widgets, key
            assert widgets[f"cf:{key}"].help == spec_of(key).help, key
    assert at.success[0].value.startswith("Valid config based on the **baseline** scenario")


def test_an_edit_here_reaches_the_sidebar_and_the_link():
    at = configure()
    at.number_input(key="cf:cluster.nodes").set_value(11)
    at.selectbox(key="cf:database.write_policy").set_value("write_through").run()
    assert at.sidebar.number_input(key="sb:cluster.nodes").value == 11
    assert draft(at).database.write_policy == "write_through"
    assert at.query_params["database.write_policy"] == "write_through"


def test_invalid_field_shows_its_error_here_and_disables_run():
    at = configure()
    at.number_input(key="cf:client.timeout_ms").set_value(-5.0).run()
    assert not at.exception
    assert any(unescape(e.value).startswith("client.timeout_ms:") for e in at.main.error)
    assert at.button(key="configure.run").disabled is True
    assert at.sidebar.button(key="sidebar.run").disabled is True
    assert any("client.timeout_ms" in unescape(e.value) for e in at.sidebar.error)  # not a sidebar field: listed there


@pytest.mark.parametrize(
    "text, expected",
    [
        ("seed = [", "not valid TOML"),
        ("[cluster]\nnodes = 0\n", "cluster.nodes"),
        ("[cluster]\nbogus = 1\n", "cluster.bogus: unknown field"),
    ],
)
def test_bad_pasted_toml_gives_an_error_and_keeps_the_config(text, expected):
    at = configure()
    at.number_input(key="cf:cluster.nodes").set_value(5).run()
    before = dict(at.session_state["cfg.values"])
    at.text_area(key="configure.paste").input(text).run()
    at.button(key="configure.paste_go").click().run()
    assert not at.exception
    errors = [unescape(e.value) for e in at.main.error]
    assert any(expected in e and "The current config was kept." in e for e in errors), errors
    assert at.session_state["cfg.values"] == before
    assert at.number_input(key="cf:cluster.nodes").value == 5


def test_uploaded_toml_replaces_the_config_and_malformed_upload_does_not():
    at = configure()
    at.file_uploader(key="configure.upload").set_value(("broken.toml", b"[cluster\nnodes = 2", "application/toml"))
    at.run()
    assert any("broken.toml is not valid TOML" in unescape(e.value) for e in at.main.error)
    assert draft(at) == cachesim.load_scenario("baseline")
    cfg = cachesim.load_scenario("write_heavy").with_overrides({"seed": "9"})
    at.file_uploader(key="configure.upload").set_value(("mine.toml", cfg.to_toml().encode(), "application/toml"))
    at.run()
    assert not at.exception
    assert draft(at) == cfg
    assert at.sidebar.text_input(key="sb:seed").value == "9"
    assert at.session_state["cfg.scenario"] == "write_heavy"
    assert at.query_params == {"scenario": "write_heavy", "seed": "9"}


def test_export_is_the_config_as_toml():
    at = configure({"scenario": "node_failure", "cluster.capacity": "321"})
    expected = cachesim.load_scenario("node_failure").with_overrides({"cluster.capacity": 321})
    button = at.get("download_button")[0]
    assert "Download config" in button.proto.label and not button.proto.disabled
    preview = next(c for c in at.code if c.language == "toml")
    assert preview.value.strip() == expected.to_toml().strip()
    assert SimConfig.from_toml(preview.value) == expected


def test_share_link_round_trip_restores_exactly_the_config():
    at = configure({"scenario": "network_partition"})
    at.number_input(key="cf:cluster.nodes").set_value(5)
    at.number_input(key="cf:workload.zipf_alpha").set_value(1.05)
    at.toggle(key="cf:cluster.coalesce_misses").set_value(True)
    at.number_input(key="cf:network.jitter_ms").set_value(0.35).run()
    original = draft(at)
    params = dict(at.query_params)
    assert params["scenario"] == "network_partition" and params["cluster.coalesce_misses"] == "true"
    link = next(c.value for c in at.code if "scenario=network_partition" in c.value)
    assert "cluster.nodes=5" in link
    other = AppTest.from_file(APP, default_timeout=60)  # a second browser session opening the link
    other.query_params.update(params)
    other.run()
    assert not other.exception
    assert draft(other) == original
    assert other.sidebar.number_input(key="sb:cluster.nodes").value == 5
    assert [unescape(i.value) for i in other.sidebar.info] == ["Config loaded from the link."]


@pytest.mark.parametrize(
    "params, problem",
    [
        ({"scenario": "nope"}, "unknown scenario 'nope'"),
        ({"cluster.nodes": "many"}, "cluster.nodes"),
        ({"scenario": "baseline", "cluster.nodez": "3"}, "unknown config key 'cluster.nodez'"),
        ({"scenario": "baseline", "chaos.events": "[{"}, "chaos.events"),
    ],
)
def test_bad_share_link_shows_an_error_and_falls_back(params, problem):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    at.run()
    assert not at.exception
    errors = [unescape(e.value) for e in at.sidebar.error]
    assert len(errors) == 1 and problem in errors[0] and "Showing the baseline scenario instead" in errors[0]
    assert draft(at) == cachesim.load_scenario("baseline")
    assert at.query_params == {"scenario": "baseline"}


def test_share_encode_decode_is_exact_for_every_scenario():
    for name in cachesim.list_scenarios():
        cfg = cachesim.load_scenario(name).with_overrides({"workload.rate_rps": "1234.5", "seed": "77"})
        params = share.encode(cfg, name)
        assert share.decode(params) == (cfg, name)
        assert set(params) == {"scenario", "workload.rate_rps", "seed"}


def test_chaos_editor_edits_become_events():
    base = chaos_editor.events_frame(cachesim.load_scenario("node_failure").flat()["chaos.events"])
    assert list(base["action"]) == ["kill", "restart"]
    rows = chaos_editor.apply_edits(
        base,
        {
            "edited_rows": {"0": {"at_s": 12.5, "duration_s": 4.0}},
            "added_rows": [{"at_s": 3.0, "action": "slow", "target": "node-1", "factor": 20.0}, {}],
            "deleted_rows": [1],
        },
    )
    events = chaos_editor.rows_to_events(rows)
    assert events == [  # only the cells each action uses (a kill has no slow factor nor loss rate)
        {"at_s": 12.5, "action": "kill", "target": "node-2", "duration_s": 4.0},
        {"at_s": 3.0, "action": "slow", "target": "node-1", "factor": 20.0},
    ]
    cfg = cachesim.load_scenario("node_failure").with_overrides({"chaos.events": json.dumps(events)})
    assert [e.action for e in cfg.chaos.events] == ["kill", "slow"]
    assert chaos_editor.events_frame("not json").empty
    assert isinstance(chaos_editor.events_frame("[]"), pd.DataFrame)


def test_chaos_tab_shows_the_schedule():
    at = configure({"scenario": "node_failure"})
    charts = at.get("arrow_vega_lite_chart") + at.get("vega_lite_chart")
    assert any('"Chaos schedule"' in c.proto.spec for c in charts)


def test_chaos_editor_blanks_cells_that_do_not_apply_and_skips_invalid_rows_on_the_timeline():
    text = json.dumps(
        [
            {"at_s": 1.0, "action": "kill", "target": "node-2", "duration_s": None, "factor": 10.0, "loss_rate": 0.2},
            {"at_s": 2.0, "action": "slow", "target": "node-1", "duration_s": 3.0, "factor": 5.0, "loss_rate": 0.2},
            {"at_s": 3.0, "action": "loss", "target": "", "duration_s": 1.0, "factor": 10.0, "loss_rate": 0.3},
            {"at_s": 4.0, "action": "restart", "target": "node-2", "duration_s": 2.0, "factor": 10.0, "loss_rate": 0.2},
        ]
    )
    frame = chaos_editor.events_frame(text)
    cells = frame[["factor", "loss_rate", "duration_s"]].to_numpy().tolist()
    nan = float("nan")
    assert [[None if c != c else c for c in row] for row in cells] == [
        [None, None, None],
        [5.0, None, 3.0],
        [None, 0.3, 1.0],
        [None, None, None],
    ]
    assert nan != nan  # blank cells are NaN in the float columns: shown empty, never "None"
    bad = pd.concat(
        [
            frame,
            pd.DataFrame(
                [
                    {"at_s": 5.0, "action": "kill", "target": "node-9"},  # no such node in a 4-node cluster
                    {"at_s": -1.0, "action": "kill", "target": "node-1"},  # before the run
                    {"at_s": 6.0, "action": None, "target": "node-1"},  # no action yet
                ]
            ),
        ],
        ignore_index=True,
    )
    valid = chaos_editor.valid_rows(bad, nodes=4)
    assert list(valid["at_s"]) == [1.0, 2.0, 3.0, 4.0]


def test_chaos_tab_says_an_invalid_row_is_not_drawn():
    events = json.dumps(
        [{"at_s": 10, "action": "kill", "target": "node-2"}, {"at_s": 12, "action": "kill", "target": "node-99"}]
    )
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"scenario": "node_failure"})
    at.run()
    values = dict(at.session_state["cfg.values"])
    at.session_state["cfg.values"] = {**values, "chaos.events": events}  # as the editor would commit it
    at.switch_page("pages/1_Configure.py").run()
    assert not at.exception
    assert any("1 row with an invalid value is not drawn" in c.value for c in at.caption)
    chart = next(
        c for c in at.get("arrow_vega_lite_chart") + at.get("vega_lite_chart") if '"Chaos schedule"' in c.proto.spec
    )
    drawn = chart.proto.SerializeToString()  # the chart with its Arrow table
    assert b"node-2" in drawn and b"node-99" not in drawn
