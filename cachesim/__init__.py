"""cachesim: a discrete-event simulator of distributed caching systems.

The public API (a contract; see DESIGN.md)::

    cfg = cachesim.load_scenario("baseline")
    cfg = cfg.with_overrides({"cluster.nodes": 8})
    sim = cachesim.Simulation(cfg)
    for snap in sim.stream(): ...
    res = cachesim.simulate(cfg)
"""

from .config import (
    ConfigError,
    SimConfig,
    format_validation_error,
    list_scenarios,
    load_scenario,
    scenario_description,
)
from .engine import Simulation, simulate
from .events import Event, EventKind, TargetKind
from .metrics import NodeSnapshot, NodeTable, Snapshot
from .results import RunResult
from .sweeps import sweep

__all__ = [
    "ConfigError",
    "Event",
    "EventKind",
    "NodeSnapshot",
    "NodeTable",
    "RunResult",
    "SimConfig",
    "Simulation",
    "Snapshot",
    "TargetKind",
    "format_validation_error",
    "list_scenarios",
    "load_scenario",
    "scenario_description",
    "simulate",
    "sweep",
]
__version__ = "0.1.0"
