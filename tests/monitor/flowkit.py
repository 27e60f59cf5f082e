"""Helpers for the report tests: the shipped 127+N flow deployed and driven through the API, with a clock
that moves only when the test moves it (so every duration and week is exact)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app import clock

ROOT = Path(__file__).resolve().parents[2]


def shipped_bundle() -> dict[str, bytes]:
    """Every BPMN, DMN and form file of processes/ and forms/."""
    return {p.name: p.read_bytes() for folder in ("processes", "forms") for p in sorted((ROOT / folder).iterdir())
            if p.is_file() and p.name.endswith((".bpmn", ".dmn", ".json"))}


class Flow:
    """The API as the county's people use it, and the clock."""

    def __init__(self, api: Any) -> None:
        self.api = api

    @staticmethod
    def at(iso: str) -> None:
        """Put the clock at a fixed moment (test only; the API's clock only moves forward)."""
        clock.set_to(datetime.fromisoformat(iso))

    def advance(self, duration: str) -> list[Any]:
        r = self.api.post("/testing/clock", json={"advance": duration})
        assert r.status_code == 200, r.get_json()
        return r.get_json()["fired"]

    def intake(self, user: str = "receiver_county", **overrides: Any) -> str:
        body = {"title": "工地拖欠工资", "description": "拖欠农民工工资", "category": "labour",
                "location": {"org_unit": "county", "address": "县城东区"}}
        body.update(overrides)
        r = self.api.intake(user, **body)
        assert r.status_code == 201, r.get_json()
        return r.get_json()["case_no"]

    def tasks(self, case_no: str) -> list[dict[str, Any]]:
        r = self.api.get(f"/tasks?scope=all&case_no={case_no}", "admin")
        assert r.status_code == 200, r.get_json()
        return r.get_json()["items"]

    def do(self, user: str, case_no: str, name: str, data: dict[str, Any], department: str | None = None) -> Any:
        found = [t for t in self.tasks(case_no) if t["name"] == name and department in (None, t["department"])]
        assert len(found) == 1, (name, [(t["name"], t["department"]) for t in self.tasks(case_no)])
        r = self.api.post(f"/tasks/{found[0]['id']}/complete", user, json={"data": data})
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def monitor(self, process: str = "mediation", user: str = "leader", **params: Any) -> dict[str, Any]:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        r = self.api.get(f"/processes/{process}/monitor?{query}", user)
        assert r.status_code == 200, r.get_json()
        return r.get_json()


class _StandingStill(datetime):
    """Real time that does not run on, so the clock moves only when a test moves it and every
    duration is exact (the clock is real time plus the test offset)."""

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        moment = datetime(2026, 1, 1, tzinfo=UTC)
        return moment.astimezone(tz) if tz is not None else moment.replace(tzinfo=None)


def make_flow(api: Any, monkeypatch: pytest.MonkeyPatch) -> Flow:
    """Stop real time, add a county receiver and a township leader, deploy the shipped flow."""
    monkeypatch.setattr(clock, "datetime", _StandingStill)
    for username, roles, unit in (("receiver_county", ["receiver"], "county"),
                                  ("leader_town", ["leader"], "town1")):
        r = api.post("/users", "admin", json={"username": username, "password": "test-password-1", "roles": roles,
                                             "org_unit": unit})
        assert r.status_code == 201, r.get_json()
    r = api.deploy(shipped_bundle())
    assert r.status_code == 201, r.get_json()
    return Flow(api)
