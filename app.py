"""cachesim: the home page (Streamlit's file-based multipage mode; pages in pages/)."""

import streamlit as st

from cachesim.ui import render_sidebar
from cachesim.ui.errors import guarded
from cachesim.ui.home import render_home

st.set_page_config(page_title="cachesim", page_icon=":material/memory:", layout="wide")
guarded(render_sidebar, render_home)
