"""The database: the authority. Versioned values; a write bumps the key's version and,
by ``write_policy``, sends invalidations (or the new version) to every cache node over
the network, where they can be delayed or lost."""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy

from ..config import SimConfig
from ..rng import Stream
from .observer import Observer
from .scheduler import scheduler
from .station import Station

if TYPE_CHECKING:
    from .cache_node import CacheNode
    from .client import Clients, Request
    from .network import Network


class Database(Station):
    ENDPOINT = "database"

    def __init__(self, env: simpy.Environment, cfg: SimConfig, stream: Stream,
                 obs: Observer, net: Network) -> None:
        self.env = env
        self.schedule = scheduler(env)
        d = cfg.database
        self._init_station(service_ms=d.service_time_ms, exponential=d.service_distribution == "exponential",
                           concurrency=d.concurrency, queue_limit=d.queue_limit, stream=stream)
        self.write_policy = cfg.database.write_policy
        self.obs = obs
        self.net = net
        self.versions: dict[int, int] = {}
        self.nodes: list[CacheNode] = []
        self.clients: Clients

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
            self.net.send(self.ENDPOINT, node.name, node.on_fetched, req)

    def _write(self, req: Request) -> None:
        version = self.versions.get(req.key, 0) + 1
        self.versions[req.key] = version
        req.version = version
        self.obs.db_writes += 1
        if self.write_policy != "none":
            # One message per node; each node applies its own when it arrives.
            transit = self.net.transit
            now = self.env._now  # noqa: SLF001
            obs = self.obs
            for node in self.nodes:
                obs.invalidations_sent += 1
                d = transit(self.ENDPOINT, node.name)
                if d < 0.0:
                    obs.invalidations_lost += 1
                else:
                    node.deliver(now + d, req.key, version)
        self.clients.answer(self.ENDPOINT, req, self.env._now)  # noqa: SLF001
