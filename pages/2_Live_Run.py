"""Live run: stream a simulation into charts, with stop, resume, reset and speed.

The header (status, controls) is drawn before the sidebar, so a click's result shows first."""

import streamlit as st

from cachesim.ui import render_sidebar
from cachesim.ui.errors import guarded
from cachesim.ui.hotkeys import render_live_hot_keys
from cachesim.ui.live import render_live_page, render_live_panel

st.set_page_config(page_title="Live run · cachesim", page_icon=":material/monitoring:", layout="wide")
guarded(render_live_page, lambda: render_sidebar(live_status=False), render_live_panel)
guarded(render_live_hot_keys)
