"""Moving running cases from one process version to another: dry run, bulk move, single case, access.

The `relay` bundle (tests/studio/bundles) has v1: accept (with a reminder timer) → fast track? →
fast | review → finish → end. v2 renames accept, removes the fast track, changes review's form
(a new required field) and adds a leader's `verify` after finish.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.cases.models import CaseState, MediationCase
from app.scheduler.models import PendingTimer

BUNDLES = Path(__file__).parent / "bundles"
ROOT = Path(__file__).resolve().parents[2]


def read(name: str) -> str:
    return (BUNDLES / name).read_text()


def deploy_v1(api: Any) -> None:
    r = api.deploy({"relay.bpmn": read("relay_v1.bpmn"), "relay_accept.json": read("relay_accept.json"),
                    "relay_review.json": read("relay_review.json")})
    assert r.status_code == 201 and r.get_json()["version"] == 1, r.get_json()


def deploy_v2(api: Any) -> None:
    r = api.deploy({"relay.bpmn": read("relay_v2.bpmn"), "relay_review.json": read("relay_review_v2.json")})
    assert r.status_code == 201 and r.get_json()["version"] == 2, r.get_json()


def tasks(api: Any, case_no: str) -> list[dict[str, Any]]:
    r = api.get(f"/tasks?scope=all&case_no={case_no}", "admin")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["items"]


def do(api: Any, user: str, case_no: str, name: str, data: dict[str, Any] | None = None,
       department: str | None = None) -> dict[str, Any]:
    found = [t for t in tasks(api, case_no) if t["name"] == name and department in (None, t["department"])]
    assert len(found) == 1, (name, [t["name"] for t in tasks(api, case_no)])
    r = api.post(f"/tasks/{found[0]['id']}/complete", user, json={"data": data or {}})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def case(api: Any, case_no: str) -> dict[str, Any]:
    r = api.get(f"/cases/{case_no}", "admin")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def completed(api: Any, case_no: str) -> list[str]:
    return [e["task"] for e in case(api, case_no)["timeline"] if e["kind"] == "task_completed"]


def new_case(api: Any) -> str:
    r = api.intake(process_id="relay")
    assert r.status_code == 201, r.get_json()
    return r.get_json()["case_no"]


def migrate(api: Any, body: dict[str, Any], user: str = "designer", process: str = "relay") -> Any:
    return api.post(f"/processes/{process}/migrate", user, json=body)


def snapshot(database: Any, case_no: str) -> tuple[int, int, bytes, list[tuple[str, Any]]]:
    """(version, runtime spec, state blob, pending timers) of a case, read from the tables."""
    with database.unit_of_work(write=False) as s:
        found = s.scalar(select(MediationCase).where(MediationCase.case_no == case_no))
        blob = s.get(CaseState, found.id).blob
        timers = [(t.name, t.due_at) for t in s.scalars(select(PendingTimer).where(PendingTimer.case_id == found.id))]
        return found.process_version, found.runtime_spec_id, bytes(blob), timers


def audit_entries(database: Any) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    with database.unit_of_work(write=False) as s:
        return [(e.action, e.subject_kind, e.subject_id, e.summary, e.detail)
                for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "migrate").order_by(AuditEntry.id))]


def test_bulk_dry_run_then_move_and_walk_to_the_end(api, database):
    deploy_v1(api)
    at_accept = new_case(api)
    at_fast = new_case(api)
    do(api, "receiver", at_fast, "accept", {"fast": True})
    at_review = new_case(api)
    do(api, "receiver", at_review, "accept", {"fast": False})
    at_finish = new_case(api)
    do(api, "receiver", at_finish, "accept", {"fast": False})
    do(api, "mediator", at_finish, "review", {"review_note": "材料齐全"})
    closed = new_case(api)
    do(api, "receiver", closed, "accept", {"fast": False})
    do(api, "mediator", closed, "review", {})
    do(api, "mediator", closed, "finish", {})
    assert case(api, closed)["status"] == "closed"
    deploy_v2(api)

    [accept_before] = tasks(api, at_accept)
    assert (accept_before["name"], accept_before["title"]) == ("accept", "受理")
    before = {c: snapshot(database, c) for c in (at_accept, at_fast, at_review, at_finish, closed)}
    assert [name for name, _ in before[at_accept][3]] == ["受理提醒"]

    r = migrate(api, {"from_version": 1, "to_version": 2, "dry_run": True})
    assert r.status_code == 200, r.get_json()
    report = r.get_json()
    assert report["process"] == {"id": "relay", "from_version": 1, "to_version": 2}
    assert report["dry_run"] is True
    assert report["counts"] == {"total": 4, "can_move": 2, "cannot_move": 2, "moved": 0, "failed": 0}
    rows = {c["case_no"]: c for c in report["cases"]}
    assert [c["case_no"] for c in report["cases"]] == sorted([at_accept, at_fast, at_review, at_finish])
    assert (rows[at_accept]["can_move"], rows[at_accept]["reasons"], rows[at_accept]["moved"]) == (True, [], False)
    assert rows[at_accept]["continued_tasks"] == ["accept"]
    assert (rows[at_finish]["can_move"], rows[at_finish]["reasons"]) == (True, [])
    assert rows[at_fast]["can_move"] is False
    assert rows[at_fast]["reasons"] == [
        "step 快速办理 (fast) is not in version 2, and the case has already reached it (waiting for a person)"]
    assert rows[at_fast]["blockers"] == [{"kind": "removed", "process": "relay", "step": "fast", "name": "快速办理",
                                          "state": "ready", "aspects": [], "detail": ""}]
    assert rows[at_review]["can_move"] is False
    assert rows[at_review]["reasons"] == [
        "step 审查 (review) is under way (waiting for a person) and its form changed in version 2"]
    # a dry run changes nothing
    assert {c: snapshot(database, c) for c in before} == before
    assert audit_entries(database) == []
    assert "migrated" not in [e["kind"] for e in case(api, at_accept)["timeline"]]

    r = migrate(api, {"from_version": 1, "to_version": 2, "dry_run": False})
    assert r.status_code == 200, r.get_json()
    report = r.get_json()
    assert report["counts"] == {"total": 4, "can_move": 2, "cannot_move": 2, "moved": 2, "failed": 0}
    assert sorted(c["case_no"] for c in report["cases"] if c["moved"]) == sorted([at_accept, at_finish])

    # the moved cases: new version, same open task rows (ids kept, the new label), same timers
    for moved in (at_accept, at_finish):
        body = case(api, moved)
        assert body["process"] == {"id": "relay", "version": 2}
        [event] = [e for e in body["timeline"] if e["kind"] == "migrated"]
        assert (event["message"], event["data"]["from_version"], event["data"]["to_version"]) == ("v1 → v2", 1, 2)
        assert event["actor"] == "designer"
        assert body["timeline"][-1]["kind"] == "migrated"
    [accept_after] = tasks(api, at_accept)
    assert (accept_after["id"], accept_after["name"], accept_after["title"]) == \
        (accept_before["id"], "accept", "受理登记")
    after_accept = snapshot(database, at_accept)
    assert after_accept[3] == before[at_accept][3]  # the reminder keeps its due time
    assert after_accept[1] != before[at_accept][1]
    # the others stay on v1, untouched
    for stays in (at_fast, at_review, closed):
        assert snapshot(database, stays) == before[stays]
        assert case(api, stays)["process"] == {"id": "relay", "version": 1}
        assert "migrated" not in [e["kind"] for e in case(api, stays)["timeline"]]

    [entry] = audit_entries(database)
    assert entry[:4] == ("migrate", "process", "relay", "relay v1 → v2: 2 moved, 2 cannot move, 0 failed")
    assert sorted(entry[4]["moved"]) == sorted([at_accept, at_finish])
    assert sorted(entry[4]["cannot_move"]) == sorted([at_fast, at_review])

    # the moved cases walk v2 to the end, through the new step and the new form
    do(api, "receiver", at_accept, "accept", {})
    found = [t for t in tasks(api, at_accept) if t["name"] == "review"]
    assert api.post(f"/tasks/{found[0]['id']}/complete", "mediator",
                    json={"data": {"review_note": "缺风险等级"}}).status_code == 422  # v2's form requires `risk`
    do(api, "mediator", at_accept, "review", {"risk": "low"})
    do(api, "mediator", at_accept, "finish")
    [verify] = tasks(api, at_accept)
    assert (verify["name"], verify["title"], verify["lane"]) == ("verify", "领导核验", "leader")
    do(api, "leader", at_accept, "verify")
    assert case(api, at_accept)["status"] == "closed"
    assert completed(api, at_accept) == ["accept", "review", "finish", "verify"]
    do(api, "mediator", at_finish, "finish")
    do(api, "leader", at_finish, "verify")
    assert case(api, at_finish)["status"] == "closed"
    assert completed(api, at_finish) == ["accept", "review", "finish", "verify"]
    # the ones left behind finish on v1 (no verify step, the old review form)
    do(api, "receiver", at_fast, "fast")
    do(api, "mediator", at_fast, "finish")
    do(api, "mediator", at_review, "review", {"review_note": "无需风险等级"})
    do(api, "mediator", at_review, "finish")
    assert completed(api, at_fast) == ["accept", "fast", "finish"]
    assert completed(api, at_review) == ["accept", "review", "finish"]
    assert case(api, at_fast)["status"] == case(api, at_review)["status"] == "closed"

    # nothing is left on v1 that is open
    r = migrate(api, {"from_version": 1, "to_version": 2, "dry_run": True})
    assert r.get_json()["counts"] == {"total": 0, "can_move": 0, "cannot_move": 0, "moved": 0, "failed": 0}


def test_single_case_move(api, database):
    deploy_v1(api)
    first = new_case(api)
    second = new_case(api)
    deploy_v2(api)

    r = api.post(f"/cases/{first}/migrate", "designer", json={"to_version": 2, "dry_run": True})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["process"] == {"id": "relay", "from_version": 1, "to_version": 2}
    assert [(c["case_no"], c["can_move"], c["moved"]) for c in body["cases"]] == [(first, True, False)]
    assert case(api, first)["process"]["version"] == 1

    r = api.post(f"/cases/{first}/migrate", "admin", json={"to_version": 2, "dry_run": False})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["counts"] == {"total": 1, "can_move": 1, "cannot_move": 0, "moved": 1, "failed": 0}
    assert case(api, first)["process"]["version"] == 2
    assert case(api, second)["process"]["version"] == 1  # only the one case moved
    [entry] = audit_entries(database)
    assert entry[:4] == ("migrate", "case", first, "relay v1 → v2: 1 moved, 0 cannot move, 0 failed")

    # and back again: a case may move to any other published version
    r = api.post(f"/cases/{first}/migrate", "designer", json={"to_version": 1, "dry_run": False})
    assert r.status_code == 200 and r.get_json()["counts"]["moved"] == 1, r.get_json()
    assert case(api, first)["process"]["version"] == 1
    kinds = [e["message"] for e in case(api, first)["timeline"] if e["kind"] == "migrated"]
    assert kinds == ["v1 → v2", "v2 → v1"]
    do(api, "receiver", first, "accept", {"fast": True})
    do(api, "receiver", first, "fast")
    do(api, "mediator", first, "finish")
    assert case(api, first)["status"] == "closed"

    # a closed case keeps its version
    r = api.post(f"/cases/{first}/migrate", "designer", json={"to_version": 2, "dry_run": True})
    assert r.status_code == 409, r.get_json()


def test_access_and_bad_requests_change_nothing(api, database):
    deploy_v1(api)
    case_no = new_case(api)
    deploy_v2(api)
    before = snapshot(database, case_no)
    for user in ("mediator", "leader", "receiver", "hrss"):
        assert migrate(api, {"from_version": 1, "to_version": 2, "dry_run": False}, user).status_code == 403
        r = api.post(f"/cases/{case_no}/migrate", user, json={"to_version": 2, "dry_run": False})
        assert r.status_code == 403, r.get_json()
    assert api.post("/processes/relay/migrate", json={"from_version": 1, "to_version": 2}).status_code == 401

    bad = [
        ({"from_version": 1, "to_version": 9, "dry_run": False}, {"to_version": "no such version (versions: 1, 2)"}),
        ({"from_version": 7, "to_version": 2, "dry_run": False}, {"from_version": "no such version (versions: 1, 2)"}),
        ({"from_version": 1, "to_version": 1, "dry_run": False}, {"to_version": "must differ from from_version"}),
        ({"from_version": "1", "to_version": 2}, {"from_version": "must be a version number (1, 2, ...)"}),
        ({"to_version": 2}, {"from_version": "required"}),
        ({"from_version": 1, "to_version": 2, "dry_run": "no"}, {"dry_run": "must be true or false"}),
        ({"from_version": True, "to_version": 0}, {"from_version": "must be a version number (1, 2, ...)",
                                                   "to_version": "must be a version number (1, 2, ...)"}),
    ]
    for body, fields in bad:
        r = migrate(api, body)
        assert r.status_code == 422, (body, r.get_json())
        assert r.get_json()["fields"] == fields, body
    r = migrate(api, {"from_version": 1, "to_version": 2}, process="nosuch")
    assert r.status_code == 404
    r = api.post(f"/cases/{case_no}/migrate", "designer", json={"to_version": 5})
    assert (r.status_code, r.get_json()["fields"]) == (422, {"to_version": "no such version (versions: 1, 2)"})
    r = api.post(f"/cases/{case_no}/migrate", "designer", json={"to_version": 1})
    assert (r.status_code, r.get_json()["fields"]) == (422, {"to_version": "the case already runs on this version"})
    r = api.post("/cases/QX-2026-999999/migrate", "designer", json={"to_version": 2})
    assert r.status_code == 404
    r = api.post(f"/cases/{case_no}/migrate", "designer", data="not json", content_type="application/json")
    assert r.status_code == 400
    assert snapshot(database, case_no) == before
    assert audit_entries(database) == []


def shipped_bundle() -> dict[str, bytes]:
    """Every BPMN, DMN and form file of processes/ and forms/."""
    return {p.name: p.read_bytes() for folder in ("processes", "forms") for p in sorted((ROOT / folder).iterdir())
            if p.is_file() and p.name.endswith((".bpmn", ".dmn", ".json"))}


def test_mediation_case_inside_department_work_moves_to_a_republished_copy(api, database):
    r = api.post("/users", "admin", json={"username": "receiver_county", "password": "test-password-1",
                                         "roles": ["receiver"], "org_unit": "county"})
    assert r.status_code == 201, r.get_json()
    files = shipped_bundle()
    r = api.deploy(files)
    assert r.status_code == 201 and {"id": "mediation", "version": 1} in r.get_json()["processes"]
    r = api.intake("receiver_county", title="工地拖欠工资", description="拖欠 12 名农民工三个月工资", category="labour",
                   location={"org_unit": "county", "address": "县城东区工地"})
    assert r.status_code == 201, r.get_json()
    case_no = r.get_json()["case_no"]
    do(api, "receiver_county", case_no, "intake", {"category": "labour"})
    do(api, "mediator", case_no, "triage", {"route": "joint", "departments": ["hrss", "justice"], "services": []})
    do(api, "hrss", case_no, "department_opinion", {"action": "opinion", "text": "已责令限期支付"}, "hrss")
    [justice_before] = tasks(api, case_no)  # justice's department_work is still running
    assert (justice_before["name"], justice_before["department"]) == ("department_opinion", "justice")
    before = snapshot(database, case_no)
    assert sorted(name for name, _ in before[3]) == ["到期提醒 Reminder", "通报批评 Criticism", "逾期督办 Overdue"]

    # republish the whole bundle with two labels changed: the meeting (not reached) and the department's task
    changed = dict(files)
    changed["mediation.bpmn"] = files["mediation.bpmn"].replace(
        "联合调解会 Mediation meeting".encode(), "联合调解会（县中心） Mediation meeting".encode())
    changed["department_work.bpmn"] = files["department_work.bpmn"].replace(
        "部门办理 Handle the dispatch".encode(), "部门办理（新） Handle the dispatch".encode())
    assert changed["mediation.bpmn"] != files["mediation.bpmn"]
    assert changed["department_work.bpmn"] != files["department_work.bpmn"]
    r = api.deploy(changed)
    assert r.status_code == 201 and {"id": "mediation", "version": 2} in r.get_json()["processes"]

    r = migrate(api, {"from_version": 1, "to_version": 2, "dry_run": True}, process="mediation")
    assert r.status_code == 200, r.get_json()
    [row] = r.get_json()["cases"]
    assert (row["case_no"], row["can_move"], row["reasons"], row["continued_tasks"]) == \
        (case_no, True, [], ["department_opinion"])
    r = migrate(api, {"from_version": 1, "to_version": 2, "dry_run": False}, process="mediation")
    assert r.get_json()["counts"] == {"total": 1, "can_move": 1, "cannot_move": 0, "moved": 1, "failed": 0}

    body = case(api, case_no)
    assert (body["process"], body["stage"], body["status"]) == ({"id": "mediation", "version": 2}, "convene", "open")
    [justice_after] = tasks(api, case_no)
    assert (justice_after["id"], justice_after["department"], justice_after["due_at"]) == \
        (justice_before["id"], "justice", justice_before["due_at"])
    assert justice_after["title"] == "部门办理（新） Handle the dispatch"
    after = snapshot(database, case_no)
    assert sorted(after[3]) == sorted(before[3])

    do(api, "justice", case_no, "department_opinion", {"action": "opinion", "text": "提供法律咨询"})
    [meeting] = tasks(api, case_no)
    assert (meeting["name"], meeting["title"]) == ("meeting", "联合调解会（县中心） Mediation meeting")
    opinions = api.get(f"/tasks/{meeting['id']}", "mediator").get_json()["data"]["opinions"]
    assert sorted(o["department"] for o in opinions) == ["hrss", "justice"]
    do(api, "mediator", case_no, "meeting", {"agreement_reached": True, "meeting_minutes": "总包单位垫付工资"})
    do(api, "mediator", case_no, "draft_reply", {"reply_text": "工资已垫付", "resolved": True})
    do(api, "leader", case_no, "approve_reply", {"reply_approved": True})
    do(api, "mediator", case_no, "callback", {"solved": True, "satisfied": True})
    body = case(api, case_no)
    assert (body["status"], body["stage"], body["process"]["version"]) == ("closed", "closed", 2)
    assert completed(api, case_no) == ["intake", "triage", "department_opinion", "department_opinion", "meeting",
                                       "draft_reply", "approve_reply", "callback"]
    assert [e["message"] for e in body["timeline"] if e["kind"] == "migrated"] == ["v1 → v2"]


def test_migrate_page_check_confirm_move_and_case_page(api, app, database):
    from tests.web.test_login import csrf, login

    deploy_v1(api)
    movable = new_case(api)
    blocked = new_case(api)
    do(api, "receiver", blocked, "accept", {"fast": True})
    deploy_v2(api)

    designer = app.test_client()
    assert login(designer, "designer").status_code == 302
    page = designer.get("/studio/migrate/relay")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "迁移办理中的事项" in html and "检查结果" not in html
    assert '<option value="1" selected>第 1 版（2 件办理中）</option>' in html

    html = designer.get("/studio/migrate/relay?from=1&to=2").get_data(as_text=True)
    assert "可以迁移 1 件" in html and "不能迁移 1 件" in html and "迁移 1 件事项" in html
    assert "第 2 版删除了环节「快速办理（fast）」，而本事项已经到过这一环节（待办中）。" in html
    assert movable in html and blocked in html

    token = csrf(html)
    r = designer.post("/studio/migrate/relay", data={"from": "1", "to": "2", "csrf_token": token})
    assert r.status_code == 302
    assert "请先勾选确认，再迁移。" in designer.get(r.headers["Location"]).get_data(as_text=True)
    assert case(api, movable)["process"]["version"] == 1

    r = designer.post("/studio/migrate/relay", data={"from": "1", "to": "2", "confirm": "yes", "csrf_token": token})
    assert r.status_code == 302
    html = designer.get(r.headers["Location"]).get_data(as_text=True)
    assert f"已把 1 件事项从第 1 版迁移到第 2 版：{movable}" in html
    assert case(api, movable)["process"]["version"] == 2 and case(api, blocked)["process"]["version"] == 1

    html = designer.get(f"/cases/{movable}").get_data(as_text=True)
    assert "版本迁移" in html and "v1 → v2" in html and "迁移到第 2 版" not in html
    html = designer.get(f"/cases/{blocked}").get_data(as_text=True)
    assert "本事项按第 1 版办理，最新是第 2 版。" in html and "确认迁移到第 2 版" in html
    r = designer.post(f"/studio/migrate/case/{blocked}",
                      data={"to": "2", "next": f"/cases/{blocked}", "csrf_token": csrf(html)})
    assert (r.status_code, r.headers["Location"]) == (302, f"/cases/{blocked}")
    html = designer.get(f"/cases/{blocked}").get_data(as_text=True)
    assert f"事项 {blocked} 不能迁移到第 2 版：第 2 版删除了环节「快速办理（fast）」" in html
    assert case(api, blocked)["process"]["version"] == 1

    designer.get("/lang/en")
    html = designer.get("/studio/migrate/relay?from=1&to=2").get_data(as_text=True)
    assert "Move running cases" in html
    assert "Version 2 removed the step “快速办理 (fast)”, and this case has already reached it " \
           "(waiting for a person)." in html

    mediator = app.test_client()
    assert login(mediator, "mediator").status_code == 302
    assert mediator.get("/studio/migrate/relay").status_code == 403
    html = mediator.get(f"/cases/{blocked}").get_data(as_text=True)
    assert "迁移到第 2 版" not in html
    r = mediator.post(f"/studio/migrate/case/{blocked}", data={"to": "2", "csrf_token": csrf(html)})
    assert r.status_code == 403
    assert designer.get("/studio/migrate/nosuch").status_code == 404


# --- the compatibility rules, on the engine alone ------------------------------------------------------

ENGINE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="p" name="规则测试" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l1" name="mediator">
      <bpmn:flowNodeRef>work</bpmn:flowNodeRef><bpmn:flowNodeRef>a</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>b</bpmn:flowNodeRef>{lane_extra}</bpmn:lane>
      <bpmn:lane id="l2" name="leader">{leader_lane}</bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:{work_type} id="work" name="办理"/>
    <bpmn:boundaryEvent id="remind" name="提醒" attachedToRef="work" cancelActivity="false">
      <bpmn:timerEventDefinition><bpmn:timeDuration>{timer}</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    {extra_timer}
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="split"/>
    <bpmn:parallelGateway id="split"/>
    <bpmn:sequenceFlow id="fa" sourceRef="split" targetRef="a"/>
    <bpmn:sequenceFlow id="fb" sourceRef="split" targetRef="b"/>
    <bpmn:{a_type} id="a" name="甲"/>
    <bpmn:userTask id="b" name="乙"/>
    {branch_c}
    <bpmn:sequenceFlow id="fa2" sourceRef="a" targetRef="join"/>
    <bpmn:sequenceFlow id="fb2" sourceRef="b" targetRef="join"/>
    <bpmn:parallelGateway id="join"/>
    <bpmn:sequenceFlow id="f3" sourceRef="join" targetRef="done"/>
    <bpmn:scriptTask id="done" name="汇总"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f4" sourceRef="done" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>"""
ENGINE_V1 = {"timer": '"P2D"', "work_type": "userTask", "extra_timer": "", "a_type": "userTask", "branch_c": "",
             "script": "total = 1", "lane_extra": "", "leader_lane": ""}
BRANCH_C = """<bpmn:sequenceFlow id="fc" sourceRef="split" targetRef="c"/><bpmn:userTask id="c" name="丙"/>
    <bpmn:sequenceFlow id="fc2" sourceRef="c" targetRef="join"/>"""
EXTRA_TIMER = """<bpmn:boundaryEvent id="late" name="超期" attachedToRef="work" cancelActivity="false">
      <bpmn:timerEventDefinition><bpmn:timeDuration>"P5D"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>"""


def engine_spec(**changes: str) -> Any:
    from app.engine import compile_spec

    return compile_spec("p", {"p.bpmn": ENGINE_BPMN.format(**{**ENGINE_V1, **changes})}, {})


def at_work() -> tuple[Any, bytes]:
    from app.engine import start

    spec = engine_spec()
    return spec, start(spec).state


def at_join() -> tuple[Any, bytes]:
    """Branch a is done, the join waits for b."""
    from app.engine import complete_task, start

    spec = engine_spec()
    step = start(spec)
    step = complete_task(spec, step.state, step.ready[0].id, {})
    [a] = [r for r in step.ready if r.name == "a"]
    return spec, complete_task(spec, step.state, a.id, {}).state


def blockers(old: Any, state: bytes, new: Any) -> list[tuple[str, str, str, tuple[str, ...]]]:
    from app.engine.migration import migrate as engine_migrate

    return [(b.kind, b.step, b.state, b.aspects) for b in engine_migrate(old, new, state).blockers]


def test_engine_refuses_a_changed_running_timer_and_a_timer_added_to_the_current_step():
    old, state = at_work()
    assert blockers(old, state, engine_spec(timer='"P3D"')) == [("changed", "remind", "waiting", ("timer",))]
    assert blockers(old, state, engine_spec(extra_timer=EXTRA_TIMER)) == [("changed", "work", "ready", ("timers",))]
    # steps not reached yet may change freely
    assert blockers(old, state, engine_spec(script="total = 2", a_type="manualTask", branch_c=BRANCH_C,
                                            lane_extra="<bpmn:flowNodeRef>c</bpmn:flowNodeRef>")) == []


def test_engine_lane_and_type_changes_of_a_step_under_way():
    old, state = at_join()
    bpmn = ENGINE_BPMN.format(**ENGINE_V1).replace("<bpmn:flowNodeRef>b</bpmn:flowNodeRef>", "").replace(
        '<bpmn:lane id="l2" name="leader">', '<bpmn:lane id="l2" name="leader"><bpmn:flowNodeRef>b</bpmn:flowNodeRef>')
    from app.engine import compile_spec

    assert blockers(old, state, compile_spec("p", {"p.bpmn": bpmn}, {})) == [("changed", "b", "ready", ("lane",))]
    # a finished step may become another kind of element (it is history) ...
    assert blockers(old, state, engine_spec(work_type="manualTask")) == []
    # ... unless a join still counts it as an arrived branch
    assert blockers(old, state, engine_spec(a_type="manualTask")) == [("type_changed", "a", "completed", ())]
    # ... but the join waiting for it must not expect another branch
    assert blockers(old, state, engine_spec(branch_c=BRANCH_C, lane_extra="<bpmn:flowNodeRef>c</bpmn:flowNodeRef>")) \
        == [("changed", "join", "waiting", ("join",))]


def test_engine_moves_a_failed_step_onto_its_fix_and_the_retry_runs_the_new_script():
    from app.engine import complete_task, retry, start
    from app.engine.migration import migrate as engine_migrate

    broken = engine_spec(script="total = 1 / 0")
    step = start(broken)
    step = complete_task(broken, step.state, step.ready[0].id, {})
    for name in ("a", "b"):
        [task] = [r for r in step.ready if r.name == name]
        step = complete_task(broken, step.state, task.id, {})
    assert step.error is not None and not step.completed
    fixed = engine_spec(script="total = 2")
    moved = engine_migrate(broken, fixed, step.state)
    assert moved.blockers == () and moved.step is not None
    done = retry(fixed, moved.step.state)
    assert (done.error, done.completed, done.variables["total"]) == (None, True, 2)


def test_engine_move_keeps_task_ids_and_timer_due_times():
    from app.engine import complete_task
    from app.engine.migration import migrate as engine_migrate

    old, state = at_work()
    from app.engine import peek

    before = peek(old, state)
    new = engine_spec(script="total = 3")
    moved = engine_migrate(old, new, state)
    assert moved.continued == tuple(r.id for r in before.ready)
    assert [(t.task_id, t.due_at) for t in moved.step.timers] == [(t.task_id, t.due_at) for t in before.timers]
    step = complete_task(new, moved.step.state, moved.step.ready[0].id, {})
    for name in ("a", "b"):
        [task] = [r for r in step.ready if r.name == name]
        step = complete_task(new, step.state, task.id, {})
    assert (step.completed, step.variables["total"]) == (True, 3)


def test_openapi_documents_the_migration_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert set(paths["/processes/{id}/migrate"]["post"]["responses"]) == {"200", "400", "401", "403", "404", "422"}
    assert "409" in paths["/cases/{case_no}/migrate"]["post"]["responses"]
