"""The decision API: read a table, try it (published or not), publish a change, and refuse bad tables."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.audit.service import list_entries

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_FILE = (ROOT / "processes" / "deadline_rules.dmn").read_text(encoding="utf-8")
NAME = "期限规则 Deadline rules"


def shipped_bundle() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for folder in ("processes", "forms"):
        for path in sorted((ROOT / folder).iterdir()):
            if path.is_file() and path.name.endswith((".bpmn", ".dmn", ".json")):
                files[path.name] = path.read_bytes()
    return files


@pytest.fixture
def shipped(api: Any) -> Any:
    r = api.deploy(shipped_bundle())
    assert r.status_code == 201, r.get_json()
    return api


def table(api: Any, decision: str = "deadline_rules") -> dict[str, Any]:
    r = api.get(f"/decisions/{decision}", "mediator")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["table"]


def put(api: Any, body: dict[str, Any], user: str = "leader", decision: str = "deadline_rules") -> Any:
    return api.call("PUT", f"/decisions/{decision}", user, json=body)


def test_get_gives_the_newest_version_with_its_table_and_file(shipped):
    r = shipped.get("/decisions/deadline_rules", "mediator")
    assert r.status_code == 200
    body = r.get_json()
    assert (body["id"], body["name"], body["version"], body["file"]) == ("deadline_rules", NAME, 1,
                                                                         "deadline_rules.dmn")
    assert body["published_by"] == "designer" and body["published_at"].endswith("+08:00")
    assert body["can_publish"] is False
    assert body["xml"] == DEADLINE_FILE
    t = body["table"]
    assert t["hit_policy"] == "UNIQUE"
    assert t["inputs"] == [{"id": "deadline_rules_in0", "label": "期限类别 Deadline class",
                            "expression": "deadline_class", "type": "string"}]
    assert [o["name"] for o in t["outputs"]] == ["dl_unit", "dl_accept", "dl_convene", "dl_reply", "dl_callback"]
    assert t["outputs"][1] == {"id": "deadline_rules_out1", "label": "受理 Accept", "name": "dl_accept",
                               "type": "number"}
    assert t["rules"][0] == {"id": "deadline_rules_r1", "inputs": ['"urgent"'],
                             "outputs": ['"hours"', "2", "24", "72", "24"],
                             "description": "紧急事项按小时计 Urgent matters count in hours"}
    assert t["rules"][2]["inputs"] == [""]
    assert shipped.get("/decisions/deadline_rules", "leader").get_json()["can_publish"] is True
    assert shipped.get("/decisions/nothing", "leader").status_code == 404
    assert shipped.get("/decisions/deadline_rules").status_code == 401


def test_list(shipped):
    r = shipped.get("/decisions", "receiver")
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert [(i["id"], i["version"], i["file"]) for i in items] == [
        ("classification", 1, "classification.dmn"), ("deadline_rules", 1, "deadline_rules.dmn"),
        ("supervision_rules", 1, "supervision_rules.dmn")]
    assert items[1]["name"] == NAME and items[1]["published_by"] == "designer"


def test_evaluate_the_published_table(shipped):
    r = shipped.post("/decisions/deadline_rules/evaluate", "mediator", json={"inputs": {"deadline_class": "complex"}})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["outputs"] == {"dl_unit": "workdays", "dl_accept": 1, "dl_convene": 2, "dl_reply": 15,
                               "dl_callback": 1}
    assert [(m["number"], m["id"]) for m in body["matched"]] == [(2, "deadline_rules_r2")]
    assert [m["number"] for m in body["matching"]] == [2, 3]  # the default matches too, the first one wins
    assert body["version"] == 1 and body["no_match"] is False

    r = shipped.post("/decisions/classification/evaluate", "receiver",
                     json={"inputs": {"category": "labour", "urgency": "normal"}})
    assert r.get_json()["outputs"] == {"proposed_level": "county", "lead_department": "hrss",
                                       "co_departments": ["cmte_labour", "justice"], "services": ["legal_aid"],
                                       "deadline_class": "normal"}
    assert [m["number"] for m in r.get_json()["matched"]] == [2]


def test_evaluate_an_unpublished_table_changes_nothing(shipped):
    t = table(shipped)
    t["rules"][1]["outputs"][3] = "20"
    r = shipped.post("/decisions/deadline_rules/evaluate", "mediator",
                     json={"inputs": {"deadline_class": "complex"}, "table": t})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["outputs"]["dl_reply"] == 20 and r.get_json()["version"] is None
    r = shipped.post("/decisions/deadline_rules/evaluate", "mediator", json={"inputs": {"deadline_class": "complex"}})
    assert r.get_json()["outputs"]["dl_reply"] == 15


def test_evaluate_uses_the_case_script_environment(shipped):
    """Cells see the same working-day functions as a running case (the county calendar)."""
    t = table(shipped)
    t["rules"][2]["outputs"][3] = 'workdays_after("2026-11-20T10:00:00+08:00", 1)'
    r = shipped.post("/decisions/deadline_rules/evaluate", "mediator",
                     json={"inputs": {"deadline_class": "normal"}, "table": t})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["outputs"]["dl_reply"] == "2026-11-23T23:59:59+08:00"  # Friday -> Monday


def test_evaluate_errors_name_the_input_or_cell(shipped):
    r = shipped.post("/decisions/deadline_rules/evaluate", "mediator", json={"inputs": {}})
    assert r.status_code == 422
    assert r.get_json()["fields"] == {"inputs.deadline_class": "no value given: the table reads deadline_class"}

    t = table(shipped)
    t["rules"][1]["inputs"][0] = "> 3"
    r = shipped.post("/decisions/deadline_rules/evaluate", "mediator",
                     json={"inputs": {"deadline_class": "normal"}, "table": t})
    assert r.status_code == 422
    assert r.get_json()["fields"] == {
        "table.rules[1].inputs[0]": "TypeError: '>' not supported between instances of 'str' and 'int'"}

    r = shipped.post("/decisions/deadline_rules/evaluate", "mediator", json={"inputs": ["x"]})
    assert r.status_code == 422 and r.get_json()["fields"] == {"inputs": "expected an object of variables"}


def _urgent_case(api: Any) -> dict[str, Any]:
    r = api.intake(urgency="urgent", category="labour")
    assert r.status_code == 201, r.get_json()
    r = api.get(f"/cases/{r.get_json()['case_no']}", "mediator")
    return r.get_json()


def test_put_publishes_a_new_version_for_the_next_case_only(shipped, database):
    before = datetime.now().astimezone()
    running = _urgent_case(shipped)
    first_accept = datetime.fromisoformat(running["deadlines"]["accept"])
    assert timedelta(hours=2) - timedelta(seconds=5) <= first_accept - before <= timedelta(hours=2, seconds=30)

    t = table(shipped)
    t["rules"][0]["outputs"][1] = "4"  # urgent matters: accept within 4 hours instead of 2
    r = put(shipped, {"table": t, "note": "紧急事项受理时限改为 4 小时", "version": 1})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["id"] == "deadline_rules" and r.get_json()["version"] == 2

    body = shipped.get("/decisions/deadline_rules", "mediator").get_json()
    assert (body["version"], body["published_by"], body["note"]) == (2, "leader", "紧急事项受理时限改为 4 小时")
    assert body["table"]["rules"][0]["outputs"][1] == "4"
    # only that cell changed in the file: ids, descriptions and the diagram are kept
    assert body["xml"] == DEADLINE_FILE.replace(
        '<outputEntry id="deadline_rules_r1_o1">\n          <text>2</text>',
        '<outputEntry id="deadline_rules_r1_o1">\n          <text>4</text>')

    fresh = _urgent_case(shipped)
    fresh_accept = datetime.fromisoformat(fresh["deadlines"]["accept"])
    now = datetime.now().astimezone()
    assert timedelta(hours=4) - timedelta(seconds=30) <= fresh_accept - now <= timedelta(hours=4, seconds=5)
    # the running case keeps the rules it started with
    again = shipped.get(f"/cases/{running['case_no']}", "mediator").get_json()
    assert again["deadlines"]["accept"] == running["deadlines"]["accept"]

    with database.unit_of_work() as s:
        [(entry, user)] = [(e, u) for e, u in list_entries(s) if e.action == "decision_change"]
        assert (entry.action, user.username, entry.summary) == ("decision_change", "leader", "deadline_rules v2")
        assert entry.detail["note"] == "紧急事项受理时限改为 4 小时"
        assert entry.detail["versions"] == [{"kind": "decision", "id": "deadline_rules", "version": 2}]


def _refused(api: Any, t: dict[str, Any], fields: dict[str, str], database: Any) -> None:
    r = put(api, {"table": t})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["fields"] == fields
    assert api.get("/decisions/deadline_rules", "mediator").get_json()["version"] == 1
    with database.unit_of_work() as s:
        assert [e for e, _u in list_entries(s) if e.action == "decision_change"] == []


def test_put_refuses_an_unquoted_string(shipped, database):
    t = table(shipped)
    t["rules"][0]["inputs"][0] = "urgent"
    _refused(shipped, t, {"table.rules[0].inputs[0]": (
        f"decision table '{NAME}', rule 1, input '期限类别 Deadline class': urgent is not quoted, so Python "
        'reads it as a variable; write it with quotes: "urgent"')}, database)


def test_put_refuses_a_table_without_default_rule(shipped, database):
    t = table(shipped)
    del t["rules"][2]
    _refused(shipped, t, {"table": (
        f"decision table '{NAME}' has no default rule; add a last rule whose input cells are all empty or -; "
        'no rule matches deadline_class="normal": the outputs would stay undefined; add rules or a default rule')},
        database)


def test_put_refuses_malformed_tables(shipped, database):
    t = table(shipped)
    broken = copy.deepcopy(t)
    broken["rules"][0]["outputs"] = broken["rules"][0]["outputs"][:4]
    broken["hit_policy"] = "FIRST"
    broken["outputs"][1]["name"] = "dl accept"
    _refused(shipped, broken, {
        "table.hit_policy": "must be UNIQUE (the first matching rule) or COLLECT (every matching rule)",
        "table.outputs[1].name": "an output needs the name of the variable it sets, e.g. dl_reply "
                                 "(letters, digits and _)",
        "table.rules[0].outputs": "rule 1 needs exactly 5 output cells"}, database)
    r = put(shipped, {"table": t})
    assert r.status_code == 422 and r.get_json()["fields"] == {"table": "the table is the same as version 1"}
    r = put(shipped, {"note": "x"})
    assert r.status_code == 422 and r.get_json()["fields"] == {"table": "required"}


def test_put_moving_the_default_rule_up_is_refused(shipped, database):
    t = table(shipped)
    t["rules"].insert(0, t["rules"].pop())
    _refused(shipped, t, {"table.rules[0]": (
        f"decision table '{NAME}': rule 1 matches everything, so the rules after it never apply; "
        "move it to the end")}, database)


def test_only_leaders_designers_and_admins_publish(shipped, database):
    t = table(shipped)
    t["rules"][0]["outputs"][1] = "3"
    r = put(shipped, {"table": t}, user="mediator")
    assert r.status_code == 403
    assert r.get_json()["error"] == "forbidden"
    assert shipped.call("PUT", "/decisions/deadline_rules", None, json={"table": t}).status_code == 401
    with database.unit_of_work() as s:
        assert [e for e, _u in list_entries(s) if e.action == "decision_change"] == []
    assert put(shipped, {"table": t}, user="designer").status_code == 201
    t["rules"][0]["outputs"][1] = "5"
    assert put(shipped, {"table": t}, user="admin").status_code == 201
    assert shipped.get("/decisions/deadline_rules", "mediator").get_json()["version"] == 3


def test_a_stale_edit_is_a_conflict(shipped):
    t = table(shipped)
    t["rules"][0]["outputs"][1] = "3"
    assert put(shipped, {"table": t, "version": 1}).status_code == 201
    t["rules"][0]["outputs"][1] = "6"
    r = put(shipped, {"table": t, "version": 1})
    assert r.status_code == 409 and r.get_json()["fields"] == {"version": "the newest version is 2"}


def test_lint_places_problems_on_cells(shipped):
    t = table(shipped)
    t["rules"][1]["inputs"][0] = '"complx"'
    t["rules"].insert(1, copy.deepcopy(t["rules"][0]))
    t["rules"][1]["id"] = ""
    r = shipped.post("/decisions/deadline_rules/lint", "mediator", json={"table": t})
    assert r.status_code == 200, r.get_json()
    found = [(i["level"], i["code"], i["field"]) for i in r.get_json()["issues"]]
    assert found == [("warning", "shadowed", "table.rules[1]"),
                     ("warning", "unknown_value", "table.rules[2].inputs[0]")]
    typo = r.get_json()["issues"][1]
    assert typo["message_zh"] == ('规则 3，输入“期限类别 Deadline class”："complx" 不是 deadline_class 的已知取值'
                                  "（urgent, normal, complex），事项中不会出现这个值，此单元格永远不会匹配")
    assert shipped.post("/decisions/deadline_rules/lint", "mediator", json={}).get_json() == {"issues": []}
