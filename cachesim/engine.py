"""Simulation: builds the world from a SimConfig and streams Snapshots.

The engine is a generator over simulated time: ``stream()`` advances the run's
:class:`~cachesim.environment.SimEnvironment` to each snapshot boundary and yields a
frozen Snapshot. ``stop()`` (safe from another thread) interrupts the advance between
two events; calling ``stream()`` again resumes exactly where it stopped, without
re-simulating anything. Nothing the observer does draws a random number or changes a
request's fate, so the snapshot interval, stops and mid-run results never change what
is simulated.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd

from .agents.cache_node import CacheNode
from .agents.chaos_monkey import ChaosMonkey
from .agents.client import Clients
from .agents.consistency import Convergence
from .agents.database import Database
from .agents.directory import Directory
from .agents.gutter import GutterPool
from .agents.load_balancer import LoadBalancer
from .agents.network import Network
from .agents.observer import Observer
from .config import SimConfig
from .environment import SimEnvironment
from .events import EventKind
from .hotkeys import Recorder, empty_summary, home_router
from .metrics import NODE_DTYPE, EventLog, NodeTable, Snapshot, SnapshotLog
from .results import RunRecord, RunResult
from .rng import RandomStreams
from .samples import resolve_trace
from .sizes import size_function, sized, transfer_s_per_byte, unit_size
from .traces import Trace
from .workload import TraceSampler, make_key_sampler, trace_arrivals


class Simulation:
    """One run of one config. Deterministic: the same config gives the same snapshots."""

    def __init__(self, config: SimConfig, *, max_events: int = 10_000, trace: Trace | None = None) -> None:
        """``trace``: replay this trace's keys (and ops) instead of reading
        ``workload.trace`` (for traces held in memory, such as an upload)."""
        self.config = cfg = config
        self.env = env = SimEnvironment()
        streams = RandomStreams(cfg.seed)
        self.events = EventLog(max_events)
        self.obs = obs = Observer(cfg.warmup_s, self.events)
        self.net = net = Network(env, cfg.network, streams["network"], streams["fanout"])
        w = cfg.workload
        if trace is None and w.trace:
            trace = resolve_trace(w.trace)  # a sample by name, or a file path
        #: whether objects have sizes in this run (sizes.py); off, nothing on the hot path changes
        self.sized = is_sized = sized(cfg, trace.sizes if trace is not None else None)
        size_of = size_function(cfg) if is_sized else None
        arrivals = trace_arrivals(trace, w.trace_speed) if trace is not None and w.trace_timing == "trace" else None
        if trace is not None:
            sampler = TraceSampler(trace, w.write_ratio, streams["ops"].gen, track_sizes=is_sized and size_of is None)
            if is_sized and size_of is None:
                size_of = sampler.size_of
        else:
            sampler = make_key_sampler(w, streams["keys"].gen, streams["ops"].gen)
        if is_sized and size_of is None:
            size_of = unit_size
        directory = Directory()
        names = tuple(f"node-{i + 1}" for i in range(cfg.cluster.nodes))
        obs.hot = Recorder(names, home_router(cfg))
        self.nodes = [CacheNode(env, cfg, i, streams["service"], obs, net, directory) for i in range(cfg.cluster.nodes)]
        self.db = Database(env, cfg, streams["db"], obs, net, directory)
        # the gutter pool (none by default): its service times from its own stream
        self.gutter = GutterPool(env, cfg, streams["gutter"], obs, net) if cfg.cluster.gutter_nodes else None
        gutter_nodes = self.gutter.nodes if self.gutter else []
        self.clients = Clients(env, cfg, streams["arrivals"], sampler, obs, net)
        self.balancer = LoadBalancer(env, cfg, self.nodes, net, streams["routing"], self.events)
        self.chaos = ChaosMonkey(env, cfg, self.nodes, net, streams["chaos"], self.events)
        self.clients.lb, self.clients.db = self.balancer, self.db
        if size_of is not None:
            s_per_byte = transfer_s_per_byte(cfg)
            obs.counts_bytes = True
            for node in self.nodes:
                node.use_sizes(size_of, s_per_byte)
            self.db.use_sizes(size_of, s_per_byte)
            self.clients.use_sizes(size_of, s_per_byte)
        if arrivals is not None:
            self.clients.use_trace_times(arrivals.tolist())
        self.db.nodes, self.db.clients = self.nodes, self.clients
        self.db.node_names = [n.name for n in self.nodes]
        self.convergence = Convergence(cfg.warmup_s)
        self.db.convergence = self.convergence
        self.convergence.gather = self.db.copies
        self.db.copy_sources = [(directory, self.nodes)]
        if self.gutter:
            self.db.copy_sources.append((self.gutter.directory, gutter_nodes))
        if self.gutter:
            self.clients.gutter = self.gutter
        for node in (*self.nodes, *gutter_nodes):
            node.connect(self.db, self.clients)
            node.connect_consistency(self.convergence)
        for node in gutter_nodes:
            node._release_at = None  # the balancer does not count the gutter's requests
        self._all_nodes = (*self.nodes, *gutter_nodes)
        env.set_feed(self.clients)
        self.clients.start()
        self.balancer.start()
        self.chaos.start()
        if cfg.warmup_s > 0:
            env.timeout(cfg.warmup_s).callbacks.append(lambda _e: obs.mark_warmup())
        assert names == tuple(n.name for n in self.nodes)
        #: every snapshot so far, stored as columns (index it for a Snapshot)
        self.snapshots = SnapshotLog(names, cfg.cluster.node_capacity, self.events)
        self.n_snapshots = max(1, math.ceil(round(cfg.duration_s / cfg.snapshot_interval_s, 9)))
        self.status = "ready"  # ready | running | stopped | finished
        self._stop_requested = False
        self._final: RunRecord | None = None  # the record of a retired run (retire())
        self._names = names
        # the node table's state between snapshots (see _node_table): every node starts touched
        n = len(names)
        self._touched: set[int] = set(range(n))
        for node in self.nodes:
            node.report_changes_to(self._touched)
        self._gutter_nodes = tuple(gutter_nodes)
        self._cum = [(0, 0, 0)] * n  # (requests, hits, misses) at each node's last reading
        self._last_table = np.zeros(n, dtype=NODE_DTYPE)  # (never read: every node starts touched)
        self._last_touched: list[int] = []
        #: the database's queue length and busy slots at each snapshot (t, queue, busy)
        self._db_samples: list[tuple[float, int, int]] = []
        self.events.add(
            0.0,
            EventKind.RUN_STARTED,
            "engine",
            f"run started: {cfg.cluster.nodes} nodes, {cfg.cluster.eviction}, "
            f"{cfg.cluster.routing}, {w.rate_rps:g} req/s for {cfg.duration_s:g} s",
        )

    # -- running ------------------------------------------------------------------------

    @property
    def now(self) -> float:
        env = self.env  # retire() records first, then lets go of env: read it once
        return env.now if env is not None else self._final.sim_time_s  # type: ignore[union-attr]

    def retire(self) -> bool:
        """Let go of the engine of a finished run (the nodes' caches, the clients, the
        network, the event queue): its record is kept, so ``result()``, ``hot_keys()``,
        ``now``, ``snapshots`` and ``events`` still answer. A live page's finished run
        otherwise holds all of it until the session's next run. True if retired (a run
        that has not finished keeps its engine: it may resume)."""
        if self.status != "finished":
            return False
        if self._final is None:
            self._final = self.record()
            self.env = self.net = self.db = self.gutter = self.clients = None  # type: ignore[assignment]
            self.balancer = self.chaos = self.convergence = None  # type: ignore[assignment]
            self.nodes, self._all_nodes, self._gutter_nodes = [], (), ()
            self.obs.hot = None
        return True

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def progress(self) -> float:
        return len(self.snapshots) / self.n_snapshots

    def stream(self) -> Iterator[Snapshot]:
        """Advance to each snapshot boundary in turn and yield its Snapshot, until the
        end of the run or :meth:`stop`."""
        self._stop_requested = False
        cfg = self.config
        while len(self.snapshots) < self.n_snapshots:
            if self._stop_requested:
                self.status = "stopped"
                return
            self.status = "running"
            k = len(self.snapshots) + 1
            t = cfg.duration_s if k == self.n_snapshots else round(k * cfg.snapshot_interval_s, 9)
            self.obs.horizon = t
            if not self.env.advance(t):  # interrupted by stop(): resume from here later
                self.status = "stopped"
                return
            snap = self._snapshot(t)
            self.snapshots.append(snap)
            if k == self.n_snapshots:
                self.status = "finished"
            yield snap
        self.status = "finished"

    def stop(self) -> None:
        """Stop the current :meth:`stream` as soon as possible (between two events, or
        after the snapshot being taken); a later ``stream()`` resumes exactly. Safe to
        call from another thread."""
        self._stop_requested = True
        if self._final is not None:
            return  # retired: finished, nothing to stop
        self.env.interrupt()
        if self.status in ("ready", "running"):
            self.status = "stopped"

    def resume(self) -> None:
        """Undo :meth:`stop` before the next :meth:`stream` (which resumes exactly): the
        run reads as running again (a finished run stays finished)."""
        if self.status == "stopped":
            self._stop_requested = False
            self.status = "running"

    def run(self) -> RunResult:
        """Run to the end (or to the next stop) and return the result."""
        for _ in self.stream():
            pass
        return self.result()

    def record(self) -> RunRecord:
        """Everything a RunResult is built from, as plain data (also mid-run)."""
        if self._final is not None:
            return self._final
        for n in self._all_nodes:
            n.catch_up()
        out = self.balancer.outstanding_counts()
        obs = self.obs
        now = float(self.env.now)
        stale_time = sum(n.stale_time_s + n.open_stale_time(now) for n in self._all_nodes)
        return RunRecord(
            config=self.config,
            status=self.status,
            sim_time_s=float(self.env.now),
            snapshots=self.snapshots,
            events=list(self.events),
            counters=obs.counters(),
            at_warmup=obs.at_warmup,
            m_issued=obs.m_issued,
            m_failed=obs.m_failed,
            m_counts=np.asarray(obs.m_counts, dtype=np.int64),
            m_sum_ms=obs.m_sum_ms,
            m_max_ms=obs.m_max_ms,
            hot_keys=obs.hot.summary() if obs.hot is not None else None,
            db_samples=list(self._db_samples),
            stale_time_s=stale_time,
            convergence=self.convergence.report(now),
            node_totals=[
                (
                    n.name,
                    n.alive,
                    self.balancer.believed_up[n.index],
                    n.slow_factor,
                    n.requests,
                    n.hits,
                    n.misses,
                    n.dropped,
                    n.rejected,
                    n.evictions,
                    n.invalidated,
                    n.occupancy,
                    n.capacity,
                    int(out[n.index]),
                )
                for n in self.nodes
            ],
        )

    def hot_keys(self, node: str | None = None, by: str = "requests", top: int = 20) -> pd.DataFrame:
        """The hot-key leaderboard so far (also mid-run): ``result().hot_keys(...)``
        without building the rest of the result."""
        if self._final is not None:
            hot = self._final.hot_keys
        else:
            hot = self.obs.hot.summary() if self.obs.hot is not None else None
        if hot is None:
            hot = empty_summary(self._names)
        return hot.frame(node, by, top, home_router(self.config))

    def result(self) -> RunResult:
        """The run so far as a RunResult (also mid-run)."""
        return RunResult.from_record(self.record())

    # -- observing ----------------------------------------------------------------------

    def _snapshot(self, t: float) -> Snapshot:
        if len(self.snapshots) + 1 == self.n_snapshots:  # logged first, so the last snapshot carries it
            self.events.add(t, EventKind.RUN_FINISHED, "engine", f"run finished at t={t:g} s")
        nodes = self._node_table()  # first: catching up answers requests
        if self.obs.hot is not None:
            self.obs.hot.snapshot(t, self.balancer.believed_up, self._last_touched)
        self._db_samples.append((t, len(self.db.queue), self.db.busy))
        snap = self.obs.snapshot(t, self.clients.in_flight, nodes)
        self.obs.check_anomaly(snap)
        return snap

    def _node_table(self) -> NodeTable:
        """The nodes' records at the end of this window. Only the nodes touched since
        the last snapshot (see :meth:`CacheNode.report_changes_to`), and those that still
        had work in hand then, are caught up and read: the others' records are the last
        ones with no requests in the window. So a snapshot costs the nodes that did
        something, not the cluster's size (at 1,024 nodes and 200 requests per window,
        most nodes do nothing in a window)."""
        touched, nodes = self._touched, self.nodes
        for i in sorted(touched):  # in index order, as a catch-up can answer requests
            nodes[i].catch_up()  # answers sent and messages arrived by now count in this window
        for g in self._gutter_nodes:
            g.catch_up()
        idx = sorted(touched)  # again: a catch-up's answers may have touched more nodes
        touched.clear()
        cum, routed, rows = self._cum, self.balancer.believed_up, []
        for i in idx:  # one record per touched node (fields in NODE_DTYPE's order)
            n = nodes[i]
            r, h, m = n.requests, n.hits, n.misses
            pr, ph, pm = cum[i]  # the window's counts: cumulative ones minus those at the last reading
            cum[i] = (r, h, m)
            q, b = len(n.queue), n.in_service
            rows.append((n.alive, routed[i], False, n.slow_factor, r - pr, h - ph, m - pm, n.occupancy, q, b))
            if q or b or n.has_inbox:
                touched.add(i)  # work in hand: read it again at the next snapshot
        self._last_touched = idx
        if len(idx) == len(nodes):  # every node did something (a small cluster, mostly)
            table = np.array(rows, dtype=NODE_DTYPE)
        else:  # the others keep their last record, with no requests in this window
            table = self._last_table.copy()
            table["requests"] = 0
            table["hits"] = 0
            table["misses"] = 0
            table["routed"] = routed
            table["partitioned"] = False
            if rows:
                table[idx] = np.array(rows, dtype=NODE_DTYPE)
        net = self.net
        if net.partitioned():
            table["partitioned"] = [net.is_partitioned(n.name) for n in nodes]
        self._last_table = table
        return NodeTable(self._names, self.config.cluster.node_capacity, table)


def simulate(config: SimConfig, *, trace: Trace | None = None) -> RunResult:
    """Run ``config`` to the end and return its RunResult."""
    return Simulation(config, trace=trace).run()
