"""Triage names the receiving leader of the day (包案领导) from a list: a person field (`format: username`,
`x-role: leader`) takes only the username of an active leader of the case's place or above, whoever
sends it, and the leader it names gets the leader's tasks of the case."""

from __future__ import annotations

from app.tasks.models import HumanTask, TaskStatus
from tests.scenarios.test_scenario_paths import MONDAY, county_case


def test_triage_takes_a_leader_of_the_case_place_and_refuses_anyone_else(scenario, database):
    sc = scenario
    sc.start_clock_at(MONDAY)
    password = type(sc.api).token.__globals__["TEST_PASSWORD"]
    r = sc.api.post("/users", "admin", json={"username": "leader_town2", "password": password, "roles": ["leader"],
                                             "org_unit": "town2"})
    assert r.status_code == 201, r.get_json()
    case_no = county_case(sc)
    sc.do("receiver_county", case_no, "intake", {"category": "labour", "parties": [{"name": "张三"}]})
    triage = sc.task(case_no, "triage")
    detail = sc.detail(triage, "mediator")
    field = detail["form"]["schema"]["properties"]["receiving_leader"]
    assert (field["format"], field["x-role"]) == ("username", "leader")
    # a client offers whom the field may name, as the browser's drop-down does
    assert detail["people"] == {"receiving_leader": [{"username": "leader", "display_name": "leader",
                                                      "org_unit": "county"}]}

    joint = {"route": "joint", "departments": ["hrss", "justice"], "services": []}
    for name, why in (("nobody", "no active user 'nobody' with the role leader here"),
                      ("mediator", "no active user 'mediator' with the role leader here"),  # not a leader
                      ("leader_town2", "no active user 'leader_town2' with the role leader here")):  # elsewhere
        r = sc.api.post(f"/tasks/{triage['id']}/complete", "mediator",
                        json={"data": {**joint, "receiving_leader": name}})
        assert r.status_code == 422, r.get_json()
        assert r.get_json()["fields"] == {"receiving_leader": why}
    with database.unit_of_work(write=False) as s:
        assert s.get(HumanTask, triage["id"]).status == TaskStatus.open  # nothing changed
    assert sc.completed(case_no) == ["intake"]

    sc.complete("mediator", triage, {**joint, "receiving_leader": "leader"})
    assert sc.case(case_no)["stage"] == "convene"
