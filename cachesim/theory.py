"""Analytic references for checks and chart overlays.

- Che's approximation of LRU's hit ratio under the independent reference model
  (Che, Tung, Wang 2002; Fricker, Robert, Roberts 2012);
- the matching approximation for FIFO and random eviction (Martina, Garetto, Leonardi
  2014): an object is in the cache with probability p T / (1 + p T);
- M/M/1 and M/M/c mean response times (Erlang C).
"""

from __future__ import annotations

import math

import numpy as np


def _solve_increasing(f, target: float, hi: float = 1.0) -> float:
    """The x >= 0 with f(x) = target, for f increasing from f(0) = 0 (bisection)."""
    while f(hi) < target:
        hi *= 2.0
        if hi > 1e300:
            raise ValueError("no solution: the target exceeds what the function reaches")
    lo = 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


def _check(popularity: np.ndarray, capacity: int) -> np.ndarray:
    p = np.asarray(popularity, dtype=float)
    if p.ndim != 1 or p.size == 0 or np.any(p < 0) or not math.isclose(p.sum(), 1.0, rel_tol=1e-6):
        raise ValueError("popularity must be a non-empty vector of probabilities summing to 1")
    if capacity < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    return p


def che_characteristic_time(popularity: np.ndarray, capacity: int) -> float:
    """LRU's characteristic time T_C: sum_i (1 - exp(-p_i T)) = C."""
    p = _check(popularity, capacity)
    return _solve_increasing(lambda t: float(np.sum(-np.expm1(-p * t))), float(capacity))


def che_lru_hit_ratio(popularity: np.ndarray, capacity: int) -> float:
    """Che's approximation of LRU's hit ratio; 1.0 when everything fits."""
    p = _check(popularity, capacity)
    if capacity >= np.count_nonzero(p):
        return 1.0
    t = che_characteristic_time(p, capacity)
    return float(np.sum(p * -np.expm1(-p * t)))


def fifo_hit_ratio(popularity: np.ndarray, capacity: int) -> float:
    """FIFO's (and random eviction's) hit ratio: sum p_i^2 T / (1 + p_i T) with
    sum p_i T / (1 + p_i T) = C."""
    p = _check(popularity, capacity)
    if capacity >= np.count_nonzero(p):
        return 1.0
    t = _solve_increasing(lambda x: float(np.sum(p * x / (1.0 + p * x))), float(capacity))
    return float(np.sum(p * (p * t / (1.0 + p * t))))


def hit_ratio(policy: str, popularity: np.ndarray, capacity: int) -> float | None:
    """The analytic hit ratio for ``policy`` where one is known (lru, fifo), else None."""
    if policy == "lru":
        return che_lru_hit_ratio(popularity, capacity)
    if policy == "fifo":
        return fifo_hit_ratio(popularity, capacity)
    return None


def mm1_response_time(arrival_rate: float, service_rate: float) -> float:
    """Mean time in an M/M/1 system, 1 / (mu - lambda)."""
    if arrival_rate >= service_rate:
        raise ValueError("unstable: arrival rate must be below the service rate")
    return 1.0 / (service_rate - arrival_rate)


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (offered load a = lambda/mu)."""
    c, a = servers, offered_load
    if a >= c:
        raise ValueError("unstable: offered load must be below the number of servers")
    term, total = 1.0, 1.0
    for k in range(1, c):
        term *= a / k
        total += term
    last = term * a / c * c / (c - a)
    return last / (total + last)


def mmc_response_time(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean time in an M/M/c system: 1/mu + C(c, a) / (c mu - lambda)."""
    a = arrival_rate / service_rate
    return 1.0 / service_rate + erlang_c(servers, a) / (servers * service_rate - arrival_rate)
