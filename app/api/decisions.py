"""Decision tables: read, try, lint and publish (leaders, designers and admins publish; everyone reads)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api import bp, json_body, with_user
from app.decisions import service
from app.decisions.present import decision_json, evaluation_json, issue_json, summary_json
from app.decisions.table import table_from_json
from app.errors import InvalidInput
from app.org.models import User


def _note(body: dict[str, Any]) -> str:
    note = body.get("note", "")
    if note is None:
        return ""
    if not isinstance(note, str):
        raise InvalidInput("note must be a text", fields={"note": "must be a text"})
    return note.strip()[:2000]


@bp.get("/decisions")
@with_user(write=False)
def get_decisions(session: Session, user: User) -> Any:
    versions = service.list_decisions(session)
    ids = {dv.deployment.created_by_id for dv in versions if dv.deployment.created_by_id}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(ids))).all() if ids else []
    authors = {uid: username for uid, username in rows}
    return jsonify({"items": [summary_json(dv, authors) for dv in versions]})


@bp.get("/decisions/<decision_id>")
@with_user(write=False)
def get_decision(session: Session, user: User, decision_id: str) -> Any:
    decision = service.get_decision(session, decision_id)
    return jsonify(decision_json(decision, can_publish=service.can_publish(user, decision)))


@bp.put("/decisions/<decision_id>")
@with_user()
def put_decision(session: Session, user: User, decision_id: str) -> Any:
    body = json_body()
    if "table" not in body:
        raise InvalidInput("send the table", fields={"table": "required"})
    result = service.publish_table(session, user, decision_id, body["table"], note=_note(body),
                                   base_version=body.get("version"))
    [dv] = [d for d in result.decisions if d.decision_id == decision_id]
    response = jsonify({"id": decision_id, "version": dv.version, "deployment": result.deployment.id})
    response.status_code = 201
    return response


def _decision_and_draft(session: Session, decision_id: str, body: dict[str, Any]) -> tuple[Any, Any]:
    """The published decision, and the unsaved table the body sends to try instead (or None)."""
    decision = service.get_decision(session, decision_id)
    return decision, table_from_json(body["table"]) if body.get("table") is not None else None


@bp.post("/decisions/<decision_id>/evaluate")
@with_user(write=False)
def evaluate_decision(session: Session, user: User, decision_id: str) -> Any:
    body = json_body()
    decision, table = _decision_and_draft(session, decision_id, body)
    evaluation = service.evaluate(session, user, decision, body.get("inputs", {}), table)
    result = evaluation_json(table or decision.table, evaluation)
    result["version"] = None if table is not None else decision.version
    return jsonify(result)


@bp.post("/decisions/<decision_id>/lint")
@with_user(write=False)
def lint_decision(session: Session, user: User, decision_id: str) -> Any:
    decision, table = _decision_and_draft(session, decision_id, json_body())
    return jsonify({"issues": [issue_json(i) for i in service.lint(session, user, decision, table)]})
