"""The leader's dashboard (看板): today, what is due and overdue, supervision waiting, the three rates."""

from __future__ import annotations

from typing import Any

from flask import abort, g, render_template

from app.org.models import Role
from app.reports.dashboard import dashboard as build
from app.web import bp, login_required, page_session
from app.web.ranking import column_labels


@bp.get("/dashboard")
@login_required
def dashboard() -> Any:
    with page_session() as s:
        if not (g.user.is_admin or g.user.has_role(Role.leader)):
            abort(403)
        board = build(s, g.user)
        return render_template("web/dashboard.html", board=board, labels=column_labels())
