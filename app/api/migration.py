"""Moving running cases between process versions: a whole version at once, or one case."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy.orm import Session

from app.api import bp, json_body, with_user
from app.org.models import User
from app.studio.migration import (
    migrate_case,
    migrate_process,
    parse_case_request,
    parse_process_request,
    require_migrator,
)


@bp.post("/processes/<process_id>/migrate")
@with_user()
def post_process_migrate(session: Session, user: User, process_id: str) -> Any:
    """`{from_version, to_version, dry_run}` → the report: per open case {case_no, can_move, reasons[]} and
    counts; with dry_run false the cases that can move are moved, each in its own savepoint."""
    require_migrator(user)
    from_version, to_version, dry_run = parse_process_request(json_body())
    report = migrate_process(session, user, process_id, from_version, to_version, dry_run=dry_run)
    return jsonify(report.to_json())


@bp.post("/cases/<case_no>/migrate")
@with_user()
def post_case_migrate(session: Session, user: User, case_no: str) -> Any:
    """`{to_version, dry_run}` → the same report for one case."""
    require_migrator(user)
    to_version, dry_run = parse_case_request(json_body())
    report = migrate_case(session, user, case_no, to_version, dry_run=dry_run)
    return jsonify(report.to_json())
