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
    """Move the clock to `moment` (forward only) and return the new time."""
    global _offset
    if moment.tzinfo is None:
        raise ValueError("the moment needs a time zone offset")
    with _lock:
        target = moment - datetime.now(UTC)
        if target < _offset:
            raise ValueError("the clock only moves forward")
        _offset = target
    return now()


def set_offset(value: timedelta) -> None:
    """Adopt an offset read from elsewhere (another process's clock); never moves backwards."""
    global _offset
    with _lock:
        if value > _offset:
            _offset = value


def reset() -> None:
    """Return to real time (tests only)."""
    global _offset
    with _lock:
        _offset = timedelta(0)
