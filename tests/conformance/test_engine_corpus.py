"""The external engine corpus (shared/conformance/engine, 39 files) run through OneStop's engine layer.

Each test is one scenario of `shared/conformance/MANIFEST.md` and talks only to a `Driver`
(tests/conformance/drivers.py), so the same scenarios run through the engine layer and through the
database-backed service layer (SQLite and PostgreSQL).
Parser semantics are SpiffBpmnParser's ("S" in the manifest). Where our layer deliberately differs
from plain SpiffWorkflow 3.2.0 (clock-driven timers, incidents instead of exceptions, every step
being a save and restore) the test states the behaviour we intend and says why.

Manifest wording, translated:
* "after T" -> `driver.advance(T)`: the clock is frozen (see conftest) and moved by exactly T;
  our timers fire when due <= now, so advancing by exactly the duration fires them.
* "raises ..., task X is in ERROR" -> the case gets an incident (`assert_incident`: the engine
  step's error, or the open incident row the service layer wrote) and the stored state keeps X in
  ERROR for `retry`; nothing is raised to the caller.
* "workflow.data" -> `snapshot().data` (without `data_objects`, which has its own field);
  "last_task.data" -> `snapshot().last_task_data`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conformance.drivers import Driver, NotReady
from tests.conformance.env import Counter, Printer, decision_wrapper, script_env

F = TypeVar("F", bound=Callable[..., Any])

#: corpus files that at least one scenario below runs
COVERED: set[str] = set()


def covers(*files: str) -> Callable[[F], F]:
    """Mark a test as a scenario of these corpus files (checked by `test_every_corpus_file_is_covered`)."""
    COVERED.update(files)

    def mark(fn: F) -> F:
        return fn

    return mark


def states(driver: Driver, name: str) -> list[str]:
    return driver.states().get(name, [])


def waiting_names(driver: Driver) -> list[str]:
    return [name for name, _type, _event in driver.snapshot().waiting]


def assert_incident(driver: Driver, task_name: str, *fragments: str, title: str | None = None) -> None:
    """The manifest expects an error: the last step gave the case an incident at `task_name` whose
    message says each of `fragments`. On the engine driver that is the step's error; on the
    persisted driver it is the open incident row the step wrote (the driver also checks that the
    case is flagged `has_incident` whenever an incident is open)."""
    error = driver.error
    assert error is not None, "the case has no incident"
    assert error.task_name == task_name, error
    for fragment in fragments:
        assert fragment in error.message, error
    if title is not None:
        assert error.task_title == title, error


def finish_all(driver: Driver) -> int:
    """Complete every ready task, first come first served, until none is ready; return how many."""
    count = 0
    while driver.ready():
        driver.complete(driver.ready()[0])
        assert driver.error is None, driver.error
        count += 1
    return count


def test_every_corpus_file_is_covered(corpus: str) -> None:
    present = {p.name for p in Path(corpus).iterdir() if p.is_file()}
    assert len(present) == 39
    assert present == COVERED


# --- timers ---------------------------------------------------------------------------------------


@covers("timer.bpmn")
def test_timer_duration_fires_after_its_duration_only(driver: Driver, frozen_clock: datetime) -> None:
    driver.load("timer", ["timer.bpmn"])
    driver.start()
    assert driver.snapshot().waiting == [("Event_0bxivgz", "DurationTimerEventDefinition", "Take 5")]
    assert states(driver, "Event_0bxivgz") == ["WAITING"]
    assert [(t.name, t.due_at) for t in driver.timers] == [("Take 5", frozen_clock + timedelta(seconds=0.25))]

    driver.advance(0.1)  # before 0.25 s nothing changes
    assert not driver.completed
    assert states(driver, "Event_0bxivgz") == ["WAITING"]
    assert len(driver.timers) == 1

    driver.advance(0.15)
    assert driver.completed
    assert driver.snapshot().waiting == []
    assert driver.timers == []


@covers("timer.bpmn")
def test_timer_duration_survives_repeated_restores(driver: Driver) -> None:
    """Every driver call restores the stored state; polling many times early must not move the timer."""
    driver.load("timer", ["timer.bpmn"])
    driver.start()
    due = driver.timers[0].due_at
    for _ in range(5):
        driver.advance(0.01)
        assert [t.due_at for t in driver.timers] == [due]
    driver.advance(0.2)
    assert driver.completed


@covers("timer-date-start.bpmn")
def test_timer_date_waits_for_the_date_a_script_computed(driver: Driver, frozen_clock: datetime) -> None:
    driver.load("date_timer", ["timer-date-start.bpmn"], functions=script_env())
    driver.start()
    assert "futuredate" in driver.variables
    assert waiting_names(driver) == ["Event_0eb0w95"]
    assert states(driver, "Event_0eb0w95") == ["WAITING"]
    assert not driver.completed
    [timer] = driver.timers
    assert timer.name == "Wait till date"
    assert abs(timer.due_at - (frozen_clock + timedelta(seconds=0.05))) < timedelta(milliseconds=1)

    driver.advance(0.04)
    assert not driver.completed
    driver.advance(0.01)
    assert driver.completed


@covers("timer-cycle.bpmn")
def test_non_interrupting_cycle_boundary_fires_twice(driver: Driver) -> None:
    counter, printer = Counter(), Printer()
    driver.load("timer", ["timer-cycle.bpmn"], functions=script_env(counter=counter, printer=printer))
    driver.start()
    assert driver.ready_names() == ["Get_Coffee"]
    assert states(driver, "CatchMessage") == ["WAITING"]
    assert "Refill_Coffee" not in driver.ran  # nothing before the first 0.1 s

    calls = []
    for _ in range(4):
        driver.advance(0.1)
        calls.append(counter.calls)
    assert calls == [1, 2, 2, 2]  # once per 0.1 s, and only R2 times
    assert printer.lines == ["refill count = 1", "refill count = 2"]
    assert states(driver, "CatchMessage") == ["COMPLETED"]
    assert driver.snapshot().waiting == []
    assert driver.ready_names() == ["Get_Coffee"]  # the non-interrupting timer left the task alone

    driver.complete("Get coffee")
    assert driver.ready_titles() == ["Get Back To Work"]
    driver.complete("Get Back To Work")
    assert driver.completed
    assert counter.calls == 2


@covers("timer-cycle-start.bpmn")
def test_cycle_timer_start_event_in_a_collaboration(driver: Driver, frozen_clock: datetime) -> None:
    counter = Counter()
    driver.load("Collaboration_0bcl3k5", ["timer-cycle-start.bpmn"], functions=script_env(counter=counter))
    driver.start()
    assert {(t.name, t.due_at - frozen_clock) for t in driver.timers} == {
        ("CycleStart", timedelta(seconds=0.1)),
        ("wait_timer", timedelta(seconds=0.5)),
    }
    for _ in range(6):
        driver.advance(0.1)
    assert counter.calls == 2  # the cycle stops after R2
    assert driver.completed  # the terminate end event of the other pool ends everything
    # a terminate end event is the process's own business: it is not reported as news for the case
    assert driver.events_seen == []


@covers("boundary.bpmn")
def test_interrupting_timer_boundary_cancels_the_subprocess(driver: Driver) -> None:
    driver.load("boundary_event", ["boundary.bpmn"])
    driver.start()
    assert driver.ready_names() == ["Activity_09c27ms"]
    driver.complete("ReadyTogo")
    assert driver.ready_titles() == ["Are we there yet?"]
    driver.complete("Are we there yet?", {"answer": "No"})
    assert driver.ready_names() == ["Activity_Pester_Dad"]  # the default flow loops back

    driver.advance(0.03)
    assert states(driver, "Subworkflow") == ["CANCELLED"]
    assert driver.ready_titles() == ["Scream head off"]
    driver.complete("Scream head off")
    assert driver.ready_titles() == ["Stop Car"]
    driver.complete("Stop Car")
    assert driver.completed


@covers("boundary.bpmn")
def test_finishing_the_subprocess_in_time_cancels_the_boundary(driver: Driver) -> None:
    # timing-sensitive upstream ("finish within 30 ms"); deterministic here because the clock is frozen
    driver.load("boundary_event", ["boundary.bpmn"])
    driver.start()
    driver.complete("ReadyTogo")
    driver.complete("Activity_Pester_Dad", {"answer": "Yes"})
    assert states(driver, "Event_0iiih8g") == ["CANCELLED"]
    assert driver.ready_titles() == ["Stop Car"]
    assert driver.timers == []
    driver.advance(1)
    assert driver.ready_titles() == ["Stop Car"]
    driver.complete("Stop Car")
    assert driver.completed


@covers("timer-non-interrupt-boundary.bpmn")
def test_non_interrupting_duration_boundary_adds_a_task(driver: Driver) -> None:
    driver.load("NonInterruptTimer", ["timer-non-interrupt-boundary.bpmn"])
    driver.start()
    assert driver.ready_names() == ["Activity_Work"]
    assert states(driver, "Event_0jyy8ao") == ["WAITING"]

    driver.advance(0.2)
    assert sorted(driver.ready_names()) == ["Activity_Work", "GetReason"]
    assert driver.ready_titles().count("Delay Reason") == 1
    driver.complete("GetReason", {"delay_reason": "Just Because"})
    assert not driver.completed
    driver.complete("Activity_Work", {"work_done": "Yes"})
    assert driver.completed
    assert driver.snapshot().last_task_data == {"work_done": "Yes", "delay_reason": "Just Because"}


@covers("boundary_timer_on_task.bpmn")
def test_non_interrupting_timer_on_a_user_task(driver: Driver) -> None:
    driver.load("test_timer", ["boundary_timer_on_task.bpmn"])
    driver.start()
    assert driver.variables == {"timer_called": False}
    assert driver.ready_titles() == ["Say Anything"]

    driver.advance(0.002)
    snapshot = driver.snapshot()
    [script] = snapshot.named("set_variable")
    assert script.state == "COMPLETED"
    assert script.title == "update timer_called"
    assert script.data["timer_called"] is True
    assert driver.ready_names() == ["user_task"]

    driver.complete("user_task")
    assert driver.completed


# --- lanes, call activities, parallel paths -------------------------------------------------------


@covers("lanes.bpmn")
def test_lanes_route_tasks(driver: Driver) -> None:
    driver.load("lanes", ["lanes.bpmn"])
    driver.start()
    lane_a = [(r.title, r.name) for r in driver.ready() if r.lane == "A"]
    assert lane_a == [("Request Feature", "Activity_A1")]
    assert [r for r in driver.ready() if r.lane == "B"] == []

    driver.complete("Activity_A1")
    assert [(r.name, r.title, r.lane) for r in driver.ready()] == [
        ("Activity_B1", "Clarifying Questions?", "B")]
    driver.complete("Activity_B1", {"NeedClarification": False})
    assert [(r.title, r.lane) for r in driver.ready()] == [("Implement Feature", "B")]
    driver.complete("Implement Feature")
    assert [(r.title, r.lane) for r in driver.ready()] == [("Send to testing", "C")]
    driver.complete("Send to testing")
    assert [(r.title, r.lane) for r in driver.ready()] == [("SubProcessTask", "C")]  # inside the subprocess
    driver.complete("SubProcessTask")
    assert driver.completed


@covers("lanes.bpmn")
def test_lanes_clarification_goes_back_to_lane_a(driver: Driver) -> None:
    driver.load("lanes", ["lanes.bpmn"])
    driver.start()
    driver.complete("Activity_A1")
    driver.complete("Activity_B1", {"NeedClarification": "Yes"})
    assert [(r.name, r.title, r.lane) for r in driver.ready()] == [("Activity_A2", "Clarify Request", "A")]


@covers("Approvals.bpmn")
def test_approvals_call_activities_and_terminate(driver: Driver) -> None:
    driver.load("Approvals", ["Approvals.bpmn"])
    driver.start()
    assert sorted(driver.ready_names()) == [
        "First_Approval_Wins.Manager_Approval",
        "First_Approval_Wins.Supervisor_Approval",
    ]
    assert {r.lane for r in driver.ready()} == {None}  # lane refs do not match element ids

    driver.complete("First_Approval_Wins.Manager_Approval")  # the terminate end removes the other
    assert driver.ready_titles() == ["First Approval Wins Done"]
    assert "READY" not in states(driver, "First_Approval_Wins.Supervisor_Approval")
    driver.complete("First Approval Wins Done")
    assert sorted(driver.ready_titles()) == ["Manager Approval (P)", "Supervisor Approval (P)"]
    driver.complete("Manager Approval (P)")
    assert driver.ready_titles() == ["Supervisor Approval (P)"]  # the join waits for both
    driver.complete("Supervisor Approval (P)")
    assert driver.ready_titles() == ["Parallel Approvals Done"]
    driver.complete("Parallel Approvals Done")
    assert sorted(driver.ready_names()) == [
        "Parallel_Approvals_SP.Manager_Approval", "Parallel_Approvals_SP.Step1"]
    assert "Operator Approval" in driver.ready_titles()
    driver.complete("Parallel_Approvals_SP.Step1")
    assert sorted(driver.ready_titles()) == ["Manager Approval", "Supervisor Approval"]
    driver.complete("Parallel_Approvals_SP.Manager_Approval")
    driver.complete("Parallel_Approvals_SP.Supervisor_Approval")
    assert driver.ready_titles() == ["Parallel SP Done"]
    driver.complete("Parallel SP Done")
    assert driver.completed


PARALLEL_ORDERS = [
    ["1", "2", "1A", "2A", "1B", "2B", "1 Done", "2 Done", "Done"],
    ["1", "1A", "1B", "1 Done", "2", "2A", "2B", "2 Done", "Done"],
    ["1", "2", "1B", "2B", "1A", "2A", "1 Done", "2 Done", "Done"],
]


@covers("Parallel-Multiple-Splits-And-Joins.bpmn20.xml")
@pytest.mark.parametrize("order", PARALLEL_ORDERS, ids=["interleaved", "branch-by-branch", "reversed"])
def test_nested_parallel_splits_and_joins(driver: Driver, order: list[str]) -> None:
    joins = {"1 Done": {"1A", "1B"}, "2 Done": {"2A", "2B"}, "Done": {"1 Done", "2 Done"}}
    driver.load("sid-a90fa1f1-32a9-4a62-8ad4-8820a3fc6cc4", ["Parallel-Multiple-Splits-And-Joins.bpmn20.xml"])
    driver.start()
    assert sorted(driver.ready_titles()) == ["1", "2"]
    done: set[str] = set()
    for title in order:
        driver.complete(title)
        done.add(title)
        ready = set(driver.ready_titles())
        for join, inputs in joins.items():
            assert (join in ready) == (inputs <= done and join not in done), (title, join, ready)
        if title in ("1", "2"):
            assert {f"{title}A", f"{title}B"} - done <= ready
    assert driver.completed


@covers("call_activity_end_event.bpmn", "call_activity_call_activity.bpmn")
def test_call_activity_passes_data_in_and_out(driver: Driver) -> None:
    printer = Printer()
    driver.load("Process_8200379", ["call_activity_end_event.bpmn", "call_activity_call_activity.bpmn"],
                functions=script_env(printer=printer))
    driver.start()
    assert driver.error is None
    assert driver.completed
    assert driver.snapshot().data == {"pre_var": "some string", "my_var": "World", "my_other_var": "Mike"}
    assert printer.lines == ["some string", "World", "Mike"]  # 'Print Data' ran after the call


@covers("call_activity_call_activity.bpmn")
def test_called_process_alone_fails_until_given_its_input(driver: Driver) -> None:
    driver.load("Call_Activity_Get_Data", ["call_activity_call_activity.bpmn"])
    driver.start()
    assert_incident(driver, "Sub_Bpmn_Task", "remove_this_var", title="Create Data")
    assert states(driver, "Sub_Bpmn_Task") == ["ERROR"]

    driver.retry({"remove_this_var": "now it exists"})
    assert driver.error is None
    assert driver.completed
    assert driver.snapshot().data == {"my_var": "World", "my_other_var": "Mike"}


@covers("call_activity_with_error.bpmn", "call_activity_call_activity.bpmn")
def test_script_error_inside_a_called_process_names_its_caller(driver: Driver) -> None:
    driver.load("ErroringBPMN", ["call_activity_with_error.bpmn", "call_activity_call_activity.bpmn"],
                functions=script_env())
    driver.start()
    assert_incident(driver, "Sub_Bpmn_Task", "remove_this_var")
    snapshot = driver.snapshot()
    [failed] = [t for t in snapshot.tasks if t.state == "ERROR"]
    assert failed.name == "Sub_Bpmn_Task"
    assert failed.trace == (
        "Create Data (call_activity_call_activity.bpmn)",
        "Get Data Call Activity (call_activity_with_error.bpmn)",
    )
    assert snapshot.states()["Activity_12zat0d"] == ["STARTED"]
    assert not driver.completed


# --- user tasks, gateways, scripts ----------------------------------------------------------------


ORDER = {"size": "large", "toppings": ["sausage", "onions", "peppers"]}


@covers("user_task_variable.bpmn")
def test_user_task_variable_name_collects_the_form(driver: Driver) -> None:
    driver.load("one", ["user_task_variable.bpmn"])
    driver.start()
    driver.complete("User Task", ORDER)
    assert driver.completed
    assert driver.snapshot().data == {"order": ORDER}


@covers("user_task_variable.bpmn")
def test_user_task_without_variable_name_merges_the_form(driver: Driver) -> None:
    driver.load("two", ["user_task_variable.bpmn"])
    driver.start()
    driver.complete("user_task_one", ORDER)
    assert driver.completed
    assert driver.snapshot().data == ORDER


@covers("exclusive_gateway_no_default.bpmn")
@pytest.mark.parametrize(("x", "title"), [(5, "ValueGreaterThanOne"), (0, "ValueLessThanOne")])
def test_exclusive_gateway_takes_the_matching_flow(driver: Driver, x: int, title: str) -> None:
    driver.load("NoDefaultGateway", ["exclusive_gateway_no_default.bpmn"])
    driver.start({"x": x})
    assert driver.ready_titles() == [title]
    driver.complete(title)
    assert driver.completed


@covers("exclusive_gateway_no_default.bpmn")
def test_exclusive_gateway_without_match_is_an_incident(driver: Driver) -> None:
    driver.load("NoDefaultGateway", ["exclusive_gateway_no_default.bpmn"])
    driver.start({"x": 1})
    assert_incident(driver, "Gateway_CheckValue", "No conditions satisfied for Gateway_CheckValue")
    assert states(driver, "Gateway_CheckValue") == ["ERROR"]
    assert driver.ready() == []
    assert not driver.completed

    driver.retry({"x": 5})
    assert driver.error is None
    assert driver.ready_titles() == ["ValueGreaterThanOne"]
    driver.complete("ValueGreaterThanOne")
    assert driver.completed


@covers("inclusive_gateway.bpmn")
@pytest.mark.parametrize(("data", "ran", "skipped"), [
    ({"v": -1, "u": -1, "w": -1}, ["increment_v"], ["u_plus_v", "w_plus_v"]),
    ({"v": 0, "u": 1, "w": 1}, ["u_plus_v", "w_plus_v"], ["increment_v"]),
], ids=["default-only", "both-conditions"])
def test_inclusive_gateway_runs_every_matching_path(driver: Driver, data: dict[str, int], ran: list[str],
                                                    skipped: list[str]) -> None:
    driver.load("main", ["inclusive_gateway.bpmn"])
    driver.start()
    driver.complete("Set Data", data)
    assert driver.completed
    assert driver.snapshot().data == {"v": 0, "u": data["u"], "w": data["w"]}
    assert set(ran) <= set(driver.ran)
    created = driver.snapshot().states()
    for name in skipped:
        assert name not in created  # never created


@covers("inclusive_gateway.bpmn")
def test_inclusive_merge_without_match_is_an_incident(driver: Driver) -> None:
    driver.load("main", ["inclusive_gateway.bpmn"])
    driver.start()
    driver.complete("Set Data", {"v": 0, "u": -1, "w": -1})  # the default path makes v == 1
    assert_incident(driver, "second", "No conditions satisfied on gateway")
    assert states(driver, "second") == ["ERROR"]
    assert driver.variables["v"] == 1

    # Retrying with corrected data cannot help here: a merging gateway takes its data from its
    # incoming paths again when it runs, and the path that ran ('v += 1') always yields v == 1.
    # The incident stays (same task, still in ERROR) until the model or the earlier input changes.
    driver.retry({"v": 0})
    assert_incident(driver, "second", "No conditions satisfied on gateway")
    assert states(driver, "second") == ["ERROR"]
    assert not driver.completed


@covers("ScriptTest.bpmn")
def test_script_literals_functions_and_comprehensions(driver: Driver) -> None:
    driver.load("Process_1l85e0n", ["ScriptTest.bpmn"])
    driver.start()
    assert driver.completed
    data = driver.snapshot().last_task_data
    assert data == {
        "testvar": {"a": 1, "b": 2, "new": "Test"},
        "testvar2": [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}, {"x": 3, "y": "c"}],
        "sample": ["b", "c"],
    }
    assert "my_function" not in data


@covers("prescript_postscript.bpmn")
def test_pre_and_post_scripts(driver: Driver) -> None:
    driver.load("Process_1", ["prescript_postscript.bpmn"])
    driver.start({"a": 1, "b": 2})
    [task] = driver.ready()
    assert (task.name, task.title) == ("Activity_1iqs4li", "Any Task")
    assert task.data == {"a": 1, "b": 2, "x": 2, "y": 4, "z": 6}
    driver.complete(task)
    assert driver.completed
    assert driver.snapshot().last_task_data == {"a": 1, "b": 2, "c": 12, "z": 6}


@covers("prescript_postscript.bpmn")
def test_failing_pre_script_is_an_incident_and_retry_runs_it_again(driver: Driver) -> None:
    driver.load("Process_1", ["prescript_postscript.bpmn"])
    driver.start()
    assert_incident(driver, "Activity_1iqs4li", "Error occurred in the Pre-Script")
    assert states(driver, "Activity_1iqs4li") == ["ERROR"]
    assert driver.ready() == []

    driver.retry({"a": 1, "b": 2})  # the pre-script runs again, now with its inputs
    assert driver.error is None
    [task] = driver.ready()
    assert task.data["z"] == 6
    driver.complete(task)
    assert driver.completed
    assert driver.snapshot().last_task_data == {"a": 1, "b": 2, "c": 12, "z": 6}


@covers("prescript_postscript.bpmn")
def test_pre_script_that_fails_again_on_retry_stays_an_incident(driver: Driver) -> None:
    driver.load("Process_1", ["prescript_postscript.bpmn"])
    driver.start()
    driver.retry({"a": 1})  # b still missing
    assert_incident(driver, "Activity_1iqs4li", "Error occurred in the Pre-Script")
    assert states(driver, "Activity_1iqs4li") == ["ERROR"]
    driver.retry({"b": 2})
    assert driver.error is None
    assert driver.ready_names() == ["Activity_1iqs4li"]


# --- data objects and conditional events ----------------------------------------------------------


@covers("data_object.bpmn")
def test_data_object_associations(driver: Driver) -> None:
    driver.load("Process", ["data_object.bpmn"])
    driver.start()
    assert driver.snapshot().data_objects == {"obj_1": None}

    driver.complete("Generate Data", {"obj_1": "hello"})
    assert driver.snapshot().data_objects == {"obj_1": "hello"}
    driver.complete("Task", {"obj_1": "hello again"})  # no association: no effect
    assert driver.snapshot().data_objects == {"obj_1": "hello"}

    [read] = driver.ready()
    assert read.title == "Read Data"
    assert read.data["obj_1"] == "hello"  # the workflow's value wins
    driver.complete(read, {"obj_1": "changed"})  # input only: does not update the object
    snapshot = driver.snapshot()
    assert snapshot.data_objects == {"obj_1": "hello"}
    assert "obj_1" not in snapshot.named("read_data")[0].data

    [placeholder] = driver.ready()
    assert placeholder.name == "placeholder"
    assert placeholder.data["obj_1"] == "hello"
    driver.complete(placeholder, {"obj_1": "hello again"})  # output association inside the subprocess
    assert driver.completed
    snapshot = driver.snapshot()
    assert snapshot.data_objects == {"obj_1": "hello again"}
    assert "obj_1" not in snapshot.named("placeholder")[0].data


@covers("data_object.bpmn")
def test_missing_data_object_output_is_an_incident(driver: Driver) -> None:
    driver.load("Process", ["data_object.bpmn"])
    driver.start()
    driver.complete("Generate Data", {})
    # complete_task raises for the task's own data output; nothing was stored, the task is still ready
    assert_incident(driver, "generate_data", "obj_1")
    assert driver.ready_names() == ["generate_data"]
    assert driver.snapshot().data_objects == {"obj_1": None}

    driver.complete("Generate Data", {"obj_1": "hello"})
    assert driver.error is None
    assert driver.ready_titles() == ["Task"]


@covers("conditional_event.bpmn")
def test_conditional_intermediate_event(driver: Driver) -> None:
    driver.load("intermediate", ["conditional_event.bpmn"])
    driver.start()
    assert sorted(driver.ready_titles()) == ["A", "B"]
    driver.complete("B")
    assert states(driver, "event_1") == ["WAITING"]
    assert waiting_names(driver) == ["event_1"]
    before = len(driver.ran)
    driver.complete("A", {"task_a_done": True})
    assert "event_1" in driver.ran[before:]  # the condition holds at once: the event runs in this step
    assert states(driver, "event_1") == ["COMPLETED"]
    assert driver.completed


@covers("conditional_event.bpmn")
def test_conditional_boundary_event_interrupts(driver: Driver) -> None:
    driver.load("boundary", ["conditional_event.bpmn"])
    driver.start()
    assert sorted(driver.ready_titles()) == ["C", "D"]
    assert states(driver, "event_2") == ["WAITING"]
    driver.complete("C", {"task_c_done": True})
    # upstream sees event_2 READY, then D CANCELLED after engine steps; one driver step does both
    assert "event_2" in driver.ran
    snapshot = driver.snapshot()
    assert snapshot.states()["event_2"] == ["COMPLETED"]
    assert snapshot.states()["task_d"] == ["CANCELLED"]
    assert driver.completed


# --- events ---------------------------------------------------------------------------------------


@covers("event-gateway.bpmn")
def test_event_gateway_waits_as_one_task(driver: Driver, frozen_clock: datetime) -> None:
    driver.load("Process_0pvx19v", ["event-gateway.bpmn"])
    driver.start()
    # 3.2.0 moves the catch events' definitions onto the gateway: one waiting task
    assert driver.snapshot().waiting == [("Gateway_1434v9l", "MultipleEventDefinition", None)]
    waiting = [name for name, found in driver.snapshot().states().items() if "WAITING" in found]
    assert waiting == ["Gateway_1434v9l"]
    assert [t.due_at for t in driver.timers] == [frozen_clock + timedelta(seconds=1)]


@covers("event-gateway.bpmn")
def test_event_gateway_message_wins(driver: Driver) -> None:
    driver.load("Process_0pvx19v", ["event-gateway.bpmn"])
    driver.start()
    driver.catch("message_1")
    assert driver.completed
    found = driver.snapshot().states()
    assert found["message_1_event"] == ["COMPLETED"]
    assert found["message_1_end"] == ["COMPLETED"]
    assert "message_2_event" not in found  # never created (the upstream test expected CANCELLED)
    assert "timer_event" not in found
    assert driver.timers == []


@covers("event-gateway.bpmn")
def test_event_gateway_timer_wins(driver: Driver) -> None:
    driver.load("Process_0pvx19v", ["event-gateway.bpmn"])
    driver.start()
    driver.advance(0.5)
    assert not driver.completed
    driver.advance(0.5)
    assert driver.completed
    found = driver.snapshot().states()
    assert found["timer_event"] == ["COMPLETED"]
    assert found["timer"] == ["COMPLETED"]
    assert "message_1_event" not in found


@covers("Message-Interrupts.bpmn20.xml")
def test_interrupting_message_boundary_not_triggered(driver: Driver) -> None:
    driver.load("sid-db1e1749-03ee-46aa-8674-bba07b1bd167", ["Message-Interrupts.bpmn20.xml"])
    driver.start()
    assert driver.ready_titles() == ["Do Something That Takes A Long Time"]
    assert driver.snapshot().waiting == [
        ("sid-067AF0E4-F644-4962-BC02-E767C63647D5", "MessageEventDefinition", "Test Message")]
    driver.complete("Do Something That Takes A Long Time")
    assert driver.completed


@covers("Message-Interrupts.bpmn20.xml")
def test_interrupting_message_boundary_cancels_the_task(driver: Driver) -> None:
    driver.load("sid-db1e1749-03ee-46aa-8674-bba07b1bd167", ["Message-Interrupts.bpmn20.xml"])
    driver.start()
    driver.catch("Test Message")
    assert driver.ready_titles() == ["Acknowledge Interrupt Message"]
    assert states(driver, "sid-6FBBB56D-00CD-4C2B-9345-486986BB4992") == ["CANCELLED"]
    with pytest.raises(NotReady):
        driver.complete("Do Something That Takes A Long Time")
    driver.complete("Acknowledge Interrupt Message")
    assert driver.completed


@covers("Message-Non-Interrupt.bpmn20.xml")
def test_non_interrupting_message_boundary_adds_a_task(driver: Driver) -> None:
    driver.load("sid-60e2cc58-68c9-4cb5-a95c-22e3e311b6b9", ["Message-Non-Interrupt.bpmn20.xml"])
    driver.start()
    assert [event for _name, _type, event in driver.snapshot().waiting] == ["Test Message"]
    driver.catch("Test Message")
    assert sorted(driver.ready_titles()) == ["Acknowledge Non-Interrupt Message",
                                             "Do Something That Takes A Long Time"]
    driver.complete("Acknowledge Non-Interrupt Message")
    assert not driver.completed
    driver.complete("Do Something That Takes A Long Time")
    assert driver.completed


@covers("Message-Non-Interrupt.bpmn20.xml")
def test_non_interrupting_message_boundary_not_triggered(driver: Driver) -> None:
    driver.load("sid-60e2cc58-68c9-4cb5-a95c-22e3e311b6b9", ["Message-Non-Interrupt.bpmn20.xml"])
    driver.start()
    driver.complete("Do Something That Takes A Long Time")
    assert driver.completed


@covers("error_event_payload.bpmn", "escalation_event_payload.bpmn")
@pytest.mark.parametrize(("filename", "flag"), [
    ("error_event_payload.bpmn", "error"),
    ("escalation_event_payload.bpmn", "escalation"),
])
def test_thrown_event_payload_reaches_the_boundary(driver: Driver, filename: str, flag: str) -> None:
    driver.load("event_test", [filename])
    driver.start()
    driver.complete("set_data", {flag: True, "payload": "ERROR!"})
    assert driver.completed
    assert states(driver, "catch") == ["COMPLETED"]
    assert driver.snapshot().data == {"result": "ERROR!"}  # S: payloadExpression -> variableName


@covers("error_event_payload.bpmn", "escalation_event_payload.bpmn")
@pytest.mark.parametrize(("filename", "flag"), [
    ("error_event_payload.bpmn", "error"),
    ("escalation_event_payload.bpmn", "escalation"),
])
def test_no_thrown_event_ends_normally(driver: Driver, filename: str, flag: str) -> None:
    driver.load("event_test", [filename])
    driver.start()
    driver.complete("Set Data", {flag: False})
    assert driver.completed
    assert states(driver, "catch") == ["CANCELLED"]
    assert driver.snapshot().data == {flag: False}


@covers("uncaught_escalation.bpmn")
def test_uncaught_escalation_is_handed_to_the_host(driver: Driver) -> None:
    driver.load("top_level", ["uncaught_escalation.bpmn"])
    driver.start()
    assert driver.completed
    assert driver.events[0]["type"] == "EscalationEventDefinition"
    assert driver.events[0]["code"] == "escalation-1"
    assert len(driver.events_seen) == 1


@covers("transaction.bpmn")
def test_transaction_completes(driver: Driver) -> None:
    printer = Printer()
    driver.load("Main_Process", ["transaction.bpmn"], functions=script_env(printer=printer))
    driver.start()
    driver.complete("Get Data", {"value": "asdf"})
    driver.complete("Get Quantity", {"quantity": 2})
    assert driver.completed
    snapshot = driver.snapshot()
    assert snapshot.end_reached
    for boundary in ("Catch_Cancel_Event", "Catch_Error_1", "Catch_Error_None"):
        assert snapshot.states()[boundary] == ["CANCELLED"]
    assert printer.lines == ["Value: asdf / Quantity 2"]


@covers("transaction.bpmn")
def test_transaction_cancel_rolls_back(driver: Driver) -> None:
    driver.load("Main_Process", ["transaction.bpmn"], functions=script_env())
    driver.start()
    driver.complete("Get Data", {"value": ""})
    snapshot = driver.snapshot()
    assert snapshot.states()["Catch_Cancel_Event"] == ["COMPLETED"]
    assert snapshot.states()["Activity_Print_Data"] == ["CANCELLED"]
    assert snapshot.last_task_data == {"reason": "Cancel"}  # `value` was rolled back
    # the branch ends at a task without outgoing flow: nothing is left to do (our `completed`,
    # SpiffWorkflow's is_completed()), but the End was never reached (its `completed` flag)
    assert driver.completed
    assert not snapshot.end_reached


@covers("transaction.bpmn")
@pytest.mark.parametrize(("quantity", "completed_boundaries", "cancelled_boundaries", "reason"), [
    (0, ["Catch_Error_None"], ["Catch_Error_1"], "Error None"),
    (-1, ["Catch_Error_1", "Catch_Error_None"], [], None),
], ids=["uncoded-error", "error-code-1"])
def test_transaction_errors(driver: Driver, quantity: int, completed_boundaries: list[str],
                            cancelled_boundaries: list[str], reason: str | None) -> None:
    driver.load("Main_Process", ["transaction.bpmn"], functions=script_env())
    driver.start()
    driver.complete("Get Data", {"value": "asdf"})
    driver.complete("Get Quantity", {"quantity": quantity})
    assert driver.completed
    snapshot = driver.snapshot()
    found = snapshot.states()
    for name in completed_boundaries:
        assert found[name] == ["COMPLETED"]
    for name in cancelled_boundaries:
        assert found[name] == ["CANCELLED"]
    assert found["Activity_Print_Data"] == ["CANCELLED"]
    if reason is not None:
        assert snapshot.last_task_data["reason"] == reason
    else:  # both error boundaries caught it: both action scripts ran
        assert found["Error_1_Action"] == ["COMPLETED"]
        assert found["Error_None_Action"] == ["COMPLETED"]


@covers("event-subprocess.bpmn")
def test_signal_starts_the_event_subprocess(driver: Driver) -> None:
    driver.load("main", ["event-subprocess.bpmn"])
    driver.start()
    driver.complete("set_data", {"v1": True, "v2": False})
    [task] = driver.ready()
    assert task.name == "task"
    assert task.data == {}  # S: a spiff signal without a payload expression carries no data
    found = driver.snapshot().states()
    assert found["Event_1o52hta"] == ["COMPLETED"]  # the signal was thrown
    assert found["Event_03f19jy"] == ["COMPLETED"]  # the main path reached its end ...
    assert found["sub"] == ["STARTED"]
    assert not driver.completed  # ... but the process waits for the event subprocess
    driver.complete("task")
    assert driver.completed


# --- multi-instance and loops ---------------------------------------------------------------------


def _double_each(driver: Driver, *, sequential: bool) -> list[int]:
    """Complete every instance with output_item = input_item * 2; return how many were ready each time."""
    seen = []
    while driver.ready():
        seen.append(len(driver.ready()))
        item = driver.ready()[0]
        assert item.title == "Any Task"
        driver.complete(item, {"output_item": item.data["input_item"] * 2})
    if sequential:
        assert set(seen) == {1}
    return seen


@covers("parallel_multiinstance_cardinality.bpmn")
def test_parallel_multi_instance_by_cardinality(driver: Driver) -> None:
    driver.load("main", ["parallel_multiinstance_cardinality.bpmn"])
    driver.start({})
    assert [r.data["input_item"] for r in driver.ready()] == [0, 1, 2]  # all three at once
    _double_each(driver, sequential=False)
    assert driver.completed
    assert driver.snapshot().data == {"output_data": [0, 2, 4]}


@covers("parallel_multiinstance_loop_input.bpmn")
@pytest.mark.parametrize(("input_data", "output_data"), [
    ([1, 2, 3], [2, 4, 6]),
    ({"a": 1, "b": 2, "c": 3}, {"a": 2, "b": 4, "c": 6}),
], ids=["list", "dict"])
def test_parallel_multi_instance_over_a_collection(driver: Driver, input_data: Any, output_data: Any) -> None:
    driver.load("main", ["parallel_multiinstance_loop_input.bpmn"])
    driver.start({"input_data": input_data})
    assert len(driver.ready()) == 3
    _double_each(driver, sequential=False)
    assert driver.completed
    assert driver.snapshot().data == {"input_data": input_data, "output_data": output_data}


@covers("parallel_multiinstance_loop_input.bpmn")
def test_parallel_multi_instance_over_nothing(driver: Driver) -> None:
    driver.load("main", ["parallel_multiinstance_loop_input.bpmn"])
    driver.start({"input_data": []})
    assert driver.completed
    assert driver.snapshot().data == {"input_data": [], "output_data": []}


@covers("sequential_multiinstance_cardinality.bpmn")
def test_sequential_multi_instance_by_cardinality(driver: Driver) -> None:
    driver.load("main", ["sequential_multiinstance_cardinality.bpmn"])
    driver.start({})
    assert _double_each(driver, sequential=True) == [1, 1, 1]
    assert driver.completed
    assert driver.snapshot().data == {"output_data": [0, 2, 4]}


@covers("sequential_multiinstance_loop_input.bpmn")
def test_sequential_multi_instance_over_a_collection(driver: Driver) -> None:
    driver.load("main", ["sequential_multiinstance_loop_input.bpmn"])
    driver.start({"input_data": [1, 2, 3]})
    assert _double_each(driver, sequential=True) == [1, 1, 1]
    assert driver.completed
    assert driver.snapshot().data == {"input_data": [1, 2, 3], "output_data": [2, 4, 6]}


@covers("standard_loop.bpmn")
def test_standard_loop_runs_up_to_its_maximum(driver: Driver) -> None:
    driver.load("main", ["standard_loop.bpmn"])
    driver.start({"done": False})
    assert finish_all(driver) == 3  # one iteration at a time, loopMaximum 3
    assert driver.completed


@covers("standard_loop.bpmn")
def test_standard_loop_stops_when_its_condition_fails(driver: Driver) -> None:
    driver.load("main", ["standard_loop.bpmn"])
    driver.start({"done": False})
    driver.complete("Any Task")
    assert driver.ready_titles() == ["Any Task"]
    driver.complete("Any Task", {"done": True})
    assert driver.ready() == []
    assert driver.completed


@covers("standard_loop.bpmn")
def test_standard_loop_tests_before_the_first_iteration(driver: Driver) -> None:
    driver.load("main", ["standard_loop.bpmn"])
    driver.start({"done": True})
    assert driver.ready() == []
    assert driver.completed


# --- messages between pools -----------------------------------------------------------------------


@covers("collaboration.bpmn")
def test_send_task_and_correlated_reply(driver: Driver) -> None:
    driver.load("process_buddy", ["collaboration.bpmn"])
    driver.start({"lover_name": "Peggy"})
    [letter] = driver.events
    assert (letter["type"], letter["name"]) == ("MessageEventDefinition", "Love Letter")
    assert letter["payload"] == {} and letter["correlations"] == {}  # S: no messagePayload in the file
    assert [event for _n, _t, event in driver.snapshot().waiting] == ["Love Letter Response"]

    driver.send("Love Letter Response", {"from_name": "Peggy", "other_nonsense": 1001})
    assert driver.error is None
    assert driver.completed
    assert driver.events == []  # the letter was reported once, by the step that sent it
    snapshot = driver.snapshot()
    assert snapshot.correlations == {"lover": {"lover_name": "Peggy"}}
    assert snapshot.last_task_data == {"lover_name": "Peggy"}  # S: no messageVariable, payload not merged


@covers("collaboration.bpmn")
def test_collaboration_starts_only_the_executable_pool(driver: Driver) -> None:
    driver.load("my_collaboration", ["collaboration.bpmn"])
    driver.start({"lover_name": "Peggy"})
    found = driver.snapshot().states()
    assert found["process_buddy"] == ["STARTED"]  # run as a call activity
    assert "random_person_process" not in found
    assert found["EventReceiveLetter"] == ["WAITING"]


@covers("correlation.bpmn")
def test_message_start_and_reply_by_correlation(driver: Driver) -> None:
    driver.load("correlation_test", ["correlation.bpmn"])
    driver.start()
    assert driver.ready_titles() == ["Configure Data", "Configure Data"]
    for num in (0, 1):
        driver.complete("configure", {"task_num": num, "task_name": f"task {num}"})
        assert driver.error is None
    responses = driver.ready()
    assert [r.name for r in responses] == ["prepare_response", "prepare_response"]  # 2 proc_2 instances
    assert sorted(r.data["source_task"]["num"] for r in responses) == [0, 1]
    assert {r.data["source_task"]["name"] for r in responses} == {"task 0", "task 1"}
    ended: dict[int, dict] = {}
    for item in responses:
        driver.complete(item, {"response": "OK" if item.data["source_task"]["num"] else "No"})
        assert driver.error is None
        # a finished subprocess stays in the stored state until the next step, then is dropped
        for end in driver.snapshot().named("subprocess_end"):
            if end.state == "COMPLETED":
                ended[end.data["task_num"]] = end.data["response"]
    assert driver.completed
    assert sorted(ended) == [0, 1]
    for num, response in ended.items():
        assert response["init_id"] == num
        assert response["response"] == ("OK" if num else "No")


# --- decisions ------------------------------------------------------------------------------------


@covers("business_rule_task.bpmn", "business_rules.dmn")
def test_business_rule_task_calls_the_decision(driver: Driver) -> None:
    driver.load("Process_bd2e724", ["business_rule_task.bpmn"], dmn=["business_rules.dmn"])
    driver.start()
    assert driver.completed
    assert driver.snapshot().data == {"question": "X", "answer": "Y"}


@covers("business_rules.dmn")
@pytest.mark.parametrize(("question", "answer"), [
    ("X", "Y"),  # first matching rule wins although the catch-all rule matches too
    ("A", "B"),
    ("anything else", "Something is wrog"),
])
def test_unique_decision_first_match(driver: Driver, tmp_path: Path, question: str, answer: str) -> None:
    driver.load("run_decision", [decision_wrapper(tmp_path, "decision_1")], dmn=["business_rules.dmn"])
    driver.start({"question": question})
    assert driver.completed
    assert driver.snapshot().data == {"question": question, "answer": answer}


@covers("unique_hit.dmn")
@pytest.mark.parametrize(("name", "result"), [
    ("Larry", 1), ("Mo", 2), ("Curly", 3), ("Shemp", 4), ("Nobody", None),
])
def test_unique_hit_policy(driver: Driver, tmp_path: Path, name: str, result: int | None) -> None:
    wrapper = decision_wrapper(tmp_path, "Decision_ExclusiveAMCheck")
    driver.load("run_decision", [wrapper], dmn=["unique_hit.dmn"])
    driver.start({"name": name})
    assert driver.completed
    expected = {"name": name} if result is None else {"name": name, "result": result}  # no match: no output
    assert driver.snapshot().data == expected


@covers("collect_hit.dmn")
@pytest.mark.parametrize(("kind", "results", "names"), [
    ("stooge", [1, 2, 3, 4], ["Larry", "Mo", "Curly", "Shemp"]),
    ("farmer", [5], ["Elmer Fudd"]),
])
def test_collect_hit_policy(driver: Driver, tmp_path: Path, kind: str, results: list[int],
                            names: list[str]) -> None:
    # same decision id as unique_hit.dmn: loaded on its own, never together with it
    wrapper = decision_wrapper(tmp_path, "Decision_ExclusiveAMCheck")
    driver.load("run_decision", [wrapper], dmn=["collect_hit.dmn"])
    driver.start({"type": kind})
    assert driver.completed
    assert driver.snapshot().data == {"type": kind, "result": results, "name": names}

