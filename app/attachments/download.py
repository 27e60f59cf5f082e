"""An attachment as an HTTP answer, the same for the browser and the API: never run as a page."""

from __future__ import annotations

import io

from flask import send_file
from werkzeug.wrappers import Response

from app.attachments.models import Attachment
from app.attachments.service import INLINE_TYPES


def file_response(attachment: Attachment) -> Response:
    """The file under its original name: images and PDF shown in a browser, everything else downloaded;
    nothing in it may run (no sniffing, no scripts, a unique origin)."""
    content_type = attachment.content_type
    inline = content_type in INLINE_TYPES
    response: Response = send_file(io.BytesIO(attachment.content), mimetype=content_type, as_attachment=not inline,
                                   download_name=attachment.filename, etag=attachment.sha256, max_age=0,
                                   conditional=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-cache"
    if content_type != "application/pdf":
        response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response
