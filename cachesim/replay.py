"""Replay a trace through one eviction policy, as libCacheSim's simulator does.

Every request is a lookup that records the access; a miss inserts the object (if it
fits). Count-based by default (every object has size 1, ``capacity`` is objects); with
``use_bytes=True`` capacity is bytes and an object takes the size of the request that
inserted it. The policy objects are those of :mod:`cachesim.policies`, the very classes
the simulated cache nodes run, driven through :meth:`EvictionPolicy.access`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cachesim.policies import EvictionPolicy, make_eviction
from cachesim.policies.belady import Belady, belady_hits_sized
from cachesim.traces import Trace, next_access_vtime

__all__ = ["ReplayResult", "replay"]


@dataclass(frozen=True)
class ReplayResult:
    """Counts of one replay; ``miss_ratio = misses / requests``."""

    requests: int
    hits: int
    misses: int
    miss_ratio: float

    def to_dict(self) -> dict[str, Any]:
        """``{"requests", "hits", "misses", "miss_ratio"}``, in that order."""
        return {
            "requests": self.requests,
            "hits": self.hits,
            "misses": self.misses,
            "miss_ratio": self.miss_ratio,
        }


def replay(
    trace: Trace,
    policy: str | type[EvictionPolicy],
    capacity: int,
    *,
    use_bytes: bool = False,
) -> ReplayResult:
    """Replay ``trace`` through a new, empty ``policy`` (a name such as ``"lru"`` or a
    policy class) of ``capacity`` objects, or bytes with ``use_bytes``.

    Raises ValueError for an unknown policy or a capacity below 1.
    """
    cache = make_eviction(policy, capacity) if isinstance(policy, str) else policy(capacity)
    if isinstance(cache, Belady):  # the bulk loops over plain lists
        sizes = trace.sizes if use_bytes else np.ones(len(trace.keys), dtype=np.int64)  # counting: size 1 each
        return _result(len(trace), belady_hits_sized(trace.keys, sizes, capacity))
    if getattr(cache, "needs_future", False):
        equal = not use_bytes or bool((trace.sizes == trace.sizes[0]).all()) if len(trace) else True
        cache.set_future(next_access_vtime(trace.keys), equal_sizes=equal)  # type: ignore[attr-defined]
    access = cache.access
    keys = trace.keys.tolist()
    run = getattr(cache, "run", None)  # a bulk replay (Belady)
    if run is not None:
        hits = run(keys, trace.sizes.tolist() if use_bytes else None)
        return _result(len(keys), hits)
    if use_bytes:
        hits = sum(map(access, keys, trace.sizes.tolist()))
    else:
        hits = sum(map(access, keys))
    return _result(len(keys), hits)


def _result(requests: int, hits: int) -> ReplayResult:
    misses = requests - hits
    return ReplayResult(
        requests=requests,
        hits=hits,
        misses=misses,
        miss_ratio=misses / requests if requests else 0.0,
    )
