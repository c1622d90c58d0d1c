"""Routing strategies of the load balancer, chosen by name from :data:`ROUTING_POLICIES`.

A router picks a node index for a key among the nodes the balancer believes healthy.
The registry is the one list of routing names: the config's allowed values for
``cluster.routing`` come from it, so a policy registered with :func:`register_routing`
is accepted by the config and built by the balancer.
Placement uses md5 from hashlib, never the salted built-in hash function, so it is the same in every process.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Sequence

import numpy as np

from ..rng import Stream


def hash64(text: str) -> int:
    """A stable 64-bit hash of ``text`` (the first 8 bytes of its md5)."""
    return int.from_bytes(hashlib.md5(text.encode()).digest()[:8], "big")


class Router(ABC):
    """Chooses a node for each request. ``set_healthy`` is called whenever the
    balancer's view of which nodes are up changes."""

    name: str = ""

    def __init__(self, n_nodes: int) -> None:
        self.n_nodes = n_nodes
        self.healthy: list[int] = list(range(n_nodes))
        #: requests sent to each node and not answered yet (kept by the clients)
        self.outstanding: list[int] | np.ndarray = [0] * n_nodes

    @classmethod
    def build(cls, node_names: Sequence[str], *, virtual_nodes: int, stream: Stream) -> Router:
        """A router over ``node_names`` (the balancer's call; a router takes what it needs)."""
        return cls(len(node_names))

    def set_healthy(self, healthy: Sequence[int]) -> None:
        self.healthy = sorted(healthy)

    @abstractmethod
    def pick(self, key: int) -> int:
        """A node index, or -1 when no node is healthy."""


class RoundRobin(Router):
    name = "round_robin"

    def __init__(self, n_nodes: int) -> None:
        super().__init__(n_nodes)
        self._next = 0

    def pick(self, key: int) -> int:
        h = self.healthy
        if not h:
            return -1
        i = self._next % len(h)
        self._next = i + 1
        return h[i]


class RandomRouter(Router):
    name = "random"

    def __init__(self, n_nodes: int, stream: Stream) -> None:
        super().__init__(n_nodes)
        self._stream = stream

    @classmethod
    def build(cls, node_names: Sequence[str], *, virtual_nodes: int, stream: Stream) -> Router:
        return cls(len(node_names), stream)

    def pick(self, key: int) -> int:
        h = self.healthy
        if not h:
            return -1
        return h[int(self._stream.uniform() * len(h))]


class LeastOutstanding(Router):
    """The healthy node with the fewest requests sent and not yet answered; ties go
    to the lowest index.

    ``outstanding`` is a numpy array to which an unhealthy node's count carries a
    large offset, so a pick is one ``argmin`` (C speed, no Python loop over nodes)."""

    name = "least_outstanding"
    _DOWN = 1 << 40

    def __init__(self, n_nodes: int) -> None:
        super().__init__(n_nodes)
        self.outstanding = np.zeros(n_nodes, dtype=np.int64)
        self._argmin = self.outstanding.argmin

    def set_healthy(self, healthy: Sequence[int]) -> None:
        up, before = set(healthy), set(self.healthy)
        out = self.outstanding
        for i in up ^ before:
            out[i] += -self._DOWN if i in up else self._DOWN
        super().set_healthy(healthy)

    def counts(self) -> np.ndarray:
        """Outstanding requests per node, without the offsets."""
        return self.outstanding % self._DOWN

    def pick(self, key: int) -> int:
        if not self.healthy:
            return -1
        return int(self._argmin())


_MEMO_LIMIT = 65_536  # bounds the key -> node memo (a few MB) however large the key space


class ConsistentHash(Router):
    """A hash ring with ``virtual_nodes`` points per node; a key goes to the first
    healthy node clockwise from its hash, so losing a node moves only its keys."""

    name = "consistent_hash"

    def __init__(self, node_names: Sequence[str], virtual_nodes: int) -> None:
        super().__init__(len(node_names))
        points = sorted(
            (hash64(f"{name}#{v}"), idx) for idx, name in enumerate(node_names) for v in range(virtual_nodes)
        )
        self._hashes = [p[0] for p in points]
        self._owners = [p[1] for p in points]
        self._up = [True] * self.n_nodes
        self._memo: dict[int, int] = {}

    @classmethod
    def build(cls, node_names: Sequence[str], *, virtual_nodes: int, stream: Stream) -> Router:
        return cls(node_names, virtual_nodes)

    def set_healthy(self, healthy: Sequence[int]) -> None:
        super().set_healthy(healthy)
        up = set(healthy)
        self._up = [i in up for i in range(self.n_nodes)]
        self._memo.clear()

    def pick(self, key: int) -> int:
        node = self._memo.get(key)
        if node is not None:
            return node
        node = self._walk(hash64(str(key)))
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[key] = node
        return node

    def _walk(self, h: int) -> int:
        if not self.healthy:
            return -1
        owners, up = self._owners, self._up
        n = len(owners)
        start = bisect_right(self._hashes, h)
        for step in range(n):
            owner = owners[(start + step) % n]
            if up[owner]:
                return owner
        return -1


#: Routing policies by name: the one registry of allowed names (``SimConfig`` takes them from here).
ROUTING_POLICIES: dict[str, type[Router]] = {
    cls.name: cls for cls in (RoundRobin, RandomRouter, LeastOutstanding, ConsistentHash)
}


def register_routing(cls: type[Router]) -> type[Router]:
    """Add a router class to the registry under its ``name`` (usable as a decorator)."""
    if not cls.name:
        raise ValueError("a routing policy needs a name")
    ROUTING_POLICIES[cls.name] = cls
    return cls


def routing_names() -> tuple[str, ...]:
    """The registered routing policies' names, in registration order."""
    return tuple(ROUTING_POLICIES)


def make_router(name: str, node_names: Sequence[str], *, virtual_nodes: int, stream: Stream) -> Router:
    try:
        cls = ROUTING_POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown routing {name!r}; allowed: {', '.join(ROUTING_POLICIES)}") from None
    return cls.build(node_names, virtual_nodes=virtual_nodes, stream=stream)
