"""The run's simpy environment, with a fast path for plain messages.

:class:`SimEnvironment` is a ``simpy.Environment`` and the only module of cachesim that
touches simpy's internals. It differs from simpy in three documented ways:

1. **Messages.** A message between agents is the commonest event of a run, and all it
   needs is a handler to call with a value at a point in simulated time. Making each
   one a simpy ``Event`` (an object, a callbacks list, a trip through ``step``) costs
   more than the model's own work, so :meth:`call_later` pushes a plain entry onto
   simpy's own heap::

       (time, NORMAL, eid, handler, value)      # beside simpy's (time, priority, eid, event)

   Both kinds share simpy's clock and insertion counter, so events are ordered exactly
   as simpy orders them (time, then priority, then insertion) and ties break
   deterministically. :meth:`step` and :meth:`run` process both kinds: a simpy event
   gets simpy's treatment (callbacks, failure checks), a message is one call.
2. **A feed.** Events whose times are known in advance (the clients' open-loop
   arrivals) are merged in by time from a :class:`Feed` instead of going through the
   heap (at a tie, the heap's events go first).
3. **A plain clock.** ``now`` is an ordinary attribute (simpy's is a property over
   ``_now``; here ``_now`` is the property, over ``now``), since agents read the clock
   on every request and an attribute costs a third of a property call.
4. **Interruptible runs.** :meth:`advance` is ``run(until=t)`` that another thread can
   interrupt with :meth:`interrupt` between two events; a later call resumes exactly
   where it stopped, so an interruption never changes what is simulated.

``simpy`` is pinned to the versions this was tested with (see requirements); the
constructor checks the heap's entry layout and fails loudly if a new simpy changed it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any, Protocol

import simpy
from simpy.core import NORMAL, URGENT, EmptySchedule, StopSimulation
from simpy.events import Event


class Feed(Protocol):
    """Events whose times are known in advance: the next one is at ``next_t`` (``inf``
    when there is none); ``fire()`` handles it, at that time, and moves ``next_t`` on.
    Nothing else may move ``next_t``."""

    next_t: float

    def fire(self) -> None: ...


class _NoFeed:
    next_t = math.inf

    def fire(self) -> None:  # pragma: no cover - never due
        raise AssertionError("the empty feed fired")


class SimpyLayoutError(RuntimeError):
    """The installed simpy lays out its event queue differently from the version
    cachesim was built and tested with."""


class SimEnvironment(simpy.Environment):
    """A simpy environment whose heap also holds plain messages (see the module doc)."""

    #: The current simulated time (an instance attribute: see the module doc, point 3).
    now: float = 0.0

    @property
    def _now(self) -> float:  # simpy's own code reads and writes the clock here
        return self.now

    @_now.setter
    def _now(self, value: float) -> None:
        self.now = value

    def __init__(self, initial_time: float = 0.0) -> None:
        super().__init__(initial_time)
        self._feed: Feed = _NoFeed()
        self._halt = False
        _check_layout(self)

    # -- scheduling ---------------------------------------------------------------------

    def call_later(self, delay: float, handler: Callable[[Any], None], value: Any = None) -> None:
        """Call ``handler(value)`` ``delay`` simulated seconds from now."""
        heappush(self._queue, (self.now + delay, NORMAL, next(self._eid), handler, value))

    def caller(self) -> Callable[[float, Callable[[Any], None], Any], None]:
        """:meth:`call_later` as a closure over the heap, for the hot path (the fewest
        lookups per call); ``value`` is required."""
        queue, eid = self._queue, self._eid

        def call_later(delay: float, handler: Callable[[Any], None], value: Any) -> None:
            heappush(queue, (self.now + delay, NORMAL, next(eid), handler, value))

        return call_later

    def set_feed(self, feed: Feed) -> None:
        """Merge ``feed``'s events into this environment's (one feed per environment)."""
        self._feed = feed

    # -- running ------------------------------------------------------------------------

    def peek(self) -> float:
        """The time of the next event, from the heap or the feed (``inf`` if none)."""
        q = self._queue[0][0] if self._queue else math.inf
        return min(q, self._feed.next_t)

    def step(self) -> None:
        """Process the next event, a simpy event, a message or the feed's.
        Raises ``simpy.core.EmptySchedule`` when there is none."""
        queue, feed = self._queue, self._feed
        q = queue[0][0] if queue else math.inf
        if feed.next_t < q:
            self.now = feed.next_t
            feed.fire()
            return
        if not queue:
            raise EmptySchedule()
        self._process(heappop(queue))

    def run(self, until: float | Event | None = None) -> Any:
        """simpy's ``run``: to a time, to an event, or until nothing is left."""
        if until is None or isinstance(until, Event):
            return super().run(until)  # simpy's loop, over this class's step()
        until = float(until)
        if until <= self.now:
            raise ValueError(f"until ({until}) must be greater than the current time")
        self._halt = False
        self.advance(until)
        return None

    def interrupt(self) -> None:
        """Make the :meth:`advance` under way return after the event it is processing
        (safe to call from another thread)."""
        self._halt = True

    def advance(self, until: float) -> bool:
        """Process every event before ``until``, then set the clock to ``until``, and
        return True; or return False, the clock at the last event processed, if
        :meth:`interrupt` was called meanwhile (a later call resumes exactly). Events at
        exactly ``until`` wait for the next call, as with ``run(until=...)``."""
        self._halt = False
        queue = self._queue
        feed = self._feed
        fire = feed.fire
        t = feed.next_t  # only fire() moves it
        while not self._halt:
            q = queue[0][0] if queue else math.inf
            if t < q:
                if t >= until:
                    break
                self.now = t
                fire()
                t = feed.next_t
                continue
            if q >= until:
                break
            item = heappop(queue)
            try:
                self.now, _, _, handler, value = item  # a message
            except ValueError:
                self._process(item)  # a simpy event
            else:
                handler(value)
        else:
            self._halt = False
            return False
        self.now = until
        return True

    def _process(self, item: tuple) -> None:
        """One heap entry: a message is a call; a simpy event is processed as simpy's
        ``Environment.step`` does."""
        if len(item) == 5:
            self.now, _, _, handler, value = item
            handler(value)
            return
        self.now, _, _, event = item
        callbacks, event.callbacks = event.callbacks, None
        for i, callback in enumerate(callbacks):
            try:
                callback(event)
            except StopSimulation:  # run(until=event): as simpy, keep the rest for later
                event.callbacks = callbacks[i + 1 :]
                self.schedule(event, URGENT - 1)
                raise
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc


def _check_layout(env: simpy.Environment) -> None:
    """simpy's heap entries must be ``(time, priority, eid, event)`` with an integer
    counter; anything else means a simpy this module was not written for."""
    probe = Event(env)
    env.schedule(probe, NORMAL, 0.0)
    entry = env._queue[0]
    ok = (
        isinstance(entry, tuple)
        and len(entry) == 4
        and entry[3] is probe
        and entry[1] == NORMAL
        and isinstance(entry[2], int)
        and hasattr(env, "_eid")
    )
    env._queue.clear()
    if not ok:
        raise SimpyLayoutError(
            f"simpy {simpy.__version__} queues {entry!r}; cachesim expects (time, priority, eid, event): "
            "install a simpy version from requirements.txt"
        )
