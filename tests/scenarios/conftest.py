"""Scenario tests: the shipped 127+N flow (processes/ + forms/) driven through the public API only.

Every scenario deploys the shipped bundle as it is on disk, files cases, completes tasks as the people
who would do them and moves the test clock (`POST /testing/clock`), then checks what the API shows:
the case (stage, level, deadlines, departments), the open tasks and the timeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app import clock
from app.org.models import OrgUnit
from app.org.service import create_department

ROOT = Path(__file__).resolve().parents[2]
BUNDLE_SUFFIXES = (".bpmn", ".dmn", ".json")


def shipped_bundle() -> dict[str, bytes]:
    """Every BPMN, DMN and form file of processes/ and forms/ (README and the like are not bundle files)."""
    files: dict[str, bytes] = {}
    for folder in ("processes", "forms"):
        for path in sorted((ROOT / folder).iterdir()):
            if path.is_file() and path.name.endswith(BUNDLE_SUFFIXES):
                files[path.name] = path.read_bytes()
    return files


class Scenario:
    """The API as the people of one county use it, plus the test clock."""

    def __init__(self, api: Any) -> None:
        self.api = api

    # --- time ----------------------------------------------------------------------------------

    @staticmethod
    def start_clock_at(iso: str) -> None:
        """Put the clock at a fixed moment before anything happens (it may be in the past).

        The API's test clock only moves forward from real time, and the scenarios replay fixed dates
        (2026's holidays), so the starting point is set on the clock module; afterwards the scenario
        moves the clock only through `POST /testing/clock`.
        """
        target = datetime.fromisoformat(iso)
        clock._offset = target - datetime.now(UTC)  # test-only: the starting point of the scenario

    def clock(self, **body: str) -> dict[str, Any]:
        r = self.api.post("/testing/clock", json=body)
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def set_clock(self, iso: str) -> list[str]:
        """Move the clock to `iso`; return the names of the timers that fired."""
        body = self.clock(set=iso)
        return [name for fired in body["fired"] for name in fired["timers"]]

    # --- cases and tasks ----------------------------------------------------------------------

    def intake(self, user: str = "receiver", **overrides: Any) -> str:
        r = self.api.intake(user, **overrides)
        assert r.status_code == 201, r.get_json()
        return r.get_json()["case_no"]

    def case(self, case_no: str, user: str = "admin") -> dict[str, Any]:
        r = self.api.get(f"/cases/{case_no}", user)
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def tasks(self, case_no: str) -> list[dict[str, Any]]:
        r = self.api.get(f"/tasks?scope=all&case_no={case_no}", "admin")
        assert r.status_code == 200, r.get_json()
        return r.get_json()["items"]

    def open_tasks(self, case_no: str) -> list[tuple[str, str | None]]:
        """(task name, department) of every open task, sorted."""
        return sorted(((t["name"], t["department"]) for t in self.tasks(case_no)), key=lambda p: (p[0], p[1] or ""))

    def task(self, case_no: str, name: str, department: str | None = None) -> dict[str, Any]:
        found = [t for t in self.tasks(case_no) if t["name"] == name
                 and (department is None or t["department"] == department)]
        assert len(found) == 1, (name, department, self.open_tasks(case_no))
        return found[0]

    def detail(self, task: dict[str, Any], user: str = "admin") -> dict[str, Any]:
        r = self.api.get(f"/tasks/{task['id']}", user)
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def complete(self, user: str, task: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        r = self.api.post(f"/tasks/{task['id']}/complete", user, json={"data": data})
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        assert not body["incidents"], body["incidents"]
        return body

    def do(self, user: str, case_no: str, name: str, data: dict[str, Any], department: str | None = None
           ) -> dict[str, Any]:
        """Complete the open task `name` (of `department`) of a case as `user`."""
        return self.complete(user, self.task(case_no, name, department), data)

    # --- timeline -----------------------------------------------------------------------------

    def events(self, case_no: str, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.case(case_no)["timeline"] if e["kind"] == kind]

    def completed(self, case_no: str) -> list[str]:
        """Names of the tasks completed so far, in order."""
        return [e["task"] for e in self.events(case_no, "task_completed")]

    def fired(self, case_no: str) -> list[str]:
        return [e["message"] for e in self.events(case_no, "timer_fired")]

    def notices(self, case_no: str) -> list[str]:
        """Escalation codes the process raised (reminders, criticism notices)."""
        return [e["data"].get("code") for e in self.events(case_no, "process_event")
                if e["data"].get("type") == "EscalationEventDefinition"]


@pytest.fixture
def scenario(api: Any, database: Any) -> Iterator[Scenario]:
    """The shipped flow deployed, plus the people the scenarios need beyond the `org` fixture:
    a county receiver, a village mediator, the natural resources bureau and the legal aid centre."""
    with database.unit_of_work() as s:  # departments have no API yet
        county = s.scalar(select(OrgUnit).where(OrgUnit.code == "county"))
        create_department(s, code="natres", name="自然资源局", org_unit=county)
        create_department(s, code="legal_aid", name="法律援助中心", org_unit=county, kind="service")
    password = type(api).token.__globals__["TEST_PASSWORD"]  # what the root conftest's Api logs in with
    for username, roles, unit, dept in (
        ("receiver_county", ["receiver"], "county", None),
        ("mediator_village", ["mediator"], "village1", None),
        ("natres", ["department"], "county", "natres"),
        ("lawyer", ["service"], "county", "legal_aid"),
    ):
        r = api.post("/users", "admin", json={"username": username, "password": password, "roles": roles,
                                             "org_unit": unit, "department": dept})
        assert r.status_code == 201, r.get_json()
    r = api.deploy(shipped_bundle())
    assert r.status_code == 201, r.get_json()
    assert {"id": "mediation", "version": 1} in r.get_json()["processes"]
    yield Scenario(api)
