"""What an answer streams: text, tool steps, a failure; and the answer they add up to.

Both analysts (the LLM agent and the offline one) yield these, so the chat view
renders them the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import AnalystError


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolStep:
    """A tool call (``result`` None) or its result (``result`` set), matched by ``call_id``."""

    call_id: str
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    result: str | None = None


@dataclass(frozen=True)
class Failure:
    error: AnalystError


Event = TextDelta | ToolStep | Failure

_RANGE = re.compile(
    r"\[\s*t\s*=\s*(\d+(?:\.\d+)?)\s*(?:s\s*)?(?:(?:-|–|—|to)\s*(\d+(?:\.\d+)?)\s*)?s?\s*\]", re.IGNORECASE
)


def cited_ranges(text: str, limit: int = 8) -> list[tuple[float, float]]:
    """Time ranges cited as ``[t=A-B s]`` or ``[t=A s]``, in order, without duplicates."""
    out: list[tuple[float, float]] = []
    for m in _RANGE.finditer(text):
        a = float(m.group(1))
        b = float(m.group(2)) if m.group(2) else a
        rng = (min(a, b), max(a, b))
        if rng not in out:
            out.append(rng)
        if len(out) >= limit:
            break
    return out


@dataclass
class Answer:
    """An answer as it streams in: ``feed`` each event; ``record`` for the history."""

    mode: str
    text: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    error: AnalystError | None = None

    def feed(self, event: Event) -> str | None:
        """Take one event; return the text to show now, if any."""
        if isinstance(event, TextDelta):
            self.text += event.text
            return event.text
        if isinstance(event, ToolStep):
            step = next((s for s in self.steps if s["id"] == event.call_id), None)
            if step is None:
                step = {"id": event.call_id, "name": event.name, "args": dict(event.args), "result": None}
                self.steps.append(step)
            if event.result is not None:
                step["result"] = event.result
            return None
        self.error = event.error
        return None

    def text_stream(self, events: Iterable[Event]) -> Iterator[str]:
        """The text parts of ``events`` (for ``st.write_stream``), feeding every event."""
        for ev in events:
            piece = self.feed(ev)
            if piece:
                yield piece

    def record(self) -> dict[str, Any]:
        return {
            "role": "assistant",
            "content": self.text,
            "mode": self.mode,
            "steps": self.steps,
            "ranges": cited_ranges(self.text),
            "error": self.error.message if self.error else None,
            "error_kind": self.error.kind if self.error else None,
        }


def chunk_words(text: str) -> Iterator[TextDelta]:
    """``text`` as word-sized deltas (for streaming a ready answer)."""
    for piece in re.findall(r"\S+\s*|\s+", text):
        yield TextDelta(piece)
