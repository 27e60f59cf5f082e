"""The case (事项): its number, parties, place, deadlines, status, engine state and event log."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, utcnow_column_default


class CaseStatus(enum.StrEnum):
    open = "open"
    closed = "closed"


class MediationCase(Base):
    __tablename__ = "mediation_case"
    __table_args__ = (
        Index("ix_mediation_case_status_stage", "status", "stage"),
        Index("ix_mediation_case_org_created", "org_unit_id", "created_at"),
        # the ledger's filters within a period (counted from the index alone)
        Index("ix_mediation_case_category_created", "category", "created_at"),
        Index("ix_mediation_case_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_no: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str | None] = mapped_column(String(64))
    urgency: Mapped[str] = mapped_column(String(16), default="normal")
    channel: Mapped[str] = mapped_column(String(16))
    citizen_name: Mapped[str] = mapped_column(String(100))
    citizen_phone: Mapped[str] = mapped_column(String(32))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"))
    address: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[CaseStatus] = mapped_column(String(16), default=CaseStatus.open)
    stage: Mapped[str] = mapped_column(String(64), default="intake")
    level: Mapped[str | None] = mapped_column(String(16))
    lead_department: Mapped[str | None] = mapped_column(String(64), index=True)
    departments: Mapped[list[Any]] = mapped_column(default=list)
    deadline_accept: Mapped[datetime | None]
    deadline_convene: Mapped[datetime | None]
    deadline_reply: Mapped[datetime | None]
    deadline_callback: Mapped[datetime | None]
    process_id: Mapped[str] = mapped_column(String(255))
    process_version: Mapped[int]
    runtime_spec_id: Mapped[int] = mapped_column(ForeignKey("runtime_spec.id"))
    has_incident: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow_column_default)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow_column_default)
    lock_version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": lock_version}

    org_unit = relationship("OrgUnit", lazy="joined")
    state: Mapped[CaseState] = relationship(back_populates="case", uselist=False, lazy="select")


#: what the text search looks in (app.cases.queries.text_match), and on PostgreSQL what its trigram
#: indexes cover (app/reports/models.py)
SEARCHED = (MediationCase.case_no, MediationCase.title, MediationCase.citizen_name)


class CaseState(Base):
    """The engine's serialized state of a case (without the spec), zlib-compressed JSON."""

    __tablename__ = "case_state"

    case_id: Mapped[int] = mapped_column(ForeignKey("mediation_case.id"), primary_key=True)
    blob: Mapped[bytes] = mapped_column(LargeBinary)

    case: Mapped[MediationCase] = relationship(back_populates="state")


class CaseEvent(Base):
    """Append-only log of everything that happened to a case: the source of every report."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mediation_case.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow_column_default)
    kind: Mapped[str] = mapped_column(String(48), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    task_name: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Incident(Base):
    """A script or rule that failed on a case; the case keeps its state from before the failure."""

    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mediation_case.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow_column_default)
    task_name: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    #: what was being done when it failed, so a retry can do it again
    action: Mapped[dict[str, Any]] = mapped_column(default=dict)
    resolved_at: Mapped[datetime | None]


class CaseCounter(Base):
    """The last case number given out per year (numbers are sequential per year)."""

    __tablename__ = "case_counter"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(default=0)
