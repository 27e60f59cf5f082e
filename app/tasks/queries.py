"""Inbox reads with filters on case fields, and tab counts (reassigning a task lives in `service`).

The scope rules are those of `service.list_tasks` (mine / group / all, the org unit subtree);
`tests/web/test_inbox.py` checks that both return the same tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app import clock
from app.cases.models import SEARCHED, MediationCase
from app.cases.queries import text_match
from app.errors import InvalidInput
from app.org.models import OrgUnit, User
from app.tasks.models import HumanTask, TaskStatus
from app.tasks.service import SCOPES, can_see_all, scope_tasks


@dataclass(frozen=True)
class InboxFilters:
    """What the inbox is narrowed to; None/False/"" mean "any"."""

    stage: str | None = None
    category: str | None = None
    #: an org unit code: tasks of cases in that place or below it
    place: str | None = None
    overdue: bool = False
    #: a case number, title or citizen name (or part of one)
    q: str | None = None


def scopes_for(user: User) -> tuple[str, ...]:
    """The inbox tabs a user has: everyone has mine and group, leaders and admins also all."""
    return SCOPES if can_see_all(user) else tuple(s for s in SCOPES if s != "all")


def _inbox_select(session: Session, user: User, scope: str, filters: InboxFilters, *columns: Any) -> Select[Any]:
    if scope not in SCOPES:
        raise InvalidInput("unknown scope", fields={"scope": f"one of {', '.join(SCOPES)}"})
    query = (select(*columns).select_from(HumanTask)
             .join(MediationCase, MediationCase.id == HumanTask.case_id)
             .where(HumanTask.status == TaskStatus.open))
    query = scope_tasks(query, user, scope)
    if filters.stage:
        query = query.where(MediationCase.stage == filters.stage)
    if filters.category:
        query = query.where(MediationCase.category == filters.category)
    if filters.place:
        place = session.scalar(select(OrgUnit).where(OrgUnit.code == filters.place))
        if place is None:
            raise InvalidInput("unknown place", fields={"place": "no such org unit"})
        query = query.where(HumanTask.org_unit_id.in_(select(OrgUnit.id).where(OrgUnit.path.startswith(place.path))))
    if filters.overdue:
        query = query.where(HumanTask.due_at < clock.now())
    q = (filters.q or "").strip()
    if q:
        query = query.where(MediationCase.id.in_(_open_cases_matching(q)))
    return query


def _open_cases_matching(q: str) -> Select[Any]:
    """Ids of the cases with an open task whose number, title or citizen name contains `q`.

    The search is applied to the cases with open work only: left to itself PostgreSQL tests the
    pattern on every case ever filed (a sequential scan; ~21 ms at 10,000 cases, and it grows with
    the archive) before joining the few thousand open tasks. OFFSET 0 keeps the planner from pushing
    the pattern down past that set.
    """
    open_cases = (select(MediationCase.id, *SEARCHED)
                  .where(MediationCase.id.in_(select(HumanTask.case_id).where(HumanTask.status == TaskStatus.open)))
                  .offset(0).subquery("open_cases"))
    return select(open_cases.c.id).where(text_match(q, *(open_cases.c[c.key] for c in SEARCHED)))


def list_inbox(session: Session, user: User, scope: str, filters: InboxFilters | None = None, *,
               limit: int = 200, offset: int = 0) -> list[HumanTask]:
    """Open tasks of one inbox tab, filtered; overdue first, then by due time (no due time last).

    The page's ids are picked first with no eager loads, then only those rows are loaded with their
    case, place, department and assignee: joining those for every open task before the limit (what one
    query does) cost PostgreSQL 30 ms of planning and 30 ms of execution at a few thousand open tasks.
    """
    query = _inbox_select(session, user, scope, filters or InboxFilters(), HumanTask.id)
    query = query.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id).limit(limit).offset(offset)
    ids = list(session.scalars(query))
    if not ids:
        return []
    rows = {task.id: task for task in session.scalars(select(HumanTask).where(HumanTask.id.in_(ids))).unique()}
    return [rows[task_id] for task_id in ids if task_id in rows]


def count_inbox(session: Session, user: User, filters: InboxFilters | None = None) -> dict[str, int]:
    """How many tasks each of the user's tabs holds under the same filters."""
    return {scope: session.scalar(_inbox_select(session, user, scope, filters or InboxFilters(),
                                                func.count(HumanTask.id))) or 0
            for scope in scopes_for(user)}


def places_for(session: Session, user: User) -> list[OrgUnit]:
    """The org units a user may filter the inbox by (their own and everything below), tree order."""
    query = select(OrgUnit)
    if not user.is_admin:
        query = query.where(OrgUnit.path.startswith(user.org_unit.path))
    return sorted(session.scalars(query), key=lambda u: u.lineage_ids)
