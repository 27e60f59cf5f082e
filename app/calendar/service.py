"""A county's working-day calendar: the admin's day-off / make-up-workday entries, and loading it.

Every entry belongs to a county and applies to every township and village below it. A county
holds at most one entry per day: adding a second one for the same day is rejected with
`CalendarConflict` (remove the first, then add); an entry that would change nothing (a day off
on a day that is already off, a make-up workday on a day already worked) is rejected with
`CalendarError`.

`load_calendar` caches the built `WorkCalendar` per database and county, under a version stamp
read with one aggregate query (row count, max id, max created_at) plus a process-local
generation bumped by every add and remove, so a calendar is rebuilt whenever its rows change
(also when another process changed them) and otherwise costs one small query per load.
"""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.calendar.models import CalendarDay, CalendarKind
from app.calendar.workcalendar import WorkCalendar, national_is_workday
from app.db import after_commit
from app.errors import InvalidInput
from app.org.models import OrgLevel, OrgUnit, User

#: the longest note the calendar_day.note column holds
NOTE_MAX_LENGTH = 200


class CalendarError(InvalidInput, ValueError):
    """An admin calendar entry that is invalid or would change nothing."""


class CalendarConflict(CalendarError):
    """A second entry for a day the county already has an entry for."""

    status = 409
    code = "conflict"


_lock = threading.Lock()
#: (database url, county id) -> generation, bumped by every add and remove in this process
_generations: dict[tuple[str, int], int] = {}
#: (database url, county id) -> (version stamp, calendar)
_cache: dict[tuple[str, int], tuple[tuple[Any, ...], WorkCalendar]] = {}


def _cache_key(session: Session, county_id: int) -> tuple[str, int]:
    return (str(session.get_bind().engine.url), county_id)


def _bump_generation(key: tuple[str, int]) -> None:
    with _lock:
        _generations[key] = _generations.get(key, 0) + 1


def _changed(session: Session, county_id: int) -> None:
    """Invalidate the county's cached calendar now and again once the change commits."""
    key = _cache_key(session, county_id)
    _bump_generation(key)
    after_commit(session, lambda: _bump_generation(key))


def clear_calendar_cache() -> None:
    """Forget every cached calendar (tests, or after editing calendar rows by hand)."""
    with _lock:
        _cache.clear()


def _require_county(county: OrgUnit) -> None:
    if county.level != OrgLevel.county:
        raise CalendarError(
            f"calendar entries belong to a county, not to the {county.level} {county.name}",
            fields={"county": "must be a county"},
        )
    if county.id is None:
        raise CalendarError("the county has not been saved yet", fields={"county": "must be saved"})


def _find_entry(session: Session, county: OrgUnit, day: date) -> CalendarDay | None:
    return session.scalar(
        select(CalendarDay).where(CalendarDay.org_unit_id == county.id, CalendarDay.day == day)
    )


def add_calendar_day(
    session: Session,
    *,
    county: OrgUnit,
    day: date,
    kind: str,
    note: str = "",
    actor: User | None = None,
) -> CalendarDay:
    """Mark `day` as an extra day off ("off") or a make-up workday ("work") for a county."""
    _require_county(county)
    try:
        entry_kind = CalendarKind(kind)
    except ValueError:
        raise CalendarError(
            f"unknown calendar entry kind {kind!r}", fields={"kind": "must be off or work"}
        ) from None
    if not isinstance(day, date):
        raise CalendarError(f"not a date: {day!r}", fields={"day": "must be a date"})
    note = note or ""
    if len(note) > NOTE_MAX_LENGTH:
        raise CalendarError("the note is too long", fields={"note": f"at most {NOTE_MAX_LENGTH} characters"})
    existing = _find_entry(session, county, day)
    if existing is not None:
        raise CalendarConflict(
            f"{county.name} already has a {existing.kind!r} entry on {day.isoformat()}; remove it first",
            fields={"day": "already has an entry"},
        )
    works = national_is_workday(day)
    if entry_kind == CalendarKind.off and not works:
        raise CalendarError(
            f"{day.isoformat()} is already not a working day", fields={"day": "already a day off"}
        )
    if entry_kind == CalendarKind.work and works:
        raise CalendarError(
            f"{day.isoformat()} is already a working day", fields={"day": "already a working day"}
        )
    entry = CalendarDay(
        org_unit_id=county.id,
        day=day,
        kind=entry_kind.value,
        note=note,
        created_by_id=actor.id if actor is not None else None,
    )
    session.add(entry)
    session.flush()
    _changed(session, county.id)
    return entry


def remove_calendar_day(session: Session, *, county: OrgUnit, day: date) -> None:
    """Delete a county's entry for `day`, returning the day to the national schedule."""
    _require_county(county)
    entry = _find_entry(session, county, day)
    if entry is None:
        raise CalendarError(
            f"{county.name} has no calendar entry on {day.isoformat()}", fields={"day": "has no entry"}
        )
    session.delete(entry)
    session.flush()
    _changed(session, county.id)


def list_calendar_days(session: Session, county: OrgUnit, year: int | None = None) -> list[CalendarDay]:
    """Return a county's entries in day order, optionally only those of one year."""
    query = select(CalendarDay).where(CalendarDay.org_unit_id == county.id)
    if year is not None:
        query = query.where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
    return list(session.scalars(query.order_by(CalendarDay.day)))


def find_county(session: Session, org_unit: OrgUnit) -> OrgUnit:
    """Return the county an org unit lies in (itself for a county), by its path or its parents."""
    if org_unit.level == OrgLevel.county:
        return org_unit
    ids = org_unit.lineage_ids
    if ids:
        found = session.scalars(
            select(OrgUnit).where(OrgUnit.id.in_(ids), OrgUnit.level == OrgLevel.county)
        ).all()
        if found:
            by_id = {unit.id: unit for unit in found}
            return next(by_id[i] for i in reversed(ids) if i in by_id)
    current = org_unit.parent
    while current is not None:
        if current.level == OrgLevel.county:
            return current
        current = current.parent
    raise CalendarError(f"{org_unit.name} lies in no county", fields={"org_unit": "has no county"})


def _version_stamp(session: Session, county_id: int) -> tuple[Any, ...]:
    count, max_id, max_created = session.execute(
        select(func.count(CalendarDay.id), func.max(CalendarDay.id), func.max(CalendarDay.created_at)).where(
            CalendarDay.org_unit_id == county_id
        )
    ).one()
    return (count, max_id, max_created)


def _county_id(session: Session, org_unit: OrgUnit) -> int:
    """The id of the county an org unit lies in: the top of its path (a county is the root of its
    tree), without a query; `find_county` for a unit without a path."""
    ids = org_unit.lineage_ids
    if org_unit.level == OrgLevel.county or not ids:
        return find_county(session, org_unit).id
    return ids[0]


def load_calendar(session: Session, org_unit: OrgUnit) -> WorkCalendar:
    """Return the working-day calendar of the county `org_unit` lies in, cached until its rows change."""
    county_id = _county_id(session, org_unit)
    key = _cache_key(session, county_id)
    with _lock:
        generation = _generations.get(key, 0)
    stamp = (generation, *_version_stamp(session, county_id))
    cached = _cache.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    rows = session.execute(
        select(CalendarDay.day, CalendarDay.kind).where(CalendarDay.org_unit_id == county_id)
    ).all()
    calendar = WorkCalendar(
        days_off=(d for d, k in rows if k == CalendarKind.off),
        extra_workdays=(d for d, k in rows if k == CalendarKind.work),
    )
    with _lock:
        _cache[key] = (stamp, calendar)
    return calendar
