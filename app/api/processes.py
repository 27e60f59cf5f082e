"""Deploying bundles and reading process versions."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api import bp, require_roles, with_user
from app.errors import InvalidInput
from app.org.models import Role, User
from app.processes.models import ProcessVersion
from app.processes.service import deploy_bundle, list_latest_processes, list_process_versions, record_publish
from app.timeutil import local_iso


def version_json(pv: ProcessVersion) -> dict[str, Any]:
    return {
        "id": pv.process_id,
        "version": pv.version,
        "name": pv.name,
        "executable": pv.executable,
        "deployment": pv.deployment_id,
        "published_at": local_iso(pv.deployment.created_at),
        "published_by": pv.deployment.created_by_id,
        "note": pv.deployment.note,
        "file": pv.artifact.filename,
        "calls": pv.calls,
        "decisions": pv.decisions,
        "forms": pv.forms,
    }


@bp.get("/processes")
@with_user(write=False)
def get_processes(session: Session, user: User) -> Any:
    return jsonify({"items": [version_json(pv) for pv in list_latest_processes(session)]})


@bp.get("/processes/<process_id>/versions")
@with_user(write=False)
def get_versions(session: Session, user: User, process_id: str) -> Any:
    return jsonify({"items": [version_json(pv) for pv in list_process_versions(session, process_id)]})


@bp.post("/processes")
@with_user()
def post_processes(session: Session, user: User) -> Any:
    require_roles(user, Role.designer)
    uploads = request.files.getlist("files")
    if not uploads:
        raise InvalidInput("send the files as multipart form data, one `files` field per file",
                           fields={"files": "no files"})
    files: dict[str, bytes] = {}
    for upload in uploads:
        name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
        if not name:
            raise InvalidInput("every file needs a name", fields={"files": "a file without a name"})
        if name in files:
            raise InvalidInput("two files with one name", fields={name: "sent twice"})
        files[name] = upload.read()
    note = str(request.form.get("note", ""))[:2000]
    result = deploy_bundle(session, files, actor=user, note=note)
    record_publish(session, user, result, note=note)
    primary = result.primary
    existing = set(session.scalars(select(ProcessVersion.id).where(
        ProcessVersion.deployment_id == result.deployment.id)))
    body = {
        "id": primary.process_id if primary else None,
        "version": primary.version if primary else None,
        "deployment": result.deployment.id,
        "processes": [{"id": p.process_id, "version": p.version} for p in result.processes if p.id in existing],
        "decisions": [{"id": d.decision_id, "version": d.version} for d in result.decisions],
        "forms": [{"id": f.filename, "version": f.version} for f in result.forms],
    }
    response = jsonify(body)
    response.status_code = 201
    return response
