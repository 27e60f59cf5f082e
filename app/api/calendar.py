"""The working-day calendar of a county: days off and make-up workdays an admin adds."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from app import clock
from app.api import bp, json_body, require_roles, with_user
from app.calendar.service import add_calendar_day, list_calendar_days, load_calendar, remove_calendar_day
from app.calendar.workcalendar import missing_years
from app.errors import BadRequest, Forbidden, InvalidInput, NotFound
from app.org.models import OrgUnit, Role, User
from app.org.service import can_see_org_unit, get_org_unit
from app.timeutil import LOCAL_TZ


def _county(session: Session, user: User, code: str) -> OrgUnit:
    unit = get_org_unit(session, code)
    if unit.level != "county":
        raise NotFound(f"{code} is not a county")
    if not user.is_admin and not can_see_org_unit(user, unit):
        raise NotFound(f"no county {code}")
    return unit


def _day(raw: Any, field: str = "day") -> date:
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise InvalidInput("not a date", fields={field: "YYYY-MM-DD"}) from None


@bp.get("/calendar/<county_code>/days")
@with_user(write=False)
def get_days(session: Session, user: User, county_code: str) -> Any:
    county = _county(session, user, county_code)
    year_raw = request.args.get("year")
    if year_raw is not None and not year_raw.isdigit():
        raise BadRequest("year must be a number", fields={"year": "e.g. 2026"})
    this_year = clock.now().astimezone(LOCAL_TZ).year
    year = int(year_raw) if year_raw else None
    days = list_calendar_days(session, county, year)
    return jsonify({
        "county": county.code,
        "items": [{"day": d.day.isoformat(), "kind": d.kind, "note": d.note} for d in days],
        # years whose national holiday schedule is not known yet: only Monday–Friday and the
        # entries above count there, so an admin should add the published holidays
        "missing_years": missing_years([this_year, this_year + 1]),
    })


@bp.post("/calendar/<county_code>/days")
@with_user()
def post_day(session: Session, user: User, county_code: str) -> Any:
    require_roles(user, Role.admin)
    county = _county(session, user, county_code)
    body = json_body()
    if body.get("kind") not in ("off", "work"):
        raise InvalidInput("kind must be off or work", fields={"kind": "off (a day off) or work (a make-up workday)"})
    entry = add_calendar_day(session, county=county, day=_day(body.get("day")), kind=body["kind"],
                             note=str(body.get("note") or ""), actor=user)
    response = jsonify({"day": entry.day.isoformat(), "kind": entry.kind, "note": entry.note})
    response.status_code = 201
    return response


@bp.delete("/calendar/<county_code>/days/<day>")
@with_user()
def delete_day(session: Session, user: User, county_code: str, day: str) -> Any:
    require_roles(user, Role.admin)
    if not user.is_admin:
        raise Forbidden("only admins change the calendar")
    remove_calendar_day(session, county=_county(session, user, county_code), day=_day(day))
    return "", 204


@bp.get("/calendar/<org_unit_code>/deadline")
@with_user(write=False)
def get_deadline(session: Session, user: User, org_unit_code: str) -> Any:
    """Preview a deadline: `start` (ISO, default now) plus `workdays` or `hours`."""
    unit = get_org_unit(session, org_unit_code)
    cal = load_calendar(session, unit)
    start = request.args.get("start") or clock.now().isoformat()
    try:
        if request.args.get("hours"):
            deadline = cal.hours_after(start, float(request.args["hours"]))
        else:
            deadline = cal.workdays_after(start, int(request.args.get("workdays", "1")))
    except (TypeError, ValueError) as exc:
        raise BadRequest(str(exc), fields={"start": "ISO time", "workdays": "a whole number"}) from None
    return jsonify({"start": start, "deadline": deadline})
