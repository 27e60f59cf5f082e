"""The ledger page (台账): filters, one page of cases, XLSX and CSV downloads; also the ranking's
drill-down (the cases behind one number). Rows and filters come from app.reports.ledger."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from app.cases.queries import STAGES, places_for
from app.errors import DomainError, Forbidden, InvalidInput
from app.org.models import Department, OrgUnit
from app.reports import exports, ledger, metrics
from app.web import bp, database, login_required, page_session
from app.web.cases import category_labels
from app.web.ranking import drill_labels


def default_args() -> dict[str, str]:
    """The ledger opens on the current month (a period keeps the page quick on a large database)."""
    args = request.args.to_dict()
    if not any(args.get(k) for k in ("from", "to", "month", "metric", "q")):
        args["month"] = metrics.parse_month(None).month
    return args


@bp.get("/reports/ledger")
@login_required
def ledger_page() -> Any:
    args = default_args()
    errors: dict[str, str] = {}
    with page_session() as s:
        try:
            filters = ledger.parse_filters(s, g.user, args)
        except Forbidden:
            abort(403)
        except InvalidInput as exc:
            errors = exc.fields
            filters = ledger.Filters()
        try:
            number = max(1, int(request.args.get("page") or 1))
        except ValueError:
            number = 1
        result = ledger.page(s, g.user, filters, number) if not errors else None
        drill_name = None
        if filters.drill:
            # the card names the unit; the cases were found (and the drill checked) by parse_filters
            unit = Department if filters.drill["by"] == "department" else OrgUnit
            drill_name = s.scalar(select(unit.name).where(unit.code == filters.drill["unit"]))
        departments = list(s.execute(select(Department.code, Department.name).order_by(Department.code)))
        response = render_template(
            "web/ledger.html", result=result, filters=filters, args=filters.args(), errors=errors, raw=args,
            places=places_for(s, g.user), stages=STAGES, categories=category_labels(s), departments=departments,
            department_names=dict((c, n) for c, n in departments), drill_name=drill_name,
            drill_labels=drill_labels())
    return (response, 422) if errors else response


def _export_filters() -> tuple[int, ledger.Filters]:
    with page_session() as s:
        try:
            return g.user.id, ledger.parse_filters(s, g.user, default_args())
        except DomainError as exc:
            abort(exc.status)


@bp.get("/reports/ledger.csv")
@login_required
def ledger_csv() -> Any:
    uid, filters = _export_filters()
    return exports.csv_response(database(), uid, filters)


@bp.get("/reports/ledger.xlsx")
@login_required
def ledger_xlsx() -> Any:
    uid, filters = _export_filters()
    try:
        return exports.xlsx_response(database(), uid, filters)
    except InvalidInput:
        flash(_("表格最多容纳 1,048,575 行，本次筛选的事项更多：请缩短期间，或下载 CSV。"))
        return redirect(url_for("web.ledger_page", **filters.args()))
