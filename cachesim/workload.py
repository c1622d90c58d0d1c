"""What the clients ask for: key popularity (zipf, uniform, hotspot, a trace) and ops.

Keys are integers ``0 .. keys-1``; under zipf and hotspot, key ``k`` has popularity
rank ``k + 1``. Samplers hand out keys in blocks (numpy), one Python int at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from .config import WorkloadConfig
from .rng import BLOCK

if TYPE_CHECKING:
    from .traces import Trace


def popularity(cfg: WorkloadConfig) -> np.ndarray:
    """The probability of each key under the synthetic distribution (sums to 1)."""
    n = cfg.keys
    if cfg.distribution == "uniform":
        return np.full(n, 1.0 / n)
    if cfg.distribution == "zipf":
        w = np.arange(1, n + 1, dtype=float) ** -cfg.zipf_alpha
        return w / w.sum()
    hot = max(1, int(round(cfg.hotspot_fraction * n)))
    p = np.empty(n)
    if hot >= n:
        p[:] = 1.0 / n
        return p
    p[:hot] = cfg.hotspot_share / hot
    p[hot:] = (1.0 - cfg.hotspot_share) / (n - hot)
    return p


class ZipfKeys:
    """Zipf(alpha) ranks on 1..n by rejection-inversion (Hörmann and Derflinger, 1996):
    exact, O(1) memory and set-up whatever the key space (no table of n
    probabilities), about 1.1 uniform draws per key. Vectorised over a block."""

    def __init__(self, n: int, alpha: float) -> None:
        self.n, self.s = n, alpha
        self._hx1 = self._H(1.5) - 1.0
        self._hn = self._H(n + 0.5)
        self._shift = 2.0 - self._Hinv(self._H(2.5) - 2.0**-alpha)

    def _H(self, x):
        """The integral of x^-s from 1 (up to a constant), as (x^(1-s) - 1) / (1-s)."""
        lx = np.log(x)
        t = (1.0 - self.s) * lx
        return np.where(np.abs(t) > 1e-8, np.expm1(t) / np.where(t == 0, 1, t), 1.0 + t / 2) * lx

    def _Hinv(self, x):
        t = x * (1.0 - self.s)
        return np.exp(np.where(np.abs(t) > 1e-8, np.log1p(t) / np.where(t == 0, 1, t), 1.0 - t / 2) * x)

    def draw(self, gen: np.random.Generator, size: int) -> np.ndarray:
        """``size`` ranks (1-based)."""
        out = np.empty(0, dtype=np.int64)
        while out.size < size:
            u = self._hn + gen.random(size) * (self._hx1 - self._hn)
            x = self._Hinv(u)
            k = np.clip(np.rint(x), 1, self.n)
            ok = (k - x <= self._shift) | (u >= self._H(k + 0.5) - k**-self.s)
            out = np.concatenate((out, k[ok].astype(np.int64)))
        return out[:size]


def key_block(cfg: WorkloadConfig) -> Callable[[np.random.Generator, int], np.ndarray]:
    """``draw(gen, size)`` -> ``size`` keys of the synthetic distribution, in memory
    independent of the key space."""
    n = cfg.keys
    if cfg.distribution == "zipf" and cfg.zipf_alpha > 0:
        zipf = ZipfKeys(n, cfg.zipf_alpha)
        return lambda gen, size: zipf.draw(gen, size) - 1
    if cfg.distribution == "hotspot":
        hot = max(1, int(round(cfg.hotspot_fraction * n)))
        if hot < n:
            share = cfg.hotspot_share

            def hotspot(gen: np.random.Generator, size: int) -> np.ndarray:
                u = gen.random(size)
                is_hot = gen.random(size) < share
                return np.where(is_hot, (u * hot).astype(np.int64), hot + (u * (n - hot)).astype(np.int64))

            return hotspot
    return lambda gen, size: (gen.random(size) * n).astype(np.int64)


class KeySampler:
    """Draws (key, is_write) pairs for the synthetic workload."""

    def __init__(self, cfg: WorkloadConfig, gen: np.random.Generator, op_gen: np.random.Generator) -> None:
        self._draw = key_block(cfg)
        self._gen = gen
        self._op_gen = op_gen
        self._write_ratio = cfg.write_ratio
        #: ``next() -> (key, is_write)``: a generator's ``__next__`` (a C-level call)
        self.next: Callable[[], tuple[int, bool]] = self._ops().__next__

    def _ops(self) -> Iterator[tuple[int, bool]]:
        while True:
            keys = self._draw(self._gen, BLOCK).tolist()
            writes = (self._op_gen.random(BLOCK) < self._write_ratio).tolist()
            yield from zip(keys, writes, strict=True)


make_key_sampler = KeySampler


class TraceSampler:
    """Replays a trace's keys (and ops, when it has them) in order, wrapping around.

    With ``track_sizes`` it also keeps each key's size, that of its latest request
    (:meth:`size_of`), for byte-sized caches."""

    def __init__(
        self, trace: Trace | str, write_ratio: float, op_gen: np.random.Generator, *, track_sizes: bool = False
    ) -> None:
        from .samples import resolve_trace  # local: traces are only needed here

        if isinstance(trace, str):
            trace = resolve_trace(trace)  # a sample by name, or a file path
        self._keys = trace.keys.tolist()
        if trace.is_write is not None:
            self._writes = trace.is_write.tolist()
        else:
            self._writes = (op_gen.random(len(self._keys)) < write_ratio).tolist()
        self._i = 0
        self.distinct = int(np.unique(trace.keys).size)
        if track_sizes:
            self._sizes = trace.sizes.tolist()
            self._size_by_key: dict[int, int] = {}
            #: ``size_of(key)``: the size of the key's latest request
            self.size_of = self._size_by_key.__getitem__
            self.next = self._next_sized  # type: ignore[method-assign]

    def _next_sized(self) -> tuple[int, bool]:
        i = self._i
        if i >= len(self._keys):
            i = 0
        self._i = i + 1
        key = self._keys[i]
        self._size_by_key[key] = self._sizes[i]
        return key, self._writes[i]

    def next(self) -> tuple[int, bool]:
        i = self._i
        if i >= len(self._keys):
            i = 0
        self._i = i + 1
        return self._keys[i], self._writes[i]


def trace_arrivals(trace: Trace, speed: float) -> np.ndarray:
    """Arrival times (simulated seconds) of a trace replayed in its own time: its
    timestamps from the first one, divided by ``speed``, never decreasing (a request
    stamped before the one ahead of it arrives with it). Raises TraceError (one line,
    naming ``workload.trace_timing``) when the trace has no timestamps."""
    from .traces import TraceError

    if trace.times is None:
        name = trace.source or "the trace"
        raise TraceError(
            f"workload.trace_timing: 'trace' needs a trace with a time column; {name} has none (use poisson timing)"
        )
    times = np.asarray(trace.times, dtype=np.float64)
    if not times.size:
        return times
    t = np.maximum.accumulate((times - times[0]) / speed)
    return t
