"""The process monitor: cases waiting per step, overdue, median / P90 step times, incidents, scope.

Cases are built through the API on the shipped flow with a fixed clock, so every number is known:
Monday 2026-09-07 09:00 (Asia/Shanghai); county cases must be accepted by 2026-09-08 23:59:59.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.web.test_login import csrf, login

T0 = "2026-09-07T09:00:00+08:00"
H = 3600
FRAGILE = Path(__file__).resolve().parents[1] / "api" / "bundles" / "fragile.bpmn"


def step(view, element):
    s = view["steps"][element]
    return (s["cases"], s["tasks"], s["overdue"], s["done"]["count"], s["done"]["median_seconds"],
            s["done"]["p90_seconds"], s["waiting"]["median_seconds"], s["waiting"]["p90_seconds"])


def build(flow):
    """A: county, accepted after 3 h, triaged after 3 h to hrss + justice; B: county, accepted after 4 h,
    waiting at triage; C: village, waiting at intake. Returns (a, b, c) at T0 + 6 h."""
    flow.at(T0)
    a = flow.intake(title="A 工地欠薪")
    flow.advance("PT1H")
    b = flow.intake(title="B 工地欠薪")
    flow.advance("PT1H")
    c = flow.intake("receiver", title="C 邻里纠纷", category="neighbour", location={"org_unit": "village1"})
    flow.advance("PT1H")
    flow.do("receiver_county", a, "intake", {"category": "labour"})
    flow.advance("PT2H")
    flow.do("receiver_county", b, "intake", {"category": "labour"})
    flow.advance("PT1H")
    flow.do("mediator", a, "triage", {"route": "joint", "departments": ["hrss", "justice"], "services": [],
                                      "receiving_leader": "leader"})
    return a, b, c


def test_counts_medians_and_p90s_per_step(flow):
    build(flow)
    view = flow.monitor()
    assert view["process"] == {"id": "mediation", "version": 1,
                               "name": "一站式联合调处（127+N） One-stop 127+N mediation"}
    assert view["versions"] == [1] and view["window_days"] == 90 and view["cases"] == 3
    # (cases, tasks, overdue, done, done median, done p90, waiting median, waiting p90)
    # intake: A took 3 h, B 4 h -> median 3.5 h, nearest-rank p90 4 h; C has waited 4 h
    assert step(view, "intake") == (1, 1, 0, 2, 3.5 * H, 4 * H, 4 * H, 4 * H)
    assert step(view, "intake_box") == (1, 1, 0, 2, 3.5 * H, 4 * H, 4 * H, 4 * H)
    # triage: A's took 3 h; B's has waited 1 h
    assert step(view, "triage") == (1, 1, 0, 1, 3 * H, 3 * H, 1 * H, 1 * H)
    assert step(view, "triage_box") == (1, 1, 0, 1, 3 * H, 3 * H, 1 * H, 1 * H)
    # A's two departments wait inside the called process: counted at the call activity (one case, two tasks)
    assert step(view, "dispatch_departments") == (1, 2, 0, 0, None, None, 0, 0)
    assert step(view, "provide_services") == (0, 0, 0, 0, None, None, None, None)
    assert step(view, "intake_supervise")[:3] == (0, 0, 0)
    assert view["steps"]["dispatch_departments"]["called"] == "department_work"
    assert [(c["id"], c["version"], c["cases"]) for c in view["called"]] == [
        ("department_work", 1, 1), ("service_work", 1, 0), ("supervision", 1, 0)]
    assert view["incidents"] == []
    # the called process's own monitor
    work = flow.monitor("department_work")
    assert step(work, "department_opinion") == (1, 2, 0, 0, None, None, 0, 0)
    assert work["cases"] == 1

    # the 2-hour-later picture: times grow, counts stay
    flow.advance("PT2H")
    view = flow.monitor(version=1)
    assert step(view, "intake")[6:] == (6 * H, 6 * H)
    assert step(view, "dispatch_departments")[6:] == (2 * H, 2 * H)


def test_overdue_and_supervision_inside_the_box(flow):
    a, b, c = build(flow)
    # Wednesday 10:00: C's acceptance deadline (Tuesday 23:59:59) has passed -> a leader supervises it
    fired = flow.api.post("/testing/clock", json={"set": "2026-09-09T10:00:00+08:00"}).get_json()["fired"]
    assert {f["case_no"]: "逾期督办 Overdue" in f["timers"] for f in fired}[c] is True
    view = flow.monitor()
    waited = 47 * H  # since Monday 11:00
    assert step(view, "intake") == (1, 1, 1, 2, 3.5 * H, 4 * H, waited, waited)
    # the supervision is counted at the call activity beside C's intake, and both in the box
    assert step(view, "intake_supervise") == (1, 1, 0, 0, None, None, 0, 0)
    assert step(view, "intake_box") == (1, 2, 1, 2, 3.5 * H, 4 * H, waited / 2, waited)
    for other in ("settle_supervise", "triage_supervise", "meeting_supervise", "callback_supervise"):
        assert step(view, other)[:2] == (0, 0)
    supervision = flow.monitor("supervision")
    assert step(supervision, "supervise") == (1, 1, 0, 0, None, None, 0, 0)
    assert [(x["id"], x["cases"]) for x in view["called"] if x["id"] == "supervision"] == [("supervision", 1)]

    # the cases at a step, overdue first
    r = flow.api.get("/processes/mediation/monitor/steps/intake_box?version=1", "leader")
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert [(i["case_no"], i["task"], i["overdue"]) for i in items] == [
        (c, "受理登记 Intake", True), (c, "督办 Supervise", False)]
    assert items[0]["since"] == "2026-09-07T11:00:00+08:00" and items[0]["due_at"] == "2026-09-08T23:59:59+08:00"
    r = flow.api.get("/processes/mediation/monitor/steps/dispatch_departments?version=1", "leader")
    assert sorted((i["case_no"], i["department"]) for i in r.get_json()["items"]) == [(a, "人社局"), (a, "司法局")]

    # a 1-day window no longer holds Monday's finished intakes
    assert step(flow.monitor(days=1), "intake")[3:6] == (0, None, None)


def test_each_supervision_is_counted_where_it_was_called(flow):
    """The supervision process is called beside every stage; each supervise task counts at its own call."""
    a, b, c = build(flow)
    # Thursday 10:00: C's intake, B's triage and A's two departments are all overdue and supervised
    flow.api.post("/testing/clock", json={"set": "2026-09-10T10:00:00+08:00"})
    view = flow.monitor()
    counts = {k: (s["cases"], s["tasks"], s["overdue"]) for k, s in view["steps"].items() if s["cases"]}
    assert counts == {
        "intake": (1, 1, 1), "intake_supervise": (1, 1, 0), "intake_box": (1, 2, 1),
        "triage": (1, 1, 1), "triage_supervise": (1, 1, 0), "triage_box": (1, 2, 1),
        "dispatch_departments": (1, 4, 1),  # two departments and their two supervisions
    }
    # two tasks waiting 67 h (since Monday 15:00) and two just created: median 33.5 h, nearest-rank P90 67 h
    assert step(view, "dispatch_departments")[6:] == (33.5 * H, 67 * H)
    work = flow.monitor("department_work")
    assert {k: (s["cases"], s["tasks"], s["overdue"]) for k, s in work["steps"].items() if s["cases"]} == {
        "department_opinion": (1, 2, 1), "department_opinion_supervise": (1, 2, 0)}
    supervision = flow.monitor("supervision")
    assert step(supervision, "supervise")[:3] == (3, 4, 0) and supervision["cases"] == 3


def test_scope_permissions_and_bad_input(flow):
    build(flow)
    # a township leader sees only the township's cases (C, filed in its village)
    town = flow.monitor(user="leader_town")
    assert town["cases"] == 1
    assert step(town, "intake")[:4] == (1, 1, 0, 0)
    assert step(town, "triage")[:4] == (0, 0, 0, 0)
    assert step(town, "dispatch_departments")[:2] == (0, 0)
    assert flow.monitor(user="designer")["cases"] == 3
    assert flow.monitor(user="admin")["cases"] == 3
    for user in ("hrss", "mediator", "receiver"):
        r = flow.api.get("/processes/mediation/monitor", user)
        assert r.status_code == 403 and r.get_json()["error"] == "forbidden", user
    assert flow.api.get("/processes/mediation/monitor").status_code == 401
    r = flow.api.get("/processes/mediation/monitor?version=7", "leader")
    assert r.status_code == 404 and r.get_json()["fields"] == {"version": "unknown"}
    r = flow.api.get("/processes/nothing/monitor", "leader")
    assert r.status_code == 404
    r = flow.api.get("/processes/mediation/monitor?version=x", "leader")
    assert r.status_code == 400 and "version" in r.get_json()["fields"]
    for bad in ("0", "abc", "99999"):
        r = flow.api.get(f"/processes/mediation/monitor?days={bad}", "leader")
        assert r.status_code == 400 and "days" in r.get_json()["fields"], bad
    assert flow.api.get("/processes/mediation/monitor/steps/nowhere", "leader").status_code == 404
    paths = flow.api.get("/openapi.json").get_json()["paths"]
    assert {"/processes/{id}/monitor", "/processes/{id}/monitor/steps/{element}", "/reports/hotspots"} <= set(paths)


def test_incidents_are_listed_and_retried(flow, client):
    assert flow.api.deploy({"fragile.bpmn": FRAGILE.read_text()}).status_code == 201
    flow.at(T0)
    r = flow.api.intake(process_id="fragile", data={"divisor": 0})
    case_no = r.get_json()["case_no"]
    flow.advance("PT30M")
    [prepare] = flow.tasks(case_no)
    r = flow.api.post(f"/tasks/{prepare['id']}/complete", "mediator", json={"data": {"note": "齐"}})
    assert r.status_code == 200
    view = flow.monitor("fragile")
    [incident] = view["incidents"]
    assert (incident["case_no"], incident["task"], incident["steps"]) == (case_no, "compute", ["compute"])
    assert "division by zero" in incident["message"]
    assert view["steps"]["compute"]["incidents"] == 1 and view["cases"] == 1
    assert step(view, "prepare") == (0, 0, 0, 1, 1800, 1800, None, None)
    # not part of the mediation flow
    assert flow.monitor()["incidents"] == []

    # the page lists it with a retry button; retrying (htmx) without a fix fails again and says so
    login(client, "leader")
    html = client.get("/reports/monitor?process=fragile").get_data(as_text=True)
    assert f'action="/reports/monitor/retry/{case_no}"' in html and "division by zero" in html
    r = client.post(f"/reports/monitor/retry/{case_no}", data={"csrf_token": csrf(html)},
                    headers={"HX-Request": "true"})
    assert r.status_code == 200 and "重试后仍有异常" in r.get_data(as_text=True)
    assert len(flow.monitor("fragile")["incidents"]) == 1
    # without the CSRF token nothing happens
    assert client.post(f"/reports/monitor/retry/{case_no}", headers={"HX-Request": "true"}).status_code == 400
    # fixed through the API, the case runs on to review
    assert flow.api.post(f"/cases/{case_no}/retry", "mediator", json={"data": {"divisor": 5}}).status_code == 200
    view = flow.monitor("fragile")
    assert view["incidents"] == [] and step(view, "review")[:2] == (1, 1)


def test_monitor_page(flow, client):
    a, b, c = build(flow)
    login(client, "leader")
    html = client.get("/reports/monitor").get_data(as_text=True)
    assert "一站式联合调处" in html and 'id="monitor-diagram"' in html
    row = re.search(r'<tr data-step="intake_box".*?</tr>', html, re.S).group(0)
    cells = re.findall(r'<td class="num[^"]*">(.*?)</td>', row, re.S)
    assert re.sub(r"<[^>]+>", "", cells[0]).strip() == "1"
    assert [x.strip() for x in cells[1:5]] == ["0", "2", "3小时30分钟", "4小时"]
    r = client.get("/reports/monitor/mediation/1/steps/triage_box", headers={"HX-Request": "true"})
    fragment = r.get_data(as_text=True)
    assert r.status_code == 200 and f"/cases/{b}" in fragment and "<html" not in fragment
    stats = client.get("/reports/monitor/mediation/1/stats.json").get_json()
    assert stats["steps"]["intake"]["text"]["done_median"] == "3小时30分钟"
    assert client.get("/reports/monitor/mediation/1/diagram.bpmn").data.startswith(b"<?xml")
    assert client.get("/reports/monitor?days=0").status_code == 400
    assert client.get("/reports/monitor?process=nothing").status_code == 404
    hub = client.get("/reports").get_data(as_text=True)
    assert 'href="/reports/monitor"' in hub and 'href="/reports/hotspots"' in hub
    assert 'href="/reports/ranking"' in hub and 'href="/reports/ledger"' in hub

    login(client, "designer")
    assert client.get("/reports/monitor").status_code == 200
    hub = client.get("/reports").get_data(as_text=True)
    assert 'href="/reports/monitor"' in hub and 'href="/reports/hotspots"' not in hub
    assert re.search(r'<nav class="mainnav".*?href="/reports"', hub, re.S), "designers find the monitor in the menu"
    for user in ("hrss", "mediator"):
        login(client, user)
        assert client.get("/reports/monitor").status_code == 403
        assert client.get("/reports").status_code == 403
