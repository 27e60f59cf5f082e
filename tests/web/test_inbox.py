"""The inbox in the browser UI: tabs with counts, order, filters, claim / release / reassign, permissions."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import clock
from app.cases.models import CaseEvent, MediationCase
from app.db import Database
from app.org.models import User
from app.tasks.models import HumanTask, TaskStatus
from app.tasks.queries import InboxFilters, list_inbox
from app.tasks.service import list_tasks
from tests.web.test_login import csrf, login

BUNDLES = Path(__file__).resolve().parents[1] / "api" / "bundles"


def deploy_two_step(api: Any) -> None:
    files = {n: (BUNDLES / n).read_text() for n in ("two_step.bpmn", "triage.json", "opinion.json")}
    r = api.deploy(files)
    assert r.status_code == 201, r.get_json()


def new_case(api: Any, **overrides: Any) -> str:
    r = api.intake(process_id="two_step", **overrides)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["case_no"]


def open_tasks(database: Database, case_no: str) -> list[HumanTask]:
    with database.unit_of_work(write=False) as s:
        return list(s.scalars(select(HumanTask).join(MediationCase, MediationCase.id == HumanTask.case_id)
                              .where(MediationCase.case_no == case_no, HumanTask.status == TaskStatus.open)
                              .order_by(HumanTask.id)))


def task_id(database: Database, case_no: str, department: str | None = None) -> int:
    for task in open_tasks(database, case_no):
        if department is None or (task.department and task.department.code == department):
            return task.id
    raise AssertionError(f"no open task of {case_no} for {department}")


def set_due(database: Database, tid: int, due: Any) -> None:
    with database.unit_of_work() as s:
        s.get(HumanTask, tid).due_at = due


def client_for(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def token(client: FlaskClient) -> str:
    return csrf(client.get("/inbox").get_data(as_text=True))


def post(client: FlaskClient, url: str, data: dict[str, str] | None = None, **kw: Any) -> Any:
    return client.post(url, data={"csrf_token": token(client), **(data or {})}, **kw)


def row_cases(html: str) -> list[str]:
    """Case numbers in the order the inbox rows show them."""
    return re.findall(r'<td class="caseno"[^>]*>(?:<a [^>]*>)?(QX-\d{4}-\d{6})', html)


def tab_counts(html: str) -> dict[str, int]:
    return {tab: int(n) for tab, n in re.findall(r'href="/inbox\?tab=(\w+)[^"]*"[^>]*>[^<]*<span class="count">(\d+)',
                                                   html)}


@pytest.fixture
def world(api, app, database):
    """Three triage tasks of the two-step process, at the village; the mediators see them."""
    deploy_two_step(api)
    numbers = [new_case(api, title="拖欠工资"), new_case(api, title="宅基地纠纷", category="land"),
               new_case(api, title="邻里噪音", citizen={"name": "王五", "phone": "13800009999"})]
    ids = [task_id(database, n) for n in numbers]
    return {"cases": numbers, "tasks": ids}


def test_login_required(client, org):
    r = client.get("/inbox")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_tabs_counts_and_overdue_first(app, database, world):
    late, soon, later = world["tasks"][2], world["tasks"][0], world["tasks"][1]
    now = clock.now()
    set_due(database, late, now - timedelta(days=1, hours=2))
    set_due(database, soon, now + timedelta(days=2, hours=3, minutes=5))
    set_due(database, later, now + timedelta(days=5))
    mediator = client_for(app, "mediator")
    html = mediator.get("/inbox").get_data(as_text=True)
    assert tab_counts(html) == {"mine": 0, "group": 3}  # no "all" tab for a mediator
    assert row_cases(html) == [world["cases"][2], world["cases"][0], world["cases"][1]]
    assert re.search(r'class="overdue"[^>]*>已超期1天2小时<', html)
    assert ">剩余2天3小时<" in html and "分流" in html and "调解员" in html

    # the leader also has "all"; asking for it without the right falls back to the group tab
    leader = client_for(app, "leader")
    assert tab_counts(leader.get("/inbox").get_data(as_text=True)) == {"mine": 0, "group": 0, "all": 3}
    assert row_cases(leader.get("/inbox?tab=all").get_data(as_text=True))[0] == world["cases"][2]
    assert 'aria-current="page">本岗位' in mediator.get("/inbox?tab=all").get_data(as_text=True)

    # claimed tasks move into "mine" (which then opens first)
    post(mediator, f"/tasks/{soon}/claim", {"next": "/inbox"})
    html = mediator.get("/inbox").get_data(as_text=True)
    assert tab_counts(html) == {"mine": 1, "group": 3}
    assert 'aria-current="page">我的' in html and row_cases(html) == [world["cases"][0]]
    assert "调解员 · mediator" in html


def test_filters(app, database, world):
    mediator = client_for(app, "mediator")
    first, second, third = world["cases"]

    def rows(query: str) -> list[str]:
        return row_cases(mediator.get(f"/inbox?tab=group&{query}").get_data(as_text=True))

    assert rows(f"q={first}") == [first]
    assert rows("q=宅基地") == [second]
    assert rows("q=王五") == [third]
    assert rows("q=%25") == [] and rows("q=_") == []  # LIKE wildcards are searched as text
    assert rows("category=land") == [second]
    assert sorted(rows("stage=triage")) == sorted(world["cases"]) and rows("stage=convene") == []
    assert len(rows("place=town1")) == 3 and rows("place=town2") == []
    assert len(rows("place=nowhere")) == 3  # a stale link shows everything rather than failing
    set_due(database, world["tasks"][1], clock.now() - timedelta(hours=1))
    assert rows("overdue=1") == [second]
    html = mediator.get("/inbox?tab=group&overdue=1").get_data(as_text=True)
    assert "清除筛选" in html and tab_counts(html) == {"mine": 0, "group": 1}


def test_query_matches_the_service_scope(app, api, database, world):
    # dispatch one case to two departments so the department tabs have something
    mediator = client_for(app, "mediator")
    assert api.post(f"/tasks/{world['tasks'][0]}/complete", "mediator",
                    json={"data": {"departments": ["hrss", "justice"]}}).status_code == 200
    post(mediator, f"/tasks/{world['tasks'][1]}/claim")
    with database.unit_of_work(write=False) as s:
        for user in s.scalars(select(User)):
            for scope in ("mine", "group", "all"):
                if scope == "all" and not user.has_role("leader", "admin"):
                    continue
                expected = [t.id for t in list_tasks(s, user, scope=scope)]
                assert [t.id for t in list_inbox(s, user, scope, InboxFilters())] == expected, (user.username, scope)


def test_claim_release_and_conflicts(app, database, world):
    tid = world["tasks"][0]
    mediator, town = client_for(app, "mediator"), client_for(app, "mediator_town")
    r = post(mediator, f"/tasks/{tid}/claim", {"next": "/inbox?tab=mine"})
    assert r.status_code == 302 and r.headers["Location"] == "/inbox?tab=mine"
    assert "已认领" in mediator.get("/inbox?tab=mine").get_data(as_text=True)
    with database.unit_of_work(write=False) as s:
        assert s.get(HumanTask, tid).assignee.username == "mediator"
    # someone else's claimed task cannot be taken; the other mediator sees a clear message
    html = post(town, f"/tasks/{tid}/claim", follow_redirects=True).get_data(as_text=True)
    assert "该任务已被他人认领" in html
    # a mediator may give anyone's claim back; a department cannot even see the task
    hrss = client_for(app, "hrss")
    assert post(hrss, f"/tasks/{tid}/release").status_code == 404
    assert post(hrss, f"/tasks/{tid}/claim").status_code == 404
    html = post(town, f"/tasks/{tid}/release", follow_redirects=True).get_data(as_text=True)
    assert "已退回待认领" in html
    with database.unit_of_work(write=False) as s:
        assert s.get(HumanTask, tid).assignee_id is None
        kinds = [e.kind for e in s.scalars(select(CaseEvent).order_by(CaseEvent.id))]
    assert "task_claimed" in kinds and "task_released" in kinds
    # an unsafe "next" goes to the inbox instead
    r = post(mediator, f"/tasks/{tid}/claim", {"next": "//evil.example/x"})
    assert r.headers["Location"] == "/inbox"
    assert post(mediator, "/tasks/999999/claim").status_code == 404


def test_claim_with_htmx_swaps_the_inbox(app, world):
    mediator = client_for(app, "mediator")
    html = mediator.get("/inbox").get_data(as_text=True)
    assert 'hx-post="/tasks/' in html and 'hx-select="#inbox"' in html
    r = post(mediator, f"/tasks/{world['tasks'][0]}/claim", {"next": "/inbox?tab=group"},
             headers={"HX-Request": "true"}, follow_redirects=True)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and '<div id="inbox">' in html
    inbox = html.split('<div id="inbox">', 1)[1]
    assert "已认领" in inbox and tab_counts(inbox) == {"mine": 1, "group": 3}


def test_department_tasks_and_their_permissions(app, api, database, world):
    case_no = world["cases"][0]
    assert api.post(f"/tasks/{world['tasks'][0]}/complete", "mediator",
                    json={"data": {"departments": ["hrss", "justice"]}}).status_code == 200
    hrss_task, justice_task = task_id(database, case_no, "hrss"), task_id(database, case_no, "justice")
    hrss, justice = client_for(app, "hrss"), client_for(app, "justice")
    html = hrss.get("/inbox").get_data(as_text=True)
    assert row_cases(html) == [case_no] and "本部门" in html and "部门 · 人社局" in html
    assert "转派" not in html  # only mediators, leaders and admins reassign
    # other departments' tasks are not found, not forbidden (nothing is revealed)
    assert justice.get(f"/tasks/{hrss_task}").status_code == 404
    assert post(justice, f"/tasks/{hrss_task}/claim").status_code == 404
    assert hrss.get(f"/tasks/{world['tasks'][1]}").status_code == 404
    assert post(hrss, f"/tasks/{hrss_task}/claim").status_code == 302
    html = post(hrss, f"/tasks/{hrss_task}/reassign", {"assignee": "justice"}, follow_redirects=True)
    assert "你没有权限进行此操作" in html.get_data(as_text=True)
    assert justice_task != hrss_task


def test_reassign(app, database, world):
    tid = world["tasks"][0]
    mediator = client_for(app, "mediator")
    # the choice: people who may do the task (the mediators above the village), not departments
    form = mediator.get(f"/tasks/{tid}/reassign?next=/inbox").get_data(as_text=True)
    assert '<select name="assignee"' in form and 'value="mediator_town"' in form and 'value="hrss"' not in form
    assert "<header" in form  # a whole page without JavaScript
    partial = mediator.get(f"/tasks/{tid}/reassign", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<header" not in partial and 'hx-post="/tasks/' in partial
    html = post(mediator, f"/tasks/{tid}/reassign", {"assignee": "mediator_town", "next": "/inbox"},
                follow_redirects=True).get_data(as_text=True)
    assert "已转派给mediator_town" in html
    town = client_for(app, "mediator_town")
    assert tab_counts(town.get("/inbox").get_data(as_text=True))["mine"] == 1
    # somebody who may not do it is refused and nothing changes
    html = post(mediator, f"/tasks/{tid}/reassign", {"assignee": "hrss"}, follow_redirects=True)
    assert "请选择一位可以办理此任务的人员" in html.get_data(as_text=True)
    with database.unit_of_work(write=False) as s:
        assert s.get(HumanTask, tid).assignee.username == "mediator_town"
        event = s.scalars(select(CaseEvent).where(CaseEvent.kind == "task_reassigned")).one()
        assert event.data == {"from": None, "to": "mediator_town"}
    # a department liaison gets no reassign form
    assert client_for(app, "hrss").get(f"/tasks/{tid}/reassign").status_code == 403


def test_titles_are_text_not_markup(app, api, database):
    deploy_two_step(api)
    new_case(api, title="<script>alert(1)</script>", citizen={"name": "<b>赵六</b>", "phone": "13800001111"})
    html = client_for(app, "mediator").get("/inbox").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html = client_for(app, "mediator").get("/inbox?q=<b>").get_data(as_text=True)
    assert "<b>赵六" not in html and 'value="&lt;b&gt;"' in html


def test_inbox_in_english(app, world):
    mediator = client_for(app, "mediator")
    mediator.get("/lang/en")
    html = mediator.get("/inbox").get_data(as_text=True)
    assert "Inbox" in html and "My role" in html and "Claim" in html and "Time left" in html
