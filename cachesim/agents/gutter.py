"""The gutter pool ("Scaling Memcache at Facebook", section 3.3).

A few spare cache nodes outside the routing ring. A client whose read gets no answer
from its node (a timeout, or its node is believed down) reissues it to the gutter: the
gutter node is chosen by a hash of the key, a miss there reads the database and fills
the gutter with a short TTL (``cluster.gutter_ttl_s``). No invalidation reaches the
gutter (it is not in the database's directory), so a gutter copy may be stale until it
expires: those reads count as stale reads like any other.

Under consistent hashing the balancer then keeps a dead node on the ring and its keys
go to the gutter, instead of being rehashed onto the survivors (which can overload a
survivor that inherits a hot key and evicts the survivors' own keys); under the other
routing policies the balancer routes around a dead node as before and the gutter takes
the retries of the requests that timed out.
"""

from __future__ import annotations

from ..config import SimConfig
from ..environment import SimEnvironment
from ..rng import Stream
from .cache_node import CacheNode
from .directory import Directory
from .network import Network
from .observer import Observer


class GutterPool:
    def __init__(self, env: SimEnvironment, cfg: SimConfig, stream: Stream, obs: Observer, net: Network) -> None:
        c = cfg.cluster
        gcfg = cfg.with_overrides({"cluster.ttl_s": c.gutter_ttl_s, "cluster.leases.enabled": False})
        #: the gutter's own directory: the database never sends it a message
        self.directory = Directory()
        # hot keys are tracked per cluster node (the sketches are indexed by node): not here
        self.nodes = [
            CacheNode(env, gcfg, i, stream, obs, net, self.directory, hot_keys=False) for i in range(c.gutter_nodes)
        ]
        for i, node in enumerate(self.nodes):
            node.name = f"gutter-{i + 1}"

    def node_for(self, key: int) -> CacheNode:
        """The gutter node of ``key`` (a multiplicative hash: deterministic, spread)."""
        return self.nodes[((key * 2654435761) & 0xFFFFFFFF) % len(self.nodes)]
