"""The run's random numbers: one seed, independent named streams, drawn in blocks.

Every stream is spawned from the run's single ``numpy.random.SeedSequence``, so a run
is a pure function of (config, seed), and each purpose (arrivals, keys, service,
network, ...) has its own stream: changing the network does not change which keys the
clients ask for (common random numbers, which make two configs comparable).
Numbers are drawn ``BLOCK`` at a time, since one numpy call per number is slow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

BLOCK = 8192
#: Appending a name keeps every earlier stream as it was (a SeedSequence child depends on
#: its index only).
STREAMS = ("arrivals", "keys", "ops", "service", "db", "network", "routing", "chaos", "fanout", "gutter")


def _blocks(draw) -> Iterator[float]:
    """Variates from ``draw(BLOCK)``, one block at a time, drawn when the last runs out."""
    while True:
        yield from draw(BLOCK).tolist()


def blocks(draw: Callable[[int], np.ndarray]) -> Callable[[], float]:
    """``next()`` over the variates of ``draw(n)``, drawn ``BLOCK`` at a time."""
    return _blocks(draw).__next__


class Stream:
    """Blocks of standard variates from one generator.

    ``uniform()``, ``exponential()`` (mean 1) and ``normal()`` are each a generator's
    ``__next__``: one C-level call per number on the hot path. Each kind draws its own
    blocks from the shared generator when it needs one, so the sequence of every kind
    depends only on the order of calls."""

    __slots__ = ("gen", "uniform", "exponential", "normal")

    def __init__(self, gen: np.random.Generator) -> None:
        self.gen = gen
        self.uniform: Callable[[], float] = _blocks(gen.random).__next__
        self.exponential: Callable[[], float] = _blocks(gen.standard_exponential).__next__
        self.normal: Callable[[], float] = _blocks(gen.standard_normal).__next__


class RandomStreams:
    """The named streams of one run."""

    def __init__(self, seed: int) -> None:
        seq = np.random.SeedSequence(seed)
        children = seq.spawn(len(STREAMS))
        self._streams = {
            name: Stream(np.random.Generator(np.random.PCG64(c))) for name, c in zip(STREAMS, children, strict=True)
        }

    def __getitem__(self, name: str) -> Stream:
        return self._streams[name]
