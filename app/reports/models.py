"""What the reports store themselves: one settings row per key (the ranking's weights), and the
indexes the ledger and ranking queries need on the case and task tables.

Everything else a report shows is derived from cases, tasks and the event log; nothing is typed in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.cases.models import MediationCase
from app.db import Base, utcnow_column_default
from app.tasks.models import HumanTask


class ReportSetting(Base):
    """A report setting a leader changes in the browser (e.g. `weights` of the monthly score)."""

    __tablename__ = "report_setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow_column_default)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


#: the ledger lists a period newest first; the ranking finds the cases closed in a month
Index("ix_mediation_case_created_at", MediationCase.created_at)
Index("ix_mediation_case_closed_at", MediationCase.closed_at)
#: "cases dispatched to this department" (the ledger's department filter)
Index("ix_human_task_department_case", HumanTask.department_id, HumanTask.case_id)
