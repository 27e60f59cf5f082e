"""Run a case's workflow one step at a time: start, complete a task, fire timers, catch messages.

Every call takes the compiled spec and the stored state (bytes), restores the workflow, does one
step and returns a frozen `Step`. The spec never travels with the state; nothing outside this
package sees a SpiffWorkflow type.
"""

from __future__ import annotations

import copy
import json
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnSubWorkflowConverter, BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from app.engine.scripting import make_script_engine
from app.engine.specs import DUE_PROPERTY, FORM_PROPERTY, UI_FORM_PROPERTY, CompiledSpec
from app.engine.timers import ClockedCycle, ClockedDuration, ClockedTimeDate, due_time

Functions = Mapping[str, Callable[..., Any]]


class EngineError(Exception):
    """A script, condition, rule or timer failed; the case keeps its state from before the failure."""

    def __init__(self, message: str, *, task_name: str | None = None, task_title: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.task_name = task_name
        self.task_title = task_title
        self.line = line


class TaskNotReady(Exception):
    """The task does not exist in the workflow or is not waiting for a person."""


@dataclass(frozen=True)
class ReadyTask:
    """A task waiting for a person."""

    id: str
    name: str
    title: str
    lane: str | None
    form: str | None
    ui_form: str | None
    data: dict[str, Any]
    documentation: str = ""
    multi_instance_index: int | None = None
    #: when the task is due: the `dueAt` property (an expression over the task's data) or the
    #: earliest timer on the task's boundary
    due_at: datetime | None = None


@dataclass(frozen=True)
class Timer:
    task_id: str
    name: str
    due_at: datetime


@dataclass(frozen=True)
class Step:
    """The outcome of one engine step."""

    state: bytes
    ready: tuple[ReadyTask, ...]
    timers: tuple[Timer, ...]
    completed: bool
    #: variables of the case as the most recent step left them
    variables: dict[str, Any]
    #: events thrown that nothing in the process caught (escalations, messages to others)
    events: tuple[dict[str, Any], ...] = ()
    #: tasks that ran automatically in this step (scripts, rules, gateways, events), by element id
    ran: tuple[str, ...] = ()
    #: the error that stopped this step, if any (state then holds the failed task in ERROR)
    error: EngineError | None = None
    #: the pending timers of the state the step started from (None: not a step from a stored state);
    #: equal to `timers` when the step left the case's timers as they were
    timers_before: tuple[Timer, ...] | None = None
    #: the workflow `state` was dumped from, for `keep` once the state is stored (None: a step that
    #: failed, or one that did not dump a state of its own)
    workflow: Any = field(default=None, repr=False, compare=False)


def _tasks_to_dict(converter: Any, workflow: Any) -> dict[str, Any]:
    """A (sub)workflow's tasks as SpiffWorkflow's `TaskConverter` writes them (the same dictionaries,
    keys in the same order) in less time: each task id is turned into text once, where the library
    did it as a key, as the task's id, as its children's parent and in its parent's children, and the
    registry is asked once per task, not per attribute. A task of a class other than `Task` goes
    through the registry as before."""
    registry = converter.registry
    tasks = workflow.tasks
    texts = {task_id: str(task_id) for task_id in tasks}
    out: dict[str, Any] = {}
    for task_id, task in tasks.items():
        text = texts[task_id]
        if type(task) is not Task:
            out[text] = registry.convert(task)
            continue
        parent = tasks.get(task._parent)
        current = task.data
        if parent is None:
            data, delta = current, {}
        else:
            before = parent.data
            data = {}
            delta = {"updates": {k: v for k, v in current.items() if k not in before or v != before[k]},
                     "deletions": [k for k in before if k not in current]}
        out[text] = {
            "id": text,
            "parent": texts[task._parent] if parent is not None else None,
            "children": [texts.get(child) or str(child) for child in task._children],
            "last_state_change": task.last_state_change,
            "state": task._state,
            "task_spec": task.task_spec.name,
            "triggered": task.triggered,
            "internal_data": registry.convert(task.internal_data),
            "data": data,
            "delta": delta,
            "typename": "Task",
        }
    return out


def _tasks_from_dict(converter: Any, tasks: dict[str, Any], workflow: Any) -> dict[UUID, Any]:
    """`_tasks_to_dict` read back as SpiffWorkflow's `TaskConverter` reads it (parents before their
    children, as written; a task's data is its parent's, one level copied, with its changes), each id
    parsed once."""
    restore = converter.registry.restore
    ids: dict[str, UUID] = {}

    def uuid(text: str) -> UUID:
        found = ids.get(text)
        if found is None:
            found = ids[text] = UUID(text)
        return found

    specs = workflow.spec.task_specs
    events = workflow.top_workflow.event_manager
    restored = workflow.tasks  # each Task() adds itself
    out: dict[UUID, Any] = {}
    for key, dct in tasks.items():
        if dct.get("typename") != "Task":
            out[uuid(key)] = restore(dct, workflow=workflow)
            continue
        spec = specs.get(dct["task_spec"])
        task = Task(workflow, spec, state=dct["state"], id=uuid(dct["id"]))
        parent_id = dct["parent"]
        task._parent = uuid(parent_id) if parent_id is not None else None
        task._children = [uuid(child) for child in dct["children"]]
        task.last_state_change = dct["last_state_change"]
        task.triggered = dct["triggered"]
        task.internal_data = restore(dct["internal_data"])
        if isinstance(spec, CatchingEvent) and task._state & TaskState.WAITING:
            events.add_task(task)
        delta = dct.get("delta")
        parent = restored.get(task._parent)
        if delta and parent is not None:
            data = {k: copy.copy(v) if isinstance(v, dict | list | set) else v for k, v in parent.data.items()}
            data.update(restore(delta.get("updates", {})))
            for gone in delta.get("deletions", ()):
                data.pop(gone, None)
        else:
            data = restore(dct["data"])
        task.data = data
        out[uuid(key)] = task
    return out


def _workflow_dict(converter: Any, workflow: Any) -> dict[str, Any]:
    """What SpiffWorkflow's `WorkflowConverter.to_dict` writes, the tasks by `_tasks_to_dict`."""
    registry = converter.registry
    return {
        "data": registry.convert(registry.clean(workflow.data)),
        "correlations": workflow.correlations,
        "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
        "success": workflow.success,
        "completed": workflow.completed,
        "tasks": _tasks_to_dict(converter, workflow),
        "root": str(workflow.task_tree.id),
    }


class _StateConverter(BpmnWorkflowConverter):
    """Serializes a workflow without its spec; the spec is re-attached from the cache on load."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct = _workflow_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None) -> Any:
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = _tasks_from_dict(self, dct["tasks"], workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class _SubStateConverter(BpmnSubWorkflowConverter):
    """A subprocess (call activity, embedded subprocess) as SpiffWorkflow writes it, its tasks by
    `_tasks_to_dict` and `_tasks_from_dict`."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct = _workflow_dict(self, workflow)
        dct["parent_task_id"] = str(workflow.parent_task_id)
        dct["spec"] = workflow.spec.name
        return dct

    def from_dict(self, dct: dict[str, Any], task: Any, top_workflow: Any) -> Any:
        spec = top_workflow.subprocess_specs.get(task.task_spec.spec)
        subprocess = self.target_class(spec, task.id, top_workflow, deserializing=True)
        subprocess.tasks = _tasks_from_dict(self, dct["tasks"], subprocess)
        subprocess.task_tree = subprocess.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(subprocess, dct)
        return subprocess


def _make_registry() -> Any:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _StateConverter
    config[BpmnSubWorkflow] = _SubStateConverter
    registry = BpmnWorkflowSerializer.configure(config)
    # the clocked timers share their parents' serialized form
    from SpiffWorkflow.bpmn.serializer.default.event_definition import (
        TimerConditionalEventDefinitionConverter,
    )

    for cls in (ClockedTimeDate, ClockedDuration, ClockedCycle):
        TimerConditionalEventDefinitionConverter(cls, registry)
    return registry


_REGISTRY = _make_registry()
_ENCODER = create_encoder(_REGISTRY, None)


#: key of the stored state that holds the tally of pruned task instances (see `_prune_history`)
PRUNED_KEY = "onestop_pruned"


def dump_state(workflow: Any) -> bytes:
    """Serialize a workflow (without spec) to compressed JSON."""
    _REGISTRY._encoder_mode = True
    try:
        dct = _REGISTRY.convert(workflow)
        dct["serializer_version"] = SERIALIZER_VERSION
        pruned = getattr(workflow, "_onestop_pruned", None)
        if pruned:
            dct[PRUNED_KEY] = [[*key, *value] for key, value in pruned.items()]
        text = json.dumps(dct, cls=_ENCODER, separators=(",", ":"))
    finally:
        _REGISTRY._encoder_mode = False
    raw = text.encode("utf-8")
    return zlib.compress(raw, 1 if len(raw) > _PACK_FAST_ABOVE else 6)


#: JSON bytes above which a state is packed with zlib level 1, not 6. A mediation case's state is
#: 20-60 KB of JSON: level 6 took 0.43 ms a step to pack the demo's cases (0.82 the largest), level 1
#: takes 0.15 (0.25), for 16% more bytes, and such a state is stored out of line on PostgreSQL either
#: way. A small state stays at level 6: under ~2 KB packed PostgreSQL keeps it in its row, and every
#: step's UPDATE writes it again (level 1 everywhere made a finished simple case 7.5 KB there, not 6.4).
_PACK_FAST_ABOVE = 16_384


def load_state(compiled: CompiledSpec, state: bytes, functions: Functions | None = None) -> Any:
    """Restore a workflow from `dump_state` output onto the cached spec, with a fresh script engine."""
    dct = json.loads(zlib.decompress(state))
    pruned = dct.pop(PRUNED_KEY, None) or []
    version = dct.pop("serializer_version", SERIALIZER_VERSION)
    if version in MIGRATIONS:
        MIGRATIONS[version](dct)
    workflow = _REGISTRY.restore(dct, spec=compiled.spec, subprocess_specs=compiled.subprocess_specs)
    workflow._onestop_pruned = {tuple(entry[:3]): list(entry[3:]) for entry in pruned}
    _loaded(workflow, functions)
    return workflow


def _loaded(workflow: Any, functions: Functions | None) -> None:
    """What a workflow gets at every load, restored or kept (`_load_for_step`): this step's script
    engine and functions, and the subprocesses already done (`_prune_finished_subprocesses`)."""
    workflow.script_engine = make_script_engine(functions)
    workflow._onestop_done_at_load = _finished_subprocesses(workflow)


class _Kept:
    """The workflows of the last steps whose state was stored, by that state (at most `capacity`,
    the least recently stored forgotten first).

    A step restores its workflow from the stored bytes: a fifth of the engine's time on a small
    case, more on a large one. When this process stored those very bytes last, the workflow they
    were dumped from is here instead and the step goes on with it. The stored bytes stay the truth:
    a workflow is found only under the exact bytes the case holds (another process's step, a
    migration, a rolled-back step all leave other bytes), it is taken out while a step uses it (a
    failed step never puts it back), and it is put back only after its state was committed."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[bytes, tuple[CompiledSpec, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, compiled: CompiledSpec, state: bytes) -> Any:
        """The workflow stored as `state` on `compiled`, removed from here; None when there is none."""
        with self._lock:
            entry = self._entries.pop(state, None)
        if entry is None or entry[0] is not compiled:
            return None
        return entry[1]

    def put(self, compiled: CompiledSpec, state: bytes, workflow: Any) -> None:
        with self._lock:
            if self.capacity <= 0:
                return
            self._entries[state] = (compiled, workflow)
            self._entries.move_to_end(state)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def resize(self, capacity: int) -> None:
        with self._lock:
            self.capacity = capacity
            while len(self._entries) > max(capacity, 0):
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


#: workflows a next step of their case may go on with (`keep`): a mediation case's workflow takes
#: 125 KB of memory (the demo's median; 250 KB with five departments), so 64 of them ~8-16 MB
KEPT = _Kept(64)


def keep(compiled: CompiledSpec, step: Step) -> None:
    """Remember the workflow of `step` for the case's next step in this process: call it once the
    step's state is committed (never for a step that may still roll back)."""
    if step.workflow is not None and step.error is None:
        KEPT.put(compiled, step.state, step.workflow)


def keep_workflows(capacity: int) -> None:
    """How many workflows `keep` holds (0: none, every step restores from the stored state)."""
    KEPT.resize(capacity)


def _error_from(exc: Exception) -> EngineError:
    task = getattr(exc, "task", None)
    task_spec = getattr(exc, "task_spec", None) or (task.task_spec if task is not None else None)
    name = getattr(task_spec, "bpmn_id", None) or getattr(task_spec, "name", None)
    title = getattr(task_spec, "bpmn_name", None)
    line = getattr(exc, "line_number", None)
    message = str(exc)
    if isinstance(exc, SpiffWorkflowException) and getattr(exc, "notes", None):
        message = "; ".join([message, *exc.notes])
    return EngineError(message, task_name=name, task_title=title,
                       line=line if isinstance(line, int) else None)


def _task_due(workflow: Any, task: Any, props: Mapping[str, str]) -> datetime | None:
    expression = props.get(DUE_PROPERTY)
    if expression:
        try:
            value = workflow.script_engine.evaluate(task, expression)
        except Exception:  # noqa: BLE001 - a due time that cannot be read is simply unknown
            value = None
        if value:
            try:
                due = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            except ValueError:
                due = None
            if due is not None and due.tzinfo is not None:
                return due
    parent = task.parent
    if parent is None or type(parent.task_spec).__name__ != "BoundaryEventSplit":
        return None
    dues = [due_time(sibling) for sibling in parent.children
            if sibling is not task and sibling.has_state(TaskState.WAITING)]
    found = [d for d in dues if d is not None]
    return min(found) if found else None


def _ready_tasks(workflow: Any) -> tuple[ReadyTask, ...]:
    found = []
    for task in workflow.get_tasks(state=TaskState.READY, manual=True):
        spec = task.task_spec
        props = (getattr(spec, "extensions", None) or {}).get("properties", {})
        index = task.internal_data.get("iteration") if isinstance(task.internal_data, dict) else None
        found.append(ReadyTask(
            id=str(task.id),
            name=spec.bpmn_id or spec.name,
            title=spec.bpmn_name or spec.bpmn_id or spec.name,
            lane=spec.lane,
            form=props.get(FORM_PROPERTY) or None,
            ui_form=props.get(UI_FORM_PROPERTY) or None,
            data=_plain(task.data),
            documentation=getattr(spec, "documentation", None) or "",
            multi_instance_index=index if isinstance(index, int) else None,
            due_at=_task_due(workflow, task, props),
        ))
    return tuple(found)


def _timers(workflow: Any) -> tuple[Timer, ...]:
    found = []
    for task in list(workflow.event_manager.tasks.values()):
        if not task.has_state(TaskState.WAITING):
            continue
        due = due_time(task)
        if due is not None:
            found.append(Timer(task_id=str(task.id), name=task.task_spec.bpmn_name or task.task_spec.bpmn_id
                               or task.task_spec.name, due_at=due))
    return tuple(sorted(found, key=lambda t: t.due_at))


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """Task data without callables or modules, for callers outside the engine."""
    return {k: v for k, v in data.items() if not callable(v) and not hasattr(v, "__spec__")}


def _variables(workflow: Any, completed: bool) -> dict[str, Any]:
    """The case's variables: the last task's data, and the workflow's own once it has `completed`
    (as `_finish` judged it: one walk of the task tree, not two)."""
    if completed:
        merged = dict(workflow.data)
        if workflow.last_task is not None:
            merged.update(workflow.last_task.data)
        return _plain(merged)
    if workflow.last_task is not None:
        return _plain(workflow.last_task.data)
    return {}


#: thrown events that are the process's own business and never news for the case (a terminate
#: end event ends a subprocess; a plain none end event throws nothing worth reporting)
_QUIET_EVENTS = ("TerminateEventDefinition", "NoneEventDefinition", "CancelEventDefinition")


def _events(workflow: Any) -> tuple[dict[str, Any], ...]:
    out = []
    for event in workflow.get_events():
        definition = event.event_definition
        if type(definition).__name__ in _QUIET_EVENTS:
            continue
        payload = event.payload
        out.append({
            "type": type(definition).__name__,
            "name": getattr(definition, "name", None),
            "code": getattr(definition, "code", None),
            "payload": payload if isinstance(payload, dict | list | str | int | float | None) else None,
            "correlations": dict(event.correlations or {}),
        })
    return tuple(out)


def _finished_subprocesses(workflow: Any) -> set[Any]:
    """Ids of the subprocesses (call activities, embedded subprocesses) that are done."""
    done = set()
    for task_id, sub in workflow.subprocesses.items():
        if not sub.is_completed():
            continue
        parent = workflow.get_task_from_id(task_id)
        if parent is not None and parent.has_state(TaskState.FINISHED_MASK):
            done.add(task_id)
    return done


def _prune_finished_subprocesses(workflow: Any) -> None:
    """Forget the subprocesses that were already done when this step began: their task in the
    parent keeps the outcome, and carrying their task trees makes every later step slower. Those
    finished by this very step stay one step longer, so the stored state still shows how they ended."""
    for task_id in getattr(workflow, "_onestop_done_at_load", ()):
        workflow.subprocesses.pop(task_id, None)


#: states of a task that is over for good: its branch can never be resumed or looked back at by the engine
_DONE = TaskState.COMPLETED | TaskState.CANCELLED


def _tally(workflow: Any, tasks: Any) -> None:
    """Count removed task instances per (process, element, state), so inspection still shows them."""
    pruned = getattr(workflow.top_workflow, "_onestop_pruned", None)
    if pruned is None:
        pruned = workflow.top_workflow._onestop_pruned = {}
    for task in tasks:
        spec = task.task_spec
        key = (workflow.spec.name, spec.bpmn_id or spec.name, TaskState.get_name(task.state))
        entry = pruned.get(key)
        if entry is None:
            pruned[key] = [spec.bpmn_name or spec.bpmn_id or spec.name, bool(spec.manual),
                           getattr(spec, "lane", None), 1]
        else:
            entry[3] += 1


def _subtree(task: Any) -> list[Any]:
    found, stack = [], [task]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(current.children)
    return found


def _prune_tree(workflow: Any, protected: set[Any]) -> None:
    """Drop the finished history of one (sub)workflow's task tree that nothing can reach again.

    SpiffWorkflow keeps every task it ever ran, each with its own copy of the data, and walks them
    all on every step (and only 1000 levels deep: a gateway loop disappears after ~333 rounds).
    Two kinds of history are unreachable:

    - everything above the unfinished part: with L the lowest common ancestor of all unfinished tasks
      and P its parent, the tasks between the Start task and P, and every branch hanging off them, are
      finished (all unfinished work lies below L); P stays, as L may still inherit its data. Joins only
      look at branches below their split, which is L or below while a branch is open.
    - the finished iterations of a running standard loop: their data is merged into the loop task and
      the loop only counts them (`internal_data["merged"]` keeps one entry per iteration).

    Nothing is pruned when it would remove the last completed task (the case's variables come from it)
    or a task that owns a subprocess.
    """
    tasks = workflow.tasks
    root = workflow.task_tree
    live = [t for t in tasks.values() if not t.has_state(_DONE)]
    if not live or root is None or len(root._children) != 1:
        return
    start = tasks.get(root._children[0])
    if start is None:
        return
    # lowest common ancestor of the unfinished tasks
    path: list[Any] = []
    task = live[0]
    while task is not None:
        path.append(task.id)
        task = task.parent
    path.reverse()
    index = {task_id: i for i, task_id in enumerate(path)}
    depth = len(path)
    for task in live[1:]:
        while task is not None and task.id not in index:
            task = task.parent
        if task is None:
            return
        depth = min(depth, index[task.id] + 1)
    lowest = tasks[path[depth - 1]]
    keep_from = lowest.parent
    if keep_from is not None and keep_from is not root and keep_from is not start and keep_from.parent is not start:
        kept = _subtree(keep_from)
        kept_ids = {t.id for t in kept}
        kept_ids.update((root.id, start.id))
        removed = [t for t in tasks.values() if t.id not in kept_ids]
        if removed and not any(t.id in protected or t is workflow.last_task for t in removed):
            _tally(workflow, removed)
            for task in removed:
                del tasks[task.id]
            start._children = [keep_from.id]
            keep_from._parent = start.id
    for loop in live:
        if type(loop.task_spec).__name__ != "StandardLoopTask" or not loop.has_state(TaskState.STARTED):
            continue
        for child in loop.children:
            if child is None or not child.has_state(TaskState.COMPLETED) or child is workflow.last_task:
                continue
            branch = _subtree(child)
            if any(not t.has_state(_DONE) or t.id in protected for t in branch):
                continue
            _tally(workflow, branch)
            for task in branch:
                del tasks[task.id]
            loop._children.remove(child.id)
            # the loop counts its merged iterations; their ids point nowhere now (an empty string
            # keeps the count and costs three bytes instead of thirty-nine)
            merged = loop.internal_data.get("merged")
            if isinstance(merged, list):
                loop.internal_data["merged"] = ["" if m == str(child.id) else m for m in merged]


def _prune_history(workflow: Any) -> None:
    """Prune the finished, unreachable history of the workflow and of each of its subprocesses."""
    protected = set(workflow.subprocesses)
    _prune_tree(workflow, protected)
    for subprocess in list(workflow.subprocesses.values()):
        _prune_tree(subprocess, protected)


def _has_unfinished_work(workflow: Any) -> bool:
    """True when some task of the top-level tree still waits for a person, a timer or a message."""
    unfinished = TaskState.READY | TaskState.WAITING | TaskState.STARTED
    return any(task.has_state(unfinished) for task in workflow.tasks.values())


def _finish(workflow: Any, ran: list[str], error: EngineError | None = None, *,
            state: bytes | None = None) -> Step:
    # take the thrown events out before the state is stored, so each is reported by one step only
    events = _events(workflow)
    completed = workflow.is_completed()
    if completed and error is None and _has_unfinished_work(workflow):
        # SpiffWorkflow walks the task tree only 1000 levels deep: past that (about 333 rounds of a
        # gateway loop) it reports a waiting process as completed. Never close a case on that.
        completed = False
        error = EngineError("the case's history is deeper than the engine can follow (a loop ran hundreds "
                            "of rounds); model the repeated part as a called process")
    dumped = state is None
    if dumped:
        _prune_finished_subprocesses(workflow)
        _prune_history(workflow)
        state = dump_state(workflow)
    return Step(
        state=state,
        ready=_ready_tasks(workflow),
        timers=_timers(workflow),
        completed=completed,
        variables=_variables(workflow, completed),
        events=events,
        ran=tuple(ran),
        error=error,
        timers_before=getattr(workflow, "_onestop_timers_at_load", None),
        workflow=workflow if dumped and error is None else None,
    )


def _load_for_step(compiled: CompiledSpec, state: bytes, functions: Functions | None) -> Any:
    """`load_state` for a step of a stored case (or the workflow `keep` kept as that state, with this
    step's script functions): remembers the timers it waited for before the step."""
    workflow = KEPT.take(compiled, state)
    if workflow is None:
        workflow = load_state(compiled, state, functions)
    else:
        _loaded(workflow, functions)
    workflow._onestop_timers_at_load = _timers(workflow)
    return workflow


#: internal_data flag of a task that failed while it was being made ready (its pre-script), so that
#: `retry` runs that step again instead of only the task itself
_FAILED_BEFORE_READY = "onestop_failed_before_ready"


#: bound on engine passes in one step (a process that keeps making work for itself is an error in it)
_MAX_PASSES = 50


def _advance(workflow: Any) -> Step:
    """Run engine steps until only people or timers are awaited; an error ends the step."""
    ran: list[str] = []
    running: list[Any] = [None]

    def will_complete(task: Any) -> None:
        running[0] = task

    def did_complete(task: Any) -> None:
        ran.append(task.task_spec.bpmn_id or task.task_spec.name)

    try:
        # do_engine_steps ends with refresh_timers(), which can make a timer event READY after the
        # last pass (a cycle's final firing): run again until nothing automatic is left READY
        for _ in range(_MAX_PASSES):
            workflow.do_engine_steps(will_complete_task=will_complete, did_complete_task=did_complete)
            if not any(not t.task_spec.manual for t in workflow.get_tasks(state=TaskState.READY)):
                break
    except Exception as exc:  # noqa: BLE001 - every failure of user content becomes an incident
        failed = getattr(exc, "task", None)
        if failed is not None and failed is not running[0] and failed.has_state(TaskState.ERROR):
            failed.internal_data[_FAILED_BEFORE_READY] = True
        return _finish(workflow, ran, _error_from(exc))
    return _finish(workflow, ran)


def start(compiled: CompiledSpec, data: Mapping[str, Any] | None = None,
          functions: Functions | None = None) -> Step:
    """Create a workflow, give its start event `data`, and run it to its first wait state."""
    workflow = BpmnWorkflow(compiled.spec, compiled.subprocess_specs,
                            script_engine=make_script_engine(functions))
    workflow._onestop_timers_at_load = ()  # a new case waited for nothing
    if data:
        first = workflow.get_tasks(state=TaskState.READY)
        for task in first:
            task.data.update(dict(data))
    return _advance(workflow)


def _find_task(workflow: Any, task_id: str) -> Any:
    try:
        task = workflow.get_task_from_id(UUID(task_id))
    except (ValueError, KeyError, SpiffWorkflowException) as exc:
        raise TaskNotReady(f"no task {task_id} in this case") from exc
    if task is None:
        raise TaskNotReady(f"no task {task_id} in this case")
    return task


def complete_task(compiled: CompiledSpec, state: bytes, task_id: str, data: Mapping[str, Any],
                  functions: Functions | None = None) -> Step:
    """Complete the person's task `task_id` with `data`, then run on to the next wait state."""
    workflow = _load_for_step(compiled, state, functions)
    task = _find_task(workflow, task_id)
    if not (task.has_state(TaskState.READY) and task.task_spec.manual):
        raise TaskNotReady(f"task {task_id} is not waiting for a person")
    variable = getattr(task.task_spec, "variable", None)  # spiffworkflow:variableName of a user task
    if variable:
        task.data[variable] = dict(data)
    else:
        task.data.update(dict(data))
    try:
        task.run()
    except Exception as exc:  # noqa: BLE001 - post-scripts and data outputs are user content
        failed = getattr(exc, "task", None)
        if task.has_state(TaskState.COMPLETED) and failed is not None and failed is not task:
            # the person's task is done; what failed came after it (e.g. the next task's
            # pre-script): keep the completion and report the failure as this step's error
            return _finish(workflow, [], _error_from(exc))
        raise _error_from(exc) from exc
    return _advance(workflow)


def fire_due_timers(compiled: CompiledSpec, state: bytes, functions: Functions | None = None) -> Step:
    """Let every timer whose due time has passed fire, and run on."""
    workflow = _load_for_step(compiled, state, functions)
    workflow.refresh_timers()
    return _advance(workflow)


def catch_message(compiled: CompiledSpec, state: bytes, name: str, payload: Any = None,
                  functions: Functions | None = None) -> Step:
    """Deliver message `name` to the workflow (a boundary or catch event waiting for it), and run on."""
    workflow = _load_for_step(compiled, state, functions)
    event = BpmnEvent(MessageEventDefinition(name), payload)
    try:
        workflow.catch(event)
    except Exception as exc:  # noqa: BLE001
        return _finish(workflow, [], _error_from(exc))
    return _advance(workflow)


def retry(compiled: CompiledSpec, state: bytes, data: Mapping[str, Any] | None = None,
          functions: Functions | None = None) -> Step:
    """Run again the tasks that failed (optionally with corrected `data`), and run on."""
    workflow = _load_for_step(compiled, state, functions)
    failed = workflow.get_tasks(state=TaskState.ERROR)
    for task in failed:
        if data:
            task.data.update(dict(data))
        if not task.internal_data.pop(_FAILED_BEFORE_READY, False):
            task._set_state(TaskState.READY)
            continue
        prescript = getattr(task.task_spec, "prescript", None)
        if prescript is not None:
            try:
                task.task_spec.execute_script(task, prescript)
            except Exception as exc:  # noqa: BLE001
                task.internal_data[_FAILED_BEFORE_READY] = True
                if isinstance(exc, SpiffWorkflowException):
                    exc.add_note("Error occurred in the Pre-Script")
                return _finish(workflow, [], _error_from(exc))
        task._ready()
    return _advance(workflow)


def peek(compiled: CompiledSpec, state: bytes) -> Step:
    """Describe the stored state without changing it."""
    workflow = load_state(compiled, state)
    return _finish(workflow, [], state=state)


def failed_tasks(compiled: CompiledSpec, state: bytes) -> list[str]:
    """Element ids of tasks in ERROR in the stored state."""
    workflow = load_state(compiled, state)
    return [t.task_spec.bpmn_id or t.task_spec.name for t in workflow.get_tasks(state=TaskState.ERROR)]
