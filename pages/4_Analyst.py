"""Analyst: chat about a finished run with the LLM analyst (or the offline one).

Thin page: the shared sidebar first, then the chat view from cachesim.ui.chat, which
documents its session-state keys (including the ``analyst_model_factory`` injection
point used by the tests).
"""

import streamlit as st

from cachesim.ui import render_sidebar
from cachesim.ui.chat import render_analyst_page
from cachesim.ui.errors import guarded

st.set_page_config(page_title="Analyst · cachesim", page_icon=":material/psychology:", layout="wide")
guarded(render_sidebar, render_analyst_page)
