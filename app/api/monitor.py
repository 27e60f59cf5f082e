"""Leaders' reports in the API: hot spots and the live process monitor (the same numbers as the pages)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from app.api import bp, require_roles, with_user
from app.org.models import Role, User
from app.reports import hotspots, monitor
from app.timeutil import local_iso

#: who may read hot spots (admins always may)
HOTSPOT_ROLES = (Role.leader,)
#: who may open the process monitor (admins always may)
MONITOR_ROLES = (Role.leader, Role.designer)


@bp.get("/reports/hotspots")
@with_user(write=False)
def get_hotspots(session: Session, user: User) -> Any:
    """Counts by category × place × week, rising categories, repeat petitioners and places."""
    require_roles(user, *HOTSPOT_ROLES)
    filters = hotspots.parse_filters(request.args)
    return jsonify(hotspots.build_hotspots(session, user, filters).as_json())


@bp.get("/processes/<process_id>/monitor")
@with_user(write=False)
def get_monitor(session: Session, user: User, process_id: str) -> Any:
    """Cases waiting, overdue, step durations and incidents of one process version."""
    require_roles(user, *MONITOR_ROLES)
    view = monitor.build_monitor(session, user, process_id, request.args.get("version"), request.args.get("days"))
    return jsonify(view.as_json())


@bp.get("/processes/<process_id>/monitor/steps/<element_id>")
@with_user(write=False)
def get_monitor_step(session: Session, user: User, process_id: str, element_id: str) -> Any:
    """The open cases waiting at one step of a process version."""
    require_roles(user, *MONITOR_ROLES)
    cases = monitor.waiting_cases(session, user, process_id, request.args.get("version"), element_id)
    return jsonify({"items": [{"case_no": c.case_no, "title": c.title, "place": c.place, "task": c.task,
                               "department": c.department, "since": local_iso(c.since),
                               "due_at": local_iso(c.due_at), "overdue": c.overdue} for c in cases]})
