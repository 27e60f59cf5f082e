"""Reports in the API: the monthly ranking, its drill-down, the score weights and the ledger
(JSON, XLSX and CSV, the exports streamed).

Who reads what: the ledger lists the cases the user may see anyway (the case list's scope); rankings
are for leaders and admins, and a department reads its own row (`app.reports.ranking.scope_for`).
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from app.api import bp, current_user, database, json_body, with_user
from app.errors import BadRequest, Forbidden, InvalidInput
from app.org.models import User
from app.reports import exports, ledger, metrics
from app.reports.ranking import can_change_weights, can_read_rankings, monthly_ranking, ranking_json
from app.reports.settings import get_weights, set_weights


@bp.get("/reports/ranking")
@with_user(write=False)
def get_ranking(session: Session, user: User) -> Any:
    by = request.args.get("by") or "department"
    return jsonify(ranking_json(monthly_ranking(session, user, request.args.get("month"), by)))


@bp.get("/reports/ranking/cases")
@with_user(write=False)
def get_ranking_cases(session: Session, user: User) -> Any:
    """The cases behind one number of the ranking: ?month&by&unit&metric (a count or a rate)."""
    if not request.args.get("metric"):
        raise InvalidInput("say which number", fields={"metric": f"one of {', '.join(metrics.DRILLS)}"})
    filters = ledger.parse_filters(session, user, request.args)
    result = ledger.page(session, user, filters, 1, ledger.MAX_PAGE_SIZE)
    names = ledger.Names(session).departments
    return jsonify({"items": [r.as_dict(names) for r in result.items], "total": result.total})


@bp.get("/reports/weights")
@with_user(write=False)
def get_report_weights(session: Session, user: User) -> Any:
    if not can_read_rankings(user):
        raise Forbidden("only leaders and departments read rankings")
    return jsonify(get_weights(session))


@bp.put("/reports/weights")
@with_user()
def put_report_weights(session: Session, user: User) -> Any:
    if not can_change_weights(user):
        raise Forbidden("only leaders change the weights")
    return jsonify(set_weights(session, user, json_body()))


def _page_args() -> tuple[int, int]:
    try:
        number = int(request.args.get("page") or 1)
        size = int(request.args.get("page_size") or ledger.PAGE_SIZE)
        if number < 1 or not 1 <= size <= ledger.MAX_PAGE_SIZE:
            raise ValueError
    except ValueError:
        raise BadRequest("page and page_size must be positive numbers",
                         fields={"page": "a number from 1", "page_size": f"1 to {ledger.MAX_PAGE_SIZE}"}) from None
    return number, size


@bp.get("/reports/ledger")
@with_user(write=False)
def get_ledger(session: Session, user: User) -> Any:
    number, size = _page_args()
    filters = ledger.parse_filters(session, user, request.args)
    result = ledger.page(session, user, filters, number, size)
    names = ledger.Names(session).departments
    return jsonify({"items": [r.as_dict(names) for r in result.items], "total": result.total,
                    "page": result.page, "page_size": result.page_size})


def _checked_filters() -> ledger.Filters:
    """Authenticate and check the filters before a streamed response starts (errors as JSON)."""
    with database().unit_of_work(write=False) as session:
        user = current_user(session)
        return ledger.parse_filters(session, user, request.args)


def _export_user_id() -> int:
    with database().unit_of_work(write=False) as session:
        return current_user(session).id


@bp.get("/reports/ledger.csv")
def get_ledger_csv() -> Any:
    return exports.csv_response(database(), _export_user_id(), _checked_filters())


@bp.get("/reports/ledger.xlsx")
def get_ledger_xlsx() -> Any:
    return exports.xlsx_response(database(), _export_user_id(), _checked_filters())

