"""The engine's event loop: simpy's queue with plain message entries beside simpy events."""

import pytest
import simpy

from cachesim.agents.scheduler import run_until, scheduler


def _world(log, messages_as_simpy_timeouts=False):
    env = simpy.Environment()
    schedule = scheduler(env)

    def proc():
        yield env.timeout(0.5)
        log.append(("process", env.now))
        yield env.timeout(1.0)
        log.append(("process", env.now))

    env.process(proc())
    def record(v):
        log.append(("message", env.now, v))

    for t in (0.25, 1.0, 1.5, 2.0):
        if messages_as_simpy_timeouts:
            env.timeout(t, value=t).callbacks.append(lambda e: record(e.value))
        else:
            schedule(t, record, t)
    env.timeout(1.5).callbacks.append(lambda e: log.append(("timeout", env.now)))
    return env


def test_order_and_stop_match_simpy():
    """Messages on the queue run in exactly the order simpy gives the same entries as
    Timeouts, ties included, and a stop at ``until`` leaves events at ``until`` for
    the next call, as ``Environment.run(until=...)`` does."""
    log: list = []
    env = _world(log)
    ref_log: list = []
    ref = _world(ref_log, messages_as_simpy_timeouts=True)
    for until in (1.5, 3.0):
        run_until(env, until)
        ref.run(until=until)
        assert log == ref_log and env.now == ref.now == until
    assert len(log) == 7
    assert [e for e in log if e[1] == 1.5] == [("message", 1.5, 1.5), ("timeout", 1.5), ("process", 1.5)]


def test_until_must_be_in_the_future():
    env = simpy.Environment()
    run_until(env, 1.0)
    with pytest.raises(ValueError, match="until"):
        run_until(env, 1.0)


def test_failed_simpy_event_crashes_the_run_as_in_simpy():
    env = simpy.Environment()
    ev = env.event()
    ev.fail(RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        run_until(env, 1.0)


class _Feed:
    """Arrivals at fixed times, recorded when fired."""

    def __init__(self, env, times, log):
        self.env, self._times, self.log = env, list(times), log
        self.next_t = self._times.pop(0)

    def fire(self):
        self.log.append(("feed", self.env.now))
        self.next_t = self._times.pop(0) if self._times else float("inf")


def test_feed_merges_in_time_order_queue_first_at_ties():
    log: list = []
    env = _world(log)
    feed = _Feed(env, [0.1, 1.0, 1.5, 2.5], log)
    run_until(env, 1.5, feed)
    assert log == [("feed", 0.1), ("message", 0.25, 0.25), ("process", 0.5),
                   ("message", 1.0, 1.0), ("feed", 1.0)]
    run_until(env, 3.0, feed)
    assert log[5:] == [("message", 1.5, 1.5), ("timeout", 1.5), ("process", 1.5), ("feed", 1.5),
                       ("message", 2.0, 2.0), ("feed", 2.5)]
    assert feed.next_t == float("inf") and env.now == 3.0
