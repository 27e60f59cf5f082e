"""An attachment: one uploaded file of a case, its bytes kept in the database.

Why in the database and not under `instance/uploads/`: the file is written in the same transaction
as the task it belongs to (a refused form or a rolled-back request leaves no orphan file), one backup
of the database holds everything, and any number of web workers on any host see the same files
without a shared disk. Files are small (10 MB at most) and few per case; the bytes column is
deferred, so listing attachments never reads them. BLOB on SQLite, bytea on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, utcnow_column_default


class Attachment(Base):
    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mediation_case.id"), index=True)
    #: the task whose form the file was uploaded with (None for files added to the case directly)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id"), index=True)
    #: the form field it was uploaded for, e.g. "evidence"
    field: Mapped[str | None] = mapped_column(String(128))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    #: the original name as the uploader's device gave it (Chinese names kept)
    filename: Mapped[str] = mapped_column(String(255))
    #: the type OneStop decided from the name and the first bytes, never the browser's claim
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow_column_default)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)

    uploaded_by = relationship("User", lazy="joined")
