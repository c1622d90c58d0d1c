"""One question in, a stream of events out: picks the LLM agent or the offline analyst.

The caller (the chat page) passes the runs, the history and either a model, a model
factory (tests inject a fake this way) or LLM settings; nothing here is kept between
calls, so each browser session owns its own state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ..results import RunResult
from .errors import describe_error
from .findings import compute_findings
from .model import LLMSettings, make_chat_model
from .offline import OfflineAnalyst
from .tools import RunTools
from .turns import Event, Failure

OFFLINE, LLM = "offline", "llm"


def choose_mode(settings: LLMSettings | None, factory: Callable[[], Any] | None, prefer_offline: bool = False) -> str:
    """``llm`` when a model can be made (a factory, or settings with a key or server)."""
    if prefer_offline:
        return OFFLINE
    return LLM if factory is not None or (settings is not None and settings.configured) else OFFLINE


def run_tools(run_id: str, runs: Mapping[str, RunResult]) -> RunTools:
    others = {k: v for k, v in runs.items() if k != run_id}
    return RunTools(runs[run_id], run_id, others)


def answer_events(
    run_id: str,
    runs: Mapping[str, RunResult],
    question: str,
    history: Sequence[Mapping[str, Any]] = (),
    *,
    mode: str = OFFLINE,
    settings: LLMSettings | None = None,
    factory: Callable[[], Any] | None = None,
) -> Iterator[Event]:
    """Answer ``question`` about ``runs[run_id]``; every failure is one Failure event."""
    rt = run_tools(run_id, runs)
    findings = compute_findings(rt.run)
    if mode == OFFLINE:
        yield from OfflineAnalyst(rt, findings).answer(question)
        return
    settings = settings or LLMSettings()

    def on_error(exc: BaseException):  # type: ignore[no-untyped-def]
        # the server's host is not named: visitors of a public deployment need not know it
        return describe_error(
            exc,
            server="the LLM server" if factory is None else "the model",
            model=settings.model,
            timeout_s=settings.timeout_s,
            secrets=settings.secrets(),
        )

    try:
        from .agent import build_agent, stream_agent  # langchain only on this path

        model = factory() if factory is not None else make_chat_model(settings)
        agent = build_agent(model, rt, findings)
    except Exception as exc:
        yield Failure(on_error(exc))
        return
    yield from stream_agent(agent, question, history, on_error=on_error)
