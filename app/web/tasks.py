"""The task page: the case beside the task's form (rendered on the server), and submitting it."""

from __future__ import annotations

import functools
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from app.attachments.service import MAX_FILES, add_attachment, case_attachments, list_attachments, read_upload
from app.cases.models import MediationCase
from app.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from app.org.models import Department, User
from app.org.service import people_for
from app.tasks.models import HumanTask, TaskStatus
from app.tasks.service import can_reassign, can_work_on, complete_task, get_task, task_data, task_form
from app.timeutil import parse_iso
from app.web import bp, login_required, page_session
from app.web.attachments import upload_limits, upload_message
from app.web.cases import category_labels, deadline_labels, stage_labels
from app.web.formrender import (
    ACTION,
    FileRejected,
    Form,
    apply_action,
    build_form,
    friendly_errors,
    initial_values,
    localized,
    person_choices,
    read_form,
)
from app.web.inbox import back_to, case_url, problem_text, task_actions, who_waits

#: which case deadline belongs to which stage (the one shown with its time left)
STAGE_DEADLINE = {"accept": "accept", "settle": "accept", "triage": "convene", "convene": "reply",
                  "mediate": "reply", "reply": "reply", "callback": "callback"}


def _departments(s: Session) -> list[Department]:
    return list(s.scalars(select(Department).order_by(Department.id)))


def _case_values(case: MediationCase) -> dict[str, Any]:
    """Case fields a form may ask for again (the task's own data wins over them). The parties start
    with the citizen who brought the matter, as registered: nobody types a name and phone twice."""
    citizen = {"name": case.citizen_name, "role": "applicant", "phone": case.citizen_phone or None}
    return {"title": case.title, "description": case.description, "category": case.category,
            "urgency": case.urgency, "lead_department": case.lead_department,
            "departments": list(case.departments or []) or None, "address": case.address or None,
            "parties": [{k: v for k, v in citizen.items() if v}] if case.citizen_name else None}


def case_context(s: Session, case: MediationCase, data: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """What the page shows about the case beside the form."""
    current = STAGE_DEADLINE.get(case.stage)
    deadlines = [{"key": key, "label": label, "at": getattr(case, f"deadline_{key}"), "current": key == current}
                 for key, label in deadline_labels().items() if getattr(case, f"deadline_{key}") is not None]
    opinions = [o for o in data.get("opinions") or [] if isinstance(o, dict)]
    for opinion in opinions:
        opinion["_name"] = names.get(str(opinion.get("department")), opinion.get("department"))
        opinion["_at"] = parse_iso(opinion.get("at"))
    services = [r for r in data.get("service_results") or [] if isinstance(r, dict)]
    for result in services:
        result["_name"] = names.get(str(result.get("service")), result.get("service"))
    extension = data.get("extension_request") if isinstance(data.get("extension_request"), dict) else None
    if extension:
        extension = {**extension, "_name": names.get(str(extension.get("department")), extension.get("department"))}
    returns = [r for r in data.get("returns") or [] if isinstance(r, dict)]
    for item in returns:
        item["_name"] = names.get(str(item.get("department")), item.get("department"))
    return {
        "case": case, "url": case_url(case.case_no), "stage": stage_labels().get(case.stage, case.stage),
        "category": category_labels(s).get(case.category or "", case.category or ""), "deadlines": deadlines,
        "departments": [names.get(code, code) for code in case.departments or []],
        "lead": names.get(case.lead_department or "", case.lead_department),
        "opinions": opinions, "services": services, "extension": extension, "returns": returns,
        "attachments": list_attachments(s, case.id),
    }


def _state(user: User, task: HumanTask) -> tuple[str | None, int]:
    """Why the user cannot fill the form now (a message and the status for a POST), or (None, 200)."""
    if task.status == TaskStatus.completed:
        return _("此任务已办结。"), 409
    if task.status != TaskStatus.open:
        return _("此任务已撤销，无需办理。"), 409
    if not can_work_on(user, task):
        return _("你可以查看此事项，但此任务不由你办理。"), 403
    if task.assignee_id not in (None, user.id) and not user.is_admin:
        name = task.assignee.display_name if task.assignee else ""
        return _("此任务已由%(name)s认领。", name=name), 403
    return None, 200


def _page(s: Session, task: HumanTask, form: Form | None, *, data: dict[str, Any], notice: str | None = None,
          status: int = 200, has_errors: bool = False) -> Any:
    names = {d.code: d.name for d in _departments(s)}
    body = render_template(
        "web/task.html", task=task, title=localized(task.title), case_no=task.case.case_no, form=form,
        notice=notice, has_errors=has_errors, who=who_waits(task), ctx=case_context(s, task.case, data, names),
        can=task_actions(g.user, task), can_reassign=can_reassign(g.user), next=request.path,
        **upload_limits())
    return body, status


@bp.route("/tasks/<int:task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: int) -> Any:
    """Show the task with its form; on POST convert the form, complete the task, go to the case."""
    posting = request.method == "POST"
    try:
        with page_session(write=posting) as s:
            task = get_task(s, g.user, task_id)
            spec = task_form(s, task)
            schema, ui = spec["schema"], spec["ui"]
            @functools.cache
            def data() -> dict[str, Any]:
                # what the task sees, for a page shown (an open task's restores the engine state):
                # a form submitted without errors shows no page, and restores it once, to complete it
                return task_data(s, task) if task.status == TaskStatus.open else (task.data or {})

            notice, status = _state(g.user, task)
            departments = [(d.code, d.name) for d in _departments(s)]

            def people(role: str | None) -> list[tuple[str, str]]:
                return person_choices(people_for(s, task.case.org_unit, role))

            def files(ids: list[int]) -> list[Any]:
                return case_attachments(s, task.case_id, ids)

            if notice is not None:
                return _page(s, task, None, data=data(), notice=notice, status=status if posting else 200)
            if not posting:
                values = initial_values(schema, data(), _case_values(task.case))
                form = build_form(schema, ui, values, departments=departments, file_lookup=files, people=people)
                return _page(s, task, form, data=data())

            uploads = [f for f in request.files.values() if f.filename]
            if len(uploads) > MAX_FILES:
                form = build_form(schema, ui, initial_values(schema, data(), _case_values(task.case)),
                                  departments=departments, file_lookup=files, people=people)
                return _page(s, task, form, data=data(), status=422, has_errors=True,
                             notice=_("一次最多上传 %(n)s 个文件。", n=MAX_FILES))

            def upload(name: str, storage: FileStorage) -> int:
                try:
                    return add_attachment(s, g.user, task.case, filename=storage.filename,
                                          data=read_upload(storage.stream), task=task, field=name).id
                except InvalidInput as exc:
                    raise FileRejected(upload_message(exc)) from None

            action = request.form.get(ACTION) or ""
            submitted = read_form(schema, ui, request.form, request.files, upload=upload,
                                  departments=departments, keep_blank=bool(action))
            if action:
                values = apply_action(submitted.data, action)
                form = build_form(schema, ui, values, submitted.errors, raw=submitted.raw,
                                  departments=departments, use_defaults=False, file_lookup=files,
                                  people=people)
                return _page(s, task, form, data=data())
            errors = submitted.errors
            if not errors:
                try:
                    case = complete_task(s, g.user, task_id, submitted.data)
                except InvalidInput as exc:
                    errors = friendly_errors(schema, submitted.data, exc.fields)
            else:
                errors = {**friendly_errors(schema, submitted.data), **errors}
            if errors:
                form = build_form(schema, ui, submitted.data, errors, raw=submitted.raw, departments=departments,
                                  use_defaults=False, file_lookup=files, people=people)
                return _page(s, task, form, data=data(), status=422, has_errors=True)
            stuck = task.status == TaskStatus.open
            title, case_no = localized(task.title), case.case_no
    except NotFound:
        abort(404)
    except (Forbidden, Conflict) as exc:
        with page_session() as s:
            task = s.get(HumanTask, task_id)
            if task is None:
                abort(404)
            data = task_data(s, task) if task.status == TaskStatus.open else (task.data or {})
            return _page(s, task, None, data=data, notice=problem_text(exc), status=exc.status)
    except DomainError as exc:
        flash(problem_text(exc))
        return redirect(url_for("web.task", task_id=task_id))
    if stuck:
        flash(_("已提交“%(title)s”，但流程在下一步出错，已记录为异常，管理员处理后会继续。", title=title))
    else:
        flash(_("已提交“%(title)s”（%(case_no)s）。", title=title, case_no=case_no))
    return redirect(case_url(case_no) or back_to(url_for("web.inbox")))
