"""Cost guards of the engine's hot path that no result would show: the client
population keeps CPython's fast attribute layout, and the convergence tracker's
summary, computed at once with numpy, equals the per-write computation it replaced."""

from __future__ import annotations

import math
import random
import sys
from bisect import bisect_left

import pytest

import cachesim
from cachesim.agents.consistency import _WITHIN_EPS, WITHIN_S, _summarize
from cachesim.metrics import GROWTH, INV_LOG2_G, LOG2_MIN, MIN_MS, N_BUCKETS


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the 29-attribute inline layout is CPython 3.11's")
def test_clients_keep_the_inline_attribute_layout():
    # CPython 3.11 keeps at most 29 attributes of an instance inline; one more and every
    # attribute and method lookup of Clients (per request: fire, _send, answer) goes
    # through a dict (issue 13's gutter attribute did this: +2-4% instructions per request)
    cfg = cachesim.load_scenario("baseline").with_overrides({"duration_s": 0.5, "warmup_s": 0})
    sim = cachesim.Simulation(cfg)
    sim.run()
    assert len(vars(sim.clients)) <= 29, sorted(vars(sim.clients))


def _per_write(times: list[float], zeros: int) -> tuple:
    """The summary as the tracker computed it before, one write at a time."""
    band, counts, converged, total, top = [0] * (len(WITHIN_S) + 1), [0] * N_BUCKETS, 0, 0.0, 0.0
    for d in times:
        band[bisect_left(_WITHIN_EPS, d)] += 1
        ms = d * 1000.0
        if ms <= MIN_MS:
            counts[0] += 1
        else:
            b = math.floor((math.log2(ms) - LOG2_MIN) * INV_LOG2_G) + 1
            counts[b if b < N_BUCKETS else N_BUCKETS - 1] += 1
        converged += 1
        total += d
        top = max(top, d)
    band[0] += zeros
    counts[0] += zeros
    converged += zeros
    within = [sum(band[: i + 1]) for i in range(len(WITHIN_S))]
    return converged, within, counts, total / converged, top


def test_convergence_summary_equals_the_per_write_computation():
    rng = random.Random(13)
    edges = [MIN_MS * GROWTH**i / 1000.0 for i in range(N_BUCKETS + 1)]  # bucket edges, in seconds
    for _ in range(50):
        times = [10.0 ** rng.uniform(-9.0, 3.0) for _ in range(rng.randint(1, 300))]
        times += list(WITHIN_S) + [1e-6, 5e8]  # the thresholds themselves, the smallest bucket, past the last
        for e in rng.sample(edges, 30):  # on, just under and just over bucket edges
            times += [e, math.nextafter(e, 0.0), math.nextafter(e, 1.0)]
        rng.shuffle(times)
        zeros = rng.randint(0, 4)
        got = _summarize(times, zeros, unconverged=2)
        converged, within, counts, mean, top = _per_write(times, zeros)
        assert got["converged"] == converged and got["unconverged"] == 2
        assert got["within"] == within and all(type(w) is int for w in got["within"])
        assert got["counts"].tolist() == counts
        assert got["mean_s"] == mean and got["max_s"] == top  # exactly: added in the same order


def test_convergence_summary_of_no_writes():
    got = _summarize([], 0, 3)
    assert (got["converged"], got["unconverged"], got["within"]) == (0, 3, [0] * len(WITHIN_S))
    assert got["counts"].sum() == 0 and math.isnan(got["mean_s"]) and math.isnan(got["max_s"])
    only_at_once = _summarize([], 5, 0)
    assert only_at_once["within"] == [5] * len(WITHIN_S) and only_at_once["counts"][0] == 5
    assert only_at_once["mean_s"] == 0.0 and only_at_once["max_s"] == 0.0
