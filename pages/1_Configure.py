"""Configure: every parameter with help, the chaos timeline, TOML import/export, share link."""

import streamlit as st

from cachesim.ui import render_sidebar
from cachesim.ui.configure import render_configure_page
from cachesim.ui.errors import guarded

st.set_page_config(page_title="Configure · cachesim", page_icon=":material/tune:", layout="wide")
guarded(render_sidebar, render_configure_page)
