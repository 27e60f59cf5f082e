"""Every definition behind the ledger, the monthly assessment and the dashboard, in one place.

Nothing here is typed by a person: the numbers are derived from the case rows and their human tasks
(which hold, with their timestamps, every dispatch, answer, return, extension request and callback
the event log records). The ranking page, its drill-down, the dashboard, the exports and the API all
call these functions, so a number is the same wherever it is shown. The rules that turn cases and
tasks into counts are SQL predicates in app/reports/tally.py (the database counts a month of a
million-case county in a fraction of a second); docs/reports.md explains the definitions for
people, tests/reports/oracle.py restates them in plain Python for the tests; keep the three in step.

A month is judged **as of its end** (or now, for the current month): what happened during the month
counts in it, and what is still open is what was open at that moment, so October's numbers do not
change after October is over.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.errors import InvalidInput
from app.org.models import Department, OrgUnit, path_ids
from app.reports import tally
from app.timeutil import LOCAL_TZ

logger = logging.getLogger(__name__)

T = TypeVar("T")

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


# --- one unit's row ---------------------------------------------------------------------------------

def townships(session: Session) -> dict[int, int | None]:
    """org unit id -> the id of the township it is in (itself for a township; None above)."""
    units = list(session.execute(select(OrgUnit.id, OrgUnit.level, OrgUnit.path)))
    township_ids = {uid for uid, level, _ in units if level == "township"}
    found: dict[int, int | None] = {}
    for uid, _level, path in units:
        found[uid] = next((i for i in path_ids(path) if i in township_ids), None)
    return found


@dataclass
class Row:
    """One assessed unit (a department or a township) in one month: its counts (app.reports.tally's
    keys: the columns, and the hits and misses of the rates) and, once ranked, its score and place."""

    code: str
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    score: float | None = None
    rank: int | None = None
    previous_score: float | None = None
    previous_rank: int | None = None

    def count(self, key: str) -> int:
        return self.counts.get(key, 0)

    @property
    def parts(self) -> dict[str, list[int]]:
        """Numerator and base of each rate."""
        found = {}
        for rate, (hit, miss) in tally.HITS.items():
            found[rate] = [self.count(hit), self.count(hit) + self.count(miss)]
        on_time, late, overdue = self.count("closed_on_time"), self.count("closed_late"), self.count("overdue")
        found["on_time_rate"] = [on_time, on_time + late + overdue]
        return found

    def rate(self, key: str) -> float | None:
        num, base = self.parts[key]
        return round(100.0 * num / base, 1) if base else None

    @property
    def active(self) -> bool:
        return any(self.count(k) for k in COUNTS) or any(base for _, base in self.parts.values())

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


#: the counts a row holds
KEYS = (*COUNTS, *(key for pair in tally.HITS.values() for key in pair))


def _window(period: Period) -> tally.Window:
    return tally.Window(period.start, period.as_of)


def _sources(period: Period, by: str, area: OrgUnit | None) -> list[tally.Source]:
    if by == "department":
        return tally.department_sources(_window(period), area)
    return tally.place_sources(_window(period), area)


def _by_township(session: Session, counts: dict[int, dict[str, int]]) -> dict[int | None, dict[str, int]]:
    """Counts per org unit folded into their townships (None: the county level)."""
    township_of = townships(session)
    found: dict[int | None, Counter[str]] = defaultdict(Counter)
    for unit_id, values in counts.items():
        found[township_of.get(unit_id)].update(values)
    return {k: dict(v) for k, v in found.items()}


def unit_rows(session: Session, period: Period, by: str, units: Sequence[Unit],
              area: OrgUnit | None = None) -> list[Row]:
    """One unfinished row (counts, no score) per unit, of the cases in `area`."""
    counts = tally.count(session, _sources(period, by, area), KEYS)
    per_unit: dict[Any, dict[str, int]] = counts if by == "department" else _by_township(session, counts)
    return [Row(unit.code, unit.name, per_unit.get(unit.id, {})) for unit in units]


def area_row(session: Session, period: Period, area: OrgUnit | None = None, code: str = "all",
             name: str = "") -> Row:
    """All the area's cases as one row, by the township rules (the dashboard's three rates)."""
    total: Counter[str] = Counter()
    for values in tally.count(session, tally.place_sources(_window(period), area), KEYS).values():
        total.update(values)
    return Row(code, name, dict(total))


#: How long the current month's numbers are kept once computed, from ONESTOP_REPORT_MAX_AGE when the
#: app starts: a number of seconds (0: computed on every view), or None (the default) to judge by the
#: cost: numbers that took SLOW seconds or more to compute are kept KEEP_FACTOR times as long as they
#: took (0.4 s of work: 24 seconds), and once that has passed they are served one more time while
#: they are computed again in the background, so no view waits for them; cheaper numbers are computed
#: on every view, so a county of ordinary size always sees the moment's numbers (a page is meant to
#: answer within 50 ms: a tenth of a second of work is already too much to do on every view).
LIVE_MAX_AGE: float | None = None
SLOW = 0.1
KEEP_FACTOR = 60
#: kept numbers older than this many times their keeping time are not served even in the meantime
STALE_FACTOR = 10

#: computed numbers by (database, month, what, ...) -> (as of, value, seconds it took). A month that
#: is over is judged as of its end and every fact is written with the time it happened: its numbers
#: never change and are kept for good; the current month's as LIVE_MAX_AGE says.
_KEPT: OrderedDict[tuple[Any, ...], tuple[datetime, Any, float]] = OrderedDict()
_KEPT_SIZE = 256
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
                        lambda s, p: unit_rows(s, p, by, units, _again(s, area_id)))
    return [replace(r) for r in rows], as_of


def month_area_row(session: Session, period: Period, area: OrgUnit | None = None) -> tuple[Row, datetime]:
    """`area_row` of the period's cases in the area (a copy), and the moment it is as of."""
    area_id = area.id if area is not None else None
    row, as_of = _kept(session, period, ("area", area.path if area is not None else ""),
                       lambda s, p: area_row(s, p, _again(s, area_id)))
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
          area: OrgUnit | None = None) -> list[int]:
    """The case ids behind one of a unit's numbers (distinct, newest case first), as of the same
    moment as the number shown (kept like it, by their cost)."""
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
    _rows, as_of = month_rows(session, period, by, units, area)
    # the cases behind the number shown: as of the moment the (kept) row is
    if by == "department":
        unit_ids: list[int] = [unit.id]
    else:
        unit_ids = [uid for uid, township in townships(session).items() if township == unit.id]
    area_id = area.id if area is not None else None

    def compute(s: Session, p: Period) -> list[int]:
        return tally.cases_behind(s, _sources(replace(p, as_of=as_of), by, _again(s, area_id)), metric, unit_ids)

    what = ("cases", by, area.path if area is not None else "", code, metric, as_of)
    ids, _ = _kept(session, period, what, compute)
    return list(ids)


def days_begun(seconds: float) -> int:
    """Seconds late as days begun: 1 s late is one day overdue. The ledger's overdue days (超期天数)
    are this of the case's worst task: the time past its due at its completion (or now, while open),
    cancelled tasks left out."""
    return math.ceil(seconds / 86400) if seconds > 0 else 0
