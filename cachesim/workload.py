"""What the clients ask for: key popularity (zipf, uniform, hotspot, a trace) and ops.

Keys are integers ``0 .. keys-1``; under zipf and hotspot, key ``k`` has popularity
rank ``k + 1``. Samplers hand out keys in blocks (numpy), one Python int at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from .config import WorkloadConfig
from .rng import BLOCK


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


class KeySampler:
    """Draws (key, is_write) pairs for the synthetic workload."""

    def __init__(self, cfg: WorkloadConfig, gen: np.random.Generator, op_gen: np.random.Generator) -> None:
        self._cdf = np.cumsum(popularity(cfg))
        self._cdf[-1] = 1.0
        self._gen = gen
        self._op_gen = op_gen
        self._write_ratio = cfg.write_ratio
        #: ``next() -> (key, is_write)``: a generator's ``__next__`` (a C-level call)
        self.next: Callable[[], tuple[int, bool]] = self._ops().__next__

    def _ops(self) -> Iterator[tuple[int, bool]]:
        while True:
            keys = np.searchsorted(self._cdf, self._gen.random(BLOCK), side="right").tolist()
            writes = (self._op_gen.random(BLOCK) < self._write_ratio).tolist()
            yield from zip(keys, writes, strict=True)


class TraceSampler:
    """Replays a trace's keys (and ops, when it has them) in order, wrapping around."""

    def __init__(self, path: str, write_ratio: float, op_gen: np.random.Generator) -> None:
        from .traces import read_trace  # local: the trace reader is only needed here

        trace = read_trace(path)
        self._keys = trace.keys.tolist()
        if trace.is_write is not None:
            self._writes = trace.is_write.tolist()
        else:
            self._writes = (op_gen.random(len(self._keys)) < write_ratio).tolist()
        self._i = 0
        self.distinct = int(np.unique(trace.keys).size)

    def next(self) -> tuple[int, bool]:
        i = self._i
        if i >= len(self._keys):
            i = 0
        self._i = i + 1
        return self._keys[i], self._writes[i]
