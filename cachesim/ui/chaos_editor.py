"""The chaos timeline editor: ``st.data_editor`` over the scheduled events.

The editor is given a base table made from the draft; its edits (Streamlit keeps them
as row deltas against that base) are applied in the ``on_change`` callback and
committed to the draft as ``chaos.events`` JSON, so validation and the share link see
them before the page reruns. The committed table then becomes the new base under a
new editor key, so no delta is ever applied twice, and a page change that drops the
editor's own state loses nothing.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from .. import charts, derived
from .. import events as vocab
from ..config import CHAOS_ACTIONS, ChaosEvent
from . import config_state as cs
from .text import plain

COLUMNS = ("at_s", "action", "target", "duration_s", "factor", "loss_rate")
BASE = "cf:chaos.base"
VERSION = "cf:chaos.version"
DEFAULTS = {k: ChaosEvent.model_fields[k].default for k in ("factor", "loss_rate")}


#: The cells each action uses (cachesim.events.PARAMETERS); the others are blank in the
#: table and left out of the event.
APPLIES: dict[str, tuple[str, ...]] = {k.value: cells for k, cells in vocab.PARAMETERS.items()}
_OPTIONAL = ("duration_s", "factor", "loss_rate")


def _applicable(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with the cells its action does not use blanked (an unknown action keeps them)."""
    uses = APPLIES.get(row.get("action"))  # type: ignore[arg-type]
    if uses is None:
        return row
    return {c: (None if c in _OPTIONAL and c not in uses else v) for c, v in row.items()}


def events_frame(events_json: str | None) -> pd.DataFrame:
    """The draft's events as the editor's table (one row per event); a cell the row's
    action does not use is blank (not another action's default)."""
    try:
        events = json.loads(events_json or "[]")
    except json.JSONDecodeError:
        events = []
    rows = [_applicable({c: e.get(c) for c in COLUMNS}) if isinstance(e, dict) else {} for e in events]
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    return df.astype(
        {"at_s": float, "duration_s": float, "factor": float, "loss_rate": float, "action": object, "target": object}
    )


def rows_to_events(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Editor rows -> event dicts for SimConfig (empty cells left out, blank rows dropped)."""
    out = []
    for row in rows:
        event = {c: derived.num(row.get(c)) for c in COLUMNS}
        if all(v in (None, "") for v in event.values()):
            continue
        event["target"] = event.get("target") or ""
        event = _applicable(event)
        for key, default in DEFAULTS.items():
            if event[key] is None and key in APPLIES.get(event.get("action"), (key,)):  # type: ignore[arg-type]
                event[key] = default
        out.append({k: v for k, v in event.items() if v is not None})
    return out


def apply_edits(base: pd.DataFrame, edits: dict[str, Any]) -> list[dict[str, Any]]:
    """Apply a data_editor state (edited_rows, added_rows, deleted_rows) to ``base``."""
    rows = base.to_dict("records")
    for idx, changes in (edits.get("edited_rows") or {}).items():
        if int(idx) < len(rows):
            rows[int(idx)].update(changes)
    deleted = {int(i) for i in edits.get("deleted_rows") or []}
    rows = [r for i, r in enumerate(rows) if i not in deleted]
    rows += [dict(r) for r in edits.get("added_rows") or []]
    return rows


def schedule_spans(schedule: pd.DataFrame, duration_s: float) -> pd.DataFrame:
    """Each scheduled event's span: ``duration_s`` when given; else until the next event
    that undoes it (cachesim.events.undoes: a restart of its node after a kill, a heal of
    its target or of everything after a slow or a partition, the next loss after a loss),
    else to the end of the run. Restarts and heals are instants. An empty target is shown
    as what it acts on: "all" for a heal, "network" for a loss."""
    df = schedule.loc[:, ["at_s", "action", "target", "duration_s"]].copy()
    target = df["target"].fillna("").astype(str)
    kinds = [vocab.target_kind_of(str(a), t) for a, t in zip(df["action"], target, strict=True)]
    df["target"] = [vocab.scope(t, k) for t, k in zip(target, kinds, strict=True)]
    df["at_s"] = pd.to_numeric(df["at_s"], errors="coerce").fillna(0.0)
    dur = pd.to_numeric(df["duration_s"], errors="coerce").to_numpy()
    at = df["at_s"].to_numpy(dtype=float)
    # the times of each (action, target), sorted once: a row's undoing event is then a
    # binary search per candidate list (O(n log n), not a scan of the table per row)
    times = {
        key: np.sort(group.to_numpy(dtype=float)) for key, group in df.groupby(["action", "target"], sort=False)["at_s"]
    }
    ends = np.empty(len(df))
    for i, (action, tg, kind) in enumerate(zip(df["action"], df["target"], kinds, strict=True)):
        if not np.isnan(dur[i]):
            ends[i] = at[i] + dur[i]
            continue
        if action not in vocab.UNDONE_BY:
            ends[i] = at[i]
            continue
        end = duration_s
        for key in vocab.undo_keys(action, tg, kind):
            ts = times.get((key[0].value, key[1]))
            if ts is not None:
                k = np.searchsorted(ts, at[i], side="right")
                if k < len(ts):
                    end = min(end, ts[k])
        ends[i] = end
    df["end_s"] = np.maximum(np.minimum(ends, duration_s), df["at_s"] + duration_s / 150)
    return df


def _editor_key() -> str:
    return f"cf:chaos.editor.{st.session_state.get(VERSION, 0)}"


def _commit() -> None:
    base = st.session_state.get(BASE)
    if base is None:
        return
    events = rows_to_events(apply_edits(base, st.session_state.get(_editor_key()) or {}))
    text = json.dumps(events)
    cs.set_value("chaos.events", text, source="cf")
    st.session_state[BASE] = events_frame(text)
    st.session_state[VERSION] = st.session_state.get(VERSION, 0) + 1


def render_chaos_editor(duration_s: float, nodes: int) -> None:
    if BASE not in st.session_state:
        st.session_state[BASE] = events_frame(cs.values().get("chaos.events"))
    targets = ", ".join([f"node-{i}" for i in range(1, min(nodes, 3) + 1)]) + (" …" if nodes > 3 else "")
    st.data_editor(
        st.session_state[BASE],
        key=_editor_key(),
        num_rows="dynamic",
        on_change=_commit,
        hide_index=True,
        width="stretch",
        column_config={
            "at_s": st.column_config.NumberColumn(
                "at (s)", min_value=0.0, step=0.5, required=True, help=ChaosEvent.model_fields["at_s"].description
            ),
            "action": st.column_config.SelectboxColumn(
                "action", options=list(CHAOS_ACTIONS), required=True, help=" | ".join(CHAOS_ACTIONS)
            ),
            "target": st.column_config.TextColumn(
                "target", help=f"{ChaosEvent.model_fields['target'].description} This cluster: {targets}"
            ),
            "duration_s": st.column_config.NumberColumn(
                "duration (s)", min_value=0.0, step=0.5, help=ChaosEvent.model_fields["duration_s"].description
            ),
            "factor": st.column_config.NumberColumn(
                "slow factor", min_value=1.0, step=1.0, help=ChaosEvent.model_fields["factor"].description
            ),
            "loss_rate": st.column_config.NumberColumn(
                "loss rate",
                min_value=0.0,
                max_value=0.99,
                step=0.05,
                help=ChaosEvent.model_fields["loss_rate"].description,
            ),
        },
    )
    message = cs.check().fields.get("chaos.events")
    if message:
        st.error(plain(f"chaos.events: {message}", 600), icon=":material/error:")
    schedule = events_frame(cs.values().get("chaos.events"))
    valid = valid_rows(schedule, nodes)
    if not valid.empty:
        st.altair_chart(charts.chaos_timeline_chart(schedule_spans(valid, duration_s), duration_s), width="stretch")
    elif schedule.empty:
        st.caption("No scheduled faults. Add a row: e.g. at 10 s, kill, node-2, for 5 s.")
    skipped = len(schedule) - len(valid)
    if skipped:
        st.caption(
            f"{skipped} row{'s' if skipped != 1 else ''} with an invalid value "
            f"{'are' if skipped != 1 else 'is'} not drawn until fixed."
        )


def valid_rows(schedule: pd.DataFrame, nodes: int) -> pd.DataFrame:
    """The rows that make a valid event for a cluster of ``nodes``: the timeline draws
    only these (an invalid row is not a fault that will happen)."""
    names = {f"node-{i}" for i in range(1, nodes + 1)}
    keep = []
    for row in schedule.to_dict("records"):
        event = {k: v for k, v in ((c, derived.num(row.get(c))) for c in COLUMNS) if v is not None}
        try:
            ev = ChaosEvent.model_validate({**event, "target": event.get("target") or ""})
        except (ValueError, TypeError):
            keep.append(False)
            continue
        targets = ev.targets()
        ok = all(
            t in names
            or (t == vocab.DATABASE and ev.action in vocab.DATABASE_ACTIONS)
            or ev.action in vocab.NETWORK_ACTIONS
            for t in targets
        )
        keep.append(ok and (bool(targets) or ev.action not in vocab.NEEDS_TARGET))
    return schedule[pd.Series(keep, index=schedule.index, dtype=bool)] if len(schedule) else schedule
