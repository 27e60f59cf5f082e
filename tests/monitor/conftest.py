"""The shipped flow deployed with a standing-still clock (see tests/monitor/flowkit.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.monitor.flowkit import Flow, make_flow


@pytest.fixture
def flow(api: Any, monkeypatch: pytest.MonkeyPatch) -> Flow:
    return make_flow(api, monkeypatch)
