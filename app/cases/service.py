"""Cases: intake, running their process one step at a time, and copying engine facts into tables.

Every change to a case goes through `advance_case`: lock the case row, restore the engine state,
do one step, and write back in the same transaction the new state, the open tasks, the pending
timers, the case's queryable fields and the events.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, delete, event, exists, select, text
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from app import clock, engine
from app.cases.models import CaseCounter, CaseEvent, CaseState, CaseStatus, Incident, MediationCase
from app.db import (
    OneStopSession,
    RowSelect,
    add_row,
    after_commit,
    append_row,
    forget_reads_ahead,
    new_row,
    select_rows,
    set_columns,
    upsert_into,
)
from app.errors import Conflict, InvalidInput, NotFound
from app.org.models import LANE_ROLES, Department, OrgUnit, Role, User
from app.org.service import can_see_org_unit, get_org_unit, org_unit_read, sees_area
from app.processes.service import LoadedSpec, load_spec, pin_runtime_spec, process_to_start, process_to_start_reads
from app.scheduler.models import PendingTimer
from app.tasks.models import HumanTask, TaskStatus
from app.timeutil import LOCAL_TZ, local_iso, now_iso, parse_iso

DEFAULT_PROCESS = "mediation"
CHANNELS = ("walk_in", "hotline", "grid", "online", "open311")
URGENCIES = ("normal", "urgent")
PHONE_RE = re.compile(r"^\+?[0-9][0-9\- ]{4,19}$")
DEADLINE_KEYS = ("accept", "convene", "reply", "callback")

#: called with the earliest pending due time after a commit that wrote timers (the scheduler's wake-up)
timer_listeners: list[Callable[[datetime], None]] = []


@dataclass(frozen=True)
class Intake:
    title: str
    description: str
    channel: str
    citizen_name: str
    citizen_phone: str
    org_unit: str
    address: str = ""
    category: str | None = None
    urgency: str = "normal"


def parse_intake(payload: Any) -> Intake:
    """Check an intake request body field by field; raise InvalidInput naming every bad field."""
    if not isinstance(payload, dict):
        raise InvalidInput("the body must be a JSON object", fields={"body": "expected an object"})
    errors: dict[str, str] = {}

    def text(key: str, value: Any, *, required: bool, limit: int) -> str:
        if value is None or value == "":
            if required:
                errors[key] = "required"
            return ""
        if not isinstance(value, str):
            errors[key] = "must be text"
            return ""
        value = value.strip()
        if required and not value:
            errors[key] = "required"
        if len(value) > limit:
            errors[key] = f"at most {limit} characters"
        return value

    title = text("title", payload.get("title"), required=True, limit=300)
    description = text("description", payload.get("description"), required=True, limit=20000)
    category = text("category", payload.get("category"), required=False, limit=64) or None
    urgency = payload.get("urgency") or "normal"
    if urgency not in URGENCIES:
        errors["urgency"] = "must be normal or urgent"
    channel = payload.get("channel")
    if channel not in CHANNELS:
        errors["channel"] = f"must be one of {', '.join(CHANNELS)}"
    citizen = payload.get("citizen")
    name = phone = ""
    if not isinstance(citizen, dict):
        errors["citizen"] = "required: {name, phone}"
    else:
        name = text("citizen.name", citizen.get("name"), required=True, limit=100)
        phone = text("citizen.phone", citizen.get("phone"), required=True, limit=32)
        if phone and not PHONE_RE.match(phone):
            errors["citizen.phone"] = "not a phone number"
    location = payload.get("location")
    org_unit = address = ""
    if not isinstance(location, dict):
        errors["location"] = "required: {org_unit, address?}"
    else:
        org_unit = text("location.org_unit", location.get("org_unit"), required=True, limit=64)
        address = text("location.address", location.get("address"), required=False, limit=300)
    if errors:
        raise InvalidInput("the case is not valid", fields=errors)
    return Intake(title=title, description=description, channel=channel, citizen_name=name,
                  citizen_phone=phone, org_unit=org_unit, address=address, category=category, urgency=urgency)


def case_start_reads(payload: Any) -> list[tuple[RowSelect, dict[str, Any]]]:
    """What creating the case of this request body reads first (its place, its process's newest
    version and the newest deployment), for a request to read them with its user in one round trip
    (`app.db.read_ahead`); nothing for a body that is no case."""
    try:
        intake = parse_intake(payload)
    except InvalidInput:
        return []
    process_id = payload.get("process_id")
    return [org_unit_read(intake.org_unit),
            *process_to_start_reads(process_id if isinstance(process_id, str) and process_id else DEFAULT_PROCESS)]


@functools.cache
def _next_seq(dialect_name: str) -> Any:
    """The year's counter moved on by one (created at 1): built once per database, as a step's statements."""
    return (upsert_into(dialect_name, CaseCounter).values(year=bindparam("year"), last_seq=1)
            .on_conflict_do_update(index_elements=[CaseCounter.year], set_={"last_seq": CaseCounter.last_seq + 1})
            .returning(CaseCounter.last_seq))


def next_case_no(session: Session, prefix: str, year: int) -> str:
    """Give out the next case number of the year, e.g. QX-2026-000123 (sequential, never reused).

    One upsert: the year's first case creates the counter row, every later one increments it, and
    two first cases of a year at the same moment get 1 and 2 (the second waits for the first's row).
    """
    seq = session.execute(_next_seq(session.get_bind().dialect.name), {"year": year}).scalar_one()
    return f"{prefix}-{year}-{seq:06d}"


def script_functions(session: Session, org_unit: OrgUnit) -> dict[str, Callable[..., Any]]:
    """The functions BPMN expressions of a case may call: its county's working-day calendar and now().

    The calendar is loaded on the first call of one of its functions, not before: most steps of a
    case compute no deadline, and loading it costs queries. The session must still be open then.
    """
    from app.calendar.service import load_calendar
    from app.calendar.workcalendar import WorkCalendar

    loaded: list[WorkCalendar] = []

    def bound(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if not loaded:
                loaded.append(load_calendar(session, org_unit))
            return getattr(loaded[0], name)(*args, **kwargs)

        call.__name__ = name
        call.__doc__ = getattr(WorkCalendar, name).__doc__
        return call

    functions: dict[str, Callable[..., Any]] = {name: bound(name) for name in _calendar_function_names()}
    functions["now"] = now_iso
    return functions


_CALENDAR_FUNCTIONS: tuple[str, ...] = ()


def _calendar_function_names() -> tuple[str, ...]:
    """The names `WorkCalendar.script_functions` gives (read once from an empty calendar)."""
    global _CALENDAR_FUNCTIONS
    if not _CALENDAR_FUNCTIONS:
        from app.calendar.workcalendar import WorkCalendar

        _CALENDAR_FUNCTIONS = tuple(WorkCalendar().script_functions())
    return _CALENDAR_FUNCTIONS


def add_event(session: Session, case: MediationCase, kind: str, *, actor: User | None = None,
              task_name: str | None = None, message: str = "", data: dict[str, Any] | None = None,
              at: datetime | None = None) -> None:
    """Append one event to the case's log (written with the flush's other events, in one statement);
    `at`: when it happened, if not now."""
    append_row(session, CaseEvent.__table__, {
        "case_id": case.id, "at": at or clock.now(), "kind": kind, "actor_id": actor.id if actor else None,
        "task_name": task_name, "message": message, "data": data or {}})


def create_case(session: Session, actor: User | None, intake: Intake, *, process_id: str | None = None,
                data: dict[str, Any] | None = None, prefix: str = "QX") -> MediationCase:
    """Register a case and run its process to the first wait state."""
    try:
        unit = get_org_unit(session, intake.org_unit)
    except NotFound:
        raise InvalidInput("unknown place", fields={"location.org_unit": "no such org unit"}) from None
    if actor is not None and not actor.is_admin and not can_see_org_unit(actor, unit):
        raise InvalidInput("outside your area", fields={"location.org_unit": "not within your org unit"})
    if data is not None and not isinstance(data, dict):
        raise InvalidInput("data must be an object", fields={"data": "expected an object"})
    pv, newest_deployment = process_to_start(session, process_id or DEFAULT_PROCESS)
    if not pv.executable:
        raise InvalidInput("not executable", fields={"process_id": "this process is not executable"})
    runtime_spec_id = pin_runtime_spec(session, pv, newest_deployment=newest_deployment)
    now = clock.now()
    case_no = next_case_no(session, prefix, now.astimezone(LOCAL_TZ).year)
    variables = {
        "case_no": case_no,
        "title": intake.title,
        "description": intake.description,
        "category": intake.category,
        "urgency": intake.urgency,
        "channel": intake.channel,
        "citizen": {"name": intake.citizen_name, "phone": intake.citizen_phone},
        "location": {"org_unit": unit.code, "address": intake.address},
        "org_unit": unit.code,
        "org_level": str(unit.level),
        "received_at": local_iso(now),
    }
    variables.update(data or {})
    spec = load_spec(session, runtime_spec_id)
    step = engine.start(spec.compiled, variables, script_functions(session, unit))
    case = MediationCase(
        case_no=case_no, title=intake.title, description=intake.description, category=intake.category,
        urgency=intake.urgency, channel=intake.channel, citizen_name=intake.citizen_name,
        citizen_phone=intake.citizen_phone, org_unit_id=unit.id, org_unit=unit, address=intake.address,
        status=CaseStatus.open, stage="intake", level=unit.level, process_id=pv.process_id,
        process_version=pv.version, runtime_spec_id=runtime_spec_id, created_at=now, updated_at=now,
        created_by_id=actor.id if actor else None, departments=[],
    )
    # the case row goes in as its first step leaves it (stage, deadlines, ...): one INSERT, no UPDATE
    for key, value in _field_changes(case, step).items():
        setattr(case, key, value)
    add_row(session, case)
    session.flush()  # its id: the step's rows refer to it
    # when the case came in, before its first step (which its deadlines count from) ran
    add_event(session, case, "case_created", actor=actor, message=intake.title, at=now,
              data={"channel": intake.channel, "process": {"id": pv.process_id, "version": pv.version}})
    state = CaseState(case_id=case.id, blob=step.state)
    add_row(session, state)  # with the step's other rows
    set_committed_value(case, "state", state)
    sync_case(session, case, spec, step, actor=actor, action={"op": "start"}, open_tasks=[], at=now)
    return case


def get_case(session: Session, case_no: str, *, lock: bool = False) -> MediationCase:
    """Find a case by number (locked for update when asked) or raise NotFound."""
    query = select(MediationCase).where(MediationCase.case_no == case_no)
    if lock:
        query = query.with_for_update(of=MediationCase).execution_options(populate_existing=True)
    case = session.scalar(query)
    if case is None:
        raise NotFound(f"no case {case_no}")
    return case


def can_see_case(session: Session, user: User, case: MediationCase) -> bool:
    """Within the user's org unit subtree (place-based roles), or dispatched to the user's department."""
    if user.is_admin or (sees_area(user) and case.org_unit.path.startswith(user.org_unit.path)):
        return True
    if user.department_id is None:
        return False
    return bool(session.scalar(select(exists().where(HumanTask.case_id == case.id,
                                                     HumanTask.department_id == user.department_id))))


def visible_case(session: Session, user: User, case_no: str) -> MediationCase:
    """The case if the user may see it, else NotFound (not revealing that it exists)."""
    case = get_case(session, case_no)
    if not can_see_case(session, user, case):
        raise NotFound(f"no case {case_no}")
    return case


_CASE, _STATE, _PLACE, _TASK = (MediationCase.__table__, CaseState.__table__, OrgUnit.__table__,
                                 HumanTask.__table__)


def _locking_case(which: ColumnElement[bool]) -> RowSelect:
    """A case with its engine state and its place, the case and state rows locked: on PostgreSQL a
    row read by a join but not locked would be the version of the statement's snapshot, older than
    the case row it waited for (another writer's state)."""
    return RowSelect(select(_CASE, _STATE, _PLACE).join(_STATE, _STATE.c.case_id == _CASE.c.id)
                     .join(_PLACE, _PLACE.c.id == _CASE.c.org_unit_id).where(which)
                     .with_for_update(of=[_CASE, _STATE]), MediationCase, CaseState, OrgUnit, refresh=True)


#: the case of the task `task_id`, found within the statement that needs it
CASE_OF_TASK = select(_TASK.c.case_id).where(_TASK.c.id == bindparam("task_id")).scalar_subquery()
# built once: a step's statements cost more to build than to run on SQLite
_LOCK_CASE = _locking_case(_CASE.c.id == bindparam("case_id"))
#: found by one of its tasks: finding and locking the case is one round trip
_LOCK_CASE_OF_TASK = _locking_case(_CASE.c.id == CASE_OF_TASK)


def _locked(found: list[tuple[Any, ...]]) -> MediationCase | None:
    if not found:
        return None
    case, state, _place = found[0]
    set_committed_value(case, "state", state)
    return case


def lock_case_by_id(session: Session, case_id: int) -> MediationCase:
    """Lock a case row for update (with its engine state and place, in the same query) or raise
    NotFound."""
    case = _locked(select_rows(session, (_LOCK_CASE, {"case_id": case_id}))[0])
    return case if case is not None else _lock_stateless(session, case_id)


def case_of_task_reads(task_id: int, *then: RowSelect) -> list[tuple[RowSelect, dict[str, Any]]]:
    """The reads of `lock_case_of_task(session, task_id, *then)`, for `app.db.read_ahead`."""
    params = {"task_id": task_id}
    return [(_LOCK_CASE_OF_TASK, params), *((query, params) for query in then)]


def lock_case_of_task(session: Session, task_id: int, *then: RowSelect
                      ) -> tuple[MediationCase, list[list[tuple[Any, ...]]]]:
    """`lock_case_by_id` for the case of a task (NotFound: no such task), and the rows of `then`
    (queries with the parameter `task_id`, see `CASE_OF_TASK`) read after the lock, in the same round
    trip on PostgreSQL (or taken from `read_ahead`)."""
    params = {"task_id": task_id}
    found, *rows = select_rows(session, *case_of_task_reads(task_id, *then))
    case = _locked(found)
    if case is not None:
        return case, rows
    case_id = session.scalar(select(HumanTask.case_id).where(HumanTask.id == task_id))
    if case_id is None:
        raise NotFound(f"no task {task_id}")
    case = _lock_stateless(session, case_id)
    forget_reads_ahead(session)  # read before this lock
    return case, select_rows(session, *((query, params) for query in then))


def _lock_stateless(session: Session, case_id: int) -> MediationCase:
    # no such case (or, never seen, one without a state row)
    case = session.scalar(select(MediationCase).where(MediationCase.id == case_id)
                          .with_for_update(of=MediationCase).execution_options(populate_existing=True))
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


#: lanes whose tasks belong to one department (or service) when the task's data names it
DEPARTMENT_LANES = (Role.department, Role.service)


@dataclass(frozen=True)
class Placement:
    """Who a new task belongs to: a role, maybe a department, at an org unit."""

    role: str
    department: Department | None
    org_unit: OrgUnit
    problem: str | None = None


def place_task(session: Session, case: MediationCase, ready: engine.ReadyTask) -> Placement:
    """Decide a task's role, department and org unit from its lane and data.

    The lane names the role (no lane: mediator). A `department` code in the task's data puts a
    department or service task (or one without lane) with that department's staff. `handling_unit`
    (an org unit code) or `level` (county/township/village) in the data places the task at that unit
    or at the case's ancestor of that level, so a matter escalated to the county is worked on by the
    county and not by the village that filed it.
    """
    role = str(ready.lane) if ready.lane in LANE_ROLES else None
    problem = None
    department = None
    code = ready.data.get("department")
    if isinstance(code, dict):
        code = code.get("code")
    if isinstance(code, str) and code and (role is None or role in DEPARTMENT_LANES):
        department = session.scalar(select(Department).where(Department.code == code))
        if department is None:
            # never open a task to every department: the case's mediators must dispatch again
            problem = f"unknown department {code!r}; the task goes to the mediator"
            role = Role.mediator
    if role is None:
        role = Role.department if department is not None else Role.mediator
    return Placement(role=role, department=department, org_unit=_unit_for(session, case, ready.data),
                     problem=problem)


def _unit_for(session: Session, case: MediationCase, data: dict[str, Any]) -> OrgUnit:
    code = data.get("handling_unit")
    if isinstance(code, str) and code:
        unit = session.scalar(select(OrgUnit).where(OrgUnit.code == code))
        if unit is not None:
            return unit
    level = data.get("level")
    if isinstance(level, str) and level and level != case.org_unit.level:
        for unit in session.scalars(select(OrgUnit).where(OrgUnit.id.in_(case.org_unit.lineage_ids))):
            if unit.level == level:
                return unit
    return case.org_unit


def _assignee_of(session: Session, ready: engine.ReadyTask) -> int | None:
    username = ready.data.get("assignee")
    if not isinstance(username, str) or not username:
        return None
    return session.scalar(select(User.id).where(User.username == username))


def _about(session: Session, ready: engine.ReadyTask) -> dict[str, str] | None:
    """What a new task is about, from its data: the deadline (`supervised_stage`) and department
    (`supervised_department`, a code or {code, ...}) a supervision is for. None when it says nothing."""
    found: dict[str, str] = {}
    deadline = ready.data.get("supervised_stage")
    if isinstance(deadline, str) and deadline in DEADLINE_KEYS:
        found["deadline"] = deadline
    code = ready.data.get("supervised_department")
    if isinstance(code, dict):
        code = code.get("code")
    if isinstance(code, str) and code:
        found["department"] = code[:64]
        name = session.scalar(select(Department.name).where(Department.code == code))
        if name:
            found["department_name"] = name
    return found or None


def _open_tasks(case_ids: list[int]) -> Select[tuple[HumanTask]]:
    """The cases' open task rows. Their case, place and (mostly) actor are in the session already: no
    joins. Read without flushing first, a task completed by this step may still say open in the
    table: callers check the status the session has."""
    return (select(HumanTask).where(HumanTask.case_id.in_(case_ids), HumanTask.status == TaskStatus.open)
            .options(lazyload("*")))


def _sync_tasks(session: Session, case: MediationCase, step: engine.Step,
                known: list[HumanTask] | None = None) -> list[HumanTask]:
    """Cancel the open tasks the engine no longer waits for, open rows for new ones; return the new
    rows. `known`: the case's open task rows, read by the caller."""
    if known is None:
        known = list(session.scalars(_open_tasks([case.id])))
    open_rows = {t.engine_task_id: t for t in known if t.status == TaskStatus.open}
    ready_ids = {r.id for r in step.ready}
    now = clock.now()
    created: list[HumanTask] = []
    for engine_id, row in open_rows.items():
        if engine_id not in ready_ids:
            set_columns(session, row, status=TaskStatus.cancelled, completed_at=now)
            add_event(session, case, "task_cancelled", task_name=row.name, message=row.title)
    for ready in step.ready:
        row = open_rows.get(ready.id)
        if row is not None:
            if row.due_at != ready.due_at:
                set_columns(session, row, due_at=ready.due_at)
            continue
        place = place_task(session, case, ready)
        department = place.department
        # `department=` too: the row holds on to it, so an answer about the case finds its code in the
        # session (which keeps only weak references to what nothing else holds)
        row = new_row(
            HumanTask, case_id=case.id, engine_task_id=ready.id, name=ready.name, title=ready.title, lane=ready.lane,
            role=place.role, department_id=department.id if department else None, department=department,
            org_unit_id=place.org_unit.id, assignee_id=_assignee_of(session, ready), form=ready.form,
            ui_form=ready.ui_form, due_at=ready.due_at, status=TaskStatus.open, created_at=now,
            about=_about(session, ready),
        )
        add_row(session, row)
        created.append(row)
        add_event(session, case, "task_created", task_name=ready.name, message=place.problem or ready.title,
                  data={"department": department.code if department else None, "role": row.role,
                        "org_unit": place.org_unit.code, "due_at": local_iso(ready.due_at)})
    session.info.setdefault("open_tasks", {})[case.id] = [
        row for row in open_rows.values() if row.status == TaskStatus.open] + created
    return created


@event.listens_for(OneStopSession, "after_rollback")
def _forget_open_tasks(session: Session) -> None:
    # a step rolled back (with its transaction or a savepoint) did not leave those tasks open
    session.info.pop("open_tasks", None)


def known_open_tasks(session: Session, case: MediationCase) -> list[HumanTask] | None:
    """The case's open task rows after a step this session ran on it (the rows it read after locking
    the case, less those the step closed, plus those it opened), or None when no step ran: what an
    answer about the case can list without reading them again. Only a step opens or closes tasks."""
    return session.info.get("open_tasks", {}).get(case.id)


def _sync_timers(session: Session, case: MediationCase, step: engine.Step,
                 known: list[PendingTimer] | None = None) -> None:
    """The case's pending timers become the step's; `known`: the case's timer rows, read by the caller.

    A step that left the timers as they were (most steps of a case waiting on the same deadlines)
    writes nothing: the table holds what the stored state waited for, since every step goes through here.
    """
    if known is None and step.timers_before == step.timers:
        return
    if known is None:
        session.execute(delete(PendingTimer).where(PendingTimer.case_id == case.id))
    else:
        for row in known:  # deleted by the flush, all of a batch's in one statement
            session.delete(row)
    for timer in step.timers:
        session.add(PendingTimer(case_id=case.id, engine_task_id=timer.task_id, name=timer.name,
                                 due_at=timer.due_at))
    if step.timers and session.get_bind().dialect.name == "postgresql":
        # delivered at commit to `onestop scheduler` processes listening on this channel
        session.execute(text("NOTIFY onestop_timer"))
    if step.timers and timer_listeners:
        earliest = step.timers[0].due_at

        def wake() -> None:
            for listener in list(timer_listeners):
                listener(earliest)

        after_commit(session, wake)


def _field_changes(case: MediationCase, step: engine.Step) -> dict[str, Any]:
    """The case fields the step's variables change (category, deadlines, stage, ...)."""
    variables = step.variables
    fields: dict[str, Any] = {}
    for key in ("category", "level", "lead_department"):
        value = variables.get(key)
        if isinstance(value, str) and value:
            fields[key] = value[:64]
    departments = variables.get("departments")
    if isinstance(departments, list):
        fields["departments"] = [d if isinstance(d, str) else (d.get("code") if isinstance(d, dict) else str(d))
                                 for d in departments]
    deadlines = variables.get("deadlines") if isinstance(variables.get("deadlines"), dict) else {}
    for key in DEADLINE_KEYS:
        if key in deadlines:
            value = deadlines[key]
        elif f"deadline_{key}" in variables:
            value = variables[f"deadline_{key}"]
        else:
            continue  # the process says nothing about this deadline: keep what we know
        # an explicit null clears it (a reopened case starts its reply and callback again)
        fields[f"deadline_{key}"] = parse_iso(value)
    stage = variables.get("stage")
    if step.completed:
        fields["stage"] = "closed"
    elif isinstance(stage, str) and stage:
        fields["stage"] = stage[:64]
    elif step.ready:
        fields["stage"] = step.ready[0].name[:64]
    return {key: value for key, value in fields.items() if getattr(case, key) != value}


@dataclass
class Batch:
    """Many locked cases written in one flush (the scheduler fires 50 in one transaction): their
    open task rows and pending timers read in one query each."""

    open_tasks: dict[int, list[HumanTask]] = field(default_factory=dict)
    timers: dict[int, list[PendingTimer]] = field(default_factory=dict)

    @classmethod
    def read(cls, session: Session, case_ids: list[int]) -> Batch:
        batch = cls({case_id: [] for case_id in case_ids}, {case_id: [] for case_id in case_ids})
        for task in session.scalars(_open_tasks(case_ids)):
            batch.open_tasks[task.case_id].append(task)
        for timer in session.scalars(select(PendingTimer).where(PendingTimer.case_id.in_(case_ids))):
            batch.timers[timer.case_id].append(timer)
        return batch


def sync_case(session: Session, case: MediationCase, spec: LoadedSpec, step: engine.Step, *,
              actor: User | None, action: dict[str, Any], batch: Batch | None = None,
              open_tasks: list[HumanTask] | None = None, at: datetime | None = None) -> None:
    """Copy one engine step into the case's tables (state, tasks, timers, fields, events, incidents).

    The people who may do the new tasks are told with the same flush. Nothing is flushed here: the
    step's rows go with the session's next statement or its commit, in one round trip with what it
    reads next (a completion's answer reads the case's timeline), and a batch's cases all in one flush
    (one INSERT per table for the batch's rows, not a round of statements per case). `batch`: the
    cases' open tasks and timers, read by the caller. `open_tasks`: the case's open task rows, when the
    caller read them after locking the case. `at`: the time of the step (now), which a new case was
    created with.
    """
    from app.notify.service import notify_tasks_created

    set_columns(session, case.state, blob=step.state)
    after_commit(session, functools.partial(engine.keep, spec.compiled, step))
    fields = _field_changes(case, step)
    now = at or clock.now()
    if case.updated_at != now:  # a case created now was inserted with it
        fields["updated_at"] = now
    with session.no_autoflush:  # all of it in one flush
        created = _sync_tasks(session, case, step, batch.open_tasks[case.id] if batch else open_tasks)
        _sync_timers(session, case, step, batch.timers[case.id] if batch else None)
        for event in step.events:
            add_event(session, case, "process_event", message=str(event.get("name") or event.get("code") or ""),
                      data=event)
        if step.error is not None:
            _record_incident(session, case, step.error, action)
        if step.completed and case.status != CaseStatus.closed:
            fields.update(status=CaseStatus.closed, closed_at=clock.now())
            add_event(session, case, "case_closed", actor=actor)
        set_columns(session, case, **fields)
        notify_tasks_created(session, [(case, row) for row in created])


def _record_incident(session: Session, case: MediationCase, error: engine.EngineError,
                     action: dict[str, Any]) -> Incident:
    incident = Incident(case_id=case.id, at=clock.now(), task_name=error.task_name,
                        message=error.message[:4000], action=action)
    session.add(incident)
    case.has_incident = True
    add_event(session, case, "incident", task_name=error.task_name, message=error.message[:1000])
    return incident


def record_incident(session: Session, case: MediationCase, error: engine.EngineError,
                    action: dict[str, Any]) -> Incident:
    """Mark the case with an incident for an engine error raised before any state changed."""
    incident = _record_incident(session, case, error, action)
    session.flush()
    return incident


def open_incidents(session: Session, case: MediationCase) -> list[Incident]:
    return list(session.scalars(select(Incident).where(Incident.case_id == case.id,
                                                       Incident.resolved_at.is_(None)).order_by(Incident.id)))


def retry_case(session: Session, actor: User | None, case_no: str, data: dict[str, Any] | None = None
               ) -> MediationCase:
    """Run the failed part of a case again (after a fix), resolving its incidents if it now passes."""
    case = get_case(session, case_no, lock=True)
    incidents = open_incidents(session, case)
    if not incidents:
        raise Conflict(f"case {case_no} has no open incident")
    if data is not None and not isinstance(data, dict):
        raise InvalidInput("data must be an object", fields={"data": "expected an object"})
    spec = load_spec(session, case.runtime_spec_id)
    functions = script_functions(session, case.org_unit)
    last = incidents[-1].action or {}
    for incident in incidents:
        incident.resolved_at = clock.now()
    case.has_incident = False
    add_event(session, case, "retry", actor=actor, data={"data": data or {}})
    if last.get("op") == "complete" and last.get("task_id"):
        merged = {**(last.get("data") or {}), **(data or {})}
        try:
            step = engine.complete_task(spec.compiled, case.state.blob, last["task_id"], merged, functions)
        except engine.TaskNotReady:
            step = engine.retry(spec.compiled, case.state.blob, data, functions)
        except engine.EngineError as exc:
            record_incident(session, case, exc, last)
            return case
    else:
        step = engine.retry(spec.compiled, case.state.blob, data, functions)
    sync_case(session, case, spec, step, actor=actor, action={"op": "retry"})
    return case


def deliver_message(session: Session, actor: User | None, case_no: str, name: str, payload: Any = None,
                    correlations: dict[str, Any] | None = None) -> MediationCase:
    """Deliver message `name` from outside to a case and run the case on.

    The case must wait for it (a catch event, receive task, boundary event or event-based gateway);
    unless `correlations` is given, the correlation keys are computed from `payload` (see
    `engine.send_message`). A message the case does not wait for is a Conflict and changes nothing;
    a message whose handling fails (a retrieval expression, a script after it) is an incident.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInput("a message needs a name", fields={"name": "required"})
    if correlations is not None and not isinstance(correlations, dict):
        raise InvalidInput("correlations must be an object", fields={"correlations": "expected an object"})
    case = get_case(session, case_no, lock=True)
    if case.status == CaseStatus.closed:
        raise Conflict(f"case {case_no} is closed")
    spec = load_spec(session, case.runtime_spec_id)
    functions = script_functions(session, case.org_unit)
    try:
        step = engine.send_message(spec.compiled, case.state.blob, name, payload, correlations, functions)
    except engine.MessageNotAwaited:
        raise Conflict(f"case {case_no} is not waiting for message {name!r}") from None
    add_event(session, case, "message_received", actor=actor, message=name,
              data={"payload": payload, "correlations": correlations or {}})
    action = {"op": "message", "name": name, "payload": payload, "correlations": correlations}
    sync_case(session, case, spec, step, actor=actor, action=action)
    return case


def fire_case_timers(session: Session, case_id: int, *, locked: MediationCase | None = None,
                     batch: Batch | None = None) -> list[str]:
    """Fire the due timers of one case (idempotent: nothing due, nothing happens); return their names.

    `locked` is the case when the caller has locked it already in this transaction; `batch` as in
    `sync_case` (the scheduler claims many cases at once and read their timers after the lock).
    """
    case = locked if locked is not None else lock_case_by_id(session, case_id)
    now = clock.now()
    if batch is not None:
        due = [t for t in batch.timers[case.id] if t.due_at <= now]
    else:
        due = list(session.scalars(select(PendingTimer).where(PendingTimer.case_id == case.id,
                                                              PendingTimer.due_at <= now)))
    if not due or case.status == CaseStatus.closed:
        return []
    spec = load_spec(session, case.runtime_spec_id)
    step = engine.fire_due_timers(spec.compiled, case.state.blob, script_functions(session, case.org_unit))
    names = [t.name for t in due]
    for timer in due:
        add_event(session, case, "timer_fired", task_name=timer.name, message=timer.name,
                  data={"due_at": local_iso(timer.due_at)})
    sync_case(session, case, spec, step, actor=None, action={"op": "timers"}, batch=batch)
    return names
