"""A failing script becomes an incident on the case, keeps the state before it, and can be retried."""

from __future__ import annotations

from pathlib import Path

BUNDLES = Path(__file__).parent / "bundles"


def open_tasks(api, case_no):
    return api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"]


def test_incident_then_retry_after_fix(api):
    assert api.deploy({"fragile.bpmn": (BUNDLES / "fragile.bpmn").read_text()}).status_code == 201
    case_no = api.intake(process_id="fragile", data={"divisor": 0}).get_json()["case_no"]
    [prepare] = open_tasks(api, case_no)

    r = api.post(f"/tasks/{prepare['id']}/complete", "mediator", json={"data": {"note": "材料齐全"}})
    assert r.status_code == 200
    case = r.get_json()
    assert case["has_incident"] is True
    [incident] = case["incidents"]
    assert incident["task"] == "compute" and "division by zero" in incident["message"]
    assert case["status"] == "open"
    assert open_tasks(api, case_no) == []  # the person's work is kept; the script waits for a retry
    assert [e["kind"] for e in case["timeline"]][-1] == "incident"

    # retrying without a fix fails the same way and keeps the incident
    r = api.post(f"/cases/{case_no}/retry", "mediator", json={})
    assert r.status_code == 200 and r.get_json()["has_incident"] is True
    assert len(r.get_json()["incidents"]) == 1

    r = api.post(f"/cases/{case_no}/retry", "mediator", json={"data": {"divisor": 5}})
    assert r.status_code == 200, r.get_json()
    case = r.get_json()
    assert case["has_incident"] is False and case["incidents"] == []
    [review] = open_tasks(api, case_no)
    assert review["name"] == "review"
    task = api.get(f"/tasks/{review['id']}", "mediator").get_json()
    assert task["data"]["result"] == 2 and task["data"]["note"] == "材料齐全"

    assert api.post(f"/cases/{case_no}/retry", "mediator", json={}).status_code == 409


def test_failure_at_start_keeps_the_case_with_an_incident(api):
    bpmn = (BUNDLES / "fragile.bpmn").read_text()
    bpmn = bpmn.replace('sourceRef="start" targetRef="prepare"', 'sourceRef="start" targetRef="compute"')
    bpmn = bpmn.replace('<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>',
                        '<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>')
    bpmn = bpmn.replace('<bpmn:sequenceFlow id="f2" sourceRef="prepare" targetRef="compute"/>', "")
    bpmn = bpmn.replace('<bpmn:userTask id="prepare" name="准备"><bpmn:incoming>f1</bpmn:incoming>'
                        '<bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>', "")
    assert api.deploy({"fragile.bpmn": bpmn}).status_code == 201, api.deploy({"fragile.bpmn": bpmn}).get_json()
    r = api.intake(process_id="fragile", data={"divisor": 0})
    assert r.status_code == 201
    case_no = r.get_json()["case_no"]
    case = api.get(f"/cases/{case_no}", "admin").get_json()
    assert case["has_incident"] is True and case["incidents"][0]["task"] == "compute"
    r = api.post(f"/cases/{case_no}/retry", "mediator", json={"data": {"divisor": 2}})
    assert r.get_json()["has_incident"] is False
    assert [t["name"] for t in open_tasks(api, case_no)] == ["review"]


def test_retry_needs_a_role_and_an_incident(api):
    assert api.deploy({"fragile.bpmn": (BUNDLES / "fragile.bpmn").read_text()}).status_code == 201
    case_no = api.intake(process_id="fragile", data={"divisor": 1}).get_json()["case_no"]
    assert api.post(f"/cases/{case_no}/retry", "receiver", json={}).status_code == 403
    assert api.post(f"/cases/{case_no}/retry", "mediator", json={}).status_code == 409
    assert api.post("/cases/QX-2026-999999/retry", "mediator", json={}).status_code == 404
