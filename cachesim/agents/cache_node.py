"""A cache node: a bounded store behind ``concurrency`` service slots and a FIFO queue.

A read is looked up when its service starts and answered when it ends. A hit's answer
needs no event of its own: the node keeps the end times of the work in its slots
and hands the answers to the clients, stamped with their end times, the next time
anything looks at it (an arrival, a slot freeing for a waiting request, a snapshot,
a client's timeout, a kill); a slot is free again once its end time has passed.
Requests that find every slot busy wait in a FIFO queue and start, by an event, the
moment a slot frees, so queueing is exact. A miss holds its slot for its service
time, then reads through from the database (the slot is freed meanwhile, as an
asynchronous server would) and fills the cache with the version it got.
Invalidations and updates from the database apply on arrival (see
:meth:`CacheNode.deliver`). Killed, the node drops whatever arrives and loses its
contents and the work in its slots and queue; restarted, it comes back cold; slowed,
its service time is multiplied.
"""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush
from itertools import count
from typing import TYPE_CHECKING

import simpy

from ..config import SimConfig
from ..policies import MISS, make_eviction
from ..rng import Stream
from .observer import Observer
from .scheduler import scheduler

if TYPE_CHECKING:
    from .client import Clients, Request
    from .database import Database
    from .network import Network


class CacheNode:
    def __init__(self, env: simpy.Environment, cfg: SimConfig, index: int, stream: Stream,
                 obs: Observer, net: Network) -> None:
        self.env = env
        self.schedule = scheduler(env)
        self.index = index
        self.name = f"node-{index + 1}"
        self.capacity = cfg.cluster.capacity
        self.store = make_eviction(cfg.cluster.eviction, cfg.cluster.capacity)
        c = cfg.cluster
        self.service_s = c.service_time_ms / 1000.0
        self.exponential = c.service_distribution == "exponential"
        self.concurrency = c.concurrency
        self.queue_limit = c.queue_limit
        self._service_draw = stream.exponential
        self.queue: deque[Request] = deque()
        # the work in the slots: (end, seq, request to answer at end, or None for a miss)
        self._slots: list[tuple[float, int, Request | None]] = []
        self._seq = count()
        self._wake_armed = False
        self.ttl_s = cfg.cluster.ttl_s
        self.write_through = cfg.database.write_policy == "write_through"
        self.coalesce = cfg.cluster.coalesce_misses
        self.fetch_timeout_s = cfg.client.timeout_ms / 1000.0
        self.obs = obs
        self.net = net
        self.db: Database
        self.clients: Clients
        self.alive = True
        self.epoch = 0
        self.slow_factor = 1.0
        self.down_since: float | None = None
        self._expiry: dict[int, float] = {}
        self._fetching: dict[int, tuple[float, list[Request]]] = {}
        # invalidations (or new versions) on their way from the database: (arrival, key, version)
        self._inbox: list[tuple[float, int, int]] = []
        # cumulative counters (the observer takes per-window differences)
        self.requests = 0
        self.hits = 0
        self.misses = 0
        self.dropped = 0  # arrived while the node was down
        self.rejected = 0  # arrived to a full queue
        self.evictions = 0
        self.invalidated = 0

    def connect(self, db: Database, clients: Clients) -> None:
        self.db = db
        self.clients = clients
        self._versions = db.versions
        self._answer = clients.answer

    # -- requests -----------------------------------------------------------------------

    def on_request(self, req: Request) -> None:
        if not self.alive:
            self.dropped += 1
            return
        self.requests += 1
        req.epoch = self.epoch
        now = self.env._now  # noqa: SLF001 -- the hot path skips the property
        slots = self._slots
        if slots and slots[0][0] <= now:
            self.flush()
        if len(slots) < self.concurrency and not self.queue:
            self._start(req, now)
        elif len(self.queue) < self.queue_limit:
            self.queue.append(req)
            if not self._wake_armed:
                self._wake_armed = True
                self.schedule(slots[0][0] - now, self._wake, self.epoch)
        else:
            self.rejected += 1

    def _start(self, req: Request, now: float) -> None:
        """Service starts: look the key up, hold a slot until the service ends."""
        if self._inbox and self._inbox[0][0] <= now:
            self.sync()
        key = req.key
        version = self.store.get(key)
        if version is not MISS and self.ttl_s and self._expiry.get(key, 0.0) <= now:
            self.store.discard(key)
            version = MISS
        s = self.service_s * self.slow_factor
        if self.exponential:
            s *= self._service_draw()
        if version is MISS:
            self.misses += 1
            self.obs.misses += 1
            heappush(self._slots, (now + s, next(self._seq), None))
            self.schedule(s, self._fetch, req)
        else:
            self.hits += 1
            self.obs.hits += 1
            req.version = version
            if version < self._versions.get(key, 0):
                self.obs.stale_reads += 1
            heappush(self._slots, (now + s, next(self._seq), req))

    def flush(self) -> None:
        """Free the slots whose service has ended by now, answering their hits (each
        stamped with its own end time)."""
        now = self.env._now  # noqa: SLF001
        slots = self._slots
        while slots and slots[0][0] <= now:
            end, _, req = heappop(slots)
            if req is not None:
                self._answer(self.name, req, end)

    def _wake(self, epoch: int) -> None:
        """The first slot to free while requests wait: start as many as are free."""
        if epoch != self.epoch:
            return  # killed since; the queue it was for is gone
        self._wake_armed = False
        self.flush()
        now = self.env._now  # noqa: SLF001
        slots, queue = self._slots, self.queue
        while queue and len(slots) < self.concurrency:
            self._start(queue.popleft(), now)
        if queue:
            self._wake_armed = True
            self.schedule(slots[0][0] - now, self._wake, epoch)

    @property
    def busy(self) -> int:
        """Slots in use now."""
        self.flush()
        return len(self._slots)

    def _respond(self, req: Request) -> None:
        """Answer a read the database has just answered."""
        if req.version < self._versions.get(req.key, 0):
            self.obs.stale_reads += 1
        self._answer(self.name, req, self.env._now)  # noqa: SLF001

    # -- read-through -------------------------------------------------------------------

    def _fetch(self, req: Request) -> None:
        """A miss's service has ended: read the key from the database."""
        if req.epoch != self.epoch:
            return  # the node died while serving it
        if self.coalesce:
            pending = self._fetching.get(req.key)
            now = self.env.now
            if pending is not None and now - pending[0] < self.fetch_timeout_s:
                pending[1].append(req)
                return
            self._fetching[req.key] = (now, [req])
        self.net.send(self.name, self.db.ENDPOINT, self.db.on_read, req)

    def on_fetched(self, req: Request) -> None:
        if not self.alive or req.epoch != self.epoch:
            return
        if self._inbox and self._inbox[0][0] <= self.env._now:  # noqa: SLF001
            self.sync()
        self._fill(req.key, req.version)
        if self.coalesce:
            pending = self._fetching.get(req.key)
            if pending is not None and pending[1][0] is req:
                del self._fetching[req.key]
                for waiter in pending[1]:
                    waiter.version = req.version
                    self._respond(waiter)
                return
        self._respond(req)

    def _fill(self, key: int, version: int) -> None:
        evicted = self.store.put(key, version)
        if evicted:
            self.evictions += len(evicted)
            if self.ttl_s:
                for k in evicted:
                    self._expiry.pop(k, None)
        if self.ttl_s:
            self._expiry[key] = self.env.now + self.ttl_s

    # -- from the database --------------------------------------------------------------

    def deliver(self, arrival: float, key: int, version: int) -> None:
        """An invalidation of ``key`` (or, under write-through, its new ``version``) that
        arrives at ``arrival``.

        It is applied when it is due, but lazily: the next time anything looks at the
        store (a lookup, a fill, a snapshot, a kill or restart) every message due by
        then is applied first. Nothing reads the store in between, so the outcome is
        the same as applying each one on arrival, without an event per node per write.
        Applying them out of order among themselves is harmless: an invalidation
        removes the key, an update only ever raises its version."""
        heappush(self._inbox, (arrival, key, version))

    def sync(self) -> None:
        """Apply the messages that have arrived by now (dropping those that arrived
        while the node was down)."""
        now = self.env._now  # noqa: SLF001
        inbox = self._inbox
        store = self.store
        while inbox and inbox[0][0] <= now:
            _, key, version = heappop(inbox)
            if not self.alive:
                continue
            if self.write_through:
                current = store.peek(key)
                if current is not MISS and current < version:
                    store.update(key, version)
            elif store.discard(key):
                self.invalidated += 1

    @property
    def occupancy(self) -> int:
        self.sync()
        return len(self.store)

    # -- faults -------------------------------------------------------------------------

    def kill(self) -> None:
        self.sync()
        self.flush()  # answers that left before the failure
        self.alive = False
        self.down_since = self.env.now
        self.epoch += 1  # work in service or in the queue is lost
        self._slots.clear()
        self._wake_armed = False
        self.queue.clear()
        self._fetching.clear()
        self.store.clear()
        self._expiry.clear()

    def restart(self) -> None:
        self.sync()  # what arrived while it was down is lost
        self.alive = True
        self.down_since = None
        self.slow_factor = 1.0
