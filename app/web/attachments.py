"""A case's files in the browser: downloaded only by people who may see the case, never run as a page;
added with a task's form or on the case's page."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _

from app.attachments import service
from app.attachments.download import file_response
from app.attachments.service import ACCEPT, MAX_BYTES, MAX_FILES, MAX_UPLOAD_REQUEST, get_attachment, read_upload
from app.errors import Conflict, InvalidInput, NotFound
from app.web import bp, login_required, page_session

#: the pages whose forms carry files
_UPLOADING = frozenset({"web.task", "web.add_case_files"})


@bp.url_value_preprocessor
def _allow_uploads(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    """A form with files gets the body limit of its files, before anything (CSRF) reads the body."""
    if endpoint in _UPLOADING and request.method == "POST":
        request.max_content_length = MAX_UPLOAD_REQUEST


def upload_limits() -> dict[str, Any]:
    """What a page with a file input tells the browser: the types offered and the size refused at once."""
    return {"accept": ACCEPT, "max_mb": MAX_BYTES // (1024 * 1024), "max_bytes": MAX_BYTES}


def upload_message(exc: InvalidInput) -> str:
    """Why a file was not kept, in the UI's words."""
    reason = exc.extra.get("reason")
    name = exc.extra.get("filename", "")
    if reason == "too_large":
        return _("文件“%(name)s”超过 %(mb)s MB。", name=name, mb=MAX_BYTES // (1024 * 1024))
    if reason == "empty":
        return _("文件“%(name)s”是空的。", name=name)
    if reason == "type":
        return _("不支持文件“%(name)s”的类型：请上传图片、PDF 或 Office 文档。", name=name)
    if "file" in exc.fields and exc.fields["file"] == "required":
        return _("请先选择要添加的文件。")
    return _("一次最多上传 %(n)s 个文件。", n=MAX_FILES)


@bp.get("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id: int) -> Any:
    """The file under its original name: images and PDF shown in the browser, everything else downloaded."""
    with page_session() as s:
        try:
            return file_response(get_attachment(s, g.user, attachment_id))
        except NotFound:
            abort(404)


@bp.post("/cases/<case_no>/attachments")
@login_required
def add_case_files(case_no: str) -> Any:
    """Files added to an open case outside any task (materials that came later); all or none."""
    from app.web.cases import visible

    uploads = [(f.filename, read_upload(f.stream)) for f in request.files.getlist("file") if f.filename]
    try:
        with page_session(write=True) as s:
            kept = service.add_case_files(s, g.user, visible(s, case_no), uploads)
            names = "、".join(a.filename for a in kept)
    except InvalidInput as exc:
        flash(_("没有添加：%(why)s", why=upload_message(exc)))
    except Conflict:
        flash(_("事项已办结，不能再添加材料。"))
    else:
        flash(_("已添加 %(n)s 个文件：%(names)s", n=len(kept), names=names))
    return redirect(url_for("web.case", case_no=case_no) + "#h-files")
