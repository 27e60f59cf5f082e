"""Where a task lands: its lane's role, its department, and the level the matter is handled at."""

from __future__ import annotations

from pathlib import Path

BUNDLES = Path(__file__).parent / "bundles"


def start(api, dept_code: str) -> tuple[str, dict]:
    assert api.deploy({"placed.bpmn": (BUNDLES / "placed.bpmn").read_text()}).status_code == 201
    case_no = api.intake(process_id="placed", data={"dept_code": dept_code}).get_json()["case_no"]
    tasks = {t["name"]: t for t in api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"]}
    return case_no, tasks


def test_escalated_tasks_belong_to_the_county_and_lanes_win_over_department(api):
    case_no, tasks = start(api, "hrss")
    # the mediator lane keeps its role although the data names a department
    assert tasks["county_work"]["role"] == "mediator" and tasks["county_work"]["department"] is None
    assert tasks["dept_work"]["role"] == "department" and tasks["dept_work"]["department"] == "hrss"
    # the matter was escalated to the county: the town's mediator may not do the county's task
    r = api.post(f"/tasks/{tasks['county_work']['id']}/complete", "mediator_town", json={"data": {}})
    assert r.status_code in (403, 404)
    assert api.post(f"/tasks/{tasks['county_work']['id']}/complete", "mediator", json={"data": {}}).status_code == 200
    assert api.post(f"/tasks/{tasks['dept_work']['id']}/complete", "hrss", json={"data": {}}).status_code == 200
    assert api.get(f"/cases/{case_no}", "admin").get_json()["status"] == "closed"


def test_unknown_department_goes_back_to_the_mediator(api):
    case_no, tasks = start(api, "no_such_dept")
    assert tasks["dept_work"]["role"] == "mediator" and tasks["dept_work"]["department"] is None
    assert api.get("/tasks?scope=group", "hrss").get_json()["items"] == []
    timeline = api.get(f"/cases/{case_no}", "admin").get_json()["timeline"]
    assert any("unknown department" in e["message"] for e in timeline if e["task"] == "dept_work")


def test_a_null_deadline_clears_it_and_overdue_follows_open_tasks(api):
    case_no, _ = start(api, "hrss")
    case = api.get(f"/cases/{case_no}", "admin").get_json()
    assert case["deadlines"]["accept"] is None and case["overdue"] is False
