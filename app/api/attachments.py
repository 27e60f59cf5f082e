"""A case's files through the API: add them (a hotline's recording notes, the signed agreement), list
them, download one; a task's file field then takes their ids."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from app.api import bp, with_user
from app.attachments import service as attachments
from app.attachments.download import file_response
from app.attachments.models import Attachment
from app.attachments.service import MAX_UPLOAD_REQUEST, get_attachment, list_attachments, read_upload
from app.cases.service import get_case, visible_case
from app.org.models import User
from app.timeutil import local_iso


@bp.url_value_preprocessor
def _allow_uploads(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    """An upload carries up to five files of 10 MB: its body limit, before anything reads the body."""
    if endpoint == "api.add_case_files":
        request.max_content_length = MAX_UPLOAD_REQUEST


def attachment_summary(attachment: Attachment) -> dict[str, Any]:
    """What a client needs to show and fetch a file (not its bytes)."""
    return {"id": attachment.id, "filename": attachment.filename, "content_type": attachment.content_type,
            "size": attachment.size, "sha256": attachment.sha256, "field": attachment.field,
            "task_id": attachment.task_id,
            "uploaded_by": attachment.uploaded_by.username if attachment.uploaded_by else None,
            "created_at": local_iso(attachment.created_at), "url": f"/api/v1/attachments/{attachment.id}"}


@bp.get("/cases/<case_no>/attachments")
@with_user(write=False)
def case_files(session: Session, user: User, case_no: str) -> Any:
    case = visible_case(session, user, case_no)
    return jsonify({"items": [attachment_summary(a) for a in list_attachments(session, case.id)]})


@bp.post("/cases/<case_no>/attachments")
@with_user()
def add_case_files(session: Session, user: User, case_no: str) -> Any:
    """Multipart, one or more `file` parts (at most five, 10 MB each); all are kept or none."""
    uploads = [(f.filename, read_upload(f.stream)) for f in request.files.getlist("file") if f.filename]
    kept = attachments.add_case_files(session, user, get_case(session, case_no), uploads)
    return jsonify({"items": [attachment_summary(a) for a in kept]}), 201


@bp.get("/attachments/<int:attachment_id>")
@with_user(write=False)
def download(session: Session, user: User, attachment_id: int) -> Any:
    return file_response(get_attachment(session, user, attachment_id))
