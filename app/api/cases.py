"""Cases: intake, reading, listing, retrying after an incident."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from app import clock
from app.api import bp, json_body, require_roles, with_user
from app.api.serialize import case_detail, case_summary
from app.cases.models import MediationCase
from app.cases.queries import overdue_clause, text_match, with_department
from app.cases.service import case_start_reads, create_case, parse_intake, retry_case, visible_case
from app.errors import BadRequest, InvalidInput
from app.org.models import Department, OrgUnit, Role, User
from app.org.service import sees_area
from app.tasks.models import HumanTask

PAGE_SIZE = 50


def _start_reads() -> list[Any]:
    """A case start's first reads (its place, its process), read with the user in one round trip."""
    return case_start_reads(request.get_json(silent=True))


@bp.post("/cases")
@with_user(ahead=_start_reads)
def post_case(session: Session, user: User) -> Any:
    require_roles(user, Role.receiver, Role.mediator, Role.leader)
    body = json_body()
    intake = parse_intake(body)
    process_id = body.get("process_id")
    if process_id is not None and (not isinstance(process_id, str) or not process_id):
        raise InvalidInput("process_id must be text", fields={"process_id": "expected a process id"})
    case = create_case(session, user, intake, process_id=process_id, data=body.get("data"),
                       prefix=current_app.config["ONESTOP"].case_prefix)
    response = jsonify({"case_no": case.case_no, "status": str(case.status), "stage": case.stage})
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/cases/{case.case_no}"
    return response


@bp.get("/cases/<case_no>")
@with_user(write=False)
def get_case_view(session: Session, user: User, case_no: str) -> Any:
    return jsonify(case_detail(session, visible_case(session, user, case_no)))


@bp.post("/cases/<case_no>/retry")
@with_user()
def post_retry(session: Session, user: User, case_no: str) -> Any:
    require_roles(user, Role.mediator, Role.leader, Role.designer)
    visible_case(session, user, case_no)
    body = request.get_json(silent=True) if request.data else {}
    if body is not None and not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    case = retry_case(session, user, case_no, (body or {}).get("data"))
    return jsonify(case_detail(session, case))


def _flag(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in {"1", "true", "yes"}:
        return True
    if raw.lower() in {"0", "false", "no"}:
        return False
    raise BadRequest(f"{name} must be true or false", fields={name: "true or false"})


@bp.get("/cases")
@with_user(write=False)
def list_cases(session: Session, user: User) -> Any:
    args = request.args
    try:
        page = int(args.get("page", "1"))
        if page < 1:
            raise ValueError
    except ValueError:
        raise BadRequest("page must be a positive number", fields={"page": "a number from 1"}) from None
    query = select(MediationCase).join(OrgUnit, OrgUnit.id == MediationCase.org_unit_id)
    if not user.is_admin:
        dispatched = exists().where(HumanTask.case_id == MediationCase.id,
                                    HumanTask.department_id == user.department_id)
        if sees_area(user):
            scope = OrgUnit.path.startswith(user.org_unit.path)
            query = query.where(or_(scope, dispatched) if user.department_id is not None else scope)
        else:
            query = query.where(dispatched)
    if args.get("status"):
        query = query.where(MediationCase.status == args["status"])
    if args.get("stage"):
        query = query.where(MediationCase.stage == args["stage"])
    if args.get("org_unit"):
        unit = session.scalar(select(OrgUnit).where(OrgUnit.code == args["org_unit"]))
        if unit is None:
            raise BadRequest("unknown org unit", fields={"org_unit": "no such org unit"})
        query = query.where(OrgUnit.path.startswith(unit.path))
    if args.get("department"):
        dept = session.scalar(select(Department).where(Department.code == args["department"]))
        if dept is None:
            raise BadRequest("unknown department", fields={"department": "no such department"})
        query = query.where(with_department(dept))
    overdue = _flag("overdue")
    if overdue is not None:
        late = overdue_clause(clock.now())
        query = query.where(late) if overdue else query.where(~late)
    if args.get("q"):
        query = query.where(text_match(args["q"]))
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.scalars(query.order_by(MediationCase.created_at.desc(), MediationCase.id.desc())
                           .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).unique()
    return jsonify({"items": [case_summary(c) for c in rows], "total": total, "page": page,
                    "page_size": PAGE_SIZE})
