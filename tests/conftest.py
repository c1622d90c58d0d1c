"""The test tree: engine/ (simulation, config, traces, sweeps, theory, the command line),
policies/ (eviction and routing, replay against libCacheSim), ui/ (Streamlit pages with
AppTest, charts, the live data path), analyst/ (the LLM analyst and its offline
counterpart), e2e/ (the real app in headless Chromium; run first, see below).

Runs that several test files read are session fixtures here; tests must not change them.
``-m "not slow and not e2e"`` is the fast subset for daily work.
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests first (as when they sat first alphabetically): a broken app shows at once."""
    items.sort(key=lambda item: "e2e" not in item.keywords)
