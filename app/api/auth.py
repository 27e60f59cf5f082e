"""Log in for a bearer token."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from app.api import bp, issue_token, json_body, unit_of_work
from app.errors import InvalidInput, NotAuthenticated
from app.org.service import authenticate


@bp.post("/auth/login")
def login() -> Any:
    body = json_body()
    username, password = body.get("username"), body.get("password")
    errors = {k: "required" for k, v in (("username", username), ("password", password))
              if not isinstance(v, str) or not v}
    if errors:
        raise InvalidInput("username and password are required", fields=errors)
    with unit_of_work(write=False) as session:
        user = authenticate(session, username, password)
        if user is None:
            raise NotAuthenticated("wrong username or password")
        return jsonify({"token": issue_token(user), "user": {
            "username": user.username, "display_name": user.display_name, "roles": list(user.roles),
            "org_unit": user.org_unit.code, "department": user.department.code if user.department else None}})
