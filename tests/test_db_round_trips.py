"""Round trips: what a request reads and writes together (`app.db.read_ahead`, the step's writes
sent with the answer's reads), and reads that are not asked twice or kept past a write."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select, text

import app.db
from app.cases.models import CaseEvent, MediationCase
from app.cases.service import case_of_task_reads, lock_case_of_task
from app.db import append_row, read_ahead
from app.org.models import User
from app.org.service import load_user
from tests.api.test_cases_flow import deploy_two_step
from tests.conftest import sql_sent


@contextmanager
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """The statements `app.db._send` sends while the block runs, one list per call: one round trip
    each on PostgreSQL (a pipeline), the first words of each statement."""
    calls: list[list[str]] = []
    send = app.db._send

    def recording(connection: Any, statements: list[Any]) -> list[Any]:
        calls.append([" ".join(s.sql.split()[:4]) for s in statements])
        return send(connection, statements)

    monkeypatch.setattr(app.db, "_send", recording)
    yield calls


@pytest.fixture
def triage(api) -> dict[str, Any]:
    deploy_two_step(api)
    case_no = api.intake(process_id="two_step").get_json()["case_no"]
    return api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"][0]


def _table(statement: str) -> str:
    words = statement.split()
    return words[2] if words[0] in ("INSERT", "DELETE") else words[1].split(".")[0]


def test_a_completion_reads_its_user_with_the_lock_and_writes_with_the_answer(api, database, triage, monkeypatch):
    """A task completion through the API reads the user, the case locked and its open tasks in one
    round trip, and sends the step's writes with the answer's timeline in another (four before, one
    each); the new task's department is read on its own (the ORM's)."""
    api.token("mediator")
    with round_trips(monkeypatch) as calls:
        r = api.post(f"/tasks/{triage['id']}/complete", "mediator", json={"data": {"departments": ["hrss"]}})
    assert r.status_code == 200, r.get_json()
    assert len(calls) == 2
    assert [_table(s) for s in calls[0]] == ["app_user", "mediation_case", "human_task"]
    writes, answer = calls[1][:-1], calls[1][-1]
    assert {_table(s) for s in writes} >= {"human_task", "case_state", "mediation_case", "case_event"}
    assert all(s.startswith(("INSERT", "UPDATE")) for s in writes)
    assert answer.startswith("SELECT json_") and len(r.get_json()["timeline"]) >= 4
    assert sorted(t["department"] for t in r.get_json()["open_tasks"]) == ["hrss"]


def test_a_case_start_reads_its_place_and_process_with_its_user(api, database, monkeypatch):
    """A case created through the API reads its user, its place, its process's newest version and the
    newest deployment in one round trip (four before); once the first case of a deployment committed,
    its pinned files are not read again (a fifth round trip per case before), nor its county."""
    deploy_two_step(api)
    api.token("receiver")
    assert api.intake(process_id="two_step").status_code == 201  # the first pins the files
    with round_trips(monkeypatch) as calls, sql_sent(database.engine) as sent:
        r = api.intake(process_id="two_step")
    assert r.status_code == 201, r.get_json()
    assert [_table(s) for s in calls[0]] == ["app_user", "org_unit", "process_version", "deployment"]
    assert not [s for s in sent if s.startswith("SELECT") and "FROM runtime_spec" in s]
    # its deadlines' calendar is its county's: the top of its place's path, not read (a village's was)
    assert len([s for s in sent if s.startswith("SELECT org_unit.")]) == 1
    assert len([s for s in sent if "FROM calendar_day" in s]) == 1  # whether the cached calendar changed
    # a body that is no case reads nothing ahead, and says what is wrong
    with round_trips(monkeypatch) as calls:
        r = api.intake(process_id="two_step", location={"org_unit": "nowhere"})
    assert r.status_code == 422 and r.get_json()["fields"] == {"location.org_unit": "no such org unit"}
    assert [_table(s) for s in calls[0]] == ["app_user", "org_unit", "process_version", "deployment"]
    r = api.post("/cases", "receiver", json={"title": 5})
    assert r.status_code == 422 and "title" in r.get_json()["fields"]


def test_a_token_of_no_user_gets_401_and_the_lock_read_ahead_is_let_go(api, client, triage):
    from app.api import issue_token

    ghost = User(id=10**6, password_hash="x" * 20)
    with client.application.test_request_context():
        headers = {"Authorization": f"Bearer {issue_token(ghost)}"}
    r = client.post(f"/api/v1/tasks/{triage['id']}/complete", json={"data": {"departments": ["hrss"]}},
                    headers=headers)
    assert r.status_code == 401
    # the case was not left locked, nor changed
    r = api.post(f"/tasks/{triage['id']}/complete", "mediator", json={"data": {"departments": ["hrss"]}})
    assert r.status_code == 200, r.get_json()


def _user_id(database, username: str) -> int:
    with database.unit_of_work(write=False) as session:
        return session.scalar(select(User.id).where(User.username == username))


def test_reads_ahead_go_with_the_next_read_and_are_not_asked_again(database, triage, monkeypatch):
    mediator = _user_id(database, "mediator")
    with database.unit_of_work() as session, round_trips(monkeypatch) as calls:
        read_ahead(session, *case_of_task_reads(triage["id"]))
        assert calls == []  # nothing sent yet
        load_user(session, mediator)
        assert len(calls) == 1 and len(calls[0]) == 2
        with sql_sent(database.engine) as statements:
            case, _rows = lock_case_of_task(session, triage["id"])
        assert statements == [] and case.case_no and case.state.blob
        # taken once: asked again, it is read again
        with sql_sent(database.engine) as statements:
            lock_case_of_task(session, triage["id"])
        assert len(statements) == 1


def test_reads_ahead_are_forgotten_at_a_write_and_at_a_rollback(database, triage):
    mediator = _user_id(database, "mediator")
    with database.unit_of_work() as session:
        case = session.get(MediationCase, session.scalar(select(MediationCase.id)))
        read_ahead(session, *case_of_task_reads(triage["id"]))
        load_user(session, mediator)
        append_row(session, CaseEvent.__table__, {"case_id": case.id, "at": case.updated_at, "kind": "x",
                                                  "actor_id": None, "task_name": None, "message": "", "data": {}})
        session.flush()
        with sql_sent(database.engine) as statements:
            lock_case_of_task(session, triage["id"])
        assert len(statements) == 1  # read anew after the write
    with database.unit_of_work() as session:
        read_ahead(session, *case_of_task_reads(triage["id"]))
        savepoint = session.begin_nested()
        load_user(session, mediator)
        savepoint.rollback()
        with sql_sent(database.engine) as statements:
            lock_case_of_task(session, triage["id"])
        assert len([s for s in statements if s.startswith("SELECT mediation_case.")]) == 1


def test_a_core_statement_through_the_session_sees_the_rows_waiting_to_be_written(database, triage):
    """A step's rows wait for the session's next statement (`sync_case` does not flush): any statement
    run through the session sends them first, a `text()` too (the session's autoflush flushes them)."""
    events = CaseEvent.__table__
    with database.unit_of_work() as session:
        case = session.get(MediationCase, session.scalar(select(MediationCase.id)))
        append_row(session, events, {"case_id": case.id, "at": case.updated_at, "kind": "x", "actor_id": None,
                                     "task_name": None, "message": "", "data": {}})
        assert session.execute(text("SELECT count(*) FROM case_event WHERE kind = 'x'")).scalar() == 1
