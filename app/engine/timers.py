"""Timer events that read OneStop's controllable clock instead of the wall clock.

SpiffWorkflow's timer definitions call `datetime.now()` themselves; after parsing, every timer
definition of a spec is switched to the subclass here, so the test clock and the engine always
agree about what is due.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)

from app import clock


def _evaluate(my_task: Any, expression: str) -> Any:
    return my_task.workflow.script_engine.evaluate(my_task, expression)


def _date_value(value: Any) -> datetime:
    """Turn what a timeDate expression returned into an aware UTC datetime."""
    if isinstance(value, datetime):
        value = value.isoformat()
    parsed = TimerEventDefinition.parse_time_or_duration(str(value))
    if not isinstance(parsed, datetime):
        raise ValueError(f"timeDate expects a date and time, got {value!r}")
    return parsed


class ClockedTimeDate(TimeDateEventDefinition):
    def has_fired(self, my_task: Any) -> bool:
        due = my_task._get_internal_data("event_value")
        if due is None:
            due = _date_value(_evaluate(my_task, self.expression)).isoformat()
            my_task._set_internal_data(event_value=due)
        if _date_value(due) <= clock.now():
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class ClockedDuration(DurationTimerEventDefinition):
    def has_fired(self, my_task: Any) -> bool:
        due = my_task._get_internal_data("event_value")
        if due is None:
            expression = _evaluate(my_task, self.expression)
            start = clock.now()
            parsed = TimerEventDefinition.parse_iso_duration(expression)
            due = (start + TimerEventDefinition.get_timedelta_from_start(parsed, start)).isoformat()
            my_task._set_internal_data(event_value=due)
        if TimerEventDefinition.get_datetime(due) <= clock.now():
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class ClockedCycle(CycleTimerEventDefinition):
    def cycle_complete(self, my_task: Any) -> bool:
        value = my_task._get_internal_data("event_value")
        if value is None:
            value = self._first_value(_evaluate(my_task, self.expression))
        ready = False
        if value["cycles"] != 0:
            upcoming = datetime.fromisoformat(value["next"])
            if upcoming <= clock.now():
                value["next"] = (upcoming + timedelta(seconds=value["duration"])).isoformat()
                value["cycles"] -= 1
                ready = True
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
        my_task._set_internal_data(event_value=value)
        return ready

    @staticmethod
    def _first_value(expression: str) -> dict[str, Any]:
        parts = expression.upper().replace("--", "/").strip("R").split("/")
        cycles = int(parts[0]) if parts[0] else -1
        if len(parts) == 2 and parts[1].startswith("P"):
            start = clock.now()
            duration = TimerEventDefinition.get_timedelta_from_start(
                TimerEventDefinition.parse_iso_duration(parts[1]), start
            )
            first = start + duration
        else:
            cycles, first, duration = TimerEventDefinition.parse_iso_recurring_interval(expression)
        return {"cycles": cycles, "next": first.isoformat(), "duration": duration.total_seconds()}


_CLOCKED: dict[type, type] = {
    TimeDateEventDefinition: ClockedTimeDate,
    DurationTimerEventDefinition: ClockedDuration,
    CycleTimerEventDefinition: ClockedCycle,
}


def use_clock(event_definition: Any) -> None:
    """Switch a parsed timer definition (or the timers inside a multiple one) to the clocked class."""
    replacement = _CLOCKED.get(type(event_definition))
    if replacement is not None:
        event_definition.__class__ = replacement
    elif isinstance(event_definition, MultipleEventDefinition):
        for inner in event_definition.event_definitions:
            use_clock(inner)


def _timer_due(event_definition: Any, my_task: Any) -> datetime | None:
    value = my_task._get_internal_data("event_value")
    if my_task._get_internal_data("event_fired", False) or value is None:
        return None
    if isinstance(event_definition, ClockedCycle):
        return datetime.fromisoformat(value["next"]) if value["cycles"] != 0 else None
    if isinstance(event_definition, ClockedTimeDate):
        return _date_value(value)
    if isinstance(event_definition, ClockedDuration):
        return TimerEventDefinition.get_datetime(value)
    return None


def due_time(my_task: Any) -> datetime | None:
    """When the waiting timer task `my_task` becomes due, or None if it has no pending timer."""
    definition = my_task.task_spec.event_definition
    if isinstance(definition, MultipleEventDefinition):
        dues = [
            _timer_due(inner, my_task)
            for inner in definition.event_definitions
            if isinstance(inner, TimerEventDefinition)
        ]
        found = [d for d in dues if d is not None]
        return min(found) if found else None
    if isinstance(definition, TimerEventDefinition):
        return _timer_due(definition, my_task)
    return None
