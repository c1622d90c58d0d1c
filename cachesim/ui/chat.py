"""The analyst chat view (Streamlit): run picker, history per run, streamed answers,
tool steps, cited time ranges on a chart, follow-up buttons.

Session state it owns (all per browser session):

- ``analyst_history``: ``{run_id: [message, ...]}``; a message is
  ``{"role", "content", ...}``; assistant messages also carry ``mode``, ``steps``,
  ``ranges``, ``error``.
- ``analyst_pending``: a question waiting to be answered (from a button or the prefill).
- ``analyst_offline``: the "offline analyst" toggle.
- ``analyst_model_factory`` (optional, set by tests or embedding code): a zero-argument
  callable returning a LangChain chat model; when present it replaces ChatOpenAI, e.g.
  ``st.session_state["analyst_model_factory"] = cachesim.analyst.testing.demo_model``.
- ``analyst_prefill`` (set by the analysis page): ``{"run_id", "question"}``; consumed
  and cleared here.

The API key is read from ``st.secrets`` or the environment on every rerun and never
stored in session state, shown, logged or exported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import streamlit as st

import cachesim
from cachesim.analyst import (
    LLM,
    OFFLINE,
    Answer,
    LLMSettings,
    answer_events,
    choose_mode,
    compute_findings,
    run_tools,
    settings_from,
    suggestions,
)
from cachesim.analyst.chart import cited_window_chart
from cachesim.analyst.guard import Usage, bounded, estimate_tokens, process_quota, safe_markdown
from cachesim.analyst.turns import Event, ToolStep
from cachesim.results import RunResult

from . import budget, state
from .text import plain

HISTORY = "analyst_history"
PENDING = "analyst_pending"
FACTORY = "analyst_model_factory"
PREFILL = "analyst_prefill"
RUN_PICKER = "analyst_run"
QUICK_SCENARIO = "node_failure"
USAGE = "analyst_usage"
QUOTA_MSG = "analyst_quota_msg"
MAX_QUESTION_CHARS = 2000
#: Seconds between redraws of a streaming answer (each redraw re-sanitises the text).
REDRAW_S = 0.1
#: Pacing of offline answers (seconds per word, at most this much in all).
OFFLINE_PACE_S = 0.01
OFFLINE_PACE_BUDGET_S = 1.0


# -- runs (the session's registry: cachesim.ui.state) -----------------------------------


def run_label(run_id: str, run: RunResult) -> str:
    name = run.config.to_dict().get("name") or "custom"
    return run_id if name in run_id else f"{run_id} · {name}"


# -- settings ----------------------------------------------------------------------------


def _secrets() -> Mapping[str, Any] | None:
    try:
        return dict(st.secrets)
    except Exception:  # no secrets file: fine, the environment is the fallback
        return None


def llm_settings() -> LLMSettings:
    return settings_from(_secrets(), os.environ)


# -- rendering ---------------------------------------------------------------------------


def render_steps(steps: list[dict[str, Any]], expanded: bool = False) -> None:
    if not steps:
        return
    with st.expander(f"Tool calls behind this answer ({len(steps)})", expanded=expanded):
        for s in steps:
            args = ", ".join(f"{k}={v!r}" for k, v in (s.get("args") or {}).items())
            st.markdown(f"**{plain(s['name'], 60)}**({plain(args, 300)})")
            if s.get("result"):
                st.code(s["result"][:3000], language="json", wrap_lines=True)


def render_ranges(run: RunResult, ranges: list, key: str) -> None:
    if not ranges:
        return
    chart = cited_window_chart(run, [tuple(r) for r in ranges])
    if chart is not None:
        cited = ", ".join(f"t={a:g}-{b:g} s" if b != a else f"t={a:g} s" for a, b in ranges)
        st.caption(f"Cited: {cited} (shaded; dashed lines are chaos actions)")
        st.altair_chart(chart, width="stretch", key=key)


def mode_caption(mode: str) -> str:
    return "Offline analyst (computed from the run, no LLM)" if mode == OFFLINE else "LLM analyst"


def render_message(msg: dict[str, Any], run: RunResult, key: str) -> None:
    with st.chat_message(msg["role"]):
        if msg.get("content"):
            if msg["role"] == "user":
                st.markdown(plain(msg["content"], MAX_QUESTION_CHARS))  # the visitor's text stays text
            else:
                st.markdown(safe_markdown(msg["content"]))  # no links or images from the model
        if msg["role"] != "assistant":
            return
        if msg.get("error"):
            st.error(plain(msg["error"], 400), icon="⚠️")
        st.caption(mode_caption(msg.get("mode", OFFLINE)))
        render_steps(msg.get("steps") or [])
        render_ranges(run, msg.get("ranges") or [], key=f"{key}_chart")


def transcript(run_id: str, history: list[dict[str, Any]]) -> str:
    """The chat as Markdown (questions, answers, errors; no settings, no key)."""
    lines = [f"# cachesim analyst: {run_id}", ""]
    for m in history:
        who = "You" if m["role"] == "user" else f"Analyst ({m.get('mode', OFFLINE)})"
        lines += [f"**{who}:** {m.get('content') or ''}"]
        if m.get("error"):
            lines.append(f"> error: {m['error']}")
        lines.append("")
    return "\n".join(lines)


# -- the page ----------------------------------------------------------------------------


def _consume_prefill(runs: Mapping[str, RunResult]) -> None:
    pre = st.session_state.pop(PREFILL, None)
    if not isinstance(pre, Mapping):
        return
    if pre.get("run_id") in runs:
        state.set_current_run(str(pre["run_id"]))
        st.session_state[RUN_PICKER] = str(pre["run_id"])
    if pre.get("question"):
        st.session_state[PENDING] = str(pre["question"])


def _quick_run() -> None:
    st.info(
        "No finished run yet. Run a scenario here, or configure one on the other pages. Runs live in the "
        "server's memory (a restart loses them): you can also upload a run you downloaded."
    )
    from .analysis import render_run_upload

    render_run_upload("analyst_upload_run")
    from . import config_state as cs
    from . import control

    cfg = cs.current()  # the sidebar's scenario and values: one choice for every page
    if cfg is None:
        st.warning(
            "The sidebar's config has an invalid value: fix it there, then run it here.", icon=":material/error:"
        )
        return
    problem = control.check(cfg)
    st.caption(
        f"The sidebar's config: {plain(cfg.name, 80)} · {cfg.cluster.nodes} nodes · "
        f"{cfg.workload.rate_rps:,.0f} req/s for {cfg.duration_s:g} s. Pick another scenario in the sidebar."
    )
    if st.button(
        f"Run {plain(cfg.name, 80)} and analyse it",
        type="primary",
        key="analyst_quick_run",
        disabled=problem is not None,
    ):
        with st.spinner(f"Simulating {cfg.name}…"):
            result = cachesim.Simulation(cfg, trace=control._trace(cfg)).run()
        state.add_run(result)  # and makes it current
        st.rerun()
    if problem:
        st.error(problem, icon=":material/block:")


def _pick_run(runs: dict[str, RunResult]) -> str:
    ids = list(runs)
    current = state.current_run_id()
    if st.session_state.get(RUN_PICKER) not in ids:  # first visit, or the run went away
        st.session_state[RUN_PICKER] = current if current in ids else ids[-1]
    chosen = st.selectbox("Run", ids, key=RUN_PICKER, format_func=lambda r: run_label(r, runs[r]))
    if chosen != current:
        state.set_current_run(chosen)
    return chosen


def _mode(settings: LLMSettings, factory: Callable[[], Any] | None) -> str:
    can_llm = factory is not None or settings.configured
    offline = st.toggle(
        "Offline analyst",
        value=not can_llm,
        disabled=not can_llm,
        key="analyst_offline" if can_llm else "analyst_offline_forced",
        help="Answers computed from the run itself, without an LLM.",
    )
    mode = choose_mode(settings, factory, prefer_offline=offline)
    if not can_llm:
        st.caption(
            "No API key configured, so the **offline analyst** answers (computed from "
            "the run, no LLM). Set OPENAI_API_KEY (and optionally OPENAI_BASE_URL, "
            "CACHESIM_LLM_MODEL) in .streamlit/secrets.toml or the environment."
        )
    elif mode == LLM:
        where = "an injected model" if factory is not None else f"model {plain(settings.model, 60)}"
        lim = budget.limits()
        st.caption(
            f"LLM analyst: {where}. Tool output is treated as data; limits on model and "
            f"tool calls apply, and each session may ask {lim.analyst_questions_per_session} questions."
        )
    else:
        st.caption("Offline analyst: answers computed from the run, no LLM.")
    return mode


def _usage() -> Usage:
    if USAGE not in st.session_state:
        st.session_state[USAGE] = Usage()
    return st.session_state[USAGE]


def _quota():  # type: ignore[no-untyped-def]
    lim = budget.limits()
    return process_quota(
        lim.analyst_questions_per_session,
        lim.analyst_tokens_per_session,
        lim.analyst_questions_per_hour,
        lim.analyst_tokens_per_hour,
    )


def _answer(
    run_id: str,
    runs: dict[str, RunResult],
    question: str,
    history: list,
    mode: str,
    settings: LLMSettings,
    factory: Callable[[], Any] | None,
) -> None:
    quota = _quota() if mode == LLM else None
    refusal = quota.refusal(_usage()) if quota is not None else None
    if refusal:  # nothing is sent to the LLM
        st.session_state[QUOTA_MSG] = refusal
        return
    history.append({"role": "user", "content": question})
    render_message(history[-1], runs[run_id], key=f"q{len(history)}")
    answer = Answer(mode)
    lim = budget.limits()
    events = bounded(
        answer_events(run_id, runs, question, history[:-1], mode=mode, settings=settings, factory=factory),
        max_chars=lim.analyst_max_answer_chars,
        max_s=lim.analyst_max_answer_s,
    )
    with st.chat_message("assistant"):
        status = st.status("Looking at the run…", expanded=False)
        text = answer.text_stream(_show_steps(events, status))
        _stream_text(_paced(text) if mode == OFFLINE else text, st.empty())
        if answer.error is not None:
            st.error(plain(answer.error.message, 400), icon="⚠️")
        n = len(answer.steps)
        status.update(
            label=f"{n} tool call{'' if n == 1 else 's'}",
            expanded=False,
            state="complete" if answer.error is None else "error",
        )
    if quota is not None:
        quota.charge(_usage(), estimate_tokens(question, answer.text, answer.steps))
    history.append(answer.record())


def _stream_text(pieces: Iterable[str], slot: Any) -> str:
    """Draw the answer as it arrives, sanitised (no links or images) on every redraw."""
    text, drawn_at = "", 0.0
    for piece in pieces:
        text += piece
        now = time.perf_counter()
        if now - drawn_at >= REDRAW_S:
            slot.markdown(safe_markdown(text) + " ▌")
            drawn_at = now
    slot.markdown(safe_markdown(text))
    return text


def _paced(
    pieces: Iterator[str], per_piece_s: float = OFFLINE_PACE_S, budget_s: float = OFFLINE_PACE_BUDGET_S
) -> Iterator[str]:
    """The offline answer is ready at once; pace it a little so it reads as it arrives."""
    spent = 0.0
    for piece in pieces:
        yield piece
        if spent < budget_s:
            time.sleep(per_piece_s)
            spent += per_piece_s


def _show_steps(events: Iterable[Event], status: Any) -> Iterator[Event]:
    """Pass ``events`` through, naming each tool call in ``status`` as it happens."""
    for ev in events:
        if isinstance(ev, ToolStep) and ev.result is None:
            status.update(label=f"Calling {ev.name}…")
            status.markdown(f"`{ev.name}`")
        yield ev


def render_analyst_page() -> None:
    st.title("Analyst")
    st.caption(
        "Ask about a finished run: why the hit ratio dropped, which node was hot, "
        "what a chaos action did. Answers cite the run's own numbers and events."
    )
    runs = state.get_runs()
    _consume_prefill(runs)
    if not runs:
        _quick_run()
        return
    run_id = _pick_run(runs)
    run = runs[run_id]
    settings = llm_settings()
    factory = st.session_state.get(FACTORY)
    factory = factory if callable(factory) else None
    mode = _mode(settings, factory)
    history: list[dict[str, Any]] = st.session_state.setdefault(HISTORY, {}).setdefault(run_id, [])
    for i, msg in enumerate(history):
        render_message(msg, run, key=f"{run_id}_{i}")
    question = st.chat_input(
        "Ask about this run, e.g. why did the hit ratio drop at t=10 s?",
        key="analyst_input",
        max_chars=MAX_QUESTION_CHARS,
    )
    pending = st.session_state.pop(PENDING, None)
    question = question or pending
    if question:
        _answer(run_id, runs, str(question).strip()[:MAX_QUESTION_CHARS], history, mode, settings, factory)
        st.rerun()
    quota_msg = st.session_state.pop(QUOTA_MSG, None)
    if quota_msg:
        st.error(quota_msg, icon=":material/block:")
    asked = tuple(m["content"] for m in history if m["role"] == "user")
    rt = run_tools(run_id, runs)
    follow = suggestions(rt, compute_findings(run), asked)
    if follow:
        st.caption("Try asking")
        cols = st.columns(len(follow))
        for i, (col, q) in enumerate(zip(cols, follow, strict=True)):
            if col.button(plain(q, 160), key=f"analyst_suggest_{i}", width="stretch", wrap=True):
                st.session_state[PENDING] = q
                st.rerun()
    if history:
        c1, c2 = st.columns(2)
        c1.download_button(
            "Download chat (Markdown)",
            transcript(run_id, history),
            file_name=f"analyst-{run_id}.md",
            mime="text/markdown",
            key="analyst_download",
        )
        if c2.button("Clear this chat", key="analyst_clear"):
            st.session_state[HISTORY][run_id] = []
            st.rerun()
