"""The engine's event loop: SimEnvironment, simpy's queue with plain message entries
beside simpy events, a feed, and interruptible runs."""

import pytest
import simpy

import cachesim
from cachesim.environment import SimEnvironment, SimpyLayoutError, _check_layout


def run_until(env, until, feed=None):
    if feed is not None:
        env.set_feed(feed)
    env.run(until=until)


def _world(log, messages_as_simpy_timeouts=False):
    env = simpy.Environment() if messages_as_simpy_timeouts else SimEnvironment()
    schedule = env.call_later if not messages_as_simpy_timeouts else None

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
    env = SimEnvironment()
    run_until(env, 1.0)
    with pytest.raises(ValueError, match="until"):
        run_until(env, 1.0)


def test_failed_simpy_event_crashes_the_run_as_in_simpy():
    env = SimEnvironment()
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
    assert log == [("feed", 0.1), ("message", 0.25, 0.25), ("process", 0.5), ("message", 1.0, 1.0), ("feed", 1.0)]
    run_until(env, 3.0, feed)
    assert log[5:] == [
        ("message", 1.5, 1.5),
        ("timeout", 1.5),
        ("process", 1.5),
        ("feed", 1.5),
        ("message", 2.0, 2.0),
        ("feed", 2.5),
    ]
    assert feed.next_t == float("inf") and env.now == 3.0


def test_step_and_run_to_exhaustion_process_messages_and_simpy_events_alike():
    """``env.step()`` and ``env.run()`` (no until) work on a queue holding both kinds,
    in the same order as the fast loop."""
    log: list = []
    env = _world(log)
    ref_log: list = []
    ref = _world(ref_log, messages_as_simpy_timeouts=True)
    env.run()
    ref.run()
    assert log == ref_log and len(log) == 7
    with pytest.raises(simpy.core.EmptySchedule):
        env.step()


def test_run_until_an_event():
    env = SimEnvironment()
    log = []
    env.call_later(0.5, log.append, "message")
    done = env.timeout(1.0, value="done")
    env.call_later(2.0, log.append, "late")
    assert env.run(until=done) == "done"
    assert log == ["message"] and env.now == 1.0


def test_interrupt_and_resume_process_exactly_the_same_events():
    """An advance interrupted between two events returns False and resumes where it
    stopped: the log is the same as one uninterrupted advance."""

    def world(interrupt_every=0):
        env = SimEnvironment()
        log = []

        def tick(i):
            log.append((env.now, i))
            if interrupt_every and i % interrupt_every == 0:
                env.interrupt()
            if i < 200:
                env.call_later(0.01, tick, i + 1)
                env.timeout(0.005).callbacks.append(lambda e, i=i: log.append((env.now, "t", i)))

        env.call_later(0.0, tick, 0)
        return env, log

    env, log = world()
    assert env.advance(5.0) and env.now == 5.0
    env2, log2 = world(interrupt_every=17)
    calls = 1
    while not env2.advance(5.0):
        calls += 1
        assert env2.now < 5.0
    assert calls == 1 + 200 // 17 + 1 and log2 == log and env2.now == 5.0


def test_stop_mid_interval_changes_nothing():
    """Simulation.stop() from another thread interrupts mid-snapshot; resuming gives
    the same run as never stopping."""
    cfg = cachesim.load_scenario("node_failure").with_overrides({"duration_s": 12, "snapshot_interval_s": 2.0})
    ref = cachesim.simulate(cfg)
    sim = cachesim.Simulation(cfg)
    stops = 0
    stopper = {"n": 0}
    real = sim.clients.fire

    def fire_and_maybe_stop():
        stopper["n"] += 1
        if stopper["n"] % 4000 == 0:
            sim.stop()
        real()

    sim.clients.fire = fire_and_maybe_stop
    sim.env.set_feed(sim.clients)
    while not sim.finished:
        for _ in sim.stream():
            pass
        stops += sim.status == "stopped"
    assert stops >= 3
    res = sim.result()
    assert res.summary == ref.summary
    assert res.timeseries().equals(ref.timeseries())


def test_layout_check_fails_loudly_on_a_different_simpy(monkeypatch):
    """If a new simpy queued entries of another shape, cachesim refuses to run."""
    env = simpy.Environment()

    def schedule(event, priority=1, delay=0):
        env._queue.append((env._now + delay, priority, event))  # no insertion counter

    monkeypatch.setattr(env, "schedule", schedule)
    with pytest.raises(SimpyLayoutError, match="simpy"):
        _check_layout(env)
