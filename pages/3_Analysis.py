"""Analysis: a kept run's KPIs, charts with chaos markers, events, nodes; compare; downloads."""

import streamlit as st

from cachesim.ui import render_sidebar
from cachesim.ui.analysis import render_analysis_page
from cachesim.ui.errors import guarded
from cachesim.ui.hotkeys import render_analysis_hot_keys

st.set_page_config(page_title="Analysis · cachesim", page_icon=":material/analytics:", layout="wide")
guarded(render_sidebar, render_analysis_page)
guarded(render_analysis_hot_keys)
