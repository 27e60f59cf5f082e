"""The reports hub (统计): one card per leaders' report that is installed and the user may open."""

from __future__ import annotations

from typing import Any

from flask import abort, g, render_template, url_for
from flask_babel import gettext as _

from app.org.models import Role
from app.web import bp, login_required, page_session

LEADERS = (Role.leader, Role.admin)


def report_cards() -> list[dict[str, Any]]:
    """(endpoint, title, what it answers, who) of every report."""
    return [
        {"endpoint": "web.ledger_page", "title": _("台账"), "roles": LEADERS,
         "text": _("每件事项的受理、时限、责任部门、办理结果和满意度，可筛选、导出 Excel。")},
        {"endpoint": "web.ranking", "title": _("考核排名"), "roles": LEADERS,
         "text": _("各部门、各乡镇的响应率、解决率、满意率和按期办结率，逆排名。")},
        {"endpoint": "web.hotspots", "title": _("热点"), "roles": LEADERS,
         "text": _("哪类纠纷在上升、出在哪里，重复来访的人和反复发生的地方。")},
        {"endpoint": "web.monitor", "title": _("流程监控"), "roles": (*LEADERS, Role.designer),
         "text": _("流程图上看各环节在办件数、超期和用时，处理运行异常。")},
    ]


@bp.get("/reports")
@login_required
def reports() -> Any:
    """The hub: links to the ledger, ranking, hot spots and monitor, those the user may open."""
    with page_session() as s:  # noqa: F841  (re-reads the user in this request's transaction)
        if not g.user.has_role(Role.leader, Role.admin, Role.designer):
            abort(403)
        cards = [dict(card, url=url_for(card["endpoint"])) for card in report_cards()
                 if g.user.has_role(*card["roles"])]
        return render_template("web/reports_home.html", cards=cards)
