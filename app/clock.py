"""The one source of "now" for OneStop, controllable in tests and simulations.

Everything that needs the time (deadlines, timers, the engine's timer events) calls `now()`.
In testing mode the clock can be set or advanced; between such moves it runs on in real time.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

_lock = threading.Lock()
_offset = timedelta(0)


def now() -> datetime:
    """Return the current time, timezone-aware in UTC, including any test offset."""
    return datetime.now(UTC) + _offset


def offset() -> timedelta:
    """Return how far the clock is ahead of real time."""
    return _offset


def advance(delta: timedelta) -> datetime:
    """Move the clock forward by `delta` and return the new time."""
    global _offset
    if delta < timedelta(0):
        raise ValueError("the clock only moves forward")
    with _lock:
        _offset += delta
    return now()


def set_to(moment: datetime) -> datetime:
    """Put the clock at `moment` (also in the past, to replay a season with its holidays) and return
    the new time. Timers already pending keep their absolute due times."""
    global _offset
    if moment.tzinfo is None:
        raise ValueError("the moment needs a time zone offset")
    with _lock:
        _offset = moment - datetime.now(UTC)
    return now()


def set_offset(value: timedelta) -> None:
    """Adopt an offset read from elsewhere (the clock another process published)."""
    global _offset
    with _lock:
        _offset = value


def reset() -> None:
    """Return to real time (tests only)."""
    global _offset
    with _lock:
        _offset = timedelta(0)
