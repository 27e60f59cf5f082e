"""A generic client that knows only the API and each task's JSON Schema walks cases to the end.

For every open task it finds someone allowed to do it (`can_complete`), fills only the required fields
(the first option of a choice, "yes" for a yes/no question, a short text otherwise) and submits. If the
shipped flow needed anything a form does not ask for, or a form asked for something the flow cannot
use, the walk would stop with an incident, a 422 or a task nobody may do.
"""

from __future__ import annotations

from typing import Any

USERS = ["receiver", "receiver_county", "mediator_village", "mediator_town", "mediator", "leader", "hrss", "justice",
         "housing", "natres", "lawyer", "admin"]
TEXT = "已办理 Done"


def value(schema: dict[str, Any]) -> Any:
    """A value for a required field: the first option, the affirmative answer, or the smallest valid one."""
    if "const" in schema:
        return schema["const"]
    if "oneOf" in schema:
        return value(schema["oneOf"][0])
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "boolean":
        return True
    if kind == "string":
        return TEXT.ljust(schema.get("minLength", 0), "。")
    if kind in ("integer", "number"):
        return schema.get("default", schema.get("minimum", 1))
    if kind == "array":
        items = schema.get("items", {})
        count = schema.get("minItems", 0)
        options = items.get("oneOf") or [{"const": e} for e in items.get("enum", [])]
        return [value(o) for o in options[:count]] if options else [value(items) for _ in range(count)]
    if kind == "object":
        return fill(schema)
    raise AssertionError(f"the walker does not know how to fill {schema}")


def fill(schema: dict[str, Any]) -> dict[str, Any]:
    return {name: value(schema["properties"][name]) for name in schema.get("required", [])}


def walk(sc, case_no: str, known: dict[tuple, str], limit: int = 60) -> list[tuple[str, str]]:
    """Complete open tasks until none is left; return (task, user) in order. `known` remembers who
    took a task of a given (role, department, assignee), to ask them first next time."""
    steps: list[tuple[str, str]] = []
    for _ in range(limit):
        tasks = sc.tasks(case_no)
        if not tasks:
            return steps
        task = tasks[0]
        # whoever has it in their group inbox (my roles, my department, my area) and may complete it
        kind = (task["role"], task["department"], task["assignee"])
        candidates = [known[kind]] if kind in known else []
        for user in candidates + [u for u in USERS if u not in candidates]:
            inbox = sc.api.get(f"/tasks?scope=group&case_no={case_no}", user).get_json()["items"]
            if any(t["id"] == task["id"] for t in inbox):
                break
        else:
            raise AssertionError(f"nobody may do {task['name']}")
        known[kind] = user
        r = sc.api.get(f"/tasks/{task['id']}", user)
        assert r.status_code == 200 and r.get_json()["can_complete"], (task["name"], user)
        detail = r.get_json()
        schema = detail["form"]["schema"]
        assert schema.get("properties") and schema.get("title"), f"{task['name']} has no form"
        data = fill(schema)
        r = sc.api.post(f"/tasks/{task['id']}/complete", user, json={"data": data})
        assert r.status_code == 200, (task["name"], data, r.get_json())
        assert not r.get_json()["incidents"], r.get_json()["incidents"]
        steps.append((task["name"], user))
    raise AssertionError(f"no end after {limit} tasks: {steps}")


def test_generic_walker_closes_every_kind_of_case(scenario):
    sc = scenario
    sc.start_clock_at("2026-09-07T09:00:00+08:00")
    village = sc.intake("receiver")  # no category given: the intake form asks for it
    county = sc.intake("mediator", location={"org_unit": "county", "address": "县中心窗口"})
    urgent = sc.intake("mediator", urgency="urgent", category="medical", location={"org_unit": "county"})

    known: dict[tuple, str] = {}
    assert walk(sc, village, known) == [("intake", "receiver"), ("local_mediation", "mediator_village")]

    steps = walk(sc, county, known)
    names = [name for name, _ in steps]
    assert names[:2] == ["intake", "triage"]
    assert names[-4:] == ["meeting", "draft_reply", "approve_reply", "callback"]
    assert sorted(names[2:-4]) == ["department_opinion"] * 3 + ["service_task"]
    assert ("service_task", "lawyer") in steps and ("intake", "receiver_county") in steps

    steps = walk(sc, urgent, known)
    assert [name for name, _ in steps][:2] == ["intake", "triage"]
    case = sc.case(urgent)
    # urgent matters count in hours: accept within 2 hours, convene within 24, reply within 72
    assert case["deadlines"]["accept"].startswith("2026-09-07T11:00")
    assert case["deadlines"]["convene"].startswith("2026-09-08T09:00")
    assert case["deadlines"]["reply"].startswith("2026-09-10T09:00")

    for case_no in (village, county, urgent):
        case = sc.case(case_no)
        assert (case["status"], case["stage"]) == ("closed", "closed"), case_no
        assert case["incidents"] == []
    assert sc.case(village)["level"] == "village"
    assert (sc.case(county)["level"], sc.case(county)["category"]) == ("county", "labour")
