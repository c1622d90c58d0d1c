"""Links between pages that degrade gracefully when a page is not there (a page
still being written, or a test that runs one page file on its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

ROOT = Path(__file__).resolve().parents[2]
CONFIGURE = "pages/1_Configure.py"
LIVE = "pages/2_Live_Run.py"
ANALYSIS = "pages/3_Analysis.py"
ANALYST = "pages/4_Analyst.py"
SWEEP = "pages/5_Sweep.py"
WORKLOAD = "pages/6_Workload.py"


def exists(page: str) -> bool:
    return (ROOT / page).is_file()


def page_link(page: str, label: str, **kwargs: Any) -> None:
    """``st.page_link``, or nothing when the page is not part of this app run."""
    if not exists(page):
        return
    try:
        st.page_link(page, label=label, **kwargs)
    except StreamlitAPIException:
        pass


def switch_page(page: str) -> bool:
    """``st.switch_page`` when the page exists; False (and no switch) otherwise."""
    if not exists(page):
        return False
    try:
        st.switch_page(page)
    except StreamlitAPIException:
        return False
    return True
