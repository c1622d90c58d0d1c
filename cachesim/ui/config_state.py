"""The session's config draft: what the widgets show, validated by SimConfig.

The draft is a flat dict of dotted keys (``cfg.flat()``: ``"cluster.nodes": 4``,
``"chaos.events"`` as JSON) kept in ``st.session_state``, so it survives page changes
and may hold invalid values while the user is typing. Widgets on several pages edit
the same key (the sidebar's ``sb:cluster.nodes`` and Configure's ``cf:cluster.nodes``);
each widget is initialised from the draft when it has no state of its own, and a
change commits to the draft and drops the other widgets' state for that key, so
every page shows the same value. Replacing the whole config (a scenario, an import,
a share link) drops all widget state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import streamlit as st
from pydantic import ValidationError

from ..config import ConfigError, SimConfig, check_nesting, list_scenarios, load_scenario
from .inputs import short, trace_problem

VALUES = "cfg.values"
SCENARIO = "cfg.scenario"
LAST_VALID = "cfg.last_valid"
NOTICE = "cfg.notice"
CUSTOM = "custom"
DEFAULT_SCENARIO = "baseline"
#: Widget key prefixes: sidebar, Configure page.
PREFIXES = ("sb", "cf")
SECTIONS = ("workload", "cluster", "database", "network", "client", "chaos")


@dataclass(frozen=True)
class Check:
    """The draft validated: the config (None if invalid), errors by dotted key, and
    errors that belong to no single field."""

    config: SimConfig | None
    fields: dict[str, str] = field(default_factory=dict)
    general: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.config is not None

    def messages(self) -> list[str]:
        return [f"{k}: {v}" for k, v in self.fields.items()] + list(self.general)


@lru_cache(maxsize=32)
def base_config(scenario: str) -> SimConfig:
    """A scenario's config (immutable, so cached process-wide); ``custom`` is the defaults."""
    return SimConfig() if scenario == CUSTOM else load_scenario(scenario)


def scenario_names() -> list[str]:
    return [*list_scenarios(), CUSTOM]


def init() -> None:
    if VALUES not in st.session_state:
        replace(base_config(DEFAULT_SCENARIO), DEFAULT_SCENARIO)


def values() -> dict[str, Any]:
    init()
    return st.session_state[VALUES]


def scenario() -> str:
    init()
    return st.session_state[SCENARIO]


def replace(cfg: SimConfig, scenario_name: str, notice: tuple[str, str] | None = None) -> None:
    """Make ``cfg`` the draft (from a scenario, an import or a link); every widget
    re-reads it. Call from a callback, or rerun after."""
    st.session_state[VALUES] = cfg.flat()
    st.session_state[SCENARIO] = scenario_name if scenario_name in scenario_names() else CUSTOM
    st.session_state[LAST_VALID] = cfg
    st.session_state[NOTICE] = notice
    for key in [k for k in st.session_state if isinstance(k, str) and k.split(":", 1)[0] in PREFIXES]:
        del st.session_state[key]


def load(scenario_name: str) -> None:
    replace(base_config(scenario_name), scenario_name)


def set_value(key: str, value: Any, *, source: str | None = None) -> None:
    """Set one dotted key of the draft; widgets for it elsewhere re-read it."""
    values()[key] = value
    st.session_state[NOTICE] = None
    for prefix in PREFIXES:
        if prefix != source:
            st.session_state.pop(f"{prefix}:{key}", None)


def modified() -> bool:
    """Whether the draft differs from its scenario."""
    return values() != base_config(scenario()).flat()


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in flat.items():
        head, _, tail = key.partition(".")
        if not tail:
            data[head] = value
            continue
        if key == "chaos.events" and isinstance(value, str):
            check_nesting(value, "chaos.events")
            try:
                value = json.loads(value or "[]")
            except json.JSONDecodeError as exc:
                raise ConfigError(f"chaos.events: not a JSON list of events ({exc.msg})") from None
        node = data.setdefault(head, {})
        *inner, last = tail.split(".")  # a sub-section: cluster.leases.enabled
        for part in inner:
            node = node.setdefault(part, {})
        node[last] = value
    return data


def _message(err: dict[str, Any]) -> str:
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return "unknown field"
    if "input" in err and err["type"] != "missing" and not isinstance(err["input"], dict | list):
        return short(f"{msg} (got {err['input']!r})")
    return short(msg)


def _attribute(message: str, known: set[str]) -> tuple[str | None, str]:
    """Which field a model-level message is about, from its first word."""
    head = message.split(":", 1)[0].split(" ", 1)[0]
    if head.startswith("chaos.events."):  # chaos.events.0.target: ...
        parts = head.split(".")
        row = f"row {int(parts[2]) + 1}" if len(parts) > 2 and parts[2].isdigit() else ""
        rest = message.split(":", 1)[1].strip() if ":" in message else message
        return "chaos.events", f"{row} {'.'.join(parts[3:])}: {rest}".strip()
    return (head, message) if head in known else (None, message)


def app_problem(cfg: SimConfig) -> str | None:
    """What the app refuses in an otherwise valid config (a trace given as a server
    path), as one line naming the field; None if the app accepts it."""
    traces = st.session_state.get("traces")
    return trace_problem(cfg.workload.trace, list(traces) if isinstance(traces, dict) else None)


def validate(flat: dict[str, Any]) -> Check:
    """Validate a draft; never raises. A trace that names a path is refused before
    anything is parsed or opened."""
    problem = trace_problem(flat.get("workload.trace"))
    if problem:
        return Check(None, {"workload.trace": problem.removeprefix("workload.trace: ")})
    try:
        return Check(SimConfig.model_validate(unflatten(flat)))
    except ConfigError as exc:
        key, _, msg = short(exc).partition(": ")
        return Check(None, {key: msg})
    except ValidationError as err:
        fields: dict[str, str] = {}
        general: list[str] = []
        known = set(flat) | set(SimConfig.model_fields)
        for e in err.errors():
            loc = [str(p) for p in e["loc"]]
            if not loc:
                key, msg = _attribute(_message(e), known)
            elif loc[:2] == ["chaos", "events"] and len(loc) > 2:
                tail = ".".join(loc[3:])
                key, msg = "chaos.events", f"row {int(loc[2]) + 1}{' ' + tail if tail else ''}: {_message(e)}"
            else:
                key, msg = ".".join(loc[:2] if loc[0] in SECTIONS else loc[:1]), _message(e)
            if key is None:
                general.append(msg)
            else:
                fields[key] = f"{fields[key]}; {msg}" if key in fields else msg
        return Check(None, fields, tuple(general))


def check() -> Check:
    """The current draft validated (memoised on the draft's content)."""
    flat = values()
    sig = json.dumps(flat, sort_keys=True, default=str)
    memo = st.session_state.get("cfg.check")
    if memo is None or memo[0] != sig:
        memo = (sig, validate(flat))
        st.session_state["cfg.check"] = memo
        if memo[1].ok:
            st.session_state[LAST_VALID] = memo[1].config
    return memo[1]


def current() -> SimConfig | None:
    return check().config


def last_valid() -> SimConfig:
    init()
    return st.session_state[LAST_VALID]
