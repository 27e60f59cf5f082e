"""The case list, the case page (summary, deadlines, timeline, departments' answers, diagram) and retry.

Labels of codes (stages, statuses, event kinds, ...) live here and are template globals, so the
intake and tracking pages say the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from app.bilingual import split_title
from app.cases import queries
from app.cases.models import CaseStatus, MediationCase
from app.cases.service import open_incidents, retry_case, visible_case
from app.errors import DomainError, NotFound
from app.forms.schema import FILE_FORMAT
from app.org.models import Role
from app.web import bp, login_required, page_session
from app.web.attachments import upload_limits

# --- labels -----------------------------------------------------------------------------------


def english() -> bool:
    return str(get_locale() or "zh").startswith("en")


@bp.app_template_global()
def bilingual(title: str | None) -> str:
    """The part of a bilingual "中文 English" title in the page's language."""
    zh, en = split_title(title)
    return en if english() else zh


def stage_labels() -> dict[str, str]:
    return {"intake": _("受理"), "accept": _("受理"), "settle": _("即办"), "local": _("本级调处"),
            "triage": _("分流研判"), "convene": _("部门办理"), "mediate": _("联合调解"), "reply": _("回复"),
            "callback": _("回访"), "closed": _("办结")}


def level_labels() -> dict[str, str]:
    return {"village": _("村（社区）"), "township": _("乡镇"), "county": _("县级")}


def channel_labels() -> dict[str, str]:
    return {"walk_in": _("来访（窗口）"), "hotline": _("热线电话"), "grid": _("网格员上报"), "online": _("网上反映"),
            "open311": _("外部系统")}


def urgency_labels() -> dict[str, str]:
    return {"normal": _("一般"), "urgent": _("紧急")}


def status_labels() -> dict[str, str]:
    return {"open": _("办理中"), "closed": _("已办结")}


def deadline_labels() -> dict[str, str]:
    return {"accept": _("受理时限"), "convene": _("召集时限"), "reply": _("回复时限"), "callback": _("回访时限")}


@bp.app_template_global()
def task_about(about: dict[str, Any] | None) -> str:
    """What a task is about in a few words (HumanTask.about), e.g. for a supervision: "人社局逾期未反馈"
    (a department's answer) or "召集时限已过" (a stage's deadline); empty when its process said nothing."""
    if not about:
        return ""
    department = about.get("department_name") or about.get("department")
    if department:
        return _("%(department)s逾期未反馈", department=department)
    deadline = deadline_labels().get(about.get("deadline") or "")
    return _("%(deadline)s已过", deadline=deadline) if deadline else ""


def role_labels() -> dict[str, str]:
    return {"receiver": _("受理员"), "mediator": _("调解员"), "department": _("部门"), "service": _("服务机构"),
            "leader": _("领导")}


def event_labels() -> dict[str, str]:
    return {"case_created": _("登记受理"), "task_created": _("生成待办"), "task_completed": _("办理完成"),
            "task_claimed": _("认领待办"), "task_released": _("退回待办"), "task_cancelled": _("待办撤销"),
            "timer_fired": _("时限到点"), "incident": _("运行异常"), "retry": _("重试"),
            "case_closed": _("办结销号"), "process_event": _("流程通知"), "message_received": _("收到消息"),
            "repeat_report": _("群众再次反映"), "files_added": _("添加材料")}


_LABEL_TABLES = {"stage": stage_labels, "level": level_labels, "channel": channel_labels, "urgency": urgency_labels,
                 "status": status_labels, "deadline": deadline_labels, "event": event_labels, "role": role_labels}


@bp.app_template_global()
def code_label(kind: str, code: Any) -> str:
    """The readable name of a code: code_label('stage', 'triage') -> 分流研判."""
    if code is None or code == "":
        return ""
    # a page shows dozens of codes: each table is worded once per request (the language cannot change)
    cache: dict[str, dict[str, str]] = g.setdefault("code_labels", {})
    if kind not in cache:
        cache[kind] = _LABEL_TABLES[kind]()
    return cache[kind].get(str(code), str(code))


@bp.app_template_global()
def endpoint_url(endpoint: str, value: Any) -> str | None:
    """URL of another area's page that takes one argument (e.g. `web.task`), or None if it is not there."""
    if endpoint not in current_app.view_functions:
        return None
    for rule in current_app.url_map.iter_rules(endpoint):
        if len(rule.arguments) == 1:
            return url_for(endpoint, **{next(iter(rule.arguments)): value})
    return None


def category_labels(session: Session) -> dict[str, str]:
    forms_dir = current_app.config["ONESTOP"].forms_dir
    return {c.code: (c.en if english() else c.zh) for c in queries.catalogue(session, forms_dir)}


def format_value(schema: dict[str, Any], value: Any, files: Mapping[str, str] | None = None) -> str:
    """A form value as a person reads it, using the choice titles of its JSON Schema property; a file
    field's value (a file's id) as the file's name, from `files` (id as text -> name)."""
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if schema.get("format") == FILE_FORMAT and not isinstance(value, list | dict):
        return (files or {}).get(str(value)) or _("文件 %(id)s", id=value)
    for option in schema.get("oneOf") or schema.get("anyOf") or []:
        if isinstance(option, dict) and option.get("const") == value:
            return bilingual(option.get("title") or str(value))
    if isinstance(value, list):
        items = schema.get("items") or {}
        return "；".join(format_value(items, v, files) for v in value)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        return " ".join(format_value(props.get(k) or {}, v, files) for k, v in value.items() if v not in (None, ""))
    return "" if value is None else str(value)


def form_details(schema: dict[str, Any] | None, data: dict[str, Any],
                 files: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(field title, value) of submitted form data, in the form's order; fields without a schema by key;
    files by name (`files`: id as text -> name)."""
    props = (schema or {}).get("properties") or {}
    keys = [k for k in props if k in data] + [k for k in data if k not in props]
    rows = []
    for key in keys:
        value = data[key]
        if value is None or value == "" or value == []:
            continue
        prop = props.get(key) or {}
        rows.append((bilingual(prop.get("title") or key), format_value(prop, value, files)))
    return rows


# --- scope --------------------------------------------------------------------------------------

def visible(session: Session, case_no: str) -> MediationCase:
    """The case if the logged-in user may see it, else 404 (not revealing that it exists)."""
    try:
        return visible_case(session, g.user, case_no)
    except NotFound:
        abort(404)


# --- the list -----------------------------------------------------------------------------------

def _filters() -> queries.CaseFilters:
    args = request.args
    try:
        page = max(1, int(args.get("page", "1")))
    except ValueError:
        page = 1
    return queries.CaseFilters(status=args.get("status", "") if args.get("status") in ("open", "closed") else "",
                               stage=args.get("stage", "") if args.get("stage") in queries.STAGES else "",
                               org_unit=args.get("org_unit", "")[:64], overdue=args.get("overdue") == "1",
                               q=args.get("q", "").strip()[:100], page=page)


@bp.get("/cases")
@login_required
def cases() -> Any:
    """The cases the user may see, filtered and paginated."""
    filters = _filters()
    with page_session() as s:
        result = queries.list_cases(s, g.user, filters)
        args = {k: v for k, v in request.args.items() if k != "page" and v}
        return render_template("web/cases.html", result=result, filters=filters, args=args,
                               places=queries.places_for(s, g.user), stages=queries.STAGES,
                               categories=category_labels(s))


# --- the case page ------------------------------------------------------------------------------

def _timeline(entries: list[queries.Event], forms: dict[str, dict[str, Any]], departments: dict[str, str],
              files: Mapping[str, str]) -> list[dict[str, Any]]:
    """Timeline rows: what happened (readable label), when, who, and the answers given (files by name)."""
    rows = []
    for entry in entries:
        e = entry.event
        data = e.data or {}
        details: list[tuple[str, str]] = []
        what = e.message
        if e.kind in ("task_created", "task_completed", "task_claimed", "task_released", "task_cancelled",
                      "timer_fired", "process_event"):
            what = bilingual(e.message or e.task_name or "")
        if data.get("department"):
            details.append((_("部门"), departments.get(data["department"], data["department"])))
        if e.kind == "task_created" and data.get("due_at"):
            details.append((_("办理时限"), data["due_at"].replace("T", " ")[:16]))
        elif e.kind == "task_completed":
            details += form_details(forms.get(e.task_name or ""), data.get("data") or {}, files)
        elif e.kind in ("case_created", "repeat_report") and data.get("channel"):
            details.append((_("渠道"), code_label("channel", data["channel"])))
            if e.kind == "repeat_report" and data.get("description"):
                details.append((_("诉求"), str(data["description"])))
        rows.append({"at": e.at, "kind": e.kind, "label": code_label("event", e.kind), "what": what,
                     "actor": entry.actor, "details": details})
    return rows


def _answers(session: Session, case: MediationCase, entries: list[queries.Event],
             forms: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The departments' answers with the action's title from the form (e.g. 退单)."""
    rows = []
    for answer in queries.department_answers(session, case, entries):
        schema = (forms.get(answer.task) or {}).get("properties") or {}
        action_key = "action" if "action" in answer.data else "service_outcome"
        rows.append({"department": answer.department_name, "at": answer.at, "actor": answer.actor,
                     "action": format_value(schema.get(action_key) or {}, answer.action) if answer.action else "",
                     "text": answer.text})
    return rows


def _parties(entries: list[queries.Event]) -> list[dict[str, Any]]:
    """The parties recorded at intake (the intake form's `parties`), from the latest intake."""
    for entry in reversed(entries):
        e = entry.event
        parties = ((e.data or {}).get("data") or {}).get("parties") if e.kind == "task_completed" else None
        if isinstance(parties, list):
            return [p for p in parties if isinstance(p, dict)]
    return []


def _is_reporter(case: MediationCase, party: dict[str, Any]) -> bool:
    """The party is the citizen who brought the matter (same name, and the same phone or none)."""
    return party.get("name") == case.citizen_name and party.get("phone") in (None, "", case.citizen_phone)


def party_roles() -> dict[str, str]:
    return {"applicant": _("申请人"), "respondent": _("被申请人"), "other": _("其他")}


@bp.get("/cases/<case_no>")
@login_required
def case(case_no: str) -> Any:
    """One case: summary, parties, deadlines, timeline, departments' answers, tasks, diagram."""
    with page_session() as s:
        found = visible(s, case_no)
        entries = queries.events(s, found)
        departments = queries.department_names(s)
        forms = queries.task_forms(s, found)
        attachments = queries.attachments(s, found)
        parties = _parties(entries)
        return render_template(
            "web/case.html", case=found, categories=category_labels(s), deadlines=queries.deadlines(found),
            timeline=_timeline(entries, forms, departments, {str(a.id): a.filename for a in attachments or []}),
            answers=_answers(s, found, entries, forms),
            # the reporter is listed once, with the roles the intake gave them as a party
            reporter_roles=[p.get("role") for p in parties if _is_reporter(found, p)],
            parties=[p for p in parties if not _is_reporter(found, p)], party_roles=party_roles(),
            tasks=queries.open_tasks(s, found),
            incidents=open_incidents(s, found), attachments=attachments,
            can_add_files=found.status != CaseStatus.closed, **upload_limits(),
            can_retry=g.user.has_role(Role.mediator, Role.leader, Role.admin),
            lead=departments.get(found.lead_department or "", found.lead_department),
            dispatched=[departments.get(c, c) for c in found.departments or []])


@bp.get("/cases/<case_no>/diagram.bpmn")
@login_required
def case_diagram(case_no: str) -> Any:
    """The BPMN XML of the process version the case runs on."""
    with page_session() as s:
        xml = queries.process_xml(s, visible(s, case_no))
    if not xml:
        abort(404)
    return Response(xml, mimetype="application/xml", headers={"Cache-Control": "private, max-age=3600"})


@bp.get("/cases/<case_no>/diagram-state.json")
@login_required
def case_diagram_state(case_no: str) -> Any:
    """Element ids of the case's diagram grouped as finished / active / overdue (and failed)."""
    with page_session() as s:
        state = queries.diagram_state(s, visible(s, case_no))
    response = jsonify(state)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/cases/<case_no>/retry")
@login_required
def case_retry(case_no: str) -> Any:
    """Run the failed step of a case again (mediators and leaders)."""
    try:
        with page_session(write=True) as s:
            visible(s, case_no)
            if not g.user.has_role(Role.mediator, Role.leader, Role.admin):
                abort(403)
            retried = retry_case(s, g.user, case_no)
            failed = retried.has_incident
    except DomainError as exc:
        flash(_("重试失败：%(m)s", m=exc.message))
    else:
        flash(_("重试后仍有异常，请联系流程管理员。") if failed else _("已重试，流程继续运行。"))
    return redirect(url_for("web.case", case_no=case_no))
