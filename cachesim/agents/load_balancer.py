"""The load balancer: routes reads to cache nodes and health-checks them.

It learns that a node is down only through its periodic health check, so between a
failure and the next check requests still go to the dead node (and time out); then
routing moves around it. A node that answers again is routed to again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simpy.events import Timeout

from ..config import SimConfig
from ..environment import SimEnvironment
from ..events import EventKind
from ..metrics import EventLog
from ..policies.routing import make_router
from ..rng import Stream

if TYPE_CHECKING:
    from .cache_node import CacheNode
    from .network import Network


class LoadBalancer:
    ENDPOINT = "balancer"

    def __init__(
        self,
        env: SimEnvironment,
        cfg: SimConfig,
        nodes: list[CacheNode],
        net: Network,
        stream: Stream,
        events: EventLog,
    ) -> None:
        self.env = env
        self.nodes = nodes
        self.net = net
        self.events = events
        self.interval_s = cfg.cluster.health_check_interval_s
        self.believed_up = [True] * len(nodes)
        self.router = make_router(
            cfg.cluster.routing, [n.name for n in nodes], virtual_nodes=cfg.cluster.virtual_nodes, stream=stream
        )
        #: Requests sent to each node and not answered yet (the router's own array
        #: under least_outstanding routing, which it reads at every pick).
        self.outstanding = self.router.outstanding
        self.detections = 0
        #: With a gutter pool under consistent hashing a dead node stays on the ring and
        #: its keys go to the gutter (the clients check ``believed_up``), not to the survivors.
        self.keep_ring = cfg.cluster.gutter_nodes > 0 and cfg.cluster.routing == "consistent_hash"
        self._phase = stream.uniform()

    def outstanding_counts(self) -> list[int]:
        """Requests sent to each node and not answered yet."""
        counts = getattr(self.router, "counts", None)
        return [int(x) for x in (counts() if counts else self.outstanding)]

    def start(self) -> None:
        # Health checks run on their own clock: the first one at a random phase, so a
        # fault is noticed anywhere from 0 to one interval after it happens.
        ev = Timeout(self.env, self.interval_s * self._phase)
        ev.callbacks.append(self._check)

    def _schedule_check(self) -> None:
        ev = Timeout(self.env, self.interval_s)
        ev.callbacks.append(self._check)

    def _check(self, _ev) -> None:
        """Probe every node; a node answers if it is alive and reachable. (The answers
        are gathered in one pass, and compared with what the balancer believes as one
        list: most checks change nothing, and a check then costs little per node.)"""
        net = self.net
        if net.partitioned():
            reachable, me = net.reachable, self.ENDPOINT
            answers = [n.alive and reachable(me, n.name) for n in self.nodes]
        else:
            answers = [n.alive for n in self.nodes]
        if answers == self.believed_up:
            self._schedule_check()
            return
        changed = False
        now = self.env.now
        for node, ok in zip(self.nodes, answers, strict=True):
            if ok != self.believed_up[node.index]:
                self.believed_up[node.index] = ok
                changed = True
                self.detections += 1
                if ok:
                    self.events.add(
                        now,
                        EventKind.NODE_UP_DETECTED,
                        "balancer",
                        f"balancer sees {node.name} healthy again; routing to it",
                        node.name,
                    )
                else:
                    since = f" ({now - node.down_since:.2f} s after it failed)" if node.down_since is not None else ""
                    self.events.add(
                        now,
                        EventKind.NODE_DOWN_DETECTED,
                        "balancer",
                        f"balancer marked {node.name} down{since}; routing around it",
                        node.name,
                    )
        if changed and not self.keep_ring:
            self.router.set_healthy([i for i, up in enumerate(self.believed_up) if up])
        self._schedule_check()
