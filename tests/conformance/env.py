"""Script-environment names some corpus files expect, and small generated wrappers.

The corpus scripts call `custom_function()` (a counter), `print(...)`, `datetime.now()` and
`timedelta`; OneStop's restricted builtins have no `print`, and its `datetime` reads the wall
clock, so the tests hand the scripts their own versions through the engine's `functions`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from app import clock


class Counter:
    """`custom_function()` of the timer files: counts its calls and returns the count."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


class Printer:
    """`print` for scripts: keeps the lines instead of writing to stdout."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, *args: Any, sep: str = " ", **_kwargs: Any) -> None:
        self.lines.append(sep.join(str(a) for a in args))


class ClockDateTime(datetime):
    """`datetime` whose `now()` reads OneStop's clock, so a date computed in a script and the
    timer that waits for it agree about the time (naive results are local time, as usual)."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:
        current = clock.now()
        if tz is not None:
            return current.astimezone(tz)
        return current.astimezone().replace(tzinfo=None)


def script_env(*, counter: Counter | None = None, printer: Printer | None = None) -> dict[str, Any]:
    """The extra names the corpus scripts use."""
    env: dict[str, Any] = {"datetime": ClockDateTime, "timedelta": timedelta, "print": printer or Printer()}
    if counter is not None:
        env["custom_function"] = counter
    return env


def decision_wrapper(folder: Path, decision_id: str, process_id: str = "run_decision") -> str:
    """Write a minimal BPMN (start, one businessRuleTask calling `decision_id`, end) to `folder` and
    return its path: the product evaluates DMN only through business rule tasks."""
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs_{process_id}" targetNamespace="http://onestop.test/conformance">
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>to_rule</bpmn:outgoing></bpmn:startEvent>
    <bpmn:businessRuleTask id="rule" name="Decide">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>{decision_id}</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
      <bpmn:incoming>to_rule</bpmn:incoming><bpmn:outgoing>to_end</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:endEvent id="end"><bpmn:incoming>to_end</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="to_rule" sourceRef="start" targetRef="rule" />
    <bpmn:sequenceFlow id="to_end" sourceRef="rule" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
    path = folder / f"{process_id}.bpmn"
    path.write_text(text, encoding="utf-8")
    return str(path)
