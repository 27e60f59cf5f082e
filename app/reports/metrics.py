"""Every definition behind the ledger, the monthly assessment and the dashboard, in one place.

Nothing here is typed by a person: the numbers are derived from the case rows and their human tasks
(which hold, with their timestamps, every dispatch, answer, return, extension request and callback
the event log records). The ranking page, its drill-down, the dashboard, the exports and the API all
call these functions, so a number is the same wherever it is shown. docs/reports.md explains the
definitions for people; keep the two in step.

A month is judged **as of its end** (or now, for the current month): what happened during the month
counts in it, and what is still open is what was open at that moment, so October's numbers do not
change after October is over.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import case as sql_case
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app import clock
from app.cases.models import MediationCase
from app.db import id_in, json_is_true
from app.errors import InvalidInput
from app.org.models import Department, OrgUnit
from app.tasks.models import HumanTask, TaskStatus
from app.timeutil import LOCAL_TZ

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: the form of the callback task (回访): its data says `solved` and `satisfied`
CALLBACK_FORM = "callback.json"
#: roles whose tasks are dispatches to a department or service (派单)
DISPATCH_ROLES = ("department", "service")
#: department task actions (the `action` field of the department's form)
RETURN, EXTENSION, OPINION = "return", "extension", "opinion"

#: the count columns of the monthly assessment, in the order hotline centers print them
COUNTS = ("dispatched", "closed_on_time", "closed_late", "still_open", "overdue", "returned", "extensions")
#: the rates; each is numerator / base in percent
RATES = ("response_rate", "resolution_rate", "satisfaction_rate", "on_time_rate")
#: what each rate's drill-down lists: the items that pull the rate down
RATE_DRILL = {"response_rate": "response_late", "resolution_rate": "unresolved",
              "satisfaction_rate": "unsatisfied", "on_time_rate": "not_on_time"}
#: every list of items a number can be drilled into
DRILLS = (*COUNTS, *RATE_DRILL.values())
#: weights of the score by rate (percent, summing to 100); the setting overrides them
DEFAULT_WEIGHTS = {"response": 30, "resolution": 35, "satisfaction": 35, "on_time": 0}
WEIGHT_RATES = {"response": "response_rate", "resolution": "resolution_rate",
                "satisfaction": "satisfaction_rate", "on_time": "on_time_rate"}
BY = ("department", "township")
#: how many case ids are looked up in one query
CHUNK = 5000


# --- the month -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """A calendar month in the center's time zone, judged as of `as_of` (its end, or now)."""

    month: str
    start: datetime
    end: datetime
    as_of: datetime

    @property
    def complete(self) -> bool:
        """True when the month is over (its numbers no longer change)."""
        return self.as_of >= self.end


def month_period(year: int, month: int, now: datetime | None = None) -> Period:
    start = datetime(year, month, 1, tzinfo=LOCAL_TZ)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=LOCAL_TZ)
    now = now or clock.now()
    return Period(f"{year:04d}-{month:02d}", start, end, min(now, end))


def parse_month(text: str | None, *, field_name: str = "month") -> Period:
    """`YYYY-MM` → Period; empty means the current month. A month not yet begun is invalid input."""
    now = clock.now()
    if not text:
        local = now.astimezone(LOCAL_TZ)
        return month_period(local.year, local.month, now)
    parts = text.strip().split("-")
    try:
        if len(parts) != 2 or len(parts[0]) != 4 or len(parts[1]) != 2:
            raise ValueError
        year, month = int(parts[0]), int(parts[1])
        if not 1 <= month <= 12 or year < 2000:
            raise ValueError
    except ValueError:
        raise InvalidInput("the month is not valid", fields={field_name: "use YYYY-MM, e.g. 2026-10"}) from None
    period = month_period(year, month, now)
    if period.start > now:
        raise InvalidInput("the month has not begun", fields={field_name: "a month that has begun"})
    return period


def previous(period: Period) -> Period:
    local = period.start.astimezone(LOCAL_TZ)
    year, month = (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
    return month_period(year, month)


def in_period(moment: datetime | None, period: Period) -> bool:
    return moment is not None and period.start <= moment < period.as_of


# --- facts as of a moment ----------------------------------------------------------------------------

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


def townships(session: Session) -> dict[int, int | None]:
    """org unit id -> the id of the township it is in (itself for a township; None above)."""
    units = list(session.execute(select(OrgUnit.id, OrgUnit.level, OrgUnit.path)))
    township_ids = {uid for uid, level, _ in units if level == "township"}
    found: dict[int, int | None] = {}
    for uid, _level, path in units:
        ids = [int(p) for p in path.strip("/").split("/") if p] + [uid]
        found[uid] = next((i for i in ids if i in township_ids), None)
    return found


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


# --- one unit's row ---------------------------------------------------------------------------------

@dataclass
class Row:
    """One assessed unit (a department or a township) in one month: every count with the case ids
    behind it (a case appears once per item, e.g. twice when dispatched twice)."""

    code: str
    name: str
    items: dict[str, list[int]] = field(default_factory=lambda: {k: [] for k in DRILLS})
    #: numerator and base of each rate
    parts: dict[str, list[int]] = field(default_factory=lambda: {k: [0, 0] for k in RATES})
    score: float | None = None
    rank: int | None = None
    previous_score: float | None = None
    previous_rank: int | None = None

    def count(self, key: str) -> int:
        return len(self.items[key])

    def rate(self, key: str) -> float | None:
        num, base = self.parts[key]
        return round(100.0 * num / base, 1) if base else None

    def add(self, key: str, case_id: int) -> None:
        self.items[key].append(case_id)

    def hit(self, rate: str, ok: bool, case_id: int) -> None:
        self.parts[rate][1] += 1
        if ok:
            self.parts[rate][0] += 1
        else:
            self.items[RATE_DRILL[rate]].append(case_id)

    @property
    def active(self) -> bool:
        return any(self.items[k] for k in COUNTS) or any(base for _, base in self.parts.values())

    @property
    def score_change(self) -> float | None:
        if self.score is None or self.previous_score is None:
            return None
        return round(self.score - self.previous_score, 1)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "name": self.name, "rank": self.rank}
        data.update({k: self.count(k) for k in COUNTS})
        data.update({k: self.rate(k) for k in RATES})
        data["score"] = self.score
        data["previous_rank"] = self.previous_rank
        data["previous_score"] = self.previous_score
        data["score_change"] = self.score_change
        return data


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
    _on_time(row)


def _on_time(row: Row) -> None:
    on_time, late, overdue = row.count("closed_on_time"), row.count("closed_late"), row.count("overdue")
    row.parts["on_time_rate"] = [on_time, on_time + late + overdue]


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
    _on_time(row)


# --- the score and the ranking ---------------------------------------------------------------------

def score(row: Row, weights: dict[str, int]) -> float | None:
    """Weighted mean of the rates in percent; a rate without data is left out and the other weights
    count in its place. None when no weighted rate has data."""
    total = 0.0
    used = 0
    for key, weight in weights.items():
        value = row.rate(WEIGHT_RATES[key])
        if weight and value is not None:
            total += weight * value
            used += weight
    return round(total / used, 1) if used else None


def rank(rows: list[Row], weights: dict[str, int]) -> list[Row]:
    """Score every row and order them worst first (逆排名): lowest score first, then the most
    overdue, then the most still open; rows without a score come last, unranked."""
    for row in rows:
        row.score = score(row, weights)
    ordered = sorted(rows, key=lambda r: (r.score is None, r.score if r.score is not None else 0.0,
                                          -r.count("overdue"), -r.count("still_open"), r.code))
    for position, row in enumerate(ordered, start=1):
        row.rank = position if row.score is not None else None
    return ordered


@dataclass(frozen=True)
class Unit:
    """An assessed unit: a department (by id) or a township (org unit id)."""

    id: int
    code: str
    name: str


def department_units(session: Session, only: Sequence[int] | None = None) -> list[Unit]:
    query = select(Department.id, Department.code, Department.name).order_by(Department.code)
    if only is not None:
        query = query.where(Department.id.in_(list(only)))
    return [Unit(i, c, n) for i, c, n in session.execute(query)]


def township_units(session: Session, area: OrgUnit | None = None) -> list[Unit]:
    query = select(OrgUnit.id, OrgUnit.code, OrgUnit.name, OrgUnit.path).where(OrgUnit.level == "township")
    units = []
    for i, c, n, path in session.execute(query.order_by(OrgUnit.path)):
        if area is None or path.startswith(area.path) or area.path.startswith(path):
            units.append(Unit(i, c, n))
    return units


def unit_rows(facts: Facts, by: str, units: Sequence[Unit]) -> list[Row]:
    """One unfinished row (counts and rates, no score) per unit."""
    rows = []
    if by == "department":
        work: dict[int, list[tuple[CaseFact, list[Dispatch]]]] = defaultdict(list)
        for case in facts.cases.values():
            per_department: dict[int, list[Dispatch]] = defaultdict(list)
            for chain in dispatches(case):
                per_department[chain.department_id].append(chain)
            for department_id, chains in per_department.items():
                work[department_id].append((case, chains))
        for unit in units:
            row = Row(unit.code, unit.name)
            _department_row(row, facts, work.get(unit.id, []))
            rows.append(row)
        return rows
    grouped: dict[int | None, list[CaseFact]] = defaultdict(list)
    for case in facts.cases.values():
        grouped[facts.township_of.get(case.org_unit_id)].append(case)
    for unit in units:
        row = Row(unit.code, unit.name)
        _place_row(row, facts, grouped.get(unit.id, []))
        rows.append(row)
    return rows


def area_row(facts: Facts, code: str = "all", name: str = "") -> Row:
    """All the loaded cases as one row (the dashboard's three rates for a leader's area)."""
    row = Row(code, name)
    _place_row(row, facts, facts.cases.values())
    return row


#: How long the current month's numbers are kept once computed, from ONESTOP_REPORT_MAX_AGE when the
#: app starts: a number of seconds (0: computed on every view), or None (the default) to judge by the
#: cost: numbers that took SLOW seconds or more to compute are kept KEEP_FACTOR times as long as they
#: took (5 s of work: 5 minutes), and once that has passed they are served one more time while they
#: are computed again in the background, so no view waits for them; cheaper numbers are computed on
#: every view, so a county of ordinary size always sees the moment's numbers.
LIVE_MAX_AGE: float | None = None
SLOW = 0.5
KEEP_FACTOR = 60
#: kept numbers older than this many times their keeping time are not served even in the meantime
STALE_FACTOR = 10

#: computed numbers by (database, month, what, ...) -> (as of, value, seconds it took). A month that
#: is over is judged as of its end and every fact is written with the time it happened: its numbers
#: never change and are kept for good; the current month's as LIVE_MAX_AGE says.
_KEPT: OrderedDict[tuple[Any, ...], tuple[datetime, Any, float]] = OrderedDict()
_KEPT_SIZE = 64
_KEPT_LOCK = threading.Lock()
#: keys being computed again in the background
_REFRESHING: set[tuple[Any, ...]] = set()


def _keep_for(took: float) -> float:
    """Seconds the current month's numbers that took `took` seconds to compute are kept."""
    if LIVE_MAX_AGE is not None:
        return LIVE_MAX_AGE
    return took * KEEP_FACTOR if took >= SLOW else 0.0


def _store(key: tuple[Any, ...], period: Period, value: Any, took: float) -> None:
    if period.complete or _keep_for(took) > 0:
        with _KEPT_LOCK:
            _KEPT[key] = (period.as_of, value, took)
            _KEPT.move_to_end(key)
            while len(_KEPT) > _KEPT_SIZE:
                _KEPT.popitem(last=False)


def _compute(key: tuple[Any, ...], session: Session, period: Period,
             compute: Callable[[Session, Period], T]) -> T:
    started = time.perf_counter()
    value = compute(session, period)
    _store(key, period, value, time.perf_counter() - started)
    return value


def _refresh_later(key: tuple[Any, ...], bind: Any, month: str, compute: Callable[[Session, Period], T]) -> None:
    """Compute the current month's numbers again in a thread of their own (one at a time per key)."""
    with _KEPT_LOCK:
        if key in _REFRESHING:
            return
        _REFRESHING.add(key)

    def run() -> None:
        try:
            with Session(bind=bind) as session:
                _compute(key, session, parse_month(month), compute)
        except Exception:  # noqa: BLE001  (the next view computes them itself)
            logger.exception("computing the numbers of %s again failed", month)
        finally:
            with _KEPT_LOCK:
                _REFRESHING.discard(key)

    threading.Thread(target=run, name=f"report-refresh-{month}", daemon=True).start()


def _kept(session: Session, period: Period, what: tuple[Any, ...], compute: Callable[[Session, Period], T]
          ) -> tuple[T, datetime]:
    """`compute(session, period)`'s value, and the moment it is as of: kept, when still valid, else
    computed now. Callers get the kept value itself: they copy what they change."""
    key = (str(session.get_bind().url), period.month, *what)
    with _KEPT_LOCK:
        found = _KEPT.get(key)
        if found is not None:
            _KEPT.move_to_end(key)
    if found is not None:
        as_of, value, took = found
        if period.complete:
            # kept while the month was still running, it is not the month's final word
            if as_of >= period.end:
                return value, as_of
        else:
            age = (period.as_of - as_of).total_seconds()
            keep = _keep_for(took)
            if 0 <= age <= keep:
                return value, as_of
            if LIVE_MAX_AGE is None and keep > 0 and 0 <= age <= keep * STALE_FACTOR:
                _refresh_later(key, session.get_bind(), period.month, compute)
                return value, as_of
    return _compute(key, session, period, compute), period.as_of


def _again(session: Session, area_id: int | None) -> OrgUnit | None:
    """The area as the computing session has it (numbers may be computed again in another thread)."""
    return session.get(OrgUnit, area_id) if area_id is not None else None


def month_rows(session: Session, period: Period, by: str, units: Sequence[Unit],
               area: OrgUnit | None = None) -> tuple[list[Row], datetime]:
    """`unit_rows` of the period (fresh copies: the caller scores and ranks them) and the moment
    they are as of (the period's end, or when they were computed)."""
    area_id = area.id if area is not None else None
    rows, as_of = _kept(session, period, ("rows", by, area.path if area is not None else "", tuple(units)),
                        lambda s, p: unit_rows(load_facts(s, p, _again(s, area_id)), by, units))
    return [replace(r) for r in rows], as_of


def month_area_row(session: Session, period: Period, area: OrgUnit | None = None) -> tuple[Row, datetime]:
    """`area_row` of the period's cases in the area (a copy), and the moment it is as of."""
    area_id = area.id if area is not None else None
    row, as_of = _kept(session, period, ("area", area.path if area is not None else ""),
                       lambda s, p: area_row(load_facts(s, p, _again(s, area_id))))
    return replace(row), as_of


@dataclass
class Ranking:
    period: Period
    by: str
    weights: dict[str, int]
    rows: list[Row]


def ranking(session: Session, period: Period, by: str, weights: dict[str, int], *,
            area: OrgUnit | None = None, departments: Sequence[int] | None = None,
            keep_inactive: bool | None = None) -> Ranking:
    """The monthly assessment of `period`, worst first, with last month's score and rank.

    `by` is `department` or `township`. Departments without any activity in the month are left out
    (there are dozens); every township is listed. `area` limits the cases to an org unit's subtree,
    `departments` the department rows (a department sees its own row).
    """
    if by not in BY:
        raise InvalidInput("unknown grouping", fields={"by": "department or township"})
    units = department_units(session) if by == "department" else township_units(session, area)
    keep = (by == "township") if keep_inactive is None else keep_inactive
    # inactive rows have no rates, hence no score and no rank: ranking all of them changes no place
    last_rows = {r.code: r for r in rank(month_rows(session, previous(period), by, units, area)[0], weights)}
    current, as_of = month_rows(session, period, by, units, area)
    period = replace(period, as_of=as_of)
    rows = rank(current, weights)
    if departments is not None:
        # a department sees its own row, with its place among all departments
        own = {u.code for u in units if u.id in set(departments)}
        rows = [r for r in rows if r.code in own]
    elif not keep:
        rows = [r for r in rows if r.active]
    for row in rows:
        before = last_rows.get(row.code)
        if before is not None and before.active:
            row.previous_score = before.score
            row.previous_rank = before.rank
    return Ranking(period, by, weights, rows)


def drill(session: Session, period: Period, by: str, code: str, metric: str, *,
          area: OrgUnit | None = None) -> tuple[Row, list[int]]:
    """The unit's row and the case ids behind one of its numbers (distinct, in first-seen order)."""
    if by not in BY:
        raise InvalidInput("unknown grouping", fields={"by": "department or township"})
    if metric in RATE_DRILL:
        metric = RATE_DRILL[metric]
    if metric not in DRILLS:
        raise InvalidInput("unknown number", fields={"metric": f"one of {', '.join(DRILLS)}"})
    units = department_units(session) if by == "department" else township_units(session, area)
    unit = next((u for u in units if u.code == code), None)
    if unit is None:
        raise InvalidInput("unknown unit", fields={"unit": f"no such {by}"})
    row = next(r for r in month_rows(session, period, by, units, area)[0] if r.code == code)
    return row, list(dict.fromkeys(row.items[metric]))


def days_begun(seconds: float) -> int:
    """Seconds late as days begun: 1 s late is one day overdue. The ledger's overdue days (超期天数)
    are this of the case's worst task: the time past its due at its completion (or now, while open),
    cancelled tasks left out."""
    return math.ceil(seconds / 86400) if seconds > 0 else 0
