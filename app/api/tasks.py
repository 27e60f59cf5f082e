"""The task inbox: list, read, claim, release, complete."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from app.api import bp, json_body, with_user
from app.api.cases import _flag
from app.api.serialize import case_detail, task_summary
from app.errors import NotFound
from app.org.models import User
from app.tasks import service


def _task_id(raw: str) -> int:
    if not raw.isdigit():
        raise NotFound(f"no task {raw}")
    return int(raw)


def _locking(raw_id: str) -> list[Any]:
    """A task action's first reads (its case locked, the case's open tasks), read with the user."""
    return service.task_locking_reads(int(raw_id)) if raw_id.isdigit() else []


@bp.get("/tasks")
@with_user(write=False)
def list_tasks(session: Session, user: User) -> Any:
    tasks = service.list_tasks(session, user, scope=request.args.get("scope", "group"),
                               case_no=request.args.get("case_no") or None, overdue=_flag("overdue"))
    return jsonify({"items": [task_summary(t) for t in tasks], "total": len(tasks)})


@bp.get("/tasks/<raw_id>")
@with_user(write=False)
def get_task(session: Session, user: User, raw_id: str) -> Any:
    task = service.get_task(session, user, _task_id(raw_id))
    body = task_summary(task)
    body["form"] = service.task_form(session, task)
    body["form_name"] = task.form
    body["data"] = service.task_data(session, task) if task.status == "open" else (task.data or {})
    body["can_complete"] = service.can_work_on(user, task) and task.status == "open"
    # who each person field of the form may name (the drop-down of the browser's form)
    body["people"] = {key: [{"username": u.username, "display_name": u.display_name, "org_unit": u.org_unit.code}
                            for u in users]
                      for key, users in service.form_people(session, task, body["form"]["schema"]).items()}
    return jsonify(body)


@bp.post("/tasks/<raw_id>/claim")
@with_user(ahead=_locking)
def claim(session: Session, user: User, raw_id: str) -> Any:
    task = service.claim_task(session, user, _task_id(raw_id))
    return jsonify(case_detail(session, task.case))


@bp.post("/tasks/<raw_id>/release")
@with_user(ahead=_locking)
def release(session: Session, user: User, raw_id: str) -> Any:
    task = service.release_task(session, user, _task_id(raw_id))
    return jsonify(case_detail(session, task.case))


@bp.post("/tasks/<raw_id>/complete")
@with_user(ahead=_locking)
def complete(session: Session, user: User, raw_id: str) -> Any:
    body = json_body()
    case = service.complete_task(session, user, _task_id(raw_id), body.get("data", {}))
    return jsonify(case_detail(session, case))
