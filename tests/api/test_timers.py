"""Timers: the test clock, the scheduler thread, never twice, never lost."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import clock
from app.cases.models import CaseEvent
from app.scheduler.models import PendingTimer
from app.scheduler.runner import TimerScheduler
from app.scheduler.service import fire_due_timers
from tests.conftest import sql_sent

BUNDLES = Path(__file__).parent / "bundles"


def deploy_timers(api) -> None:
    r = api.deploy({"timers.bpmn": (BUNDLES / "timers.bpmn").read_text()})
    assert r.status_code == 201, r.get_json()


def new_case(api, remind_after: str = "PT2H") -> str:
    r = api.intake(process_id="timers", data={"remind_after": remind_after})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["case_no"]


def fired_count(database, name: str) -> int:
    with database.unit_of_work(write=False) as s:
        return s.scalar(select(func.count()).select_from(CaseEvent)
                        .where(CaseEvent.kind == "timer_fired", CaseEvent.task_name == name))


def test_clock_endpoint_fires_due_timers_once(api, database):
    deploy_timers(api)
    case_no = new_case(api)
    with database.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(PendingTimer)) == 2

    r = api.post("/testing/clock", json={"advance": "PT1H"})
    assert r.status_code == 200 and r.get_json()["fired"] == []
    r = api.post("/testing/clock", json={"advance": "PT1H30M"})
    body = r.get_json()
    assert body["fired"] == [{"case_no": case_no, "timers": ["提醒"]}]
    assert body["now"].endswith("+08:00")
    assert fired_count(database, "提醒") == 1

    r = api.post("/testing/clock", json={"advance": "P1D"})
    assert r.get_json()["fired"] == [{"case_no": case_no, "timers": ["超期督办"]}]
    tasks = api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"]
    assert sorted(t["name"] for t in tasks) == ["supervise", "work"]
    assert {t["name"]: t["lane"] for t in tasks}["supervise"] == "leader"

    # nothing is left to fire, and firing again changes nothing
    assert api.post("/testing/clock", json={"advance": "P10D"}).get_json()["fired"] == []
    assert fire_due_timers(database) == []
    assert fired_count(database, "提醒") == 1 and fired_count(database, "超期督办") == 1


def test_a_batch_of_cases_tells_the_people_of_every_task_its_timers_opened(api, database):
    """The scheduler fires many cases in one transaction and writes their rows together: each task a
    timer opened still reaches the bell, and the phone, of the people who may do it, once."""
    from app.notify.models import Notification, OutboxMessage
    from app.org.models import User
    from app.tasks.models import HumanTask

    deploy_timers(api)
    with database.unit_of_work() as s:
        s.scalar(select(User).where(User.username == "leader")).phone = "13900000000"
    cases = [new_case(api) for _ in range(3)]
    fired = api.post("/testing/clock", json={"advance": "P2D"}).get_json()["fired"]
    assert sorted(f["case_no"] for f in fired) == sorted(cases)
    with database.unit_of_work(write=False) as s:
        leader = s.scalar(select(User).where(User.username == "leader"))
        tasks = list(s.scalars(select(HumanTask).where(HumanTask.name == "supervise")))
        assert sorted(t.case.case_no for t in tasks) == sorted(cases)
        for task in tasks:
            notes = list(s.scalars(select(Notification).where(Notification.task_id == task.id)))
            assert [n.user_id for n in notes] == [leader.id]
            sms = list(s.scalars(select(OutboxMessage).where(OutboxMessage.notification_id == notes[0].id)))
            assert [m.recipient for m in sms] == ["13900000000"]


def test_a_step_that_leaves_the_timers_as_they_were_does_not_rewrite_them(api, database):
    """Completing the task beside a deadline keeps the deadline's pending row as it was (most steps of
    a case wait on the same deadlines: nothing to write); the step that ends it takes the row away."""
    r = api.deploy({"timer_beside.bpmn": (BUNDLES / "timer_beside.bpmn").read_text()})
    assert r.status_code == 201, r.get_json()
    case_no = api.intake(process_id="timer_beside").get_json()["case_no"]

    def pending() -> list[tuple[int, str, object]]:
        with database.unit_of_work(write=False) as s:
            return [(t.id, t.name, t.due_at) for t in s.scalars(select(PendingTimer))]

    before = pending()
    assert [name for _, name, _ in before] == ["答复超期"]
    tasks = {t["name"]: t["id"] for t in api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"]}
    with sql_sent(database.engine) as statements:
        r = api.post(f"/tasks/{tasks['visit']}/complete", "mediator", json={"data": {}})
    assert r.status_code == 200, r.get_json()
    assert [t["name"] for t in r.get_json()["open_tasks"]] == ["reply"]
    assert [s for s in statements if "pending_timer" in s and not s.upper().startswith("SELECT")] == []
    assert pending() == before  # the same row, due as before

    r = api.post(f"/tasks/{tasks['reply']}/complete", "mediator", json={"data": {}})
    assert r.status_code == 200 and r.get_json()["status"] == "closed"
    assert pending() == []
    assert api.post("/testing/clock", json={"advance": "PT6H"}).get_json()["fired"] == []


def test_clock_endpoint_is_404_without_testing(client, config, db_url):
    from app import create_app

    off = create_app(config.with_(testing=False))
    r = off.test_client().post("/api/v1/testing/clock", json={"advance": "P1D"})
    assert r.status_code == 404
    off.extensions["onestop.db"].dispose()


@pytest.mark.parametrize("body", [{"advance": "three days"}, {"set": "yesterday"}, {}, {"advance": "P1D", "set": "x"}])
def test_clock_endpoint_rejects_bad_input(api, body):
    assert api.post("/testing/clock", json=body).status_code == 422


def test_clock_can_be_set_to_a_past_season_and_advanced_only_forward(api):
    r = api.post("/testing/clock", json={"set": "2026-09-28T09:00:00+08:00"})
    assert r.status_code == 200 and r.get_json()["now"].startswith("2026-09-28T09:00")
    assert api.post("/testing/clock", json={"advance": "-P1D"}).status_code == 422
    assert api.post("/testing/clock", json={"set": "2026-09-28T09:00:00"}).get_json()["now"].startswith(
        "2026-09-28T09:00")  # a time without offset is local (+08:00)


def test_a_failed_firing_loses_nothing(api, database, monkeypatch):
    """A crash between engine step and commit rolls back: the timer is still pending and fires later, once."""
    deploy_timers(api)
    case_no = new_case(api)
    clock.advance(__import__("datetime").timedelta(hours=3))

    from app.cases import service as case_service

    real_sync = case_service.sync_case
    calls = {"n": 0}

    def crashing_sync(*args, **kwargs):
        calls["n"] += 1
        raise RuntimeError("power cut")

    monkeypatch.setattr(case_service, "sync_case", crashing_sync)
    assert fire_due_timers(database) == []
    assert calls["n"] == 1
    assert fired_count(database, "提醒") == 0
    with database.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(PendingTimer)) == 2

    monkeypatch.setattr(case_service, "sync_case", real_sync)
    fired = fire_due_timers(database)
    assert [(f.case_no, f.names) for f in fired] == [(case_no, ("提醒",))]
    assert fire_due_timers(database) == []
    assert fired_count(database, "提醒") == 1


def test_scheduler_thread_fires_on_time(api, database, caplog):
    caplog.set_level(logging.INFO, logger="app.scheduler.runner")
    deploy_timers(api)
    runner = TimerScheduler(database, poll_seconds=60)
    runner.start()
    try:
        case_no = new_case(api, remind_after="PT0.5S")
        deadline = time.monotonic() + 5
        while fired_count(database, "提醒") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fired_count(database, "提醒") == 1
        with database.unit_of_work(write=False) as s:
            fired_at = s.scalar(select(CaseEvent.at).where(CaseEvent.kind == "timer_fired"))
            created_at = s.scalar(select(CaseEvent.at).where(CaseEvent.kind == "case_created"))
        # fired after it was due and well within a second of it
        lateness = (fired_at - created_at).total_seconds() - 0.5
        assert 0 <= lateness < 1.0, lateness
        assert case_no
    finally:
        runner.shutdown()
    # the operator's log says what fired (APScheduler's own lines are off in `onestop serve`)
    assert f"fired 1 timer(s) of 1 case(s): {case_no}" in caplog.messages
