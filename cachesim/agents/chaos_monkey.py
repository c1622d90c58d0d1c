"""The chaos monkey: scheduled faults from ``chaos.events`` and random ones at
configured rates. Every action it takes is logged as an event."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simpy.events import Timeout

from ..config import DATABASE_ENDPOINT, ChaosEvent, SimConfig
from ..environment import SimEnvironment
from ..events import EventKind, Group, TargetKind
from ..metrics import EventLog
from ..rng import Stream

if TYPE_CHECKING:
    from .cache_node import CacheNode
    from .network import Network

SOURCE = Group.CHAOS.value
K = EventKind


class ChaosMonkey:
    def __init__(
        self,
        env: SimEnvironment,
        cfg: SimConfig,
        nodes: list[CacheNode],
        net: Network,
        stream: Stream,
        events: EventLog,
    ) -> None:
        self.env = env
        self.cfg = cfg.chaos
        self.nodes = {n.name: n for n in nodes}
        self._order = [n.name for n in nodes]
        self.net = net
        self._stream = stream
        self.events = events

    def start(self) -> None:
        for ev in self.cfg.events:
            self._at(ev.at_s, self._apply, ev)
        if self.cfg.random_kill_per_min > 0:
            self._schedule_random(self.cfg.random_kill_per_min, self._random_kill)
        if self.cfg.random_slow_per_min > 0:
            self._schedule_random(self.cfg.random_slow_per_min, self._random_slow)

    def _at(self, t: float, fn, *args) -> None:
        ev = Timeout(self.env, max(0.0, t - self.env.now))
        ev.callbacks.append(lambda _e: fn(*args))

    def _log(
        self,
        kind: EventKind,
        target: str,
        message: str,
        *,
        ends_at: float | None = None,
        target_kind: TargetKind | None = None,
    ) -> None:
        self.events.add(self.env.now, kind, SOURCE, message, target, target_kind=target_kind, ends_at=ends_at)

    # -- actions ------------------------------------------------------------------------

    def _apply(self, ev: ChaosEvent) -> None:
        targets = ev.targets()
        until = f" for {ev.duration_s:g} s" if ev.duration_s else ""
        end = self.env.now + ev.duration_s if ev.duration_s else None
        if ev.action == K.KILL:
            for name in targets:
                self.kill(name, until, ends_at=end)
                if end is not None:
                    self._at(end, self.restart, name)
        elif ev.action == K.RESTART:
            for name in targets:
                self.restart(name)
        elif ev.action == K.SLOW:
            for name in targets:
                self.nodes[name].slow_factor = ev.factor
                self.nodes[name].touch()
                self._log(K.SLOW, name, f"chaos slowed {name} {ev.factor:g}x{until}", ends_at=end)
                if end is not None:
                    self._at(end, self._unslow, name)
        elif ev.action == K.PARTITION:
            self.net.partition(targets)
            self._log(
                K.PARTITION,
                ",".join(targets),
                f"chaos partitioned {', '.join(targets)} from the rest of the system{until}",
                ends_at=end,
            )
            if end is not None:
                self._at(end, self._heal, targets)
        elif ev.action == K.HEAL:
            self._heal(targets or None)
        elif ev.action == K.LOSS:
            self.net.loss_rate = ev.loss_rate
            self._log(
                K.LOSS,
                TargetKind.NETWORK.value,
                f"chaos set network loss to {ev.loss_rate:.0%}{until}",
                ends_at=end,
                target_kind=TargetKind.NETWORK,
            )
            if end is not None:
                self._at(end, self._end_loss)

    def kill(self, name: str, until: str = "", *, ends_at: float | None = None) -> None:
        node = self.nodes[name]
        if not node.alive:
            return
        node.kill()
        self._log(K.KILL, name, f"chaos killed {name}{until}; its cache contents are lost", ends_at=ends_at)

    def restart(self, name: str) -> None:
        node = self.nodes[name]
        if node.alive:
            return
        node.restart()
        self._log(K.RESTART, name, f"chaos restarted {name}; it comes back cold (empty)")

    def _unslow(self, name: str) -> None:
        self.nodes[name].slow_factor = 1.0
        self.nodes[name].touch()
        self._log(K.HEAL, name, f"{name} back to normal speed")

    def _heal(self, targets: list[str] | None) -> None:
        """End partitions and slowdowns of ``targets`` (everything when None)."""
        names = targets if targets is not None else list(self.nodes) + [DATABASE_ENDPOINT]
        self.net.heal(targets)
        for name in names:
            if name in self.nodes:
                self.nodes[name].slow_factor = 1.0
                self.nodes[name].touch()
        if targets:
            self._log(K.HEAL, ",".join(targets), f"chaos healed {', '.join(targets)}")
        else:
            self._log(K.HEAL, TargetKind.ALL.value, "chaos healed everything", target_kind=TargetKind.ALL)

    def _end_loss(self) -> None:
        self.net.loss_rate = self.net.base_loss
        self._log(
            K.HEAL,
            TargetKind.NETWORK.value,
            f"network loss back to {self.net.base_loss:.0%}",
            target_kind=TargetKind.NETWORK,
        )

    # -- random faults ------------------------------------------------------------------

    def _schedule_random(self, per_min: float, fn) -> None:
        gap = 60.0 / per_min * self._stream.exponential()
        ev = Timeout(self.env, gap)
        ev.callbacks.append(lambda _e: (fn(), self._schedule_random(per_min, fn)))

    def _pick(self) -> str:
        return self._order[int(self._stream.uniform() * len(self._order))]

    def _random_kill(self) -> None:
        name = self._pick()
        if self.nodes[name].alive:
            end = self.env.now + self.cfg.random_downtime_s
            self.kill(name, f" for {self.cfg.random_downtime_s:g} s (random)", ends_at=end)
            self._at(end, self.restart, name)

    def _random_slow(self) -> None:
        name = self._pick()
        node = self.nodes[name]
        if node.alive and node.slow_factor == 1.0:
            node.slow_factor = self.cfg.random_slow_factor
            node.touch()
            end = self.env.now + self.cfg.random_slow_duration_s
            self._log(
                K.SLOW,
                name,
                f"chaos slowed {name} {self.cfg.random_slow_factor:g}x "
                f"for {self.cfg.random_slow_duration_s:g} s (random)",
                ends_at=end,
            )
            self._at(end, self._unslow, name)
