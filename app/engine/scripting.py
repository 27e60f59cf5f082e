"""The script environment of BPMN scripts, conditions, timer expressions and DMN cells.

SpiffWorkflow runs scripts with plain `exec`; here they see a small set of builtins and the
functions OneStop offers (working-day deadlines, the clock), not the whole interpreter.
"""

from __future__ import annotations

import builtins
import datetime as _dt
from collections.abc import Callable, Mapping
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

_SAFE_BUILTIN_NAMES = [
    "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float", "format", "frozenset",
    "int", "isinstance", "len", "list", "map", "max", "min", "next", "range", "repr", "reversed", "round",
    "set", "slice", "sorted", "str", "sum", "tuple", "zip", "True", "False", "None", "Exception",
    "ValueError", "KeyError", "TypeError", "IndexError", "ZeroDivisionError", "NameError",
]

SAFE_BUILTINS: dict[str, Any] = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
SAFE_BUILTINS["__import__"] = None  # `import x` inside a script fails with a clear TypeError


def _no_import(*_args: Any, **_kwargs: Any) -> Any:
    raise ImportError("scripts cannot import modules; use the functions OneStop provides")


SAFE_BUILTINS["__import__"] = _no_import

class _ClockedDatetime(_dt.datetime):
    """`datetime` for scripts: `now()` and `utcnow()` read OneStop's clock, like the timers do.

    They return plain `datetime` objects, so task data holds nothing the serializer does not know.
    """

    @classmethod
    def now(cls, tz: _dt.tzinfo | None = None) -> _dt.datetime:  # type: ignore[override]
        from app import clock

        moment = clock.now()
        if tz is None:
            local = moment.astimezone()
            return _dt.datetime(local.year, local.month, local.day, local.hour, local.minute, local.second,
                                local.microsecond)
        converted = moment.astimezone(tz)
        return _dt.datetime(converted.year, converted.month, converted.day, converted.hour, converted.minute,
                            converted.second, converted.microsecond, converted.tzinfo)

    @classmethod
    def utcnow(cls) -> _dt.datetime:  # type: ignore[override]
        return cls.now(_dt.UTC).replace(tzinfo=None)

    @classmethod
    def today(cls) -> _dt.datetime:  # type: ignore[override]
        return cls.now()


#: names every script sees besides the builtins
BASE_GLOBALS: dict[str, Any] = {
    "datetime": _ClockedDatetime,
    "timedelta": _dt.timedelta,
    "timezone": _dt.timezone,
}


def make_script_engine(functions: Mapping[str, Callable[..., Any]] | None = None) -> PythonScriptEngine:
    """A script engine whose scripts see the safe builtins, BASE_GLOBALS and `functions`."""
    env_globals: dict[str, Any] = {"__builtins__": SAFE_BUILTINS, **BASE_GLOBALS}
    if functions:
        env_globals.update(functions)
    return PythonScriptEngine(environment=TaskDataEnvironment(env_globals))
