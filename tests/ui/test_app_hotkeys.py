"""The hot-keys leaderboard on the Analysis and Live pages (AppTest)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from cachesim.ui.hotkeys import leaderboard
from tests.ui.helpers import APP, SHORT, live_page, start


def _board(at: AppTest):  # type: ignore[no-untyped-def]
    frames = [d.value for d in at.dataframe if "owner changed" in d.value.columns]
    assert len(frames) == 1
    return frames[0]


def test_leaderboard_table_marks_moved_keys(node_failure_16s) -> None:
    hk = node_failure_16s.hot_keys(top=50)
    table = leaderboard(hk)
    assert list(table["rank"]) == list(range(1, 51))
    assert list(table["key"]) == list(hk["key"])
    assert (table["owner changed"] == "⚠ moved").sum() == hk["owner_changed"].sum() > 0
    assert set(table.loc[table["owner changed"] == "⚠ moved", "home"]) == {"node-2"}


def test_analysis_page_shows_the_top_20_and_follows_the_node_filter(node_failure_16s) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.session_state["cachesim.runs"] = {"run-1 · node_failure": node_failure_16s}
    at.session_state["cachesim.run_counter"] = 1
    at.switch_page("pages/3_Analysis.py").run()
    assert not at.exception
    board = _board(at)
    expect = node_failure_16s.hot_keys(top=20)
    assert len(board) == 20
    assert list(board["key"]) == list(expect["key"])
    assert list(board["lookups"]) == list(expect["requests"])
    at.selectbox(key="hotkeys.analysis.node").select("node-3").run()
    board = _board(at)
    assert list(board["key"]) == list(node_failure_16s.hot_keys(node="node-3", top=20)["key"])
    at.segmented_control(key="hotkeys.analysis.by").set_value("misses").run()
    assert not at.exception
    assert list(_board(at)["misses"]) == list(node_failure_16s.hot_keys(node="node-3", by="misses", top=20)["misses"])


@pytest.mark.slow
def test_live_page_shows_the_leaderboard_of_the_run() -> None:
    at = live_page(SHORT)
    live, worker = start(at)
    assert worker.wait(60) and worker.state == "finished"
    at.run()
    assert not at.exception
    board = _board(at)
    final = at.session_state["cachesim.runs"]["run-1 · node_failure"].hot_keys(top=20)
    assert len(board) == 20 and list(board["key"]) == list(final["key"])
    assert list(board["lookups"]) == list(final["requests"])
