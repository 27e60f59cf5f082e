"""What the reports store themselves: one settings row per key (the ranking's weights), and the
indexes the ledger and ranking queries need on the case and task tables.

Everything else a report shows is derived from cases, tasks and the event log; nothing is typed in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DDL, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from app.cases.models import SEARCHED, MediationCase
from app.db import Base, utcnow_column_default
from app.tasks.models import HumanTask


class ReportSetting(Base):
    """A report setting a leader changes in the browser (e.g. `weights` of the monthly score)."""

    __tablename__ = "report_setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow_column_default)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


#: the ledger lists a period newest first (in the index's order); on PostgreSQL its count with a
#: department filter is read from the index alone
Index("ix_mediation_case_created_id", MediationCase.created_at, MediationCase.id,
      postgresql_include=["lead_department"])
#: the ranking finds the cases closed in a month
Index("ix_mediation_case_closed_at", MediationCase.closed_at)
#: "cases dispatched to this department" since a day (the ledger's department filter reads one
#: period's dispatches, not every year's)
Index("ix_human_task_department_created", HumanTask.department_id, HumanTask.created_at, HumanTask.case_id)

#: the text search (cases.queries.text_match: LIKE '%…%' on the SEARCHED columns) on PostgreSQL:
#: trigram indexes answer a needle of three characters or more from the index (12 ms over a million
#: cases, where the scan took 0.7 s). pg_trgm ships with PostgreSQL; where it cannot be created the
#: migration leaves these out and the search scans. SQLite scans.
for _column in SEARCHED:
    Index(f"ix_mediation_case_{_column.key}_trgm", _column, postgresql_using="gin",
          postgresql_ops={_column.key: "gin_trgm_ops"}).ddl_if(dialect="postgresql")
event.listen(Base.metadata, "before_create",
             DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"))
