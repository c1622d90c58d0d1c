"""Failures of the LLM path as one clear, key-free sentence for the chat.

:func:`describe_error` walks an exception's cause chain, recognises the OpenAI client's
errors (and the HTTP library's, by name), and returns an :class:`AnalystError` whose
message says what happened and what to do. Every message goes through :func:`redact`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_KEYLIKE = re.compile(r"\b(sk|pk|rk|key|api)[-_][A-Za-z0-9_\-*]{6,}", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)


@dataclass(frozen=True)
class AnalystError:
    kind: str  # no_key | auth | rate_limit | timeout | connection | server | not_found |
    # bad_request | limit | unknown
    message: str

    def __str__(self) -> str:
        return self.message


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets and anything key-shaped replaced by ``[redacted]``."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "[redacted]")
    text = _BEARER.sub(r"\1[redacted]", text)
    return _KEYLIKE.sub("[redacted]", text)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def _status(e: BaseException) -> int | None:
    code = getattr(e, "status_code", None)
    return code if isinstance(code, int) else None


def _classify(e: BaseException) -> str | None:
    names = {c.__name__ for c in type(e).__mro__}
    status = _status(e)
    if "AuthenticationError" in names or "PermissionDeniedError" in names or status in (401, 403):
        return "auth"
    if "RateLimitError" in names or status == 429:
        return "rate_limit"
    if "NotFoundError" in names or status == 404:
        return "not_found"
    if status is not None and status >= 500:
        return "server"
    if "BadRequestError" in names or "UnprocessableEntityError" in names or status in (400, 422):
        return "bad_request"
    if names & {"APITimeoutError", "TimeoutException", "ReadTimeout", "ConnectTimeout", "TimeoutError"}:
        return "timeout"
    if names & {
        "APIConnectionError",
        "ConnectError",
        "ConnectionError",
        "ConnectionRefusedError",
        "RemoteProtocolError",
    }:
        return "connection"
    if names & {
        "ModelCallLimitExceeded",
        "ModelCallLimitExceededError",
        "ToolCallLimitExceededError",
        "GraphRecursionError",
    }:
        return "limit"
    if "OpenAIError" in names and "api_key" in str(e):
        return "no_key"
    return None


def describe_error(
    exc: BaseException,
    *,
    server: str = "the LLM server",
    model: str = "",
    timeout_s: float | None = None,
    secrets: Iterable[str] = (),
) -> AnalystError:
    """The one message the chat shows for ``exc``."""
    kind = next((k for k in map(_classify, _chain(exc)) if k), "unknown")
    status = next((s for s in map(_status, _chain(exc)) if s), None)
    wait = f" within {timeout_s:g} s" if timeout_s else ""
    messages = {
        "no_key": "No API key is configured. Set OPENAI_API_KEY in .streamlit/secrets.toml or "
        "the environment, or use the offline analyst.",
        "auth": f"{server} rejected the API key (HTTP {status or 401}). Check OPENAI_API_KEY in "
        ".streamlit/secrets.toml or the environment; the offline analyst still works.",
        "rate_limit": f"{server} is rate-limiting requests (HTTP 429). Wait a minute and ask "
        "again, or switch to the offline analyst.",
        "timeout": f"{server} did not answer{wait}. Ask again, or switch to the offline analyst.",
        "connection": f"Could not reach {server}. Check OPENAI_BASE_URL and that the server is "
        "running; the offline analyst still works.",
        "server": f"{server} had an internal error (HTTP {status or 500}). Try again in a "
        "moment, or switch to the offline analyst.",
        "not_found": f"{server} does not know the model '{model}' (HTTP 404). Set "
        "CACHESIM_LLM_MODEL to a model it serves.",
        "bad_request": f"{server} refused the request (HTTP {status or 400}); the model may not "
        "support tool calling. Try another CACHESIM_LLM_MODEL.",
        "limit": "The analyst hit its limit of model or tool calls for one question. Ask a narrower question.",
        "unknown": f"The analyst failed ({type(exc).__name__}). Try again, or switch to the offline analyst.",
    }
    text = messages[kind]
    if text.startswith("the "):  # "the LLM server ..." opens a sentence
        text = "T" + text[1:]
    return AnalystError(kind, redact(text, secrets))
