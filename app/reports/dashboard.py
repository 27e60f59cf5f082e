"""A leader's dashboard (看板): what came in today, what is due today, what is overdue, the
supervision waiting for them, and this month's three rates against last month's.

The counts are of the leader's area (their org unit's subtree; everything for an admin); the rates are
the area's row of the monthly assessment (`metrics.area_row`), so they match the ranking's totals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from app import clock
from app.cases.models import MediationCase
from app.cases.queries import overdue_clause
from app.org.models import OrgUnit, Role, User
from app.reports import metrics
from app.tasks.models import HumanTask, TaskStatus
from app.timeutil import LOCAL_TZ

#: the rates the dashboard compares month over month
THREE_RATES = ("response_rate", "resolution_rate", "satisfaction_rate")


@dataclass
class Dashboard:
    today_received: int
    due_today: int
    overdue_cases: int
    overdue_tasks: int
    open_cases: int
    #: leader tasks open for this user (assigned to them, or to any leader of their area)
    waiting: list[HumanTask]
    this_month: metrics.Row
    last_month: metrics.Row
    period: metrics.Period
    previous: metrics.Period

    def rates(self) -> list[dict[str, Any]]:
        found = []
        for key in THREE_RATES:
            now, before = self.this_month.rate(key), self.last_month.rate(key)
            change = round(now - before, 1) if now is not None and before is not None else None
            found.append({"key": key, "value": now, "previous": before, "change": change,
                          "parts": self.this_month.parts[key]})
        return found


def _area(user: User) -> OrgUnit | None:
    return None if user.is_admin else user.org_unit


def _in_area(stmt: Select[Any], area: OrgUnit | None) -> Select[Any]:
    if area is None:
        return stmt
    return stmt.join(OrgUnit, OrgUnit.id == MediationCase.org_unit_id).where(OrgUnit.path.startswith(area.path))


def waiting_tasks(session: Session, user: User, limit: int = 20) -> list[HumanTask]:
    """Open leader tasks (supervision, approvals) for this user: assigned to them, or unassigned
    within their area; supervision first, then by due time."""
    place = aliased(OrgUnit)
    stmt = (select(HumanTask).join(place, place.id == HumanTask.org_unit_id)
            .where(HumanTask.status == TaskStatus.open, HumanTask.role == Role.leader,
                   or_(HumanTask.assignee_id == user.id,
                       HumanTask.assignee_id.is_(None) & place.path.startswith(user.org_unit.path))))
    stmt = stmt.order_by((HumanTask.name != "supervise"), HumanTask.due_at.is_(None), HumanTask.due_at,
                         HumanTask.id).limit(limit)
    return list(session.scalars(stmt).unique())


def dashboard(session: Session, user: User) -> Dashboard:
    """The leader's dashboard as of now."""
    now = clock.now()
    area = _area(user)
    local = now.astimezone(LOCAL_TZ)
    day_start = datetime.combine(local.date(), time.min, tzinfo=LOCAL_TZ)
    day_end = day_start + timedelta(days=1)
    received = session.scalar(_in_area(select(func.count(MediationCase.id)), area)
                              .where(MediationCase.created_at >= day_start, MediationCase.created_at < now)) or 0
    due_stmt = (select(func.count(HumanTask.id)).join(MediationCase, MediationCase.id == HumanTask.case_id)
                .where(HumanTask.status == TaskStatus.open, HumanTask.due_at >= now, HumanTask.due_at < day_end))
    due_today = session.scalar(_in_area(due_stmt, area)) or 0
    late_stmt = (select(func.count(HumanTask.id)).join(MediationCase, MediationCase.id == HumanTask.case_id)
                 .where(HumanTask.status == TaskStatus.open, HumanTask.due_at < now))
    overdue_tasks = session.scalar(_in_area(late_stmt, area)) or 0
    overdue_cases = session.scalar(_in_area(select(func.count(MediationCase.id)), area)
                                   .where(overdue_clause(now))) or 0
    open_cases = session.scalar(_in_area(select(func.count(MediationCase.id)), area)
                                .where(MediationCase.status == "open")) or 0
    period = metrics.parse_month(None)
    before = metrics.previous(period)
    this_month, as_of = metrics.month_area_row(session, period, area)
    last_month, _ = metrics.month_area_row(session, before, area)
    period = replace(period, as_of=as_of)
    return Dashboard(today_received=received, due_today=due_today, overdue_cases=overdue_cases,
                     overdue_tasks=overdue_tasks, open_cases=open_cases, waiting=waiting_tasks(session, user),
                     this_month=this_month, last_month=last_month, period=period, previous=before)
