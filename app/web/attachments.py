"""Downloading an attachment: only for people who may see its case; never run as a web page."""

from __future__ import annotations

import io
from typing import Any

from flask import abort, g, send_file
from werkzeug.wrappers import Response

from app.attachments.service import INLINE_TYPES, get_attachment
from app.errors import NotFound
from app.web import bp, login_required, page_session


@bp.get("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id: int) -> Any:
    """The file under its original name: images and PDF shown in the browser, everything else downloaded."""
    with page_session() as s:
        try:
            found = get_attachment(s, g.user, attachment_id)
        except NotFound:
            abort(404)
        content, filename, content_type, sha256 = found.content, found.filename, found.content_type, found.sha256
    inline = content_type in INLINE_TYPES
    response: Response = send_file(io.BytesIO(content), mimetype=content_type, as_attachment=not inline,
                                   download_name=filename, etag=sha256, max_age=0, conditional=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-cache"
    if content_type != "application/pdf":
        # nothing in the file may run: no scripts, no plugins, a unique origin
        response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response
