"""What the browser may send: traces by name only, query parameters of bounded length.

No Streamlit here, so the checks are plain functions tested on their own.

A trace in the app is ``sample:NAME`` (a built-in sample trace) or ``upload:NAME`` (a
trace the visitor uploaded on the Workload page, kept in the session). Anything else
is a server path and is refused *before anything is opened*; the message never
repeats the value (it may be a path whose existence it would reveal) nor any content.
The command line and the Python API keep paths.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

TRACE_PREFIXES = ("sample:", "upload:")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\- ]{0,79}")

#: Longest value of a query parameter, by key (others: ``default``).
QUERY_CAPS = {"description": 2000, "chaos.events": 20_000, "name": 80}
MAX_QUERY_PARAMS = 80
MAX_KEY_CHARS = 64


def trace_problem(value: object, uploads: Collection[str] | None = None) -> str | None:
    """None if ``value`` (``workload.trace``) is allowed in the app, else one line."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        return "workload.trace: expected a trace name (sample:NAME or upload:NAME)"
    text = value.strip()
    prefix = next((p for p in TRACE_PREFIXES if text.startswith(p)), None)
    name = text[len(prefix) :] if prefix else ""
    if prefix is None or not _NAME.fullmatch(name) or ".." in name:
        return (
            "workload.trace: in the app a trace is a built-in sample (sample:NAME) or a trace uploaded on "
            "the Workload page (upload:NAME); server paths are not accepted"
        )
    if prefix == "upload:" and uploads is not None and name not in uploads:
        return "workload.trace: no uploaded trace of that name in this session; upload it on the Workload page"
    return None


def cap_params(params: Mapping[str, str], default: int = 500) -> tuple[dict[str, str], list[str]]:
    """Query parameters with every key and value cut to its cap, and at most
    MAX_QUERY_PARAMS of them; also what was cut, one short phrase each."""
    out: dict[str, str] = {}
    cut: list[str] = []
    for i, (key, value) in enumerate(params.items()):
        if i >= MAX_QUERY_PARAMS:
            cut.append(f"{len(params) - MAX_QUERY_PARAMS} parameters beyond the first {MAX_QUERY_PARAMS}")
            break
        key = str(key)
        value = "" if value is None else str(value)
        if len(key) > MAX_KEY_CHARS:
            cut.append(f"a parameter name of {len(key):,} characters (dropped)")
            continue
        cap = QUERY_CAPS.get(key, default)
        if len(value) > cap:
            cut.append(f"{key} ({len(value):,} characters, cut to {cap:,})")
            value = value[:cap]
        out[key] = value
    return out, cut


def short(text: object, limit: int = 300) -> str:
    """``text`` on one line, at most ``limit`` characters (for messages that echo input)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
