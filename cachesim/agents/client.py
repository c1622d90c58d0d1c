"""Clients: open-loop Poisson traffic, a timeout per attempt, retries.

Each client issues requests at ``rate_rps / clients``; together they are one Poisson
process at ``rate_rps``, which is how they are drawn. Reads go through the load
balancer to a cache node, writes to the database. Attempt deadlines are monotone in
time (one timeout for all), so a single timer watching the oldest attempt replaces a
timer per request: it wakes about once per timeout period, not once per request.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

import simpy

from ..config import DATABASE_ENDPOINT, SimConfig
from ..rng import Stream
from .observer import Observer
from .scheduler import scheduler

if TYPE_CHECKING:
    from .cache_node import CacheNode
    from .database import Database
    from .load_balancer import LoadBalancer
    from .network import Network


class Request:
    """One attempt of a client request (a retry is a new attempt of the same request)."""

    __slots__ = ("key", "is_write", "t0", "measured", "attempt", "deadline", "node",
                 "over", "version", "epoch")

    def __init__(self, key: int, is_write: bool, t0: float, measured: bool, attempt: int) -> None:
        self.key = key
        self.is_write = is_write
        self.t0 = t0
        self.measured = measured
        self.attempt = attempt
        self.deadline = 0.0
        self.node: CacheNode | None = None
        self.over = False  # answered, failed or timed out: nothing more happens to it
        self.version = 0
        self.epoch = 0


class Clients:
    """The client population and the lifecycle of every request."""

    ENDPOINT = "client"

    def __init__(self, env: simpy.Environment, cfg: SimConfig, arrivals: Stream, sampler,
                 obs: Observer, net: Network) -> None:
        self.env = env
        self.schedule = scheduler(env)
        # The clients' arrivals together are one Poisson process at rate_rps (a sum of
        # independent Poisson processes is one), known ahead of the rest of the model:
        # the engine's loop merges them in by time (scheduler.Feed), with no queue entry.
        self.mean_gap_s = 1.0 / cfg.workload.rate_rps
        self.next_t = math.inf
        self.timeout_s = cfg.client.timeout_ms / 1000.0
        self.retries = cfg.client.retries
        self.measure_from = cfg.warmup_s
        self._routing_reads_outstanding = cfg.cluster.routing == "least_outstanding"
        self.end_s = cfg.duration_s
        self._arrivals = arrivals
        self._sampler = sampler
        self.obs = obs
        self.net = net
        self.lb: LoadBalancer
        self.db: Database
        self._pending: deque[Request] = deque()
        self._armed = False
        self.in_flight = 0

    def start(self) -> None:
        # bound once: the hot path calls these for every request
        self._next_op = self._sampler.next
        self._gap = self._arrivals.exponential
        self._pick = self.lb.router.pick
        self._nodes = self.lb.nodes
        self._outstanding = self.lb.outstanding
        self._transit = self.net.transit
        self._net_send = self.net.send
        self._db_write = self.db.on_write
        self._node_request = [node.on_request for node in self._nodes]
        self._complete = self.obs.completed_request
        self._next_arrival(0.0)

    # -- arrivals -----------------------------------------------------------------------

    def _next_arrival(self, now: float) -> None:
        t = now + self.mean_gap_s * self._gap()
        self.next_t = t if t < self.end_s else math.inf

    def fire(self) -> None:
        """A request arrives (now is ``next_t``)."""
        now = self.next_t
        key, is_write = self._next_op()
        measured = now >= self.measure_from
        obs = self.obs
        obs.issued += 1
        if measured:
            obs.m_issued += 1
        self.in_flight += 1
        self._send(Request(key, is_write, now, measured, 0))
        self._next_arrival(now)

    # -- one attempt --------------------------------------------------------------------

    def _send(self, req: Request) -> None:
        req.deadline = self.env._now + self.timeout_s  # noqa: SLF001
        self._pending.append(req)  # watched by the timeout timer
        if not self._armed:
            self._arm()
        if req.is_write:
            self._net_send(self.ENDPOINT, DATABASE_ENDPOINT, self._db_write, req)
            return
        if self._routing_reads_outstanding:
            for node in self._nodes:
                node.flush()  # answers sent by now are no longer outstanding
        i = self._pick(req.key)
        if i < 0:  # no node believed healthy: fail fast
            self._fail(req, unavailable=True)
            return
        req.node = node = self._nodes[i]
        self._outstanding[i] += 1
        self._net_send(self.ENDPOINT, node.name, self._node_request[i], req)

    def answer(self, src: str, req: Request, sent_at: float) -> None:
        """``src`` sent the answer to ``req`` at ``sent_at`` (now, or for a cache hit
        the end of its service, handed over when the node is next looked at, and
        always before the snapshot of that window and before any timeout after it).

        The client does nothing on arrival but bookkeeping, so instead of scheduling
        the hop the completion is recorded now, stamped with its arrival time
        (``sent_at`` + the hop's delay), unless the answer is lost or would arrive
        after the attempt's deadline (then the timeout handles it). This saves one
        simpy event per request; it counts a completion in the window it was sent
        in, at most one hop early."""
        d = self._transit(src, self.ENDPOINT)
        if d < 0.0 or req.over:
            return
        arrival = sent_at + d
        if arrival > req.deadline:
            return
        req.over = True
        if req.node is not None:
            self._outstanding[req.node.index] -= 1
        self.in_flight -= 1
        self._complete(req.t0, arrival, req.measured)

    def _fail(self, req: Request, unavailable: bool) -> None:
        req.over = True
        self.in_flight -= 1
        self.obs.failed_request(req.measured, unavailable)

    # -- timeouts -----------------------------------------------------------------------

    def _arm(self) -> None:
        q = self._pending
        while q and q[0].over:
            q.popleft()
        if not q:
            self._armed = False
            return
        self._armed = True
        self.schedule(max(0.0, q[0].deadline - self.env.now), self._expire)

    def _expire(self, _value: None) -> None:
        for node in self._nodes:
            node.flush()  # answers sent before now count before the deadlines do
        now = self.env.now
        q = self._pending
        while q and q[0].deadline <= now:
            req = q.popleft()
            if req.over:
                continue
            req.over = True
            self.obs.timeouts += 1
            if req.node is not None:
                self._outstanding[req.node.index] -= 1
            if req.attempt < self.retries:
                self.obs.retries += 1
                self._send(Request(req.key, req.is_write, req.t0, req.measured, req.attempt + 1))
            else:
                self._fail(req, unavailable=False)
        self._arm()
