"""The chat model factory: ChatOpenAI from secrets or the environment.

Settings come from a mapping of secrets (the page passes ``st.secrets``) first, then
the environment: ``OPENAI_API_KEY``, ``OPENAI_BASE_URL`` (any OpenAI-compatible server:
Ollama, vLLM, LM Studio), ``CACHESIM_LLM_MODEL``, and optionally
``CACHESIM_LLM_TIMEOUT_S``. The key is held as a ``SecretStr``: it is never part of a
repr, a log line or an error message this package produces.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_RETRIES = 1
DEFAULT_MAX_TOKENS = 1024
#: Local OpenAI-compatible servers accept any key; this one is sent when none is set.
PLACEHOLDER_KEY = "not-needed"


@dataclass(frozen=True)
class LLMSettings:
    model: str = DEFAULT_MODEL
    api_key: SecretStr | None = None
    base_url: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_retries: int = DEFAULT_MAX_RETRIES
    max_tokens: int = DEFAULT_MAX_TOKENS

    @property
    def configured(self) -> bool:
        """An LLM can be tried: a key is set, or a base URL (local servers need no key)."""
        return bool(self.api_key and self.api_key.get_secret_value()) or bool(self.base_url)

    @property
    def server(self) -> str:
        """Where requests go, without any credentials in the URL."""
        if not self.base_url:
            return "api.openai.com"
        parts = urlsplit(self.base_url)
        host = parts.hostname or self.base_url
        return f"{host}:{parts.port}" if parts.port else host

    def describe(self) -> str:
        return f"{self.model} at {self.server}"

    def secrets(self) -> tuple[str, ...]:
        """Strings that must never be shown (for redaction)."""
        out = []
        if self.api_key and self.api_key.get_secret_value():
            out.append(self.api_key.get_secret_value())
        if self.base_url and urlsplit(self.base_url).password:
            out.append(urlsplit(self.base_url).password or "")
        return tuple(s for s in out if s)


def _pick(name: str, secrets: Mapping[str, Any] | None, env: Mapping[str, str]) -> str | None:
    value: Any = None
    if secrets is not None:
        try:
            value = secrets.get(name)
        except Exception:  # st.secrets raises when no secrets file exists
            value = None
    if value in (None, ""):
        value = env.get(name)
    return str(value).strip() if value not in (None, "") else None


def settings_from(secrets: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> LLMSettings:
    """Settings from ``secrets`` (e.g. ``st.secrets``), falling back to ``env``."""
    env = os.environ if env is None else env
    key = _pick("OPENAI_API_KEY", secrets, env)
    timeout = _pick("CACHESIM_LLM_TIMEOUT_S", secrets, env)
    try:
        timeout_s = float(timeout) if timeout else DEFAULT_TIMEOUT_S
    except ValueError:
        timeout_s = DEFAULT_TIMEOUT_S
    return LLMSettings(
        model=_pick("CACHESIM_LLM_MODEL", secrets, env) or DEFAULT_MODEL,
        api_key=SecretStr(key) if key else None,
        base_url=_pick("OPENAI_BASE_URL", secrets, env),
        timeout_s=timeout_s if timeout_s > 0 else DEFAULT_TIMEOUT_S,
    )


def make_chat_model(settings: LLMSettings) -> Any:
    """A ``ChatOpenAI`` for ``settings`` (imported here: the offline path needs none)."""
    from langchain_openai import ChatOpenAI

    key = settings.api_key or SecretStr(PLACEHOLDER_KEY)
    return ChatOpenAI(
        model=settings.model,
        api_key=key,
        base_url=settings.base_url,
        timeout=settings.timeout_s,
        max_retries=settings.max_retries,
        max_tokens=settings.max_tokens,
        streaming=True,
        # OpenAI-compatible servers speak Chat Completions; never switch them to Responses
        use_responses_api=False if settings.base_url else None,
    )
