"""The test clock: only with ONESTOP_TESTING=1 (404 otherwise)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import abort, current_app, jsonify

from app import clock
from app.api import bp, database, json_body
from app.errors import InvalidInput
from app.scheduler.service import fire_due_timers, publish_clock
from app.timeutil import local_iso, parse_iso


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration without years or months (P3D, PT2H30M, P1DT1H, PT0.5S) as a timedelta."""
    import re

    match = re.fullmatch(r"P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?"
                         r"(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?", text.strip().upper())
    if not match or text.strip().upper() in {"P", "PT"} or text.strip().upper().endswith("T"):
        raise ValueError(text)
    weeks, days, hours, minutes, seconds = (float(x) if x else 0.0 for x in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


@bp.post("/testing/clock")
def post_clock() -> Any:
    if not current_app.config["ONESTOP"].testing:
        abort(404)
    body = json_body()
    if ("advance" in body) == ("set" in body):
        raise InvalidInput("give either advance or set", fields={"advance": "e.g. P3D", "set": "an ISO time"})
    if "advance" in body:
        try:
            delta = parse_duration(str(body["advance"]))
        except ValueError:
            raise InvalidInput("not an ISO 8601 duration", fields={"advance": "e.g. P3D or PT2H"}) from None
        clock.advance(delta)
    else:
        moment = parse_iso(body["set"]) if isinstance(body["set"], str) else None
        if moment is None:
            raise InvalidInput("not an ISO 8601 time", fields={"set": "e.g. 2026-12-01T09:00:00+08:00"})
        clock.set_to(moment)
    publish_clock(database())
    fired = fire_due_timers(database())
    runner = current_app.extensions.get("onestop.scheduler")
    if runner is not None:
        runner.arm()
    return jsonify({"now": local_iso(clock.now()),
                    "fired": [{"case_no": f.case_no, "timers": list(f.names)} for f in fired]})
