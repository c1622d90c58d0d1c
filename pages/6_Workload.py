"""Workload: upload or pick a trace; popularity, reuse distances, miss-ratio curves."""

import streamlit as st

from cachesim.ui import render_sidebar
from cachesim.ui.workload import render_workload_page

st.set_page_config(page_title="Workload · cachesim", page_icon=":material/insights:", layout="wide")
render_sidebar()
render_workload_page()
