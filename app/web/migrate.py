"""Moving running cases to another version of their process (studio): check first, then move.

`/studio/migrate/<process_id>` lets a designer pick the version the cases run on and the version to move
them to; the check (a dry run) lists every open case with whether it can move and, if not, which step
stops it and why. "Move N cases" (after an explicit confirmation) moves those that can, each on its own,
and every move shows on the case's timeline and in the audit log. A single case can be moved from the
same table or from the case page. Only designers and admins see these pages; everyone else gets 403.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.cases.models import CaseStatus, MediationCase
from app.engine.migration import Blocker
from app.errors import DomainError
from app.studio import migration
from app.web import bp, database, login_required, page_session
from app.web.cases import bilingual


def aspect_labels() -> dict[str, str]:
    """What can change about a step, as the reasons name it."""
    return {"form": _("表单"), "lane": _("泳道（角色）"), "script": _("脚本"), "timer": _("定时器"),
            "event": _("事件定义"), "multi_instance": _("多实例设置"), "called_element": _("调用的流程"),
            "decision": _("决策表"), "data": _("数据映射"), "conditions": _("分支条件"), "gateway": _("网关设置"),
            "due": _("办理时限"), "timers": _("附加的定时器"), "join": _("要汇合的分支"), "settings": _("扩展属性"),
            "definition": _("定义")}


def state_labels() -> dict[str, str]:
    """How far a case got with a step."""
    return {"ready": _("待办中"), "waiting": _("等待中"), "started": _("进行中"), "failed": _("出错"),
            "completed": _("已完成"), "cancelled": _("已取消"), "next": _("即将开始")}


def reason(blocker: Blocker, to_version: int) -> str:
    """Why a case cannot move, in the reader's language."""
    name = bilingual(blocker.name) or blocker.step
    step = name if name == blocker.step else f"{name}{_('（')}{blocker.step}{_('）')}"
    state = state_labels().get(blocker.state, blocker.state)
    if blocker.kind == "removed":
        return _("第 %(v)s 版删除了环节「%(step)s」，而本事项已经到过这一环节（%(state)s）。",
                 v=to_version, step=step, state=state)
    if blocker.kind == "type_changed":
        return _("第 %(v)s 版把环节「%(step)s」换成了另一种元素（%(detail)s），而本事项已经到过这一环节（%(state)s）。",
                 v=to_version, step=step, detail=blocker.detail, state=state)
    if blocker.kind == "changed":
        labels = aspect_labels()
        what = _("、").join(labels.get(a, a) for a in blocker.aspects)
        return _("环节「%(step)s」正在办理（%(state)s），第 %(v)s 版改动了它的%(what)s。",
                 step=step, state=state, v=to_version, what=what)
    if blocker.kind == "process_missing":
        return _("本事项正在环节「%(step)s」运行子流程 %(process)s，第 %(v)s 版不再调用它。",
                 step=step, process=blocker.detail, v=to_version)
    return _("流程引擎无法迁移本事项：%(detail)s", detail=blocker.detail)


def _require_migrator() -> None:
    if not migration.can_migrate(g.user):
        abort(403)


def _int_arg(value: Any) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


@bp.get("/studio/migrate/<process_id>")
@login_required
def studio_migrate(process_id: str) -> Any:
    """Pick the versions; with both picked, the check: every open case, whether it can move and why not."""
    with page_session(write=True) as s:  # a check may pin the target version's files (a content-addressed row)
        _require_migrator()
        try:
            versions = migration.process_versions(s, process_id)
        except DomainError:
            abort(404)
        numbers = [pv.version for pv, _count in versions]
        newest = numbers[0]
        with_cases = [pv.version for pv, count in versions if count and pv.version != newest]
        source = _int_arg(request.args.get("from")) or (with_cases[0] if with_cases else None)
        target = _int_arg(request.args.get("to")) or newest
        report = error = None
        if source is not None and "from" in request.args:
            try:
                report = migration.migrate_process(s, g.user, process_id, source, target, dry_run=True)
            except DomainError as exc:
                error = "; ".join(exc.fields.values()) or exc.message
        return render_template("web/migrate.html", process_id=process_id, versions=versions, source=source,
                               target=target, report=report, error=error, reason=reason,
                               movable=[c for c in report.cases if c.can_move] if report else [])


@bp.post("/studio/migrate/<process_id>")
@login_required
def studio_migrate_run(process_id: str) -> Any:
    """Move every case of the chosen version that can move (after the confirmation box was ticked)."""
    source, target = _int_arg(request.form.get("from")), _int_arg(request.form.get("to"))
    back = url_for("web.studio_migrate", process_id=process_id, **({"from": source, "to": target} if source else {}))
    if source is None or target is None:
        flash(_("请选择迁出和迁入的版本。"))
        return redirect(back)
    if request.form.get("confirm") != "yes":
        flash(_("请先勾选确认，再迁移。"))
        return redirect(back)
    try:
        with page_session(write=True) as s:
            _require_migrator()
            report = migration.migrate_process(s, g.user, process_id, source, target, dry_run=False)
    except DomainError as exc:
        flash(_("迁移失败：%(m)s", m="; ".join(exc.fields.values()) or exc.message))
        return redirect(back)
    counts = report.counts
    moved = [c.case_no for c in report.cases if c.moved]
    flash(_("已把 %(n)s 件事项从第 %(a)s 版迁移到第 %(b)s 版：%(list)s", n=counts["moved"], a=source, b=target,
            list=_("、").join(moved) or _("无")))
    if counts["failed"]:
        failed = [f"{c.case_no}{_('（')}{c.error}{_('）')}" for c in report.cases if c.error]
        flash(_("%(n)s 件事项迁移时出错，保持原样：%(list)s", n=counts["failed"], list=_("、").join(failed)))
    return redirect(back)


@bp.post("/studio/migrate/case/<case_no>")
@login_required
def studio_migrate_case(case_no: str) -> Any:
    """Move one case to the chosen version; back to where the button was (the table or the case page)."""
    target = _int_arg(request.form.get("to"))
    back = request.form.get("next") or ""
    if not back.startswith("/") or back.startswith("//"):
        back = url_for("web.case", case_no=case_no)
    if target is None:
        flash(_("请选择迁入的版本。"))
        return redirect(back)
    try:
        with page_session(write=True) as s:
            _require_migrator()
            report = migration.migrate_case(s, g.user, case_no, target, dry_run=False)
    except DomainError as exc:
        if exc.status == 404:
            abort(404)
        flash(_("迁移失败：%(m)s", m="; ".join(exc.fields.values()) or exc.message))
        return redirect(back)
    [row] = report.cases
    if row.moved:
        flash(_("事项 %(c)s 已从第 %(a)s 版迁移到第 %(b)s 版。", c=case_no, a=report.from_version, b=target))
    elif row.error:
        flash(_("事项 %(c)s 迁移时出错，保持原样：%(e)s", c=case_no, e=row.error))
    else:
        flash(_("事项 %(c)s 不能迁移到第 %(b)s 版：%(why)s", c=case_no, b=target,
                why=" ".join(reason(b, target) for b in row.blockers)))
    return redirect(back)


@bp.app_template_global()
def migrate_offer(case: MediationCase) -> dict[str, Any] | None:
    """For the case page: the newest version of the case's process when it is newer and the reader may move
    cases (designers, admins), else None."""
    user = g.get("user")
    if not migration.can_migrate(user) or case.status != CaseStatus.open:
        return None
    with database().unit_of_work(write=False) as s:
        versions = migration.process_versions(s, case.process_id)
    newest = versions[0][0].version
    if newest == case.process_version:
        return None
    return {"to": newest, "from": case.process_version,
            "check": url_for("web.studio_migrate", process_id=case.process_id, **{"from": case.process_version,
                                                                                 "to": newest})}
