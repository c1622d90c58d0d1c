"""AppTest of the home page: renders, scenario cards load or run a scenario."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

import cachesim
from cachesim.ui import nav
from tests.ui.helpers import APP, ROOT


def home() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    return at


def test_home_renders_diagram_and_a_card_per_scenario():
    at = home()
    assert at.title[0].value == "cachesim"
    assert len(at.get("graphviz_chart")) == 1
    dot = at.get("graphviz_chart")[0].proto.spec
    assert "load balancer" in dot and "4 cache nodes" in dot and "database" in dot
    run_buttons = [b for b in at.button if b.key and b.key.startswith("home.run.")]
    assert sorted(b.key.removeprefix("home.run.") for b in run_buttons) == sorted(cachesim.list_scenarios())
    assert at.sidebar.button(key="sidebar.run").disabled is False


def test_diagram_follows_the_config():
    at = home()
    at.sidebar.number_input(key="sb:cluster.nodes").set_value(9).run()
    dot = at.get("graphviz_chart")[0].proto.spec
    assert "9 cache nodes" in dot and "node-9" in dot and "⋮" in dot


def test_configure_button_loads_the_scenario_and_opens_configure():
    at = home()
    at.button(key="home.open.write_heavy").click().run()
    assert not at.exception
    assert at.session_state["cfg.scenario"] == "write_heavy"
    assert at.session_state["cfg.values"] == cachesim.load_scenario("write_heavy").flat()
    assert at.title[0].value == "Configure"


def test_run_button_starts_a_live_run_of_the_scenario():
    at = home()
    at.button(key="home.run.hot_key").click().run()
    assert not at.exception
    assert at.title[0].value == "Live run"
    live = at.session_state["cachesim.live"]
    assert live.config == cachesim.load_scenario("hot_key")
    assert live.now > 0


def test_every_page_is_linked_from_the_app_and_a_broken_link_raises():
    at = home()
    labels = [e.proto.label for e in at.sidebar.get("page_link")]
    assert labels == ["Home", "Configure", "Live run", "Analysis", "Analyst", "Sweep", "Workload"]  # none hidden
    assert all(nav.exists(p) for p in nav.PAGES)
    with pytest.raises(FileNotFoundError, match="not a page"):
        nav.page_link("pages/9_Nowhere.py", label="nowhere")


def test_a_page_run_on_its_own_draws_no_links_to_pages_it_cannot_reach():
    at = AppTest.from_file(str(ROOT / nav.ANALYSIS), default_timeout=60)
    at.run()
    assert not at.exception and not at.sidebar.get("page_link")
