"""The run's event vocabulary: every kind of event, the group it belongs to, what
undoes it, what it targets, and the event record itself.

A kind is a ``str`` enum: its values are the strings of the public contract (the
event log, ``RunResult.events()``, archives, the config's ``chaos.events`` actions)
and a member compares equal to its string. Everything that lists kinds (the config's
allowed chaos actions, chart colours, the live log's styles, the narration, the
analyst's incidents, the chaos editor's timeline) reads them from here, so a kind is
added in one place, and the tests check that every consumer covers every kind.

An event names what it acts on by ``target`` (endpoint names, comma-separated) and
says what kind of thing that is by ``target_kind``: endpoints (cache nodes, the
database), the whole network (``loss``) or everything (a ``heal`` without a target).
Nothing downstream parses a message or guesses from a target string;
:func:`target_kind_of` derives the kind once, for frames saved before the column
existed and for the config's schedule rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd


class Group(StrEnum):
    """What produced an event, and so what it means."""

    CHAOS = "chaos"  # a chaos action: what the config's chaos.events schedule
    DETECTION = "detection"  # the balancer's verdict on a node
    ANOMALY = "anomaly"  # the observer's hit-ratio alert and its end
    RUN = "run"  # the engine's start and finish markers


class EventKind(StrEnum):
    KILL = "kill"
    RESTART = "restart"
    SLOW = "slow"
    HEAL = "heal"
    PARTITION = "partition"
    LOSS = "loss"
    NODE_DOWN_DETECTED = "node_down_detected"
    NODE_UP_DETECTED = "node_up_detected"
    ANOMALY = "anomaly"
    RECOVERED = "recovered"
    RUN_STARTED = "run_started"
    RUN_FINISHED = "run_finished"

    @property
    def group(self) -> Group:
        return GROUPS[self]

    @property
    def source(self) -> str:
        """The agent that logs this kind (the events frame's ``source`` column)."""
        return SOURCES[self.group]

    @property
    def undone_by(self) -> tuple[EventKind, ...]:
        """The kinds that end a fault of this kind (on its target: see :func:`undoes`)."""
        return UNDONE_BY.get(self, ())


class TargetKind(StrEnum):
    """What an event's ``target`` names."""

    NONE = ""  # run markers and the observer's alerts act on nothing in particular
    ENDPOINTS = "endpoints"  # cache nodes and/or the database, by name, comma-separated
    NETWORK = "network"  # every link: loss (the target is written "network")
    ALL = "all"  # everything: a heal without a target (the target is written "all")


K = EventKind
GROUPS: dict[EventKind, Group] = {
    K.KILL: Group.CHAOS,
    K.RESTART: Group.CHAOS,
    K.SLOW: Group.CHAOS,
    K.HEAL: Group.CHAOS,
    K.PARTITION: Group.CHAOS,
    K.LOSS: Group.CHAOS,
    K.NODE_DOWN_DETECTED: Group.DETECTION,
    K.NODE_UP_DETECTED: Group.DETECTION,
    K.ANOMALY: Group.ANOMALY,
    K.RECOVERED: Group.ANOMALY,
    K.RUN_STARTED: Group.RUN,
    K.RUN_FINISHED: Group.RUN,
}
SOURCES: dict[Group, str] = {
    Group.CHAOS: "chaos",
    Group.DETECTION: "balancer",
    Group.ANOMALY: "observer",
    Group.RUN: "engine",
}


def kinds(*groups: Group) -> tuple[EventKind, ...]:
    """The kinds of ``groups``, in the enum's order."""
    return tuple(k for k in EventKind if k.group in groups)


#: The actions a config's chaos.events may schedule (each is also the kind it logs).
CHAOS_ACTIONS = kinds(Group.CHAOS)
#: The balancer's verdicts.
DETECTION_KINDS = kinds(Group.DETECTION)
#: What the system noticed (drawn as dashed rules; the chaos actions as solid ones).
NOTICED_KINDS = kinds(Group.DETECTION, Group.ANOMALY)
#: Kinds drawn as rules on the charts, narrated, and offered to the analyst.
MARKER_KINDS = kinds(Group.CHAOS, Group.DETECTION, Group.ANOMALY)
#: Chaos actions that start an incident: all but heal (which only ends one). A restart
#: starts one: the node comes back cold.
FAULT_KINDS = tuple(k for k in CHAOS_ACTIONS if k is not K.HEAL)
#: Where the run pauses with "pause at events": chaos actions and the balancer's
#: verdicts (not the observer's alerts, which come and go often).
PAUSE_KINDS = kinds(Group.CHAOS, Group.DETECTION)
#: What ends a fault: the next of these on the same target (or on everything; a
#: network fault only by another on the network). A later loss replaces the loss rate.
UNDONE_BY: dict[EventKind, tuple[EventKind, ...]] = {
    K.KILL: (K.RESTART,),
    K.SLOW: (K.HEAL,),
    K.PARTITION: (K.HEAL,),
    K.LOSS: (K.LOSS, K.HEAL),
}

#: A short label per kind (the marker legend, the live log).
LABELS: dict[EventKind, str] = {k: k.value for k in EventKind} | {
    K.NODE_DOWN_DETECTED: "detected down",
    K.NODE_UP_DETECTED: "detected up",
    K.RUN_STARTED: "started",
    K.RUN_FINISHED: "finished",
}
#: What chaos did, as a verb ("chaos killed node-2"; a loss has no endpoint: "... the network").
VERBS: dict[EventKind, str] = {
    K.KILL: "killed",
    K.RESTART: "restarted",
    K.SLOW: "slowed",
    K.HEAL: "healed",
    K.PARTITION: "partitioned",
    K.LOSS: "raised packet loss on",
}

#: The name of the database as a partition's endpoint.
DATABASE = "database"

# -- the config's chaos actions ---------------------------------------------------------

#: The ChaosEvent fields each action uses (the others do not apply to it).
PARAMETERS: dict[EventKind, tuple[str, ...]] = {
    K.KILL: ("duration_s",),
    K.RESTART: (),
    K.SLOW: ("duration_s", "factor"),
    K.HEAL: (),
    K.PARTITION: ("duration_s",),
    K.LOSS: ("duration_s", "loss_rate"),
}
#: Actions that must name a target (node-1, ...); heal without one heals everything,
#: loss acts on the whole network.
NEEDS_TARGET = (K.KILL, K.RESTART, K.SLOW, K.PARTITION)
#: Actions whose target may name the database as well as cache nodes.
DATABASE_ACTIONS = (K.PARTITION, K.HEAL)
#: Actions on the whole network: a target given to them is ignored.
NETWORK_ACTIONS = (K.LOSS,)


def target_kind_of(kind: str, target: str) -> TargetKind:
    """What ``target`` names for an event of ``kind``: the one place that knows the
    written targets "network" and "all" (and that a schedule's empty heal target is
    everything and a loss acts on the network)."""
    target = (target or "").strip()
    if kind in NETWORK_ACTIONS or (kind == K.HEAL and target == TargetKind.NETWORK):
        return TargetKind.NETWORK
    if kind == K.HEAL and target in ("", TargetKind.ALL):
        return TargetKind.ALL
    return TargetKind.ENDPOINTS if target else TargetKind.NONE


def endpoints(target: str, target_kind: str) -> list[str]:
    """The endpoints an event names (none when it acts on the network, on everything,
    or on nothing in particular)."""
    if target_kind != TargetKind.ENDPOINTS:
        return []
    return [t.strip() for t in str(target).split(",") if t.strip()]


def scope(target: str, target_kind: str) -> str:
    """The key under which faults and what undoes them meet: the target itself, or the
    target kind for the network and everything."""
    return str(target_kind) if target_kind in (TargetKind.NETWORK, TargetKind.ALL) else str(target)


def undo_keys(kind: str, target: str, target_kind: str) -> list[tuple[EventKind, str]]:
    """The (kind, :func:`scope`) pairs of the events that end this fault: e.g. a kill of
    node-2 ends at a restart of node-2; a slowdown at a heal of it or of everything; a
    loss at the next loss or heal on the network."""
    undo = UNDONE_BY.get(kind, ())  # type: ignore[call-overload]
    if target_kind == TargetKind.NETWORK:
        return [(u, TargetKind.NETWORK.value) for u in undo]
    return [(u, s) for u in undo for s in dict.fromkeys((str(target), TargetKind.ALL.value))]


def undoes(fault: Any, later: Any) -> bool:
    """Whether event ``later`` ends event ``fault`` (records or rows with kind, target
    and target_kind)."""
    key = (later.kind, scope(later.target, later.target_kind))
    return key in undo_keys(fault.kind, fault.target, fault.target_kind)


# -- the record -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened: a chaos action, a detection, an anomaly, a run marker.

    ``target_kind`` says what ``target`` names; ``ends_at`` is when the action is
    scheduled to be undone (a kill's restart, the end of a slowdown, partition or loss
    given a duration), None when it lasts until a later event undoes it or is an instant."""

    t: float
    kind: EventKind
    source: str
    message: str
    target: str = ""
    target_kind: TargetKind = TargetKind.NONE  # NONE with a target: derived from kind and target
    ends_at: float | None = None

    def __post_init__(self) -> None:
        if self.target and not self.target_kind:
            object.__setattr__(self, "target_kind", target_kind_of(self.kind, self.target))

    @property
    def group(self) -> Group:
        return EventKind(self.kind).group

    def endpoints(self) -> list[str]:
        return endpoints(self.target, self.target_kind)


def fields_of(ev: Any) -> tuple[str, str, str]:
    """(kind, target, target_kind) of an event record or a frame row (a row of a frame
    without the target_kind column gets it derived)."""
    kind, target = str(ev.kind), str(getattr(ev, "target", "") or "")
    tk = getattr(ev, "target_kind", None)
    return kind, target, str(tk) if isinstance(tk, str) and (tk or not target) else target_kind_of(kind, target).value


#: The columns of an events frame (``RunResult.events()``): the first five are the
#: original contract, the last two this module's fields (NaN ``ends_at``: no end known).
COLUMNS = ("t", "kind", "source", "target", "message", "target_kind", "ends_at")


def frame(events: Iterable[Event]) -> pd.DataFrame:
    """Events as a frame with :data:`COLUMNS` (kinds as plain strings)."""
    rows = [
        (
            e.t,
            str(e.kind),
            e.source,
            e.target,
            e.message,
            str(e.target_kind),
            np.nan if e.ends_at is None else e.ends_at,
        )
        for e in events
    ]
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df["ends_at"] = df["ends_at"].astype(float)
    return df


def complete(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with :data:`COLUMNS`: a frame saved or built before ``target_kind`` and
    ``ends_at`` existed gets them (derived from kind and target; no end known). Also
    types ``ends_at`` as float after a CSV read that kept empty cells as text."""
    if "target_kind" in df.columns and "ends_at" in df.columns and df["ends_at"].dtype.kind == "f":
        return df
    df = df.copy()
    if "target_kind" not in df.columns:
        kind = df["kind"] if "kind" in df.columns else pd.Series("", index=df.index)
        target = df["target"] if "target" in df.columns else pd.Series("", index=df.index)
        df["target_kind"] = [target_kind_of(str(k), str(t)).value for k, t in zip(kind, target.fillna(""), strict=True)]
    if "ends_at" not in df.columns:
        df["ends_at"] = np.nan
    df["ends_at"] = pd.to_numeric(df["ends_at"], errors="coerce").astype(float)
    return df
