"""SimConfig: the validated, frozen description of one simulation run.

Everything a run depends on is here; a run is a pure function of (config, seed).
Validation happens once, up front, with errors that name the field and the allowed
range; the engine then trusts the config.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cachesim import events
from cachesim.policies import ONLINE_EVICTION_NAMES, online_eviction_names, routing_names

#: From the eviction-policy registry (all but the replay-only Belady), as built in;
#: validation asks the registry itself (:func:`allowed_values`), so a policy registered
#: later is allowed too.
EVICTION_NAMES = ONLINE_EVICTION_NAMES
#: From the routing registry (cachesim.policies.routing.ROUTING_POLICIES), as built in.
ROUTING_NAMES = routing_names()
#: The chaos actions a schedule may use: the chaos group of cachesim.events.EventKind.
CHAOS_ACTIONS: tuple[str, ...] = tuple(k.value for k in events.CHAOS_ACTIONS)
#: A partition may isolate the database as well as cache nodes.
DATABASE_ENDPOINT = events.DATABASE
#: Fields whose allowed values are a policy registry's names, read when validating.
REGISTRY_FIELDS = {"cluster.eviction": online_eviction_names, "cluster.routing": routing_names}
#: Floors on time intervals, so simulated time always advances (a 1e-300 s probe
#: period or fault would schedule events at the same instant for ever).
MIN_INTERVAL_S = 0.001
MIN_PROBE_S = 0.01
MIN_TIMEOUT_MS = 0.01
#: Deepest nesting of lists/tables a config may have (TOML, JSON, dicts); the schema
#: needs 3 (chaos.events rows); deeper input would exhaust Python's recursion limit.
MAX_NESTING = 16


class ConfigError(ValueError):
    """A problem with a config that is not a field value: a TOML syntax error, an
    unknown scenario, an unknown override key. The message is one clear line."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class WorkloadConfig(_Section):
    rate_rps: float = Field(
        2000.0, gt=0, le=1_000_000, description="Offered load, requests per simulated second (open loop, Poisson)."
    )
    clients: int = Field(
        4,
        ge=1,
        le=10_000,
        description="Client processes; the rate is split evenly over them (open-loop Poisson clients together are one Poisson process at rate_rps, drawn as such: the count does not change the traffic).",
    )
    keys: int = Field(10_000, ge=1, le=10_000_000, description="Size of the key space.")
    distribution: Literal["zipf", "uniform", "hotspot"] = Field("zipf", description="Key popularity.")
    zipf_alpha: float = Field(0.9, ge=0, le=3, description="Zipf exponent: P(rank k) ~ 1/k^alpha.")
    hotspot_fraction: float = Field(0.1, gt=0, le=1, description="Hotspot: fraction of keys that are hot.")
    hotspot_share: float = Field(0.9, ge=0, le=1, description="Hotspot: share of requests that go to the hot keys.")
    write_ratio: float = Field(0.05, ge=0, le=1, description="Fraction of requests that are writes.")
    trace: str | None = Field(
        None,
        description="Replay the keys (and ops) of a trace file instead of the generator; arrivals by trace_timing.",
    )
    trace_timing: Literal["poisson", "trace"] = Field(
        "poisson",
        description="Arrivals of a replayed trace: poisson (at rate_rps) or trace (at the trace's own timestamps, divided by trace_speed; the trace is replayed once).",
    )
    trace_speed: float = Field(
        1.0,
        gt=0,
        le=1_000_000,
        description="trace timing: how many times faster than recorded the trace is replayed (2 = twice as fast).",
    )
    size: Literal["trace", "fixed", "lognormal"] = Field(
        "trace",
        description="Object sizes in bytes: trace (a replayed trace's size column; 1 byte each without one), fixed (size_bytes each) or lognormal (mean size_bytes, log-sd size_sigma); a deterministic function of key and seed.",
    )
    size_bytes: int = Field(
        4096, ge=1, le=1_000_000_000, description="fixed: every object's size; lognormal: the mean size (bytes)."
    )
    size_sigma: float = Field(1.0, ge=0, le=4, description="lognormal: standard deviation of the log of the size.")

    @field_validator("trace")
    @classmethod
    def _trace_path(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            return None
        return v


class LeaseConfig(_Section):
    """Memcache leases ("Scaling Memcache at Facebook", section 3.2.1)."""

    enabled: bool = Field(
        False,
        description="Leases: a miss gets a token for the key, a fill must present it, an invalidation voids it (a late fill is refused: no stale set); while a key's token is out, other misses wait and retry (no thundering herd).",
    )
    interval_s: float = Field(
        10.0,
        ge=MIN_INTERVAL_S,
        le=3600,
        description="A node hands out at most one token per key per interval (0.001 to 3600 s; the paper: 10 s): a token is out until its fill, an invalidation, or the interval's end.",
    )
    backoff_s: float = Field(
        0.01,
        ge=MIN_INTERVAL_S,
        le=10,
        description="How long a miss told to wait holds off before it looks the key up again at the node (0.001 to 10 s).",
    )


class ClusterConfig(_Section):
    nodes: int = Field(4, ge=1, le=1024, description="Cache nodes, named node-1 .. node-N.")
    capacity: int = Field(
        1000, ge=0, le=50_000_000, description="Items per node; 0 means no cache (every read goes to the database)."
    )
    capacity_bytes: int = Field(
        0,
        ge=0,
        le=2**50,
        description="Bytes per node, instead of capacity (then set capacity to 0); 0 means items count (capacity).",
    )
    eviction: str = Field("lru", description=f"Eviction policy: {' | '.join(EVICTION_NAMES)}.")
    routing: str = Field(
        "consistent_hash", description=f"How the load balancer picks a node: {' | '.join(ROUTING_NAMES)}."
    )
    virtual_nodes: int = Field(100, ge=1, le=2000, description="Points per node on the consistent-hash ring.")
    service_time_ms: float = Field(0.5, ge=0, le=10_000, description="Mean time a node spends on one request.")
    service_distribution: Literal["constant", "exponential"] = Field(
        "exponential", description="Service-time distribution."
    )
    concurrency: int = Field(8, ge=1, le=10_000, description="Requests a node serves in parallel; the rest queue.")
    queue_limit: int = Field(
        1000, ge=0, le=1_000_000, description="Requests a node lets wait; more are dropped (the client times out)."
    )
    ttl_s: float = Field(
        0.0, ge=0, le=86_400, description="Entry lifetime in seconds; 0 means no expiry (else at least 0.001)."
    )
    health_check_interval_s: float = Field(
        0.5, ge=MIN_PROBE_S, le=3600, description="How often the balancer probes nodes (at least 0.01 s)."
    )
    coalesce_misses: bool = Field(
        False, description="Collapse concurrent misses on one key into a single database read."
    )
    leases: LeaseConfig = LeaseConfig()
    gutter_nodes: int = Field(
        0,
        ge=0,
        le=64,
        description="Gutter pool: spare nodes outside the routing ring (0 to 64; the paper: about 1% of the cluster). A read whose node gives no answer (timeout, or believed down) is retried at the gutter; a gutter miss reads the database and fills with gutter_ttl_s; no invalidations reach the gutter.",
    )
    gutter_ttl_s: float = Field(
        10.0,
        ge=MIN_INTERVAL_S,
        le=86_400,
        description="Entry lifetime in the gutter pool (0.001 to 86400 s): bounds how long a gutter copy can be stale.",
    )

    @property
    def in_bytes(self) -> bool:
        """Whether the nodes' capacity is in bytes (``capacity_bytes``) rather than items."""
        return self.capacity_bytes > 0

    @property
    def node_capacity(self) -> int:
        """What one node holds: bytes with ``capacity_bytes``, else items (0: no cache)."""
        return self.capacity_bytes or self.capacity

    @field_validator("ttl_s")
    @classmethod
    def _ttl_floor(cls, v: float) -> float:
        if 0 < v < MIN_INTERVAL_S:
            raise ValueError(f"must be 0 (no expiry) or at least {MIN_INTERVAL_S:g} s")
        return v

    @field_validator("eviction")
    @classmethod
    def _eviction_known(cls, v: str) -> str:
        return _registered("eviction policy", v, allowed_values("cluster.eviction"))

    @field_validator("routing")
    @classmethod
    def _routing_known(cls, v: str) -> str:
        return _registered("routing policy", v, allowed_values("cluster.routing"))


def allowed_values(key: str) -> tuple[str, ...]:
    """The names a registry-backed field (:data:`REGISTRY_FIELDS`) accepts now."""
    return REGISTRY_FIELDS[key]()


def _registered(what: str, value: str, allowed: tuple[str, ...]) -> str:
    v = value.strip().lower()
    if v not in allowed:
        raise ValueError(f"unknown {what} {v!r}; allowed: {', '.join(allowed)}")
    return v


class DatabaseConfig(_Section):
    service_time_ms: float = Field(
        5.0, ge=0, le=60_000, description="Mean time the database spends on one read or write."
    )
    service_distribution: Literal["constant", "exponential"] = Field(
        "exponential", description="Service-time distribution."
    )
    concurrency: int = Field(16, ge=1, le=10_000, description="Requests the database serves in parallel.")
    queue_limit: int = Field(
        10_000, ge=0, le=1_000_000, description="Requests the database lets wait; more are dropped."
    )
    write_policy: Literal["invalidate", "write_through", "none"] = Field(
        "invalidate", description="On a write: invalidate the nodes' copies, update them, or nothing (TTL only)."
    )


class NetworkConfig(_Section):
    latency_ms: float = Field(1.0, ge=0, le=10_000, description="Mean one-way delay per hop.")
    jitter_ms: float = Field(
        0.2,
        ge=0,
        le=10_000,
        description="Standard deviation of the delay (gamma-distributed: always positive, mean exactly latency_ms).",
    )
    loss_rate: float = Field(0.0, ge=0, lt=1, description="Probability that a message is lost.")
    bandwidth_mbps: float = Field(
        0.0,
        ge=0,
        le=1_000_000,
        description="Link bandwidth (megabits/s): a hop that carries an object (a read's answer, a write) takes size x 8 / bandwidth longer; 0 means no transfer time.",
    )

    @model_validator(mode="after")
    def _jitter_needs_latency(self) -> NetworkConfig:
        if self.jitter_ms > 0 and self.latency_ms == 0:
            raise ValueError("jitter_ms must be 0 when latency_ms is 0 (a delay with mean 0 cannot vary)")
        return self


class ClientConfig(_Section):
    timeout_ms: float = Field(
        100.0, ge=MIN_TIMEOUT_MS, le=600_000, description="A request attempt fails after this long."
    )
    retries: int = Field(1, ge=0, le=10, description="Extra attempts after a timeout.")


class ChaosEvent(_Section):
    at_s: float = Field(ge=0, description="When, in simulated seconds.")
    action: Literal[CHAOS_ACTIONS]  # type: ignore[valid-type]  # the chaos kinds of cachesim.events
    target: str = Field(
        "", description="A node (node-3), several (node-1,node-2), 'database' (partition), or empty (heal all / loss)."
    )
    duration_s: float | None = Field(
        None, ge=MIN_INTERVAL_S, description="Undo the action after this long; empty means until a later event."
    )
    factor: float = Field(10.0, ge=1, le=1000, description="slow: service-time multiplier.")
    loss_rate: float = Field(0.2, ge=0, lt=1, description="loss: network loss rate while it lasts.")

    def targets(self) -> list[str]:
        return [t.strip() for t in self.target.split(",") if t.strip()]


class ChaosConfig(_Section):
    events: tuple[ChaosEvent, ...] = Field((), description="Scheduled faults.")
    random_kill_per_min: float = Field(0.0, ge=0, le=600, description="Random node kills per simulated minute.")
    random_downtime_s: float = Field(
        5.0, ge=MIN_INTERVAL_S, le=3600, description="How long a randomly killed node stays down."
    )
    random_slow_per_min: float = Field(0.0, ge=0, le=600, description="Random slowdowns per simulated minute.")
    random_slow_factor: float = Field(5.0, ge=1, le=1000, description="Service-time multiplier of a random slowdown.")
    random_slow_duration_s: float = Field(
        5.0, ge=MIN_INTERVAL_S, le=3600, description="How long a random slowdown lasts."
    )


class SimConfig(_Section):
    """One run: nested sections as in DESIGN.md's schema."""

    name: str = Field("custom", max_length=80, description="A label for the run.")
    description: str = Field("", max_length=4000, description="What the scenario shows.")
    seed: int = Field(1, ge=0, le=2**63 - 1, description="Seed of the run's random generator.")
    duration_s: float = Field(30.0, gt=0, le=86_400, description="Simulated seconds.")
    warmup_s: float = Field(0.0, ge=0, description="Excluded from the summary.")
    snapshot_interval_s: float = Field(0.1, ge=0.001, le=3600, description="Simulated seconds between snapshots.")
    workload: WorkloadConfig = WorkloadConfig()
    cluster: ClusterConfig = ClusterConfig()
    database: DatabaseConfig = DatabaseConfig()
    network: NetworkConfig = NetworkConfig()
    client: ClientConfig = ClientConfig()
    chaos: ChaosConfig = ChaosConfig()

    @model_validator(mode="before")
    @classmethod
    def _not_too_deep(cls, data: Any) -> Any:
        if data_depth(data) > MAX_NESTING:
            raise ValueError(f"the config nests more than {MAX_NESTING} levels deep")
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> SimConfig:
        if self.warmup_s >= self.duration_s:
            raise ValueError(f"warmup_s ({self.warmup_s:g}) must be less than duration_s ({self.duration_s:g})")
        if self.snapshot_interval_s > self.duration_s:
            raise ValueError(
                f"snapshot_interval_s ({self.snapshot_interval_s:g}) must be at most duration_s ({self.duration_s:g})"
            )
        if self.duration_s / self.snapshot_interval_s > 1_000_000:
            raise ValueError("duration_s / snapshot_interval_s must be at most 1,000,000 snapshots")
        if self.workload.rate_rps * self.snapshot_interval_s > 1e9:
            raise ValueError("workload.rate_rps x snapshot_interval_s must be at most 1e9 requests per snapshot")
        if self.cluster.capacity and self.cluster.capacity_bytes:
            raise ValueError(
                "cluster.capacity_bytes: set cluster.capacity (items per node) or "
                "cluster.capacity_bytes (bytes per node), not both; the other must be 0"
            )
        if self.workload.trace_timing == "trace" and self.workload.trace is None:
            raise ValueError(
                "workload.trace_timing: 'trace' needs a trace (workload.trace); without one arrivals are poisson"
            )
        names = set(self.node_names())
        for i, ev in enumerate(self.chaos.events):
            where = f"chaos.events.{i}.target"
            targets = ev.targets()
            needs_target = ev.action in events.NEEDS_TARGET
            if needs_target and not targets:
                raise ValueError(f"{where}: action {ev.action!r} needs a target (node-1 .. node-{self.cluster.nodes})")
            allowed = names | ({DATABASE_ENDPOINT} if ev.action in events.DATABASE_ACTIONS else set())
            for t in targets:
                if t not in allowed and ev.action not in events.NETWORK_ACTIONS:
                    raise ValueError(
                        f"{where}: {t!r} is not a node of this cluster (node-1 .. node-{self.cluster.nodes})"
                    )
        return self

    # -- helpers -----------------------------------------------------------------------

    def node_names(self) -> list[str]:
        return [f"node-{i}" for i in range(1, self.cluster.nodes + 1)]

    def total_requests(self) -> float:
        """The expected number of requests of the run."""
        return self.workload.rate_rps * self.duration_s

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_toml(), encoding="utf-8")

    @classmethod
    def from_toml(cls, text: str, *, source: str = "TOML") -> SimConfig:
        check_nesting(text, source)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source} is not valid TOML: {exc}") from None
        except RecursionError:  # a backstop: check_nesting should have caught it
            raise ConfigError(f"{source} nests too deeply (at most {MAX_NESTING} levels)") from None
        return cls.model_validate(data)

    @classmethod
    def load(cls, path: str | Path) -> SimConfig:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {p}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {p}: {exc}") from None
        return cls.from_toml(text, source=str(p))

    def flat(self) -> dict[str, Any]:
        """Dotted keys -> values (chaos.events as a JSON string), for URLs and tables."""
        out: dict[str, Any] = {}

        def walk(prefix: str, data: dict[str, Any]) -> None:
            for key, value in data.items():
                if isinstance(value, dict):  # a section, or a sub-section (cluster.leases)
                    walk(f"{prefix}{key}.", value)
                else:
                    out[f"{prefix}{key}"] = json.dumps(value) if isinstance(value, list) else value

        walk("", self.to_dict())
        return out

    def with_overrides(self, overrides: Mapping[str, Any]) -> SimConfig:
        """A new validated config with dotted keys set, e.g. ``{"cluster.nodes": "8"}``.

        String values are converted by the field's type (``"8"`` -> 8, ``"true"`` ->
        True); ``chaos.events`` takes a JSON list. An unknown key raises ConfigError,
        a bad value pydantic's ValidationError naming the field."""
        data = self.to_dict()
        for dotted, value in overrides.items():
            parts = dotted.split(".")
            node: Any = data
            model: type[BaseModel] = type(self)
            for i, part in enumerate(parts):
                fields = model.model_fields
                if part not in fields:
                    where = ".".join(parts[:i]) or "the top level"
                    allowed = ", ".join(fields)
                    raise ConfigError(f"unknown config key {dotted!r}: {where} has {allowed}")
                annotation = fields[part].annotation
                last = i == len(parts) - 1
                is_section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
                if last:
                    if is_section:
                        raise ConfigError(
                            f"{dotted} is a section, not a value: set its fields instead "
                            f"(e.g. {dotted}.{next(iter(annotation.model_fields))}=...)"
                        )
                    node[part] = _coerce(dotted, annotation, value)
                else:
                    if not is_section:
                        raise ConfigError(f"unknown config key {dotted!r}: {'.'.join(parts[: i + 1])} is not a section")
                    child = node.setdefault(part, {})
                    if not isinstance(child, dict):
                        raise ConfigError(f"{'.'.join(parts[: i + 1])} is a section, not a value")
                    node = child
                    model = annotation
        _one_capacity_binding(data, overrides)
        return type(self).model_validate(data)


#: Fields of which exactly one binds: setting one (non-zero) by override zeroes the other
#: unless the same overrides set it too.
_ALTERNATIVES = (("cluster", "capacity_bytes", "capacity"), ("cluster", "capacity", "capacity_bytes"))


def _one_capacity_binding(data: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    for section, field, other in _ALTERNATIVES:
        key = f"{section}.{field}"
        if key not in overrides or f"{section}.{other}" in overrides:
            continue
        try:
            on = float(overrides[key]) != 0
        except (TypeError, ValueError):
            continue  # validation names the bad value
        if on and isinstance(data.get(section), dict):
            data[section][other] = 0


def _coerce(dotted: str, annotation: Any, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if dotted.endswith("chaos.events"):
        check_nesting(text, dotted)
        try:
            return json.loads(text or "[]")
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{dotted}: expected a JSON list of events ({exc})") from None
        except RecursionError:
            raise ConfigError(f"{dotted} nests too deeply (at most {MAX_NESTING} levels)") from None
    if annotation == (str | None) and text.lower() in ("", "none", "null"):
        return None
    return text


def check_nesting(text: str, source: str = "the config") -> None:
    """Raise ConfigError if TOML or JSON ``text`` opens more than MAX_NESTING brackets
    or braces at once (outside strings): the parsers recurse once per level, and about
    1,000 levels exhaust the interpreter's stack. Linear in the text."""
    depth = deepest = 0
    quote = ""
    escaped = comment = False
    for ch in text:
        if comment:  # a TOML comment runs to the end of the line
            comment = ch != "\n"
        elif quote:
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote or ch == "\n":
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            comment = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_NESTING:
                    raise ConfigError(f"{source} nests more than {MAX_NESTING} levels deep")
        elif ch in "]}":
            depth = max(0, depth - 1)


def data_depth(data: Any, limit: int = MAX_NESTING + 1) -> int:
    """How deeply dicts and lists nest in ``data`` (iteratively; stops counting at ``limit``)."""
    deepest = 0
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest >= limit:
            return deepest
        stack.extend((c, depth + 1) for c in children)
    return deepest


def format_validation_error(err: ValidationError) -> str:
    """One line per problem, each naming the field: ``cluster.nodes: Input should be ...``."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "config"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif "input" in e and e["type"] not in ("missing",) and not isinstance(e["input"], dict | list):
            msg = f"{msg} (got {e['input']!r})"
        lines.append(f"{loc}: {msg}")
    return "; ".join(lines)


# -- built-in scenarios -----------------------------------------------------------------


def _scenario_dir() -> Any:
    return resources.files("cachesim") / "scenarios"


def list_scenarios() -> list[str]:
    """Names of the built-in scenarios, sorted, ``baseline`` first."""
    names = sorted(p.name[:-5] for p in _scenario_dir().iterdir() if p.name.endswith(".toml"))
    return sorted(names, key=lambda n: (n != "baseline", n))


def load_scenario(name: str) -> SimConfig:
    """A built-in scenario by name (see :func:`list_scenarios`)."""
    names = list_scenarios()
    if name not in names:
        raise ConfigError(f"unknown scenario {name!r}; built-in scenarios: {', '.join(names)}")
    text = (_scenario_dir() / f"{name}.toml").read_text(encoding="utf-8")
    return SimConfig.from_toml(text, source=f"scenario {name}")


def scenario_description(name: str) -> str:
    return load_scenario(name).description
