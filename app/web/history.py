"""Version history in the studio: every version with its author, time and note, a readable diff against the
version before, roll back (publish an old version again) and export as files for git.

Designers, leaders and admins read it; who may roll back is who may publish the file (designers for
processes and forms, leaders too for decisions). Everyone else gets 403.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.processes.service import BundleInvalid
from app.studio import drafts, history
from app.studio.diff import FileDiff
from app.web import bp, login_required, page_session


def kind_labels() -> dict[str, str]:
    return {"process": _("流程"), "decision": _("决策表"), "form": _("表单")}


def element_labels() -> dict[str, str]:
    """Names of BPMN element types, DMN parts and form field types as the diff shows them."""
    return {
        "process": _("流程"), "subProcess": _("子流程"), "transaction": _("事务子流程"), "callActivity": _("调用活动"),
        "task": _("任务"), "userTask": _("用户任务"), "scriptTask": _("脚本任务"), "serviceTask": _("服务任务"),
        "businessRuleTask": _("业务规则任务"), "manualTask": _("人工任务"), "sendTask": _("发送任务"),
        "receiveTask": _("接收任务"), "startEvent": _("开始事件"), "endEvent": _("结束事件"),
        "boundaryEvent": _("边界事件"), "intermediateCatchEvent": _("中间捕获事件"),
        "intermediateThrowEvent": _("中间抛出事件"), "exclusiveGateway": _("排他网关"),
        "parallelGateway": _("并行网关"), "inclusiveGateway": _("包容网关"), "eventBasedGateway": _("事件网关"),
        "sequenceFlow": _("连线"), "messageFlow": _("消息流"), "lane": _("泳道"), "participant": _("池"),
        "collaboration": _("协作"), "escalation": _("升级定义"), "message": _("消息定义"), "error": _("错误定义"),
        "signal": _("信号定义"), "dataObject": _("数据对象"), "dataObjectReference": _("数据对象引用"),
        "decision": _("决策"), "input": _("输入列"), "output": _("输出列"), "rule": _("规则"),
        "string": _("文字"), "integer": _("整数"), "number": _("数字"), "boolean": _("是/否"),
        "object": _("分组"), "array": _("列表"), "field": _("字段提示"), "order": _("字段顺序"),
        "option": _("表单选项"),
    }


def attr_labels() -> dict[str, str]:
    """Names of the attributes a diff can list."""
    return {
        "name": _("名称"), "type": _("类型"), "lane": _("泳道（角色）"), "form": _("表单"),
        "ui_form": _("表单界面提示"),
        "due": _("办理时限"), "script": _("脚本"), "pre_script": _("前置脚本"),
        "post_script": _("后置脚本"),
        "condition": _("条件"), "timer": _("定时器"), "event": _("事件定义"), "called_element": _("调用的流程"),
        "called_decision": _("调用的决策"), "multi_instance": _("多实例"), "source": _("起点"), "target": _("终点"),
        "default": _("默认值"), "attached_to": _("附着于"), "cancel_activity": _("中断任务"),
        "documentation": _("说明"), "executable": _("可执行"), "process": _("流程"), "code": _("代码"),
        "message": _("消息"), "interrupting": _("中断"), "title": _("标题"), "required": _("必填"),
        "options": _("选项"), "format": _("格式"), "description": _("描述"), "rules": _("其他约束"),
        "hit_policy": _("命中策略"), "label": _("标签"), "expression": _("输入表达式"), "type_ref": _("数据类型"),
        "output_name": _("输出变量"), "value": _("值"), "ui:widget": _("控件"), "ui:options": _("控件选项"),
        "ui:title": _("标题"), "ui:help": _("帮助文字"), "ui:placeholder": _("占位提示"), "ui:order": _("字段顺序"),
        "ui:submitButtonOptions": _("提交按钮"),
    }


def op_labels() -> dict[str, str]:
    return {"added": _("新增"), "removed": _("删除"), "changed": _("修改")}


def shown_value(attr: str, value: str) -> str:
    """A diff value in words: the "required" mark as 必填/选填, booleans as 是/否."""
    if attr == "required":
        return {"true": _("必填"), "false": _("选填")}.get(value, value)
    if attr in ("cancel_activity", "executable", "interrupting"):
        return {"true": _("是"), "false": _("否")}.get(value, value)
    return value


def _require_reader() -> None:
    if g.user is None or not history.can_read(g.user):
        abort(403)


def _subject_file(versions: list[history.VersionInfo]) -> str:
    return versions[0].filename if versions else ""


def _diff_context(diff: FileDiff) -> dict[str, Any]:
    grouped: dict[str, list[Any]] = {"added": [], "removed": [], "changed": []}
    for change in diff.changes:
        grouped[change.op].append(change)
    return {"diff": diff, "grouped": grouped, "counts": diff.counts()}


def _editor_link(kind: str, ident: str, filename: str) -> str | None:
    """The editor of the subject, when that page exists (the modeler and decision editor live elsewhere)."""
    from app.web.studio import studio_link

    endpoint = {"process": "web.studio_process", "decision": "web.studio_decision", "form": "web.studio_form"}[kind]
    key = {"process": "process_id", "decision": "decision_id", "form": "filename"}[kind]
    if kind == "form" and filename.endswith((".ui.json", "-uischema.json")):
        from app.web.forms_editor import schema_name_for

        return studio_link(endpoint, filename=schema_name_for(filename))
    return studio_link(endpoint, **{key: ident, "filename": filename})


@bp.get("/studio/history/<kind>/<ident>")
@login_required
def studio_history(kind: str, ident: str) -> Any:
    """Every version of a process, decision or form, and the readable diff of one of them (?v=N)."""
    if kind not in history.KINDS:
        abort(404)
    with page_session() as s:
        _require_reader()
        try:
            versions = history.list_versions(s, kind, ident)
        except NotFound:
            abort(404)
        newest = versions[0].version
        selected = request.args.get("v", type=int) or newest
        if not any(v.version == selected for v in versions):
            abort(404)
        diff = history.version_diff(s, kind, ident, selected)
        filename = _subject_file(versions)
        can_rollback = drafts.can_edit(g.user, filename)
        ui_file = None
        if kind == "form" and not filename.endswith((".ui.json", "-uischema.json")):
            from app.web.forms_editor import ui_name_for

            ui_name = ui_name_for(s, filename)
            try:
                history.latest_version(s, "form", ui_name)
                ui_file = ui_name
            except NotFound:
                ui_file = None
        return render_template(
            "web/history.html", kind=kind, ident=ident, versions=versions, selected=selected, newest=newest,
            kinds=kind_labels(), elements=element_labels(), attrs=attr_labels(), ops=op_labels(),
            shown=shown_value, can_rollback=can_rollback, filename=filename, ui_file=ui_file,
            editor=_editor_link(kind, ident, filename), studio_home="web.studio" in current_app.view_functions,
            **_diff_context(diff))


@bp.post("/studio/history/<kind>/<ident>/rollback")
@login_required
def studio_history_rollback(kind: str, ident: str) -> Any:
    """Publish an old version again as the newest one (the form posts `version` and a `note`)."""
    if kind not in history.KINDS:
        abort(404)
    version = request.form.get("version", type=int)
    note = (request.form.get("note") or "").strip()
    back = url_for("web.studio_history", kind=kind, ident=ident)
    if not version:
        flash(_("请选择要回滚到的版本。"))
        return redirect(back)
    try:
        with page_session(write=True) as s:
            _require_reader()
            get_locale()  # settle the language while the user is loaded: a failed roll back detaches them
            result = history.rollback(s, g.user, kind, ident, version, note=note)
            created = [v for k, i, v in _created(result) if k == kind and i == ident]
    except Forbidden:
        abort(403)
    except NotFound:
        abort(404)
    except Conflict:
        flash(_("第 %(v)s 版与当前最新版本内容相同，无需回滚。", v=version))
        return redirect(back)
    except BundleInvalid as exc:
        flash(_("无法回滚：旧版本未通过当前的发布校验（%(problems)s）。",
                problems="; ".join(f"{name}: {msg}" for name, msg in exc.fields.items())))
        return redirect(back)
    except DomainError as exc:
        flash(_("无法回滚：%(message)s", message=exc.message))
        return redirect(back)
    new_version = created[0] if created else None
    flash(_("已将第 %(old)s 版重新发布为第 %(new)s 版。", old=version, new=new_version))
    return redirect(url_for("web.studio_history", kind=kind, ident=ident, v=new_version))


def _created(result: Any) -> list[tuple[str, str, int]]:
    return ([("process", p.process_id, p.version) for p in result.processes]
            + [("decision", d.decision_id, d.version) for d in result.decisions]
            + [("form", f.filename, f.version) for f in result.forms])


def _zip_response(name: str, data: bytes) -> Response:
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/studio/history/<kind>/<ident>/v<int:version>/export.zip")
@login_required
def studio_history_export(kind: str, ident: str, version: int) -> Any:
    """The files the version was published with, laid out like the repository (processes/, forms/)."""
    if kind not in history.KINDS:
        abort(404)
    with page_session() as s:
        _require_reader()
        try:
            name, data = history.export_version(s, kind, ident, version)
        except NotFound:
            abort(404)
    return _zip_response(name, data)


@bp.get("/studio/export/latest.zip")
@login_required
def studio_export_latest() -> Any:
    """The newest version of everything as one bundle for git and `onestop deploy processes forms`."""
    with page_session() as s:
        _require_reader()
        name, data = history.export_latest(s)
    return _zip_response(name, data)
