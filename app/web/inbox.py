"""The inbox (待办): my tasks, my group's, everyone's; claim, release and reassign (htmx or plain forms)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from app.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from app.org.models import Role, User
from app.tasks.models import HumanTask
from app.tasks.queries import InboxFilters, count_inbox, list_inbox, places_for, scopes_for
from app.tasks.service import (
    can_reassign,
    can_work_on,
    candidates_for,
    claim_task,
    get_task,
    reassign_task,
    release_task,
)
from app.web import bp, login_required, page_session
from app.web.cases import category_labels, role_labels, stage_labels
from app.web.formrender import localized

#: tasks per inbox page: a morning's work, and a page a phone loads quickly (the tab counts show the rest)
PAGE_SIZE = 50
#: stands for the id or number in a URL built once per page (url_for per row costs more than the row)
_SLOT = "918273645546372819"  # survives an int converter unchanged


def tab_labels(user: User) -> dict[str, str]:
    group = _("本部门") if user.department_id is not None else _("本岗位")
    return {"mine": _("我的"), "group": group, "all": _("全部")}


def problem_text(exc: DomainError) -> str:
    """A domain error in words a person can act on."""
    message = exc.message.lower()
    if isinstance(exc, NotFound):
        return _("找不到该任务，或你无权查看。")
    if "claimed by someone else" in message:
        return _("该任务已被他人认领。")
    if isinstance(exc, Conflict):
        return _("该任务已办结或已撤销，无需再办理。")
    if isinstance(exc, Forbidden):
        return _("你没有权限进行此操作。")
    if isinstance(exc, InvalidInput) and "assignee" in exc.fields:
        return _("请选择一位可以办理此任务的人员。")
    return _("操作未成功，请刷新后重试。")


def case_url(case_no: str) -> str | None:
    """The case page, once that page exists."""
    if "web.case" in current_app.view_functions:
        return url_for("web.case", case_no=case_no)
    return None


def url_maker(endpoint: str, **values: Any) -> Callable[[Any], str] | None:
    """A fast `url_for(endpoint, <its one argument>=value, **values)` for many rows: the URL is built
    once with a placeholder, then only the value is put in. None if the endpoint does not exist."""
    if endpoint not in current_app.view_functions:
        return None
    rule = next(iter(current_app.url_map.iter_rules(endpoint)))
    argument = next(iter(rule.arguments))
    template = url_for(endpoint, **{argument: _SLOT}, **values)
    return lambda value: template.replace(_SLOT, quote(str(value), safe=""), 1)


def _page_arg() -> int:
    raw = request.args.get("page") or ""
    return max(1, min(int(raw), 10_000)) if raw.isdigit() else 1


def back_to(default: str | None = None) -> str:
    """Where to go after an action: the local `next` the form carried, else the inbox."""
    target = request.form.get("next") or request.args.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc and "\\" not in target:
        return target
    return default or url_for("web.inbox")


def _filters() -> InboxFilters:
    args = request.args
    return InboxFilters(stage=args.get("stage") or None, category=args.get("category") or None,
                        place=args.get("place") or None, overdue=args.get("overdue") in ("1", "true", "on"),
                        q=(args.get("q") or "").strip()[:100] or None)


def who_waits(task: HumanTask, roles: dict[str, str] | None = None) -> str:
    """"部门 · 人社局 · 孙立新": the role, the department and the person who claimed it."""
    parts = [(roles or role_labels()).get(task.role, task.role)]
    if task.department is not None:
        parts.append(task.department.name)
    if task.assignee is not None:
        parts.append(task.assignee.display_name or task.assignee.username)
    return " · ".join(parts)


def task_actions(user: User, task: HumanTask) -> dict[str, bool]:
    """Which buttons a task row offers the user."""
    workable = can_work_on(user, task)
    return {
        "claim": task.assignee_id is None and workable,
        "release": task.assignee_id is not None and (
            task.assignee_id == user.id or user.has_role(Role.admin, Role.mediator, Role.leader)),
        "reassign": can_reassign(user),
    }


def _open_stages() -> dict[str, str]:
    """The stages an open task can be in (no duplicate "intake", no "closed")."""
    return {code: name for code, name in stage_labels().items() if code not in ("intake", "closed")}


@bp.get("/inbox")
@login_required
def inbox() -> Any:
    """The tabs of open tasks, filtered; overdue first, then by due time."""
    filters = _filters()
    with page_session() as s:
        user: User = g.user
        try:
            counts = count_inbox(s, user, filters)
        except InvalidInput:  # an unknown place in a stale link: show everything instead
            filters = InboxFilters(stage=filters.stage, category=filters.category, overdue=filters.overdue,
                                   q=filters.q)
            counts = count_inbox(s, user, filters)
        scopes = scopes_for(user)
        scope = request.args.get("tab")
        if scope not in scopes:
            scope = "mine" if counts.get("mine") else "group"
        total = counts.get(scope, 0)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(_page_arg(), pages)
        # the tasks are sorted in SQL (overdue first, then by due time)
        tasks = list_inbox(s, user, scope, filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        urls = {"task": url_maker("web.task"), "case": url_maker("web.case"), "claim": url_maker("web.claim"),
                "release": url_maker("web.release"),
                "reassign": url_maker("web.reassign_form", next=request.full_path)}
        roles = role_labels()
        rows = [{"task": t, "title": localized(t.title), "who": who_waits(t, roles), "can": task_actions(user, t),
                 "case_url": urls["case"](t.case.case_no) if urls["case"] else None,
                 "url": {k: make(t.id) for k, make in urls.items() if make is not None and k != "case"}}
                for t in tasks]
        return render_template(
            "web/inbox.html", rows=rows, scope=scope, scopes=scopes, counts=counts, filters=filters,
            tabs=tab_labels(user), places=places_for(s, user), stages=_open_stages(),
            categories=category_labels(s), filtered=bool(filters.stage or filters.category or filters.place
                                                         or filters.overdue or filters.q),
            page=page, pages=pages, total=total)


def _act(task_id: int, verb: str) -> Any:
    try:
        with page_session(write=True) as s:
            if verb == "claim":
                task = claim_task(s, g.user, task_id)
                message = _("已认领：%(title)s", title=task.title)
            else:
                task = release_task(s, g.user, task_id)
                message = _("已退回待认领：%(title)s", title=task.title)
    except NotFound:
        abort(404)
    except DomainError as exc:
        message = problem_text(exc)
    flash(message)
    return redirect(back_to())


@bp.post("/tasks/<int:task_id>/claim")
@login_required
def claim(task_id: int) -> Any:
    """Take a task (from the inbox row or the task page)."""
    return _act(task_id, "claim")


@bp.post("/tasks/<int:task_id>/release")
@login_required
def release(task_id: int) -> Any:
    """Give a claimed task back to its group."""
    return _act(task_id, "release")


def _reassign_page(s: Session, task: HumanTask, error: str | None = None, status: int = 200) -> Any:
    partial = bool(request.headers.get("HX-Request")) and not request.headers.get("HX-Boosted")
    people = [u for u in candidates_for(s, task) if u.id != task.assignee_id]
    body = render_template("web/inbox_reassign.html", task=task, people=people, error=error,
                           who=who_waits(task), next=back_to(), partial=partial,
                           layout="web/inbox_partial.html" if partial else "web/base.html")
    return body, status


@bp.get("/tasks/<int:task_id>/reassign")
@login_required
def reassign_form(task_id: int) -> Any:
    """Choose who should do the task instead (a small form in the row, or a page without JavaScript)."""
    with page_session() as s:
        if not can_reassign(g.user):
            abort(403)
        try:
            task = get_task(s, g.user, task_id)
        except NotFound:
            abort(404)
        return _reassign_page(s, task)


@bp.post("/tasks/<int:task_id>/reassign")
@login_required
def reassign(task_id: int) -> Any:
    """Hand the task to the chosen person."""
    try:
        with page_session(write=True) as s:
            task = reassign_task(s, g.user, task_id, request.form.get("assignee") or "")
            name = task.assignee.display_name or task.assignee.username
            message = _("已转派给%(name)s：%(title)s", name=name, title=task.title)
    except NotFound:
        abort(404)
    except DomainError as exc:
        message = problem_text(exc)
    flash(message)
    return redirect(back_to())
