"""The bell: unread count in the header, and the list of the person's notifications."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cases.models import MediationCase
from app.notify.models import Notification
from app.notify.service import list_notifications, mark_read, returned_reason, unread_count
from app.org.models import Department
from app.tasks.models import HumanTask
from app.web import bp, login_required, page_session

#: the bell drawn inline (an emoji needs a font the office PC may not have)
BELL = ('<svg class="bell-icon" width="18" height="18" viewBox="0 0 24 24" aria-hidden="true">'
        '<path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11'
        'a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1z"/></svg>')


#: the bell and the notifications page count unread notifications up to this, and show "99+" past it
SHOWN_UNREAD = 99


def _unread_shown(count: int) -> str:
    return f"{SHOWN_UNREAD}+" if count > SHOWN_UNREAD else str(count)


@bp.get("/notifications")
@login_required
def notifications() -> Any:
    with page_session() as s:
        items = list_notifications(s, g.user)
        unread = unread_count(s, g.user, cap=SHOWN_UNREAD + 1)
        return render_template("web/notifications.html", items=items, unread=unread and _unread_shown(unread),
                               about=_about(s, items))


def _about(session: Session, items: list[Notification]) -> dict[int, dict[str, str]]:
    """{notification id: case_no, case title, task title; for a returned dispatch the department and
    its reason} of the task notifications among them: the page words them in its own language (the
    stored text is the Chinese sentence an SMS carries)."""
    wanted = [n for n in items if n.kind in ("task_new", "task_overdue", "task_returned") and n.case_id
              and n.task_id]
    if not wanted:
        return {}
    cases = {row.id: row for row in session.execute(
        select(MediationCase.id, MediationCase.case_no, MediationCase.title)
        .where(MediationCase.id.in_({n.case_id for n in wanted})))}
    tasks = {row.id: row for row in session.execute(
        select(HumanTask.id, HumanTask.title, HumanTask.role, HumanTask.data, Department.name)
        .outerjoin(Department, Department.id == HumanTask.department_id)
        .where(HumanTask.id.in_({n.task_id for n in wanted})))}
    found = {}
    for n in wanted:
        if n.case_id not in cases or n.task_id not in tasks:
            continue
        task = tasks[n.task_id]
        found[n.id] = {"case_no": cases[n.case_id].case_no, "case_title": cases[n.case_id].title,
                       "task_title": task.title or ""}
        if n.kind == "task_returned":
            found[n.id].update(who=task.name or task.role, reason=returned_reason(task.data))
    return found


@bp.get("/notifications/badge")
@login_required
def notifications_badge() -> Any:
    """The bell's content: the icon and, when there is any, the unread count."""
    with page_session() as s:
        count = unread_count(s, g.user, cap=SHOWN_UNREAD + 1)
    badge = f'<span class="badge" aria-label="unread">{_unread_shown(count)}</span>' if count else ""
    return f"{BELL}{badge}"


@bp.post("/notifications/read")
@login_required
def notifications_read() -> Any:
    """Mark one notification (id) or all of them as read, then follow its link if it has one."""
    raw = request.form.get("id")
    with page_session(write=True) as s:
        mark_read(s, g.user, [int(raw)] if raw and raw.isdigit() else None)
    target = request.form.get("next")
    if target and target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("web.notifications"))
