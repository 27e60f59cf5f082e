"""Read-only views of a stored workflow, and sending a correlated message into it.

`runtime` answers "what does the case wait for now"; this module answers the questions that
tests, diagnostics and the service layer ask less often: in which state is every task of every
(sub)process, what is the workflow-level data (data objects, correlations), which events are
awaited. Everything returned is plain data; no SpiffWorkflow type leaves this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.util.task import TaskState

from app.engine.runtime import Functions, Step, _advance, _error_from, _finish, _load_for_step, _plain, load_state
from app.engine.specs import CompiledSpec

__all__ = [
    "MessageNotAwaited",
    "TaskInfo",
    "WaitingEvent",
    "WorkflowView",
    "inspect_state",
    "send_message",
    "task_states",
]


class MessageNotAwaited(Exception):
    """No catch event, receive task or message start event of the case waits for this message."""


@dataclass(frozen=True)
class TaskInfo:
    """One task instance of the workflow or of one of its subprocesses."""

    id: str
    #: the BPMN element id (or SpiffWorkflow's internal name for Start, End, ...)
    name: str
    title: str
    #: TaskState name: FUTURE, LIKELY, MAYBE, WAITING, READY, STARTED, COMPLETED, ERROR, CANCELLED
    state: str
    manual: bool
    lane: str | None
    #: id of the process (or subprocess spec) the task belongs to
    process: str
    data: dict[str, Any]
    #: where the task runs, innermost first: "title (file)" of the task, then of each call activity
    #: or subprocess that contains it (an incident inside a called process names its callers)
    trace: tuple[str, ...] = ()


@dataclass(frozen=True)
class WaitingEvent:
    """A catch event (or event-based gateway) that waits for something outside the engine step."""

    task_id: str
    #: element id of the waiting task
    name: str
    #: event definition class name, e.g. MessageEventDefinition, DurationTimerEventDefinition
    event_type: str
    #: the message/signal name; None for timers and conditions
    event_name: str | None
    #: for multiple event definitions (event-based gateways): what each member waits for
    members: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class WorkflowView:
    """A snapshot of a stored workflow for inspection."""

    #: no task of the top-level workflow is unfinished (same as `Step.completed`)
    completed: bool
    #: the top-level process reached its End, so `data` holds the final variables; False when the
    #: process finished otherwise (e.g. a branch that ends in a task without outgoing flow)
    end_reached: bool
    #: workflow-level data of the top-level process, without `data_objects`
    data: dict[str, Any]
    data_objects: dict[str, Any]
    correlations: dict[str, Any]
    #: data of the task completed most recently
    last_task_data: dict[str, Any]
    tasks: tuple[TaskInfo, ...]
    waiting: tuple[WaitingEvent, ...]

    def states(self) -> dict[str, list[str]]:
        """Element id -> states of its task instances (in creation order)."""
        found: dict[str, list[str]] = {}
        for task in self.tasks:
            found.setdefault(task.name, []).append(task.state)
        return found


def _all_tasks(workflow: Any) -> list[Any]:
    tasks = list(workflow.tasks.values())
    for subprocess in workflow.subprocesses.values():
        tasks.extend(subprocess.tasks.values())
    return tasks


def _title(spec: Any) -> str:
    return spec.bpmn_name or spec.bpmn_id or spec.name


def _trace(task: Any) -> tuple[str, ...]:
    entries = [f"{_title(task.task_spec)} ({task.workflow.spec.file})"]
    workflow = task.workflow
    while workflow.parent_task_id is not None:
        caller = workflow.top_workflow.get_task_from_id(workflow.parent_task_id)
        entries.append(f"{_title(caller.task_spec)} ({caller.workflow.spec.file})")
        workflow = caller.workflow
    return tuple(entries)


def _task_info(task: Any) -> TaskInfo:
    spec = task.task_spec
    return TaskInfo(
        id=str(task.id),
        name=spec.bpmn_id or spec.name,
        title=_title(spec),
        state=TaskState.get_name(task.state),
        manual=bool(spec.manual),
        lane=getattr(spec, "lane", None),
        process=task.workflow.spec.name,
        data=_plain(task.data),
        trace=_trace(task),
    )


def _waiting(workflow: Any) -> tuple[WaitingEvent, ...]:
    found = []
    for task in list(workflow.event_manager.tasks.values()):
        if not task.has_state(TaskState.WAITING):
            continue
        definition = task.task_spec.event_definition
        members: tuple[tuple[str, str | None], ...] = ()
        if isinstance(definition, MultipleEventDefinition):
            members = tuple((_base_name(type(d)), getattr(d, "name", None))
                            for d in definition.event_definitions)
        found.append(WaitingEvent(
            task_id=str(task.id),
            name=task.task_spec.bpmn_id or task.task_spec.name,
            event_type=_base_name(type(definition)),
            event_name=getattr(definition, "name", None),
            members=members,
        ))
    return tuple(found)


def _pruned_infos(workflow: Any) -> list[TaskInfo]:
    """Task instances pruned from the stored state as finished history (`runtime._prune_history`), oldest
    first: they keep their element, state and place, not their data."""
    found = []
    for (process, name, state), (title, manual, lane, count) in getattr(workflow, "_onestop_pruned", {}).items():
        info = TaskInfo(id="", name=name, title=title, state=state, manual=bool(manual), lane=lane,
                        process=process, data={}, trace=())
        found.extend([info] * int(count))
    return found


def _base_name(cls: type) -> str:
    """The SpiffWorkflow class name; our clocked timer subclasses report their parent's name."""
    if cls.__module__.startswith("app."):
        return cls.__mro__[1].__name__
    return cls.__name__


def _end_reached(workflow: Any) -> bool:
    return any(t.task_spec.name == "End" and t.has_state(TaskState.COMPLETED)
               for t in workflow.tasks.values())


def inspect_state(compiled: CompiledSpec, state: bytes) -> WorkflowView:
    """Describe every task, the workflow data and the awaited events of a stored state."""
    workflow = load_state(compiled, state)
    data = _plain(workflow.data)
    data_objects = dict(data.pop("data_objects", None) or {})
    last = workflow.last_task
    return WorkflowView(
        completed=workflow.is_completed(),
        end_reached=_end_reached(workflow),
        data=data,
        data_objects=data_objects,
        correlations=dict(workflow.correlations),
        last_task_data=_plain(last.data) if last is not None else {},
        tasks=(*_pruned_infos(workflow), *(_task_info(t) for t in _all_tasks(workflow))),
        waiting=_waiting(workflow),
    )


def task_states(compiled: CompiledSpec, state: bytes) -> dict[str, list[str]]:
    """Element id -> TaskState names of its task instances, over the workflow and its subprocesses."""
    return inspect_state(compiled, state).states()


def _message_definitions(definition: Any, name: str) -> list[Any]:
    if isinstance(definition, MultipleEventDefinition):
        return [d for inner in definition.event_definitions for d in _message_definitions(inner, name)]
    if isinstance(definition, MessageEventDefinition) and definition.name == name:
        return [definition]
    return []


def send_message(compiled: CompiledSpec, state: bytes, name: str, payload: Any = None,
                 correlations: Mapping[str, Any] | None = None, functions: Functions | None = None) -> Step:
    """Deliver message `name` from outside the case, and run on.

    The message is built from the definition of the waiting catch event, receive task or
    event-based gateway, so it has that event's class and correlation properties; unless
    `correlations` is given, the correlation keys are computed from `payload` with those
    properties' retrieval expressions (as a sending pool would). A message that no waiting event
    accepts (wrong name, or keys that do not match the case's correlations) raises
    `MessageNotAwaited` and nothing is stored. Unlike `catch_message`, a message nobody waits for
    is never mistaken for one the case throws.
    """
    workflow = _load_for_step(compiled, state, functions)
    event = None
    for task in list(workflow.event_manager.tasks.values()):
        if not task.has_state(TaskState.WAITING):
            continue
        for definition in _message_definitions(task.task_spec.event_definition, name):
            if correlations is not None:
                keys = dict(correlations)
            else:
                try:
                    keys = definition.get_correlations(task, payload)
                except Exception:  # noqa: BLE001 - the payload lacks a correlation property
                    continue
            candidate = BpmnEvent(definition, payload, keys)
            if task.task_spec.catches(task, candidate):
                event = candidate
                break
        if event is not None:
            break
    if event is None:
        raise MessageNotAwaited(f"the case is not waiting for message {name!r}")
    try:
        workflow.send_event(event)
    except Exception as exc:  # noqa: BLE001 - a failing retrieval expression or payload is user content
        return _finish(workflow, [], _error_from(exc))
    return _advance(workflow)

