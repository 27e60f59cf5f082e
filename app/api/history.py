"""Version history over JSON: readable diffs, roll back, export zips and the audit log (see app.studio.history).

Designers, leaders and admins read; roll back needs the right to publish the file (designers for processes
and forms, leaders too for decisions).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from sqlalchemy.orm import Session

from app.api import bp, json_body, with_user
from app.audit.service import AuditFilters, list_entries
from app.errors import BadRequest, Forbidden
from app.org.models import User
from app.studio import history
from app.studio.diff import FileDiff
from app.timeutil import local_iso


def _reader(user: User) -> None:
    if not history.can_read(user):
        raise Forbidden("only designers, leaders and administrators see version history")


def _version_json(info: history.VersionInfo) -> dict[str, Any]:
    return {"kind": info.kind, "id": info.subject_id, "version": info.version, "name": info.name,
            "file": info.filename, "deployment": info.deployment_id, "published_at": local_iso(info.published_at),
            "published_by": info.author.username if info.author else None, "note": info.note, "source": info.source,
            "sha256": info.artifact.sha256}


def diff_json(diff: FileDiff) -> dict[str, Any]:
    """A FileDiff as JSON: each change with its details (attribute codes as in app.studio.diff)."""
    return {
        "kind": diff.kind, "first": diff.first, "cosmetic": diff.cosmetic, "layout_only": diff.layout_only,
        "error": diff.error or None, "counts": diff.counts(), "text": diff.text,
        "changes": [{"op": c.op, "what": c.what, "key": c.key, "type": c.type, "name": c.name, "group": c.group,
                     "context": [list(pair) for pair in c.context],
                     "details": [{"attr": d.attr, "old": d.old, "new": d.new, "added": list(d.added),
                                  "removed": list(d.removed)} for d in c.details]}
                    for c in diff.changes],
    }


def _versions(session: Session, user: User, kind: str, ident: str) -> Any:
    _reader(user)
    return jsonify({"items": [_version_json(v) for v in history.list_versions(session, kind, ident)]})


def _diff(session: Session, user: User, kind: str, ident: str, version: int) -> Any:
    _reader(user)
    against = request.args.get("against")
    if against is not None and not against.isdigit():
        raise BadRequest("against must be a version number", fields={"against": "a whole number"})
    diff = history.version_diff(session, kind, ident, version, int(against) if against else None)
    base = int(against) if against else version - 1
    return jsonify({"kind": kind, "id": ident, "version": version, "against": base if base >= 1 else None,
                    **diff_json(diff)})


def _zip(name: str, data: bytes) -> Response:
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _export(session: Session, user: User, kind: str, ident: str, version: int) -> Any:
    _reader(user)
    return _zip(*history.export_version(session, kind, ident, version))


def _rollback(session: Session, user: User, kind: str, ident: str, version: int) -> Any:
    body = json_body() if request.data else {}
    note = body.get("note", "")
    if not isinstance(note, str):
        raise BadRequest("note must be text", fields={"note": "a string"})
    result = history.rollback(session, user, kind, ident, version, note=note)
    created = ([("process", p.process_id, p.version) for p in result.processes]
               + [("decision", d.decision_id, d.version) for d in result.decisions]
               + [("form", f.filename, f.version) for f in result.forms])
    new_version = next(v for k, i, v in created if k == kind and i == ident)
    response = jsonify({"kind": kind, "id": ident, "version": new_version, "rolled_back_to": version,
                        "deployment": result.deployment.id,
                        "versions": [{"kind": k, "id": i, "version": v} for k, i, v in created]})
    response.status_code = 201
    return response


def _register(prefix: str, kind: str) -> None:
    """GET …/versions/{v}/diff, GET …/versions/{v}/export.zip and POST …/versions/{v}/rollback for one kind."""

    @with_user(write=False)
    def diff(session: Session, user: User, ident: str, version: int) -> Any:
        return _diff(session, user, kind, ident, version)

    @with_user(write=False)
    def export(session: Session, user: User, ident: str, version: int) -> Any:
        return _export(session, user, kind, ident, version)

    @with_user()
    def rollback(session: Session, user: User, ident: str, version: int) -> Any:
        return _rollback(session, user, kind, ident, version)

    bp.add_url_rule(f"/{prefix}/<ident>/versions/<int:version>/diff", f"{kind}_version_diff", diff,
                    methods=["GET"])
    bp.add_url_rule(f"/{prefix}/<ident>/versions/<int:version>/export.zip", f"{kind}_version_export", export,
                    methods=["GET"])
    bp.add_url_rule(f"/{prefix}/<ident>/versions/<int:version>/rollback", f"{kind}_version_rollback", rollback,
                    methods=["POST"])


_register("processes", "process")
_register("decisions", "decision")
_register("forms", "form")


@bp.get("/decisions/<ident>/versions")
@with_user(write=False)
def get_decision_versions(session: Session, user: User, ident: str) -> Any:
    return _versions(session, user, "decision", ident)


@bp.get("/forms/<ident>/versions")
@with_user(write=False)
def get_form_versions(session: Session, user: User, ident: str) -> Any:
    return _versions(session, user, "form", ident)


@bp.get("/export/latest.zip")
@with_user(write=False)
def get_latest_export(session: Session, user: User) -> Any:
    _reader(user)
    return _zip(*history.export_latest(session))


@bp.get("/audit")
@with_user(write=False)
def get_audit(session: Session, user: User) -> Any:
    _reader(user)
    limit = request.args.get("limit", "200")
    if not limit.isdigit() or not 1 <= int(limit) <= 1000:
        raise BadRequest("limit must be 1 to 1000", fields={"limit": "a whole number from 1 to 1000"})
    filters = AuditFilters(action=request.args.get("action", ""), subject_kind=request.args.get("subject_kind", ""),
                           subject_id=request.args.get("subject_id", ""), limit=int(limit))
    return jsonify({"items": [{
        "id": entry.id, "at": local_iso(entry.at), "actor": actor.username if actor else None,
        "action": entry.action, "subject_kind": entry.subject_kind, "subject_id": entry.subject_id,
        "summary": entry.summary, "detail": entry.detail} for entry, actor in list_entries(session, filters)]})
