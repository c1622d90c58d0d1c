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
from heapq import heappop, heappush
from itertools import count
from typing import TYPE_CHECKING

from ..config import DATABASE_ENDPOINT, SimConfig
from ..environment import SimEnvironment
from ..rng import Stream
from .observer import Observer

if TYPE_CHECKING:
    from .cache_node import CacheNode
    from .database import Database
    from .gutter import GutterPool
    from .load_balancer import LoadBalancer
    from .network import Network


class Request:
    """One attempt of a client request (a retry is a new attempt of the same request)."""

    __slots__ = (
        "key",
        "is_write",
        "t0",
        "measured",
        "attempt",
        "deadline",
        "node",
        "over",
        "version",
        "epoch",
        "counted",
    )

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
        self.counted = False  # counted in the balancer's outstanding requests of its node


class Clients:
    """The client population and the lifecycle of every request."""

    ENDPOINT = "client"
    #: seconds a byte adds to a write's hop (set by use_sizes; a class default keeps the
    #: instance's attributes, and so the hot path's lookups, as they were)
    _write_s_per_byte = 0.0
    #: the gutter pool, if any (set by the engine). A class default, like the one above:
    #: CPython 3.11 keeps at most 29 attributes in an instance's fast inline layout, and
    #: a 30th one (this, when it was an instance attribute) made every attribute and
    #: method lookup of the hot path go through a dict
    gutter: GutterPool | None = None

    def __init__(
        self, env: SimEnvironment, cfg: SimConfig, arrivals: Stream, sampler, obs: Observer, net: Network
    ) -> None:
        self.env = env
        self.schedule = env.caller()
        # The clients' arrivals together are one Poisson process at rate_rps (a sum of
        # independent Poisson processes is one), known ahead of the rest of the model:
        # the engine's loop merges them in by time (environment.Feed), with no queue entry.
        self.mean_gap_s = 1.0 / cfg.workload.rate_rps
        self.next_t = math.inf
        self.timeout_s = cfg.client.timeout_ms / 1000.0
        self.retries = cfg.client.retries
        self.measure_from = cfg.warmup_s
        #: Under least_outstanding routing the balancer must know, at each pick, which
        #: hits have been answered by now: their service ends wait in a heap (drained
        #: before the pick) rather than on the nodes' lazy catch-up.
        self.tracks_releases = cfg.cluster.routing == "least_outstanding"
        self._releases: list[tuple[float, int, Request, int]] = []
        self._release_seq = count()
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
        self._net_send = self.net.send
        self._db_write = self.db.on_write
        self._node_request = [node.on_request for node in self._nodes]
        self._complete = self.obs.completed_request
        if self.gutter is not None:
            self._believed_up = self.lb.believed_up
            self._send = self._send_gutter  # type: ignore[method-assign]
        self._next_arrival(0.0)

    # -- arrivals -----------------------------------------------------------------------

    def _next_arrival(self, now: float) -> None:
        t = now + self.mean_gap_s * self._gap()
        self.next_t = t if t < self.end_s else math.inf

    def use_trace_times(self, times: list[float]) -> None:
        """Arrive at ``times`` (a replayed trace's own timing, once through) instead of
        Poisson at ``rate_rps``. Call before :meth:`start`."""
        self._times = times
        self._time_i = 0
        self._next_arrival = self._next_trace_arrival  # type: ignore[method-assign]

    def _next_trace_arrival(self, _now: float) -> None:
        i = self._time_i
        if i < len(self._times):
            self._time_i = i + 1
            t = self._times[i]
            self.next_t = t if t < self.end_s else math.inf
        else:
            self.next_t = math.inf

    def use_sizes(self, size_of, s_per_byte: float) -> None:
        """A write carries its object: its hop to the database takes ``size x
        s_per_byte`` longer (bandwidth on)."""
        self._write_size_of = size_of
        self._write_s_per_byte = s_per_byte

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
        req.deadline = self.env.now + self.timeout_s
        self._pending.append(req)  # watched by the timeout timer
        if not self._armed:
            self._arm()
        if req.is_write:
            if self._write_s_per_byte:
                self._send_write_sized(req)
            else:
                self._net_send(self.ENDPOINT, DATABASE_ENDPOINT, self._db_write, req)
            return
        if self._releases:
            self._drain_releases()
        i = self._pick(req.key)
        if i < 0:  # no node believed healthy: fail fast
            self._fail(req, unavailable=True)
            return
        req.node = node = self._nodes[i]
        req.counted = True
        self._outstanding[i] += 1
        self._net_send(self.ENDPOINT, node.name, self._node_request[i], req)

    def _send_gutter(self, req: Request) -> None:
        """:meth:`_send` with a gutter pool: a read whose first attempt finds its node
        believed down, or that is a retry (its last attempt got no answer), goes to the
        gutter pool instead (see gutter.py)."""
        if req.is_write:
            Clients._send(self, req)
            return
        req.deadline = self.env.now + self.timeout_s
        self._pending.append(req)
        if not self._armed:
            self._arm()
        if req.attempt == 0:
            if self._releases:
                self._drain_releases()
            i = self._pick(req.key)
            if i >= 0 and self._believed_up[i]:
                req.node = node = self._nodes[i]
                req.counted = True
                self._outstanding[i] += 1
                self._net_send(self.ENDPOINT, node.name, self._node_request[i], req)
                return
        self.obs.gutter_requests += 1
        req.node = node = self.gutter.node_for(req.key)
        self._net_send(self.ENDPOINT, node.name, node.on_request, req)

    def _send_write_sized(self, req: Request) -> None:
        d = self.net.transit(self.ENDPOINT, DATABASE_ENDPOINT)
        if d >= 0.0:
            self.schedule(d + self._write_size_of(req.key) * self._write_s_per_byte, self._db_write, req)

    def answer(self, req: Request, sent_at: float, d: float) -> None:
        """The answer to ``req`` left at ``sent_at`` and takes ``d`` seconds to arrive
        (``d < 0``: it is lost). ``sent_at`` is now, or for a cache hit the end of its
        service, handed over at the node's next catch-up (always before the snapshot
        of that window and before any timeout after it).

        The client does nothing on arrival but bookkeeping, so instead of scheduling
        the hop the completion is recorded now, stamped with its arrival time, unless
        the answer is lost or would arrive after the attempt's deadline (then the
        timeout handles it). The observer counts it in the window of its arrival, and
        as in flight until then (``Observer.late``)."""
        if req.counted:
            req.counted = False
            self._outstanding[req.node.index] -= 1
        if d < 0.0 or req.over:
            return
        arrival = sent_at + d
        if arrival > req.deadline:
            return
        req.over = True
        self.in_flight -= 1
        self._complete(req.t0, arrival, req.measured)

    def _fail(self, req: Request, unavailable: bool) -> None:
        req.over = True
        self.in_flight -= 1
        self.obs.failed_request(req.measured, unavailable, self.env.now - req.t0)

    # -- least_outstanding bookkeeping --------------------------------------------------

    def release_at(self, end: float, req: Request) -> None:
        """A hit on ``req``'s node is answered at ``end``: from then on it is no longer
        outstanding (least_outstanding routing only)."""
        heappush(self._releases, (end, next(self._release_seq), req, req.epoch))

    def _drain_releases(self) -> None:
        now = self.env.now
        rel = self._releases
        while rel and rel[0][0] <= now:
            _, _, req, epoch = heappop(rel)
            if req.counted and req.node.epoch == epoch:  # not if its node died meanwhile
                req.counted = False
                self._outstanding[req.node.index] -= 1

    # -- timeouts -----------------------------------------------------------------------

    def _arm(self) -> None:
        q = self._pending
        while q and q[0].over:
            q.popleft()
        if not q:
            self._armed = False
            return
        self._armed = True
        self.schedule(max(0.0, q[0].deadline - self.env.now), self._expire, None)

    def _expire(self, _value: None) -> None:
        now = self.env.now
        q = self._pending
        while q and q[0].deadline <= now:
            req = q.popleft()
            if not req.over and req.node is not None:
                req.node.catch_up()  # an answer sent before now counts before the deadline does
            if req.over:
                continue
            req.over = True
            self.obs.timeouts += 1
            if req.counted:
                req.counted = False
                self._outstanding[req.node.index] -= 1
            if req.attempt < self.retries:
                self.obs.retries += 1
                self._send(Request(req.key, req.is_write, req.t0, req.measured, req.attempt + 1))
            else:
                self._fail(req, unavailable=False)
        self._arm()
