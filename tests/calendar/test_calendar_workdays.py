"""The pure WorkCalendar: national holidays, weekends, overrides, fallback years and ISO times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import chinese_calendar
import pytest
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from app.calendar.workcalendar import SHANGHAI, WorkCalendar, end_of_day, missing_years, national_is_workday

NATIONAL = WorkCalendar()

# The 2026 schedule as chinese_calendar 1.11.0 publishes it (checked in test_published_2026_schedule)
SPRING_FESTIVAL_2026 = [date(2026, 2, d) for d in range(15, 24)]
SPRING_FESTIVAL_2026_MAKEUP = [date(2026, 2, 14), date(2026, 2, 28)]
NATIONAL_DAY_2026 = [date(2026, 10, d) for d in range(1, 8)]
NATIONAL_DAY_2026_MAKEUP = [date(2026, 9, 20), date(2026, 10, 10)]


def test_published_2026_schedule() -> None:
    for day in SPRING_FESTIVAL_2026 + NATIONAL_DAY_2026:
        assert chinese_calendar.is_holiday(day), day
        assert not NATIONAL.is_workday(day), day
    for day in SPRING_FESTIVAL_2026_MAKEUP + NATIONAL_DAY_2026_MAKEUP:
        assert day.weekday() >= 5, day
        assert chinese_calendar.is_workday(day), day
        assert NATIONAL.is_workday(day), day
    assert NATIONAL.is_workday(date(2026, 10, 8))  # Thursday after the golden week


def test_weekends_and_weekdays() -> None:
    assert NATIONAL.is_workday(date(2026, 3, 6))  # Friday
    assert not NATIONAL.is_workday(date(2026, 3, 7))  # Saturday
    assert not NATIONAL.is_workday(date(2026, 3, 8))  # Sunday
    friday_evening = datetime(2026, 3, 6, 17, 50, tzinfo=SHANGHAI)
    assert NATIONAL.workdays_after(friday_evening, 1) == "2026-03-09T23:59:59+08:00"
    assert NATIONAL.workdays_after("2026-03-04T09:00:00+08:00", 2) == "2026-03-06T23:59:59+08:00"
    assert NATIONAL.workdays_after("2026-03-04T09:00:00+08:00", 7) == "2026-03-13T23:59:59+08:00"


def test_national_day_2026() -> None:
    start = "2026-09-30T10:00:00+08:00"
    assert NATIONAL.workdays_after(start, 0) == "2026-09-30T23:59:59+08:00"
    assert NATIONAL.workdays_after(start, 1) == "2026-10-08T23:59:59+08:00"
    assert NATIONAL.workdays_after(start, 2) == "2026-10-09T23:59:59+08:00"
    assert NATIONAL.workdays_after(start, 3) == "2026-10-10T23:59:59+08:00"  # Saturday make-up workday
    assert NATIONAL.workdays_after(start, 4) == "2026-10-12T23:59:59+08:00"
    assert NATIONAL.workdays_after("2026-10-03T11:00:00+08:00", 0) == "2026-10-08T23:59:59+08:00"
    assert NATIONAL.workdays_after("2026-10-03T11:00:00+08:00", 1) == "2026-10-08T23:59:59+08:00"
    # a case received on Saturday 2026-09-19 is due on the Sunday make-up workday
    assert NATIONAL.workdays_after("2026-09-19T15:00:00+08:00", 1) == "2026-09-20T23:59:59+08:00"


def test_spring_festival_2026() -> None:
    start = "2026-02-13T16:00:00+08:00"  # Friday before the holiday
    assert NATIONAL.workdays_after(start, 1) == "2026-02-14T23:59:59+08:00"  # Saturday make-up workday
    assert NATIONAL.workdays_after(start, 2) == "2026-02-24T23:59:59+08:00"
    assert NATIONAL.workdays_after("2026-02-16T09:00:00+08:00", 7) == "2026-03-03T23:59:59+08:00"


def test_year_end_into_the_new_years_holiday() -> None:
    # 2026-01-01..03 are off, Sunday 2026-01-04 is a make-up workday
    assert NATIONAL.workdays_after("2025-12-31T09:00:00+08:00", 1) == "2026-01-04T23:59:59+08:00"
    assert NATIONAL.workdays_after("2025-12-31T09:00:00+08:00", 2) == "2026-01-05T23:59:59+08:00"


def test_unpublished_years_fall_back_to_monday_to_friday() -> None:
    assert missing_years([2025, 2026, 2027, 2028]) == [2027, 2028]
    assert NATIONAL.missing_years(range(2024, 2028)) == [2027]
    assert NATIONAL.is_workday(date(2027, 10, 1))  # a Friday: no schedule, so worked
    assert not NATIONAL.is_workday(date(2027, 10, 2))  # Saturday
    assert NATIONAL.is_workday(date(2003, 1, 1))  # before chinese_calendar's data, also no exception
    assert national_is_workday(date(2100, 3, 1))
    # 2026-12-31 is a Thursday; 2027-01-01 (Friday) counts as worked in the fallback
    assert NATIONAL.workdays_after("2026-12-31T09:00:00+08:00", 1) == "2027-01-01T23:59:59+08:00"
    assert NATIONAL.workdays_after("2026-12-31T09:00:00+08:00", 2) == "2027-01-04T23:59:59+08:00"
    assert NATIONAL.workdays_between("2026-12-30", "2027-01-11") == 8


def test_admin_day_off_moves_a_deadline() -> None:
    typhoon = WorkCalendar(days_off={date(2026, 3, 9)})
    assert not typhoon.is_workday(date(2026, 3, 9))
    assert typhoon.workdays_after("2026-03-06T10:00:00+08:00", 1) == "2026-03-10T23:59:59+08:00"
    assert NATIONAL.workdays_after("2026-03-06T10:00:00+08:00", 1) == "2026-03-09T23:59:59+08:00"


def test_admin_makeup_workday() -> None:
    makeup = WorkCalendar(extra_workdays={date(2026, 3, 7), date(2026, 10, 5)})
    assert makeup.is_workday(date(2026, 3, 7))
    assert makeup.workdays_after("2026-03-06T10:00:00+08:00", 1) == "2026-03-07T23:59:59+08:00"
    assert makeup.workdays_after("2026-09-30T10:00:00+08:00", 1) == "2026-10-05T23:59:59+08:00"
    assert makeup.workdays_after("2026-09-30T10:00:00+08:00", 2) == "2026-10-08T23:59:59+08:00"


def test_overrides_apply_in_fallback_years() -> None:
    cal = WorkCalendar(days_off={date(2027, 2, 8)}, extra_workdays={date(2027, 2, 6)})
    assert not cal.is_workday(date(2027, 2, 8))
    assert cal.is_workday(date(2027, 2, 6))


def test_n_zero() -> None:
    assert NATIONAL.workdays_after("2026-03-06T08:00:00+08:00", 0) == "2026-03-06T23:59:59+08:00"
    assert NATIONAL.workdays_after("2026-03-07T08:00:00+08:00", 0) == "2026-03-09T23:59:59+08:00"
    assert NATIONAL.workdays_before("2026-03-06T23:59:59+08:00", 0) == "2026-03-06T23:59:59+08:00"
    assert NATIONAL.workdays_before("2026-10-03T12:00:00+08:00", 0) == "2026-09-30T23:59:59+08:00"


def test_iso_inputs_in_other_offsets_use_the_shanghai_day() -> None:
    # 17:30 UTC on Friday is 01:30 on Saturday in Shanghai
    assert NATIONAL.workdays_after("2026-03-06T17:30:00Z", 0) == "2026-03-09T23:59:59+08:00"
    assert NATIONAL.workdays_after(datetime(2026, 3, 6, 15, 59, tzinfo=UTC), 0) == "2026-03-06T23:59:59+08:00"
    assert NATIONAL.workdays_after("2026-03-06T12:00:00-05:00", 0) == "2026-03-09T23:59:59+08:00"
    assert not NATIONAL.is_workday("2026-03-06T17:30:00+00:00")
    assert not NATIONAL.is_workday(datetime(2026, 3, 6, 17, 30, tzinfo=UTC))


def test_naive_and_date_inputs_are_shanghai_days() -> None:
    assert NATIONAL.workdays_after("2026-03-06T23:30:00", 1) == "2026-03-09T23:59:59+08:00"
    assert NATIONAL.workdays_after("2026-03-06", 1) == "2026-03-09T23:59:59+08:00"
    assert NATIONAL.workdays_after(date(2026, 3, 6), 1) == "2026-03-09T23:59:59+08:00"
    assert NATIONAL.is_workday("2026-10-10")


def test_deadline_strings_are_valid_bpmn_time_dates() -> None:
    deadline = NATIONAL.workdays_after("2026-09-30T10:00:00+08:00", 1)
    parsed = TimerEventDefinition.parse_time_or_duration(deadline)
    assert parsed == datetime(2026, 10, 8, 15, 59, 59, tzinfo=UTC)
    assert datetime.fromisoformat(NATIONAL.hours_after(deadline, 1)).utcoffset() == timedelta(hours=8)


def test_hours_after_runs_around_the_clock() -> None:
    assert NATIONAL.hours_after("2026-10-01T22:00:00+08:00", 4) == "2026-10-02T02:00:00+08:00"
    assert NATIONAL.hours_after(datetime(2026, 10, 1, 0, 0, tzinfo=UTC), 4) == "2026-10-01T12:00:00+08:00"
    assert NATIONAL.hours_after("2026-10-01T08:00:00+08:00", 0) == "2026-10-01T08:00:00+08:00"
    assert NATIONAL.hours_after("2026-10-01T08:00:00+08:00", 1.5) == "2026-10-01T09:30:00+08:00"
    assert NATIONAL.hours_after("2026-12-31T23:00:00+08:00", 48) == "2027-01-02T23:00:00+08:00"
    other = timezone(timedelta(hours=-3))
    assert NATIONAL.hours_after(datetime(2026, 5, 1, 9, 15, 30, 999, tzinfo=other), 2) == (
        "2026-05-01T22:15:30+08:00"
    )


def test_workdays_between() -> None:
    assert NATIONAL.workdays_between("2026-09-30T10:00:00+08:00", "2026-10-08T09:00:00+08:00") == 1
    assert NATIONAL.workdays_between("2026-10-08T09:00:00+08:00", "2026-09-30T10:00:00+08:00") == -1
    assert NATIONAL.workdays_between("2026-03-06T08:00:00+08:00", "2026-03-06T18:00:00+08:00") == 0
    assert NATIONAL.workdays_between(date(2026, 3, 6), date(2026, 3, 16)) == 6
    deadline = NATIONAL.workdays_after("2026-03-02T09:00:00+08:00", 7)
    assert NATIONAL.workdays_between(deadline, "2026-03-19T10:00:00+08:00") == 6  # 6 working days late


def test_workdays_before() -> None:
    assert NATIONAL.workdays_before("2026-10-09T23:59:59+08:00", 1) == "2026-10-08T23:59:59+08:00"
    assert NATIONAL.workdays_before("2026-10-09T23:59:59+08:00", 2) == "2026-09-30T23:59:59+08:00"
    assert NATIONAL.workdays_before("2026-03-09T23:59:59+08:00", 1) == "2026-03-06T23:59:59+08:00"
    assert NATIONAL.workdays_before("2026-02-24T23:59:59+08:00", 1) == "2026-02-14T23:59:59+08:00"


def test_round_trips_over_two_years() -> None:
    cal = WorkCalendar(days_off={date(2026, 6, 10)}, extra_workdays={date(2026, 6, 13)})
    day = date(2025, 12, 1)
    while day < date(2027, 2, 1):
        start = datetime(day.year, day.month, day.day, 10, tzinfo=SHANGHAI)
        for n in (1, 2, 7):
            due = cal.workdays_after(start, n)
            due_day = date.fromisoformat(due[:10])
            assert cal.is_workday(due_day)
            assert cal.workdays_between(start, due) == n
            assert cal.workdays_before(due, n) == end_of_day(cal.previous_workday(day, include=True))
        day += timedelta(days=1)


def test_script_functions_are_bound_to_the_calendar() -> None:
    cal = WorkCalendar(days_off={date(2026, 3, 9)})
    functions = cal.script_functions()
    assert set(functions) == {
        "workdays_after", "hours_after", "workdays_before", "workdays_between", "is_workday"
    }
    assert functions["workdays_after"]("2026-03-06T10:00:00+08:00", 1) == "2026-03-10T23:59:59+08:00"
    assert functions["is_workday"]("2026-03-09") is False
    assert functions["hours_after"]("2026-03-06T10:00:00+08:00", 4) == "2026-03-06T14:00:00+08:00"
    assert functions["workdays_between"]("2026-03-06", "2026-03-10") == 1
    assert functions["workdays_before"]("2026-03-10", 1) == "2026-03-06T23:59:59+08:00"


def test_calendar_is_immutable_and_comparable() -> None:
    cal = WorkCalendar(days_off=[date(2026, 3, 9)])
    with pytest.raises(AttributeError):
        cal.days_off = frozenset()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cal.other = 1  # type: ignore[attr-defined]
    assert isinstance(cal.days_off, frozenset)
    assert cal == WorkCalendar(days_off={date(2026, 3, 9)})
    assert hash(cal) == hash(WorkCalendar(days_off=(date(2026, 3, 9),)))
    assert cal != NATIONAL


def test_a_day_cannot_be_both_off_and_worked() -> None:
    with pytest.raises(ValueError, match="2026-03-09"):
        WorkCalendar(days_off={date(2026, 3, 9)}, extra_workdays={date(2026, 3, 9)})


@pytest.mark.parametrize(
    ("start", "n", "error"),
    [
        ("2026-03-06", -1, ValueError),
        ("2026-03-06", "2", TypeError),
        ("2026-03-06", 1.0, TypeError),
        ("2026-03-06", True, TypeError),
        ("next tuesday", 1, ValueError),
        (20260306, 1, TypeError),
    ],
)
def test_bad_arguments(start: object, n: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        NATIONAL.workdays_after(start, n)  # type: ignore[arg-type]


def test_bad_hours() -> None:
    with pytest.raises(ValueError):
        NATIONAL.hours_after("2026-03-06T10:00:00+08:00", -1)
    with pytest.raises(TypeError):
        NATIONAL.hours_after("2026-03-06T10:00:00+08:00", "4")  # type: ignore[arg-type]
