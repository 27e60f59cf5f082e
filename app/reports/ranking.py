"""Who may read which monthly assessment, and the assessment in its JSON shape.

Leaders and admins read every row (a township's leader: the townships of their area); department
and service staff read their own department's row; nobody else reads rankings.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import Database
from app.errors import Forbidden, InvalidInput
from app.org.models import OrgUnit, Role, User
from app.reports import metrics
from app.reports.settings import get_weights
from app.timeutil import local_iso

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scope:
    area: OrgUnit | None
    departments: list[int] | None


def can_read_rankings(user: User) -> bool:
    return user.is_admin or user.has_role(Role.leader) or user.department_id is not None


def can_change_weights(user: User) -> bool:
    return user.is_admin or user.has_role(Role.leader)


def scope_for(user: User, by: str) -> Scope:
    """The cases and rows `user` may see in a ranking grouped `by` (Forbidden otherwise)."""
    if by not in metrics.BY:
        raise InvalidInput("unknown grouping", fields={"by": "department or township"})
    if user.is_admin:
        return Scope(None, None)
    if user.has_role(Role.leader):
        return Scope(user.org_unit if user.org_unit.level != "county" else None, None)
    if user.department_id is not None and by == "department":
        return Scope(None, [user.department_id])
    raise Forbidden("only leaders read this ranking; a department reads its own row")


def monthly_ranking(session: Session, user: User, month: str | None, by: str) -> metrics.Ranking:
    """The month's assessment as `user` may see it, worst first."""
    period = metrics.parse_month(month)
    scope = scope_for(user, by)
    return metrics.ranking(session, period, by, get_weights(session), area=scope.area,
                           departments=scope.departments,
                           keep_inactive=True if scope.departments is not None else None)


def ranking_json(result: metrics.Ranking) -> dict[str, Any]:
    return {"month": result.period.month, "by": result.by, "complete": result.period.complete,
            "as_of": local_iso(result.period.as_of),
            "weights": result.weights, "rows": [r.as_dict() for r in result.rows]}


#: how many months of rankings `onestop serve` works out as it starts (a year of monthly reviews)
WARM_MONTHS = 12


def warm_up(db: Database) -> threading.Thread:
    """Work out, in a thread, the numbers a county's leaders open: the rankings by department and by
    township of this month and the eleven before it (newest first), and the dashboard rates of each
    top-level area for this month and the last. Where they are slow to compute (app.reports.metrics
    keeps those; a month that is over is kept for good) no leader waits for them after the server
    starts; where they are cheap this costs next to nothing."""

    def run() -> None:
        try:
            with db.unit_of_work(write=False) as session:
                months = [metrics.parse_month(None)]
                while len(months) < WARM_MONTHS:
                    months.append(metrics.previous(months[-1]))
                weights = get_weights(session)
                for area in session.scalars(select(OrgUnit).where(OrgUnit.parent_id.is_(None))):
                    for month in months[:2]:
                        metrics.month_area_row(session, month, area)
                for month in months:
                    for by in metrics.BY:
                        metrics.ranking(session, month, by, weights)  # reads the month before too
        except Exception:  # noqa: BLE001  (a view computes them itself)
            logger.exception("working out the report numbers after start failed")

    thread = threading.Thread(target=run, name="report-warm-up", daemon=True)
    thread.start()
    return thread
