"""Miss-ratio curves: the miss ratio of a policy at every cache size.

- **Exact LRU** (:func:`lru_curve`): one pass of stack distances (Mattson et al.):
  request *i* hits an LRU cache of size *C* iff its stack distance is at most *C*.
  Distances are computed offline in O(n log n) by numpy (:func:`stack_distances`),
  so a curve for every size costs about as much as sorting the trace; a chunk of
  requests at a time, each prefixed by the LRU stack so far, so memory is linear in
  the distinct objects (plus one chunk), not in the requests.
- **Sampled LRU** (:func:`shards_curve`): SHARDS (Waldspurger et al., FAST '15),
  fixed-rate spatial sampling: a key is kept iff a stable hash of it falls below
  ``rate``; distances of the sampled requests are scaled by ``1 / rate``, and the
  miss counts are divided by the *expected* number of sampled requests (SHARDS-adj).
  After hashing (a chunk at a time), time and memory follow the *sampled* requests
  and objects.
- **Any policy** (:func:`replay_curve`): replays a grid of sizes in parallel (a
  process pool), each point exactly libCacheSim's miss count.

Byte-based curves use the stack distance in bytes: the size of the object plus the
sizes of the distinct objects requested since its previous request. That equals
libCacheSim's byte LRU exactly once one more rule is honoured: an object larger than
the cache is never admitted (and evicts nothing), so at cache size *C* objects larger
than *C* take no room and always miss. :func:`lru_curve` recomputes the distances
without them for each size below the largest object (tests/engine/test_mrc.py checks the
agreement with libcachesim at 20 sizes; exact when every object has one size, as in
oracleGeneral traces).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from cachesim.traces import Trace

__all__ = [
    "MissRatioCurve",
    "default_sizes",
    "lru_curve",
    "miss_ratio_curve",
    "previous_access",
    "replay_curve",
    "reuse_distances",
    "shards_curve",
    "shards_sample",
    "stack_distances",
]


@dataclass(frozen=True, eq=False)
class MissRatioCurve:
    """Miss ratios of ``policy`` at cache ``sizes`` (objects, or bytes with
    ``use_bytes``), ascending. ``method``: ``"exact"``, ``"shards"`` or ``"replay"``."""

    policy: str
    sizes: np.ndarray
    miss_ratios: np.ndarray
    use_bytes: bool
    requests: int
    method: str
    sample_rate: float = 1.0

    def capacity_for(self, hit_ratio: float = 0.9) -> int | None:
        """The smallest size of the curve whose hit ratio is at least ``hit_ratio``
        (None if no size on the curve reaches it)."""
        ok = np.flatnonzero(self.miss_ratios <= 1.0 - hit_ratio + 1e-12)
        return int(self.sizes[ok[0]]) if ok.size else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields."""
        return {
            "policy": self.policy,
            "method": self.method,
            "unit": "bytes" if self.use_bytes else "objects",
            "requests": self.requests,
            "sample_rate": self.sample_rate,
            "sizes": [int(s) for s in self.sizes],
            "miss_ratios": [float(m) for m in self.miss_ratios],
        }


# -- stack distances ----------------------------------------------------------------------


def previous_access(keys: np.ndarray) -> np.ndarray:
    """For each request, the index of the previous request for the same key, or -1."""
    n = keys.shape[0]
    order = np.argsort(keys, kind="stable")
    prev = np.full(n, -1, dtype=np.int64)
    same = keys[order[1:]] == keys[order[:-1]]
    prev[order[1:][same]] = order[:-1][same]
    return prev


def reuse_distances(keys: np.ndarray) -> np.ndarray:
    """Requests since the previous request for the same key (-1 for a first request):
    the *time* between reuses, not the distinct objects in between (that is
    :func:`stack_distances`)."""
    prev = previous_access(keys)
    out = np.arange(keys.shape[0], dtype=np.int64) - prev
    out[prev < 0] = -1
    return out


def _dominated_weights(prev: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``F[i] = sum(weights[j] for j < i if prev[j] > prev[i])``, for every i.

    A bottom-up merge sort over the request index, vectorised level by level: at a
    level with blocks of ``b`` requests, every request of a right block adds the
    weights of the left sibling's requests with a larger ``prev`` (found from the
    stable merge of the two sorted runs). ``log2 n`` numpy passes: O(n log n).
    """
    n = prev.shape[0]
    n2 = 1 << max(1, (n - 1).bit_length())
    itype = np.int32 if n2 < 2**31 else np.int64
    vals = np.full(n2, -1, dtype=itype)
    vals[:n] = prev
    w = np.zeros(n2, dtype=weights.dtype)
    w[:n] = weights
    out = np.zeros(n2, dtype=weights.dtype)
    order = np.arange(n2, dtype=itype)
    ranks = np.arange(n2, dtype=itype)
    b = 1
    while b < n2:
        pairs = n2 // (2 * b)
        rows = order.reshape(pairs, 2 * b)  # each row: two runs sorted by prev
        idx = np.argsort(vals[rows], axis=1, kind="stable").astype(itype, copy=False)
        merged_at = np.empty_like(idx)  # merged position of each element of a row
        np.put_along_axis(merged_at, idx, np.broadcast_to(ranks[: 2 * b], idx.shape), axis=1)
        # left elements with prev <= a right element's: stable, so lefts come first
        not_larger = merged_at[:, b:] - ranks[:b]
        left_w = np.zeros((pairs, b + 1), dtype=w.dtype)
        np.cumsum(w[rows[:, :b]], axis=1, out=left_w[:, 1:])
        larger = left_w[:, -1:] - np.take_along_axis(left_w, not_larger, axis=1)
        out[rows[:, b:].ravel()] += larger.ravel()
        order = np.take_along_axis(rows, idx, axis=1).ravel()
        b *= 2
    return out[:n]


def stack_distances(keys: np.ndarray, sizes: np.ndarray | None = None, *, prev: np.ndarray | None = None) -> np.ndarray:
    """LRU stack distance of every request (-1 for a first request).

    Without ``sizes``: 1 + the number of distinct keys requested since the previous
    request for the same key (so a request hits an LRU cache of ``C`` objects iff its
    distance is in ``[1, C]``). With ``sizes`` (one weight per request): its size plus
    the sizes of those distinct keys (each taken at its first request in between);
    a weight of 0 makes a request invisible to the others.
    """
    n = keys.shape[0]
    if prev is None:
        prev = previous_access(keys)
    w = np.ones(n, np.int64) if sizes is None else np.asarray(sizes, dtype=np.int64)
    if n == 0:
        return np.zeros(0, np.int64)
    dominated = _dominated_weights(prev, w)
    cum = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(w, out=cum[1:])
    window = cum[:-1] - cum[np.maximum(prev, 0) + 1]  # everything strictly in between
    out = window - dominated + w
    out[prev < 0] = -1
    return out


# -- curves -------------------------------------------------------------------------------


def default_sizes(trace: Trace, *, use_bytes: bool = False, points: int = 40) -> np.ndarray:
    """A geometric grid of ``points`` cache sizes, from 1 object (or the smallest
    object) to every distinct object (or all their bytes)."""
    first = np.unique(trace.keys, return_index=True)[1]
    if use_bytes:
        lo, hi = int(trace.sizes[first].min()), int(trace.sizes[first].sum())
    else:
        lo, hi = 1, int(first.shape[0])
    grid = np.unique(np.geomspace(max(lo, 1), max(hi, 1), num=points).round().astype(np.int64))
    return grid[grid >= 1]


def _check_sizes(sizes: Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(sizes)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("sizes must be a non-empty list of cache sizes")
    if not np.issubdtype(arr.dtype, np.integer) or (arr < 1).any():
        raise ValueError("every cache size must be a whole number >= 1")
    return np.unique(arr.astype(np.int64))


def _misses_from_distances(distances: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Misses at every capacity: first requests plus distances above it."""
    cold = int(np.count_nonzero(distances < 0))
    seen = np.sort(distances[distances >= 0])
    return cold + (seen.shape[0] - np.searchsorted(seen, caps, side="right"))


#: Requests per pass of the chunked computation, at least; a pass takes
#: ``max(CHUNK, 4 * distinct keys so far)`` requests, so memory is O(distinct objects)
#: (plus this constant) and the stack prefixes add at most a quarter to the work.
CHUNK = 1 << 18
#: Keys hashed at a time by the SHARDS sampler (bounded temporaries).
HASH_CHUNK = 1 << 16


def _chunked_misses(
    keys: np.ndarray,
    sizes: np.ndarray | None,
    caps: np.ndarray,
    limit: int | None,
    chunk: int,
) -> np.ndarray:
    """LRU misses at every ``caps`` entry, objects larger than ``limit`` never
    admitted, computed a chunk of requests at a time.

    Each chunk is prefixed by the LRU stack left by the previous ones (every distinct
    key so far, least recent first, with its size), and stack distances depend only
    on the order of last accesses, so the chunk's distances are exact; the next stack
    is the distinct keys of prefix + chunk by last access. Memory: O(distinct keys +
    chunk), whatever the trace's length.
    """
    misses = np.zeros(caps.shape[0], dtype=np.int64)
    stack_keys = np.zeros(0, dtype=np.int64)
    stack_w = np.zeros(0, dtype=np.int64)
    n = keys.shape[0]
    start = 0
    while start < n:
        step = max(chunk, 4 * stack_keys.shape[0])
        ck = keys[start : start + step].astype(np.int64, copy=False)
        if sizes is None:
            cw = np.ones(ck.shape[0], dtype=np.int64)
            too_big = None
        else:
            cs = sizes[start : start + step].astype(np.int64, copy=False)
            too_big = cs > limit if limit is not None else None
            cw = cs if too_big is None else np.where(too_big, 0, cs)
        seq_k = np.concatenate((stack_keys, ck))
        seq_w = np.concatenate((stack_w, cw))
        dist = stack_distances(seq_k, seq_w)[stack_keys.shape[0] :]
        if too_big is not None:
            dist[too_big] = -1  # never admitted: always a miss
        misses += _misses_from_distances(dist, caps)
        start += step
        if start < n:  # the stack after this chunk: distinct keys by last access
            rev_first = np.unique(seq_k[::-1], return_index=True)[1]
            last = np.sort(seq_k.shape[0] - 1 - rev_first)
            stack_keys, stack_w = seq_k[last], seq_w[last]
    return misses


def _lru_misses(
    keys: np.ndarray,
    sizes: np.ndarray | None,
    caps: np.ndarray,
    admit_limits: np.ndarray,
    chunk: int = CHUNK,
) -> np.ndarray:
    """LRU misses at ``caps[k]`` when objects larger than ``admit_limits[k]`` are
    never admitted (count-based: ``sizes`` None, nothing is too large)."""
    if sizes is None:
        return _chunked_misses(keys, None, caps, None, chunk)
    out = np.empty(caps.shape[0], dtype=np.int64)
    largest = int(sizes.max()) if sizes.size else 0
    # sizes that exclude the same objects share one pass
    by_limit: dict[int, list[int]] = {}
    for k, limit in enumerate(admit_limits):
        by_limit.setdefault(min(int(limit), largest), []).append(k)
    for limit, ks in by_limit.items():
        out[ks] = _chunked_misses(keys, sizes, caps[ks], limit, chunk)
    return out


def lru_curve(
    trace: Trace,
    sizes: Sequence[int] | np.ndarray | None = None,
    *,
    use_bytes: bool = False,
    chunk: int = CHUNK,
) -> MissRatioCurve:
    """The exact LRU miss-ratio curve (one stack-distance pass; see the module doc),
    at least ``chunk`` requests at a time (memory linear in the distinct objects)."""
    caps = default_sizes(trace, use_bytes=use_bytes) if sizes is None else _check_sizes(sizes)
    n = len(trace)
    obj_sizes = trace.sizes if use_bytes else None
    misses = _lru_misses(trace.keys, obj_sizes, caps, caps, chunk)
    return MissRatioCurve(
        policy="lru",
        sizes=caps,
        miss_ratios=misses / n if n else np.zeros(caps.shape[0]),
        use_bytes=use_bytes,
        requests=n,
        method="exact",
    )


_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _stable_hash(keys: np.ndarray, salt: int) -> np.ndarray:
    """A 64-bit hash of every key, the same on every machine and run: splitmix64's
    finaliser over the key xor a salt taken from BLAKE2b (vectorised; Python's
    ``hash()`` is salted per process and never used)."""
    seed = int.from_bytes(hashlib.blake2b(f"shards:{salt}".encode(), digest_size=8).digest(), "little")
    z = keys.astype(np.int64).view(np.uint64) ^ np.uint64(seed)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def shards_sample(trace: Trace, rate: float, *, salt: int = 0) -> np.ndarray:
    """A boolean mask of the requests whose key is sampled at ``rate`` (every request
    of a sampled key, none of the others)."""
    if not 0 < rate <= 1:
        raise ValueError(f"sample rate must be in (0, 1], got {rate}")
    if rate == 1:
        return np.ones(len(trace), dtype=bool)
    threshold = np.uint64(min(int(rate * 2.0**64), 2**64 - 1))
    mask = np.empty(len(trace), dtype=bool)
    for start in range(0, len(trace), HASH_CHUNK):  # bounded temporaries
        part = trace.keys[start : start + HASH_CHUNK]
        mask[start : start + part.shape[0]] = _stable_hash(part, salt) < threshold
    return mask


def _sampled(trace: Trace, rate: float, salt: int) -> tuple[np.ndarray, np.ndarray]:
    """The keys and sizes of the sampled requests, gathered a chunk at a time (no
    per-request array of the whole trace is built)."""
    if not 0 < rate <= 1:
        raise ValueError(f"sample rate must be in (0, 1], got {rate}")
    threshold = np.uint64(min(int(rate * 2.0**64), 2**64 - 1))
    keys: list[np.ndarray] = []
    sizes: list[np.ndarray] = []
    for start in range(0, len(trace), HASH_CHUNK):
        part = trace.keys[start : start + HASH_CHUNK]
        keep = _stable_hash(part, salt) < threshold if rate < 1 else slice(None)
        keys.append(part[keep])
        sizes.append(trace.sizes[start : start + HASH_CHUNK][keep].astype(np.int64))
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(keys), np.concatenate(sizes)


def shards_curve(
    trace: Trace,
    rate: float,
    sizes: Sequence[int] | np.ndarray | None = None,
    *,
    use_bytes: bool = False,
    salt: int = 0,
) -> MissRatioCurve:
    """The SHARDS (fixed-rate, adjusted) estimate of the LRU curve at ``rate``."""
    caps = default_sizes(trace, use_bytes=use_bytes) if sizes is None else _check_sizes(sizes)
    n = len(trace)
    keys, kept_sizes = _sampled(trace, rate, salt)
    obj_sizes = kept_sizes if use_bytes else None
    expected = rate * n
    if keys.shape[0] == 0:
        ratios = np.ones(caps.shape[0])
    else:
        scaled = np.floor(caps * rate).astype(np.int64)
        misses = _lru_misses(keys, obj_sizes, np.maximum(scaled, 0), caps)
        # SHARDS-adj: the (expected - sampled) requests are added to the first
        # histogram bucket (hits at every size that holds one sampled unit); a size
        # below that bucket holds nothing and every request misses
        ratios = np.where(scaled < 1, 1.0, np.clip(misses / expected, 0.0, 1.0))
    return MissRatioCurve(
        policy="lru",
        sizes=caps,
        miss_ratios=ratios,
        use_bytes=use_bytes,
        requests=n,
        method="shards",
        sample_rate=rate,
    )


# -- other policies: replay a grid ------------------------------------------------------

_WORKER_TRACE: Trace | None = None


def _init_worker(trace: Trace) -> None:
    global _WORKER_TRACE
    _WORKER_TRACE = trace


def _replay_one(policy: str, size: int, use_bytes: bool) -> int:
    from cachesim.replay import replay

    assert _WORKER_TRACE is not None
    return replay(_WORKER_TRACE, policy, size, use_bytes=use_bytes).misses


def replay_curve(
    trace: Trace,
    policy: str,
    sizes: Sequence[int] | np.ndarray,
    *,
    use_bytes: bool = False,
    jobs: int | None = None,
) -> MissRatioCurve:
    """Replay ``trace`` through ``policy`` at every size, in a process pool of
    ``jobs`` workers (default: the CPUs, at most the sizes; 1 runs in this process).
    A plain function of (trace, policy, sizes), so a sweep executor can reuse it."""
    from cachesim.policies import EVICTION_POLICIES
    from cachesim.replay import replay

    if policy not in EVICTION_POLICIES:
        known = ", ".join(EVICTION_POLICIES)
        raise ValueError(f"unknown eviction policy {policy!r} (expected one of: {known})")
    caps = _check_sizes(sizes)
    n = len(trace)
    workers = min(jobs or os.cpu_count() or 1, caps.shape[0])
    if workers <= 1:
        misses = [replay(trace, policy, int(c), use_bytes=use_bytes).misses for c in caps]
    else:
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(trace,)) as pool:
            misses = list(pool.map(_replay_one, [policy] * len(caps), caps.tolist(), [use_bytes] * len(caps)))
    return MissRatioCurve(
        policy=policy,
        sizes=caps,
        miss_ratios=np.asarray(misses, dtype=np.float64) / n if n else np.zeros(caps.shape[0]),
        use_bytes=use_bytes,
        requests=n,
        method="replay",
    )


def miss_ratio_curve(
    trace: Trace,
    policy: str = "lru",
    sizes: Sequence[int] | np.ndarray | None = None,
    *,
    use_bytes: bool = False,
    sample_rate: float | None = None,
    jobs: int | None = None,
) -> MissRatioCurve:
    """The curve of ``policy``: LRU from stack distances (SHARDS with
    ``sample_rate`` < 1), any other policy by replaying the sizes (sampling, if asked,
    replays the sampled requests at ``rate`` times each size)."""
    if sample_rate is not None and not (0 < sample_rate <= 1 and math.isfinite(sample_rate)):
        raise ValueError(f"sample rate must be in (0, 1], got {sample_rate}")
    caps = default_sizes(trace, use_bytes=use_bytes) if sizes is None else _check_sizes(sizes)
    sampled = sample_rate is not None and sample_rate < 1
    if policy == "lru":
        if sampled:
            return shards_curve(trace, sample_rate, caps, use_bytes=use_bytes)  # type: ignore[arg-type]
        return lru_curve(trace, caps, use_bytes=use_bytes)
    if not sampled:
        return replay_curve(trace, policy, caps, use_bytes=use_bytes, jobs=jobs)
    rate = float(sample_rate)  # type: ignore[arg-type]
    mask = shards_sample(trace, rate)
    sub = Trace(keys=trace.keys[mask], sizes=trace.sizes[mask], source=trace.source)
    scaled = np.maximum(np.floor(caps * rate).astype(np.int64), 1)
    if len(sub) == 0:
        ratios = np.ones(caps.shape[0])
    else:
        curve = replay_curve(sub, policy, np.unique(scaled), use_bytes=use_bytes, jobs=jobs)
        by_size = dict(zip(curve.sizes.tolist(), curve.miss_ratios.tolist(), strict=True))
        misses = np.array([by_size[s] * len(sub) for s in scaled.tolist()])
        ratios = np.clip(misses / (rate * len(trace)), 0.0, 1.0)
    return MissRatioCurve(
        policy=policy,
        sizes=caps,
        miss_ratios=ratios,
        use_bytes=use_bytes,
        requests=len(trace),
        method="shards",
        sample_rate=rate,
    )
