"""Open and finished human tasks: the inbox, queried by SQL and never from the engine blob."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.db import Base, utcnow_column_default
from app.org.models import OrgUnit


class TaskStatus(enum.StrEnum):
    open = "open"
    completed = "completed"
    cancelled = "cancelled"


class HumanTask(Base):
    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_inbox", "status", "role", "department_id", "due_at"),
        Index("ix_human_task_assignee", "assignee_id", "status"),
        # a case's tasks; "has an open task past due" answered from the index alone
        Index("ix_human_task_case_open", "case_id", "status", "due_at"),
        # the open tasks past due, across cases (overdue filters)
        Index("ix_human_task_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mediation_case.id"))
    engine_task_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(300), default="")
    lane: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    form: Mapped[str | None] = mapped_column(String(255))
    ui_form: Mapped[str | None] = mapped_column(String(255))
    due_at: Mapped[datetime | None]
    status: Mapped[TaskStatus] = mapped_column(String(16), default=TaskStatus.open)
    created_at: Mapped[datetime] = mapped_column(default=utcnow_column_default)
    completed_at: Mapped[datetime | None]
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    data: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    #: what the task is about, where its process says so beyond the title: a supervision's overdue
    #: deadline and department, {"deadline": "convene", "department": "hrss", "department_name": "人社局"}
    #: (the name as it was when the task opened). Two supervisions of one case differ only in this.
    about: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    #: when the people of this task were told it is overdue (once)
    overdue_notified_at: Mapped[datetime | None]

    case = relationship("MediationCase", lazy="joined")
    department = relationship("Department", lazy="joined")
    org_unit = relationship("OrgUnit", lazy="joined")
    assignee = relationship("User", foreign_keys=[assignee_id], lazy="joined")

    def place(self, session: Session) -> OrgUnit:
        """The task's org unit: its case's, or the level the matter was escalated to. Found by key in
        the session, so that a task whose row is not written yet has it too (`org_unit` loads only
        for a row the session has written or read)."""
        return session.get_one(OrgUnit, self.org_unit_id)
