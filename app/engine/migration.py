"""Move a running case's workflow from one compiled spec to another (process version N to N+1).

A case's state is SpiffWorkflow's task tree without the spec: every task names its task spec by id.
Moving a case means restoring the tree against the old spec, checking that every step the case has
reached still means the same thing in the new spec, pointing each task at the new spec's task of the
same id, re-predicting the part of the tree the case has not reached yet, and serializing again.

What the check allows and refuses (the `Blocker` kinds):

- A step the case has reached (done, waiting for a person, a timer or a message, running a called
  process, failed) must exist in the new version (`removed`) with the same kind of element
  (`type_changed`); the stored history names it, and it cannot be restored without it.
  A cancelled leaf step that was removed (e.g. a deleted boundary timer that never fired) is simply
  dropped from the history.
- A step that is under way (ready, waiting, started, or the parallel join it is waiting at) must not
  have changed in a way that matters to it (`changed`, with the aspects: form, lane, script, timer,
  event, multi-instance, called element, decision, data, conditions, due time, the timers attached to
  it, the branches a waiting join expects). A changed label or documentation never blocks, nor does
  any change to a step that is finished (its outcome is history) or not yet reached (the case will
  simply run the new definition when it gets there). A step that failed (an incident) may change:
  that is how a fix reaches a stuck case, and the retry runs the new definition.
- A called process or subprocess the case is running must exist in the new pin (`process_missing`).

Tasks keep their ids, data and internal data (a timer keeps its computed due time), so open
human tasks and pending timers carry on unchanged. Nothing runs during a move: no script, no rule.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from app.engine import runtime
from app.engine.runtime import Step, dump_state, load_state
from app.engine.specs import DUE_PROPERTY, FORM_PROPERTY, UI_FORM_PROPERTY, CompiledSpec

Functions = Mapping[str, Callable[..., Any]]

#: the states of a step that is under way: a change to its definition would change what is going on
_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
_PREDICTED = TaskState.PREDICTED_MASK

#: serialized task spec keys that never matter to a running case (labels, documentation, structure
#: that re-prediction takes care of, and engine bookkeeping)
_HARMLESS = frozenset({"name", "bpmn_id", "bpmn_name", "documentation", "description", "lookahead", "inputs",
                       "outputs", "typename", "manual", "trigger_specs"})

#: serialized task spec key -> the aspect a person would recognize
_ASPECTS = {
    "lane": "lane",
    "prescript": "script", "postscript": "script", "script": "script",
    "task_spec": "multi_instance", "cardinality": "multi_instance", "data_input": "multi_instance",
    "data_output": "multi_instance", "input_item": "multi_instance", "output_item": "multi_instance",
    "condition": "multi_instance", "test_before": "multi_instance",
    "spec": "called_element",
    "decision_table": "decision",
    "cond_task_specs": "conditions", "default_task_spec": "conditions", "choice": "conditions",
    "split_task": "gateway", "threshold": "gateway", "cancel": "gateway",
    "data_input_associations": "data", "data_output_associations": "data", "io_specification": "data",
    "variable": "data",
    "cancel_activity": "event",
}

#: the join kinds whose waiting task counts the branches that arrive
_JOINS = frozenset({"ParallelGateway", "InclusiveGateway", "_EndJoin", "BoundaryEventJoin"})

#: extension properties that only change what people read
_HARMLESS_PROPERTIES = frozenset({"instructionsForEndUser"})


@dataclass(frozen=True)
class Blocker:
    """Why a case cannot move: one step (by BPMN id and label) and what is wrong with it."""

    #: "removed" | "type_changed" | "changed" | "process_missing" | "engine"
    kind: str
    #: the process (or called process / subprocess) the step belongs to
    process: str
    #: the step's BPMN element id
    step: str
    #: the step's label in the version the case runs on now
    name: str
    #: how far the case got with the step: "ready", "waiting", "started", "failed", "completed", "cancelled"
    state: str
    #: for "changed": what changed (form, lane, script, timer, event, multi_instance, called_element,
    #: decision, data, conditions, due, timers, join, settings, definition)
    aspects: tuple[str, ...] = ()
    #: for "type_changed": "OldType -> NewType"; for "engine": the engine's message
    detail: str = ""


@dataclass(frozen=True)
class Migration:
    """The outcome of moving one case's state: either blockers, or the moved state as a `Step`."""

    blockers: tuple[Blocker, ...]
    #: the case after the move (its `state` is what to store), or None when blocked
    step: Step | None = None
    #: engine ids of the person's tasks that were open before and are open after the move
    continued: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.blockers


def _state_name(task: Any) -> str:
    for mask, name in ((TaskState.READY, "ready"), (TaskState.WAITING, "waiting"), (TaskState.STARTED, "started"),
                       (TaskState.ERROR, "failed"), (TaskState.COMPLETED, "completed"),
                       (TaskState.CANCELLED, "cancelled"), (TaskState.FUTURE, "next")):
        if task.has_state(mask):
            return name
    return "predicted"


def _label(spec: Any) -> tuple[str, str]:
    """(element id, label) of a task spec; a multi-instance body is named after its activity."""
    step = getattr(spec, "bpmn_id", None) or spec.name
    return step, getattr(spec, "bpmn_name", None) or step


def _convert(spec: Any) -> dict[str, Any]:
    return runtime._REGISTRY.convert(spec)


def _aspects(old: Any, new: Any, changed_forms: Collection[str]) -> list[str]:
    """What changed between two task specs of the same id, in the terms of `Blocker.aspects`."""
    a, b = _convert(old), _convert(new)
    found: list[str] = []

    def add(aspect: str) -> None:
        if aspect not in found:
            found.append(aspect)

    for key in sorted(set(a) | set(b)):
        if key in _HARMLESS or a.get(key) == b.get(key):
            continue
        if key == "extensions":
            for aspect in _extension_aspects(a.get(key) or {}, b.get(key) or {}):
                add(aspect)
        elif key == "event_definition":
            if _without_name(a.get(key)) != _without_name(b.get(key)):
                add("timer" if isinstance(getattr(old, "event_definition", None), TimerEventDefinition) else "event")
        else:
            add(_ASPECTS.get(key, "definition"))
    props = ((getattr(new, "extensions", None) or {}).get("properties") or {})
    if any(props.get(k) in changed_forms for k in (FORM_PROPERTY, UI_FORM_PROPERTY) if props.get(k)):
        add("form")
    return found


def _without_name(definition: Any) -> Any:
    """An event definition without its label (a timer's name is the boundary event's label)."""
    if not isinstance(definition, dict):
        return definition
    return {k: v for k, v in definition.items() if k not in ("name", "description")}


def _extension_aspects(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    found = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) == b.get(key):
            continue
        if key == "properties":
            pa, pb = a.get(key) or {}, b.get(key) or {}
            for prop in sorted(set(pa) | set(pb)):
                if pa.get(prop) == pb.get(prop) or prop in _HARMLESS_PROPERTIES:
                    continue
                found.append("form" if prop in (FORM_PROPERTY, UI_FORM_PROPERTY)
                             else "due" if prop == DUE_PROPERTY else "settings")
        elif key == "calledDecisionId":
            found.append("decision")
        elif key in ("preScript", "postScript"):
            found.append("script")
        elif key not in _HARMLESS_PROPERTIES:
            found.append("settings")
    return found


def _walk(task: Any) -> Iterator[Any]:
    yield task
    for child in task.children:
        yield from _walk(child)


@dataclass
class _Plan:
    """What to do with one (sub)workflow of the case."""

    workflow: Any
    process: str
    new_spec: Any
    #: tasks whose predicted children are dropped and predicted again from the new spec
    repredict: list[Any]
    #: tasks (with their subtrees) to take out of the tree
    drop: list[Any]
    #: finished tasks to take out of the tree, their children moving up to their parent
    splice: list[Any]


def _plan(workflow: Any, process: str, new_spec: Any, changed_forms: Collection[str],
          blockers: list[Blocker]) -> _Plan:
    """Check one (sub)workflow against its new spec; collect blockers and the changes to make."""
    plan = _Plan(workflow, process, new_spec, [], [], [])
    new_specs = new_spec.task_specs
    seen: dict[tuple[str, str], int] = {}

    def block(kind: str, task: Any, aspects: tuple[str, ...] = (), detail: str = "") -> None:
        step, name = _label(task.task_spec)
        index = seen.get((kind, step))
        if index is None:
            seen[(kind, step)] = len(blockers)
            blockers.append(Blocker(kind, process, step, name, _state_name(task), aspects, detail))
            return
        known = blockers[index]  # e.g. a multi-instance activity and its running instances: one reason
        merged = known.aspects + tuple(a for a in aspects if a not in known.aspects)
        blockers[index] = Blocker(kind, process, step, name, known.state, merged, known.detail)

    def predicted_subtree_dirty(task: Any) -> bool:
        """True when the new spec predicts differently below an active task."""
        for node in _walk(task):
            new = new_specs.get(node.task_spec.name)
            if new is None or type(new) is not type(node.task_spec):
                return True
            if [s.name for s in new.outputs] != [s.name for s in node.task_spec.outputs]:
                return True
        return False

    def visit(task: Any, parent_open: bool) -> None:
        spec = task.task_spec
        predicted = task.has_state(_PREDICTED) or (task.has_state(TaskState.FUTURE) and parent_open)
        if predicted:
            return  # handled by its parent (below)
        new = new_specs.get(spec.name)
        if new is None or type(new) is not type(spec):
            if new is None and task.has_state(TaskState.CANCELLED) and all(
                    t.has_state(TaskState.CANCELLED | _PREDICTED) for t in _walk(task)):
                plan.drop.append(task)
                return
            if _can_splice(task):
                # finished history the new version no longer has: take the step out, keep what followed
                plan.splice.append(task)
                new = None
            elif new is None:
                block("removed", task)
            else:
                block("type_changed", task, detail=f"{type(spec).__name__} -> {type(new).__name__}")
        elif task.has_state(_ACTIVE | TaskState.FUTURE) and not task.has_state(TaskState.ERROR):
            aspects = _aspects(spec, new, changed_forms)
            old_inputs = [s.name for s in spec.inputs]
            if (task.has_state(TaskState.WAITING) and type(spec).__name__ in _JOINS
                    and old_inputs != [s.name for s in new.inputs]):
                aspects.append("join")
            if aspects:
                block("changed", task, tuple(aspects))
        elif (task.has_state(TaskState.COMPLETED) and type(spec).__name__ == "BoundaryEventSplit"
              and any(c.has_state(_ACTIVE) for c in task.children)
              and [s.name for s in spec.outputs] != [s.name for s in new.outputs]):
            # the timers attached to a step under way were set up when the step began
            main = next((c for c in task.children if type(c.task_spec).__name__ != "BoundaryEvent"), task)
            block("changed", main, ("timers",))
        active = task.has_state(_ACTIVE | TaskState.FUTURE)
        children = list(task.children)
        guesses = [c for c in children if c.has_state(_PREDICTED) or (c.has_state(TaskState.FUTURE) and active)]
        if guesses:
            outputs_changed = new is not None and [s.name for s in spec.outputs] != [s.name for s in new.outputs]
            if active:
                if outputs_changed or any(predicted_subtree_dirty(g) for g in guesses):
                    plan.repredict.append(task)
            else:
                # guesses below a finished step: keep those the new spec knows, drop the others
                for guess in guesses:
                    if predicted_subtree_dirty(guess):
                        plan.drop.append(guess)
        for child in children:
            if child not in guesses:
                visit(child, active)

    visit(workflow.task_tree, False)
    return plan


def _can_splice(task: Any) -> bool:
    """Whether a finished task whose step the new version removed (or made a different kind of element)
    can leave the history: not while a join may still count it, not a running multi-instance's
    finished instance, not a call whose subprocess is still there."""
    if not task.has_state(TaskState.COMPLETED | TaskState.CANCELLED) or task.parent is None:
        return False
    if task.parent.has_state(_ACTIVE):
        return False
    top = getattr(task.workflow, "top_workflow", None) or task.workflow
    if task.id in top.subprocesses:
        return False
    # a join finds the branches that arrived through its tasks' parents
    return not any(type(c.task_spec).__name__ in _JOINS and not c.has_state(TaskState.COMPLETED)
                   for c in task.children)


def _splice(workflow: Any, task: Any) -> None:
    """Take a finished task out of the tree; its children take its place under its parent."""
    parent = task.parent
    following = [t for t in _walk(task) if t.has_state(TaskState.READY | TaskState.WAITING | TaskState.STARTED)]
    index = parent._children.index(task.id)
    kids = list(task._children)
    for kid in task.children:
        kid._parent = parent.id
    parent._children[index:index + 1] = kids
    workflow.tasks.pop(task.id)
    if workflow.last_task is task:
        # the most recent data now lives in the step that followed it (made ready with that data)
        workflow.last_task = following[0] if following else parent


def _apply(plan: _Plan) -> None:
    """Point every task at the new spec and predict again where the new spec differs."""
    workflow, new_specs = plan.workflow, plan.new_spec.task_specs
    for task in plan.drop:
        if task.id in workflow.tasks:
            workflow._remove_task(task.id)
    for task in plan.splice:
        _splice(workflow, task)
    states: dict[Any, int] = {}
    for task in plan.repredict:
        guesses = [c for c in task.children if c.has_state(_PREDICTED | TaskState.FUTURE)]
        states[task.id] = max(c.state for c in guesses)
        for child in guesses:
            workflow._remove_task(child.id)
    workflow.spec = plan.new_spec
    for task in list(workflow.tasks.values()):
        task.task_spec = new_specs[task.task_spec.name]
    mask = TaskState.PREDICTED_MASK | TaskState.FUTURE
    for task in plan.repredict:
        present = {c.task_spec.name for c in task.children}
        for output in task.task_spec.outputs:
            if output.name not in present:
                child = task._add_child(output, states[task.id])
                child.task_spec._predict(child, mask=mask)
    if workflow.last_task is not None and workflow.last_task.id not in workflow.tasks:
        workflow.last_task = None


def connect_multi_instances(*specs: Any) -> None:
    """Make each multi-instance activity hear its instances finish.

    SpiffWorkflow connects an instance's completion to its activity (`merge_child`) only when it creates
    an instance, on the spec object; instances created under the old spec and carried over would
    otherwise finish unheard and the activity would wait forever. Connecting is idempotent and is what
    the engine does itself on the first instance it creates.
    """
    for wf_spec in specs:
        for task_spec in wf_spec.task_specs.values():
            child_name = getattr(task_spec, "task_spec", None)
            merge = getattr(task_spec, "merge_child", None)
            child = wf_spec.task_specs.get(child_name) if isinstance(child_name, str) else None
            if child is not None and merge is not None and not child.completed_event.is_connected(merge):
                child.completed_event.connect(merge)


def _open_people_tasks(workflow: Any) -> set[str]:
    return {str(t.id) for t in workflow.get_tasks(state=TaskState.READY, manual=True)}


def migrate(old: CompiledSpec, new: CompiledSpec, state: bytes, *, changed_forms: Collection[str] = (),
            functions: Functions | None = None) -> Migration:
    """Move a stored state from spec `old` to spec `new`, or say why it cannot move.

    `changed_forms` are the form files whose content differs between the two pins: a person's task
    under way on such a form blocks the move, like a changed form reference does. The result's
    `step` describes the moved case exactly as a step would (open tasks with their ids, timers with
    their due times, variables), so the caller can write it like any other step. Callers that only
    want to know (a dry run) simply do not store it.
    """
    workflow = load_state(old, state, functions)
    before = _open_people_tasks(workflow)
    # subprocesses that finished before this move are history the next step would forget anyway
    runtime._prune_finished_subprocesses(workflow)
    blockers: list[Blocker] = []
    plans = [_plan(workflow, workflow.spec.name, new.spec, changed_forms, blockers)]
    for task_id, sub in workflow.subprocesses.items():
        # a call whose called element changed while it runs is refused at its call activity (above); the
        # subprocess itself is compared with the same process in the new pin
        new_sub = new.subprocess_specs.get(sub.spec.name)
        if new_sub is None:
            parent = workflow.get_task_from_id(task_id)
            step, name = _label(parent.task_spec) if parent is not None else (sub.spec.name, sub.spec.name)
            blockers.append(Blocker("process_missing", sub.spec.name, step, name,
                                    _state_name(parent) if parent is not None else "started", detail=sub.spec.name))
            continue
        plans.append(_plan(sub, sub.spec.name, new_sub, changed_forms, blockers))
    if blockers:
        return Migration(tuple(blockers))
    connect_multi_instances(new.spec, *new.subprocess_specs.values())
    for plan in plans:
        _apply(plan)
    workflow.subprocess_specs = new.subprocess_specs
    try:
        moved = dump_state(workflow)
        # restoring onto the new spec is the proof that the moved state is sound
        restored = load_state(new, moved, functions)
        step = runtime._finish(restored, [], state=moved)
    except Exception as exc:  # noqa: BLE001 - an engine failure refuses the move and changes nothing
        top_step, top_name = workflow.spec.name, workflow.spec.name
        return Migration((Blocker("engine", new.process_id, top_step, top_name, "started", detail=str(exc)),))
    after = {r.id for r in step.ready}
    return Migration((), step, tuple(sorted(before & after)))
