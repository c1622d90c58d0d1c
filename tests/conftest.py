"""The test tree: engine/ (simulation, config, traces, sweeps, theory, the command line),
policies/ (eviction and routing, replay against libCacheSim), ui/ (Streamlit pages with
AppTest, charts, the live data path), analyst/ (the LLM analyst and its offline
counterpart), e2e/ (the real app in headless Chromium; run first, see below).

Runs that several test files read are session fixtures here; tests must not change them
(checked when the session ends).
``-m "not slow and not e2e"`` is the fast subset for daily work.
"""

import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import cachesim  # noqa: E402  (after the path: bare `pytest` runs from any folder)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests first (as when they sat first alphabetically): a broken app shows at once."""
    items.sort(key=lambda item: "e2e" not in item.keywords)


# -- runs that several test files read: simulated once per session, read-only -------------


def _fingerprint(run: cachesim.RunResult) -> tuple:
    """What a test could change in a run by mistake: its summary and its tables."""
    tables = (run.timeseries(), run.events(), run.node_timeseries(), run.nodes())
    return repr(sorted(run.summary.items())), tuple(int(pd.util.hash_pandas_object(t).sum()) for t in tables)


def _shared(scenario: str, overrides: dict | None = None) -> Iterator[cachesim.RunResult]:
    """Simulate the scenario once; when the session ends, fail if a test changed the run."""
    run = cachesim.simulate(cachesim.load_scenario(scenario).with_overrides(overrides or {}))
    before = _fingerprint(run)
    yield run
    assert _fingerprint(run) == before, f"a test changed the shared {scenario} run: copy it before changing it"


@pytest.fixture(scope="session")
def node_failure_run() -> Iterator[cachesim.RunResult]:
    """node_failure as shipped: 30 s at 2,000 req/s, node-2 killed at t=10 s and restarted at t=20 s."""
    yield from _shared("node_failure")


@pytest.fixture(scope="session")
def node_failure_12s() -> Iterator[cachesim.RunResult]:
    """node_failure cut to 12 s at 500 req/s: the kill at t=10 s, no restart."""
    yield from _shared("node_failure", {"duration_s": 12, "workload.rate_rps": 500})


@pytest.fixture(scope="session")
def node_failure_16s() -> Iterator[cachesim.RunResult]:
    """node_failure cut to 16 s with 1 s of warm-up: the kill at t=10 s, no restart."""
    yield from _shared("node_failure", {"duration_s": 16.0, "warmup_s": 1.0})


@pytest.fixture(scope="session")
def herd_run() -> Iterator[cachesim.RunResult]:
    """thundering_herd cut to 5 s with 1 s of warm-up: the database saturated, coalescing off."""
    yield from _shared("thundering_herd", {"duration_s": 5.0, "warmup_s": 1.0})


@pytest.fixture(scope="session")
def node_failure_25s() -> Iterator[cachesim.RunResult]:
    """node_failure cut to 25 s: node-2 killed at t=10 s and restarted at t=20 s."""
    yield from _shared("node_failure", {"duration_s": "25"})
