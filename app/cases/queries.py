"""Read-only queries of cases for the browser UI: scope, lists, duplicates, timeline, diagram state.

The data-scope rules are the API's (`app.api.cases`): a village sees its own cases, a township its
villages', the county all below it (`sees_area` roles, by org unit path); department and service
staff see the cases dispatched to their department. Nothing here writes.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, exists, false, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app import clock, engine
from app.bilingual import split_title
from app.cases.models import SEARCHED, CaseEvent, CaseStatus, MediationCase
from app.cases.service import DEADLINE_KEYS
from app.db import Base, in_small_set
from app.org.models import Department, OrgUnit, User
from app.org.service import sees_area
from app.processes.models import Artifact, FormVersion, ProcessVersion
from app.processes.service import load_spec
from app.tasks.models import HumanTask, TaskStatus

#: rows per page of the case list
PAGE_SIZE = 20
#: how far back an open case counts as a possible duplicate of a new intake
DUPLICATE_WINDOW = timedelta(days=30)
#: the stages of the shipped flow, in order (`stage` variable; "intake" before the process sets one)
STAGES = ("accept", "settle", "local", "triage", "convene", "mediate", "reply", "callback", "closed")
#: the stages during which each deadline runs (afterwards it is met, before it is not yet due)
RUNNING_STAGES: dict[str, frozenset[str]] = {
    "accept": frozenset({"intake", "accept"}),
    "convene": frozenset({"triage", "convene"}),
    "reply": frozenset({"triage", "convene", "mediate", "reply"}),
    "callback": frozenset({"callback"}),
}
#: the stages in which each deadline's stage is over (the deadline was met, or missed and passed)
PAST_STAGES: dict[str, frozenset[str]] = {
    "accept": frozenset(STAGES) - {"accept"},
    "convene": frozenset({"mediate", "reply", "callback", "closed"}),
    "reply": frozenset({"callback", "closed"}),
    "callback": frozenset({"closed"}),
}
INTAKE_FORM = "intake.json"
BPMN_NS = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


# --- scope -----------------------------------------------------------------------------------------

def scoped(query: Select[Any], user: User) -> Select[Any]:
    """Limit a case query (joined with OrgUnit) to the cases the user may see."""
    if user.is_admin:
        return query
    dispatched = exists().where(HumanTask.case_id == MediationCase.id, HumanTask.department_id == user.department_id)
    if sees_area(user):
        area = OrgUnit.path.startswith(user.org_unit.path)
        return query.where(or_(area, dispatched) if user.department_id is not None else area)
    if user.department_id is None:
        return query.where(false())
    return query.where(dispatched)


def places_for(session: Session, user: User) -> list[OrgUnit]:
    """The org units within the user's own unit (for filing and filtering), county first."""
    return list(session.scalars(select(OrgUnit).where(OrgUnit.path.startswith(user.org_unit.path))
                                .order_by(OrgUnit.path)))


# --- the category catalogue ---------------------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    code: str
    zh: str
    en: str


def catalogue(session: Session, forms_dir: Path | None = None) -> list[Choice]:
    """The case categories: the `category` choices of the newest deployed intake form (else the shipped one)."""
    content = session.scalar(select(Artifact.content).join(FormVersion, FormVersion.artifact_id == Artifact.id)
                             .where(FormVersion.filename == INTAKE_FORM).order_by(FormVersion.version.desc())
                             .limit(1))
    if not content and forms_dir is not None and (forms_dir / INTAKE_FORM).exists():
        content = (forms_dir / INTAKE_FORM).read_text(encoding="utf-8")
    return list(_catalogue(content or ""))


@functools.lru_cache(maxsize=16)
def _catalogue(content: str) -> tuple[Choice, ...]:
    """The category choices of an intake form's text (cached: every list page shows them)."""
    schema: dict[str, Any] = json.loads(content) if content else {}
    options = ((schema.get("properties") or {}).get("category") or {}).get("oneOf") or []
    choices = []
    for option in options:
        if isinstance(option, dict) and isinstance(option.get("const"), str):
            zh, en = split_title(option.get("title") or option["const"])
            choices.append(Choice(option["const"], zh, en))
    return tuple(choices)


# --- the case list --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaseFilters:
    status: str = ""
    stage: str = ""
    org_unit: str = ""
    overdue: bool = False
    q: str = ""
    page: int = 1


@dataclass
class CasePage:
    items: list[MediationCase]
    total: int
    page: int
    pages: int
    #: ids of the overdue cases among `items`
    overdue: set[int] = field(default_factory=set)


def overdue_clause(now: datetime) -> Any:
    """SQL: an open case with an open task past its due time (the API's rule; a stage that finished
    late does not keep the case overdue). The overdue tasks are found first, from the index of open
    tasks by due time: they are few, however many cases a period holds."""
    late_tasks = select(HumanTask.case_id).where(HumanTask.status == TaskStatus.open, HumanTask.due_at < now)
    return and_(MediationCase.status == CaseStatus.open, in_small_set(MediationCase.id, late_tasks))


def text_match(q: str, *columns: Any) -> Any:
    """SQL: one of the columns (by default the case's number, title and citizen name) contains `q`,
    taken literally (% and _ are no wildcards here). Latin letters match in either case; a needle
    without any (Chinese, digits) is matched with LIKE, which PostgreSQL runs several times faster
    than ILIKE on Chinese text. On PostgreSQL, trigram indexes on SEARCHED answer needles of three
    characters or more (app/reports/models.py)."""
    columns = columns or SEARCHED
    text = q.strip()
    needle = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if text.lower() != text.upper():
        return or_(*(c.ilike(needle, escape="\\") for c in columns))
    return or_(*(c.like(needle, escape="\\") for c in columns))


def with_department(department: Department, since: datetime | None = None) -> Any:
    """SQL: the case is led by the department or was ever dispatched to it. The dispatched cases are
    read from the department's task index as one set (tested per case, PostgreSQL probed the
    tasks of every case in the period). When the cases asked for were all received `since` a time,
    only the department's tasks created since then are read (a case's tasks come after its intake):
    a month's, not every year's."""
    dispatched = select(HumanTask.case_id).where(HumanTask.department_id == department.id)
    if since is not None:
        dispatched = dispatched.where(HumanTask.created_at >= since)
    return or_(MediationCase.lead_department == department.code, MediationCase.id.in_(dispatched))


def overdue_ids(session: Session, cases: list[MediationCase]) -> set[int]:
    """The ids of those cases that are overdue (one query for a page of cases)."""
    ids = [c.id for c in cases]
    if not ids:
        return set()
    return set(session.scalars(select(MediationCase.id).where(MediationCase.id.in_(ids),
                                                              overdue_clause(clock.now()))))


def list_cases(session: Session, user: User, filters: CaseFilters) -> CasePage:
    """The cases the user may see, filtered, newest first, one page."""
    query = scoped(select(MediationCase).join(OrgUnit, OrgUnit.id == MediationCase.org_unit_id), user)
    if filters.status:
        query = query.where(MediationCase.status == filters.status)
    if filters.stage:
        query = query.where(MediationCase.stage == filters.stage)
    if filters.org_unit:
        unit = session.scalar(select(OrgUnit).where(OrgUnit.code == filters.org_unit))
        query = query.where(OrgUnit.path.startswith(unit.path) if unit is not None else false())
    if filters.overdue:
        query = query.where(overdue_clause(clock.now()))
    if filters.q:
        query = query.where(text_match(filters.q))
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, filters.page), pages)
    rows = session.scalars(query.order_by(MediationCase.created_at.desc(), MediationCase.id.desc())
                           .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).unique()
    items = list(rows)
    return CasePage(items=items, total=total, page=page, pages=pages, overdue=overdue_ids(session, items))


def possible_duplicates(session: Session, user: User, *, org_unit: str = "", category: str = "",
                        phone: str = "", limit: int = 5) -> list[MediationCase]:
    """Open recent cases the user may see with the same place and category, or the same citizen phone."""
    matches = []
    unit = session.scalar(select(OrgUnit).where(OrgUnit.code == org_unit)) if org_unit else None
    if unit is not None and category:
        matches.append(and_(MediationCase.org_unit_id == unit.id, MediationCase.category == category))
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) >= 7:
        stored = func.replace(func.replace(func.replace(MediationCase.citizen_phone, "-", ""), " ", ""), "+", "")
        matches.append(stored == digits)
    if not matches:
        return []
    query = (select(MediationCase).join(OrgUnit, OrgUnit.id == MediationCase.org_unit_id)
             .where(MediationCase.status == CaseStatus.open,
                    MediationCase.created_at >= clock.now() - DUPLICATE_WINDOW, or_(*matches)))
    query = scoped(query, user).order_by(MediationCase.created_at.desc()).limit(limit)
    return list(session.scalars(query).unique())


# --- one case -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Deadline:
    key: str
    due: datetime
    #: the stage the deadline belongs to is under way
    running: bool
    overdue: bool
    #: the stage the deadline belongs to is over
    past: bool = False


def deadlines(case: MediationCase, now: datetime | None = None) -> list[Deadline]:
    """The case's known deadlines; only a running one of an open case can be overdue."""
    now = now or clock.now()
    found = []
    for key in DEADLINE_KEYS:
        due = getattr(case, f"deadline_{key}")
        if due is None:
            continue
        running = case.status == CaseStatus.open and case.stage in RUNNING_STAGES[key]
        past = case.status == CaseStatus.closed or case.stage in PAST_STAGES[key]
        found.append(Deadline(key, due, running, running and due < now, past and not running))
    return found


@dataclass(frozen=True)
class Event:
    """One timeline entry: the event and who did it (display name)."""

    event: CaseEvent
    actor: str | None


def events(session: Session, case: MediationCase) -> list[Event]:
    """Every event of the case, oldest first, with the actors' display names."""
    rows = list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                .order_by(CaseEvent.at, CaseEvent.id)))
    ids = {e.actor_id for e in rows if e.actor_id}
    names = {u.id: u.display_name or u.username
             for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    return [Event(e, names.get(e.actor_id) if e.actor_id else None) for e in rows]


def department_names(session: Session) -> dict[str, str]:
    return {code: name for code, name in session.execute(select(Department.code, Department.name))}


@dataclass(frozen=True)
class Answer:
    """What a department answered on a dispatched task (an opinion, a return, an extension request)."""

    department: str
    department_name: str
    task: str
    action: str
    text: str
    at: datetime
    actor: str | None
    data: dict[str, Any] = field(default_factory=dict)


def department_answers(session: Session, case: MediationCase, timeline: list[Event] | None = None) -> list[Answer]:
    """The departments' answers, from the `task_completed` events of department and service tasks."""
    names = department_names(session)
    answers = []
    for entry in timeline if timeline is not None else events(session, case):
        e = entry.event
        code = (e.data or {}).get("department")
        if e.kind != "task_completed" or not isinstance(code, str) or not code:
            continue
        data = (e.data or {}).get("data") or {}
        text = data.get("text") or data.get("service_note") or data.get("note") or ""
        action = data.get("action") or data.get("service_outcome") or ""
        answers.append(Answer(code, names.get(code, code), e.task_name or "", str(action),
                              str(text), e.at, entry.actor, data))
    return answers


def open_tasks(session: Session, case: MediationCase) -> list[HumanTask]:
    return list(session.scalars(select(HumanTask).where(HumanTask.case_id == case.id,
                                                        HumanTask.status == TaskStatus.open)
                                .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id)).unique())


def task_forms(session: Session, case: MediationCase) -> dict[str, dict[str, Any]]:
    """Task element id -> the JSON Schema of its form, from the forms the case is pinned to."""
    spec = load_spec(session, case.runtime_spec_id)
    found: dict[str, dict[str, Any]] = {}
    for name, form in session.execute(select(HumanTask.name, HumanTask.form).where(HumanTask.case_id == case.id)):
        if form and form in spec.forms:
            found[name] = spec.forms[form]
    return found


def variables(session: Session, case: MediationCase) -> dict[str, Any]:
    """The case's process variables as the last step left them."""
    spec = load_spec(session, case.runtime_spec_id)
    return engine.peek(spec.compiled, case.state.blob).variables


def attachments(session: Session, case: MediationCase) -> list[Any] | None:
    """The case's attachments when the attachment feature is installed (None when it is not)."""
    try:
        service = importlib.import_module("app.attachments.service")
    except ImportError:
        return None
    if "attachment" not in Base.metadata.tables or not hasattr(service, "list_attachments"):
        return None
    try:
        with session.begin_nested():  # the table may not be migrated yet: fail alone, not the page
            return list(service.list_attachments(session, case.id))
    except SQLAlchemyError:
        return None


# --- the diagram ----------------------------------------------------------------------------------

def process_xml(session: Session, case: MediationCase) -> str:
    """The BPMN text of the process version the case runs on."""
    content = session.scalar(select(Artifact.content).join(ProcessVersion, ProcessVersion.artifact_id == Artifact.id)
                             .where(ProcessVersion.process_id == case.process_id,
                                    ProcessVersion.version == case.process_version))
    return content or ""


@dataclass
class _Shape:
    ids: set[str] = field(default_factory=set)
    parent: dict[str, str] = field(default_factory=dict)
    calls: dict[str, str] = field(default_factory=dict)
    boundary: set[str] = field(default_factory=set)


@functools.lru_cache(maxsize=32)
def _shape(xml: str) -> _Shape:
    """Element ids, their containing subprocess, call activities and boundary events of a BPMN file.

    Cached by the text (a deployed version never changes, and parsing it is most of a diagram-state
    request); callers must not change the result."""
    shape = _Shape()
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return shape

    def walk(node: ET.Element, container: str | None) -> None:
        for child in node:
            element_id = child.get("id")
            tag = child.tag.removeprefix(BPMN_NS)
            if element_id and child.tag.startswith(BPMN_NS) and tag not in ("sequenceFlow", "laneSet"):
                shape.ids.add(element_id)
                if container:
                    shape.parent[element_id] = container
                if tag == "callActivity" and child.get("calledElement"):
                    shape.calls[element_id] = child.get("calledElement", "")
                if tag == "boundaryEvent":
                    shape.boundary.add(element_id)
            walk(child, element_id if tag in ("subProcess", "transaction", "adHocSubProcess") else container)

    for process in root.iter(f"{BPMN_NS}process"):
        walk(process, None)
    return shape


_ACTIVE = frozenset({"READY", "STARTED", "WAITING"})


def diagram_state(session: Session, case: MediationCase) -> dict[str, list[str]]:
    """Element ids of the case's diagram grouped as finished, active, overdue and failed.

    Active and failed come from the engine state; overdue are the elements of open tasks past their
    due time. A task inside a collapsed subprocess or a called process also marks the box or call
    activity around it, so the top-level diagram shows where the case is.
    """
    shape = _shape(process_xml(session, case))
    spec = load_spec(session, case.runtime_spec_id)
    view = engine.inspect_state(spec.compiled, case.state.blob)
    infos = {t.id: t for t in view.tasks}
    active_ids = {t.name for t in view.tasks if t.state in _ACTIVE}
    active_calls = {cid for cid, called in shape.calls.items() if cid in active_ids}

    def around(info: engine.TaskInfo) -> set[str]:
        """The element and every box or active call activity that contains it."""
        found = {info.name}
        frontier = {info.process}
        while frontier:
            process = frontier.pop()
            if process in shape.ids:
                holders = {process}
            else:
                holders = {cid for cid in active_calls if shape.calls[cid] == process}
            for holder in holders - found:
                found.add(holder)
                while holder in shape.parent:
                    holder = shape.parent[holder]
                    found.add(holder)
        return found

    finished: set[str] = set()
    active: set[str] = set()
    failed: set[str] = set()
    for info in view.tasks:
        if info.name in shape.boundary:
            continue
        if info.state == "COMPLETED":
            finished.add(info.name)
        elif info.state in _ACTIVE:
            active.add(info.name)
        elif info.state == "ERROR":
            failed |= around(info)
    # the inner tasks of a finished box or called process may be gone from the state: the task rows remember
    finished |= set(session.scalars(select(HumanTask.name).where(HumanTask.case_id == case.id,
                                                                 HumanTask.status == TaskStatus.completed)))
    overdue: set[str] = set()
    now = clock.now()
    for task in open_tasks(session, case):
        if task.due_at is not None and task.due_at < now:
            info = infos.get(task.engine_task_id)
            overdue |= around(info) if info is not None else {task.name}
    known = shape.ids
    failed &= known
    overdue = (overdue & known) - failed
    active = (active & known) - overdue - failed
    finished = (finished & known) - active - overdue - failed
    return {"finished": sorted(finished), "active": sorted(active), "overdue": sorted(overdue),
            "failed": sorted(failed)}
