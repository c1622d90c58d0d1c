"""Narration: what a chaos action or a detection means, in one or two sentences.

``narrate(kind, target, t, config)`` says what happened and what it will do next
("node-2 killed at t=10.0 s. Until the balancer notices, its requests time out; then
its keys move to node-3 and node-4, which do not have them cached, so the hit ratio
dips while they warm up."). The live page's caption, its log and the Analysis page's
marker tooltips all call it, so the same words appear everywhere.

Engine-free: it reads the config (timeouts, health checks, the chaos schedule) and,
for consistent hashing, the ring itself (:class:`~cachesim.policies.routing.ConsistentHash`
points, built from names alone) to name the nodes that inherit a lost node's keys.
No run is needed and nothing is simulated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .config import ChaosEvent, SimConfig
from .events import (
    CHAOS_ACTIONS,
    DATABASE,
    MARKER_KINDS,
    NOTICED_KINDS,
    TargetKind,
    endpoints,
    fields_of,
    target_kind_of,
)
from .events import EventKind as K
from .policies.routing import hash64

#: Event kinds that get a narration (chaos actions, then what the system noticed).
CHAOS_KINDS = CHAOS_ACTIONS
DETECTION_KINDS = NOTICED_KINDS
NARRATED_KINDS = MARKER_KINDS
#: Heirs named in a sentence; more are summed up as "and N more".
MAX_HEIRS = 3


@dataclass(frozen=True)
class Heir:
    """A node that takes over part of a lost node's keys (``share``: of the lost keys)."""

    name: str
    share: float


def node_names(cfg: SimConfig) -> list[str]:
    return [f"node-{i}" for i in range(1, cfg.cluster.nodes + 1)]


@lru_cache(maxsize=64)
def _ring(names: tuple[str, ...], virtual_nodes: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The consistent-hash ring's (hashes, owners), sorted, as the router builds it."""
    points = sorted((hash64(f"{name}#{v}"), idx) for idx, name in enumerate(names) for v in range(virtual_nodes))
    return tuple(p[0] for p in points), tuple(p[1] for p in points)


def heirs(cfg: SimConfig, lost: str, down: Iterable[str] = ()) -> list[Heir]:
    """The nodes that inherit ``lost``'s keys when it leaves the consistent-hash ring
    (``down``: nodes already out), with the share of its key space each takes, largest
    first. Each of ``lost``'s arcs goes to the next live point clockwise. Empty for
    other routings (no key has an owner there) or an unknown node."""
    names = tuple(node_names(cfg))
    if cfg.cluster.routing != "consistent_hash" or lost not in names:
        return []
    hashes, owners = _ring(names, cfg.cluster.virtual_nodes)
    gone = {names.index(lost)} | {names.index(d) for d in down if d in names}
    n, span = len(hashes), float(2**64)
    shares: dict[int, float] = {}
    for i in range(n):
        if names[owners[i]] != lost:
            continue
        arc = (hashes[i] - hashes[i - 1]) % (2**64) or span  # the keys this point owned
        for step in range(1, n):
            heir = owners[(i + step) % n]
            if heir not in gone:
                shares[heir] = shares.get(heir, 0.0) + arc
                break
    total = sum(shares.values())
    if not total:
        return []
    out = [Heir(names[k], v / total) for k, v in shares.items()]
    return sorted(out, key=lambda h: (-h.share, names.index(h.name)))


def _and(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _heir_phrase(hs: list[Heir]) -> str:
    shown = [f"{h.name} ({h.share:.0%})" for h in hs[:MAX_HEIRS]]
    if len(hs) > MAX_HEIRS:
        shown.append(f"{len(hs) - MAX_HEIRS} more")
    return _and(shown)


def scheduled(cfg: SimConfig, kind: str, target: str, t: float) -> ChaosEvent | None:
    """The chaos schedule's entry behind an event (same action, a target it names, at t)."""
    for ev in cfg.chaos.events:
        if (
            ev.action == kind
            and math.isclose(ev.at_s, t, abs_tol=1e-6)
            and (not target or target == ev.target or target in ev.targets())
        ):
            return ev
    return None


def _s(x: float) -> str:
    return f"{x:.1f} s"


def _detect_phrase(cfg: SimConfig) -> str:
    return f"the balancer's health checks (every {cfg.cluster.health_check_interval_s:g} s)"


def _timeout_phrase(cfg: SimConfig) -> str:
    c = cfg.client
    retry = f", then retry {c.retries}×" if c.retries else ""
    return f"time out (after {c.timeout_ms:g} ms{retry})"


def _moves(cfg: SimConfig, target: str, down: Iterable[str]) -> str:
    """What happens to a lost node's traffic once the balancer routes around it."""
    hs = heirs(cfg, target, down)
    if hs:
        who = _heir_phrase(hs)
        verb = "does" if len(hs) == 1 else "do"
        return f"its keys move to {who}, which {verb} not have them cached, so the hit ratio dips while they warm up"
    if cfg.cluster.nodes <= 1:
        return "no node is left to serve, so every request fails until it is back"
    return (
        "its share of the traffic spreads over the other nodes (with this routing every node caches "
        "any key, so the hit ratio barely moves; the others carry more load)"
    )


def narrate(
    kind: str,
    target: str,
    t: float,
    cfg: SimConfig,
    *,
    message: str = "",
    down: Iterable[str] = (),
    target_kind: str | None = None,
) -> str:
    """What an event of ``kind`` on ``target`` at ``t`` means and what it will do next.
    ``down``: nodes already out at that time (they inherit nothing). ``message``: the
    event's own line, used for the observer's anomalies (which carry the numbers).
    ``target_kind`` (cachesim.events.TargetKind): what ``target`` names; derived from
    kind and target when not given."""
    scope = target_kind_of(kind, target) if target_kind is None else TargetKind(target_kind)
    who = target if scope == TargetKind.ENDPOINTS else "the network"
    at = f"t={t:.1f} s"
    down = [d for d in down if d != target]
    if kind == K.KILL:
        ev = scheduled(cfg, kind, target, t)
        back = f" It restarts at t={t + ev.duration_s:.1f} s, empty." if ev and ev.duration_s else ""
        return (
            f"{who} killed at {at}; its cache is lost. Until {_detect_phrase(cfg)} notice, its requests "
            f"{_timeout_phrase(cfg)}; then {_moves(cfg, target, down)}.{back}"
        )
    if kind == K.RESTART:
        hs = heirs(cfg, target, down)
        source = f" from {_heir_phrase(hs)}" if hs else ""
        return (
            f"{who} restarted at {at}, with an empty cache. Once {_detect_phrase(cfg)} see it healthy, "
            f"its keys move back to it{source}; it misses on all of them at first, so the hit ratio dips "
            "while it warms up."
        )
    if kind == K.SLOW:
        ev = scheduled(cfg, kind, target, t)
        factor = ev.factor if ev else cfg.chaos.random_slow_factor
        until = (
            f" until t={t + ev.duration_s:.1f} s"
            if ev and ev.duration_s
            else ("" if ev else f" for {cfg.chaos.random_slow_duration_s:g} s")
        )
        service = cfg.cluster.service_time_ms
        return (
            f"{who} slowed {factor:g}× at {at}{until}: each request takes {service * factor:g} ms instead of "
            f"{service:g} ms, so its queue grows and tail latency rises; requests that wait past "
            f"{cfg.client.timeout_ms:g} ms fail. The balancer still routes to it (it answers health checks)."
        )
    if kind == K.PARTITION:
        ev = scheduled(cfg, kind, target, t)
        until = f" until t={t + ev.duration_s:.1f} s" if ev and ev.duration_s else ""
        if target == DATABASE:
            return (
                f"The database is cut off at {at}{until}: misses and writes cannot reach it, so they "
                f"{_timeout_phrase(cfg)} and fail; hits are still served from the caches. When it heals, "
                "misses are answered again."
            )
        return (
            f"{who} cut off from the rest of the system at {at}{until}: its requests are lost and "
            f"{_timeout_phrase(cfg)}. Once {_detect_phrase(cfg)} mark it down, {_moves(cfg, target, down)}. "
            "It keeps its cache, so after the heal it serves its keys again (stale if they were written "
            "meanwhile)."
        )
    if kind == K.HEAL:
        if target == DATABASE:
            return f"The database is reachable again at {at}: misses and writes are answered again."
        if scope == TargetKind.ALL:
            return (
                f"Every partition and slowdown healed at {at}: nodes serve at full speed and reach each other "
                "and the database again."
            )
        if scope == TargetKind.NETWORK:
            return (
                f"Network loss back to {cfg.network.loss_rate:.0%} at {at}: requests stop timing out on lost "
                "messages, so latency and failures fall back."
            )
        return (
            f"{who} healed at {at}: it serves at full speed again; if it was marked down, the balancer "
            "routes to it once a health check sees it."
        )
    if kind == K.LOSS:
        ev = scheduled(cfg, kind, target, t)
        rate = ev.loss_rate if ev else cfg.network.loss_rate
        until = f" until t={t + ev.duration_s:.1f} s" if ev and ev.duration_s else ""
        return (
            f"Network loss set to {rate:.0%} at {at}{until}: a lost message means its request has to "
            f"{_timeout_phrase(cfg)}, so latency rises and some requests fail."
        )
    if kind == K.NODE_DOWN_DETECTED:
        return f"The balancer marked {who} down at {at} and stops routing to it; {_moves(cfg, target, down)}."
    if kind == K.NODE_UP_DETECTED:
        return (
            f"The balancer sees {who} healthy at {at} and routes to it again; its keys come back to it, "
            "and it misses on those it no longer holds until it warms up."
        )
    if kind == K.ANOMALY:
        what = message.rstrip(".") if message else "the hit ratio fell"
        return (
            f"Incident detected at {at}: {what}. More requests go to the database until the caches hold the keys again."
        )
    if kind == K.RECOVERED:
        what = message.rstrip(".") if message else "the hit ratio is back"
        return f"Recovered at {at}: {what}."
    return message


def narrate_event(ev: Any, cfg: SimConfig, down: Iterable[str] = ()) -> str:
    """:func:`narrate` for an event record (``cachesim.metrics.Event`` or a row with
    t, kind, target, message)."""
    kind, target, target_kind = fields_of(ev)
    return narrate(kind, target, float(ev.t), cfg, message=str(ev.message or ""), down=down, target_kind=target_kind)


def narrate_events(events: Iterable[Any], cfg: SimConfig, down: list[str] | None = None) -> list[str]:
    """Narrations of a run's events in order (other kinds keep their message), each
    knowing which nodes were out before it (killed or partitioned, not yet restarted
    or healed). ``down``, if given, is that list, updated in place: a live run narrates
    its events as they come."""
    down = [] if down is None else down
    out = []
    for ev in events:
        kind, target, target_kind = fields_of(ev)
        out.append(narrate_event(ev, cfg, down) if kind in NARRATED_KINDS else str(ev.message))
        names = [n for n in endpoints(target, target_kind) if n != DATABASE]
        if kind in (K.KILL, K.PARTITION):
            down.extend(n for n in names if n not in down)
        elif kind in (K.RESTART, K.HEAL):
            if target_kind == TargetKind.ALL:
                down.clear()
            down[:] = [d for d in down if d not in names]
    return out
