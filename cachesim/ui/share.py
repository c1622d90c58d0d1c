"""The share link: the config lives in ``st.query_params``.

A link holds the base scenario and only the fields that differ from it
(``?scenario=node_failure&cluster.nodes=8``), so it stays short and readable, and
opening it restores exactly that config. A bad link shows an error naming the
parameter and falls back to the default scenario.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import streamlit as st
from pydantic import ValidationError

from ..config import ConfigError, SimConfig, format_validation_error
from . import config_state as cs
from .inputs import cap_params, short, trace_problem

SCENARIO_PARAM = "scenario"
APPLIED = "cfg.url_applied"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def encode(cfg: SimConfig, scenario: str) -> dict[str, str]:
    """Query parameters for ``cfg``: the scenario and the fields that differ from it."""
    base, cur = cs.base_config(scenario).flat(), cfg.flat()
    params = {SCENARIO_PARAM: scenario}
    params.update({k: _text(v) for k, v in cur.items() if base.get(k) != v})
    params.update({k: "" for k in base if k not in cur})  # an optional field cleared
    return params


def decode(params: Mapping[str, str]) -> tuple[SimConfig, str]:
    """The config a link describes; raises ConfigError or ValidationError."""
    params = dict(params)
    scenario = params.pop(SCENARIO_PARAM, cs.CUSTOM if params else cs.DEFAULT_SCENARIO)
    if scenario not in cs.scenario_names():
        raise ConfigError(
            f"scenario: unknown scenario {short(scenario, 60)!r}; choose one of {', '.join(cs.scenario_names())}"
        )
    problem = trace_problem(params.get("workload.trace"))  # before anything is parsed or opened
    if problem:
        raise ConfigError(problem)
    cfg = cs.base_config(scenario).with_overrides(params)
    problem = cs.app_problem(cfg)
    if problem:
        raise ConfigError(problem)
    return cfg, scenario


def link(params: Mapping[str, str]) -> str:
    """The app's URL with ``params`` (the page's own address when known)."""
    base = (st.context.url or "").split("?", 1)[0] or "http://localhost:8501/"
    return f"{base}?{urlencode(dict(params))}"


def apply_once() -> None:
    """On a session's first page, take the config from the URL when it has one."""
    if st.session_state.get(APPLIED):
        return
    st.session_state[APPLIED] = True
    params, cut = cap_params({k: st.query_params.get(k) for k in st.query_params.keys()})
    if not params:
        return
    note = f" Cut to fit: {'; '.join(cut)}." if cut else ""
    try:
        cfg, scenario = decode(params)
    except ValidationError as err:
        _fallback(format_validation_error(err), note)
    except ConfigError as err:
        _fallback(str(err), note)
    else:
        cs.replace(cfg, scenario, notice=("info", "Config loaded from the link." + note))


def _fallback(message: str, note: str = "") -> None:
    cs.replace(
        cs.base_config(cs.DEFAULT_SCENARIO),
        cs.DEFAULT_SCENARIO,
        notice=(
            "error",
            f"The link's config could not be used: {short(message, 400)}. Showing the "
            f"{cs.DEFAULT_SCENARIO} scenario instead.{note}",
        ),
    )


def sync(cfg: SimConfig | None, scenario: str) -> None:
    """Keep the address bar in step with a valid config."""
    if cfg is None:
        return
    params = encode(cfg, scenario)
    current = {k: st.query_params.get(k) for k in st.query_params.keys()}
    if current != params:
        st.query_params.from_dict(params)


def params_json(cfg: SimConfig, scenario: str) -> str:
    return json.dumps(encode(cfg, scenario), indent=2)
