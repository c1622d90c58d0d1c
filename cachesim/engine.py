"""Simulation: builds the world from a SimConfig and streams Snapshots.

The engine is a generator over simulated time: ``stream()`` advances simpy to each
snapshot boundary with ``run_until(env, t)`` (``env.run(until=t)`` for a queue that
also holds the hot path's plain messages, see ``agents/scheduler.py``) and yields a
frozen Snapshot. ``stop()`` ends the stream after the current snapshot; calling
``stream()`` again resumes where it stopped, without re-simulating anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import simpy

from .agents.cache_node import CacheNode
from .agents.chaos_monkey import ChaosMonkey
from .agents.client import Clients
from .agents.database import Database
from .agents.load_balancer import LoadBalancer
from .agents.network import Network
from .agents.observer import Observer
from .agents.scheduler import run_until
from .config import SimConfig
from .metrics import EventLog, NodeSnapshot, Snapshot
from .results import RunResult
from .rng import RandomStreams
from .workload import KeySampler, TraceSampler


class Simulation:
    """One run of one config. Deterministic: the same config gives the same snapshots."""

    def __init__(self, config: SimConfig, *, max_events: int = 10_000) -> None:
        self.config = cfg = config
        self.env = env = simpy.Environment()
        streams = RandomStreams(cfg.seed)
        self.events = EventLog(max_events)
        self.obs = obs = Observer(cfg.warmup_s, self.events)
        self.net = net = Network(env, cfg.network, streams["network"])
        w = cfg.workload
        if w.trace:
            sampler = TraceSampler(w.trace, w.write_ratio, streams["ops"].gen)
        else:
            sampler = KeySampler(w, streams["keys"].gen, streams["ops"].gen)
        self.nodes = [CacheNode(env, cfg, i, streams["service"], obs, net) for i in range(cfg.cluster.nodes)]
        self.db = Database(env, cfg, streams["db"], obs, net)
        self.clients = Clients(env, cfg, streams["arrivals"], sampler, obs, net)
        self.balancer = LoadBalancer(env, cfg, self.nodes, net, streams["routing"], self.events)
        self.chaos = ChaosMonkey(env, cfg, self.nodes, net, streams["chaos"], self.events)
        self.clients.lb, self.clients.db = self.balancer, self.db
        self.db.nodes, self.db.clients = self.nodes, self.clients
        for node in self.nodes:
            node.connect(self.db, self.clients)
        self.clients.start()
        self.balancer.start()
        self.chaos.start()
        if cfg.warmup_s > 0:
            env.timeout(cfg.warmup_s).callbacks.append(lambda _e: obs.mark_warmup())
        self.snapshots: list[Snapshot] = []
        self.n_snapshots = max(1, math.ceil(round(cfg.duration_s / cfg.snapshot_interval_s, 9)))
        self.status = "ready"  # ready | running | stopped | finished
        self._stop_requested = False
        self._node_prev: dict[int, tuple[int, int, int]] = {}
        self.events.add(0.0, "run_started", "engine",
                        f"run started: {cfg.cluster.nodes} nodes, {cfg.cluster.eviction}, "
                        f"{cfg.cluster.routing}, {w.rate_rps:g} req/s for {cfg.duration_s:g} s")

    # -- running ------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.env.now

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
            run_until(self.env, t, self.clients)
            snap = self._snapshot(t)
            self.snapshots.append(snap)
            if k == self.n_snapshots:
                self.status = "finished"
            yield snap
        self.status = "finished"

    def stop(self) -> None:
        """End the current :meth:`stream` after the snapshot being taken; a later
        ``stream()`` resumes from there."""
        self._stop_requested = True
        if self.status == "running":
            self.status = "stopped"

    def run(self) -> RunResult:
        """Run to the end (or to the next stop) and return the result."""
        for _ in self.stream():
            pass
        return self.result()

    def result(self) -> RunResult:
        """The run so far as a RunResult (also mid-run)."""
        return RunResult.from_simulation(self)

    # -- observing ----------------------------------------------------------------------

    def _snapshot(self, t: float) -> Snapshot:
        nodes = tuple(self._node_snapshot(n) for n in self.nodes)
        if len(self.snapshots) + 1 == self.n_snapshots:  # logged first, so the last snapshot carries it
            self.events.add(t, "run_finished", "engine", f"run finished at t={t:g} s")
        snap = self.obs.snapshot(t, self.clients.in_flight, nodes)
        self.obs.check_anomaly(snap)
        return snap

    def _node_snapshot(self, n: CacheNode) -> NodeSnapshot:
        n.flush()  # answers sent by now are counted in this window
        prev = self._node_prev.get(n.index, (0, 0, 0))
        now = (n.requests, n.hits, n.misses)
        self._node_prev[n.index] = now
        return NodeSnapshot(
            name=n.name, up=n.alive, routed=self.balancer.believed_up[n.index],
            slow_factor=n.slow_factor, partitioned=self.net.is_partitioned(n.name),
            requests=now[0] - prev[0], hits=now[1] - prev[1], misses=now[2] - prev[2],
            occupancy=n.occupancy, capacity=n.capacity, queue_len=len(n.queue), busy=n.busy,
        )


def simulate(config: SimConfig) -> RunResult:
    """Run ``config`` to the end and return its RunResult."""
    return Simulation(config).run()
