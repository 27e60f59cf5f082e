"""Pending timers of all cases, so the scheduler knows when to wake without opening any case."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class PendingTimer(Base):
    __tablename__ = "pending_timer"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("mediation_case.id"), index=True)
    engine_task_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(255))
    due_at: Mapped[datetime] = mapped_column(index=True)


class SharedClock(Base):
    """Testing only: how far the test clock is ahead of real time, shared by all processes
    (web workers and schedulers) so that they agree about what is due."""

    __tablename__ = "shared_clock"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    offset_seconds: Mapped[float]
