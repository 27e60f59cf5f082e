"""Drafts: the files governance staff are editing and have not published yet."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow_column_default


class Draft(Base):
    """One unpublished file, keyed by its bundle file name (one shared draft per file, last save wins)."""

    __tablename__ = "studio_draft"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255), unique=True)
    #: "bpmn" | "dmn" | "form" (app.processes.models.ArtifactKind)
    kind: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    #: sha256 of the published file the draft started from ("" for a new file): a publish in between shows
    base_sha256: Mapped[str] = mapped_column(String(64), default="")
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow_column_default)
