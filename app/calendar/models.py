"""Days an admin marks as off or as make-up workdays for one county, over the national schedule."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow_column_default


class CalendarKind(enum.StrEnum):
    """What an admin entry does to its day."""

    #: a day off on a day that would otherwise be worked
    off = "off"
    #: a make-up workday on a day that would otherwise be off
    work = "work"


class CalendarDay(Base):
    __tablename__ = "calendar_day"
    __table_args__ = (UniqueConstraint("org_unit_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the county the entry applies to (and every township and village below it)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    #: a CalendarKind: "off" (a day off on a weekday) or "work" (a make-up workday on a weekend)
    kind: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow_column_default)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
