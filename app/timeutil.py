"""Times as OneStop shows them: ISO 8601 in the center's zone (Asia/Shanghai by default)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from app import clock

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def local_iso(moment: datetime | None) -> str | None:
    """ISO 8601 with the +08:00 offset, or None."""
    if moment is None:
        return None
    return moment.astimezone(LOCAL_TZ).isoformat(timespec="seconds")


def now_iso() -> str:
    """The clock's now as local ISO 8601 (what BPMN scripts see)."""
    return local_iso(clock.now()) or ""


def parse_iso(value: object) -> datetime | None:
    """An aware datetime from an ISO string or datetime; naive values are taken as local time."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    return moment
