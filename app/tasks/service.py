"""The human-task inbox: who may see, claim and complete which task, and completing it."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from app import clock, engine
from app.attachments.service import case_attachments
from app.cases.models import MediationCase
from app.cases.service import (
    CASE_OF_TASK,
    add_event,
    case_of_task_reads,
    lock_case_of_task,
    open_incidents,
    record_incident,
    script_functions,
    sync_case,
)
from app.db import RowSelect, set_columns
from app.errors import BadRequest, Conflict, Forbidden, InvalidInput, NotFound
from app.forms.schema import USER_FORMAT, file_references, person_role, resolve, user_references
from app.org.models import OrgUnit, Role, User
from app.org.service import people_for, sees_area
from app.processes.service import load_spec
from app.tasks.models import HumanTask, TaskStatus

SCOPES = ("mine", "group", "all")


def can_work_on(user: User, task: HumanTask) -> bool:
    """True when the user's role, department and org unit let them act on the task."""
    if user.is_admin:
        return True
    if task.role not in user.roles:
        return False
    if task.department_id is not None and task.department_id != user.department_id:
        return False
    # the task's place: the case's, or the level the matter was escalated to
    return task.org_unit.path.startswith(user.org_unit.path)


def can_see_all(user: User) -> bool:
    return user.has_role(Role.admin, Role.leader)


def scope_tasks(query: Select[Any], user: User, scope: str) -> Select[Any]:
    """Limit an open-task query to a scope the user may list: `mine` (assigned to me), `group` (my
    roles and department, unassigned or mine), `all` (leaders and admins); always within the user's
    org unit subtree. The caller checks that `scope` is one of SCOPES."""
    if scope == "mine":
        query = query.where(HumanTask.assignee_id == user.id)
    elif scope == "group":
        if not user.is_admin:
            query = query.where(HumanTask.role.in_(list(user.roles)))
            query = query.where(or_(HumanTask.department_id.is_(None), HumanTask.department_id == user.department_id))
            query = query.where(or_(HumanTask.assignee_id.is_(None), HumanTask.assignee_id == user.id))
    elif not can_see_all(user):
        raise Forbidden("only leaders and admins list all tasks", fields={"scope": "use mine or group"})
    if not user.is_admin:
        area = aliased(OrgUnit)
        query = query.join(area, area.id == HumanTask.org_unit_id).where(area.path.startswith(user.org_unit.path))
    return query


def list_tasks(session: Session, user: User, *, scope: str = "group", case_no: str | None = None,
               overdue: bool | None = None, limit: int = 200) -> list[HumanTask]:
    """Open tasks for the inbox: `mine` (assigned to me), `group` (my roles/department, unassigned or
    mine), `all` (everything I may see; admins and leaders). Overdue first, then by due time."""
    if scope not in SCOPES:
        raise BadRequest("unknown scope", fields={"scope": f"one of {', '.join(SCOPES)}"})
    query = scope_tasks(select(HumanTask).where(HumanTask.status == TaskStatus.open), user, scope)
    if case_no:
        query = query.join(MediationCase, MediationCase.id == HumanTask.case_id).where(MediationCase.case_no == case_no)
    now = clock.now()
    if overdue is True:
        query = query.where(HumanTask.due_at < now)
    elif overdue is False:
        query = query.where(or_(HumanTask.due_at.is_(None), HumanTask.due_at >= now))
    query = query.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id).limit(limit)
    return list(session.scalars(query).unique())


def get_task(session: Session, user: User, task_id: int, *, lock_case: bool = False) -> HumanTask:
    """A task the user may see, else NotFound (not revealing other people's tasks)."""
    if lock_case:
        return _locked_task(session, user, task_id)[0]
    task = session.get(HumanTask, task_id)
    if task is None:
        raise NotFound(f"no task {task_id}")
    return _visible(user, task)


_TASK = HumanTask.__table__
#: the open task rows of a task's case, and that task (open or not). Their case, place and actors
#: are many-to-one by key: found in the session when read (the case locked with its place just
#: before), else loaded when touched.
_TASKS_OF_CASE = RowSelect(
    select(_TASK).where(_TASK.c.case_id == CASE_OF_TASK,
                        or_(_TASK.c.status == TaskStatus.open, _TASK.c.id == bindparam("task_id"))),
    HumanTask, refresh=True)


def task_locking_reads(task_id: int) -> list[tuple[Any, dict[str, Any]]]:
    """What claiming, releasing or completing task `task_id` reads first (its case locked, the case's
    open tasks), for a request to read it with its user (`app.db.read_ahead`)."""
    return case_of_task_reads(task_id, _TASKS_OF_CASE)


def _locked_task(session: Session, user: User, task_id: int) -> tuple[HumanTask, list[HumanTask]]:
    """`get_task` with its case locked first (one query, with its engine state), and the case's open
    task rows read with the task, in the same round trip on PostgreSQL: what is read after the lock
    is what this transaction works on, and a step of the case needs its open tasks anyway
    (`sync_case(open_tasks=)`)."""
    case, (found,) = lock_case_of_task(session, task_id, _TASKS_OF_CASE)
    rows = [row for (row,) in found]
    for row in rows:  # they hold on to their case: the session's references are weak
        set_committed_value(row, "case", case)
    task = next((row for row in rows if row.id == task_id), None)
    if task is None:
        raise NotFound(f"no task {task_id}")
    return _visible(user, task), [row for row in rows if row.status == TaskStatus.open]


def _visible(user: User, task: HumanTask) -> HumanTask:
    in_area = sees_area(user) and task.case.org_unit.path.startswith(user.org_unit.path)
    if not user.is_admin and not in_area and not can_work_on(user, task):
        raise NotFound(f"no task {task.id}")
    return task


def task_form(session: Session, task: HumanTask) -> dict[str, Any]:
    """The task's JSON Schema and UI hints from the forms its case is pinned to."""
    spec = load_spec(session, task.case.runtime_spec_id)
    schema = spec.forms.get(task.form) if task.form else None
    ui = spec.forms.get(task.ui_form) if task.ui_form else None
    return {"schema": schema or {"type": "object", "properties": {}}, "ui": ui or {}}


def task_data(session: Session, task: HumanTask) -> dict[str, Any]:
    """The process variables the task sees (e.g. the opinions gathered before it)."""
    spec = load_spec(session, task.case.runtime_spec_id)
    step = engine.peek(spec.compiled, task.case.state.blob)
    for ready in step.ready:
        if ready.id == task.engine_task_id:
            return ready.data
    return {}


def claim_task(session: Session, user: User, task_id: int) -> HumanTask:
    """Take an open task; someone else's claimed task cannot be taken (409)."""
    task = get_task(session, user, task_id, lock_case=True)
    if task.status != TaskStatus.open:
        raise Conflict(f"task {task_id} is no longer open")
    if not can_work_on(user, task):
        raise Forbidden("you may not work on this task")
    if task.assignee_id not in (None, user.id):
        raise Conflict(f"task {task_id} is claimed by someone else")
    task.assignee_id = user.id
    add_event(session, task.case, "task_claimed", actor=user, task_name=task.name, message=task.title)
    session.flush()
    return task


def release_task(session: Session, user: User, task_id: int) -> HumanTask:
    """Give a claimed task back to the group."""
    task = get_task(session, user, task_id, lock_case=True)
    if task.status != TaskStatus.open:
        raise Conflict(f"task {task_id} is no longer open")
    if task.assignee_id != user.id and not user.has_role(Role.admin, Role.mediator, Role.leader):
        raise Forbidden("only the assignee may release this task")
    task.assignee_id = None
    add_event(session, task.case, "task_released", actor=user, task_name=task.name)
    session.flush()
    return task


def can_reassign(user: User) -> bool:
    """Mediators, leaders and admins hand tasks to other people."""
    return user.has_role(Role.mediator, Role.leader, Role.admin)


def candidates_for(session: Session, task: HumanTask) -> list[User]:
    """Active people (not admins) who may do the task: its role, its department, its place or above."""
    query = select(User).where(User.active.is_(True), User.org_unit_id.in_(task.place(session).lineage_ids))
    if task.department_id is not None:
        query = query.where(User.department_id == task.department_id)
    users = session.scalars(query.order_by(User.display_name, User.username)).unique()
    return [u for u in users if not u.is_admin and can_work_on(u, task)]


def reassign_task(session: Session, actor: User, task_id: int, username: str) -> HumanTask:
    """Hand an open task to another person who may do it (mediators, leaders, admins)."""
    task = get_task(session, actor, task_id, lock_case=True)
    if task.status != TaskStatus.open:
        raise Conflict(f"task {task_id} is no longer open")
    if not can_reassign(actor):
        raise Forbidden("only mediators, leaders and admins reassign tasks")
    target = session.scalar(select(User).where(User.username == (username or "").strip()))
    if target is None or not target.active:
        raise InvalidInput("no such user", fields={"assignee": "no such user"})
    if target.is_admin or not can_work_on(target, task):
        raise InvalidInput("this person may not do the task", fields={"assignee": "may not do this task"})
    previous = task.assignee
    task.assignee_id = target.id
    add_event(session, task.case, "task_reassigned", actor=actor, task_name=task.name, message=task.title,
              data={"from": previous.username if previous else None, "to": target.username})
    session.flush()
    session.refresh(task)
    return task


def validate_form_data(schema: dict[str, Any], data: Any) -> dict[str, str]:
    """Check submitted data against a JSON Schema; return {field: message} for every problem."""
    if not isinstance(data, dict):
        return {"data": "expected an object"}
    errors: dict[str, str] = {}
    for error in Draft202012Validator(schema).iter_errors(data):
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path = f"{path}.{missing}" if path and missing else (missing or path)
            message = "required"
        else:
            message = error.message
        errors.setdefault(path or "data", message)
    return errors


def _foreign_files(session: Session, task: HumanTask, schema: dict[str, Any], data: Any) -> dict[str, str]:
    """{path: message} for each value of a file field that is not the id of a file of the task's case:
    a client must add the file to the case first (`POST /cases/{no}/attachments`), and a case never
    points at another case's files."""
    references = file_references(schema, data)
    if not references:
        return {}
    ids = [int(value) for _path, value in references if isinstance(value, str) and value.isdigit()]
    known = {str(a.id) for a in case_attachments(session, task.case_id, ids)}
    return {path: "not a file of this case (add it to the case first)"
            for path, value in references if not (isinstance(value, str) and value in known)}


def form_people(session: Session, task: HumanTask, schema: dict[str, Any]) -> dict[str, list[User]]:
    """{key: the users it may name} of each top-level person field of the task's form (`format:
    username`), for a client to offer them as the browser's drop-down does."""
    found = {}
    for key, field in (resolve(schema).get("properties") or {}).items():
        field = resolve(field, schema)
        if field.get("format") == USER_FORMAT:
            found[key] = people_for(session, task.case.org_unit, person_role(field))
    return found


def _unknown_people(session: Session, task: HumanTask, schema: dict[str, Any], data: Any) -> dict[str, str]:
    """{path: message} for each value of a person field that is not the username of someone the field
    may name (`app.org.service.people_for`: active, of its role, of the case's place or above): a typed
    name that matched no one left the task it assigns in the role's common inbox without a word."""
    references = [(path, value, role) for path, value, role in user_references(schema, data) if value != ""]
    if not references:
        return {}
    names = {value for _path, value, _role in references if isinstance(value, str)}
    found = people_for(session, task.case.org_unit, usernames=names) if names else []
    roles = {person.username: person.roles for person in found}
    return {path: f"no active user {value!r} with the role {role} here" if role else f"no active user {value!r} here"
            for path, value, role in references
            if not (isinstance(value, str) and value in roles and (role is None or role in roles[value]))}


def complete_task(session: Session, user: User, task_id: int, data: Any) -> MediationCase:
    """Validate the form data, check permission and openness, then advance the case's process."""
    task, open_rows = _locked_task(session, user, task_id)
    if task.status != TaskStatus.open:
        raise Conflict(f"task {task_id} is no longer open")
    if not can_work_on(user, task):
        raise Forbidden("you may not work on this task")
    if task.assignee_id not in (None, user.id) and not user.is_admin:
        raise Forbidden("this task is claimed by someone else")
    if data is None:
        data = {}
    form = task_form(session, task)
    errors = (validate_form_data(form["schema"], data) or _foreign_files(session, task, form["schema"], data)
              or _unknown_people(session, task, form["schema"], data))
    if errors:
        raise InvalidInput("the form has errors", fields=errors)
    case = task.case
    spec = load_spec(session, case.runtime_spec_id)
    functions = script_functions(session, case.org_unit)
    action = {"op": "complete", "task_id": task.engine_task_id, "data": data}
    try:
        step = engine.complete_task(spec.compiled, case.state.blob, task.engine_task_id, data, functions)
    except engine.TaskNotReady:
        raise Conflict(f"task {task_id} is no longer open") from None
    except engine.EngineError as exc:
        record_incident(session, case, exc, action)
        return case
    if case.has_incident:
        # an earlier failed completion of this very task is settled by this one
        incidents = open_incidents(session, case)
        for incident in incidents:
            action = incident.action or {}
            if action.get("op") == "complete" and action.get("task_id") == task.engine_task_id:
                incident.resolved_at = clock.now()
        case.has_incident = any(i.resolved_at is None for i in incidents)
    set_columns(session, task, status=TaskStatus.completed, completed_at=clock.now(), completed_by_id=user.id,
                data=data)
    add_event(session, case, "task_completed", actor=user, task_name=task.name, message=task.title,
              data={"data": data, "department": task.department.code if task.department else None,
                    "role": task.role})
    if isinstance(data, dict) and data.get("action") == "return":
        # a department returned a wrong dispatch (退单): the case's mediators must re-dispatch
        from app.notify.service import notify_task_returned

        notify_task_returned(session, case, task, data)
    sync_case(session, case, spec, step, actor=user, action=action, open_tasks=open_rows)
    return case
