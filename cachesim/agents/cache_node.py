"""A cache node: a bounded store behind ``concurrency`` service slots and a FIFO queue.

A read is looked up when its service starts and answered when it ends. A hit's answer
needs no event of its own: its reply hop (delay, or loss) is drawn when the service
starts, like every other random number of the run at a moment the model fixes, and
the node keeps the end times of the work in its slots; :meth:`CacheNode.catch_up`
hands the due answers to the clients, stamped with their end times. Whoever looks at
the node first (an arrival, a slot freeing, a client's timeout, a snapshot, a kill)
calls it, and since nothing is drawn then, when it is called changes nothing.

Requests that find every slot busy wait in a FIFO queue and start, by an event, the
moment a slot frees, so queueing is exact. A miss holds its slot for its service time,
then reads through from the database (the slot is freed meanwhile, as an asynchronous
server would) and fills the cache with the version it got. With ``coalesce_misses``,
a miss that finds a read of the same key already under way (decided at lookup) waits
for it instead of reading the database itself. Invalidations and updates from the
database apply on arrival (see :meth:`CacheNode.deliver`). Killed, the node drops
whatever arrives and loses its contents and the work in its slots and queue;
restarted, it comes back cold; slowed, its service time is multiplied. A node of
capacity 0 stores nothing: every read goes to the database.

Consistency (issue 13): a fill that stores a version the database has already
superseded is a *stale set* (counted; the entry is stale until it is replaced,
invalidated, evicted or expires, or the run ends: ``stale_time_s``). With leases
(``cluster.leases``) a miss gets a token for its key, and while the token is out (until
its fill, an invalidation, or ``interval_s``) other misses on the key wait
``backoff_s`` and look it up again; an invalidation voids the token, so a fill that
lost the race to it is refused (``leases.py``). A node reports the fills and removals of written keys
to the convergence tracker (``consistency.py``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from heapq import heappop, heappush
from itertools import count
from typing import TYPE_CHECKING, Any

from ..config import SimConfig
from ..environment import SimEnvironment
from ..policies import MISS, NO_EVICTIONS, make_eviction
from ..rng import Stream
from .directory import Directory
from .leases import Leases
from .observer import Observer

if TYPE_CHECKING:
    from .client import Clients, Request
    from .database import Database
    from .network import Network

CLIENT = "client"
_INF = float("inf")


def _ignore(key: int) -> None:
    """Stands in for the hot-key buffers when a node runs without an engine's recorder."""


class NoStore:
    """The store of a node with capacity 0: it never holds anything."""

    capacity = 0
    used = 0

    def get(self, key: Hashable) -> Any:
        return MISS

    peek = get

    def put(self, key: Hashable, value: Any, size: int = 1) -> tuple:
        return NO_EVICTIONS

    def update(self, key: Hashable, value: Any) -> bool:
        return False

    def discard(self, key: Hashable) -> bool:
        return False

    def clear(self) -> None:
        pass

    def keys(self) -> list:
        return []

    def __len__(self) -> int:
        return 0

    def __contains__(self, key: Hashable) -> bool:
        return False


class CacheNode:
    #: Slots for the attributes: CPython 3.11 keeps at most 29 attributes of an instance in
    #: its fast inline layout, a node has more; with slots every attribute and method lookup
    #: of the hot path is specialized. (``__dict__`` keeps other attributes settable: a
    #: sized node's _start, a test's instrumented methods.)
    __slots__ = (
        "_answer",
        "_conv",
        "_conv_keys",
        "_expiry",
        "_fetching",
        "_hk_hit",
        "_hk_miss",
        "_inbox",
        "_release_at",
        "_s_per_byte",
        "_seq",
        "_service_draw",
        "_size_of",
        "_slots",
        "_stale",
        "_touch",
        "_transit",
        "_versions",
        "_wake_armed",
        "alive",
        "capacity",
        "clients",
        "coalesce",
        "concurrency",
        "db",
        "directory",
        "down_since",
        "dropped",
        "env",
        "epoch",
        "evictions",
        "exponential",
        "fetch_timeout_s",
        "hits",
        "in_bytes",
        "index",
        "invalidated",
        "leases",
        "measure_from_s",
        "misses",
        "name",
        "net",
        "obs",
        "queue",
        "queue_limit",
        "rejected",
        "requests",
        "schedule",
        "service_s",
        "slow_factor",
        "stale_time_s",
        "store",
        "ttl_s",
        "write_through",
        "__dict__",
    )

    def __init__(
        self,
        env: SimEnvironment,
        cfg: SimConfig,
        index: int,
        stream: Stream,
        obs: Observer,
        net: Network,
        directory: Directory,
        *,
        hot_keys: bool = True,
    ) -> None:
        self.env = env
        self.schedule = env.caller()
        self.index = index
        self.name = f"node-{index + 1}"
        c = cfg.cluster
        self.capacity = c.node_capacity  # items, or bytes with capacity_bytes
        self.store = make_eviction(c.eviction, self.capacity) if self.capacity else NoStore()
        self.in_bytes = c.in_bytes
        #: ``size(key)`` in bytes when the run is sized (see :meth:`use_sizes`), else None
        self._size_of = None
        self._s_per_byte = 0.0
        self.service_s = c.service_time_ms / 1000.0
        self.exponential = c.service_distribution == "exponential"
        self.concurrency = c.concurrency
        self.queue_limit = c.queue_limit
        self._service_draw = stream.exponential
        self.queue: deque[Request] = deque()
        # the work in the slots: (end, seq, request to answer at end or None, reply hop delay)
        self._slots: list[tuple[float, int, Request | None, float]] = []
        self._seq = count()
        self._wake_armed = False
        self.ttl_s = c.ttl_s
        self.write_through = cfg.database.write_policy == "write_through"
        self.coalesce = c.coalesce_misses
        self.fetch_timeout_s = cfg.client.timeout_ms / 1000.0
        self.obs = obs
        self.net = net
        self.directory = directory
        hot = obs.hot if hot_keys else None  # hot-key buffers: one key per lookup (see cachesim.hotkeys)
        self._hk_hit = hot.hits[index].append if hot is not None else _ignore
        self._hk_miss = hot.misses[index].append if hot is not None else _ignore
        self.db: Database
        self.clients: Clients
        self.alive = True
        self.epoch = 0
        self.slow_factor = 1.0
        self.down_since: float | None = None
        self._expiry: dict[int, float] = {}
        # key -> (when its database read was sent, [(waiting request, its service end)])
        self._fetching: dict[int, tuple[float, list[tuple[Request, float]]]] = {}
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
        # stale sets: key -> when its stale entry was stored (until it leaves the store)
        self._stale: dict[int, float] = {}
        self.stale_time_s = 0.0  # closed stale intervals, after warm-up
        self.measure_from_s = cfg.warmup_s
        self._conv = None  # the convergence tracker (set by connect_consistency)
        self._conv_keys: dict = {}
        #: the node's lease tokens, with ``cluster.leases`` on (else None: no lease work)
        self.leases: Leases | None = Leases(self, c.leases) if c.leases.enabled else None
        #: ``touched.add`` of the set of nodes whose record may have changed since the
        #: last snapshot (see :meth:`report_changes_to`); a set of its own until then
        self._touch = set().add

    def report_changes_to(self, touched: set[int]) -> None:
        """Add this node's index to ``touched`` whenever anything that its snapshot
        record shows may change: a request arrives, a message from the database or an
        answer to a miss comes in, or it is killed, restarted or slowed. The engine
        builds a snapshot's node table from the touched nodes only (and the nodes that
        still had work in hand), so a snapshot costs the nodes that did something, not
        the cluster's size."""
        self._touch = touched.add

    def touch(self) -> None:
        """Mark the node's record as changed (for a change made from outside: chaos)."""
        self._touch(self.index)

    @property
    def in_service(self) -> int:
        """How many requests hold a service slot now."""
        return len(self._slots)

    @property
    def has_inbox(self) -> bool:
        """Whether database messages have arrived that the node has not applied yet."""
        return bool(self._inbox)

    def connect_consistency(self, conv) -> None:
        self._conv = conv
        self._conv_keys = conv.keys

    def connect(self, db: Database, clients: Clients) -> None:
        self.db = db
        self.clients = clients
        self._versions = db.versions
        self._answer = clients.answer
        self._transit = self.net.transit
        self._release_at = clients.release_at if clients.tracks_releases else None

    # -- catching up --------------------------------------------------------------------

    def catch_up(self) -> None:
        """Settle what is due by now: apply the database's messages that have arrived,
        and free the slots whose service has ended, answering their hits. The one
        place where the node's lazily settled state is brought up to date; every
        reader of ``store``, ``busy`` or the answers calls it first."""
        now = self.env.now
        if self._inbox and self._inbox[0][0] <= now:
            self._apply_inbox(now)
        if self._slots and self._slots[0][0] <= now:
            self._free_slots(now)

    def _free_slots(self, now: float) -> None:
        slots = self._slots
        answer = self._answer
        while slots and slots[0][0] <= now:
            end, _, req, d = heappop(slots)
            if req is not None:
                answer(req, end, d)

    def _apply_inbox(self, now: float) -> None:
        inbox = self._inbox
        store = self.store
        remove = self.directory.remove
        while inbox and inbox[0][0] <= now:
            at, key, version = heappop(inbox)
            if not self.alive:
                continue  # arrived while the node was down: lost
            if self.leases is not None:
                self.leases.void(key)  # a fill that lost the race is refused
            if self.write_through:
                current = store.peek(key)
                if current is not MISS and current < version:
                    store.update(key, version)
                    if self._stale or key in self._conv_keys:
                        self._gone(key, at)
                        if key in self._conv_keys:
                            self._conv.added(
                                self.name, key, version, at, self._expiry.get(key, _INF) if self.ttl_s else _INF
                            )
            elif store.discard(key):
                self.invalidated += 1
                remove(key, self.index)
                if self._stale:
                    self._gone(key, at)
                elif key in self._conv_keys:  # (_gone without a stale entry)
                    self._conv.removed(self.name, key, at)

    @property
    def busy(self) -> int:
        """Slots in use (as of the last :meth:`catch_up`)."""
        return len(self._slots)

    @property
    def occupancy(self) -> int:
        """Items stored, or bytes with a byte capacity (as of the last :meth:`catch_up`)."""
        return self.store.used if self.in_bytes else len(self.store)

    def use_sizes(self, size_of, s_per_byte: float) -> None:
        """Objects have sizes: ``size_of(key)`` bytes. They fill the store by size (a
        byte capacity binds through the policy), hits and misses are counted in bytes
        too, and an answer carrying an object takes ``size x s_per_byte`` longer."""
        self._size_of = size_of
        self._s_per_byte = s_per_byte
        self._start = self._start_sized  # type: ignore[method-assign]

    def _reply_delay(self, size: int) -> float:
        """The reply hop of an answer carrying an object of ``size`` bytes (sized runs)."""
        d = self._transit(self.name, CLIENT)
        if d >= 0.0 and self._s_per_byte:
            d += size * self._s_per_byte
        return d

    # -- requests -----------------------------------------------------------------------

    def on_request(self, req: Request) -> None:
        self._touch(self.index)
        if not self.alive:
            self.dropped += 1
            return
        self.requests += 1
        req.epoch = self.epoch
        now = self.env.now
        slots = self._slots
        if slots and slots[0][0] <= now:
            self._free_slots(now)
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
        """Service starts: look the key up, hold a slot until the service ends. (Objects
        without sizes; a sized run uses :meth:`_start_sized`, the same steps with the
        bytes counted, set by :meth:`use_sizes`: the hot path tests nothing for sizes.)"""
        if self._inbox and self._inbox[0][0] <= now:
            self._apply_inbox(now)
        key = req.key
        version = self.store.get(key)
        if version is not MISS and self.ttl_s and self._expiry.get(key, 0.0) <= now:
            self.store.discard(key)
            self.directory.remove(key, self.index)
            if self._stale or key in self._conv_keys:
                self._gone(key, self._expiry[key])
            version = MISS
        s = self.service_s * self.slow_factor
        if self.exponential:
            s *= self._service_draw()
        end = now + s
        if version is MISS:
            if self.leases is not None and self.leases.wait(req, key, now, s, end):
                return
            self.misses += 1
            self.obs.misses += 1
            self._hk_miss(key)
            heappush(self._slots, (end, next(self._seq), None, 0.0))
            if self.coalesce:
                pending = self._fetching.get(key)
                if pending is not None and now - pending[0] < self.fetch_timeout_s:
                    pending[1].append((req, end))  # a read of this key is under way: wait for it
                    return
                self._fetching[key] = (now, [(req, end)])
            self.schedule(s, self._fetch, req)
        else:
            self.hits += 1
            self.obs.hits += 1
            self._hk_hit(key)
            req.version = version
            if version < self._versions.get(key, 0):
                self.obs.stale_reads += 1
            heappush(self._slots, (end, next(self._seq), req, self._transit(self.name, CLIENT)))
            if self._release_at is not None:
                self._release_at(end, req)

    def _start_sized(self, req: Request, now: float) -> None:
        """:meth:`_start` in a sized run: hits and misses counted in bytes too, and a
        hit's answer carries its object."""
        if self._inbox and self._inbox[0][0] <= now:
            self._apply_inbox(now)
        key = req.key
        version = self.store.get(key)
        if version is not MISS and self.ttl_s and self._expiry.get(key, 0.0) <= now:
            self.store.discard(key)
            self.directory.remove(key, self.index)
            if self._stale or key in self._conv_keys:
                self._gone(key, self._expiry[key])
            version = MISS
        s = self.service_s * self.slow_factor
        if self.exponential:
            s *= self._service_draw()
        end = now + s
        if version is MISS:
            if self.leases is not None and self.leases.wait(req, key, now, s, end):
                return
            self.misses += 1
            self.obs.misses += 1
            self._hk_miss(key)
            self.obs.miss_bytes += self._size_of(key)
            heappush(self._slots, (end, next(self._seq), None, 0.0))
            if self.coalesce:
                pending = self._fetching.get(key)
                if pending is not None and now - pending[0] < self.fetch_timeout_s:
                    pending[1].append((req, end))  # a read of this key is under way: wait for it
                    return
                self._fetching[key] = (now, [(req, end)])
            self.schedule(s, self._fetch, req)
        else:
            self.hits += 1
            self.obs.hits += 1
            self._hk_hit(key)
            req.version = version
            if version < self._versions.get(key, 0):
                self.obs.stale_reads += 1
            size = self._size_of(key)
            self.obs.hit_bytes += size
            heappush(self._slots, (end, next(self._seq), req, self._reply_delay(size)))
            if self._release_at is not None:
                self._release_at(end, req)

    def _wake(self, epoch: int) -> None:
        """The first slot to free while requests wait: start as many as are free."""
        if epoch != self.epoch:
            return  # killed since; the queue it was for is gone
        self._wake_armed = False
        now = self.env.now
        self._free_slots(now)
        slots, queue = self._slots, self.queue
        while queue and len(slots) < self.concurrency:
            self._start(queue.popleft(), now)
        if queue:
            self._wake_armed = True
            self.schedule(slots[0][0] - now, self._wake, epoch)

    def _respond(self, req: Request, sent_at: float) -> None:
        """Answer a read the database has answered (sent at ``sent_at``)."""
        if req.version < self._versions.get(req.key, 0):
            self.obs.stale_reads += 1
        if self._s_per_byte:  # the answer carries the object
            self._answer(req, sent_at, self._reply_delay(self._size_of(req.key)))
        else:
            self._answer(req, sent_at, self._transit(self.name, CLIENT))

    # -- read-through -------------------------------------------------------------------

    def _fetch(self, req: Request) -> None:
        """A miss's service has ended: read the key from the database."""
        if req.epoch != self.epoch:
            return  # the node died while serving it
        self.net.send(self.name, self.db.ENDPOINT, self.db.on_read, req)

    def on_fetched(self, req: Request) -> None:
        if not self.alive or req.epoch != self.epoch:
            return
        self._touch(self.index)
        now = self.env.now
        if self._inbox and self._inbox[0][0] <= now:
            self._apply_inbox(now)
        if self.leases is None or self.leases.valid(req):
            self._fill(req.key, req.version, now)
        if self.coalesce:
            pending = self._fetching.get(req.key)
            if pending is not None and pending[1][0][0] is req:
                del self._fetching[req.key]
                for waiter, end in pending[1]:
                    waiter.version = req.version
                    self._respond(waiter, end if end > now else now)
                return
        self._respond(req, now)

    def _fill(self, key: int, version: int, now: float) -> None:
        stale = self._stale
        if stale and key in stale:
            self._gone(key, now)  # a stale entry replaced (the tracker sees a replacement in added())
        size_of = self._size_of
        evicted = self.store.put(key, version) if size_of is None else self.store.put(key, version, size_of(key))
        directory, i = self.directory, self.index
        if evicted:
            self.evictions += len(evicted)
            tracked = self._conv_keys
            for k in evicted:
                directory.remove(k, i)
                if stale or k in tracked:
                    self._gone(k, now)
                if self.ttl_s:
                    self._expiry.pop(k, None)
        if key not in self.store:
            return
        holders = directory.holders.get(key)  # directory.add, inlined (every fill)
        if holders is None:
            directory.holders[key] = {i}
        else:
            holders.add(i)
        if self.ttl_s:
            self._expiry[key] = now + self.ttl_s
        versions = self._versions
        if key in versions:  # a written key (tracked keys among them); else older is False
            older = version < versions[key]  # the database has moved on
            if key in self._conv_keys:
                self._conv.added(self.name, key, version, now, now + self.ttl_s if self.ttl_s else _INF)
            elif older and self._conv is not None:  # reopens its key's latest write
                self._conv.older_copy(self.name, key, version, now, now + self.ttl_s if self.ttl_s else _INF)
        else:
            older = False
        if key in directory.recent:
            pending = directory.pending_for(key, i, now)
            for arrival, v in pending:
                self.deliver(arrival, key, v)  # written before the fill, its message still on its way
            if pending:
                return
        if older:
            # a stale set: the database has moved on and no message on its way will say so
            self.obs.stale_sets += 1
            self._stale[key] = now

    # -- from the database --------------------------------------------------------------

    def deliver(self, arrival: float, key: int, version: int) -> None:
        """An invalidation of ``key`` (or, under write-through, its new ``version``) that
        arrives at ``arrival``.

        It is applied when it is due, but lazily: the next time anything looks at the
        store (a lookup, a fill, a catch-up) every message due by then is applied
        first. Nothing reads the store in between, so the outcome is the same as
        applying each one on arrival, without an event per message. Applying them out
        of order among themselves, or one twice, is harmless: an invalidation removes
        the key, an update only ever raises its version."""
        heappush(self._inbox, (arrival, key, version))
        self._touch(self.index)

    # -- faults -------------------------------------------------------------------------

    def kill(self) -> None:
        self.catch_up()  # what arrived, and the answers that left, before the failure
        self._touch(self.index)
        self.alive = False
        self.down_since = self.env.now
        self.epoch += 1  # work in service or in the queue is lost
        self._slots.clear()
        self._wake_armed = False
        self.queue.clear()
        self._fetching.clear()
        if self.leases is not None:
            self.leases.clear()
        now = self.env.now
        for key in self.store.keys():
            self.directory.remove(key, self.index)
            if self._stale or key in self._conv_keys:
                self._gone(key, now)
        self.store.clear()
        self._expiry.clear()

    def restart(self) -> None:
        self.catch_up()  # what arrived while it was down is lost
        self._touch(self.index)
        self.alive = True
        self.down_since = None
        self.slow_factor = 1.0

    # -- consistency --------------------------------------------------------------------

    def _gone(self, key: int, t: float) -> None:
        """``key``'s entry left the store (or was replaced) as of ``t``: close its stale
        interval, and tell the convergence tracker."""
        since = self._stale.pop(key, None)
        if since is not None:
            if self.ttl_s:
                t = min(t, self._expiry.get(key, t))  # it could not be served once expired
            self.stale_time_s += max(0.0, t - max(since, self.measure_from_s))
        if key in self._conv_keys:
            self._conv.removed(self.name, key, t)

    def open_stale_time(self, now: float) -> float:
        """The stale time of the entries still stale at ``now`` (after warm-up)."""
        m, exp = self.measure_from_s, self._expiry if self.ttl_s else {}
        return sum(max(0.0, min(now, exp.get(k, now)) - max(since, m)) for k, since in self._stale.items())

    def copy_of(self, key: int) -> tuple[int, float] | None:
        """(version, expiry) of this node's copy of ``key``, or None (for the convergence
        tracker, at a write; the caller has caught the node up)."""
        v = self.store.peek(key)
        if v is MISS:
            return None
        return v, (self._expiry.get(key, _INF) if self.ttl_s else _INF)
