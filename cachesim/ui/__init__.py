"""Streamlit helpers shared by the pages (the only part of cachesim that imports
streamlit): the sidebar, the session's run registry, and the page bodies."""

from .sidebar import render_sidebar
from .state import add_run, current_run_id, get_runs, set_current_run

__all__ = ["add_run", "current_run_id", "get_runs", "render_sidebar", "set_current_run"]
