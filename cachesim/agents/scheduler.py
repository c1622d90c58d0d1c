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


class Scheduler:
    """``schedule(delay, handler, value)`` calls ``handler(delivery)`` after ``delay``."""

    __slots__ = ("env", "_queue", "_eid")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._queue = env._queue  # noqa: SLF001 -- simpy's heap, used as Environment.schedule does
        self._eid = env._eid  # noqa: SLF001

    def schedule(self, delay: float, handler: Callable[[Any], None], value: Any = None) -> None:
        heappush(self._queue, (self.env._now + delay, NORMAL, next(self._eid), Delivery(handler, value)))  # noqa: SLF001
