"""The network: a one-way delay per hop, message loss, and partitions.

A hop's delay is gamma-distributed with mean ``latency_ms`` and standard deviation
``jitter_ms`` exactly (shape ``(latency/jitter)^2``, scale ``jitter^2/latency``): always
positive, and its mean is the documented mean whatever the jitter (a normal truncated
at zero is not). With no jitter every hop takes ``latency_ms``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..config import NetworkConfig
from ..environment import SimEnvironment
from ..rng import Stream, blocks


class Network:
    """Delivers a message to a handler after a hop's delay, unless it is lost.

    Endpoints are names ("client", "balancer", "database", "node-3"). A partition puts
    endpoints in numbered groups; a message crosses only within one group.
    """

    def __init__(self, env: SimEnvironment, cfg: NetworkConfig, stream: Stream, fanout_stream: Stream) -> None:
        self.env = env
        self.schedule = env.caller()
        self.latency_s = cfg.latency_ms / 1000.0
        self.jitter_s = cfg.jitter_ms / 1000.0
        self.base_loss = cfg.loss_rate
        self.loss_rate = cfg.loss_rate
        self._uniform = stream.uniform
        if self.jitter_s < 1e-6 * self.latency_s:
            self.jitter_s = 0.0  # no measurable spread: every hop takes latency_ms
        if self.jitter_s > 0.0:
            shape = (self.latency_s / self.jitter_s) ** 2
            scale = self.jitter_s**2 / self.latency_s
            self._shape, self._scale = shape, scale
            self._delay = blocks(lambda n: stream.gen.standard_gamma(shape, n) * scale)
        self._fan_gen = fanout_stream.gen
        self._fan_rows: np.ndarray | list | None = None
        self._fan_max: list[float] = []
        self._fan_i = 0
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

    def partitioned(self) -> bool:
        """Whether any partition is in force."""
        return bool(self._group)

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
            return self._delay()
        return self.latency_s

    def fanout(self, src: str, dsts: list[str]) -> tuple[np.ndarray, float, np.ndarray | None]:
        """One message from ``src`` to each of ``dsts``: (delay per destination, the
        largest delay, a mask of the messages lost or unable to cross a partition, or
        None when none is). Delays come in blocks of rows drawn at once from the
        fan-out's own stream, so a broadcast costs O(1) Python work."""
        n = len(dsts)
        if self._fan_rows is None or self._fan_i == len(self._fan_rows):
            self._draw_fan_block(n)
        i = self._fan_i
        self._fan_i = i + 1
        delays, dmax = self._fan_rows[i], self._fan_max[i]
        lost = None
        if self.loss_rate:
            lost = self._fan_gen.random(n) < self.loss_rate
        g = self._group
        if g:
            home = g.get(src, 0)
            cut = np.fromiter((g.get(name, 0) != home for name in dsts), dtype=bool, count=n)
            lost = cut if lost is None else lost | cut
        return delays, dmax, lost

    def _draw_fan_block(self, n: int) -> None:
        rows = max(1, 65_536 // n)
        if self.jitter_s:
            block = self._fan_gen.standard_gamma(self._shape, (rows, n)) * self._scale
            self._fan_rows, self._fan_max = block, block.max(axis=1).tolist()
        else:
            row = np.full(n, self.latency_s)
            self._fan_rows, self._fan_max = [row] * rows, [self.latency_s] * rows
        self._fan_i = 0

    def send(self, src: str, dst: str, handler: Callable[[Any], None], msg: Any) -> bool:
        """Schedule ``handler(msg)`` after one hop.
        Returns False if the message is lost or cannot cross a partition."""
        d = self.transit(src, dst)
        if d < 0.0:
            return False
        self.schedule(d, handler, msg)
        return True
