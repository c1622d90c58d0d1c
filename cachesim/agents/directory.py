"""Which nodes may hold each key, and the writes whose messages may still be in flight.

A write is broadcast to every cache node (an invalidation, or under write-through the
new version), but a message only has an effect at a node that holds the key when it
arrives. That is a node that held the key when the write happened, or one that fills
the key afterwards, before the message would have arrived. So the database draws
every node's arrival at once (one vectorised draw, :meth:`Network.fanout`), delivers
to the nodes that hold the key now, and records the write here; a node that fills the
key later looks up the writes whose message to it is still on its way
(:meth:`pending_for`). The outcome is that of sending every node its message, at O(1)
Python work per write however many nodes there are (plus one delivery per holder).

``holders`` may name a node that no longer holds a key (an entry expired, or its
invalidation has arrived but not been applied yet): a message to such a node changes
nothing, as it would not in the full model.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class Directory:
    def __init__(self) -> None:
        #: key -> indexes of the nodes that may hold it
        self.holders: dict[int, set[int]] = {}
        #: key -> its recent writes, oldest first: (version, time, delay to each node, lost mask)
        self.recent: dict[int, deque[tuple[int, float, np.ndarray, np.ndarray | None]]] = {}
        #: every recorded write in write order: (its last message's arrival, key)
        self._log: deque[tuple[float, int]] = deque()

    # -- holders ------------------------------------------------------------------------

    def add(self, key: int, node: int) -> None:
        h = self.holders.get(key)
        if h is None:
            self.holders[key] = {node}
        else:
            h.add(node)

    def remove(self, key: int, node: int) -> None:
        h = self.holders.get(key)
        if h is not None:
            h.discard(node)
            if not h:
                del self.holders[key]

    # -- writes in flight ---------------------------------------------------------------

    def record(
        self, now: float, key: int, version: int, delays: np.ndarray, max_delay: float, lost: np.ndarray | None
    ) -> None:
        """Remember a write made ``now`` whose message reaches node ``i`` after
        ``delays[i]`` (unless ``lost[i]``), for as long as one may still be on its way."""
        log, recent = self._log, self.recent
        while log and log[0][0] <= now:  # the oldest write's messages have all arrived
            _, k = log.popleft()
            q = recent[k]
            q.popleft()
            if not q:
                del recent[k]
        log.append((now + max_delay, key))
        q = recent.get(key)
        if q is None:
            recent[key] = q = deque()
        q.append((version, now, delays, lost))

    def pending_for(self, key: int, node: int, now: float) -> list[tuple[float, int]]:
        """(arrival, version) of the writes of ``key`` whose message to ``node`` arrives
        after ``now``."""
        q = self.recent.get(key)
        if not q:
            return []
        out = []
        for version, t, delays, lost in q:
            if lost is not None and lost[node]:
                continue
            a = t + float(delays[node])
            if a > now:
                out.append((a, version))
        return out

    def in_flight(self) -> int:
        """Writes still remembered (bounded by the writes of the last max-delay)."""
        return len(self._log)
