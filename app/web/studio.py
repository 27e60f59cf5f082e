"""The governance studio (设计): the home page of what can be edited, and the BPMN process modeler.

Designers change processes and forms, leaders read them (and edit decision tables elsewhere); everyone
else gets 403. The modeler (bpmn-js, our own properties panel in `static/modeler.js`) keeps edits as a
draft of the process file (`app.studio.drafts`) and publishes it through the same validation as
`onestop deploy`, so a bundle with any problem publishes nothing and every problem is shown with its
file and line. The editors of decision tables and forms and the version history live in other modules;
the home page links to them only when their endpoints exist.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from flask import abort, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.routing import BuildError

from app.errors import DomainError, Forbidden, InvalidInput, NotFound
from app.org.models import User
from app.processes.models import Artifact, DecisionVersion, Deployment, FormVersion, ProcessVersion
from app.processes.service import BundleInvalid, list_latest_processes
from app.studio import drafts
from app.studio.models import Draft
from app.web import bp, localtime, login_required, page_session

#: who may open the studio at all (designers edit processes and forms, leaders read them)
STUDIO_ROLES = ("designer", "leader", "admin")
#: the roles a lane may be named after, in the order the pick list shows them
LANE_ROLE_ORDER = ("receiver", "mediator", "department", "service", "leader")
PROCESS_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]{1,62}")
MAX_NOTE = 500


def _english() -> bool:
    return str(get_locale() or "zh").startswith("en")


def _require_studio(user: User | None) -> User:
    if user is None or not user.has_role(*STUDIO_ROLES):
        abort(403)
    get_locale()  # settle the language while the user is loaded: errors are worded after a rollback
    return user


def studio_link(endpoint: str, **candidates: Any) -> str | None:
    """A link to another studio page if that page exists, filling its URL parameters from `candidates`.

    The decision editor, form editor and history are built separately; their rules are read from the
    URL map, so a parameter named e.g. `decision_id` or `filename` is filled without guessing. A rule
    with one parameter we have no value for gets the first candidate (the identifier of the thing).
    """
    if endpoint not in current_app.view_functions:
        return None
    primary = next(iter(candidates.values()), None)
    for rule in current_app.url_map.iter_rules(endpoint):
        args = {name: candidates[name] for name in rule.arguments if name in candidates}
        unknown = [name for name in rule.arguments if name not in candidates]
        if len(unknown) == 1 and primary is not None:
            args[unknown[0]] = primary
        elif unknown:
            continue
        try:
            return url_for(endpoint, **args)
        except BuildError:
            continue
    return None


@dataclass
class ProcessRow:
    process_id: str
    name: str
    filename: str
    version: int | None
    published_at: datetime | None
    published_by: str
    note: str
    draft: Draft | None
    draft_by: str
    stale: bool
    can_edit: bool


@dataclass
class FileRow:
    ident: str
    name: str
    filename: str
    version: int
    published_at: datetime | None
    published_by: str
    draft: Draft | None
    can_edit: bool
    link: str | None
    history: str | None = None
    #: files edited together with this one (a form's UI hints)
    companions: list[FileRow] = field(default_factory=list)


def _user_names(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: (u.display_name or u.username) for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def _latest(session: Session, model: Any, key: Any) -> list[Any]:
    newest = select(key.label("k"), func.max(model.version).label("v")).group_by(key).subquery()
    return list(session.scalars(select(model).join(newest, (key == newest.c.k) & (model.version == newest.c.v))
                                .order_by(key)))


def process_rows(session: Session, user: User) -> list[ProcessRow]:
    """Every process (newest version, who published it and when, whether a draft waits), then new files."""
    drafts_by_file = {d.filename: d for d in drafts.list_drafts(session)}
    latest = list_latest_processes(session)
    deployments = {d.id: d for d in session.scalars(
        select(Deployment).where(Deployment.id.in_({pv.deployment_id for pv in latest} or {0})))}
    filenames = {a.id: a.filename for a in session.scalars(
        select(Artifact).where(Artifact.id.in_({pv.artifact_id for pv in latest} or {0})))}
    names = _user_names(session, {d.created_by_id for d in deployments.values()}
                        | {d.updated_by_id for d in drafts_by_file.values()})
    rows: list[ProcessRow] = []
    seen_files: set[str] = set()
    for pv in latest:
        dep = deployments[pv.deployment_id]
        filename = filenames[pv.artifact_id]
        seen_files.add(filename)
        draft = drafts_by_file.get(filename)
        rows.append(ProcessRow(
            process_id=pv.process_id, name=pv.name or pv.process_id, filename=filename, version=pv.version,
            published_at=dep.created_at, published_by=names.get(dep.created_by_id or 0, _("系统")), note=dep.note,
            draft=draft, draft_by=names.get(draft.updated_by_id or 0, "") if draft else "",
            stale=bool(draft and drafts.stale(session, draft)), can_edit=drafts.can_edit(user, filename)))
    published_files = set(session.scalars(select(Artifact.filename).where(Artifact.kind == "bpmn").distinct()))
    for filename, draft in drafts_by_file.items():
        if draft.kind != "bpmn" or filename in seen_files or filename in published_files:
            continue
        process_id = filename.rsplit(".", 1)[0]
        rows.append(ProcessRow(
            process_id=process_id, name=_draft_process_name(draft.content) or process_id, filename=filename,
            version=None, published_at=None, published_by="", note="", draft=draft,
            draft_by=names.get(draft.updated_by_id or 0, ""), stale=False,
            can_edit=drafts.can_edit(user, filename)))
    return rows


def _draft_process_name(text: str) -> str:
    found = re.search(r"<(?:\w+:)?process\b[^>]*\bname=\"([^\"]*)\"", text)
    return found.group(1) if found else ""


def decision_rows(session: Session, user: User) -> list[FileRow]:
    drafts_by_file = {d.filename: d for d in drafts.list_drafts(session)}
    latest = _latest(session, DecisionVersion, DecisionVersion.decision_id)
    return _file_rows(session, user, latest, drafts_by_file, lambda dv: dv.decision_id, lambda dv: dv.name,
                      "web.studio_decision", "decision_id", "decision")


def form_rows(session: Session, user: User) -> list[FileRow]:
    """One row per form; its file of UI hints (triage.ui.json) rides along in the row of triage.json."""
    drafts_by_file = {d.filename: d for d in drafts.list_drafts(session)}
    latest = _latest(session, FormVersion, FormVersion.filename)
    titles = _form_titles(session, [fv.artifact_id for fv in latest if schema_of(fv.filename) == fv.filename])
    rows = _file_rows(session, user, latest, drafts_by_file, lambda fv: fv.filename,
                      lambda fv: titles.get(fv.artifact_id), "web.studio_form", "filename", "form")
    schemas = {row.filename: row for row in rows if schema_of(row.filename) == row.filename}
    result = []
    for row in rows:
        owner = schemas.get(schema_of(row.filename))
        if owner is not None and owner is not row:
            owner.companions.append(row)
        else:
            result.append(row)
    return result


def _form_titles(session: Session, artifact_ids: list[int]) -> dict[int, str]:
    """{artifact id: the form's title} for forms whose JSON Schema has one: a designer looks for
    "受理登记", not intake.json."""
    titles = {}
    for artifact_id, content in session.execute(select(Artifact.id, Artifact.content)
                                                .where(Artifact.id.in_(artifact_ids or [0]))):
        try:
            title = json.loads(content).get("title")
        except (ValueError, AttributeError):
            continue
        if isinstance(title, str) and title.strip():
            titles[artifact_id] = title.strip()
    return titles


def schema_of(filename: str) -> str:
    """The form a file of UI hints belongs to (triage.ui.json -> triage.json); its editor edits both."""
    for suffix in (".ui.json", "-uischema.json"):
        if filename.endswith(suffix):
            return filename[: -len(suffix)] + ".json"
    return filename


def _file_rows(session: Session, user: User, latest: list[Any], drafts_by_file: dict[str, Draft],
               ident: Any, name: Any, endpoint: str, key: str, kind: str) -> list[FileRow]:
    deployments = {d.id: d for d in session.scalars(
        select(Deployment).where(Deployment.id.in_({v.deployment_id for v in latest} or {0})))}
    filenames = {a.id: a.filename for a in session.scalars(
        select(Artifact).where(Artifact.id.in_({v.artifact_id for v in latest} or {0})))}
    names = _user_names(session, {d.created_by_id for d in deployments.values()})
    rows = []
    for v in latest:
        dep, filename = deployments[v.deployment_id], filenames[v.artifact_id]
        rows.append(FileRow(ident=ident(v), name=name(v) or ident(v), filename=filename, version=v.version,
                            published_at=dep.created_at, published_by=names.get(dep.created_by_id or 0, _("系统")),
                            draft=drafts_by_file.get(filename), can_edit=drafts.can_edit(user, filename),
                            link=studio_link(endpoint, **{key: schema_of(ident(v)), "filename": schema_of(filename)}),
                            history=studio_link("web.studio_history", kind=kind, ident=ident(v))))
    return rows


@bp.get("/studio")
@login_required
def studio() -> Any:
    """The studio home: processes, decision tables and forms with links to their editors."""
    with page_session() as s:
        user = _require_studio(g.user)
        return render_template("web/studio.html", processes=process_rows(s, user), decisions=decision_rows(s, user),
                               forms=form_rows(s, user), can_create=user.has_role("designer", "admin"),
                               new_errors={}, new_values={}, history_link=_history_link)


def _history_link(row: ProcessRow) -> str | None:
    return studio_link("web.studio_history", kind="process", ident=row.process_id, process_id=row.process_id)


def new_process_xml(process_id: str, name: str, lane: str = "mediator") -> str:
    """A minimal, valid diagram to start from: one pool with one lane, a start and an end event."""
    pid, title = quoteattr(process_id), quoteattr(name)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" \
xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" \
xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" \
id="{escape(process_id)}_definitions" targetNamespace="http://onestop.example/processes" exporter="onestop" \
exporterVersion="1">
  <bpmn:collaboration id="{escape(process_id)}_collaboration">
    <bpmn:participant id="{escape(process_id)}_participant" name={title} processRef={pid}/>
  </bpmn:collaboration>
  <bpmn:process id={pid} name={title} isExecutable="true">
    <bpmn:laneSet id="{escape(process_id)}_lanes">
      <bpmn:lane id="{escape(process_id)}_lane_{lane}" name="{lane}">
        <bpmn:flowNodeRef>{escape(process_id)}_start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>{escape(process_id)}_end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="{escape(process_id)}_start" name="开始 Start">
      <bpmn:outgoing>{escape(process_id)}_flow</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:endEvent id="{escape(process_id)}_end" name="结束 End">
      <bpmn:incoming>{escape(process_id)}_flow</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="{escape(process_id)}_flow" sourceRef="{escape(process_id)}_start" \
targetRef="{escape(process_id)}_end"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="{escape(process_id)}_diagram">
    <bpmndi:BPMNPlane id="{escape(process_id)}_plane" bpmnElement="{escape(process_id)}_collaboration">
      <bpmndi:BPMNShape id="{escape(process_id)}_participant_di" bpmnElement="{escape(process_id)}_participant" \
isHorizontal="true">
        <dc:Bounds x="100" y="80" width="700" height="200"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="{escape(process_id)}_lane_{lane}_di" bpmnElement="{escape(process_id)}_lane_{lane}" \
isHorizontal="true">
        <dc:Bounds x="130" y="80" width="670" height="200"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="{escape(process_id)}_start_di" bpmnElement="{escape(process_id)}_start">
        <dc:Bounds x="212" y="162" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="{escape(process_id)}_end_di" bpmnElement="{escape(process_id)}_end">
        <dc:Bounds x="652" y="162" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="{escape(process_id)}_flow_di" bpmnElement="{escape(process_id)}_flow">
        <di:waypoint x="248" y="180"/>
        <di:waypoint x="652" y="180"/>
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def _file_exists(session: Session, filename: str) -> bool:
    return drafts.get_draft(session, filename) is not None or drafts.published_artifact(session, filename) is not None


@bp.post("/studio/processes")
@login_required
def studio_process_new() -> Any:
    """Start a new process: a draft `<id>.bpmn` with one lane, a start and an end, then open the modeler."""
    process_id = (request.form.get("process_id") or "").strip()
    name = (request.form.get("name") or "").strip()
    errors: dict[str, str] = {}
    if not PROCESS_ID.fullmatch(process_id):
        errors["process_id"] = _("编号须以字母开头，只含字母、数字和下划线，2–63 个字符，例如 land_dispute。")
    if not name:
        errors["name"] = _("请填写流程名称。")
    elif len(name) > 200:
        errors["name"] = _("名称不能超过 200 个字符。")
    with page_session(write=True) as s:
        user = _require_studio(g.user)
        filename = f"{process_id}.bpmn"
        if not drafts.can_edit(user, filename):
            abort(403)
        if not errors and (_file_exists(s, filename) or s.scalar(
                select(ProcessVersion.id).where(ProcessVersion.process_id == process_id).limit(1))):
            errors["process_id"] = _("已有同名流程或文件，请换一个编号。")
        if errors:
            html = render_template("web/studio.html", processes=process_rows(s, user),
                                   decisions=decision_rows(s, user), forms=form_rows(s, user), can_create=True,
                                   new_errors=errors, new_values={"process_id": process_id, "name": name},
                                   history_link=_history_link)
            return html, 422
        drafts.save_draft(s, user, filename, new_process_xml(process_id, name))
    return redirect(url_for("web.studio_process", process_id=process_id))


def _process_file(session: Session, process_id: str) -> tuple[str, int | None]:
    """The file that defines a process (newest published version, else a new draft) and that version."""
    pv = session.scalar(select(ProcessVersion).where(ProcessVersion.process_id == process_id)
                        .order_by(ProcessVersion.version.desc()).limit(1))
    if pv is not None:
        return pv.artifact.filename, pv.version
    filename = f"{process_id}.bpmn"
    if drafts.get_draft(session, filename) is None:
        raise NotFound(f"no process {process_id}")
    return filename, None


def modeler_catalog(session: Session) -> dict[str, Any]:
    """What the properties panel offers in its pick lists: deployed forms, processes, decisions, roles."""
    from app.web.cases import role_labels

    forms = sorted(set(session.scalars(select(FormVersion.filename).distinct())))
    processes = [{"id": pv.process_id, "name": pv.name or pv.process_id, "version": pv.version}
                 for pv in list_latest_processes(session)]
    decisions = [{"id": dv.decision_id, "name": dv.name or dv.decision_id, "version": dv.version}
                 for dv in _latest(session, DecisionVersion, DecisionVersion.decision_id)]
    labels = role_labels()
    return {
        "forms": [f for f in forms if not f.endswith((".ui.json", "-uischema.json"))],
        "uiForms": [f for f in forms if f.endswith((".ui.json", "-uischema.json"))],
        "processes": processes,
        "decisions": decisions,
        "roles": [{"code": code, "label": labels.get(code, code)} for code in LANE_ROLE_ORDER],
    }


@bp.get("/studio/processes/<process_id>")
@login_required
def studio_process(process_id: str) -> Any:
    """The process modeler: bpmn-js with our properties panel; read-only for those who may not edit."""
    with page_session() as s:
        user = _require_studio(g.user)
        try:
            filename, version = _process_file(s, process_id)
            text, is_draft = drafts.current_text(s, filename)
        except NotFound:
            abort(404)
        draft = drafts.get_draft(s, filename)
        editable = drafts.can_edit(user, filename)
        other_drafts = [d.filename for d in drafts.list_drafts(s)
                        if d.filename != filename and drafts.can_edit(user, d.filename)]
        saved_by = ""
        if draft is not None and draft.updated_by_id:
            who = s.get(User, draft.updated_by_id)
            saved_by = (who.display_name or who.username) if who else ""
        return render_template(
            "web/modeler.html", process_id=process_id, filename=filename, version=version, xml=text,
            is_draft=is_draft, draft=draft, saved_by=saved_by, stale=bool(draft and drafts.stale(s, draft)),
            editable=editable, catalog=modeler_catalog(s), other_drafts=other_drafts,
            history=studio_link("web.studio_history", kind="process", ident=process_id, process_id=process_id))


def _json_error(exc: DomainError) -> Any:
    body: dict[str, Any] = {"error": exc.code, "message": exc.message, "fields": exc.fields}
    if isinstance(exc, BundleInvalid):
        english = _english()
        body["message"] = _("发布包有 %(n)s 个问题，未发布任何内容。", n=len(exc.problems))
        body["problems"] = [{"file": p.file, "line": p.line, "element": p.element,
                             "message": p.message if english or not p.message_zh else p.message_zh}
                            for p in exc.problems]
    elif isinstance(exc, InvalidInput) and exc.fields:
        body["problems"] = [{"file": name, "line": _line_of(text), "element": None, "message": text}
                            for name, text in exc.fields.items()]
    return jsonify(body), exc.status


def _line_of(text: str) -> int | None:
    found = re.match(r"line (\d+):", text)
    return int(found.group(1)) if found else None


def _editable_file(session: Session, user: User, process_id: str) -> str:
    try:
        filename, _version = _process_file(session, process_id)
    except NotFound:
        abort(404)
    if not drafts.can_edit(user, filename):
        raise Forbidden(f"you may not change {filename}")
    return filename


def _saved_text(moment: datetime) -> str:
    return _("草稿已保存 %(time)s", time=localtime(moment, "HH:mm"))


@bp.post("/studio/processes/<process_id>/draft")
@login_required
def studio_process_save(process_id: str) -> Any:
    """Keep the modeler's XML as the draft of the process file (JSON `{xml}` or a form field `xml`)."""
    body = request.get_json(silent=True) if request.is_json else None
    xml = body.get("xml") if isinstance(body, dict) else request.form.get("xml")
    try:
        with page_session(write=True) as s:
            user = _require_studio(g.user)
            filename = _editable_file(s, user, process_id)
            if not isinstance(xml, str) or not xml.strip():
                raise InvalidInput("no diagram", fields={"xml": _("没有收到流程图内容。")})
            draft = drafts.save_draft(s, user, filename, xml)
            saved_at = draft.updated_at
    except DomainError as exc:
        return _json_error(exc)
    return jsonify({"filename": filename, "saved_at": saved_at.isoformat(), "message": _saved_text(saved_at)})


@bp.post("/studio/processes/<process_id>/publish")
@login_required
def studio_process_publish(process_id: str) -> Any:
    """Publish the process file's draft (and any other drafts chosen) as one validated bundle.

    The page saves the draft first (its own request), so a failed publish never loses the edit.
    """
    body = request.get_json(silent=True) if request.is_json else None
    body = body if isinstance(body, dict) else {}
    note = body.get("note", "")
    also = body.get("also", [])
    try:
        if not isinstance(note, str) or len(note) > MAX_NOTE:
            raise InvalidInput("bad note", fields={"note": _("说明不能超过 %(n)s 个字符。", n=MAX_NOTE)})
        if not isinstance(also, list) or not all(isinstance(a, str) for a in also):
            raise InvalidInput("bad file list", fields={"also": _("请从列表中选择草稿。")})
        with page_session(write=True) as s:
            user = _require_studio(g.user)
            filename = _editable_file(s, user, process_id)
            if drafts.get_draft(s, filename) is None:
                raise InvalidInput("no draft", fields={filename: _("没有可发布的草稿：请先修改并保存。")})
            result = drafts.publish(s, user, [filename, *also], note=note.strip())
            versions = [{"kind": "process", "id": pv.process_id, "version": pv.version} for pv in result.processes]
            versions += [{"kind": "decision", "id": dv.decision_id, "version": dv.version}
                         for dv in result.decisions]
            versions += [{"kind": "form", "id": fv.filename, "version": fv.version} for fv in result.forms]
    except DomainError as exc:
        return _json_error(exc)
    summary = "、".join(f"{v['id']} v{v['version']}" for v in versions)
    return jsonify({"versions": versions, "message": _("已发布：%(what)s", what=summary)})


@bp.post("/studio/processes/<process_id>/discard")
@login_required
def studio_process_discard(process_id: str) -> Any:
    """Throw the draft away; the modeler reopens the newest published version (or the home page for a new file)."""
    try:
        with page_session(write=True) as s:
            user = _require_studio(g.user)
            filename = _editable_file(s, user, process_id)
            published = drafts.published_artifact(s, filename) is not None
            drafts.discard_draft(s, user, filename)
    except DomainError as exc:
        return _json_error(exc)
    target = url_for("web.studio_process", process_id=process_id) if published else url_for("web.studio")
    return jsonify({"message": _("草稿已放弃。"), "redirect": target})
