"""Users, departments and org units."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api import bp, json_body, require_roles, with_user
from app.errors import InvalidInput, NotFound
from app.org.models import Department, OrgUnit, Role, User
from app.org.service import create_user, get_department, get_org_unit


@bp.post("/users")
@with_user()
def post_user(session: Session, user: User) -> Any:
    require_roles(user, Role.admin)
    body = json_body()
    errors: dict[str, str] = {}
    roles = body.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        errors["roles"] = "a list of role codes"
    for key in ("username", "password", "org_unit"):
        if not isinstance(body.get(key), str) or not body.get(key):
            errors[key] = "required"
    if errors:
        raise InvalidInput("the user is not valid", fields=errors)
    try:
        unit = get_org_unit(session, body["org_unit"])
    except NotFound:
        raise InvalidInput("unknown org unit", fields={"org_unit": "no such org unit"}) from None
    department = None
    if body.get("department"):
        try:
            department = get_department(session, str(body["department"]))
        except NotFound:
            raise InvalidInput("unknown department", fields={"department": "no such department"}) from None
    created = create_user(session, username=body["username"], password=body["password"], roles=roles,
                          org_unit=unit, department=department, display_name=str(body.get("display_name") or ""))
    response = jsonify({"id": created.id, "username": created.username, "display_name": created.display_name,
                        "roles": created.roles, "org_unit": unit.code,
                        "department": department.code if department else None})
    response.status_code = 201
    return response


@bp.get("/departments")
@with_user(write=False)
def get_departments(session: Session, user: User) -> Any:
    rows = session.execute(select(Department, OrgUnit.code).join(OrgUnit, OrgUnit.id == Department.org_unit_id)
                           .order_by(Department.code)).all()
    return jsonify({"items": [{"code": d.code, "name": d.name, "kind": d.kind, "org_unit": code}
                              for d, code in rows]})


@bp.get("/org-units")
@with_user(write=False)
def get_org_units(session: Session, user: User) -> Any:
    units = list(session.scalars(select(OrgUnit).order_by(OrgUnit.path)))
    by_id = {u.id: u for u in units}
    return jsonify({"items": [{"code": u.code, "name": u.name, "level": str(u.level),
                               "parent": by_id[u.parent_id].code if u.parent_id in by_id else None}
                              for u in units]})
