"""Hot keys: bounded-memory heavy hitters per run and per node, by lookups and by misses.

**The sketch.** :class:`SpaceSaving` keeps at most ``k`` counters (key, count, error),
whatever the number of keys. It is fed in batches: a batch's exact counts (``np.unique``)
are folded in at once, which is weighted Space-Saving on the same multiset of keys:

- a key already held adds its batch count;
- a new key enters with ``floor + c`` and error ``floor``, where ``floor`` bounds the
  count of every key not held (0 until the sketch first fills);
- then only the ``k`` largest counts are kept (ties: the smaller key), and ``floor``
  becomes the smallest kept count.

Every held count overestimates: ``true <= count <= true + error``; a key not held has
``true <= floor``. The kept counts never sum to more than ``N`` (the lookups folded so
far: a new key's ``floor`` replaces an evicted count of at least ``floor``), so
**count - true <= error <= floor <= N / k**, and every key seen more than ``N / k``
times is held. Tested against exact counts on seeded Zipf streams (tests/engine/test_hotkeys.py).

**Merging** (nodes into a run, hits and misses into lookups): a key's upper bound is the
sum of its counts where held and of the floors where not; its lower bound the sum of
``count - error`` where held. The reported count is the upper bound and the error the
difference, which is at most ``sum(N_i) / k = N / k``.

**On the engine's hot path** a lookup costs one ``array.append`` of its key (hits and
misses in separate buffers per node). A snapshot folds the *complete* batches of
:data:`BATCH` keys (fewer per node on large clusters: :func:`sizes`) of each buffer;
the rest waits. Batch boundaries therefore sit at
fixed positions of each node's lookup sequence, so the sketches, like every request's
fate, do not depend on the snapshot interval, stops or mid-run results (a result folds
the unfinished tail into a copy). Memory: ``k`` counters per sketch, plus at most one
snapshot interval's lookups (and one batch) of keys waiting in the buffers; counters
and batches shrink per node above 16 nodes so the totals stay about 16,000 counters and
65,536 keys per kind (the bound is then lookups / k with that smaller k).

**Moved keys.** Under consistent hashing, for every window that touches an outage (the
balancer routes around a node at its start or its end), a snapshot also counts each
node's misses in that window on keys whose home (their node with every node up) is
another node: the misses a node loss causes on the survivors. (An outage that begins
and ends inside one window is not seen.)
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Counters per sketch (up to :data:`TOTAL_COUNTERS` / nodes): the error bound is lookups / k.
K = 1000
#: Keys folded into a sketch at once (fixed positions of each node's lookup sequence),
#: fewer per node on large clusters (see :func:`sizes`).
BATCH = 4096
#: Bounds on the counters and on the buffered keys summed over the nodes, so a
#: 1,024-node cluster holds about as much as a 16-node one.
TOTAL_COUNTERS = 16_000
TOTAL_BATCH = 65_536


def sizes(nodes: int) -> tuple[int, int]:
    """(counters per sketch, batch) for a cluster of ``nodes``: 1,000 and 4,096 up to 16
    nodes, then 16,000 / nodes (at least 64) and 65,536 / nodes (at least 256)."""
    n = max(1, nodes)
    return max(64, min(K, TOTAL_COUNTERS // n)), max(256, min(BATCH, TOTAL_BATCH // n))


#: Rows of the moved-miss log kept at most (one per node per outage window).
MAX_MOVED_ROWS = 200_000
HOT_KEY_COLUMNS = (
    "key",
    "requests",
    "requests_error",
    "misses",
    "misses_error",
    "hit_ratio",
    "home",
    "owners",
    "owner_changed",
)
MOVED_COLUMNS = ("t", "node", "home", "misses")
SKETCH_COLUMNS = ("node", "kind", "key", "count", "error")
META_COLUMNS = ("node", "kind", "k", "floor", "n")
#: The files a saved run keeps its hot keys in (RunResult.save, the app's ZIP).
FILES = ("hot_keys_sketch.csv", "hot_keys_meta.csv", "moved_misses.csv")

_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass
class SpaceSaving:
    """At most ``k`` (key, count, error) counters; ``keys`` sorted ascending."""

    k: int = K
    keys: np.ndarray = field(default_factory=lambda: _EMPTY.copy())
    counts: np.ndarray = field(default_factory=lambda: _EMPTY.copy())
    errors: np.ndarray = field(default_factory=lambda: _EMPTY.copy())
    floor: int = 0  # no key that is not held was seen more than this often
    n: int = 0  # lookups folded in

    def copy(self) -> SpaceSaving:
        return SpaceSaving(self.k, self.keys.copy(), self.counts.copy(), self.errors.copy(), self.floor, self.n)

    @property
    def bound(self) -> float:
        """The stated error bound, N / k."""
        return self.n / self.k

    def update(self, keys: np.ndarray) -> None:
        """Fold a batch of keys (one per lookup) into the sketch."""
        if len(keys):
            u, c = np.unique(np.asarray(keys, dtype=np.int64), return_counts=True)
            self.update_counts(u, c.astype(np.int64))

    def update_counts(self, u: np.ndarray, c: np.ndarray) -> None:
        """Fold exact counts ``c`` of distinct sorted keys ``u``."""
        self.n += int(c.sum())
        counts = self.counts.copy()
        idx = np.searchsorted(self.keys, u)
        held = idx < len(self.keys)
        held[held] = self.keys[idx[held]] == u[held]
        np.add.at(counts, idx[held], c[held])
        new = ~held
        keys = np.concatenate([self.keys, u[new]])
        counts = np.concatenate([counts, c[new] + self.floor])
        errors = np.concatenate([self.errors, np.full(int(new.sum()), self.floor, dtype=np.int64)])
        if len(keys) > self.k:
            keep = np.lexsort((keys, -counts))[: self.k]
            keys, counts, errors = keys[keep], counts[keep], errors[keep]
            self.floor = int(counts.min())
        order = np.argsort(keys, kind="stable")
        self.keys, self.counts, self.errors = keys[order], counts[order], errors[order]

    def estimate(self, key: int) -> tuple[int, int]:
        """(upper bound, error) of one key's count."""
        i = int(np.searchsorted(self.keys, key))
        if i < len(self.keys) and self.keys[i] == key:
            return int(self.counts[i]), int(self.errors[i])
        return self.floor, self.floor


def merged(
    sketches: Sequence[SpaceSaving], keys: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys, upper bounds, errors) of the union of ``sketches`` (or of ``keys``)."""
    if keys is None:
        keys = np.unique(np.concatenate([s.keys for s in sketches])) if sketches else _EMPTY
    upper = np.zeros(len(keys), dtype=np.int64)
    lower = np.zeros(len(keys), dtype=np.int64)
    for s in sketches:
        idx = np.searchsorted(s.keys, keys)
        held = idx < len(s.keys)
        held[held] = s.keys[idx[held]] == keys[held]
        upper += s.floor
        upper[held] += s.counts[idx[held]] - s.floor
        lower[held] += s.counts[idx[held]] - s.errors[idx[held]]
    return keys, upper, upper - lower


def held_mask(s: SpaceSaving, keys: np.ndarray) -> np.ndarray:
    """Which ``keys`` the sketch holds with a count that is surely above zero."""
    idx = np.searchsorted(s.keys, keys)
    ok = idx < len(s.keys)
    ok[ok] = (s.keys[idx[ok]] == keys[ok]) & (s.counts[idx[ok]] > s.errors[idx[ok]])
    return ok


class Recorder:
    """The engine side: per-node key buffers (appended on the hot path) and sketches."""

    def __init__(
        self, names: Sequence[str], home: object | None = None, k: int | None = None, batch: int | None = None
    ) -> None:
        self.names = tuple(names)
        dk, db = sizes(len(self.names))
        k, self.batch = k or dk, batch or db
        #: per node, the keys of its hits and of its misses not yet folded in
        self.hits = [array("q") for _ in names]
        self.misses = [array("q") for _ in names]
        self.hit_sketch = [SpaceSaving(k) for _ in names]
        self.miss_sketch = [SpaceSaving(k) for _ in names]
        self._miss_mark = [0] * len(names)
        #: ``home.pick(key)``: the key's node with every node up (consistent hashing only)
        self._home = home
        self.moved: list[tuple[float, int, int, int]] = []
        self._was_down = False

    def snapshot(self, t: float, routed: Sequence[bool], touched: Sequence[int] | None = None) -> None:
        """At a snapshot: count this window's misses on moved keys, fold whole batches.
        ``touched``: the nodes (indices, ascending) that may have looked a key up since
        the last snapshot; the others' buffers have not changed (default: every node)."""
        idx = range(len(self.names)) if touched is None else touched
        down = not all(routed)
        if self._home is not None and (down or self._was_down):
            self._count_moved(t, idx)  # a window that touches an outage (routed around at either end)
        self._was_down = down
        batch, mark = self.batch, self._miss_mark
        for buffers, sketches in ((self.hits, self.hit_sketch), (self.misses, self.miss_sketch)):
            for i in idx:
                buf = buffers[i]
                whole = len(buf) - len(buf) % batch
                if whole:
                    for start in range(0, whole, batch):
                        sketches[i].update(np.frombuffer(buf[start : start + batch], dtype=np.int64))
                    del buf[:whole]
        for i in idx:
            mark[i] = len(self.misses[i])

    def _count_moved(self, t: float, idx: Sequence[int]) -> None:
        pick = self._home.pick  # type: ignore[attr-defined]
        for i in idx:
            buf = self.misses[i]
            window = np.frombuffer(buf[self._miss_mark[i] :], dtype=np.int64)
            if not len(window):
                continue
            u, c = np.unique(window, return_counts=True)
            homes = np.fromiter((pick(k) for k in u.tolist()), dtype=np.int64, count=len(u))
            away = homes != i
            if away.any() and len(self.moved) < MAX_MOVED_ROWS:
                for h in np.unique(homes[away]).tolist():
                    self.moved.append((t, i, h, int(c[away & (homes == h)].sum())))

    def summary(self) -> HotKeySummary:
        """The sketches with every buffered key folded in (copies: the run goes on)."""
        hit, miss = [s.copy() for s in self.hit_sketch], [s.copy() for s in self.miss_sketch]
        for i in range(len(self.names)):
            hit[i].update(np.frombuffer(self.hits[i][:], dtype=np.int64))
            miss[i].update(np.frombuffer(self.misses[i][:], dtype=np.int64))
        return HotKeySummary(self.names, hit, miss, list(self.moved), self._home is not None)


@dataclass
class HotKeySummary:
    """What a result holds: per-node sketches of hits and of misses, the moved-miss log."""

    names: tuple[str, ...]
    hit: list[SpaceSaving]
    miss: list[SpaceSaving]
    moved: list[tuple[float, int, int, int]]
    key_affine: bool  # consistent hashing: every key has a home node

    @property
    def nbytes(self) -> int:
        return sum(s.keys.nbytes * 3 for s in self.hit + self.miss) + 32 * len(self.moved)

    def lookups(self) -> int:
        return sum(s.n for s in self.hit + self.miss)

    def frame(
        self, node: str | None = None, by: str = "requests", top: int = 20, home_of: object | None = None
    ) -> pd.DataFrame:
        """The ``top`` keys by ``requests`` (lookups) or ``misses``, run-wide or of one node."""
        if by not in ("requests", "misses"):
            raise ValueError(f"by must be 'requests' or 'misses', not {by!r}")
        if node is None:
            idx = list(range(len(self.names)))
        elif node in self.names:
            idx = [self.names.index(node)]
        else:
            raise ValueError(f"no node {node!r}; nodes are {', '.join(self.names)}")
        hit = [self.hit[i] for i in idx]
        miss = [self.miss[i] for i in idx]
        pool = miss if by == "misses" else hit + miss
        keys = np.unique(np.concatenate([s.keys for s in pool])) if pool else _EMPTY
        keys, req, req_err = merged(hit + miss, keys)
        _, mis, mis_err = merged(miss, keys)
        rank = np.lexsort((keys, -(mis if by == "misses" else req)))[:top]
        top_keys = keys[rank]
        served = np.zeros((len(self.names), len(top_keys)), dtype=bool)
        for i in range(len(self.names)):  # nodes that surely served each key
            served[i] = held_mask(self.hit[i], top_keys) | held_mask(self.miss[i], top_keys)
        rows = []
        for col, j in enumerate(rank.tolist()):
            key = int(keys[j])
            owners = [self.names[i] for i in np.flatnonzero(served[:, col]).tolist()]
            home = self.names[home_of.pick(key)] if self.key_affine and home_of is not None else ""  # type: ignore[attr-defined]
            changed = bool(self.key_affine and home and any(o != home for o in owners))
            rq = int(req[j])
            rows.append(
                (
                    key,
                    rq,
                    int(req_err[j]),
                    int(mis[j]),
                    int(mis_err[j]),
                    1.0 - int(mis[j]) / rq if rq else None,
                    home,
                    ",".join(owners),
                    changed,
                )
            )
        return pd.DataFrame(rows, columns=list(HOT_KEY_COLUMNS))

    def moved_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [(t, self.names[i], self.names[h], m) for t, i, h, m in self.moved], columns=list(MOVED_COLUMNS)
        )

    # -- persistence --------------------------------------------------------------------

    def sketch_frame(self) -> pd.DataFrame:
        """Every counter: node, kind (hit | miss), key, count, error."""
        parts = [
            pd.DataFrame({"node": name, "kind": kind, "key": s.keys, "count": s.counts, "error": s.errors})
            for kind, sketches in (("hit", self.hit), ("miss", self.miss))
            for name, s in zip(self.names, sketches, strict=True)
        ]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(SKETCH_COLUMNS))

    def meta_frame(self) -> pd.DataFrame:
        """Per sketch: node, kind, k, floor, n."""
        return pd.DataFrame(
            [
                (name, kind, s.k, s.floor, s.n)
                for kind, sketches in (("hit", self.hit), ("miss", self.miss))
                for name, s in zip(self.names, sketches, strict=True)
            ],
            columns=list(META_COLUMNS),
        )

    @classmethod
    def from_frames(
        cls,
        names: Sequence[str],
        sketch: pd.DataFrame,
        meta: pd.DataFrame,
        moved: pd.DataFrame | None,
        key_affine: bool,
    ) -> HotKeySummary:
        """The inverse of sketch_frame/meta_frame/moved_frame; ValueError if they do not fit."""
        names = tuple(names)
        index = {n: i for i, n in enumerate(names)}
        parts: dict[str, list[SpaceSaving]] = {
            "hit": [SpaceSaving() for _ in names],
            "miss": [SpaceSaving() for _ in names],
        }
        for r in meta.itertuples(index=False):
            if (
                r.node not in index
                or r.kind not in parts
                or not (int(r.k) >= 1 and int(r.floor) >= 0 and int(r.n) >= 0)
            ):
                raise ValueError("hot-key sketch metadata does not fit the run")
            parts[r.kind][index[r.node]] = SpaceSaving(int(r.k), floor=int(r.floor), n=int(r.n))
        for (node, kind), g in sketch.groupby(["node", "kind"], sort=False):
            if node not in index or kind not in parts:
                raise ValueError("hot-key sketch rows do not fit the run")
            s = parts[kind][index[node]]
            g = g.sort_values("key", kind="stable")
            keys, counts, errors = (g[c].to_numpy(dtype=np.int64) for c in ("key", "count", "error"))
            if len(keys) > s.k or (np.diff(keys) <= 0).any() or (errors < 0).any() or (counts < errors).any():
                raise ValueError("hot-key sketch rows are not a valid sketch")
            s.keys, s.counts, s.errors = keys, counts, errors
        rows: list[tuple[float, int, int, int]] = []
        if moved is not None:
            for r in moved.itertuples(index=False):
                if r.node not in index or r.home not in index:
                    raise ValueError("moved-miss rows name an unknown node")
                rows.append((float(r.t), index[r.node], index[r.home], int(r.misses)))
        return cls(names, parts["hit"], parts["miss"], rows, key_affine)


def empty_summary(names: Sequence[str] = ()) -> HotKeySummary:
    return HotKeySummary(tuple(names), [SpaceSaving() for _ in names], [SpaceSaving() for _ in names], [], False)


def home_router(cfg: object) -> object | None:
    """A consistent-hash ring with every node up (``pick(key)`` is the key's home node),
    or None when the routing gives keys no home."""
    from .policies.routing import ConsistentHash

    c = cfg.cluster  # type: ignore[attr-defined]
    if c.routing != "consistent_hash":
        return None
    return ConsistentHash([f"node-{i + 1}" for i in range(c.nodes)], c.virtual_nodes)


def save_frames(hot: HotKeySummary) -> dict[str, pd.DataFrame]:
    """The frames of :data:`FILES`."""
    return dict(zip(FILES, (hot.sketch_frame(), hot.meta_frame(), hot.moved_frame()), strict=True))


def load_frames(cfg: object, frames: dict[str, pd.DataFrame]) -> HotKeySummary | None:
    """A saved run's sketches (None when the run was saved without them)."""
    if FILES[0] not in frames or FILES[1] not in frames:
        return None
    c = cfg.cluster  # type: ignore[attr-defined]
    names = [f"node-{i + 1}" for i in range(c.nodes)]
    return HotKeySummary.from_frames(
        names, frames[FILES[0]], frames[FILES[1]], frames.get(FILES[2]), c.routing == "consistent_hash"
    )
