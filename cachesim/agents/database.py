"""The database: the authority. Versioned values; a write bumps the key's version and,
by ``write_policy``, sends invalidations (or the new version) to every cache node over
the network, where they can be delayed or lost.

A read returns the version current when its service ends. If a write is served after
it and that write's invalidation reaches the node before the read's (slower) answer,
the node stores the old version: a stale set (see cache_node.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..config import SimConfig
from ..environment import SimEnvironment
from ..policies import MISS
from ..rng import Stream
from .consistency import Convergence
from .directory import Directory
from .observer import Observer
from .station import Station

_INF = float("inf")

if TYPE_CHECKING:
    from .cache_node import CacheNode
    from .client import Clients, Request
    from .network import Network


class Database(Station):
    ENDPOINT = "database"

    def __init__(
        self, env: SimEnvironment, cfg: SimConfig, stream: Stream, obs: Observer, net: Network, directory: Directory
    ) -> None:
        self.env = env
        self.schedule = env.caller()
        self.directory = directory
        d = cfg.database
        self._init_station(
            service_ms=d.service_time_ms,
            exponential=d.service_distribution == "exponential",
            concurrency=d.concurrency,
            queue_limit=d.queue_limit,
            stream=stream,
        )
        self.write_policy = cfg.database.write_policy
        self.obs = obs
        self.net = net
        self.versions: dict[int, int] = {}
        self.nodes: list[CacheNode] = []
        self.node_names: list[str] = []
        self.clients: Clients
        #: the convergence tracker, and where copies live: (directory, its nodes) pairs
        self.convergence: Convergence | None = None
        self.copy_sources: list[tuple[Directory, list[CacheNode]]] = []
        self._s_per_byte = 0.0  # see use_sizes

    def use_sizes(self, size_of, s_per_byte: float) -> None:
        """A read's answer carries its object: ``size x s_per_byte`` more on its hop."""
        self._size_of = size_of
        self._s_per_byte = s_per_byte

    # -- arrivals (reads come from nodes, writes from clients) -------------------------

    def on_read(self, req: Request) -> None:
        self._admit(req)

    def on_write(self, req: Request) -> None:
        self._admit(req)

    def _served(self, req: Request) -> None:
        self._release()
        if req.is_write:
            self._write(req)
        else:
            self.obs.db_reads += 1
            req.version = self.versions.get(req.key, 0)
            node = req.node
            if self._s_per_byte:  # the answer carries the object
                d = self.net.transit(self.ENDPOINT, node.name)
                if d >= 0.0:
                    self.schedule(d + self._size_of(req.key) * self._s_per_byte, node.on_fetched, req)
            else:
                self.net.send(self.ENDPOINT, node.name, node.on_fetched, req)

    def _write(self, req: Request) -> None:
        key = req.key
        version = self.versions.get(key, 0) + 1
        self.versions[key] = version
        req.version = version
        obs = self.obs
        obs.db_writes += 1
        now = self.env.now
        if self.convergence is not None:
            self._track(key, version, now)
        if self.write_policy != "none":
            # One message to every node, drawn at once; delivered now to the nodes that
            # hold the key, and to a node that fills it later while its message is still
            # on its way (see directory.py).
            delays, dmax, lost = self.net.fanout(self.ENDPOINT, self.node_names)
            n_lost = int(np.count_nonzero(lost)) if lost is not None else 0
            if self.write_policy == "invalidate":
                obs.invalidations_sent += len(delays)
                obs.invalidations_lost += n_lost
            else:
                obs.updates_sent += len(delays)
                obs.updates_lost += n_lost
            holders = self.directory.holders.get(key)
            if holders:
                nodes = self.nodes
                for i in holders:
                    if lost is None or not lost[i]:
                        nodes[i].deliver(now + float(delays[i]), key, version)
            self.directory.record(now, key, version, delays, dmax, lost)
        self.clients.answer(req, now, self.net.transit(self.ENDPOINT, self.clients.ENDPOINT))

    def _track(self, key: int, version: int, now: float) -> None:
        """Hand the write to the convergence tracker, after the key's holders have caught
        up (so every removal due by now is known), with the key's copies now
        (CacheNode.copy_of, inlined)."""
        conv = self.convergence
        copies = None
        for directory, nodes in self.copy_sources:
            holders = directory.holders.get(key)
            if holders:
                for i in tuple(holders):
                    node = nodes[i]
                    # node.catch_up(), called only when something is due (its due answers
                    # too: the order of completions is the run's)
                    inbox, slots = node._inbox, node._slots
                    if inbox and inbox[0][0] <= now or slots and slots[0][0] <= now:
                        node.catch_up()
                    if node.alive:
                        v = node.store.peek(key)
                        if v is not MISS:
                            if copies is None:
                                copies = {}
                            copies[node.name] = (v, node._expiry.get(key, _INF) if node.ttl_s else _INF)
        conv.write(key, version, now, None if key in conv.keys else copies)

    def copies(self, key: int) -> dict[str, tuple[int, float]]:
        """Every node's copy of ``key`` (gutter included): name -> (version, expiry)."""
        out: dict[str, tuple[int, float]] = {}
        for directory, nodes in self.copy_sources:
            holders = directory.holders.get(key)
            if holders:
                for i in holders:
                    node = nodes[i]
                    if node.alive:
                        c = node.copy_of(key)
                        if c is not None:
                            out[node.name] = c
        return out
