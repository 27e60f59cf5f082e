"""The calendar service on SQLite and PostgreSQL: admin entries, validation, loading and caching."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import select

from app.calendar import service
from app.calendar.models import CalendarDay
from app.calendar.service import (
    CalendarConflict,
    CalendarError,
    add_calendar_day,
    find_county,
    list_calendar_days,
    load_calendar,
    remove_calendar_day,
)
from app.calendar.workcalendar import WorkCalendar
from app.db import Database
from app.org.models import OrgUnit, User


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    service.clear_calendar_cache()
    yield
    service.clear_calendar_cache()


def _unit(session, code: str, level: str, parent: OrgUnit | None = None) -> OrgUnit:
    unit = OrgUnit(code=code, name=f"{code} name", level=level, path="/", parent=parent)
    session.add(unit)
    session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    session.flush()
    return unit


@pytest.fixture
def org(db: Database) -> dict[str, int]:
    """A county with a township and a village, plus a second county; returns their ids."""
    with db.unit_of_work() as session:
        county = _unit(session, "county-a", "county")
        township = _unit(session, "township-a1", "township", county)
        village = _unit(session, "village-a1x", "village", township)
        other = _unit(session, "county-b", "county")
        admin = User(username="admin", password_hash="x", roles=["admin"], org_unit_id=county.id)
        session.add(admin)
        session.flush()
        return {
            "county": county.id,
            "township": township.id,
            "village": village.id,
            "other": other.id,
            "admin": admin.id,
        }


def test_add_list_and_load(db: Database, org: dict[str, int]) -> None:
    with db.unit_of_work() as session:
        county = session.get(OrgUnit, org["county"])
        admin = session.get(User, org["admin"])
        entry = add_calendar_day(
            session, county=county, day=date(2026, 3, 9), kind="off", note="台风停工", actor=admin
        )
        assert entry.id is not None
        assert entry.created_by_id == admin.id
        add_calendar_day(session, county=county, day=date(2026, 3, 7), kind="work", note="补班")
        add_calendar_day(session, county=county, day=date(2027, 2, 8), kind="off")

    with db.unit_of_work(write=False) as session:
        county = session.get(OrgUnit, org["county"])
        days = list_calendar_days(session, county)
        assert [(d.day, d.kind, d.note) for d in days] == [
            (date(2026, 3, 7), "work", "补班"),
            (date(2026, 3, 9), "off", "台风停工"),
            (date(2027, 2, 8), "off", ""),
        ]
        assert [d.day for d in list_calendar_days(session, county, year=2027)] == [date(2027, 2, 8)]
        assert list_calendar_days(session, county, year=2025) == []
        assert list_calendar_days(session, session.get(OrgUnit, org["other"])) == []

        village = session.get(OrgUnit, org["village"])
        cal = load_calendar(session, village)
        expected = WorkCalendar(
            days_off={date(2026, 3, 9), date(2027, 2, 8)}, extra_workdays={date(2026, 3, 7)}
        )
        assert cal == expected
        assert cal.workdays_after("2026-03-06T10:00:00+08:00", 1) == "2026-03-07T23:59:59+08:00"
        assert cal.workdays_after("2026-03-06T10:00:00+08:00", 2) == "2026-03-10T23:59:59+08:00"

        # the other county keeps the national schedule
        other = load_calendar(session, session.get(OrgUnit, org["other"]))
        assert other == WorkCalendar()
        assert other.workdays_after("2026-03-06T10:00:00+08:00", 1) == "2026-03-09T23:59:59+08:00"


def test_find_county_from_any_level(db: Database, org: dict[str, int]) -> None:
    with db.unit_of_work(write=False) as session:
        for key in ("county", "township", "village"):
            assert find_county(session, session.get(OrgUnit, org[key])).id == org["county"]


def test_find_county_by_parents_when_the_path_is_unset(db: Database, org: dict[str, int]) -> None:
    with db.unit_of_work() as session:
        township = session.get(OrgUnit, org["township"])
        stray = OrgUnit(code="village-nopath", name="no path", level="village", path="/", parent=township)
        session.add(stray)
        session.flush()
        assert find_county(session, stray).id == org["county"]
        orphan = OrgUnit(code="orphan", name="orphan", level="township", path="/")
        session.add(orphan)
        session.flush()
        with pytest.raises(CalendarError, match="no county"):
            load_calendar(session, orphan)


@pytest.mark.parametrize(
    ("day", "kind", "match"),
    [
        (date(2026, 3, 7), "off", "already not a working day"),  # Saturday
        (date(2026, 10, 2), "off", "already not a working day"),  # National Day
        (date(2026, 3, 9), "work", "already a working day"),  # Monday
        (date(2026, 10, 10), "work", "already a working day"),  # national make-up Saturday
        (date(2026, 3, 9), "holiday", "unknown calendar entry kind"),
    ],
)
def test_entries_that_change_nothing_are_rejected(
    db: Database, org: dict[str, int], day: date, kind: str, match: str
) -> None:
    with db.unit_of_work() as session:
        county = session.get(OrgUnit, org["county"])
        with pytest.raises(CalendarError, match=match) as info:
            add_calendar_day(session, county=county, day=day, kind=kind)
        assert isinstance(info.value, ValueError)
        assert list_calendar_days(session, county) == []


def test_duplicate_day_is_rejected(db: Database, org: dict[str, int]) -> None:
    with db.unit_of_work() as session:
        county = session.get(OrgUnit, org["county"])
        add_calendar_day(session, county=county, day=date(2026, 3, 9), kind="off")
    with db.unit_of_work() as session:
        county = session.get(OrgUnit, org["county"])
        with pytest.raises(CalendarConflict, match="remove it first"):
            add_calendar_day(session, county=county, day=date(2026, 3, 9), kind="off")
        with pytest.raises(CalendarError):
            add_calendar_day(session, county=county, day=date(2026, 3, 9), kind="work")
        # the same day in another county is fine
        other = session.get(OrgUnit, org["other"])
        add_calendar_day(session, county=other, day=date(2026, 3, 9), kind="off")


def test_entries_belong_to_counties(db: Database, org: dict[str, int]) -> None:
    with db.unit_of_work() as session:
        township = session.get(OrgUnit, org["township"])
        with pytest.raises(CalendarError, match="belong to a county"):
            add_calendar_day(session, county=township, day=date(2026, 3, 9), kind="off")
        county = session.get(OrgUnit, org["county"])
        with pytest.raises(CalendarError, match="too long"):
            add_calendar_day(session, county=county, day=date(2026, 3, 9), kind="off", note="x" * 201)


def test_remove_returns_the_day_to_the_national_schedule(db: Database, org: dict[str, int]) -> None:
    with db.unit_of_work() as session:
        county = session.get(OrgUnit, org["county"])
        add_calendar_day(session, county=county, day=date(2026, 3, 9), kind="off")
    with db.unit_of_work() as session:
        township = session.get(OrgUnit, org["township"])
        assert not load_calendar(session, township).is_workday(date(2026, 3, 9))
        county = session.get(OrgUnit, org["county"])
        remove_calendar_day(session, county=county, day=date(2026, 3, 9))
        assert load_calendar(session, township).is_workday(date(2026, 3, 9))
        with pytest.raises(CalendarError, match="no calendar entry"):
            remove_calendar_day(session, county=county, day=date(2026, 3, 9))
    with db.unit_of_work(write=False) as session:
        assert session.scalars(select(CalendarDay)).all() == []
        assert load_calendar(session, session.get(OrgUnit, org["village"])) == WorkCalendar()


def test_calendar_is_cached_until_its_rows_change(db: Database, org: dict[str, int]) -> None:
    with db.unit_of_work() as session:
        county = session.get(OrgUnit, org["county"])
        add_calendar_day(session, county=county, day=date(2026, 3, 9), kind="off")
    with db.unit_of_work(write=False) as session:
        village = session.get(OrgUnit, org["village"])
        first = load_calendar(session, village)
        assert load_calendar(session, session.get(OrgUnit, org["township"])) is first
    with db.unit_of_work(write=False) as session:
        assert load_calendar(session, session.get(OrgUnit, org["county"])) is first

    # another process adds a row behind this one's back (no generation bump here)
    with db.unit_of_work() as session:
        session.add(CalendarDay(org_unit_id=org["county"], day=date(2026, 3, 14), kind="work"))
    with db.unit_of_work(write=False) as session:
        second = load_calendar(session, session.get(OrgUnit, org["village"]))
        assert second is not first
        assert second.is_workday(date(2026, 3, 14))

    with db.unit_of_work() as session:
        county = session.get(OrgUnit, org["county"])
        remove_calendar_day(session, county=county, day=date(2026, 3, 14))
    with db.unit_of_work(write=False) as session:
        third = load_calendar(session, session.get(OrgUnit, org["village"]))
        assert not third.is_workday(date(2026, 3, 14))
        assert third == first


def test_rolled_back_entries_do_not_stick_in_the_cache(db: Database, org: dict[str, int]) -> None:
    with pytest.raises(RuntimeError), db.unit_of_work() as session:
        county = session.get(OrgUnit, org["county"])
        add_calendar_day(session, county=county, day=date(2026, 3, 9), kind="off")
        assert not load_calendar(session, county).is_workday(date(2026, 3, 9))
        raise RuntimeError("abort")
    with db.unit_of_work(write=False) as session:
        assert load_calendar(session, session.get(OrgUnit, org["county"])).is_workday(date(2026, 3, 9))
