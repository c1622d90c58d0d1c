"""The run's random numbers: one seed, independent named streams, drawn in blocks.

Every stream is spawned from the run's single ``numpy.random.SeedSequence``, so a run
is a pure function of (config, seed), and each purpose (arrivals, keys, service,
network, ...) has its own stream: changing the network does not change which keys the
clients ask for (common random numbers, which make two configs comparable).
Numbers are drawn ``BLOCK`` at a time, since one numpy call per number is slow.
"""

from __future__ import annotations

import numpy as np

BLOCK = 8192
STREAMS = ("arrivals", "keys", "ops", "service", "db", "network", "routing", "chaos")


class Stream:
    """Blocks of standard variates from one generator."""

    __slots__ = ("gen", "_u", "_ui", "_e", "_ei", "_n", "_ni")

    def __init__(self, gen: np.random.Generator) -> None:
        self.gen = gen
        self._u: list[float] = []
        self._ui = 0
        self._e: list[float] = []
        self._ei = 0
        self._n: list[float] = []
        self._ni = 0

    def uniform(self) -> float:
        i = self._ui
        if i >= len(self._u):
            self._u = self.gen.random(BLOCK).tolist()
            i = 0
        self._ui = i + 1
        return self._u[i]

    def exponential(self) -> float:
        """Exponential with mean 1."""
        i = self._ei
        if i >= len(self._e):
            self._e = self.gen.standard_exponential(BLOCK).tolist()
            i = 0
        self._ei = i + 1
        return self._e[i]

    def normal(self) -> float:
        i = self._ni
        if i >= len(self._n):
            self._n = self.gen.standard_normal(BLOCK).tolist()
            i = 0
        self._ni = i + 1
        return self._n[i]


class RandomStreams:
    """The named streams of one run."""

    def __init__(self, seed: int) -> None:
        seq = np.random.SeedSequence(seed)
        children = seq.spawn(len(STREAMS))
        self._streams = {name: Stream(np.random.Generator(np.random.PCG64(c)))
                         for name, c in zip(STREAMS, children, strict=True)}

    def __getitem__(self, name: str) -> Stream:
        return self._streams[name]
