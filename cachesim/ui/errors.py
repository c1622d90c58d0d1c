"""No traceback on any page: an unexpected error is logged with a short id, and the
page shows one line with that id.

Expected errors (bad input) are shown beside their widget by the pages themselves;
this is the net under everything else. The log line has the exception's type and the
stack but never its message, which could quote file content or user input.
``.streamlit/config.toml`` sets ``client.showErrorDetails = "none"`` as the last net
(an error in a callback, before the page runs).
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from .worker import log_error

__all__ = ["guarded", "log_error"]


def guarded(*renders: Callable[[], object]) -> None:
    """Call each of ``renders`` in turn (a page: the sidebar, then the body); an
    unexpected exception ends the page with one line and an error id. Streamlit's own
    control flow (st.rerun, st.stop, st.switch_page) passes through: it is not an
    Exception."""
    for render in renders:
        try:
            render()
        except Exception as exc:  # noqa: BLE001 - the net under the page
            error_id = log_error(exc, "page")
            st.error(
                f"Something went wrong on this page (error id {error_id}); it has been logged. Reload the "
                "page, or quote the id if you report it.",
                icon=":material/error:",
            )
            return
