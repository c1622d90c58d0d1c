"""The hot-keys leaderboard: the top 20 keys by lookups or misses, live and on Analysis.

Live, the live panel draws the board at its own refresh (:func:`draw_live_board`, every
LIVE_REFRESH_S, under the run's lock) and :func:`render_live_hot_keys` draws its control;
:func:`render_analysis_hot_keys` (the run selected on the Analysis page). Counts
come from the engine's bounded-memory sketch (:mod:`cachesim.hotkeys`): each is an
upper bound, at most its error above the true count.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ..results import RunResult
from . import state

TOP = 20
#: Seconds between redraws of the live leaderboard (a table costs more than a chart).
LIVE_REFRESH_S = 5.0
BY = {"lookups": "requests", "misses": "misses"}
NOTE = (
    "Over the whole run so far (warm-up included). Counts come from a bounded-memory "
    "heavy-hitters sketch (Space-Saving, up to 1,000 counters per node): each is at most its "
    "± above the true count. Owner changed: a node other than the key's home served it "
    "(its node went down, or the balancer routed around it)."
)


def leaderboard(frame: pd.DataFrame) -> pd.DataFrame:
    """The table shown: rank, key, counts with their error, hit ratio, owners, a mark."""
    out = pd.DataFrame(
        {
            "rank": range(1, len(frame) + 1),
            "key": frame["key"].astype("int64"),
            "lookups": frame["requests"].astype("int64"),
            "±": frame["requests_error"].astype("int64"),
            "misses": frame["misses"].astype("int64"),
            "hit ratio": frame["hit_ratio"].astype(float),
            "home": frame["home"].replace("", "-"),
            "served by": frame["owners"].str.replace(",", ", "),
            "owner changed": frame["owner_changed"].map({True: "⚠ moved", False: ""}),
        }
    )
    return out


def _table(frame: pd.DataFrame, key: str | None) -> None:
    if not len(frame):
        st.caption("No lookups yet.")
        return
    st.dataframe(
        leaderboard(frame),
        hide_index=True,
        width="stretch",
        key=key,
        column_config={
            "hit ratio": st.column_config.NumberColumn("hit ratio", format="percent"),
            "±": st.column_config.NumberColumn("±", help="The count is at most this much above the truth."),
        },
    )
    moved = int(frame["owner_changed"].sum())
    if moved:
        st.caption(f"{moved} of these keys changed owner during the run.")


def _by(key: str) -> str:
    choice = st.segmented_control(
        "Rank by", list(BY), default="lookups", key=key, help="Lookups: hits + misses served by the nodes."
    )
    return BY[choice or "lookups"]


def draw_live_board(live, slot) -> None:  # type: ignore[no-untyped-def]
    """Draw the live run's leaderboard into ``slot`` (a placeholder of the live panel,
    redrawn by the panel's own refresh: a second timed fragment on the page would race
    the panel's and swallowed Stop clicks). The caller holds the run's lock."""
    by = BY[st.session_state.get(LIVE_BY) or "lookups"]
    frame = live.sim.hot_keys(by=by, top=TOP)
    with slot.container():
        st.markdown(f"**Hot keys: top {TOP}** by {'misses' if by == 'misses' else 'lookups'}")
        _table(frame, None)
        st.caption(NOTE + (f" Refreshed every {LIVE_REFRESH_S:g} s while the run goes on." if live.active else ""))


#: The live board's "rank by" choice (a widget below the panel, read at each redraw).
LIVE_BY = "hotkeys.live.by"


def render_live_hot_keys() -> None:
    """The live leaderboard's control (the board itself is drawn by the live panel)."""
    if state.get_live() is not None:
        _by(LIVE_BY)


def render_analysis_hot_keys() -> None:
    """The Analysis page's leaderboard for its selected run, run-wide or per node."""
    runs = state.get_runs()
    run_id = st.session_state.get("analysis.run") or state.current_run_id()
    if run_id not in runs:
        return
    res: RunResult = runs[run_id]
    with st.expander(f"Hot keys: top {TOP}", expanded=False):
        c1, c2 = st.columns([1, 1])
        with c1:
            by = _by("hotkeys.analysis.by")
        with c2:
            names = ["all nodes", *map(str, res.nodes()["node"])]
            node = st.selectbox("Node", names, key="hotkeys.analysis.node")
        frame = res.hot_keys(node=None if node == "all nodes" else node, by=by, top=TOP)
        _table(frame, "hotkeys.analysis.table")
        st.caption(NOTE)
