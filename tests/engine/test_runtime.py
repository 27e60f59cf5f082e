"""The engine layer itself: stored state, restores, task checks, clocked timers, the script sandbox,
incidents and retries, and the inspection helpers."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app import clock, engine

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"


def process(process_id: str, body: str, flows: list[tuple[str, str]]) -> str:
    """A one-process BPMN document: `body` holds the flow nodes, `flows` the sequence flows."""
    edges = "\n".join(f'    <bpmn:sequenceFlow id="f_{a}_{b}" sourceRef="{a}" targetRef="{b}" />'
                      for a, b in flows)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN_NS}" xmlns:spiffworkflow="{SPIFF_NS}" id="defs_{process_id}"
    targetNamespace="http://onestop.test/engine">
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start" />
{body}
    <bpmn:endEvent id="end" />
{edges}
  </bpmn:process>
</bpmn:definitions>
"""


#: review (person) -> compute (script) -> wait one hour (timer) -> close (person)
CASE = process("case", """
    <bpmn:userTask id="review" name="Review the case" />
    <bpmn:scriptTask id="compute" name="Compute total">
      <bpmn:script>total = amount * 2</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:intermediateCatchEvent id="wait" name="Cooling-off period">
      <bpmn:timerEventDefinition><bpmn:timeDuration>"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="close" name="Close the case" />
""", [("start", "review"), ("review", "compute"), ("compute", "wait"), ("wait", "close"), ("close", "end")])


def scripted(script: str) -> engine.CompiledSpec:
    """start -> script task `run` -> user task `after` -> end."""
    text = process("scripted", f"""
    <bpmn:scriptTask id="run" name="Run the script"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="after" name="After" />
""", [("start", "run"), ("run", "after"), ("after", "end")])
    return engine.compile_spec("scripted", {"scripted.bpmn": text}, {})


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> Iterator[datetime]:
    """Freeze OneStop's clock; only `clock.advance` moves it."""
    base = datetime.now(UTC)
    monkeypatch.setattr(clock, "now", lambda: base + clock.offset())
    yield base


@pytest.fixture
def case() -> engine.CompiledSpec:
    return engine.compile_spec("case", {"case.bpmn": CASE}, {})


def decoded(state: bytes) -> dict[str, Any]:
    return json.loads(zlib.decompress(state))


def only_ready(step: engine.Step) -> engine.ReadyTask:
    [task] = step.ready
    return task


# --- stored state ---------------------------------------------------------------------------------


def test_state_excludes_the_spec(case: engine.CompiledSpec) -> None:
    step = engine.start(case, {"amount": 21})
    dct = decoded(step.state)
    assert "spec" not in dct
    assert "subprocess_specs" not in dct
    assert "serializer_version" in dct
    assert len(step.state) < 2500  # a few tasks' worth of compressed JSON, no process definition
    assert "Review the case" not in json.dumps(dct)  # names live in the spec, not in the state


def test_save_and_restore_keep_ready_tasks_and_timers(case: engine.CompiledSpec, now: datetime) -> None:
    step = engine.start(case, {"amount": 21})
    restored = engine.peek(case, step.state)
    assert restored.ready == step.ready
    assert restored.timers == step.timers == ()

    waiting = engine.complete_task(case, step.state, only_ready(step).id, {"note": "ok"})
    assert waiting.ready == ()
    assert len(waiting.timers) == 1
    again = engine.peek(case, waiting.state)
    assert again.timers == waiting.timers
    assert again.ready == waiting.ready
    assert again.variables == waiting.variables
    # restoring and storing again is lossless
    assert decoded(engine.peek(case, again.state).state) == decoded(waiting.state)


def test_steps_do_not_change_the_state_they_were_given(case: engine.CompiledSpec) -> None:
    step = engine.start(case, {"amount": 21})
    before = step.state
    engine.complete_task(case, step.state, only_ready(step).id, {})
    assert engine.peek(case, before).ready == step.ready  # the old bytes still describe the old state


# --- task checks ----------------------------------------------------------------------------------


def test_unknown_or_malformed_task_id_is_not_ready(case: engine.CompiledSpec) -> None:
    step = engine.start(case, {"amount": 1})
    with pytest.raises(engine.TaskNotReady):
        engine.complete_task(case, step.state, "00000000-0000-0000-0000-000000000000", {})
    with pytest.raises(engine.TaskNotReady):
        engine.complete_task(case, step.state, "not-a-uuid", {})


def test_task_that_is_not_waiting_for_a_person_is_not_ready(case: engine.CompiledSpec) -> None:
    step = engine.start(case, {"amount": 1})
    review = only_ready(step)
    after = engine.complete_task(case, step.state, review.id, {})
    with pytest.raises(engine.TaskNotReady):  # already completed
        engine.complete_task(case, after.state, review.id, {})
    timer = after.timers[0]
    with pytest.raises(engine.TaskNotReady):  # a waiting timer is not a person's task
        engine.complete_task(case, after.state, timer.task_id, {})


def test_completing_merges_the_data(case: engine.CompiledSpec) -> None:
    step = engine.start(case, {"amount": 21})
    after = engine.complete_task(case, step.state, only_ready(step).id, {"note": "ok"})
    assert after.variables == {"amount": 21, "note": "ok", "total": 42}
    assert after.ran == ("compute",)  # what ran by itself; the person's task is not listed


# --- clock-driven timers --------------------------------------------------------------------------


def test_timer_is_reported_with_its_due_time_and_fires_once(case: engine.CompiledSpec, now: datetime) -> None:
    step = engine.start(case, {"amount": 1})
    clock.advance(timedelta(minutes=5))
    waiting = engine.complete_task(case, step.state, only_ready(step).id, {})
    [timer] = waiting.timers
    assert timer.name == "Cooling-off period"
    assert timer.due_at == now + timedelta(minutes=5, hours=1)

    early = engine.fire_due_timers(case, waiting.state)
    assert early.ready == ()
    assert early.timers == waiting.timers
    assert "wait" not in early.ran

    clock.advance(timedelta(hours=1))
    fired = engine.fire_due_timers(case, early.state)
    assert fired.ran.count("wait") == 1
    assert [t.name for t in fired.ready] == ["close"]
    assert fired.timers == ()

    later = engine.fire_due_timers(case, fired.state)  # nothing left to fire
    assert "wait" not in later.ran
    assert [t.name for t in later.ready] == ["close"]
    done = engine.complete_task(case, later.state, only_ready(later).id, {})
    assert done.completed


def test_timer_due_time_survives_restores(case: engine.CompiledSpec, now: datetime) -> None:
    step = engine.start(case, {"amount": 1})
    waiting = engine.complete_task(case, step.state, only_ready(step).id, {})
    state = waiting.state
    for _ in range(3):
        clock.advance(timedelta(minutes=10))
        state = engine.fire_due_timers(case, state).state
    assert engine.peek(case, state).timers == waiting.timers  # the due time was fixed when the timer started


# --- the script sandbox ---------------------------------------------------------------------------


@pytest.mark.parametrize(("script", "complaint"), [
    ("import os", "cannot import modules"),
    ("from os import path", "cannot import modules"),
    ("x = __import__('os')", "cannot import modules"),
    ("data = open('/etc/hostname').read()", "name 'open' is not defined"),
    ("x = eval('1 + 1')", "name 'eval' is not defined"),
    ("x = getattr(total, 'real')", "name 'getattr' is not defined"),
])
def test_scripts_cannot_import_or_reach_the_interpreter(script: str, complaint: str) -> None:
    compiled = scripted(script)
    step = engine.start(compiled, {"total": 1})
    assert step.error is not None, script
    assert complaint in step.error.message
    assert step.error.task_name == "run"
    assert step.ready == ()
    assert engine.failed_tasks(compiled, step.state) == ["run"]


def test_scripts_see_the_safe_builtins_and_the_given_functions() -> None:
    compiled = scripted("result = double(max([1, 5, 3])) + len(sorted({'a', 'b'}))")
    step = engine.start(compiled, functions={"double": lambda x: x * 2})
    assert step.error is None
    assert step.variables["result"] == 12
    assert "double" not in step.variables


# --- incidents and retries ------------------------------------------------------------------------


def test_failing_script_is_an_incident_kept_for_retry() -> None:
    compiled = scripted("total = amount + 1")
    step = engine.start(compiled, {"nothing": True})
    assert step.error is not None
    assert step.error.task_name == "run"
    assert step.error.task_title == "Run the script"
    assert "amount" in step.error.message
    assert not step.completed
    assert engine.failed_tasks(compiled, step.state) == ["run"]
    assert engine.task_states(compiled, step.state)["run"] == ["ERROR"]

    again = engine.retry(compiled, step.state)  # same data: fails again, stays in ERROR
    assert again.error is not None
    assert engine.failed_tasks(compiled, again.state) == ["run"]

    fixed = engine.retry(compiled, again.state, {"amount": 41})
    assert fixed.error is None
    assert engine.failed_tasks(compiled, fixed.state) == []
    assert [t.name for t in fixed.ready] == ["after"]
    assert fixed.ready[0].data["total"] == 42


def test_failing_post_script_raises_and_keeps_the_task_ready() -> None:
    text = process("post", """
    <bpmn:userTask id="ask" name="Ask">
      <bpmn:extensionElements><spiffworkflow:postScript>total = amount + 1</spiffworkflow:postScript>
      </bpmn:extensionElements>
    </bpmn:userTask>
""", [("start", "ask"), ("ask", "end")])
    compiled = engine.compile_spec("post", {"post.bpmn": text}, {})
    step = engine.start(compiled)
    with pytest.raises(engine.EngineError) as caught:
        engine.complete_task(compiled, step.state, only_ready(step).id, {})
    assert caught.value.task_name == "ask"
    assert "Post-Script" in caught.value.message
    done = engine.complete_task(compiled, step.state, only_ready(step).id, {"amount": 1})
    assert done.completed
    assert done.variables["total"] == 2


def test_retry_runs_a_failed_pre_script_again() -> None:
    text = process("pre", """
    <bpmn:userTask id="ask" name="Ask">
      <bpmn:extensionElements><spiffworkflow:preScript>total = amount + 1</spiffworkflow:preScript>
      </bpmn:extensionElements>
    </bpmn:userTask>
""", [("start", "ask"), ("ask", "end")])
    compiled = engine.compile_spec("pre", {"pre.bpmn": text}, {})
    step = engine.start(compiled)
    assert step.error is not None
    assert step.error.task_name == "ask"
    assert step.ready == ()
    fixed = engine.retry(compiled, step.state, {"amount": 1})
    assert fixed.error is None
    assert only_ready(fixed).data == {"amount": 1, "total": 2}


def test_user_task_variable_name_receives_the_form() -> None:
    text = process("form", """
    <bpmn:userTask id="ask" name="Ask">
      <bpmn:extensionElements><spiffworkflow:variableName>answer</spiffworkflow:variableName>
      </bpmn:extensionElements>
    </bpmn:userTask>
""", [("start", "ask"), ("ask", "end")])
    compiled = engine.compile_spec("form", {"form.bpmn": text}, {})
    step = engine.start(compiled, {"case_no": 7})
    done = engine.complete_task(compiled, step.state, only_ready(step).id, {"agree": True})
    assert done.variables == {"case_no": 7, "answer": {"agree": True}}


# --- events and messages --------------------------------------------------------------------------


MESSAGES = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN_NS}" xmlns:spiffworkflow="{SPIFF_NS}" id="defs_msg"
    targetNamespace="http://onestop.test/engine">
  <bpmn:message id="reply" name="reply" />
  <bpmn:message id="request" name="request" />
  <bpmn:correlationKey id="by_case" name="by_case">
    <bpmn:correlationPropertyRef>case_no</bpmn:correlationPropertyRef>
  </bpmn:correlationKey>
  <bpmn:correlationProperty id="case_no" name="case_no">
    <bpmn:correlationPropertyRetrievalExpression messageRef="request">
      <bpmn:messagePath>case_no</bpmn:messagePath>
    </bpmn:correlationPropertyRetrievalExpression>
    <bpmn:correlationPropertyRetrievalExpression messageRef="reply">
      <bpmn:messagePath>case_no</bpmn:messagePath>
    </bpmn:correlationPropertyRetrievalExpression>
  </bpmn:correlationProperty>
  <bpmn:process id="asker" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sendTask id="ask" name="Ask the other party" messageRef="request">
      <bpmn:extensionElements>
        <spiffworkflow:messagePayload>{{"case_no": case_no}}</spiffworkflow:messagePayload>
      </bpmn:extensionElements>
    </bpmn:sendTask>
    <bpmn:receiveTask id="wait_reply" name="Wait for the reply" messageRef="reply">
      <bpmn:extensionElements>
        <spiffworkflow:messageVariable>answer</spiffworkflow:messageVariable>
      </bpmn:extensionElements>
    </bpmn:receiveTask>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="ask" />
    <bpmn:sequenceFlow id="f2" sourceRef="ask" targetRef="wait_reply" />
    <bpmn:sequenceFlow id="f3" sourceRef="wait_reply" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def asker() -> engine.CompiledSpec:
    return engine.compile_spec("asker", {"asker.bpmn": MESSAGES}, {})


def test_outgoing_message_is_reported_by_one_step_only(asker: engine.CompiledSpec) -> None:
    step = engine.start(asker, {"case_no": 7})
    [sent] = step.events
    assert sent["name"] == "request"
    assert sent["payload"] == {"case_no": 7}
    assert sent["correlations"] == {"by_case": {"case_no": 7}}
    assert engine.peek(asker, step.state).events == ()


def test_send_message_checks_correlation(asker: engine.CompiledSpec) -> None:
    step = engine.start(asker, {"case_no": 7})
    view = engine.inspect_state(asker, step.state)
    assert [(w.name, w.event_type, w.event_name) for w in view.waiting] == [
        ("wait_reply", "MessageEventDefinition", "reply")]
    assert view.correlations == {"by_case": {"case_no": 7}}

    with pytest.raises(engine.MessageNotAwaited):  # another case's reply
        engine.send_message(asker, step.state, "reply", {"case_no": 8, "ok": True})
    with pytest.raises(engine.MessageNotAwaited):  # nothing waits for this name
        engine.send_message(asker, step.state, "unknown", {"case_no": 7})
    with pytest.raises(engine.MessageNotAwaited):  # cannot be correlated at all
        engine.send_message(asker, step.state, "reply", {"ok": True})
    with pytest.raises(engine.MessageNotAwaited):  # explicit keys of another case
        engine.send_message(asker, step.state, "reply", {"ok": True}, {"by_case": {"case_no": 8}})

    done = engine.send_message(asker, step.state, "reply", {"case_no": 7, "ok": True})
    assert done.error is None
    assert done.completed
    assert done.variables["answer"] == {"case_no": 7, "ok": True}


def test_inspect_state_describes_every_task(case: engine.CompiledSpec) -> None:
    step = engine.start(case, {"amount": 2})
    view = engine.inspect_state(case, step.state)
    assert not view.completed and not view.end_reached
    review = [t for t in view.tasks if t.name == "review"]
    assert [(t.title, t.state, t.manual, t.process) for t in review] == [
        ("Review the case", "READY", True, "case")]
    assert review[0].trace == ("Review the case (case.bpmn)",)
    assert view.states() == engine.task_states(case, step.state)
    assert engine.task_states(case, step.state)["compute"] == ["FUTURE"]
    assert isinstance(view, engine.WorkflowView)
    with pytest.raises(AttributeError):
        view.completed = True  # type: ignore[misc]  # frozen: plain data only


def _bench_spec(name: str) -> engine.CompiledSpec:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "bench" / "bundle" / f"{name}.bpmn").read_text()
    process_id = re.search(r'<bpmn:process id="([^"]+)"', text).group(1)
    return engine.compile_spec(process_id, {f"{name}.bpmn": text}, {})


def test_a_gateway_loop_runs_past_the_depth_the_engine_walks() -> None:
    """SpiffWorkflow walks the task tree only 1000 levels deep, and each round of a gateway loop added
    three levels: after 333 rounds the waiting task vanished. Pruning the finished history keeps the
    tree shallow, so 400 rounds run, each with the right count, and the state stays small."""
    compiled = _bench_spec("bench_loop")
    step = engine.start(compiled, {"limit": 10_000})
    sizes = []
    for rounds in range(1, 401):
        assert step.error is None and not step.completed
        assert [t.name for t in step.ready] == ["work"]
        step = engine.complete_task(compiled, step.state, step.ready[0].id, {"note": f"round {rounds}"})
        assert step.variables["count"] == rounds
        sizes.append(len(zlib.decompress(step.state)))
    assert step.error is None and step.completed is False
    assert [t.name for t in step.ready] == ["work"]
    assert sizes[-1] < sizes[9] + 2000  # the state does not grow with the rounds
    states = engine.task_states(compiled, step.state)
    assert states["work"][:400] == ["COMPLETED"] * 400
    assert (states["work"].count("COMPLETED"), states["work"].count("READY")) == (400, 1)
    assert states["count_up"].count("COMPLETED") == 400
    # and the loop still ends when its condition says so
    step = engine.start(compiled, {"limit": 3})
    for _ in range(3):
        step = engine.complete_task(compiled, step.state, step.ready[0].id, {})
    assert step.completed and step.variables["count"] == 3


def test_a_standard_loop_keeps_only_its_running_iteration() -> None:
    """The finished iterations of a BPMN standard loop are merged into the loop task: the stored
    state drops them and stays the same size however many rounds ran."""
    compiled = _bench_spec("bench_long")
    step = engine.start(compiled, {"limit": 10_000})
    sizes = []
    for _round in range(1, 61):
        step = engine.complete_task(compiled, step.state, step.ready[0].id, {"note": "ok"})
        assert step.error is None and len(step.ready) == 1
        sizes.append(len(zlib.decompress(step.state)))
    assert sizes[-1] < sizes[4] + 3000
    assert engine.task_states(compiled, step.state)[step.ready[0].name].count("COMPLETED") == 60


# --- workflows kept between steps -----------------------------------------------------------------


@pytest.fixture
def kept() -> Iterator[engine.runtime._Kept]:
    """The process's kept workflows, empty for the test and emptied again after it."""
    engine.runtime.KEPT.resize(0)
    engine.runtime.KEPT.resize(8)
    yield engine.runtime.KEPT
    engine.runtime.KEPT.resize(0)
    engine.runtime.KEPT.resize(64)


def _outcome(step: engine.Step) -> tuple[Any, ...]:
    """What a step says, without the ids of the task instances it created (new every time)."""
    return ([(t.name, t.title, t.lane, t.data, t.due_at) for t in step.ready],
            [(t.name, t.due_at) for t in step.timers], step.completed, step.variables, step.ran, step.events)


def test_a_kept_workflow_goes_on_as_its_restored_state_would(case: engine.CompiledSpec, now: datetime,
                                                             kept: engine.runtime._Kept,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    restores: list[bytes] = []
    load = engine.runtime.load_state
    monkeypatch.setattr(engine.runtime, "load_state", lambda c, s, f=None: restores.append(s) or load(c, s, f))

    first = engine.start(case, {"amount": 21})
    engine.keep(case, first)
    assert len(kept) == 1
    waiting = engine.complete_task(case, first.state, only_ready(first).id, {"note": "ok"})
    assert restores == [] and waiting.workflow is first.workflow  # went on with the kept workflow
    assert len(kept) == 0  # taken while the step uses it
    restored = engine.complete_task(case, first.state, only_ready(first).id, {"note": "ok"})
    assert restores == [first.state]
    assert _outcome(waiting) == _outcome(restored)
    assert decoded(engine.peek(case, waiting.state).state) == decoded(waiting.state)

    engine.keep(case, waiting)
    clock.advance(timedelta(hours=2))
    restores.clear()
    fired = engine.fire_due_timers(case, waiting.state)
    assert restores == []
    assert _outcome(fired) == _outcome(engine.fire_due_timers(case, waiting.state))
    assert [t.name for t in fired.ready] == ["close"]


def test_a_workflow_is_found_only_under_the_state_it_was_stored_as(case: engine.CompiledSpec,
                                                                   kept: engine.runtime._Kept) -> None:
    first = engine.start(case, {"amount": 1})
    second = engine.complete_task(case, first.state, only_ready(first).id, {})
    engine.keep(case, second)
    # a step from other bytes (an older state, another process's step) restores them
    again = engine.complete_task(case, first.state, only_ready(first).id, {})
    assert again.workflow is not second.workflow and len(kept) == 1
    # the same bytes on another compiled spec (a case migrated to another version) are not it
    other = engine.compile_spec("case", {"case.bpmn": CASE}, {})
    assert engine.fire_due_timers(other, second.state).workflow is not second.workflow
    assert len(kept) == 0  # taken out, not used, not put back: the next step restores


def test_a_failed_step_is_never_kept(kept: engine.runtime._Kept) -> None:
    compiled = scripted("total = missing + 1")
    step = engine.start(compiled, {"total": 1})
    assert step.error is not None and step.workflow is None
    engine.keep(compiled, step)
    assert len(kept) == 0


def test_keeping_is_bounded_and_can_be_turned_off(case: engine.CompiledSpec, kept: engine.runtime._Kept) -> None:
    steps = [engine.start(case, {"amount": n}) for n in range(10)]
    for step in steps:
        engine.keep(case, step)
    assert len(kept) == 8  # the least recently stored are forgotten first
    assert engine.runtime.KEPT.take(case, steps[0].state) is None
    assert engine.runtime.KEPT.take(case, steps[9].state) is steps[9].workflow
    engine.keep_workflows(0)
    assert len(kept) == 0
    engine.keep(case, steps[5])
    assert len(kept) == 0


def test_a_large_state_is_packed_fast_and_a_small_one_small(case: engine.CompiledSpec) -> None:
    """zlib's header says the level: a state past 16 KB of JSON is packed at level 1 (a third of level
    6's time for a mediation case's state), a small one at level 6 (under ~2 KB PostgreSQL keeps it
    in its row); both read back the same."""
    small = engine.start(case, {"amount": 1})
    assert small.state[:2] == b"\x78\x9c"
    notes = [f"第{i}次调解记录：双方当面协商，约定分期付款。" for i in range(400)]
    large = engine.start(case, {"amount": 1, "notes": notes})
    assert len(zlib.decompress(large.state)) > engine.runtime._PACK_FAST_ABOVE
    assert large.state[:2] == b"\x78\x01"
    assert engine.peek(case, large.state).variables["notes"] == notes
