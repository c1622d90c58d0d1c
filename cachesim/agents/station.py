"""A service station: ``concurrency`` parallel slots in front of a bounded FIFO queue.

The database serves requests this way. A request that finds a free slot starts at
once (one simpy event: its service end); otherwise it waits in the queue, or is
dropped when the queue is full. No simpy Resource is involved, so a request that does
not queue costs no extra events. (Cache nodes, on every read's path, go one step
further and need no event for a hit's service end: see ``cache_node.py``.)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from ..rng import Stream


class Station:
    """Mixed into an agent that defines ``_served(request)``, which must call
    :meth:`_release` once it no longer needs its slot."""

    slow_factor: float = 1.0
    schedule: Callable[..., None]

    def _init_station(
        self, *, service_ms: float, exponential: bool, concurrency: int, queue_limit: int, stream: Stream
    ) -> None:
        self.service_s = service_ms / 1000.0
        self.exponential = exponential
        self.concurrency = concurrency
        self.queue_limit = queue_limit
        self._stream = stream
        self.busy = 0
        self.queue: deque[Any] = deque()
        self.rejected = 0  # arrived to a full queue

    def _admit(self, req: Any) -> None:
        if self.busy < self.concurrency:
            self.busy += 1
            s = self.service_s * self.slow_factor  # _start, inlined: the common case
            if self.exponential:
                s *= self._stream.exponential()
            self.schedule(s, self._served, req)
        elif len(self.queue) < self.queue_limit:
            self.queue.append(req)
        else:
            self.rejected += 1

    def _start(self, req: Any) -> None:
        s = self.service_s * self.slow_factor
        if self.exponential:
            s *= self._stream.exponential()
        self.schedule(s, self._served, req)

    def _release(self) -> None:
        """The slot of a finished request goes to the next one waiting, if any."""
        if self.queue:
            self._start(self.queue.popleft())
        else:
            self.busy -= 1

    def _served(self, req: Any) -> None:  # pragma: no cover - defined by the agent
        raise NotImplementedError
