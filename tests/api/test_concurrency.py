"""One writer per case: parallel departments completing at the same moment are both kept."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cases.models import MediationCase
from app.org.models import User
from app.tasks import service as tasks

BUNDLES = Path(__file__).parent / "bundles"


def test_two_departments_complete_at_the_same_moment(api, database):
    files = {n: (BUNDLES / n).read_text() for n in ("two_step.bpmn", "triage.json", "opinion.json")}
    assert api.deploy(files).status_code == 201
    departments = ["hrss", "justice", "housing"]
    for _ in range(3):  # a few rounds, to give a race every chance to show
        case_no = api.intake(process_id="two_step").get_json()["case_no"]
        triage = api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"][0]
        r = api.post(f"/tasks/{triage['id']}/complete", "mediator", json={"data": {"departments": departments}})
        assert r.status_code == 200
        open_tasks = {t["department"]: t["id"]
                      for t in api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"]}
        assert sorted(open_tasks) == sorted(departments)

        barrier = threading.Barrier(len(departments))
        errors: list[BaseException] = []

        def complete(dept: str, barrier=barrier, open_tasks=open_tasks, errors=errors) -> None:
            try:
                # all start their transaction at the same moment; on SQLite one of them waits
                # for the others' BEGIN IMMEDIATE, on PostgreSQL for the case row lock
                barrier.wait(timeout=10)
                with database.unit_of_work() as s:
                    user = s.scalar(select(User).where(User.username == dept))
                    tasks.complete_task(s, user, open_tasks[dept], {"opinion_item": {"text": f"{dept} 意见"}})
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=complete, args=(d,)) for d in departments]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []

        case = api.get(f"/cases/{case_no}", "admin").get_json()
        assert case["status"] == "closed"
        completed = [e for e in case["timeline"] if e["kind"] == "task_completed" and e["task"] == "opinion"]
        assert sorted(e["data"]["department"] for e in completed) == sorted(departments)
        with database.unit_of_work(write=False) as s:
            from app.engine import peek
            from app.processes.service import load_spec

            row = s.scalar(select(MediationCase).where(MediationCase.case_no == case_no))
            step = peek(load_spec(s, row.runtime_spec_id).compiled, row.state.blob)
        # every department's answer is in the process's output, none lost
        assert sorted(o["text"] for o in step.variables["opinions"]) == sorted(f"{d} 意见" for d in departments)


def first_holds_while_second_asks(database, ask: Callable[[Session], Any]) -> dict[str, Any]:
    """Run `ask` in two transactions: the second asks while the first, which asked already, has not
    committed yet (what two workers filing cases at the same moment do). Returns both answers."""
    first_asked = threading.Event()
    answers: dict[str, Any] = {}
    errors: list[BaseException] = []

    def run(who: str) -> None:
        try:
            if who == "second":
                first_asked.wait(timeout=10)
            with database.unit_of_work() as s:
                answers[who] = ask(s)
                if who == "first":
                    first_asked.set()
                    time.sleep(0.5)  # the second asks now, before this transaction commits
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(who,)) for who in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    return answers


def test_the_first_cases_of_a_year_at_the_same_moment_get_numbers_one_and_two(api, database):
    """The counter row of a year is made by its first case: a second first case while the first's
    transaction is still open must wait for it and take 2 (it failed with a unique violation)."""
    from app.cases.service import next_case_no

    numbers = first_holds_while_second_asks(database, lambda s: next_case_no(s, "QX", 2031))
    assert numbers == {"first": "QX-2031-000001", "second": "QX-2031-000002"}
    with database.unit_of_work() as s:
        assert next_case_no(s, "QX", 2031) == "QX-2031-000003"
        assert next_case_no(s, "QX", 2032) == "QX-2032-000001"


def test_the_first_cases_after_a_deployment_at_the_same_moment_share_one_pin(api, database):
    """The first case of a new version pins the files it runs on (a runtime_spec row): a second
    first case in another worker, before that row is committed, waits and uses it (it failed with a
    unique violation: a 500 for whoever filed the second case)."""
    from app.processes.service import latest_process_version, pin_runtime_spec

    files = {n: (BUNDLES / n).read_text() for n in ("two_step.bpmn", "triage.json", "opinion.json")}
    assert api.deploy(files).status_code == 201
    pins = first_holds_while_second_asks(
        database, lambda s: pin_runtime_spec(s, latest_process_version(s, "two_step")))
    assert pins["first"] == pins["second"]
