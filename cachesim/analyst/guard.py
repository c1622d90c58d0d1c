"""What a public deployment needs around the LLM analyst: model output stays text,
answers are bounded in size and time, and questions and tokens have quotas.

- :func:`safe_markdown`: an answer without links or images (their text is kept; bare
  URLs become code), so a model cannot make the page fetch from, or point visitors
  to, a third-party host.
- :func:`bounded`: the answer's events, cut off at a size and a total time. The
  events are produced in a helper thread and read with a deadline, so a server that
  trickles a byte every few seconds (every read within the HTTP timeout) is still
  cut off on time.
- :class:`Quota`: questions and (estimated) tokens per session and per process and
  hour; the owner's key pays for every one.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import AnalystError
from .turns import Event, Failure, TextDelta, ToolStep

_IMAGE = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)")
_LINK = re.compile(r"\[([^\]\n]+)\]\([^)\n]*\)")
_REF_LINK = re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]")
_REF_DEF = re.compile(r"(?m)^[ \t]{0,3}\[[^\]\n]+\]:[ \t]*\S+.*$")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto|data|javascript):[^>\s]*)>", re.IGNORECASE)
_BARE_URL = re.compile(r"(?<![`\w/])((?:https?|ftp)://[^\s`<>()]+|www\.[^\s`<>()]+)", re.IGNORECASE)
_HTML_IMG = re.compile(r"<\s*(img|a|iframe|script|style)\b[^>]*>", re.IGNORECASE)


def safe_markdown(text: str) -> str:
    """``text`` with images replaced by their alt text, links by their text, link
    definitions dropped, and bare URLs shown as code (not clickable, not fetched)."""
    text = _IMAGE.sub(lambda m: m.group(1) or "(image removed)", text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _REF_DEF.sub("", text)
    text = _AUTOLINK.sub(lambda m: f"`{m.group(1)}`", text)
    text = _HTML_IMG.sub("", text)
    return _BARE_URL.sub(lambda m: f"`{m.group(1)}`", text)


def literal(text: object, limit: int = 120) -> str:
    """``text`` as an inline code span (rendered literally), one line, cut to ``limit``."""
    line = " ".join(str(text).split()).replace("`", "'")
    if len(line) > limit:
        line = line[: limit - 1] + "…"
    return f"`{line}`" if line else "``"


# -- size and time ------------------------------------------------------------------------


def bounded(
    events: Iterable[Event], *, max_chars: int, max_s: float, clock: Callable[[], float] = time.monotonic
) -> Iterator[Event]:
    """``events`` until the text passes ``max_chars`` or ``max_s`` wall seconds have
    passed; then one Failure of kind ``limit`` saying which, and no more. The source is
    read in a daemon thread, so a blocked read cannot hold the answer past its time."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=64)
    stop = threading.Event()

    def produce() -> None:
        try:
            for ev in events:
                while not stop.is_set():
                    try:
                        q.put(("event", ev), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the reader
            q.put(("error", exc))

    threading.Thread(target=produce, name="cachesim-answer", daemon=True).start()
    deadline = clock() + max_s
    size = 0
    try:
        while True:
            left = deadline - clock()
            if left <= 0:
                yield Failure(
                    AnalystError(
                        "limit",
                        f"The answer took longer than {max_s:g} s and was cut off "
                        "there. Ask again, or use the offline analyst.",
                    )
                )
                return
            try:
                kind, item = q.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if kind == "end":
                return
            if kind == "error":
                raise item
            if isinstance(item, TextDelta):
                room = max_chars - size
                if len(item.text) > room:
                    if room > 0:
                        yield TextDelta(item.text[:room])
                    yield Failure(
                        AnalystError("limit", f"The answer passed {max_chars:,} characters and was cut off there.")
                    )
                    return
                size += len(item.text)
            yield item
    finally:
        stop.set()


# -- quotas -------------------------------------------------------------------------------


def estimate_tokens(question: str, answer: str, steps: Iterable[dict[str, Any]] = (), per_call: int = 1500) -> int:
    """Tokens an LLM answer cost, estimated (4 characters a token): the question, the
    answer, every tool result (each goes back to the model), and ``per_call`` for the
    system prompt and tool schemas sent with each model call (one more than the tool calls)."""
    steps = list(steps)
    chars = len(question) + len(answer) + sum(len(str(s.get("result") or "")) for s in steps)
    return chars // 4 + per_call * (len(steps) + 1)


@dataclass
class Usage:
    questions: int = 0
    tokens: int = 0


@dataclass
class Quota:
    """Per-session and process-wide (per rolling hour) limits of questions and tokens.
    The process-wide counter is the one shared object: it is the owner's key's spend."""

    per_session_questions: int
    per_session_tokens: int
    per_hour_questions: int
    per_hour_tokens: int
    window_s: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _recent: deque[tuple[float, int]] = field(default_factory=deque, repr=False)  # (when, tokens)

    def _trim(self, now: float) -> None:
        while self._recent and now - self._recent[0][0] > self.window_s:
            self._recent.popleft()

    def refusal(self, session: Usage) -> str | None:
        """Why another question may not go to the LLM now (one line), or None."""
        if session.questions >= self.per_session_questions:
            return (
                f"This session has asked the LLM analyst {session.questions} questions, its quota. The offline "
                "analyst still answers (toggle it above)."
            )
        if session.tokens >= self.per_session_tokens:
            return (
                f"This session has used its quota of about {self.per_session_tokens:,} LLM tokens. The offline "
                "analyst still answers (toggle it above)."
            )
        with self._lock:
            now = self.clock()
            self._trim(now)
            if len(self._recent) >= self.per_hour_questions:
                return (
                    "The LLM analyst has answered its hourly quota of questions on this server; try again "
                    "later, or use the offline analyst."
                )
            if sum(t for _, t in self._recent) >= self.per_hour_tokens:
                return (
                    "The LLM analyst has used its hourly quota of tokens on this server; try again later, or "
                    "use the offline analyst."
                )
        return None

    def charge(self, session: Usage, tokens: int) -> None:
        session.questions += 1
        session.tokens += tokens
        with self._lock:
            self._recent.append((self.clock(), tokens))


_process_quota: dict[tuple[int, int, int, int], Quota] = {}
_quota_lock = threading.Lock()


def process_quota(
    per_session_questions: int, per_session_tokens: int, per_hour_questions: int, per_hour_tokens: int
) -> Quota:
    """The process's quota for these limits (made once)."""
    key = (per_session_questions, per_session_tokens, per_hour_questions, per_hour_tokens)
    with _quota_lock:
        if key not in _process_quota:
            _process_quota[key] = Quota(*key)
        return _process_quota[key]


def step_dicts(steps: Iterable[ToolStep]) -> list[dict[str, Any]]:
    return [{"name": s.name, "result": s.result} for s in steps]
