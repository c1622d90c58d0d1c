"""A scripted, tool-calling fake chat model for tests and demos (no network, no key).

``ScriptedChatModel(script=[...])`` answers the n-th model call with the n-th entry:
an ``AIMessage`` (which may carry ``tool_calls``), a string, or a callable that gets
the messages and returns either. It supports ``bind_tools`` (recording the tools'
names) and streams text word by word and tool calls as tool-call chunks, as a real
provider does. Every list of messages it received is kept in ``received``, so a test
can check exactly what reached the model.

Use it in the chat page by putting a factory in session state::

    st.session_state["analyst_model_factory"] = lambda: ScriptedChatModel(script=[...])
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

Reply = AIMessage | str | Callable[[list[BaseMessage]], "AIMessage | str"]


def tool_call(name: str, args: dict[str, Any] | None = None, call_id: str | None = None) -> AIMessage:
    """An assistant message that calls one tool."""
    call = {"name": name, "args": args or {}, "id": call_id or f"call_{name}", "type": "tool_call"}
    return AIMessage(content="", tool_calls=[call])


class ScriptedChatModel(BaseChatModel):
    script: list[Any] = Field(default_factory=list)
    received: list[list[BaseMessage]] = Field(default_factory=list)
    bound_tools: list[str] = Field(default_factory=list)
    exhausted_reply: str = "(the scripted model has no more replies)"

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any) -> ScriptedChatModel:
        self.bound_tools = [
            getattr(t, "name", None) or t.get("name", "?") if isinstance(t, dict) else getattr(t, "name", str(t))
            for t in tools
        ]
        return self

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        self.received.append(list(messages))
        i = len(self.received) - 1
        reply = self.script[i] if i < len(self.script) else self.exhausted_reply
        if callable(reply) and not isinstance(reply, AIMessage):
            reply = reply(list(messages))
        return AIMessage(content=reply) if isinstance(reply, str) else reply

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        msg = self._next(messages)
        text = msg.content if isinstance(msg.content, str) else ""
        for token in re.findall(r"\S+\s*|\s+", text):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token, id=msg.id))
            if run_manager:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk
        if msg.tool_calls:
            chunks = [
                {"name": tc["name"], "args": json.dumps(tc["args"]), "id": tc["id"], "index": i}
                for i, tc in enumerate(msg.tool_calls)
            ]
            yield ChatGenerationChunk(message=AIMessageChunk(content="", id=msg.id, tool_call_chunks=chunks))


def demo_model() -> ScriptedChatModel:
    """A fake analyst that looks up the summary and the chaos events, then answers
    from what the tools returned (used by the app's tests)."""

    def answer(messages: list[BaseMessage]) -> str:
        events = json.loads(messages[-1].content).get("events", [])
        first = events[0] if events else None
        if first is None:
            return "The event log shows no chaos action in this run."
        return (
            f"Scripted answer: chaos event '{first['kind']}' on {first['target']} at "
            f"[t={first['t']:.1f}-{first['t'] + 2:.1f} s], per the event log."
        )

    return ScriptedChatModel(
        script=[
            tool_call("get_summary", {}, "call_1"),
            tool_call("search_events", {"source": "chaos"}, "call_2"),
            answer,
        ]
    )
