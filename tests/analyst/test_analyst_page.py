"""AppTest of the analyst chat page: offline answers, the fake model injected through
``st.session_state["analyst_model_factory"]``, the analysis page's prefill, errors."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cachesim.analyst.testing import ScriptedChatModel, demo_model
from tests.ui.helpers import unescape

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "4_Analyst.py")
KEY = "sk-test-PAGE-SECRET-0123456789"


@pytest.fixture(autouse=True)
def no_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CACHESIM_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)


def started(factory=None) -> AppTest:  # type: ignore[no-untyped-def]
    """The page with one node_failure run made by its own quick-run button."""
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.query_params["scenario"] = "node_failure"  # the sidebar's scenario is the one the page runs
    if factory is not None:
        at.session_state["analyst_model_factory"] = factory
    at.run()
    assert not at.exception
    assert "No finished run yet" in at.info[0].value
    at.button(key="analyst_quick_run").click().run()
    assert not at.exception
    return at


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input(key="analyst_input").set_value(question).run()
    assert not at.exception
    return at


def texts(block) -> list[str]:  # type: ignore[no-untyped-def]
    """The markdown shown, with the backslash escapes of user text undone."""
    return [unescape(m.value) for m in block.markdown]


@pytest.mark.slow
def test_offline_answer_with_steps_chart_and_followups() -> None:
    at = started()
    run_id = at.selectbox(key="analyst_run").value
    assert "node_failure" in run_id
    assert any("offline analyst" in c.value for c in at.caption)
    ask(at, "Why did the hit ratio drop at t=10 s?")
    user, bot = at.chat_message
    assert texts(user) == ["Why did the hit ratio drop at t=10 s?"]
    answer = texts(bot)[0]
    assert "chaos killed node-2 at t=10.0 s" in answer and "the balancer marked it down" in answer
    assert [c.value for c in bot.caption][0].startswith("Offline analyst")
    assert [e.label for e in at.expander] == ["Tool calls behind this answer (2)"]
    assert bot.get("vega_lite_chart"), "cited ranges are drawn"
    history = at.session_state["analyst_history"][run_id]
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[1]["ranges"][0][0] == 10.0
    # a follow-up button asks its question
    follow = [b for b in at.button if b.key and b.key.startswith("analyst_suggest_")]
    assert follow
    label = unescape(follow[0].label)
    follow[0].click().run()
    assert texts(at.chat_message[2]) == [label] and len(at.chat_message) == 4


@pytest.mark.slow
def test_fake_model_through_session_state() -> None:
    at = started(factory=demo_model)
    assert at.toggle[0].value is False  # an LLM is available, so it is used
    assert any("LLM analyst: an injected model" in c.value for c in at.caption)
    ask(at, "What did chaos do?")
    bot = at.chat_message[1]
    assert texts(bot)[0] == ("Scripted answer: chaos event 'kill' on node-2 at [t=10.0-12.0 s], per the event log.")
    assert [c.value for c in bot.caption][0] == "LLM analyst"
    assert "**search_events**(source='chaos')" in texts(at.expander[0])
    # the offline toggle switches to the offline analyst
    at.toggle[0].set_value(True).run()
    ask(at, "How many requests failed?")
    assert "measured requests failed" in texts(at.chat_message[3])[0]


@pytest.mark.slow
def test_prefill_from_the_analysis_page_is_asked_and_cleared() -> None:
    at = started()
    run_id = at.selectbox(key="analyst_run").value
    at.session_state["analyst_prefill"] = {"run_id": run_id, "question": "What happened at t=20 s?"}
    at.run()
    assert not at.exception
    assert texts(at.chat_message[0]) == ["What happened at t=20 s?"]
    assert "chaos restarted node-2 at t=20.0 s" in texts(at.chat_message[1])[0]
    assert "analyst_prefill" not in at.session_state
    at.run()  # asked once, not on every rerun
    assert len(at.chat_message) == 2


@pytest.mark.slow
def test_llm_errors_are_one_message_and_the_key_stays_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("CACHESIM_LLM_TIMEOUT_S", "2")
    at = started()
    assert not any("127.0.0.1" in c.value for c in at.caption)  # the server's host is not shown to visitors
    assert any("LLM analyst: model" in c.value for c in at.caption)
    ask(at, "Why did the hit ratio drop?")
    assert len(at.error) == 1
    assert "Could not reach the LLM server" in unescape(at.error[0].value)
    assert "127.0.0.1" not in at.error[0].value
    # the app keeps working: switch to the offline analyst and ask again
    at.toggle[0].set_value(True).run()
    ask(at, "Why did the hit ratio drop?")
    assert "chaos killed node-2" in texts(at.chat_message[3])[0]
    # the key is nowhere: not in the page, the session state or the exported chat
    page = json.dumps([str(e.proto) for e in at.main] + [str(e.proto) for e in at.sidebar])
    assert KEY not in page
    assert "analyst_history" in repr(at.session_state)
    assert KEY not in repr(at.session_state)
    download = at.get("download_button")[0].proto
    assert KEY not in str(download)


@pytest.mark.slow
def test_llm_answer_through_the_real_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page with ChatOpenAI against the local OpenAI-compatible server."""
    from tests.analyst.test_analyst_openai import LocalOpenAI

    srv = LocalOpenAI()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("CACHESIM_LLM_MODEL", "local-model")
        at = started()
        assert any("LLM analyst: model local" in unescape(c.value) for c in at.caption)
        assert not any("127.0.0.1" in c.value for c in at.caption)
        ask(at, "What did chaos do?")
        bot = at.chat_message[1]
        assert texts(bot)[0] == "Chaos killed node-2 at [t=10.0-11.8 s]."
        assert [e.label for e in at.expander] == ["Tool calls behind this answer (1)"]
        assert bot.get("vega_lite_chart")
        assert not at.error
        assert srv.requests[0]["auth"] == f"Bearer {KEY}"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.slow
def test_a_failing_model_shows_one_message() -> None:
    def unauthorised() -> ScriptedChatModel:
        import httpx
        import openai

        resp = httpx.Response(401, request=httpx.Request("POST", "http://x/v1/chat/completions"))
        raise openai.AuthenticationError(f"Incorrect API key provided: {KEY}", response=resp, body=None)

    at = started(factory=unauthorised)
    ask(at, "hello?")
    assert len(at.error) == 1 and "rejected the API key (HTTP 401)" in unescape(at.error[0].value)
    assert KEY not in at.error[0].value
    assert at.session_state["analyst_history"][at.selectbox(key="analyst_run").value][-1]["error_kind"] == "auth"
