"""Cache policies: eviction (what a node drops) and routing (which node a key goes to).

Eviction policies are chosen by name through :data:`EVICTION_POLICIES` /
:func:`make_eviction`; the cache nodes and trace replay use the same classes. Routing
policies likewise through :data:`ROUTING_POLICIES` / :func:`make_router`. The two
registries are the config's allowed values (``online_eviction_names``, ``routing_names``).
"""

from __future__ import annotations

from cachesim.policies.arc import ARC
from cachesim.policies.base import MISS, NO_EVICTIONS, EvictionPolicy
from cachesim.policies.belady import Belady
from cachesim.policies.eviction import FIFO, LFU, LRU, Clock, QueuePolicy
from cachesim.policies.lirs import LIRS
from cachesim.policies.routing import ROUTING_POLICIES, Router, make_router, register_routing, routing_names
from cachesim.policies.s3fifo import S3FIFO
from cachesim.policies.sieve import Sieve
from cachesim.policies.slru import SLRU
from cachesim.policies.twoq import TwoQ

#: Eviction policies by name: the one registry of allowed names. All of them agree
#: exactly with libCacheSim's policy of the same name (tests/policies/test_replay.py).
EVICTION_POLICIES: dict[str, type[EvictionPolicy]] = {
    "lru": LRU,
    "fifo": FIFO,
    "lfu": LFU,
    "clock": Clock,
    "sieve": Sieve,
    "s3fifo": S3FIFO,
    "arc": ARC,
    "twoq": TwoQ,
    "slru": SLRU,
    "lirs": LIRS,
    "belady": Belady,
}


def online_eviction_names() -> tuple[str, ...]:
    """Policies a live cache node can run: all registered but the offline ones (Belady
    needs the future, so it runs in trace replay only). ``SimConfig`` takes its names from here."""
    return tuple(name for name, cls in EVICTION_POLICIES.items() if not getattr(cls, "needs_future", False))


#: :func:`online_eviction_names` of the built-in registry.
ONLINE_EVICTION_NAMES: tuple[str, ...] = online_eviction_names()


def make_eviction(name: str, capacity: int) -> EvictionPolicy:
    """A new, empty eviction policy ``name`` holding at most ``capacity`` units.

    Raises ValueError for an unknown name (listing the known ones) or a capacity < 1.
    """
    try:
        cls = EVICTION_POLICIES[name]
    except KeyError:
        known = ", ".join(EVICTION_POLICIES)
        raise ValueError(f"unknown eviction policy {name!r} (expected one of: {known})") from None
    return cls(capacity)


__all__ = [
    "ARC",
    "EVICTION_POLICIES",
    "LIRS",
    "ONLINE_EVICTION_NAMES",
    "ROUTING_POLICIES",
    "Router",
    "S3FIFO",
    "SLRU",
    "Belady",
    "TwoQ",
    "FIFO",
    "LFU",
    "LRU",
    "MISS",
    "NO_EVICTIONS",
    "Clock",
    "EvictionPolicy",
    "QueuePolicy",
    "Sieve",
    "make_eviction",
    "make_router",
    "online_eviction_names",
    "register_routing",
    "routing_names",
]
