"""`onestop seed-demo` and the generic walker: the demo world, its users, its cases, and form filling."""

from __future__ import annotations

import logging
import random
import re
import shutil
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from app import clock
from app.attachments.models import Attachment
from app.cases.models import CaseEvent, MediationCase
from app.cases.service import create_case, parse_intake
from app.config import Config
from app.db import Base, Database
from app.org.models import Department, OrgLevel, OrgUnit, Role, User
from app.org.service import authenticate
from app.processes.models import Deployment, ProcessVersion
from app.processes.service import SPEC_CACHE, deploy_bundle
from app.seed import (
    DEMO_CASES,
    DEMO_PASSWORD,
    DEMO_USERS,
    DEPARTMENTS,
    SCENARIOS,
    demo_intakes,
    demo_users_markdown,
    seed_demo,
)
from app.tasks.models import HumanTask, TaskStatus
from app.tasks.service import can_work_on, list_tasks
from app.walker import WalkError, fill_form, walk_case

BUNDLES = Path(__file__).parent / "api" / "bundles"
TWO_STEP = ("two_step.bpmn", "triage.json", "opinion.json")
CODES = ["hrss", "justice", "housing", "natres", "police"]

FRAGILE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="Defs_seed_fragile" targetNamespace="http://onestop.example/test">
  <bpmn:process id="seed_fragile" name="脚本出错" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="prepare"/>
    <bpmn:userTask id="prepare" name="准备"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="prepare" targetRef="compute"/>
    <bpmn:scriptTask id="compute" name="计算">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>result = 10 / divisor</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f3" sourceRef="compute" targetRef="end"/>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


# --- helpers and fixtures ------------------------------------------------------------------------

def aware(moment: datetime) -> datetime:
    """SQLite gives naive UTC times back; PostgreSQL aware ones."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def row_counts(database: Database) -> dict[str, int]:
    """Rows per table, to show that something changed nothing."""
    with database.engine.connect() as conn:
        return {t.name: conn.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


def deploy_two_step(database: Database) -> None:
    with database.unit_of_work() as s:
        deploy_bundle(s, {n: (BUNDLES / n).read_bytes() for n in TWO_STEP}, note="test")


@pytest.fixture
def nothing_shipped(config: Config, database: Database, tmp_path: Path) -> Config:
    """Settings whose processes/ and forms/ are empty (and the tables exist)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    return config.with_(processes_dir=empty, forms_dir=empty)


@pytest.fixture
def two_step_shipped(config: Config, database: Database, tmp_path: Path) -> Config:
    """Settings that ship the two-step test process as processes/."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    for name in TWO_STEP:
        shutil.copy(BUNDLES / name, folder / name)
    return config.with_(processes_dir=folder, forms_dir=tmp_path / "no-forms")


# --- the world and its users ---------------------------------------------------------------------

def test_seed_twice_creates_once_and_changes_nothing(nothing_shipped, database, caplog):
    caplog.set_level(logging.WARNING, logger="app.seed")
    assert seed_demo(nothing_shipped) is True
    assert "process mediation is not deployed" in caplog.text
    before = row_counts(database)
    assert before["app_user"] == len(DEMO_USERS) and before["mediation_case"] == 0
    assert seed_demo(nothing_shipped) is False
    assert row_counts(database) == before


def test_org_tree_departments_and_users(nothing_shipped, database):
    assert seed_demo(nothing_shipped) is True
    with database.unit_of_work(write=False) as s:
        units = {u.code: u for u in s.scalars(select(OrgUnit))}
        assert {c: (u.level, u.parent.code if u.parent else None) for c, u in units.items()} == {
            "qingxi": (OrgLevel.county, None),
            "hekou": (OrgLevel.township, "qingxi"), "shanqian": (OrgLevel.township, "qingxi"),
            "liushu": (OrgLevel.village, "hekou"), "yangwan": (OrgLevel.village, "hekou"),
            "shiqiao": (OrgLevel.village, "shanqian"), "dongpo": (OrgLevel.village, "shanqian"),
        }
        assert units["qingxi"].name == "青溪县" and units["liushu"].name == "柳树村"
        assert units["dongpo"].is_within(units["qingxi"]) and not units["dongpo"].is_within(units["hekou"])

        departments = list(s.scalars(select(Department)))
        assert all(d.org_unit.code == "qingxi" for d in departments)
        by_kind: dict[str, set[str]] = {}
        for d in departments:
            by_kind.setdefault(d.kind, set()).add(d.code)
        assert len(by_kind["department"]) >= 10
        assert {"hrss", "justice", "housing", "natres", "agri", "health", "police", "civil", "market", "env",
                "petition"} <= by_kind["department"]
        assert by_kind["committee"] == {"cmte_labour", "cmte_medical", "cmte_traffic", "cmte_family",
                                        "cmte_property"}
        assert by_kind["service"] == {"legal_aid", "judicial_relief", "psych", "social_aid"}

        users = {u.username: u for u in s.scalars(select(User))}
        assert set(users) == {d.username for d in DEMO_USERS}
        for demo in DEMO_USERS:
            user = users[demo.username]
            assert (user.display_name, list(user.roles), user.org_unit.code) == \
                (demo.display_name, list(demo.roles), demo.org_unit)
            assert (user.department.code if user.department else None) == demo.department
        assert {r for u in users.values() for r in u.roles} == set(Role)
        # every department and committee has a liaison, every service its staff
        assert {u.department.code for u in users.values() if Role.department in u.roles} == \
            by_kind["department"] | by_kind["committee"]
        assert {u.department.code for u in users.values() if Role.service in u.roles} == by_kind["service"]

        # the demo password works for one user of every role (argon2 is slow: not all of them)
        one_per_role = {r: next(u for u in DEMO_USERS if r in u.roles).username for r in Role}
        for username in one_per_role.values():
            assert authenticate(s, username, DEMO_PASSWORD) is not None, username
        assert authenticate(s, "admin", "wrong-password") is None


def test_demo_users_markdown_lists_every_user():
    table = demo_users_markdown()
    lines = table.strip().splitlines()
    assert lines[0].startswith("| 用户名") and set(lines[1]) <= {"|", "-", " "}
    assert len(lines) == 2 + len(DEMO_USERS)
    for demo, line in zip(DEMO_USERS, lines[2:], strict=True):
        assert f"`{demo.username}`" in line and demo.display_name in line
    assert {"admin", "receiver", "receiver_town", "mediator", "mediator_town", "leader", "designer",
            "dept_hrss", "dept_justice", "dept_housing", "svc_legal"} <= {d.username for d in DEMO_USERS}
    assert len({d.username for d in DEMO_USERS}) == len(DEMO_USERS)
    assert {code for code, _n, _k in DEPARTMENTS} >= {d.department for d in DEMO_USERS if d.department}


def test_demo_intakes_are_valid_and_varied():
    bodies = demo_intakes(36, random.Random(1))
    intakes = [parse_intake(b) for b in bodies]
    assert {i.channel for i in intakes} == {"walk_in", "hotline", "grid", "online"}
    assert {i.org_unit for i in intakes} == {"liushu", "yangwan", "shiqiao", "dongpo", "hekou", "shanqian"}
    assert len({i.category for i in intakes}) >= 10
    assert all(re.fullmatch(r"138\d{8}", i.citizen_phone) for i in intakes)
    assert all(re.search(r"[\u4e00-\u9fff]", i.title + i.description + i.citizen_name) for i in intakes)
    assert demo_intakes(36, random.Random(1)) == bodies


# --- seeding cases -------------------------------------------------------------------------------

def test_seed_walks_cases_of_another_process_a_different_number_of_steps(two_step_shipped, database):
    assert seed_demo(two_step_shipped, process_id="two_step", cases=36) is True
    with database.unit_of_work(write=False) as s:
        assert [p.process_id for p in s.scalars(select(ProcessVersion))] == ["two_step"]
        cases = list(s.scalars(select(MediationCase).order_by(MediationCase.id)))
        assert len(cases) == 36
        assert not any(c.has_incident for c in cases)
        statuses = {c.status for c in cases}
        assert statuses == {"open", "closed"}
        closed = [c for c in cases if c.status == "closed"]
        assert 5 <= len(closed) <= 30 and all(c.stage == "closed" for c in closed)
        open_tasks = {c.case_no: {t.name for t in s.scalars(select(HumanTask).where(
            HumanTask.case_id == c.id, HumanTask.status == TaskStatus.open))} for c in cases}
        # every stage: untouched (triage open), dispatched (opinions open), closed (nothing open)
        assert {frozenset(v) for v in open_tasks.values()} == {frozenset({"triage"}), frozenset({"opinion"}),
                                                               frozenset()}
        assert all(not open_tasks[c.case_no] for c in closed)
        # dispatched to real departments
        dispatched = {d for c in cases for d in c.departments}
        known = set(s.scalars(select(Department.code)))
        assert dispatched <= known and len(dispatched) >= 4
        # the admin did the walking; receivers and the center registered the cases
        actors = set(s.scalars(select(User.username).join(CaseEvent, CaseEvent.actor_id == User.id)
                               .where(CaseEvent.kind == "task_completed")))
        assert actors == {"admin"}
        creators = set(s.scalars(select(User.username)
                                 .join(MediationCase, MediationCase.created_by_id == User.id)))
        assert {"receiver", "mediator"} <= creators
        assert {c.channel for c in cases} == {"walk_in", "hotline", "grid", "online"}
        assert all(re.fullmatch(r"138\d{8}", c.citizen_phone) for c in cases)


#: where the demo leaves its cases of the shipped flow: open cases per stage (and the closed ones)
SHIPPED_STAGES = {"accept": 3, "settle": 2, "local": 5, "triage": 4, "convene": 8, "mediate": 2, "reply": 3,
                  "callback": 2, "closed": 5}


def _open_tasks(s: Any) -> dict[str, list[HumanTask]]:
    by_case: dict[str, list[HumanTask]] = {}
    for task in s.scalars(select(HumanTask).where(HumanTask.status == TaskStatus.open)):
        by_case.setdefault(task.case.case_no, []).append(task)
    return by_case


def test_seed_leaves_shipped_cases_waiting_in_every_stage(config, database):
    assert seed_demo(config) is True
    assert len(SCENARIOS) == DEMO_CASES == sum(SHIPPED_STAGES.values())
    with database.unit_of_work(write=False) as s:
        cases = list(s.scalars(select(MediationCase).order_by(MediationCase.id)))
        assert not any(c.has_incident for c in cases)
        assert Counter(c.stage for c in cases) == SHIPPED_STAGES
        assert all((c.status == "closed") == (c.stage == "closed") for c in cases)
        tasks = _open_tasks(s)
        names = Counter(t.name for ts in tasks.values() for t in ts)
        # every kind of waiting a user should see, from the village's intake to the leader's approval
        assert set(names) == {"intake", "settle", "local_mediation", "triage", "department_opinion", "redispatch",
                              "approve_extension", "service_task", "meeting", "draft_reply", "approve_reply",
                              "explain_policy", "callback", "supervise"}
        assert (names["redispatch"], names["approve_extension"], names["explain_policy"]) == (2, 1, 1)
        assert all(tasks.get(c.case_no) for c in cases if c.status == "open")
        assert not any(tasks.get(c.case_no) for c in cases if c.status == "closed")
        # several departments at work, each on its own dispatch
        at_work = {t.department.code for ts in tasks.values() for t in ts if t.name == "department_opinion"}
        assert len(at_work) >= 6 and all(len(c.departments) >= 2 for c in cases if c.stage == "convene")
        # spread over the villages and townships, registered by the places' receivers and the center
        assert {c.org_unit.code for c in cases} == {"liushu", "yangwan", "shiqiao", "dongpo", "hekou", "shanqian"}
        assert {c.org_unit.code for c in cases if c.stage == "local"} >= {"shiqiao", "shanqian", "yangwan"}
        creators = set(s.scalars(select(User.username).join(MediationCase, MediationCase.created_by_id == User.id)))
        assert creators == {"receiver", "receiver_village2", "receiver_town", "receiver_town2", "mediator"}
        # a few overdue: their deadline passed days ago, so supervision (督办) reached the leader
        now = clock.now()
        overdue = {no for no, ts in tasks.items() for t in ts
                   if t.name != "supervise" and t.due_at is not None and aware(t.due_at) < now}
        supervised = {no for no, ts in tasks.items() if any(t.name == "supervise" for t in ts)}
        assert 4 <= len(overdue) <= 8 and supervised == overdue
        assert {next(c.stage for c in cases if c.case_no == no) for no in overdue} >= {"accept", "local", "triage",
                                                                                      "convene", "callback"}
        # cases came in over the last weeks, numbered in that order; fresh ones today
        received = [aware(c.created_at) for c in cases]
        assert received == sorted(received) and now - received[0] > timedelta(days=10)
        assert all(now - r < timedelta(days=26) for r in received)
        assert sum(now - r < timedelta(days=1) for r in received) >= 18
        # closed ones: settled on the spot, resolved locally, and one through the whole county flow
        closed = [c for c in cases if c.status == "closed"]
        assert sorted(c.level for c in closed) == ["county", "village", "village", "village", "village"]
        # an unsatisfied callback reopened one matter: it waits at triage in its second round
        reopened = [c for c in cases if s.scalar(select(func.count()).select_from(CaseEvent).where(
            CaseEvent.case_id == c.id, CaseEvent.kind == "task_completed", CaseEvent.task_name == "triage")) == 1
            and c.stage == "triage" and s.scalar(select(func.count()).select_from(HumanTask).where(
                HumanTask.case_id == c.id, HumanTask.name == "callback")) == 1]
        assert len(reopened) == 1
        # answers as the task pages send them: a field of a choice not made is not in them
        answers = [t.data for t in s.scalars(select(HumanTask).where(HumanTask.name == "department_opinion",
                                                                      HumanTask.status == TaskStatus.completed))]
        assert {a["action"] for a in answers} >= {"opinion", "return", "extension"}
        assert all(("extension_days" in a) == (a["action"] == "extension") for a in answers)
        # each step done by one of the people whose role, place and department fit it, never the administrator
        done = list(s.scalars(select(HumanTask).where(HumanTask.status == TaskStatus.completed)))
        doers = {t.id: s.get(User, t.completed_by_id) for t in done}
        assert all(not doers[t.id].is_admin and can_work_on(doers[t.id], t) for t in done)
        assert {doers[t.id].username for t in done if t.name == "department_opinion"} >= {"dept_hrss", "dept_justice"}
        # the papers of the flow are on the cases, held by the fields of the tasks that produced them
        files = list(s.scalars(select(Attachment)))
        names = Counter(re.sub(r"^.*书面意见", "书面意见", a.filename) for a in files)
        assert set(names) == {"人民调解协议书.docx", "书面意见.docx", "联合调解会记录.docx"}, names
        for attachment in files:
            task = s.get(HumanTask, attachment.task_id)
            assert task.case_id == attachment.case_id and task.data[attachment.field] == [str(attachment.id)]
            assert attachment.content_type.endswith("wordprocessingml.document")


def test_seed_demo_of_a_dozen_for_the_browser_tests(config, database):
    assert seed_demo(config, cases=12) is True
    with database.unit_of_work(write=False) as s:
        cases = list(s.scalars(select(MediationCase).order_by(MediationCase.id)))
        assert Counter(c.stage for c in cases) == {"accept": 2, "local": 1, "triage": 1, "convene": 3, "mediate": 1,
                                                   "reply": 1, "callback": 1, "closed": 2}
        # the intake browser test looks for an open wage matter in 柳树村 as a possible duplicate
        assert any(c.category == "labour" and c.org_unit.code == "liushu" and c.status == "open" for c in cases)


def test_seed_uses_an_already_deployed_process_without_redeploying(nothing_shipped, database):
    deploy_two_step(database)
    assert seed_demo(nothing_shipped, process_id="two_step", cases=4) is True
    with database.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Deployment)) == 1
        assert s.scalar(select(func.count()).select_from(MediationCase)) == 4


def test_seed_is_reproducible(two_step_shipped, database, tmp_path):
    if not two_step_shipped.is_sqlite:
        pytest.skip("one backend is enough to compare two seeded databases")

    def snapshot(db: Database) -> list[tuple[Any, ...]]:
        with db.unit_of_work(write=False) as s:
            return [(c.case_no, c.title, c.citizen_name, c.citizen_phone, c.org_unit.code, c.channel,
                     c.status, c.stage, tuple(c.departments))
                    for c in s.scalars(select(MediationCase).order_by(MediationCase.id))]

    assert seed_demo(two_step_shipped, process_id="two_step", cases=12) is True
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    other = Database(other_url)
    try:
        Base.metadata.create_all(other.engine)
        SPEC_CACHE.clear()
        other_config = two_step_shipped.with_(database_url=other_url)
        assert seed_demo(other_config, process_id="two_step", cases=12) is True
        first, second = snapshot(database), snapshot(other)
    finally:
        other.dispose()
        SPEC_CACHE.clear()
    assert len(first) == 12 and first == second


# --- the walker ----------------------------------------------------------------------------------

def _new_case(database: Database, process_id: str, data: dict[str, Any] | None = None) -> str:
    with database.unit_of_work() as s:
        admin = s.scalar(select(User).where(User.username == "admin"))
        intake = parse_intake({"title": "拖欠工资", "description": "工地拖欠三个月工资", "channel": "walk_in",
                               "citizen": {"name": "张三", "phone": "13800001234"},
                               "location": {"org_unit": "village1"}})
        return create_case(s, admin, intake, process_id=process_id, data=data).case_no


def test_walk_case_completes_steps_until_closed(org, database):
    deploy_two_step(database)
    case_no = _new_case(database, "two_step")
    with database.unit_of_work() as s:
        admin = s.scalar(select(User).where(User.username == "admin"))
        assert walk_case(s, admin, case_no, 0, random.Random(1)) == 0
        assert walk_case(s, admin, case_no, 1, random.Random(1)) == 1
        opinions = list_tasks(s, admin, scope="all", case_no=case_no)
        assert opinions and {t.name for t in opinions} == {"opinion"}
        assert {t.department.code for t in opinions} <= {"hrss", "justice", "housing"}
    with database.unit_of_work() as s:
        admin = s.scalar(select(User).where(User.username == "admin"))
        assert walk_case(s, admin, case_no, 99, random.Random(2)) == len(opinions)
        assert walk_case(s, admin, case_no, 99, random.Random(3)) == 0
    with database.unit_of_work(write=False) as s:
        case = s.scalar(select(MediationCase).where(MediationCase.case_no == case_no))
        assert (case.status, case.stage) == ("closed", "closed")
        texts = [t.data["opinion_item"]["text"] for t in s.scalars(select(HumanTask).where(
            HumanTask.case_id == case.id, HumanTask.name == "opinion"))]
        assert texts and all(re.search(r"[\u4e00-\u9fff]", t) for t in texts)


def test_walk_case_stops_at_an_incident(org, database, caplog):
    with database.unit_of_work() as s:
        deploy_bundle(s, {"seed_fragile.bpmn": FRAGILE_BPMN.encode()})
    strict_case = _new_case(database, "seed_fragile", {"divisor": 0})
    lenient_case = _new_case(database, "seed_fragile", {"divisor": 0})
    with database.unit_of_work() as s:
        admin = s.scalar(select(User).where(User.username == "admin"))
        with pytest.raises(WalkError, match="incident"):
            walk_case(s, admin, strict_case, 5, random.Random(1))
    caplog.set_level(logging.WARNING, logger="app.walker")
    with database.unit_of_work() as s:
        admin = s.scalar(select(User).where(User.username == "admin"))
        assert walk_case(s, admin, lenient_case, 5, random.Random(1), strict=False) == 0
    assert "incident" in caplog.text
    with database.unit_of_work(write=False) as s:
        case = s.scalar(select(MediationCase).where(MediationCase.case_no == lenient_case))
        assert case.has_incident and case.status == "open"


# --- fill_form -----------------------------------------------------------------------------------

SCHEMAS: dict[str, dict[str, Any]] = {
    "required strings": {
        "type": "object", "required": ["opinion", "reason", "short"],
        "properties": {"opinion": {"type": "string", "title": "意见"},
                       "reason": {"type": "string", "minLength": 30},
                       "short": {"type": "string", "maxLength": 4},
                       "optional_note": {"type": "string"}},
    },
    "enums and booleans": {
        "type": "object", "required": ["outcome", "satisfied", "agree", "level"],
        "properties": {"outcome": {"type": "string", "enum": ["escalate", "resolved", "returned"]},
                       "satisfied": {"enum": ["unsatisfied", "satisfied"]},
                       "agree": {"type": "boolean"},
                       "level": {"type": "string", "oneOf": [{"const": "village", "title": "村级"},
                                                             {"const": "county", "title": "县级"}]}},
    },
    "numbers": {
        "type": "object", "required": ["score", "amount", "days", "ratio", "count"],
        "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5},
                       "amount": {"type": "number", "minimum": 0, "multipleOf": 100},
                       "days": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 8},
                       "ratio": {"type": "number", "minimum": 0.5, "maximum": 0.9},
                       "count": {"type": "integer", "minimum": 3}},
    },
    "arrays": {
        "type": "object", "required": ["departments", "services", "tags", "attendees"],
        "properties": {
            "departments": {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True},
            "services": {"type": "array", "minItems": 1, "maxItems": 2, "uniqueItems": True,
                         "items": {"enum": ["legal_aid", "judicial_relief", "psych", "social_aid"]}},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2,
                     "uniqueItems": True},
            "attendees": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["name", "phone"],
                "properties": {"name": {"type": "string"},
                               "phone": {"type": "string", "pattern": r"^1[3-9]\d{9}$"}}}},
        },
    },
    "departments by title": {
        "type": "object", "required": ["dispatch", "lead"],
        "properties": {"dispatch": {"type": "array", "title": "派单部门 Departments",
                                    "items": {"type": "string"}},
                       "lead": {"type": "string", "title": "牵头部门"}},
    },
    "nested objects": {
        "type": "object", "required": ["opinion_item", "meeting"],
        "properties": {
            "opinion_item": {"type": "object", "required": ["text"],
                             "properties": {"text": {"type": "string", "minLength": 1}}},
            "meeting": {"type": "object", "required": ["place", "host"],
                        "properties": {"place": {"type": "string"},
                                       "host": {"type": "object", "required": ["name", "lead_department"],
                                                "properties": {"name": {"type": "string"},
                                                               "lead_department": {"type": "string"}}}}},
        },
    },
    "formats": {
        "type": "object", "required": ["meeting_date", "handled_on", "at", "email", "link", "time", "id"],
        "properties": {"meeting_date": {"type": "string", "format": "date"},
                       "handled_on": {"type": "string", "format": "date"},
                       "at": {"type": "string", "format": "date-time"},
                       "email": {"type": "string", "format": "email"},
                       "link": {"type": "string", "format": "uri"},
                       "time": {"type": "string", "format": "time"},
                       "id": {"type": "string", "format": "uuid"}},
    },
    "defaults and nullable": {
        "type": "object", "required": ["note"],
        "properties": {"note": {"type": ["string", "null"]},
                       "urgent": {"type": "boolean", "default": False},
                       "channel": {"type": "string", "default": "walk_in"},
                       "ignored": {"type": "string"}},
    },
    "refs, allOf, anyOf": {
        "$defs": {"party": {"type": "object", "required": ["name", "phone"],
                            "properties": {"name": {"type": "string"}, "phone": {"type": "string"}}}},
        "allOf": [{"type": "object", "required": ["applicant"],
                   "properties": {"applicant": {"$ref": "#/$defs/party"}}},
                  {"required": ["decision"], "properties": {"decision": {"enum": ["approve", "reject"]}}}],
        "required": ["contact"],
        "properties": {"contact": {"anyOf": [{"type": "string", "minLength": 2}, {"type": "integer"}]}},
    },
    "conditionals": {
        "type": "object", "required": ["outcome"],
        "properties": {"outcome": {"enum": ["resolved", "returned", "extend"]},
                       "reason": {"type": "string", "minLength": 10},
                       "new_due": {"type": "string", "format": "date"},
                       "agreement": {"type": "string"}},
        "allOf": [
            {"if": {"properties": {"outcome": {"const": "returned"}}}, "then": {"required": ["reason"]}},
            {"if": {"properties": {"outcome": {"const": "extend"}}},
             "then": {"required": ["new_due", "reason"]}, "else": {"required": ["agreement"]}},
        ],
        "dependentRequired": {"agreement": ["signed"]},
    },
    "empty": {},
}

FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER


@pytest.mark.parametrize("name", list(SCHEMAS))
@pytest.mark.parametrize("affirmative", [1.0, 0.5, 0.0])
def test_fill_form_satisfies_the_schema(name, affirmative):
    schema = SCHEMAS[name]
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    for seed in range(12):
        data = fill_form(schema, rng=random.Random(seed), department_codes=CODES, affirmative=affirmative)
        assert isinstance(data, dict)
        assert [e.message for e in validator.iter_errors(data)] == [], (name, seed, data)


def test_fill_form_fills_required_and_defaults_only():
    data = fill_form(SCHEMAS["defaults and nullable"], rng=random.Random(1), department_codes=CODES)
    assert set(data) == {"note", "urgent", "channel"}
    assert data["urgent"] is False and data["channel"] == "walk_in"
    data = fill_form(SCHEMAS["required strings"], rng=random.Random(1), department_codes=CODES)
    assert set(data) == {"opinion", "reason", "short"}
    assert all(re.search(r"[\u4e00-\u9fff]", v) for v in data.values())
    assert fill_form({}, rng=random.Random(1), department_codes=CODES) == {}


def test_fill_form_leans_to_the_affirmative_option():
    rng = random.Random(1)
    data = fill_form(SCHEMAS["enums and booleans"], rng=rng, department_codes=CODES, affirmative=1.0)
    assert data == {"outcome": "resolved", "satisfied": "satisfied", "agree": True, "level": "village"}
    options = [{"const": "a", "title": "不同意"}, {"const": "b", "title": "同意"}]
    labelled = {"type": "object", "required": ["answer"], "properties": {"answer": {"oneOf": options}}}
    assert fill_form(labelled, rng=rng, department_codes=CODES, affirmative=1.0) == {"answer": "b"}


def test_fill_form_varies_choices_between_cases():
    outcomes = {fill_form(SCHEMAS["enums and booleans"], rng=random.Random(seed), department_codes=CODES,
                          affirmative=0.5)["outcome"] for seed in range(40)}
    assert outcomes == {"escalate", "resolved", "returned"}
    branches = {fill_form(SCHEMAS["conditionals"], rng=random.Random(seed), department_codes=CODES,
                          affirmative=0.3)["outcome"] for seed in range(40)}
    assert branches == {"resolved", "returned", "extend"}


def test_fill_form_picks_real_department_codes():
    picked: set[str] = set()
    leads: set[str] = set()
    enum_lead = {"type": "object", "required": ["lead_department"],
                 "properties": {"lead_department": {"enum": CODES}}}
    for seed in range(20):
        rng = random.Random(seed)
        picked.update(fill_form(SCHEMAS["arrays"], rng=rng, department_codes=CODES, affirmative=1.0)["departments"])
        leads.add(fill_form(enum_lead, rng=rng, department_codes=CODES, affirmative=1.0)["lead_department"])
    # departments are never "the affirmative option": even a yes-leaning walk spreads over them
    assert len(picked) >= 4 and len(leads) >= 3
    for seed in range(20):
        data = fill_form(SCHEMAS["arrays"], rng=random.Random(seed), department_codes=CODES)
        assert data["departments"] and set(data["departments"]) <= set(CODES)
        assert 1 <= len(data["services"]) <= 2
        assert re.fullmatch(r"138\d{8}", data["attendees"][0]["phone"])
        by_title = fill_form(SCHEMAS["departments by title"], rng=random.Random(seed), department_codes=CODES)
        assert set(by_title["dispatch"]) <= set(CODES) and by_title["lead"] in CODES
        nested = fill_form(SCHEMAS["nested objects"], rng=random.Random(seed), department_codes=CODES)
        assert nested["meeting"]["host"]["lead_department"] in CODES
        assert nested["meeting"]["host"]["name"] not in CODES


def test_fill_form_formats_parse():
    data = fill_form(SCHEMAS["formats"], rng=random.Random(1), department_codes=CODES)
    assert date.fromisoformat(data["meeting_date"]) > date.fromisoformat(data["handled_on"])
    assert datetime.fromisoformat(data["at"]).utcoffset() is not None
    assert "@" in data["email"] and data["link"].startswith("https://")


def test_fill_form_gives_up_on_a_schema_that_requires_itself():
    schema = {"$defs": {"node": {"type": "object", "required": ["child"],
                                 "properties": {"child": {"$ref": "#/$defs/node"}}}},
              "$ref": "#/$defs/node"}
    data = fill_form(schema, rng=random.Random(1), department_codes=CODES)
    assert isinstance(data["child"], dict)  # as deep as sensible, then it stops without a RecursionError
