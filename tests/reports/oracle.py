"""The monthly assessment's rules in plain Python, over facts loaded into memory: the definition
docs/reports.md gives, written the obvious way. OneStop computes the same numbers in SQL
(app/reports/tally.py); tests/reports/test_tally.py holds the two to each other on generated months.

This is how OneStop computed the assessment before the database did it (seconds at a million cases).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.cases.models import MediationCase
from app.db import id_in, json_is_true
from app.org.models import OrgUnit
from app.reports.metrics import Period, townships
from app.reports.tally import CALLBACK_FORM, DISPATCH_ROLES, EXTENSION, HITS, RETURN
from app.tasks.models import HumanTask, TaskStatus

OPINION = "opinion"
CHUNK = 5000


def in_period(moment: datetime | None, period: Period) -> bool:
    return moment is not None and period.start <= moment < period.as_of

@dataclass(slots=True)
class TaskFact:
    """A human task as it stood at the period's `as_of` (later completions are not yet known)."""

    id: int
    case_id: int
    name: str
    role: str
    department_id: int | None
    form: str | None
    created_at: datetime
    due_at: datetime | None
    completed_at: datetime | None
    cancelled: bool
    data: dict[str, Any]

    @property
    def open(self) -> bool:
        return self.completed_at is None and not self.cancelled

    @property
    def late(self) -> bool:
        """Completed after its due time."""
        return self.completed_at is not None and self.due_at is not None and self.completed_at > self.due_at

    @property
    def action(self) -> str | None:
        value = self.data.get("action") if self.completed_at is not None else None
        return value if isinstance(value, str) else None


@dataclass
class CaseFact:
    id: int
    org_unit_id: int
    created_at: datetime
    closed_at: datetime | None
    tasks: list[TaskFact] = field(default_factory=list)


@dataclass
class Dispatch:
    """One dispatch of a case to a department (派单), with the tasks an extension added to it."""

    case_id: int
    department_id: int
    tasks: list[TaskFact]

    @property
    def dispatched_at(self) -> datetime:
        return self.tasks[0].created_at

    @property
    def first(self) -> TaskFact:
        return self.tasks[0]

    @property
    def last(self) -> TaskFact:
        return self.tasks[-1]

    @property
    def finished_at(self) -> datetime | None:
        """When the department answered (an opinion or a return) or the dispatch was withdrawn."""
        last = self.last
        if last.cancelled:
            return last.completed_at
        if last.completed_at is not None and last.action != EXTENSION:
            return last.completed_at
        return None

    @property
    def outcome(self) -> str | None:
        """`opinion`, `return`, `withdrawn` (the process cancelled it) or None while open."""
        if self.last.cancelled:
            return "withdrawn"
        if self.finished_at is None:
            return None
        return RETURN if self.last.action == RETURN else OPINION

    @property
    def due(self) -> datetime | None:
        """The time limit in force: the newest task's (an approved extension moves it)."""
        return self.last.due_at


@dataclass
class Facts:
    """Every case that can count in a period (created before its end, not closed before its start)."""

    period: Period
    cases: dict[int, CaseFact]
    #: org unit id -> its township's id (None for the county level)
    township_of: dict[int, int | None]


def chunks(ids: Sequence[int], size: int = CHUNK) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def load_facts(session: Session, period: Period, area: OrgUnit | None = None) -> Facts:
    """Load the cases (within `area`, if given) that can count in `period`, with their tasks as of
    the period's end."""
    query = select(MediationCase.id, MediationCase.org_unit_id, MediationCase.created_at,
                   MediationCase.closed_at).where(
        MediationCase.created_at < period.as_of,
        or_(MediationCase.closed_at.is_(None), MediationCase.closed_at >= period.start))
    if area is not None:
        query = query.join(OrgUnit, OrgUnit.id == MediationCase.org_unit_id).where(OrgUnit.path.startswith(area.path))
    cases: dict[int, CaseFact] = {}
    # fetched whole (row by row, psycopg answers each fetch on its own: a third of the time here)
    for cid, unit_id, created, closed in session.connection().execute(query).all():
        cases[cid] = CaseFact(cid, unit_id, created, closed if closed is not None and closed < period.as_of else None)
    # only the answers of departments (action) and callbacks (solved, satisfied) are read, picked out by
    # the database: the forms' other fields (a department's opinion text) never reach Python
    dispatch, callback = HumanTask.role.in_(DISPATCH_ROLES), HumanTask.form == CALLBACK_FORM
    columns = (HumanTask.id, HumanTask.case_id, HumanTask.name, HumanTask.role, HumanTask.department_id,
               HumanTask.form, HumanTask.created_at, HumanTask.due_at, HumanTask.completed_at, HumanTask.status,
               sql_case((dispatch, HumanTask.data["action"].as_string()), else_=None).label("action"),
               sql_case((callback, json_is_true(HumanTask.data, "solved")), else_=None).label("solved"),
               sql_case((callback, json_is_true(HumanTask.data, "satisfied")), else_=None).label("satisfied"))
    as_of = period.as_of
    cancelled_status = TaskStatus.cancelled
    for ids in chunks(sorted(cases)):
        rows = session.connection().execute(select(*columns).where(id_in(session, HumanTask.case_id, ids),
                                                                   HumanTask.created_at < as_of)).all()
        # the task as it stood at the period's end: later completions are not yet known
        for (tid, case_id, name, role, department_id, form, created, due, completed, status, action, solved,
             satisfied) in rows:
            if completed is not None and completed >= as_of:
                completed = None
            cases[case_id].tasks.append(TaskFact(
                tid, case_id, name, role, department_id, form, created, due, completed,
                status == cancelled_status and completed is not None,
                {"action": action, "solved": bool(solved), "satisfied": bool(satisfied)} if completed is not None
                else {}))
    for case in cases.values():
        case.tasks.sort(key=lambda t: (t.created_at, t.id))
    return Facts(period, cases, townships(session))


def dispatches(case: CaseFact) -> list[Dispatch]:
    """The case's dispatches: per department, a new one starts unless the previous task asked for
    an extension (the department gets its task again after the leader's decision)."""
    found: list[Dispatch] = []
    current: dict[int, Dispatch] = {}
    for task in case.tasks:
        if task.department_id is None or task.role not in DISPATCH_ROLES:
            continue
        chain = current.get(task.department_id)
        if chain is not None and chain.last.action == EXTENSION:
            chain.tasks.append(task)
            continue
        chain = Dispatch(case.id, task.department_id, [task])
        current[task.department_id] = chain
        found.append(chain)
    return found


def callbacks(case: CaseFact) -> list[TaskFact]:
    """The case's completed callbacks (回访), oldest first."""
    return [t for t in case.tasks if t.form == CALLBACK_FORM and t.completed_at is not None and not t.cancelled]



@dataclass
class Row:
    """One unit's items: every count key of app.reports.tally with the case ids behind it."""

    items: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def add(self, key: str, case_id: int) -> None:
        self.items[key].append(case_id)

    def hit(self, rate: str, ok: bool, case_id: int) -> None:
        ok_key, miss_key = HITS[rate]
        self.items[ok_key if ok else miss_key].append(case_id)

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.items.items() if v}


def _response(row: Row, task: TaskFact, as_of: datetime) -> None:
    """Response: the first task of an item done (any answer) within its time limit. Still open and
    not yet due: undecided, left out of the rate."""
    if task.completed_at is not None:
        row.hit("response_rate", task.due_at is None or task.completed_at <= task.due_at, task.case_id)
    elif task.due_at is not None and task.due_at < as_of and not task.cancelled:
        row.hit("response_rate", False, task.case_id)


def _callback(row: Row, task: TaskFact) -> None:
    row.hit("resolution_rate", task.data.get("solved") is True, task.case_id)
    row.hit("satisfaction_rate", task.data.get("satisfied") is True, task.case_id)


def _department_row(row: Row, facts: Facts, work: list[tuple[CaseFact, list[Dispatch]]]) -> None:
    """`work`: the cases dispatched to the department, each with its dispatches to it."""
    period = facts.period
    for case, chains in work:
        for chain in chains:
            finished = chain.finished_at
            if in_period(chain.dispatched_at, period):
                row.add("dispatched", case.id)
                _response(row, chain.first, period.as_of)
            for task in chain.tasks:
                if task.action == RETURN and in_period(task.completed_at, period):
                    row.add("returned", case.id)
                if task.action == EXTENSION and in_period(task.completed_at, period):
                    row.add("extensions", case.id)
            if chain.outcome == OPINION and in_period(finished, period):
                late = chain.due is not None and finished is not None and finished > chain.due
                row.add("closed_late" if late else "closed_on_time", case.id)
                if late:
                    row.add("not_on_time", case.id)
            if finished is None and chain.dispatched_at < period.as_of:
                row.add("still_open", case.id)
                if chain.due is not None and chain.due < period.as_of:
                    row.add("overdue", case.id)
                    row.add("not_on_time", case.id)
        answered = [c.finished_at for c in chains if c.outcome == OPINION and c.finished_at is not None]
        for task in callbacks(case):
            if in_period(task.completed_at, period) and answered and min(answered) <= task.completed_at:
                _callback(row, task)


def _place_row(row: Row, facts: Facts, cases: Iterable[CaseFact]) -> None:
    period = facts.period
    for case in cases:
        if in_period(case.created_at, period):
            row.add("dispatched", case.id)
            if case.tasks:
                _response(row, case.tasks[0], period.as_of)
        for task in case.tasks:
            if task.role in DISPATCH_ROLES and task.action == RETURN and in_period(task.completed_at, period):
                row.add("returned", case.id)
            if task.role in DISPATCH_ROLES and task.action == EXTENSION and in_period(task.completed_at, period):
                row.add("extensions", case.id)
        if in_period(case.closed_at, period):
            late = any(t.late for t in case.tasks)
            row.add("closed_late" if late else "closed_on_time", case.id)
            if late:
                row.add("not_on_time", case.id)
        if case.closed_at is None:
            row.add("still_open", case.id)
            if any(t.open and t.due_at is not None and t.due_at < period.as_of for t in case.tasks):
                row.add("overdue", case.id)
                row.add("not_on_time", case.id)
        calls = callbacks(case)
        for task in calls:
            if in_period(task.completed_at, period):
                _callback(row, task)
        if not calls and in_period(case.closed_at, period):
            # settled on the spot or resolved at the village/township: closed without a callback
            row.hit("resolution_rate", True, case.id)



def department_rows(facts: Facts) -> dict[int, Row]:
    """department id -> its row"""
    rows: dict[int, Row] = {}
    work: dict[int, list[tuple[CaseFact, list[Dispatch]]]] = defaultdict(list)
    for case in facts.cases.values():
        per_department: dict[int, list[Dispatch]] = defaultdict(list)
        for chain in dispatches(case):
            per_department[chain.department_id].append(chain)
        for department_id, chains in per_department.items():
            work[department_id].append((case, chains))
    for department_id, cases in work.items():
        rows[department_id] = Row()
        _department_row(rows[department_id], facts, cases)
    return rows


def place_rows(facts: Facts) -> dict[int, Row]:
    """org unit id -> the row of the cases filed there"""
    grouped: dict[int, list[CaseFact]] = defaultdict(list)
    for case in facts.cases.values():
        grouped[case.org_unit_id].append(case)
    rows = {}
    for unit_id, cases in grouped.items():
        rows[unit_id] = Row()
        _place_row(rows[unit_id], facts, cases)
    return rows
