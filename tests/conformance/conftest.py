"""Fixtures of the conformance suite: the corpus, a frozen clock, and the drivers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from app import clock
from tests.conformance.drivers import DRIVERS, Driver, engine_dir, make_driver


@pytest.fixture(scope="session")
def corpus() -> str:
    """The corpus engine folder; the suite is skipped (failed under CI=true) when it is missing."""
    folder = engine_dir()
    if not folder.is_dir():
        message = f"conformance corpus not found at {folder} (set ONESTOP_CONFORMANCE_DIR)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return str(folder)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[datetime]:
    """Stop OneStop's clock so that only `clock.advance` moves it.

    The corpus timers are 2 ms to 1 s long. With the clock running on in real time a slow step
    could let a timer fire before the scenario moves time on purpose (boundary.bpmn must finish a
    path "within 30 ms"); frozen, every due time is exact and nothing depends on the machine's speed.
    """
    base = datetime.now(UTC)
    monkeypatch.setattr(clock, "now", lambda: base + clock.offset())
    yield base


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest, corpus: str) -> Driver:
    """A fresh driver of each kind; a test loads one scenario into it."""
    return make_driver(request.param)
