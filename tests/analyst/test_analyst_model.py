"""Model settings from secrets/environment, the ChatOpenAI factory, error messages, redaction."""

from __future__ import annotations

import httpx
import openai
import pytest
from pydantic import SecretStr

from cachesim.analyst import LLM, OFFLINE, LLMSettings, choose_mode, describe_error, redact
from cachesim.analyst.model import DEFAULT_MODEL, PLACEHOLDER_KEY, make_chat_model, settings_from

KEY = "sk-proj-SECRET-abcdefghijklmnop"


def _status_error(cls: type[openai.APIStatusError], code: int) -> openai.APIStatusError:
    req = httpx.Request("POST", "http://x/v1/chat/completions")
    resp = httpx.Response(code, request=req)
    return cls(f"Error code: {code} - Incorrect API key provided: {KEY}", response=resp, body=None)


def test_settings_from_environment_and_secrets() -> None:
    env = {
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": "http://u:pw@localhost:11434/v1",
        "CACHESIM_LLM_MODEL": "llama3.1",
        "CACHESIM_LLM_TIMEOUT_S": "12",
    }
    s = settings_from(None, env)
    assert s.model == "llama3.1" and s.timeout_s == 12.0 and s.configured
    assert s.server == "localhost:11434" and "pw" not in s.describe()
    assert set(s.secrets()) == {KEY, "pw"}
    assert KEY not in repr(s) and KEY not in str(s)
    # secrets win over the environment; an empty secret falls back
    s2 = settings_from({"OPENAI_API_KEY": "sk-other-1234567890", "CACHESIM_LLM_MODEL": ""}, env)
    assert s2.api_key.get_secret_value() == "sk-other-1234567890" and s2.model == "llama3.1"
    empty = settings_from(None, {})
    assert not empty.configured and empty.model == DEFAULT_MODEL

    class Raising(dict):
        def get(self, *a: object) -> object:
            raise FileNotFoundError("no secrets.toml")

    assert settings_from(Raising(), env).model == "llama3.1"


def test_choose_mode() -> None:
    assert choose_mode(LLMSettings(), None) == OFFLINE
    assert choose_mode(LLMSettings(api_key=SecretStr(KEY)), None) == LLM
    assert choose_mode(LLMSettings(base_url="http://localhost:1234/v1"), None) == LLM
    assert choose_mode(LLMSettings(), lambda: None) == LLM
    assert choose_mode(LLMSettings(api_key=SecretStr(KEY)), None, prefer_offline=True) == OFFLINE


def test_factory_sets_limits() -> None:
    m = make_chat_model(
        LLMSettings(
            model="gpt-x",
            api_key=SecretStr(KEY),
            base_url="http://127.0.0.1:9/v1",
            timeout_s=7.0,
            max_retries=2,
            max_tokens=300,
        )
    )
    assert (m.model_name, m.request_timeout, m.max_retries, m.max_tokens) == ("gpt-x", 7.0, 2, 300)
    assert m.openai_api_base == "http://127.0.0.1:9/v1" and m.streaming
    assert KEY not in repr(m)
    local = make_chat_model(LLMSettings(base_url="http://127.0.0.1:9/v1"))
    assert local.openai_api_key.get_secret_value() == PLACEHOLDER_KEY


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (lambda: _status_error(openai.AuthenticationError, 401), "auth"),
        (lambda: _status_error(openai.RateLimitError, 429), "rate_limit"),
        (lambda: _status_error(openai.InternalServerError, 503), "server"),
        (lambda: _status_error(openai.NotFoundError, 404), "not_found"),
        (lambda: _status_error(openai.BadRequestError, 400), "bad_request"),
        (lambda: openai.APITimeoutError(httpx.Request("POST", "http://x")), "timeout"),
        (lambda: openai.APIConnectionError(request=httpx.Request("POST", "http://x")), "connection"),
        (lambda: openai.OpenAIError("The api_key client option must be set"), "no_key"),
        (lambda: ValueError("weird"), "unknown"),
    ],
)
def test_errors_map_to_one_message(exc, kind: str) -> None:  # type: ignore[no-untyped-def]
    err = describe_error(exc(), server="api.example.com", model="gpt-x", timeout_s=30, secrets=[KEY])
    assert err.kind == kind
    assert KEY not in err.message and "\n" not in err.message
    if kind in ("auth", "rate_limit", "server", "connection", "timeout"):
        assert "api.example.com" in err.message


def test_wrapped_errors_are_found_through_the_cause_chain() -> None:
    try:
        try:
            raise _status_error(openai.AuthenticationError, 401)
        except openai.OpenAIError as inner:
            raise RuntimeError("graph failed") from inner
    except RuntimeError as outer:
        assert describe_error(outer).kind == "auth"


def test_redact() -> None:
    text = f"key {KEY} and Bearer abc.def and sk-live-ZZZZZZZZZZ and api_key fine"
    out = redact(text, [KEY])
    assert KEY not in out and "abc.def" not in out and "ZZZZZZZZZZ" not in out
    assert "api_key fine" in out
