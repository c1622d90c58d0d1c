"""One widget per SimConfig field, made from the field's type and description.

``field_widget("sb", "cluster.nodes")`` draws the widget for a dotted key, bound to
the session's draft (see ``config_state``): its value is set from the draft before it
is drawn, and a change commits to the draft in the ``on_change`` callback, with the field's description as help and
its validation message right under it. Numbers have no min/max on the widget: the
config's own validation explains the allowed range instead of the widget silently
clamping.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

import streamlit as st
from pydantic import BaseModel

from ..config import REGISTRY_FIELDS, SimConfig, allowed_values
from . import config_state as cs
from .text import plain

#: Short labels for the fields people meet first; others are derived from the name.
LABELS = {
    "seed": "Seed",
    "duration_s": "Duration (simulated s)",
    "warmup_s": "Warm-up (s)",
    "snapshot_interval_s": "Snapshot interval (s)",
    "name": "Run name",
    "description": "Description",
    "workload.rate_rps": "Rate (req/s)",
    "workload.zipf_alpha": "Zipf alpha",
    "workload.write_ratio": "Write ratio",
    "workload.keys": "Keys",
    "workload.clients": "Clients",
    "cluster.nodes": "Nodes",
    "cluster.capacity": "Capacity (items/node)",
    "cluster.eviction": "Eviction",
    "cluster.routing": "Routing",
    "network.latency_ms": "Network latency (ms)",
    "network.loss_rate": "Network loss rate",
    "cluster.coalesce_misses": "Coalesce concurrent misses",
    "cluster.ttl_s": "TTL (s)",
    "cluster.leases.enabled": "Leases",
    "cluster.leases.interval_s": "Lease interval (s)",
    "cluster.leases.backoff_s": "Lease back-off (s)",
    "cluster.gutter_nodes": "Gutter nodes",
    "cluster.gutter_ttl_s": "Gutter TTL (s)",
    "cluster.capacity_bytes": "Capacity (bytes/node)",
    "workload.size": "Object sizes",
    "workload.size_bytes": "Object size (bytes)",
    "workload.size_sigma": "Size sigma (log)",
    "workload.trace_timing": "Trace timing",
    "workload.trace_speed": "Trace speed (x)",
    "network.bandwidth_mbps": "Bandwidth (Mbit/s)",
}
#: Keys of which only one may be non-zero: a widget that sets one zeroes the other.
ALTERNATIVES = {"cluster.capacity_bytes": "cluster.capacity", "cluster.capacity": "cluster.capacity_bytes"}
STEPS = {
    "workload.rate_rps": 100.0,
    "workload.zipf_alpha": 0.05,
    "workload.write_ratio": 0.01,
    "workload.hotspot_fraction": 0.01,
    "workload.hotspot_share": 0.05,
    "network.loss_rate": 0.01,
    "network.latency_ms": 0.1,
    "network.jitter_ms": 0.1,
    "duration_s": 5.0,
    "warmup_s": 1.0,
    "snapshot_interval_s": 0.05,
    "cluster.service_time_ms": 0.1,
    "database.service_time_ms": 0.5,
    "client.timeout_ms": 10.0,
    "cluster.ttl_s": 1.0,
    "cluster.health_check_interval_s": 0.1,
    "cluster.leases.interval_s": 1.0,
    "cluster.leases.backoff_s": 0.005,
    "cluster.gutter_ttl_s": 1.0,
    "workload.trace_speed": 0.5,
    "workload.size_sigma": 0.1,
    "network.bandwidth_mbps": 100.0,
}
UNITS = (("_rps", "req/s"), ("_ms", "ms"), ("_s", "s"), ("_per_min", "per min"))
#: Integer fields typed as text: their range (a 64-bit seed) is beyond what a browser's
#: number field holds exactly (2**53), and it would silently ignore a larger value.
TEXT_INTS = ("seed",)


@dataclass(frozen=True)
class FieldSpec:
    key: str
    kind: str  # int | float | bool | choice | text | optional_text
    label: str
    help: str
    options: tuple[str, ...] = ()


def _label(key: str) -> str:
    if key in LABELS:
        return LABELS[key]
    name = key.rsplit(".", 1)[-1]
    for suffix, unit in UNITS:
        if name.endswith(suffix):
            return f"{name.removesuffix(suffix).replace('_', ' ').capitalize()} ({unit})"
    return name.replace("_", " ").capitalize()


def spec_of(key: str) -> FieldSpec:
    """The widget kind, label, help and options of a dotted config key (a policy's
    options are the registry's names now: one registered later is offered too)."""
    spec = _spec_of(key)
    if key in REGISTRY_FIELDS:
        return FieldSpec(key, "choice", spec.label, spec.help, allowed_values(key))
    return spec


@cache
def _spec_of(key: str) -> FieldSpec:
    model: type[BaseModel] = SimConfig
    parts = key.split(".")
    for part in parts[:-1]:
        model = model.model_fields[part].annotation  # type: ignore[assignment]
    info = model.model_fields[parts[-1]]
    ann, help_text = info.annotation, info.description or ""
    args = typing.get_args(ann)
    if typing.get_origin(ann) is typing.Literal:
        return FieldSpec(key, "choice", _label(key), help_text, tuple(args))
    if ann is bool:
        return FieldSpec(key, "bool", _label(key), help_text)
    if ann is int:
        return FieldSpec(key, "int", _label(key), help_text)
    if ann is float:
        return FieldSpec(key, "float", _label(key), help_text)
    if isinstance(ann, types.UnionType) and str in args:
        return FieldSpec(key, "optional_text", _label(key), help_text)
    return FieldSpec(key, "text", _label(key), help_text)


def section_keys(section: str | None) -> list[str]:
    """Dotted keys of a section's scalar fields (None: the top-level fields)."""
    if section is None:
        return [
            k
            for k, f in SimConfig.model_fields.items()
            if not (isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel))
        ]
    model = SimConfig.model_fields[section].annotation
    out = []
    for k, f in model.model_fields.items():
        if section == "chaos" and k == "events":
            continue
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel):  # a sub-section
            out += [f"{section}.{k}.{sub}" for sub in f.annotation.model_fields]
        else:
            out.append(f"{section}.{k}")
    return out


def _to_widget(spec: FieldSpec, value: Any) -> Any:
    if spec.kind == "int" and spec.key in TEXT_INTS:
        return "" if value is None else str(value)
    if spec.kind == "int":
        # a float widget: an int one would truncate "2.7" to 2 in the browser, silently
        try:
            v = float(value)
            return v if math.isfinite(v) else 0.0
        except (TypeError, ValueError):
            return 0.0
    if spec.kind == "float":
        try:
            v = float(value)
            return v if math.isfinite(v) else 0.0
        except (TypeError, ValueError):
            return 0.0
    if spec.kind == "bool":
        return bool(value)
    if spec.kind == "choice":
        return value if value in spec.options else spec.options[0]
    return "" if value is None else str(value)


def _commit(prefix: str, key: str) -> None:
    wkey = f"{prefix}:{key}"
    if wkey not in st.session_state:  # the widget's state was dropped (a rerun cut short): nothing to commit
        return
    value = st.session_state[wkey]
    if spec_of(key).kind == "optional_text" and not str(value).strip():
        value = None
    if spec_of(key).kind == "int":
        value = int_value(value)
    cs.set_value(key, value, source=prefix)
    other = ALTERNATIVES.get(key)
    if other is not None and value and cs.values().get(other):
        cs.set_value(other, 0)  # exactly one capacity binds


def int_value(value: Any) -> Any:
    """An integer field's widget value for the draft: a whole number as an int, anything
    else as it is (2.7, "1e99", "x"), so validation refuses it with a message naming
    the field rather than the widget truncating or dropping it."""
    if isinstance(value, str):
        text = value.strip().replace("_", "").replace(",", "")
        try:
            return int(text)
        except ValueError:
            return value.strip()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def field_widget(
    prefix: str, key: str, *, container: Any = None, label: str | None = None, errors: dict[str, str] | None = None
) -> None:
    """Draw the widget for ``key`` bound to the draft, its error (if any) under it."""
    box = container if container is not None else st
    spec = spec_of(key)
    wkey = f"{prefix}:{key}"
    # Always from the draft: a page change gives the widget a new identity, and a key
    # left in session_state from the last page would otherwise not reach it.
    st.session_state[wkey] = _to_widget(spec, cs.values().get(key))
    common = {"key": wkey, "help": spec.help or None, "on_change": _commit, "args": (prefix, key)}
    text = label or spec.label
    if spec.kind == "int" and key in TEXT_INTS:
        box.text_input(text, **common)
    elif spec.kind == "int":
        box.number_input(text, step=1.0, format="%g", **common)
    elif spec.kind == "float":
        box.number_input(text, step=STEPS.get(key, 0.1), format="%g", **common)
    elif spec.kind == "bool":
        box.toggle(text, **common)
    elif spec.kind == "choice":
        box.selectbox(text, spec.options, **common)
    elif key == "description":
        box.text_area(text, height=90, **common)
    else:
        box.text_input(text, placeholder="(none)" if spec.kind == "optional_text" else None, **common)
    message = (errors if errors is not None else cs.check().fields).get(key)
    slot = box.empty()  # always drawn, so an error that comes or goes never shifts the widgets below
    if message:
        slot.error(plain(message if message.startswith(key) else f"{key}: {message}", 600), icon=":material/error:")
