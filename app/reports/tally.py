"""The monthly assessment's rules as SQL: the database counts, OneStop adds up.

Each rule of docs/reports.md is a predicate over a row source: a dispatch task of a department (with
its place in the dispatch chain), a callback answered after the department's opinion, a case (with
what its tasks say about it) or a task of a case. The ranking sums each predicate per unit in one
`GROUP BY`; the drill-down selects the cases for which one predicate holds. Both read the same
predicates, so a number and the cases behind it cannot disagree.

Every fact is taken **as of** the period's `as_of`: a task completed later is still open, a case
closed later is still open, and an answer given later is not yet known.

The township rows are counted per org unit (the place a case was filed) and folded into townships by
the caller, which knows the org tree; the area row (the dashboard) folds every place into one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, not_, null, or_, select, union_all
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import CTE, FromClause

from app.cases.models import MediationCase
from app.db import in_small_set, json_is_true, planner_settings
from app.org.models import OrgUnit
from app.tasks.models import HumanTask, TaskStatus

#: the form of the callback task (回访): its data says `solved` and `satisfied`
CALLBACK_FORM = "callback.json"
#: roles whose tasks are dispatches to a department or service (派单)
DISPATCH_ROLES = ("department", "service")
#: department task actions (the `action` field of the department's form)
RETURN, EXTENSION = "return", "extension"

#: every count a source may hold: the assessment's columns, and the hits and misses of the rates
#: (`*_ok` and the drill-down names of the misses)
HITS = {"response_rate": ("response_ok", "response_late"), "resolution_rate": ("resolution_ok", "unresolved"),
        "satisfaction_rate": ("satisfaction_ok", "unsatisfied")}


@dataclass(frozen=True)
class Window:
    """The period's bounds: events from `start` count, facts are as of `as_of`."""

    start: datetime
    as_of: datetime


@dataclass(frozen=True)
class Source:
    """Rows with `unit_id` and `case_id` columns, and what each count means over them."""

    rows: FromClause
    counts: Mapping[str, ColumnElement[bool]]


def _cases(w: Window, area: OrgUnit | None) -> CTE:
    """The cases that can count: filed before `as_of`, not closed before `start`."""
    c = MediationCase.__table__
    closed = sql_case((c.c.closed_at < w.as_of, c.c.closed_at), else_=null())
    query = select(c.c.id, c.c.org_unit_id, c.c.created_at, closed.label("closed_at")).where(
        c.c.created_at < w.as_of, or_(c.c.closed_at.is_(None), c.c.closed_at >= w.start))
    if area is not None:
        u = OrgUnit.__table__
        query = query.join(u, u.c.id == c.c.org_unit_id).where(u.c.path.startswith(area.path, autoescape=True))
    # MATERIALIZED: worked out once for the statement and read by every count (not folded into each)
    return query.cte("facts_case").prefix_with("MATERIALIZED")


def _tasks(w: Window, cases: CTE) -> CTE:
    """The cases' tasks as they stood at `as_of`: `done` (completed or cancelled by then), `cancelled`
    (1/0), a department's `action`, a callback's `solved` and `satisfied` (1/0)."""
    t = HumanTask.__table__
    done_by_then = t.c.completed_at < w.as_of
    answered = and_(done_by_then, t.c.role.in_(DISPATCH_ROLES))
    called = and_(done_by_then, t.c.form == CALLBACK_FORM)
    return select(
        t.c.id, t.c.case_id, t.c.role, t.c.department_id, t.c.form, t.c.created_at, t.c.due_at,
        cases.c.org_unit_id,
        sql_case((done_by_then, t.c.completed_at), else_=null()).label("done"),
        sql_case((and_(done_by_then, t.c.status == TaskStatus.cancelled), 1), else_=0).label("cancelled"),
        sql_case((answered, t.c.data["action"].as_string()), else_=null()).label("action"),
        sql_case((and_(called, json_is_true(t.c.data, "solved")), 1), else_=0).label("solved"),
        sql_case((and_(called, json_is_true(t.c.data, "satisfied")), 1), else_=0).label("satisfied"),
    ).join(cases, cases.c.id == t.c.case_id).where(
        # PostgreSQL: the cases first, their tasks looked up by them (a join read every task of the table)
        in_small_set(t.c.case_id, select(cases.c.id)), t.c.created_at < w.as_of).cte("facts_task").prefix_with(
        "MATERIALIZED")


def _columns(w: Window, *, received: Any, first_done: Any, first_due: Any, closed: Any, late: Any,
             still_open: Any, overdue: Any) -> dict[str, ColumnElement[bool]]:
    """The assessment's columns from what a unit's items are: received in the period, the first
    task's answer and time limit (its response: done within the limit, any answer; still open and
    not yet due it is neither), closed in the period (late or not), still open, overdue."""
    hit = and_(first_done.isnot(None), or_(first_due.is_(None), first_done <= first_due))
    miss = or_(and_(first_done.isnot(None), first_due.isnot(None), first_done > first_due),
               and_(first_done.is_(None), first_due < w.as_of))
    return {"dispatched": received, "response_ok": and_(received, hit), "response_late": and_(received, miss),
            "closed_on_time": and_(closed, not_(late)), "closed_late": and_(closed, late),
            "still_open": still_open, "overdue": overdue, "not_on_time": or_(and_(closed, late), overdue)}


def _callback_counts(w: Window, task: Any) -> dict[str, ColumnElement[bool]]:
    made = and_(task.form == CALLBACK_FORM, task.cancelled == 0, task.done >= w.start)
    return {"resolution_ok": and_(made, task.solved == 1), "unresolved": and_(made, task.solved == 0),
            "satisfaction_ok": and_(made, task.satisfied == 1), "unsatisfied": and_(made, task.satisfied == 0)}


def department_sources(w: Window, area: OrgUnit | None = None) -> list[Source]:
    """Per department (unit_id = department id): its dispatches, and the callbacks after its opinion."""
    tasks = _tasks(w, _cases(w, area))
    order = {"partition_by": (tasks.c.case_id, tasks.c.department_id), "order_by": (tasks.c.created_at, tasks.c.id)}
    chain = select(tasks.c.department_id.label("unit_id"), tasks,
                   func.lag(tasks.c.action).over(**order).label("previous_action"),
                   func.lead(tasks.c.id).over(**order).label("next_id")).where(
        tasks.c.role.in_(DISPATCH_ROLES), tasks.c.department_id.isnot(None)).subquery("dispatch_task")
    d = chain.c
    # a dispatch is a department's task plus the tasks it gets back after asking for an extension
    first = or_(d.previous_action.is_(None), d.previous_action != EXTENSION)
    last = or_(d.next_id.is_(None), d.action.is_(None), d.action != EXTENSION)
    answered = and_(last, d.cancelled == 0, d.done.isnot(None), func.coalesce(d.action, "").notin_((EXTENSION, RETURN)))
    still_open = and_(last, d.cancelled == 0, or_(d.done.is_(None), d.action == EXTENSION))
    dispatches = Source(chain, {
        **_columns(w, received=and_(first, d.created_at >= w.start), first_done=d.done, first_due=d.due_at,
                   closed=and_(answered, d.done >= w.start), late=and_(d.due_at.isnot(None), d.done > d.due_at),
                   still_open=still_open, overdue=and_(still_open, d.due_at < w.as_of)),
        "returned": and_(d.action == RETURN, d.done >= w.start),
        "extensions": and_(d.action == EXTENSION, d.done >= w.start),
    })
    # callbacks made after the department gave its (first) opinion on the case
    opinion = (select(d.case_id, d.department_id, func.min(d.done).label("answered"))
               .where(answered).group_by(d.case_id, d.department_id).subquery("opinion"))
    calls = (select(opinion.c.department_id.label("unit_id"), tasks.c.case_id, tasks.c.form, tasks.c.cancelled,
                    tasks.c.done, tasks.c.solved, tasks.c.satisfied)
             .join(opinion, opinion.c.case_id == tasks.c.case_id)
             .where(tasks.c.form == CALLBACK_FORM, tasks.c.done >= opinion.c.answered).subquery("callback"))
    return [dispatches, Source(calls, _callback_counts(w, calls.c))]


def place_sources(w: Window, area: OrgUnit | None = None) -> list[Source]:
    """Per place a case was filed in (unit_id = org unit id): its cases, and their tasks."""
    cases = _cases(w, area)
    tasks = _tasks(w, cases)
    t = tasks.c
    # each case's first task, with what all its tasks say about the case (one sort of the tasks)
    flag = lambda cond: func.max(sql_case((cond, 1), else_=0)).over(partition_by=t.case_id)  # noqa: E731
    numbered = select(
        t.case_id, t.due_at, t.done,
        func.row_number().over(partition_by=t.case_id, order_by=(t.created_at, t.id)).label("n"),
        flag(and_(t.done.isnot(None), t.due_at.isnot(None), t.done > t.due_at)).label("any_late"),
        flag(and_(t.done.is_(None), t.due_at < w.as_of)).label("any_overdue"),
        flag(and_(t.form == CALLBACK_FORM, t.done.isnot(None), t.cancelled == 0)).label("called"),
    ).subquery("case_task")
    first = select(numbered).where(numbered.c.n == 1).subquery("first_task")
    rows = (select(cases.c.org_unit_id.label("unit_id"), cases.c.id.label("case_id"), cases.c.created_at,
                   cases.c.closed_at, first.c.due_at, first.c.done,
                   *(func.coalesce(first.c[k], 0).label(k) for k in ("any_late", "any_overdue", "called")))
            .outerjoin(first, first.c.case_id == cases.c.id).subquery("place_case"))
    c = rows.c
    closed = c.closed_at >= w.start
    per_case = Source(rows, {
        **_columns(w, received=c.created_at >= w.start, first_done=c.done, first_due=c.due_at, closed=closed,
                   late=c.any_late == 1, still_open=c.closed_at.is_(None),
                   overdue=and_(c.closed_at.is_(None), c.any_overdue == 1)),
        # settled on the spot or resolved at the village or township: closed without any callback
        "resolution_ok": and_(closed, c.called == 0),
    })
    task_rows = select(t.org_unit_id.label("unit_id"), t.case_id, t.form, t.cancelled, t.done, t.action, t.solved,
                       t.satisfied).subquery("place_task")
    p = task_rows.c
    per_task = Source(task_rows, {"returned": and_(p.action == RETURN, p.done >= w.start),
                                  "extensions": and_(p.action == EXTENSION, p.done >= w.start),
                                  **_callback_counts(w, p)})
    return [per_case, per_task]


def _analytic(session: Session) -> AbstractContextManager[None]:
    """PostgreSQL plans these statements without nested loops: it cannot know how many cases a month
    holds (tens of thousands at a million cases) and, guessing a handful, joined the callbacks to
    the opinions row by row (minutes). Hash joins take a fraction of a second."""
    return planner_settings(session, enable_nestloop="off", jit="off")


def count(session: Session, sources: Iterable[Source], keys: Iterable[str]) -> dict[int, dict[str, int]]:
    """unit id -> key -> how many rows of the sources the key's predicate holds for (a key a source
    does not define counts nothing there). One statement: the sources share their facts."""
    wanted = tuple(keys)
    parts = [select(source.rows.c.unit_id, *(func.sum(sql_case((source.counts[k], 1), else_=0)).label(k)
                                             if k in source.counts else literal(0).label(k) for k in wanted))
             .group_by(source.rows.c.unit_id) for source in sources]
    found: dict[int, dict[str, int]] = {}
    with _analytic(session):
        result = session.execute(union_all(*parts)).all()
    for unit_id, *values in result:
        totals = found.setdefault(unit_id, {})
        for name, value in zip(wanted, values, strict=True):
            totals[name] = totals.get(name, 0) + int(value or 0)
    return found


def cases_behind(session: Session, sources: Iterable[Source], key: str, unit_ids: Iterable[int]) -> list[int]:
    """The distinct case ids for which `key` holds in the given units (newest case first)."""
    units = list(unit_ids)
    found: set[int] = set()
    for source in sources:
        predicate = source.counts.get(key)
        if predicate is None or not units:
            continue
        rows = source.rows.c
        with _analytic(session):
            found.update(session.scalars(select(rows.case_id).where(rows.unit_id.in_(units), predicate).distinct()))
    return sorted(found, reverse=True)
