"""Chinese working days and the deadlines BPMN timers count in them, for one county.

`WorkCalendar` is pure and immutable: it holds one county's admin overrides and answers from them
first, then from the `chinese_calendar` package (public holidays and 调休 make-up workdays) for
the years that package knows, then from plain Monday–Friday for the years it does not.

Deadline convention (the one used everywhere here): a deadline of "n working days" is the END of
the n-th working day strictly after the start day, written as ``YYYY-MM-DDT23:59:59+08:00``
(Asia/Shanghai). The start day itself is never counted, whatever the hour: a case received on
Friday 2026-03-06 at 17:50 with "accept within 1 working day" is due 2026-03-09T23:59:59+08:00.
With n = 0 the deadline is the end of the start day when it is a working day, else the end of
the next working day (so on a non-working start day n = 0 and n = 1 give the same deadline).

Times may be given as aware datetimes, as `date`s, or as ISO 8601 strings (BPMN scripts hold
strings); a naive datetime or an ISO string without an offset is read as Asia/Shanghai time.
China has kept UTC+8 without daylight saving since 1991, so a fixed +08:00 offset is exact.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import chinese_calendar

#: Asia/Shanghai, a fixed UTC+8 with no daylight saving
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

#: the last second of a working day, the time every working-day deadline falls on
END_OF_DAY = time(23, 59, 59)

#: a point in time as callers hold it: an aware datetime, a date, or an ISO 8601 string
Moment = datetime | date | str

#: the years chinese_calendar has a published holiday schedule for
PUBLISHED_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)

#: never walk further than this many days looking for a working day (a bad override set, not a loop)
_MAX_SCAN_DAYS = 366 * 20


def to_shanghai(moment: Moment) -> datetime:
    """Return `moment` as an aware Asia/Shanghai datetime, so day boundaries are China's."""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.strip())
        except ValueError as exc:
            raise ValueError(f"not an ISO 8601 date or time: {moment!r}") from exc
    if not isinstance(moment, datetime):
        if not isinstance(moment, date):
            raise TypeError(f"expected a datetime, date or ISO string, got {type(moment).__name__}")
        moment = datetime.combine(moment, time(0, 0))
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=SHANGHAI)
    return moment.astimezone(SHANGHAI)


def local_day(moment: Moment) -> date:
    """Return the Asia/Shanghai calendar day of `moment`."""
    if isinstance(moment, date) and not isinstance(moment, datetime):
        return moment
    return to_shanghai(moment).date()


def end_of_day(day: date) -> str:
    """Return the deadline string for the end of `day`: ``YYYY-MM-DDT23:59:59+08:00``."""
    return datetime.combine(day, END_OF_DAY, tzinfo=SHANGHAI).isoformat()


def missing_years(years: Iterable[int]) -> list[int]:
    """Return the sorted years among `years` chinese_calendar has no schedule for (admin warning)."""
    return sorted({int(y) for y in years if int(y) not in PUBLISHED_YEARS})


@functools.lru_cache(maxsize=8192)
def national_is_workday(day: date) -> bool:
    """Return whether `day` is a national working day; Monday–Friday for unpublished years."""
    if day.year in PUBLISHED_YEARS:
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            pass
    return day.weekday() < 5


def _check_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"the number of working days must be an int, got {n!r}")
    if n < 0:
        raise ValueError(f"the number of working days must be >= 0, got {n}")
    return n


class WorkCalendar:
    """One county's working days: admin overrides over the national schedule; immutable."""

    __slots__ = ("days_off", "extra_workdays")

    #: extra days off the admin declared (a local holiday, a typhoon day)
    days_off: frozenset[date]
    #: extra make-up workdays the admin declared (on a weekend or a national holiday)
    extra_workdays: frozenset[date]

    def __init__(self, days_off: Iterable[date] = (), extra_workdays: Iterable[date] = ()) -> None:
        off = frozenset(local_day(d) for d in days_off)
        work = frozenset(local_day(d) for d in extra_workdays)
        clash = off & work
        if clash:
            days = ", ".join(d.isoformat() for d in sorted(clash))
            raise ValueError(f"a day cannot be both a day off and a make-up workday: {days}")
        object.__setattr__(self, "days_off", off)
        object.__setattr__(self, "extra_workdays", work)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorkCalendar):
            return NotImplemented
        return self.days_off == other.days_off and self.extra_workdays == other.extra_workdays

    def __hash__(self) -> int:
        return hash((self.days_off, self.extra_workdays))

    def __repr__(self) -> str:
        return f"WorkCalendar(days_off={len(self.days_off)}, extra_workdays={len(self.extra_workdays)})"

    def is_workday(self, day: Moment) -> bool:
        """Return whether `day` (its Shanghai date) is a working day here; never raises for a year."""
        d = local_day(day)
        if d in self.days_off:
            return False
        if d in self.extra_workdays:
            return True
        return national_is_workday(d)

    def next_workday(self, day: date, *, include: bool = False) -> date:
        """Return the first working day after `day` (or `day` itself when `include` and it works)."""
        return self._scan(day, 1, include)

    def previous_workday(self, day: date, *, include: bool = False) -> date:
        """Return the last working day before `day` (or `day` itself when `include` and it works)."""
        return self._scan(day, -1, include)

    def _scan(self, day: date, step: int, include: bool) -> date:
        current = day if include else day + timedelta(days=step)
        for _ in range(_MAX_SCAN_DAYS):
            if self.is_workday(current):
                return current
            current += timedelta(days=step)
        raise ValueError(f"no working day within {_MAX_SCAN_DAYS} days of {day.isoformat()}")

    def add_workdays(self, day: date, n: int) -> date:
        """Return the n-th working day after `day` (n = 0: `day` if it works, else the next one)."""
        current = self.next_workday(day, include=True) if _check_count(n) == 0 else day
        for _ in range(n):
            current = self.next_workday(current)
        return current

    def subtract_workdays(self, day: date, n: int) -> date:
        """Return the n-th working day before `day` (n = 0: `day` if it works, else the one before)."""
        current = self.previous_workday(day, include=True) if _check_count(n) == 0 else day
        for _ in range(n):
            current = self.previous_workday(current)
        return current

    def workdays_after(self, start: Moment, n: int) -> str:
        """Return the deadline n working days after `start`: the end of that day, ISO +08:00."""
        return end_of_day(self.add_workdays(local_day(start), n))

    def workdays_before(self, deadline: Moment, n: int) -> str:
        """Return the end of the working day n working days before `deadline`, for reminders."""
        return end_of_day(self.subtract_workdays(local_day(deadline), n))

    def hours_after(self, start: Moment, n: float) -> str:
        """Return `start` plus n calendar hours (urgent matters run around the clock), ISO +08:00."""
        if isinstance(n, bool) or not isinstance(n, int | float):
            raise TypeError(f"the number of hours must be a number, got {n!r}")
        if n < 0:
            raise ValueError(f"the number of hours must be >= 0, got {n}")
        return (to_shanghai(start) + timedelta(hours=n)).isoformat(timespec="seconds")

    def workdays_between(self, a: Moment, b: Moment) -> int:
        """Return the working days elapsed from `a` to `b`: days after a's day up to b's, signed.

        The count is the number of working days d with day(a) < d <= day(b), negated when b is
        before a; so ``workdays_between(s, workdays_after(s, n)) == n`` for n >= 1, and
        ``workdays_between(deadline, now) > 5`` means "more than 5 working days late".
        """
        first, last = local_day(a), local_day(b)
        sign = 1
        if last < first:
            first, last, sign = last, first, -1
        count = 0
        current = first + timedelta(days=1)
        while current <= last:
            count += self.is_workday(current)
            current += timedelta(days=1)
        return sign * count

    def missing_years(self, years: Iterable[int]) -> list[int]:
        """Return the sorted years among `years` with no published national schedule."""
        return missing_years(years)

    def script_functions(self) -> dict[str, Callable[..., Any]]:
        """Return the functions BPMN scripts and timer expressions may call, bound to this calendar."""
        return {
            "workdays_after": self.workdays_after,
            "hours_after": self.hours_after,
            "workdays_before": self.workdays_before,
            "workdays_between": self.workdays_between,
            "is_workday": self.is_workday,
        }
