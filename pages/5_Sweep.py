"""Sweep: one or two parameters x replications, mean and 95% CI, off the page thread."""

import streamlit as st

from cachesim.ui import render_sidebar
from cachesim.ui.sweep import render_sweep_page, take_link_params

st.set_page_config(page_title="Sweep · cachesim", page_icon=":material/ssid_chart:", layout="wide")
take_link_params()  # the sweep's own link parameters, before the sidebar reads the config's
render_sweep_page(render_sidebar())
