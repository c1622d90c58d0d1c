"""Leases ("Scaling Memcache at Facebook", section 3.2.1), one :class:`Leases` per cache node.

A miss gets a token for its key. While the token is out (until its fill, an invalidation,
or ``interval_s``) other misses on the key wait ``backoff_s`` and look it up again (the
paper's "wait and retry"); an invalidation voids the token, so a fill that lost the race
to it is refused and no stale set happens. A node holds a :class:`Leases` only when
``cluster.leases.enabled``; without one its hot path pays one ``is None`` test per miss,
fill and invalidation.
"""

from __future__ import annotations

from heapq import heappush
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import LeaseConfig
    from .cache_node import CacheNode
    from .client import Request


class Leases:
    """The lease tokens of one node's keys."""

    __slots__ = ("node", "interval_s", "backoff_s", "tokens")

    def __init__(self, node: CacheNode, cfg: LeaseConfig) -> None:
        self.node = node
        self.interval_s = cfg.interval_s
        self.backoff_s = cfg.backoff_s
        #: key -> (the request that holds the key's token, when it was issued)
        self.tokens: dict[int, tuple[Request, float]] = {}

    def void(self, key: int) -> None:
        """An invalidation (or a new version) of ``key`` arrived: its token, if any, is
        void, so the fill that holds it will be refused."""
        self.tokens.pop(key, None)

    def clear(self) -> None:
        """The node died: every token is gone."""
        self.tokens.clear()

    def wait(self, req: Request, key: int, now: float, s: float, end: float) -> bool:
        """A miss on ``key`` whose service takes ``s`` (ending at ``end``): issue the key's
        token (False: go on as a miss), or, while another lookup holds it, tell this one
        to wait and look again (True)."""
        node = self.node
        if node.coalesce:
            pending = node._fetching.get(key)
            if pending is not None and now - pending[0] < node.fetch_timeout_s:
                return False  # it joins the read under way (coalesce_misses)
        held = self.tokens.get(key)
        if held is not None and now - held[1] < self.interval_s:
            node.obs.lease_waits += 1
            heappush(node._slots, (end, next(node._seq), None, 0.0))
            node.schedule(s + self.backoff_s, self.retry, req)
            return True
        self.tokens[key] = (req, now)
        # an invalidation must reach this node to void the token, held or not
        directory, i = node.directory, node.index
        holders = directory.holders.get(key)
        if holders is None:
            directory.holders[key] = {i}
        elif i not in holders:
            holders.add(i)
        if key in directory.recent:
            for arrival, v in directory.pending_for(key, i, now):
                node.deliver(arrival, key, v)
        return False

    def retry(self, req: Request) -> None:
        """A miss told to wait looks the key up again."""
        node = self.node
        if req.over or req.epoch != node.epoch:
            return  # timed out meanwhile, or the node died
        node.on_request(req)

    def valid(self, req: Request) -> bool:
        """A fill presents its token: stored if it is still the key's token (it is then
        used up), refused if an invalidation voided it or a newer one replaced it."""
        tokens = self.tokens
        held = tokens.get(req.key)
        if held is not None and held[0] is req:
            del tokens[req.key]
            return True
        self.node.obs.lease_refused_fills += 1
        return False
