"""The audit log page (审计日志): every publish, rule change, roll back and case migration, newest first.

Designers, leaders and admins read it, filtered by action and by subject. A process, decision or form
as the subject also finds the publishes that created its versions (those are recorded against their
deployment, with "mediation v3" in the summary).
"""

from __future__ import annotations

import json
from typing import Any

from flask import abort, g, render_template, request
from flask_babel import gettext as _
from flask_babel import pgettext
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.org.models import User
from app.studio import history
from app.web import bp, login_required, page_session

PAGE_SIZE = 50
SUBJECT_KINDS = ("process", "decision", "form", "deployment", "case")


def action_labels() -> dict[str, str]:
    return {"publish": _("发布"), "rollback": _("回滚"), "decision_change": _("修改决策表"),
            "migrate": _("迁移事项"), "draft_save": _("保存草稿"), "draft_discard": _("放弃草稿")}


def subject_labels() -> dict[str, str]:
    return {"process": _("流程"), "decision": _("决策表"), "form": _("表单"), "deployment": _("发布批次"),
            "case": pgettext("one case", "事项")}


def detail_labels() -> dict[str, str]:
    return {"note": _("版本说明"), "versions": _("版本"), "from_version": _("回滚到的版本"),
            "replaced_version": _("被替换的版本"), "new_version": _("新版本"), "deployment": _("发布批次"),
            "file": _("文件"), "from": _("原版本"), "to": _("新版本"), "cases": _("事项"), "moved": _("已迁移"),
            "skipped": _("未迁移"), "dry_run": _("试运行")}


def detail_text(value: Any) -> str:
    """A detail value in words: version lists as "流程 mediation v3", other structures as compact JSON."""
    if isinstance(value, list) and value and all(isinstance(v, dict) and {"kind", "id", "version"} <= v.keys()
                                                 for v in value):
        kinds = subject_labels()
        return "\n".join(f"{kinds.get(v['kind'], v['kind'])} {v['id']} v{v['version']}" for v in value)
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, str | int | float) or value is None:
        return "" if value is None else str(value)
    return json.dumps(value, ensure_ascii=False)


def _query(action: str, kind: str, ident: str) -> Any:
    query = select(AuditEntry, User).outerjoin(User, User.id == AuditEntry.actor_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if kind and ident:
        direct = and_(AuditEntry.subject_kind == kind, AuditEntry.subject_id == ident)
        if kind in history.KINDS:
            # publishes are recorded against their deployment, with "<id> v<N>" in the summary
            escaped = ident.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            in_summary = and_(AuditEntry.subject_kind == "deployment",
                              or_(AuditEntry.summary.like(f"{escaped} v%", escape="\\"),
                                  AuditEntry.summary.like(f"%, {escaped} v%", escape="\\")))
            query = query.where(or_(direct, in_summary))
        else:
            query = query.where(direct)
    elif kind:
        query = query.where(AuditEntry.subject_kind == kind)
    elif ident:
        query = query.where(AuditEntry.subject_id == ident)
    return query


def _actions(s: Session) -> list[str]:
    known = list(action_labels())
    stored = [a for a in s.scalars(select(AuditEntry.action).distinct()) if a not in known]
    return known + sorted(stored)


@bp.get("/studio/audit")
@login_required
def studio_audit() -> Any:
    """The audit log, newest first, filtered by ?action=, ?subject_kind= and ?subject_id=."""
    action = (request.args.get("action") or "").strip()[:64]
    kind = (request.args.get("subject_kind") or "").strip()[:32]
    ident = (request.args.get("subject_id") or "").strip()[:255]
    page = max(1, request.args.get("page", 1, type=int) or 1)
    with page_session() as s:
        if g.user is None or not history.can_read(g.user):
            abort(403)
        query = _query(action, kind, ident)
        total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = s.execute(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                         .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
        pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
        args = {k: v for k, v in (("action", action), ("subject_kind", kind), ("subject_id", ident)) if v}
        return render_template(
            "web/audit.html", rows=rows, total=total, page=page, pages=pages, args=args,
            filters={"action": action, "subject_kind": kind, "subject_id": ident}, actions=_actions(s),
            action_names=action_labels(), subjects=subject_labels(), subject_kinds=SUBJECT_KINDS,
            detail_names=detail_labels(), detail_text=detail_text, history_kinds=history.KINDS)
