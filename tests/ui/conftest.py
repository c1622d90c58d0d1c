"""Fixtures of the AppTests in tests/ui/ (helpers to import are in helpers.py)."""

from __future__ import annotations

import pytest

from cachesim.ui import live as live_ui


@pytest.fixture(autouse=True)
def one_refresh_per_script_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The live panel refreshes once per script run: the test drives the page."""
    monkeypatch.setattr(live_ui, "BATCH_S", 0.0)
