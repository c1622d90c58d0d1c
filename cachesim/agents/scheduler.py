"""The hot path's events on simpy's queue, and the loop that runs them.

A message between agents is the commonest event of a run, and all it needs is a
handler to call with a value at a point in simulated time. Making each one a simpy
``Event`` (an object, a callbacks list, a trip through ``Environment.step``) costs
more than the model's own work, so the hot path pushes plain entries onto simpy's
own heap instead::

    (time, NORMAL, eid, handler, value)

next to simpy's ``(time, priority, eid, event)``. Both use simpy's clock and its
insertion counter, so the order of events (time, then priority, then insertion) is
exactly simpy's and ties break deterministically. :func:`run_until` is
``Environment.run(until=t)`` for a queue holding both kinds: simpy events (the
balancer's health checks, chaos, warm-up) get simpy's treatment, callbacks and
failure checks included; a message is one call. A run's environment must be advanced
with :func:`run_until`, not ``env.run``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any, Protocol

import simpy
from simpy.core import NORMAL, URGENT
from simpy.events import Event


def scheduler(env: simpy.Environment) -> Callable[..., None]:
    """``schedule(delay, handler, value=None)`` calls ``handler(value)`` after ``delay``
    (a closure over simpy's heap: the fewest lookups per call)."""
    queue = env._queue  # noqa: SLF001 -- simpy's heap, used as Environment.schedule does
    eid = env._eid  # noqa: SLF001

    def schedule(delay: float, handler: Callable[[Any], None], value: Any = None) -> None:
        heappush(queue, (env._now + delay, NORMAL, next(eid), handler, value))  # noqa: SLF001

    return schedule


class Feed(Protocol):
    """Events whose times are known in advance (open-loop arrivals): the next one is
    at ``next_t`` (``inf`` when there is none); ``fire()`` handles it, at that time,
    and moves ``next_t`` on. Nothing else may move ``next_t``."""

    next_t: float

    def fire(self) -> None: ...


class _NoFeed:
    next_t = math.inf

    def fire(self) -> None:  # pragma: no cover - never due
        raise AssertionError


def run_until(env: simpy.Environment, until: float, feed: Feed | None = None) -> None:
    """Process every event before ``until``, then set the clock to ``until``.

    Like ``env.run(until=until)``: the stop is an URGENT event at ``until``, so events
    at exactly ``until`` wait for the next call. A ``feed``'s events are merged in
    time order without going through the queue (at a tie, the queue's go first)."""
    if until <= env._now:  # noqa: SLF001
        raise ValueError(f"until ({until}) must be greater than the current simulation time")
    stop = Event(env)
    stop._ok = True  # noqa: SLF001
    stop._value = None  # noqa: SLF001
    env.schedule(stop, URGENT, until - env._now)  # noqa: SLF001
    queue = env._queue  # noqa: SLF001
    if feed is None:
        feed = _NoFeed()
    fire = feed.fire
    t = feed.next_t  # only fire() moves it
    while True:
        if t < queue[0][0]:  # the queue is never empty: the stop is in it
            env._now = t  # noqa: SLF001
            fire()
            t = feed.next_t
            continue
        item = heappop(queue)
        try:
            env._now, _, _, handler, value = item  # noqa: SLF001 -- a message
        except ValueError:
            pass
        else:
            handler(value)
            continue
        env._now = item[0]  # noqa: SLF001 -- a simpy event, processed as Environment.step does
        event = item[3]
        if event is stop:
            return
        callbacks, event.callbacks = event.callbacks, None
        for callback in callbacks:
            callback(event)
        if not event._ok and not hasattr(event, "_defused"):  # noqa: SLF001
            exc = type(event._value)(*event._value.args)  # noqa: SLF001
            exc.__cause__ = event._value  # noqa: SLF001
            raise exc
