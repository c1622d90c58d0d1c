"""Object sizes for byte-sized caches: a deterministic function of the key and the seed.

``workload.size`` says where sizes come from:

- ``trace``: a replayed trace's ``size`` column (the size of a key is that of its latest
  request, kept by the trace sampler); 1 byte each without a trace.
- ``fixed``: every object is ``size_bytes``.
- ``lognormal``: ``exp(mu + sigma z)`` rounded (at least 1 byte), with ``mu`` chosen so
  the mean is ``size_bytes``; ``z`` is the inverse normal of a uniform hashed from the key
  and the run's seed (splitmix64). No table per key: 10^7 keys cost no memory, and a
  key's size never depends on when or how often it is asked for, or on any random
  stream of the run.

A run is *sized* when sizes can matter: a byte capacity, a bandwidth, a size
distribution, or a trace with sizes other than 1. An unsized run keeps the engine's
item-counting hot path untouched (every object is 1 byte, so its byte hit ratio is its
hit ratio).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np

from .config import SimConfig

_M64 = (1 << 64) - 1
#: Mixed into the seed so that sizes do not correlate with anything else seeded by it.
_SIZE_SALT = 0x5EED_517E_B17E5


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def lognormal_size(mean_bytes: float, sigma: float, seed: int) -> Callable[[int], int]:
    """``size(key)``: lognormal with mean ``mean_bytes`` and log-sd ``sigma``, fixed by
    (key, seed)."""
    mu = math.log(mean_bytes) - sigma * sigma / 2.0
    salt = _splitmix64((seed ^ _SIZE_SALT) & _M64)
    inv_cdf = NormalDist().inv_cdf
    exp = math.exp
    mix = _splitmix64

    def size(key: int) -> int:
        u = ((mix((key ^ salt) & _M64) >> 11) + 0.5) * (1.0 / 9007199254740992.0)  # (0, 1)
        s = int(exp(mu + sigma * inv_cdf(u)) + 0.5)
        return s if s > 1 else 1

    return size


def sized(cfg: SimConfig, trace_sizes: np.ndarray | None) -> bool:
    """Whether object sizes matter to this run (see the module docstring)."""
    if cfg.cluster.in_bytes or cfg.network.bandwidth_mbps > 0 or cfg.workload.size != "trace":
        return True
    return trace_sizes is not None and bool(len(trace_sizes)) and bool((trace_sizes != 1).any())


def size_function(cfg: SimConfig) -> Callable[[int], int] | None:
    """``size(key)`` from the size distribution; None for ``size = "trace"`` (the trace
    sampler's sizes, or 1 byte without a trace)."""
    w = cfg.workload
    if w.size == "fixed":
        n = w.size_bytes
        return lambda _key: n
    if w.size == "lognormal":
        return lognormal_size(w.size_bytes, w.size_sigma, cfg.seed)
    return None


def unit_size(_key: int) -> int:
    return 1


def transfer_s_per_byte(cfg: SimConfig) -> float:
    """Seconds a byte adds to a hop that carries an object (0: no transfer time)."""
    mbps = cfg.network.bandwidth_mbps
    return 8.0 / (mbps * 1e6) if mbps > 0 else 0.0
