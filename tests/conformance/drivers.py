"""Drivers: one small interface to run a BPMN scenario, implemented over different layers.

A conformance test talks only to a `Driver`: it loads corpus files, starts the process, completes
tasks by element id or title, moves the clock, delivers messages, retries failed tasks, and reads
what the case waits for. `EngineDriver` goes straight through `app.engine` (every call restores
the workflow from the stored bytes and stores it again, as the product does). A later driver that
goes through the database-backed service layer implements the same protocol, and the same
scenarios run against it by adding its name to `DRIVERS` and a branch to `make_driver`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from app import clock, engine

#: names of the drivers the conformance tests are parametrized with
DRIVERS = ("engine",)


def corpus_dir() -> Path:
    """The conformance corpus: $ONESTOP_CONFORMANCE_DIR, else `shared/conformance` beside the repository."""
    override = os.environ.get("ONESTOP_CONFORMANCE_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "shared" / "conformance"


def engine_dir() -> Path:
    return corpus_dir() / "engine"


@dataclass(frozen=True)
class Ready:
    """A task waiting for a person."""

    id: str
    name: str
    title: str
    lane: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class Incident:
    """What the product records on a case when user content (script, condition, data) fails."""

    message: str
    task_name: str | None
    task_title: str | None


@dataclass(frozen=True)
class PendingTimer:
    name: str
    due_at: datetime


@dataclass(frozen=True)
class TaskView:
    """One task instance of the case, in any state."""

    name: str
    title: str
    #: FUTURE, LIKELY, MAYBE, WAITING, READY, STARTED, COMPLETED, ERROR or CANCELLED
    state: str
    lane: str | None
    process: str
    data: dict[str, Any]
    #: "title (file)" of the task, then of each call activity or subprocess around it
    trace: tuple[str, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """Workflow-level facts beyond "what is ready" (see `app.engine.WorkflowView`)."""

    tasks: list[TaskView]
    #: workflow data of the top-level process (final variables once its End is reached)
    data: dict[str, Any]
    data_objects: dict[str, Any]
    correlations: dict[str, Any]
    last_task_data: dict[str, Any]
    #: the top-level End was reached (False when the case finished some other way)
    end_reached: bool
    #: (element id, event type, event name) of every waiting catch event
    waiting: list[tuple[str, str, str | None]] = field(default_factory=list)

    def states(self) -> dict[str, list[str]]:
        """Element id -> states of its task instances."""
        found: dict[str, list[str]] = {}
        for task in self.tasks:
            found.setdefault(task.name, []).append(task.state)
        return found

    def named(self, name: str) -> list[TaskView]:
        """The task instances of element `name`."""
        return [t for t in self.tasks if t.name == name]


class Driver(Protocol):
    """What a conformance scenario needs from the product. Task references are element ids or titles."""

    kind: str

    def load(self, process_id: str, bpmn: Iterable[str], dmn: Iterable[str] = (),
             functions: Mapping[str, Callable[..., Any]] | None = None) -> None:
        """Compile files for `process_id` (a process or collaboration id): names relative to the corpus
        engine folder, or absolute paths of files a test wrote. `functions` are extra script names."""

    def start(self, data: Mapping[str, Any] | None = None) -> None: ...

    def complete(self, task: str | Ready, data: Mapping[str, Any] | None = None) -> None:
        """Complete the first ready task whose element id or title is `task` (or that very task).
        If the task's own post-script or data output fails, nothing changes and `error` says why."""

    def advance(self, seconds: float) -> None:
        """Move the clock forward and let every due timer fire."""

    def catch(self, message: str, payload: Any = None) -> None:
        """Deliver a message by name only (no correlation), as a plain catch."""

    def send(self, message: str, payload: Any = None, correlations: Mapping[str, Any] | None = None) -> None:
        """Deliver a message from outside, correlated through the receiving event's properties."""

    def retry(self, data: Mapping[str, Any] | None = None) -> None:
        """Run the failed tasks again, optionally with corrected data."""

    def ready(self) -> list[Ready]: ...

    def ready_names(self) -> list[str]: ...

    def ready_titles(self) -> list[str]:
        """Titles of the ready tasks, with line breaks and repeated spaces squashed."""

    def snapshot(self) -> Snapshot: ...

    def states(self) -> dict[str, list[str]]:
        """Element id -> states of its task instances, over the process and its subprocesses."""

    @property
    def variables(self) -> dict[str, Any]: ...

    @property
    def completed(self) -> bool: ...

    @property
    def error(self) -> Incident | None:
        """The incident of the last step, or None if it went through."""

    @property
    def timers(self) -> list[PendingTimer]: ...

    @property
    def events(self) -> list[dict[str, Any]]:
        """Events the last step threw that nothing in the case caught (escalations, messages)."""

    @property
    def events_seen(self) -> list[dict[str, Any]]:
        """Every uncaught event reported so far, over all steps (each is reported by one step only)."""

    @property
    def ran(self) -> list[str]:
        """Element ids of the tasks that ran automatically, over every step so far."""


class NotReady(AssertionError):
    """The scenario referred to a task that is not ready."""


class EngineDriver:
    """Runs scenarios directly through `app.engine`, keeping only the state bytes between calls."""

    kind = "engine"

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or engine_dir()
        self.compiled: engine.CompiledSpec | None = None
        self.functions: dict[str, Callable[..., Any]] = {}
        self.state: bytes | None = None
        self.step: engine.Step | None = None
        self._error: Incident | None = None
        self._ran: list[str] = []
        self._events_seen: list[dict[str, Any]] = []

    # -- setup ---------------------------------------------------------------------------------

    def load(self, process_id: str, bpmn: Iterable[str], dmn: Iterable[str] = (),
             functions: Mapping[str, Callable[..., Any]] | None = None) -> None:
        read = self._read
        self.compiled = engine.compile_spec(process_id, {n: read(n) for n in bpmn}, {n: read(n) for n in dmn})
        self.functions = dict(functions or {})

    def _read(self, name: str) -> str:
        return (self.root / name).read_text(encoding="utf-8")

    @property
    def _spec(self) -> engine.CompiledSpec:
        if self.compiled is None:
            raise RuntimeError("load() a scenario first")
        return self.compiled

    @property
    def _state(self) -> bytes:
        if self.state is None:
            raise RuntimeError("start() the scenario first")
        return self.state

    def _take(self, step: engine.Step) -> None:
        self.step = step
        self.state = step.state
        self._ran.extend(step.ran)
        self._events_seen.extend(step.events)
        err = step.error
        self._error = None if err is None else Incident(err.message, err.task_name, err.task_title)

    def _incident(self, err: engine.EngineError) -> None:
        """A failure that left the stored state as it was (e.g. a post-script of the completed task)."""
        self._error = Incident(err.message, err.task_name, err.task_title)

    # -- actions -------------------------------------------------------------------------------

    def start(self, data: Mapping[str, Any] | None = None) -> None:
        self._take(engine.start(self._spec, data, self.functions))

    def _find(self, task: str | Ready) -> Ready:
        if isinstance(task, Ready):
            return task
        for item in self.ready():
            if task in (item.name, item.title, _squash(item.title)):
                return item
        raise NotReady(f"{task!r} is not ready; ready: {[(r.name, r.title) for r in self.ready()]}")

    def complete(self, task: str | Ready, data: Mapping[str, Any] | None = None) -> None:
        item = self._find(task)
        try:
            step = engine.complete_task(self._spec, self._state, item.id, dict(data or {}), self.functions)
        except engine.EngineError as err:
            self._incident(err)
            return
        self._take(step)

    def advance(self, seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))
        self._take(engine.fire_due_timers(self._spec, self._state, self.functions))

    def catch(self, message: str, payload: Any = None) -> None:
        self._take(engine.catch_message(self._spec, self._state, message, payload, self.functions))

    def send(self, message: str, payload: Any = None, correlations: Mapping[str, Any] | None = None) -> None:
        step = engine.send_message(self._spec, self._state, message, payload, correlations, self.functions)
        self._take(step)

    def retry(self, data: Mapping[str, Any] | None = None) -> None:
        self._take(engine.retry(self._spec, self._state, data, self.functions))

    # -- observations --------------------------------------------------------------------------

    @property
    def _step(self) -> engine.Step:
        if self.step is None:
            raise RuntimeError("start() the scenario first")
        return self.step

    def ready(self) -> list[Ready]:
        return [Ready(t.id, t.name, t.title, t.lane, t.data) for t in self._step.ready]

    def ready_names(self) -> list[str]:
        return [t.name for t in self.ready()]

    def ready_titles(self) -> list[str]:
        return [_squash(t.title) for t in self.ready()]

    def snapshot(self) -> Snapshot:
        view = engine.inspect_state(self._spec, self._state)
        return Snapshot(
            tasks=[TaskView(t.name, t.title, t.state, t.lane, t.process, t.data, t.trace)
                   for t in view.tasks],
            data=view.data,
            data_objects=view.data_objects,
            correlations=view.correlations,
            last_task_data=view.last_task_data,
            end_reached=view.end_reached,
            waiting=[(w.name, w.event_type, w.event_name) for w in view.waiting],
        )

    def states(self) -> dict[str, list[str]]:
        return engine.task_states(self._spec, self._state)

    @property
    def variables(self) -> dict[str, Any]:
        return self._step.variables

    @property
    def completed(self) -> bool:
        return self._step.completed

    @property
    def error(self) -> Incident | None:
        return self._error

    @property
    def timers(self) -> list[PendingTimer]:
        return [PendingTimer(t.name, t.due_at) for t in self._step.timers]

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(self._step.events)

    @property
    def events_seen(self) -> list[dict[str, Any]]:
        return list(self._events_seen)

    @property
    def ran(self) -> list[str]:
        return list(self._ran)


def _squash(text: str) -> str:
    """A title as people read it: modelers leave line breaks and double spaces in names."""
    return " ".join(text.split())


def make_driver(kind: str) -> Driver:
    if kind == "engine":
        return EngineDriver()
    raise ValueError(f"unknown driver {kind!r}")
