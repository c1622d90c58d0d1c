"""Links between pages. The pages are files under pages/, found by Streamlit's
file-based navigation when the app runs from app.py.

A page can also run on its own (``streamlit run pages/2_Live_Run.py``, or a page's
AppTest): then no other page is part of the app run and there is nothing to link or
switch to, so links are left out. Inside the app every link is drawn, and a link to a
page that does not exist raises: a broken link is a bug, never hidden.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
CONFIGURE = "pages/1_Configure.py"
LIVE = "pages/2_Live_Run.py"
ANALYSIS = "pages/3_Analysis.py"
ANALYST = "pages/4_Analyst.py"
SWEEP = "pages/5_Sweep.py"
WORKLOAD = "pages/6_Workload.py"
PAGES = (CONFIGURE, LIVE, ANALYSIS, ANALYST, SWEEP, WORKLOAD)


def exists(page: str) -> bool:
    return (ROOT / page).is_file()


def in_app() -> bool:
    """Whether this script run is the app's (its entrypoint is app.py), so that the
    other pages are there to link to."""
    ctx = get_script_run_ctx()
    return ctx is not None and Path(ctx.main_script_path).resolve() == APP


def _check(page: str) -> None:
    if not exists(page):
        raise FileNotFoundError(f"a link to {page}, which is not a page of the app")


def page_link(page: str, label: str, **kwargs: Any) -> None:
    """``st.page_link`` to ``page``; nothing when the page runs on its own (see above)."""
    _check(page)
    if in_app():
        st.page_link(page, label=label, **kwargs)


def switch_page(page: str) -> bool:
    """``st.switch_page`` to ``page``; False (and no switch) when the page runs on its own."""
    _check(page)
    if not in_app():
        return False
    st.switch_page(page)
    return True
