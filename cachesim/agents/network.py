"""The network: a one-way delay per hop with jitter, message loss, and partitions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import simpy

from ..config import NetworkConfig
from ..rng import Stream
from .scheduler import scheduler


class Network:
    """Delivers a message to a handler after a hop's delay, unless it is lost.

    Endpoints are names ("client", "balancer", "database", "node-3"). A partition puts
    endpoints in numbered groups; a message crosses only within one group.
    """

    def __init__(self, env: simpy.Environment, cfg: NetworkConfig, stream: Stream) -> None:
        self.env = env
        self.schedule = scheduler(env)
        self.latency_s = cfg.latency_ms / 1000.0
        self.jitter_s = cfg.jitter_ms / 1000.0
        self.base_loss = cfg.loss_rate
        self.loss_rate = cfg.loss_rate
        self._uniform = stream.uniform
        self._normal = stream.normal
        self._group: dict[str, int] = {}
        self._next_group = 1

    # -- faults -------------------------------------------------------------------------

    def partition(self, endpoints: list[str]) -> None:
        """Cut ``endpoints`` off from everything outside them."""
        gid = self._next_group
        self._next_group += 1
        for e in endpoints:
            self._group[e] = gid

    def heal(self, endpoints: list[str] | None = None) -> None:
        """End the partition of ``endpoints`` (all when None)."""
        if endpoints is None:
            self._group.clear()
        else:
            for e in endpoints:
                self._group.pop(e, None)

    def is_partitioned(self, endpoint: str) -> bool:
        return endpoint in self._group

    def reachable(self, src: str, dst: str) -> bool:
        g = self._group
        return not g or g.get(src, 0) == g.get(dst, 0)

    # -- delivery -----------------------------------------------------------------------

    def transit(self, src: str, dst: str) -> float:
        """The delay of one message from ``src`` to ``dst``, or -1.0 if it is lost
        (dropped at random or unable to cross a partition)."""
        g = self._group
        if g and g.get(src, 0) != g.get(dst, 0):
            return -1.0
        if self.loss_rate and self._uniform() < self.loss_rate:
            return -1.0
        if self.jitter_s:
            d = self.latency_s + self.jitter_s * self._normal()
            return d if d > 0.0 else 0.0
        return self.latency_s

    def send(self, src: str, dst: str, handler: Callable[[Any], None], msg: Any) -> bool:
        """Schedule ``handler(msg)`` after one hop.
        Returns False if the message is lost or cannot cross a partition."""
        d = self.transit(src, dst)
        if d < 0.0:
            return False
        self.schedule(d, handler, msg)
        return True
