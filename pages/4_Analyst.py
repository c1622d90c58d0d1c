"""Analyst: chat about a finished run with the LLM analyst (or the offline one).

Thin page: the shared sidebar first, then the chat view from cachesim.ui.chat, which
documents its session-state keys (including the ``analyst_model_factory`` injection
point used by the tests).
"""


try:
    from cachesim.ui import render_sidebar
except ImportError:  # the shared sidebar is not there yet
    render_sidebar = None

if render_sidebar is not None:
    render_sidebar()

from cachesim.ui.chat import render_analyst_page  # noqa: E402

render_analyst_page()
