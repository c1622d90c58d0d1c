"""The cheapest way to put a callback on simpy's event queue.

simpy's ``Environment.step`` needs only two things of a scheduled object: its
``callbacks`` list and its ``_ok`` flag. A :class:`Delivery` has just those (and the
message as ``value``), so the hot path skips ``Timeout``'s argument checks and
bookkeeping while keeping simpy's queue, clock and ordering (time, priority,
insertion sequence): ties still break deterministically.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush
from typing import Any

import simpy
from simpy.core import NORMAL


class Delivery:
    """A message due at a point in simulated time."""

    __slots__ = ("callbacks", "value", "_ok")

    def __init__(self, handler: Callable[[Any], None], value: Any) -> None:
        self.callbacks = [handler]
        self.value = value
        self._ok = True


def scheduler(env: simpy.Environment) -> Callable[..., None]:
    """``schedule(delay, handler, value=None)`` calls ``handler(delivery)`` after ``delay``
    (a closure over simpy's heap: the fewest lookups per call)."""
    queue = env._queue  # noqa: SLF001 -- simpy's heap, used exactly as Environment.schedule does
    eid = env._eid  # noqa: SLF001

    def schedule(delay: float, handler: Callable[[Any], None], value: Any = None) -> None:
        heappush(queue, (env._now + delay, NORMAL, next(eid), Delivery(handler, value)))  # noqa: SLF001

    return schedule
