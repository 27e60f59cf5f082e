"""The runtime end to end through the API: deploy, intake, tasks, parallel departments, close."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import sql_sent

BUNDLES = Path(__file__).parent / "bundles"


def deploy_two_step(api) -> dict:
    files = {n: (BUNDLES / n).read_text() for n in ("two_step.bpmn", "triage.json", "opinion.json")}
    r = api.deploy(files)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_deploy_then_case_runs_to_first_task(api):
    body = deploy_two_step(api)
    assert body["id"] == "two_step" and body["version"] == 1

    r = api.intake(process_id="two_step")
    assert r.status_code == 201, r.get_json()
    created = r.get_json()
    assert created["case_no"].startswith("QX-") and created["status"] == "open"
    assert created["stage"] == "triage"

    case = api.get(f"/cases/{created['case_no']}", "mediator").get_json()
    assert case["process"] == {"id": "two_step", "version": 1}
    assert case["deadlines"]["accept"].endswith("+08:00")
    assert case["deadlines"]["convene"] is None
    kinds = [e["kind"] for e in case["timeline"]]
    assert kinds[:2] == ["case_created", "task_created"]

    tasks = api.get(f"/tasks?scope=all&case_no={created['case_no']}", "admin").get_json()["items"]
    assert [(t["name"], t["title"], t["lane"]) for t in tasks] == [("triage", "分流", "mediator")]
    assert tasks[0]["due_at"] == case["deadlines"]["accept"]
    # the case says what it waits for now
    assert case["open_tasks"] == [{"id": tasks[0]["id"], "name": "triage", "title": "分流", "lane": "mediator",
                                   "role": "mediator", "department": None, "assignee": None,
                                   "due_at": case["deadlines"]["accept"], "overdue": False, "about": None,
                                   "form": tasks[0]["form"]}]
    assert case["overdue"] is False


def test_parallel_departments_and_close(api, database):
    deploy_two_step(api)
    case_no = api.intake(process_id="two_step").get_json()["case_no"]
    triage = api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"][0]

    # wrong data: 422 with field messages, nothing changes
    r = api.post(f"/tasks/{triage['id']}/complete", "mediator", json={"data": {"departments": []}})
    assert r.status_code == 422
    assert "departments" in r.get_json()["fields"]
    # not the mediator: 403
    assert api.post(f"/tasks/{triage['id']}/complete", "hrss",
                    json={"data": {"departments": ["hrss"]}}).status_code in (403, 404)

    with sql_sent(database.engine) as statements:
        r = api.post(f"/tasks/{triage['id']}/complete", "mediator",
                     json={"data": {"departments": ["hrss", "justice"]}})
    assert r.status_code == 200, r.get_json()
    # the case's tasks are read once, after the lock: the answer lists the ones the step opened
    assert len([s for s in statements if s.startswith("SELECT human_task.")]) == 1
    after_triage = r.get_json()["open_tasks"]  # what the case waits for next, in the answer
    assert sorted(t["department"] for t in after_triage) == ["hrss", "justice"]
    assert after_triage == api.get(f"/cases/{case_no}", "mediator").get_json()["open_tasks"]
    assert api.post(f"/tasks/{triage['id']}/complete", "mediator",
                    json={"data": {"departments": ["hrss"]}}).status_code == 409

    hrss_tasks = api.get("/tasks?scope=group", "hrss").get_json()["items"]
    justice_tasks = api.get("/tasks?scope=group", "justice").get_json()["items"]
    assert [t["department"] for t in hrss_tasks] == ["hrss"]
    assert [t["department"] for t in justice_tasks] == ["justice"]
    assert sorted(t["id"] for t in after_triage) == sorted([hrss_tasks[0]["id"], justice_tasks[0]["id"]])
    # a department cannot complete another department's task
    assert api.post(f"/tasks/{justice_tasks[0]['id']}/complete", "hrss",
                    json={"data": {"opinion_item": {"text": "x"}}}).status_code in (403, 404)

    # the answer lists what the step left open as a reader of the case sees it (the claim included)
    assert api.post(f"/tasks/{justice_tasks[0]['id']}/claim", "justice").status_code == 200
    r = api.post(f"/tasks/{hrss_tasks[0]['id']}/complete", "hrss", json={"data": {"opinion_item": {"text": "ok"}}})
    assert r.status_code == 200, r.get_json()
    left = r.get_json()["open_tasks"]
    assert [(t["department"], t["assignee"]) for t in left] == [("justice", "justice")]
    assert left == api.get(f"/cases/{case_no}", "mediator").get_json()["open_tasks"]
    r = api.post(f"/tasks/{justice_tasks[0]['id']}/complete", "justice",
                 json={"data": {"opinion_item": {"text": "justice ok"}}})
    assert r.status_code == 200, r.get_json()

    assert r.get_json()["open_tasks"] == []
    case = api.get(f"/cases/{case_no}", "mediator").get_json()
    assert case["status"] == "closed"
    assert case["stage"] == "closed"
    assert api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"] == []


def test_case_numbers_are_sequential(api):
    deploy_two_step(api)
    numbers = [api.intake(process_id="two_step").get_json()["case_no"] for _ in range(3)]
    seqs = [int(n.rsplit("-", 1)[1]) for n in numbers]
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]


@pytest.mark.parametrize("body,field", [
    ({"title": ""}, "title"),
    ({"channel": "fax"}, "channel"),
    ({"citizen": {"name": "张三"}}, "citizen.phone"),
    ({"location": {"org_unit": "nowhere"}}, "location.org_unit"),
    ({"urgency": "panic"}, "urgency"),
])
def test_bad_intake_is_422_and_creates_nothing(api, body, field):
    deploy_two_step(api)
    r = api.intake(process_id="two_step", **body)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["fields"]
    assert api.get("/cases", "admin").get_json()["total"] == 0


def test_unknown_process_is_404_and_bad_json_400(api):
    deploy_two_step(api)
    assert api.intake(process_id="nope").status_code == 404
    r = api.post("/cases", "receiver", data="{not json", content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error"] == "bad_request"


def test_auth_required_and_wrong_password(api, client):
    assert client.get("/api/v1/cases").status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong-password"})
    assert r.status_code == 401 and r.get_json()["error"] == "unauthenticated"
    assert client.get("/api/v1/cases", headers={"Authorization": "Bearer forged"}).status_code == 401


def test_a_new_case_row_is_written_once_as_its_first_step_leaves_it(api, database):
    """The case row goes in with the stage and deadlines of its first step (one INSERT, no UPDATE
    after it), and starting it asks for the process version and the newest deployment together."""
    deploy_two_step(api)
    api.intake(process_id="two_step")  # the first case of the year made the counter and the pin
    with sql_sent(database.engine) as statements:
        r = api.intake(process_id="two_step")
    assert r.status_code == 201, r.get_json()
    assert [s.split(" (")[0] for s in statements if "mediation_case" in s.split(" WHERE")[0]
            and not s.startswith("SELECT")] == ["INSERT INTO mediation_case"]
    assert not [s for s in statements if s.startswith("SELECT max(deployment.id)")]
    case = api.get(f"/cases/{r.get_json()['case_no']}", "mediator").get_json()
    assert (case["stage"], case["deadlines"]["accept"] is not None) == ("triage", True)


def test_open_tasks_from_the_session_keep_the_query_order(db):
    """The answer's open tasks made from the step's rows sort as the query does: due first, soonest
    first, then by id, the tasks without a due time included, whatever order the rows came in."""
    from datetime import timedelta

    from app import clock
    from app.api.serialize import _open_task_rows_in_session
    from app.tasks.models import HumanTask

    soon = clock.now() + timedelta(days=1)
    rows = [HumanTask(id=i, name=f"t{i}", title="", role="mediator", due_at=due)
            for i, due in ((5, None), (4, soon + timedelta(hours=1)), (3, None), (2, soon), (1, None))]
    with db.unit_of_work(write=False) as session:
        assert [row[0] for row in _open_task_rows_in_session(session, rows)] == [2, 4, 1, 3, 5]


def test_a_step_goes_on_with_the_workflow_its_process_stored_last(api, database, org, monkeypatch):
    """The workflow of a committed step is kept for the case's next step (no restore from the stored
    bytes); a step whose transaction rolls back is not, and the next step restores the stored state."""
    from app.cases.service import get_case
    from app.engine import runtime
    from app.org.service import load_user
    from app.tasks.service import complete_task

    restores: list[bytes] = []
    load = runtime.load_state
    monkeypatch.setattr(runtime, "load_state", lambda c, s, f=None: restores.append(s) or load(c, s, f))
    deploy_two_step(api)
    case_no = api.intake(process_id="two_step").get_json()["case_no"]
    triage = api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"][0]
    restores.clear()
    r = api.post(f"/tasks/{triage['id']}/complete", "mediator", json={"data": {"departments": ["hrss", "justice"]}})
    assert r.status_code == 200, r.get_json()
    assert restores == []  # the new case's workflow went on
    hrss, justice = sorted(r.get_json()["open_tasks"], key=lambda t: t["department"])

    def stored() -> bytes:
        with database.unit_of_work(write=False) as s:
            return get_case(s, case_no).state.blob

    before = stored()
    with pytest.raises(RuntimeError), database.unit_of_work() as s:
        complete_task(s, load_user(s, org.users["hrss"].id), hrss["id"], {"opinion_item": {"text": "lost"}})
        raise RuntimeError("the commit never happened")
    assert stored() == before and restores == []

    r = api.post(f"/tasks/{hrss['id']}/complete", "hrss", json={"data": {"opinion_item": {"text": "kept"}}})
    assert r.status_code == 200, r.get_json()
    assert restores == [before]  # the rolled-back step took the workflow; this one restored the bytes
    restores.clear()
    r = api.post(f"/tasks/{justice['id']}/complete", "justice", json={"data": {"opinion_item": {"text": "ok"}}})
    assert r.status_code == 200 and restores == []
    case = api.get(f"/cases/{case_no}", "mediator").get_json()
    assert case["status"] == "closed"
    assert "lost" not in str(case["timeline"]) and "kept" in str(case["timeline"])
