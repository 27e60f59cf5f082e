"""The monthly assessment page (月度考核): departments or townships ranked worst first (逆排名),
every number a link to the cases behind it, the weights a leader sets, printable."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.errors import Forbidden, InvalidInput
from app.org.models import Role
from app.reports import metrics
from app.reports.ranking import can_change_weights, can_read_rankings, monthly_ranking
from app.reports.settings import set_weights
from app.web import bp, login_required, page_session


def column_labels() -> dict[str, str]:
    return {"dispatched": _("派单数"), "closed_on_time": _("按期办结"), "closed_late": _("超期办结"),
            "still_open": _("未办结"), "overdue": _("超期未办结"), "returned": _("退单"), "extensions": _("延期"),
            "response_rate": _("响应率"), "resolution_rate": _("解决率"), "satisfaction_rate": _("满意率"),
            "on_time_rate": _("按期率"), "score": _("综合得分")}


def drill_labels() -> dict[str, str]:
    """What a drill-down lists: a count's cases, or for a rate the cases that pull it down."""
    return {**column_labels(), "response_late": _("未按时响应"), "unresolved": _("未解决"),
            "unsatisfied": _("不满意"), "not_on_time": _("未按期办结")}


def weight_labels() -> dict[str, str]:
    return {"response": _("响应率"), "resolution": _("解决率"), "satisfaction": _("满意率"), "on_time": _("按期率")}


@bp.get("/reports/ranking")
@login_required
def ranking() -> Any:
    by = request.args.get("by") or "department"
    errors: dict[str, str] = {}
    with page_session() as s:
        if not can_read_rankings(g.user):
            abort(403)
        try:
            result = monthly_ranking(s, g.user, request.args.get("month"), by)
        except Forbidden:
            abort(403)
        except InvalidInput as exc:
            errors = exc.fields
            result = monthly_ranking(s, g.user, None, by if by in metrics.BY else "department")
        period = result.period
        before = metrics.previous(period)
        current = metrics.parse_month(None)
        following = None if period.month == current.month else \
            metrics.month_period(*_next(period.month))
        page = render_template("web/ranking.html", result=result, period=period, before=before, following=following,
                               labels=column_labels(), weight_labels=weight_labels(), errors=errors,
                               counts=metrics.COUNTS, rates=metrics.RATES,
                               may_change=can_change_weights(g.user),
                               townships=g.user.is_admin or g.user.has_role(Role.leader))
    return (page, 422) if errors else page


def _next(month: str) -> tuple[int, int]:
    year, number = (int(p) for p in month.split("-"))
    return (year + 1, 1) if number == 12 else (year, number + 1)


@bp.post("/reports/ranking/weights")
@login_required
def ranking_weights() -> Any:
    back = url_for("web.ranking", month=request.form.get("month") or None, by=request.form.get("by") or None)
    with page_session(write=True) as s:
        if not can_change_weights(g.user):
            abort(403)
        try:
            set_weights(s, g.user, {k: request.form.get(k, "") for k in metrics.DEFAULT_WEIGHTS})
        except InvalidInput as exc:
            total = exc.fields.get("weights")
            flash(_("权重未保存：各项须为 0–100 的整数，合计 100。") + (f"（{total}）" if total else ""))
            return redirect(back)
    flash(_("权重已保存，得分已按新权重重新计算。"))
    return redirect(back)
