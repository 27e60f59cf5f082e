"""Downloading an attachment: only for people who may see its case; never run as a web page."""

from __future__ import annotations

from typing import Any

from flask import abort, g

from app.attachments.download import file_response
from app.attachments.service import get_attachment
from app.errors import NotFound
from app.web import bp, login_required, page_session


@bp.get("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id: int) -> Any:
    """The file under its original name: images and PDF shown in the browser, everything else downloaded."""
    with page_session() as s:
        try:
            return file_response(get_attachment(s, g.user, attachment_id))
        except NotFound:
            abort(404)
