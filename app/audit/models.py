"""One append-only table of governance actions (publishes, rule changes, migrations, rollbacks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow_column_default


class AuditEntry(Base):
    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_subject", "subject_kind", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow_column_default, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    #: what was done, e.g. "publish", "decision_change", "migrate", "rollback", "draft_save"
    action: Mapped[str] = mapped_column(String(64))
    #: what it was done to: "process" | "decision" | "form" | "case" | "deployment"
    subject_kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(255))
    summary: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
