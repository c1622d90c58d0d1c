"""Live run: stream a simulation into charts, with stop, resume, reset and speed."""

import streamlit as st

from cachesim.ui import render_sidebar
from cachesim.ui.errors import guarded
from cachesim.ui.live import render_live_page

st.set_page_config(page_title="Live run · cachesim", page_icon=":material/monitoring:", layout="wide")
guarded(lambda: render_sidebar(live_status=False), render_live_page)
