"""What the AppTests of the live page share: the page, its parameters, starting a run,
reading its charts, and waiting on a condition (polled with a generous deadline, never a
fixed sleep: the worker's speed depends on the machine and on what else runs on it)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
LIVE = str(ROOT / "pages" / "2_Live_Run.py")
#: A short run: 800 req/s x 12 s = 9,600 requests, node-2 killed at t=10 s.
SHORT = {"scenario": "node_failure", "duration_s": "12", "workload.rate_rps": "800"}
#: A run long enough that it is still going when a test clicks (at 1 x real time: 60 wall s).
LONG = {"scenario": "node_failure", "duration_s": "60", "workload.rate_rps": "800"}
#: Session state for a page whose runs play at 1 x real time, or as fast as the server can.
REAL_TIME: dict[str, Any] = {"live.speed_pref": 1.0}
AS_FAST_AS_POSSIBLE: dict[str, Any] = {"live.speed_pref": None}


def wait_for(cond: Callable[[], bool], timeout_s: float = 90.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"{what} did not hold within {timeout_s:g} s")


def unescape(text: str) -> str:
    """Markdown as the visitor reads it (Streamlit's escapes removed)."""
    return re.sub(r"\\(.)", r"\1", text)


def live_page(params: dict[str, str] | None = None, **state: Any) -> AppTest:
    """The live page opened with ``params`` as its query parameters (default ``SHORT``) and
    ``state`` in its session state (one refresh per script run: tests/ui/conftest.py)."""
    at = AppTest.from_file(LIVE, default_timeout=90)
    at.query_params.update(params or SHORT)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception
    return at


def start(at: AppTest):  # type: ignore[no-untyped-def]
    """Click the sidebar's Run; the session's LiveRun and RunWorker."""
    at.sidebar.button(key="sidebar.run").click().run()
    assert not at.exception
    return at.session_state["cachesim.live"], at.session_state["cachesim.worker"]


def charts_of(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart") + at.get("arrow_vega_lite_chart")]


def titles(at: AppTest) -> list[str]:
    return [spec.get("title") for spec in charts_of(at)]
