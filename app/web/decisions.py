"""The decision tables of the studio: a list, and a table editor with "try it", inline lint and publish.

Everyone logged in may open a table and try it; leaders, designers and admins edit, save drafts and
publish (the others get the same page read-only). The editor is `static/decision-editor.js`, editing the
JSON table of `app.decisions.table`; it talks to the small JSON endpoints below (session cookie and CSRF
header), which call the same services as the API.
"""

from __future__ import annotations

import ast
from typing import Any

from flask import abort, g, jsonify, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from app.decisions import service
from app.decisions.present import evaluation_json, issue_json
from app.decisions.table import Table, table_from_json
from app.engine.scripting import BASE_GLOBALS, SAFE_BUILTINS
from app.errors import DomainError, InvalidInput
from app.org.models import User
from app.web import bp, login_required, page_session
from app.web.cases import bilingual

#: names an input expression may use that are not process variables
_NOT_VARIABLES = set(SAFE_BUILTINS) | set(BASE_GLOBALS) | {
    "now", "workdays_after", "workdays_before", "workdays_between", "hours_after", "is_workday"}


def _english() -> bool:
    return str(get_locale() or "zh").startswith("en")


def _error(exc: DomainError) -> Any:
    response = jsonify({"error": exc.code, "message": exc.message, "fields": exc.fields})
    response.status_code = exc.status
    return response


def try_fields(table: Table, known: service.KnownValues) -> list[dict[str, Any]]:
    """One field per variable the input expressions read, with the known values as choices."""
    fields: list[dict[str, Any]] = []
    seen: set[str] = set()
    for column in table.inputs:
        expression = column.expression.strip()
        if expression.isidentifier():
            names = [expression]
        else:
            try:
                tree = ast.parse(expression, mode="eval")
            except SyntaxError:
                continue
            names = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in _NOT_VARIABLES]
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            titles = known.titles.get(name, {})
            options = [{"value": v, "title": bilingual(titles[str(v)]) if str(v) in titles else str(v)}
                       for v in known.values.get(name, [])]
            label = column.label if expression == name else name
            fields.append({"name": name, "label": bilingual(label) if label else name,
                           "type": column.type if expression == name else "", "options": options,
                           "simple": expression == name})
    return fields


def _authors(session: Any, ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}


@bp.get("/studio/decisions")
@login_required
def studio_decisions() -> Any:
    with page_session() as s:
        versions = service.list_decisions(s)
        authors = _authors(s, {dv.deployment.created_by_id for dv in versions if dv.deployment.created_by_id})
        drafted = {d.filename for d in service.drafts.list_drafts(s)}
        rows = []
        for dv in versions:
            author = authors.get(dv.deployment.created_by_id or 0)
            rows.append({"id": dv.decision_id, "name": bilingual(dv.name), "version": dv.version,
                         "file": dv.artifact.filename, "published_at": dv.deployment.created_at,
                         "published_by": author.display_name if author else "", "note": dv.deployment.note,
                         "draft": dv.artifact.filename in drafted,
                         "editable": service.drafts.can_edit(g.user, dv.artifact.filename)})
        return render_template("web/decisions.html", rows=rows)


@bp.get("/studio/decisions/<decision_id>")
@login_required
def studio_decision(decision_id: str) -> Any:
    with page_session() as s:
        try:
            decision = service.get_decision(s, decision_id)
        except DomainError:
            abort(404)
        editable = service.can_publish(g.user, decision)
        table, has_draft, stale = decision.table, False, False
        if editable:
            found = service.draft_table(s, decision)
            if found is not None:
                table, stale = found
                has_draft = True
        known = service.known_values(s, skip_decision=decision.id)
        issues = [issue_json(i) for i in service.lint(s, g.user, decision, table)]
        author = decision.published_by
        state = {
            "id": decision.id, "version": decision.version, "table": table.to_json(), "editable": editable,
            "draft": has_draft, "stale": stale, "issues": issues, "fields": try_fields(table, known),
            "english": _english(), "published": decision.table.to_json(),
        }
        return render_template("web/decision.html", decision=decision, state=state, editable=editable,
                               has_draft=has_draft, stale=stale,
                               author=author.display_name if author else "", name=bilingual(decision.name))


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", fields={"body": "expected an object"})
    return data


def _table(data: dict[str, Any]) -> Table | None:
    return table_from_json(data["table"]) if data.get("table") is not None else None


@bp.post("/studio/decisions/<decision_id>/try")
@login_required
def studio_decision_try(decision_id: str) -> Any:
    try:
        with page_session() as s:
            data = _body()
            decision = service.get_decision(s, decision_id)
            table = _table(data)
            evaluation = service.evaluate(s, g.user, decision, data.get("inputs", {}), table)
            return jsonify(evaluation_json(table or decision.table, evaluation))
    except DomainError as exc:
        return _error(exc)


@bp.post("/studio/decisions/<decision_id>/lint")
@login_required
def studio_decision_lint(decision_id: str) -> Any:
    try:
        with page_session() as s:
            data = _body()
            decision = service.get_decision(s, decision_id)
            return jsonify({"issues": [issue_json(i) for i in service.lint(s, g.user, decision, _table(data))]})
    except DomainError as exc:
        return _error(exc)


@bp.post("/studio/decisions/<decision_id>/draft")
@login_required
def studio_decision_draft(decision_id: str) -> Any:
    try:
        with page_session(write=True) as s:
            data = _body()
            if data.get("discard"):
                service.discard_table_draft(s, g.user, decision_id)
                return jsonify({"draft": False, "message": _("草稿已放弃。")})
            service.save_table_draft(s, g.user, decision_id, data.get("table"))
            return jsonify({"draft": True, "message": _("草稿已保存（尚未发布，事项仍按已发布的版本办理）。")})
    except DomainError as exc:
        return _error(exc)


@bp.post("/studio/decisions/<decision_id>/publish")
@login_required
def studio_decision_publish(decision_id: str) -> Any:
    try:
        with page_session(write=True) as s:
            data = _body()
            note = data.get("note") or ""
            if not isinstance(note, str):
                raise InvalidInput("note must be a text", fields={"note": "must be a text"})
            result = service.publish_draft(s, g.user, decision_id, data.get("table"), note=note.strip()[:2000],
                                           base_version=data.get("version"))
            [dv] = [d for d in result.decisions if d.decision_id == decision_id]
            version = dv.version
        message = _("已发布为第 %(v)s 版：此后新登记的事项按新规则办理，办理中的事项不受影响。", v=version)
        return jsonify({"id": decision_id, "version": version, "message": message})
    except DomainError as exc:
        return _error(exc)
