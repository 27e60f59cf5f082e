"""Attachments: accept a file for a case (size and type checked), find one the user may see."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.attachments.models import Attachment
from app.cases.models import CaseStatus, MediationCase
from app.cases.service import add_event, can_see_case
from app.errors import Conflict, InvalidInput, NotFound
from app.org.models import User
from app.tasks.models import HumanTask

#: the largest file accepted, in bytes
MAX_BYTES = 10 * 1024 * 1024
#: files one request may add (a task form, an upload through the API)
MAX_FILES = 5
#: the body limit of a request that carries files: its files and the rest of a form
MAX_UPLOAD_REQUEST = MAX_FILES * MAX_BYTES + 1024 * 1024

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = b"PK\x03\x04"
_OFFICE_OLE = "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"

#: accepted extensions: (content type, the first bytes a real file of that kind starts with)
ALLOWED: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    "webp": ("image/webp", (b"RIFF",)),
    "bmp": ("image/bmp", (b"BM",)),
    "pdf": ("application/pdf", (b"%PDF-",)),
    "doc": ("application/msword", (_OLE,)),
    "xls": ("application/vnd.ms-excel", (_OLE,)),
    "ppt": ("application/vnd.ms-powerpoint", (_OLE,)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (_ZIP,)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (_ZIP,)),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", (_ZIP,)),
    "odt": ("application/vnd.oasis.opendocument.text", (_ZIP,)),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", (_ZIP,)),
    "odp": ("application/vnd.oasis.opendocument.presentation", (_ZIP,)),
    # WPS Office, common in Chinese government offices (OLE containers like the old MS formats)
    "wps": ("application/vnd.ms-works", (_OLE,)),
    "et": ("application/vnd.ms-excel", (_OLE,)),
    "dps": ("application/vnd.ms-powerpoint", (_OLE,)),
    "txt": ("text/plain; charset=utf-8", ()),
}
#: what a browser may show in place; everything else is always downloaded, never rendered
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "application/pdf"})
#: what the file picker offers (a hint only; the server decides)
ACCEPT = ",".join(f".{ext}" for ext in ALLOWED)

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def clean_filename(name: str | None) -> str:
    """The name without folders, control and reserved characters, at most 200 characters."""
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = _UNSAFE_NAME.sub("_", name).strip(" .") or "file"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 200 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:200]
    return name


def detect_type(filename: str, data: bytes) -> str | None:
    """The content type of an accepted file (from its extension, checked against its first bytes), else None."""
    ext = filename.rpartition(".")[2].lower() if "." in filename else ""
    if ext not in ALLOWED:
        return None
    content_type, magics = ALLOWED[ext]
    if ext == "webp" and data[8:12] != b"WEBP":
        return None
    if magics and not data.startswith(magics):
        return None
    if ext == "txt":
        head = data[:8192]
        if b"\x00" in head:
            return None
        for encoding in ("utf-8", "gb18030"):
            try:
                head.decode(encoding)
            except UnicodeDecodeError:
                continue
            return content_type
        return None
    return content_type


def read_upload(stream: Any) -> bytes:
    """An uploaded file's bytes, at most one past the limit: enough to tell it is too large without
    reading a huge one whole."""
    return stream.read(MAX_BYTES + 1)


def add_attachment(session: Session, user: User, case: MediationCase, *, filename: str | None, data: bytes,
                   task: HumanTask | None = None, field: str | None = None) -> Attachment:
    """Store one file of a case; InvalidInput (fields[field]) when it is empty, too large or not accepted."""
    key = field or "file"
    name = clean_filename(filename)
    if not can_see_case(session, user, case):
        raise NotFound(f"no case {case.case_no}")
    if not data:
        raise InvalidInput("the file is empty", fields={key: "empty file"}, reason="empty", filename=name)
    if len(data) > MAX_BYTES:
        raise InvalidInput("the file is too large", fields={key: f"at most {MAX_BYTES // (1024 * 1024)} MB"},
                           reason="too_large", filename=name)
    content_type = detect_type(name, data)
    if content_type is None:
        raise InvalidInput("this kind of file is not accepted",
                           fields={key: "images, PDF or office documents only"}, reason="type", filename=name)
    attachment = Attachment(case_id=case.id, task_id=task.id if task else None, field=field,
                            uploaded_by_id=user.id, filename=name, content_type=content_type, size=len(data),
                            sha256=hashlib.sha256(data).hexdigest(), content=data)
    session.add(attachment)
    session.flush()
    return attachment


def add_case_files(session: Session, user: User, case: MediationCase,
                   uploads: Iterable[tuple[str | None, bytes]]) -> list[Attachment]:
    """Add files to an open case outside any task (materials that came later, a signed agreement), all
    or none: InvalidInput naming the file that cannot be kept. The case's timeline says who added what."""
    files = list(uploads)
    if not can_see_case(session, user, case):
        raise NotFound(f"no case {case.case_no}")
    if not files:
        raise InvalidInput("no file was sent", fields={"file": "required"})
    if len(files) > MAX_FILES:
        raise InvalidInput(f"at most {MAX_FILES} files at once", fields={"file": f"at most {MAX_FILES} files"})
    if case.status == CaseStatus.closed:
        raise Conflict(f"case {case.case_no} is closed")
    kept = []
    for filename, data in files:
        try:
            kept.append(add_attachment(session, user, case, filename=filename, data=data))
        except InvalidInput as exc:
            name = exc.extra["filename"]
            raise InvalidInput(f"{name}: {exc.message}", fields={"file": f"{name}: {exc.fields['file']}"},
                               reason=exc.extra.get("reason"), filename=name) from None
    add_event(session, case, "files_added", actor=user, message="、".join(a.filename for a in kept),
              data={"files": [{"id": a.id, "filename": a.filename, "size": a.size} for a in kept]})
    return kept


def get_attachment(session: Session, user: User, attachment_id: int) -> Attachment:
    """An attachment of a case the user may see, else NotFound (not revealing that it exists)."""
    attachment = session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound(f"no attachment {attachment_id}")
    case = session.get(MediationCase, attachment.case_id)
    if case is None or not can_see_case(session, user, case):
        raise NotFound(f"no attachment {attachment_id}")
    return attachment


def list_attachments(session: Session, case_id: int) -> list[Attachment]:
    """The case's attachments, oldest first (without their bytes)."""
    return list(session.scalars(select(Attachment).where(Attachment.case_id == case_id)
                                .order_by(Attachment.created_at, Attachment.id)))


def case_attachments(session: Session, case_id: int, ids: Iterable[int]) -> list[Attachment]:
    """Those of `ids` that belong to the case, in the order given (others are ignored)."""
    wanted = [i for i in dict.fromkeys(ids)]
    if not wanted:
        return []
    found = {a.id: a for a in session.scalars(select(Attachment).where(Attachment.case_id == case_id,
                                                                       Attachment.id.in_(wanted)))}
    return [found[i] for i in wanted if i in found]
