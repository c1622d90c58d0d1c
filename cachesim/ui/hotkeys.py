"""The hot-keys leaderboard: the top 20 keys by lookups or misses, live and on Analysis.

Two entry points, one line in each page: :func:`render_live_hot_keys` (a fragment that
refreshes itself while the live run goes on, reading the run under its worker's lock)
and :func:`render_analysis_hot_keys` (the run selected on the Analysis page). Counts
come from the engine's bounded-memory sketch (:mod:`cachesim.hotkeys`): each is an
upper bound, at most its error above the true count.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ..results import RunResult
from . import control, state

TOP = 20
#: Seconds between refreshes of the live leaderboard (each refresh of this fragment ends the
#: live panel's current batch of chart redraws early, so it is kept rare).
LIVE_REFRESH_S = 5.0
BY = {"lookups": "requests", "misses": "misses"}
NOTE = ("Over the whole run so far (warm-up included). Counts come from a bounded-memory "
        "heavy-hitters sketch (Space-Saving, up to 1,000 counters per node): each is at most its "
        "± above the true count. Owner changed: a node other than the key's home served it "
        "(its node went down, or the balancer routed around it).")


def leaderboard(frame: pd.DataFrame) -> pd.DataFrame:
    """The table shown: rank, key, counts with their error, hit ratio, owners, a mark."""
    out = pd.DataFrame({
        "rank": range(1, len(frame) + 1),
        "key": frame["key"].astype("int64"),
        "lookups": frame["requests"].astype("int64"),
        "±": frame["requests_error"].astype("int64"),
        "misses": frame["misses"].astype("int64"),
        "hit ratio": frame["hit_ratio"].astype(float),
        "home": frame["home"].replace("", "-"),
        "served by": frame["owners"].str.replace(",", ", "),
        "owner changed": frame["owner_changed"].map({True: "⚠ moved", False: ""}),
    })
    return out


def _table(frame: pd.DataFrame, key: str) -> None:
    if not len(frame):
        st.caption("No lookups yet.")
        return
    st.dataframe(leaderboard(frame), hide_index=True, width="stretch", key=key, column_config={
        "hit ratio": st.column_config.NumberColumn("hit ratio", format="percent"),
        "±": st.column_config.NumberColumn("±", help="The count is at most this much above the truth."),
    })
    moved = int(frame["owner_changed"].sum())
    if moved:
        st.caption(f"{moved} of these keys changed owner during the run.")


def _by(key: str) -> str:
    choice = st.segmented_control("Rank by", list(BY), default="lookups", key=key,
                                  help="Lookups: hits + misses served by the nodes.")
    return BY[choice or "lookups"]


def _live_board() -> None:
    live = state.get_live()
    if live is None:
        return
    with st.expander(f"Hot keys: top {TOP}", expanded=True):
        by = _by("hotkeys.live.by")
        with control.lock_of(live):
            frame = live.sim.hot_keys(by=by, top=TOP)
        _table(frame, "hotkeys.live.table")
        st.caption(NOTE + (f" Refreshed every {LIVE_REFRESH_S:g} s while the run goes on."
                           if live.active else ""))


#: While the run goes on the board refreshes itself; once it ended it is drawn once.
_live_board_running = st.fragment(run_every=LIVE_REFRESH_S)(_live_board)
_live_board_still = st.fragment(_live_board)


def render_live_hot_keys() -> None:
    """The live page's leaderboard (nothing before a run is started)."""
    live = state.get_live()
    if live is not None:
        (_live_board_running if live.active else _live_board_still)()


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
