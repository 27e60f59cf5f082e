"""Drivers: one small interface to run a BPMN scenario, implemented over different layers.

A conformance test talks only to a `Driver`: it loads corpus files, starts the process, completes
tasks by element id or title, moves the clock, delivers messages, retries failed tasks, and reads
what the case waits for. `EngineDriver` goes straight through `app.engine` (every call restores
the workflow from the stored bytes and stores it again, as the product does). `PersistedDriver`
goes through the database-backed service layer (publishing, cases, the inbox, the scheduler, one
unit of work per step) and reads every observation back from the database in a fresh session.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from app import clock, engine
from tests.engine.stock_codec import check_state

if TYPE_CHECKING:
    import pytest

    from app.db import Database
    from app.org.models import User

#: names of the drivers the conformance tests are parametrized with
DRIVERS = ("engine", "persisted")
#: the databases each driver runs on (None: no database)
BACKENDS: dict[str, tuple[str | None, ...]] = {"engine": (None,), "persisted": ("sqlite", "postgresql")}


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
        # every state the corpus goes through reads and writes as SpiffWorkflow's own serializer would
        check_state(self._spec, step.state)
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


#: the org unit every persisted case is registered for (a village of the `org` test fixture)
ORG_UNIT = "village1"

#: the JSON Schema published for a form the corpus names but does not ship: any object
PLACEHOLDER_FORM = b'{"type": "object"}'

#: "title (12/file.bpmn)": the service layer names each compiled file "<artifact id>/<file name>"
_ARTIFACT_PREFIX = re.compile(r"\(\d+/([^()/]*)\)$")


def _untagged(entry: str) -> str:
    """A trace entry without the artifact id the service layer puts before the file name."""
    return _ARTIFACT_PREFIX.sub(r"(\1)", entry)


class _LoggedFailures(logging.Handler):
    """Collects the errors a job logs instead of raising (the scheduler skips a case that fails)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{text}: {record.exc_info[1]!r}"
        self.messages.append(text)


@contextmanager
def _failures_of(logger: logging.Logger) -> Iterator[_LoggedFailures]:
    handler = _LoggedFailures()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@dataclass(frozen=True)
class _Observed:
    """What the persisted driver saw after one step, all of it read back from the database."""

    ready: list[Ready]
    variables: dict[str, Any]
    completed: bool
    timers: list[PendingTimer]
    workflow: engine.WorkflowView
    #: the open incident the step recorded, if any
    error: Incident | None
    #: uncaught events of this step, and of every step so far
    events: list[dict[str, Any]]
    events_seen: list[dict[str, Any]]
    #: the highest incident and case event ids of the case (what later steps count as new)
    last_incident_id: int
    last_event_id: int


class PersistedDriver:
    """Runs scenarios through the database-backed service layer, one unit of work per step.

    Publishing goes through `deploy_bundle(validate=False)`: the corpus names its lanes A/B/C and
    has decision tables without a default rule, which our publish rules refuse; that is product
    policy, not engine behaviour. A collaboration is published as a process version of its own
    that points at the file defining it. The case is registered by `create_case` (the `org`
    fixture's admin, for `village1`); tasks are completed from their inbox rows (`human_task`) by
    `complete_task`, timers fire through the scheduler's job, messages arrive by
    `deliver_message`, and retries by `retry_case`. The scenario's script names are added to the
    product's own (`script_functions` is patched for the test).

    After every step the driver opens a fresh read session and observes only what is stored: the
    open task rows, the case status, the pending timer rows, the open incidents, the process
    events, and the state blob restored onto the pinned spec (the save and restore). The inbox,
    the status and the timer rows are checked against the engine's view of the same blob.

    `error` is the open incident the last step recorded (message and element id from the
    incident row), so "the case gets an incident" reads the same on both drivers. The intake
    fields `create_case` adds to the process variables (case_no, title, citizen, ...) are left
    out of every data observation; `ran` is derived from the stored task states (the automatic
    tasks that completed since the previous step), as nothing stores the engine's own list.
    """

    kind = "persisted"

    def __init__(self, database: Database, admin: User, monkeypatch: pytest.MonkeyPatch, *,
                 root: Path | None = None, org_unit: str = ORG_UNIT) -> None:
        self.root = root or engine_dir()
        self.database = database
        self.admin_id = admin.id
        self.org_unit = org_unit
        self.functions: dict[str, Callable[..., Any]] = {}
        self.process_id: str | None = None
        self.case_no: str | None = None
        self._observed: _Observed | None = None
        self._intake: dict[str, Any] = {}
        self._done: set[str] = set()
        self._ran: list[str] = []
        self._add_script_functions(monkeypatch)

    def _add_script_functions(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Give case scripts the scenario's names besides the product's (calendar, now)."""
        from app.cases import service as cases
        from app.tasks import service as tasks

        product = cases.script_functions

        def script_functions(session: Any, org_unit: Any) -> dict[str, Callable[..., Any]]:
            return {**product(session, org_unit), **self.functions}

        monkeypatch.setattr(cases, "script_functions", script_functions)
        monkeypatch.setattr(tasks, "script_functions", script_functions)  # imported by name there

    @contextmanager
    def _unit(self) -> Iterator[tuple[Any, Any]]:
        """One unit of work with the admin user loaded in it."""
        from app.org.models import User

        with self.database.unit_of_work() as session:
            yield session, session.get(User, self.admin_id)

    @contextmanager
    def _step(self) -> Iterator[tuple[Any, Any]]:
        """One step: its own unit of work, then observe what it stored."""
        with self._unit() as pair:
            yield pair
        self._observe()

    @property
    def _case(self) -> str:
        if self.case_no is None:
            raise RuntimeError("start() the scenario first")
        return self.case_no

    # -- setup ---------------------------------------------------------------------------------

    def load(self, process_id: str, bpmn: Iterable[str], dmn: Iterable[str] = (),
             functions: Mapping[str, Callable[..., Any]] | None = None) -> None:
        from app.processes.service import deploy_bundle

        files: dict[str, bytes] = {}
        for name in [*bpmn, *dmn]:
            path = self.root / name
            files[path.name] = path.read_bytes()
        # the corpus names form files it does not ship; a case pins every form its tasks name
        bpmn_text = {n: c.decode("utf-8") for n, c in files.items() if not n.endswith(".dmn")}
        for process in engine.describe_bundle(bpmn_text, {}).processes:
            for form in process.forms:
                files.setdefault(form, PLACEHOLDER_FORM)
        with self._unit() as (session, admin):
            result = deploy_bundle(session, files, actor=admin, note=f"conformance {process_id}",
                                   source="conformance", validate=False)
            if process_id not in {pv.process_id for pv in result.processes}:
                self._publish_collaboration(session, result, process_id, files)
        self.process_id = process_id
        self.functions = dict(functions or {})

    @staticmethod
    def _publish_collaboration(session: Any, result: Any, collaboration: str, files: Mapping[str, bytes]) -> None:
        """A process version for a collaboration id, on the file that defines it, calling its pools."""
        from lxml import etree
        from sqlalchemy import func, select

        from app.processes.models import Artifact, ProcessVersion

        defining = [name for name, content in files.items()
                    if etree.fromstring(content).xpath("//*[local-name()='collaboration'][@id=$id]", id=collaboration)]
        if not defining:
            raise ValueError(f"{collaboration!r} is neither a process nor a collaboration in {sorted(files)}")
        filename = defining[0]
        artifact = session.scalar(select(Artifact).where(Artifact.deployment_id == result.deployment.id,
                                                         Artifact.filename == filename))
        pools = [pv.process_id for pv in result.processes if pv.artifact_id == artifact.id]
        newest = session.scalar(select(func.max(ProcessVersion.version))
                                .where(ProcessVersion.process_id == collaboration))
        session.add(ProcessVersion(
            process_id=collaboration, name=collaboration, deployment_id=result.deployment.id,
            artifact_id=artifact.id, version=(newest or 0) + 1, calls=pools, decisions=[], forms=[],
            executable=True,
        ))
        session.flush()

    # -- actions -------------------------------------------------------------------------------

    def start(self, data: Mapping[str, Any] | None = None) -> None:
        from app.cases.service import Intake, create_case

        if self.process_id is None:
            raise RuntimeError("load() a scenario first")
        intake = Intake(title=f"conformance {self.process_id}"[:300], description="a conformance scenario",
                        channel="walk_in", citizen_name="Conformance", citizen_phone="13800000000",
                        org_unit=self.org_unit)
        with self._unit() as (session, admin):
            case = create_case(session, admin, intake, process_id=self.process_id,
                               data=dict(data) if data is not None else None)
            self.case_no = case.case_no
        self._observe(start_data=dict(data or {}))

    def _find(self, task: str | Ready) -> Ready:
        if isinstance(task, Ready):
            return task
        for item in self.ready():
            if task in (item.name, item.title, _squash(item.title)):
                return item
        raise NotReady(f"{task!r} is not ready; ready: {[(r.name, r.title) for r in self.ready()]}")

    def complete(self, task: str | Ready, data: Mapping[str, Any] | None = None) -> None:
        from app.tasks.service import complete_task

        item = self._find(task)
        with self._step() as (session, admin):
            complete_task(session, admin, int(item.id), dict(data or {}))

    def advance(self, seconds: float) -> None:
        from app.scheduler import service as scheduler

        clock.advance(timedelta(seconds=seconds))
        with _failures_of(scheduler.log) as failures:
            scheduler.fire_due_timers(self.database)
        if failures.messages:
            raise AssertionError(f"the scheduler failed: {failures.messages}")
        self._observe()

    def catch(self, message: str, payload: Any = None) -> None:
        self._deliver(message, payload, None)

    def send(self, message: str, payload: Any = None, correlations: Mapping[str, Any] | None = None) -> None:
        self._deliver(message, payload, correlations)

    def _deliver(self, message: str, payload: Any, correlations: Mapping[str, Any] | None) -> None:
        from app.cases.service import deliver_message

        with self._step() as (session, admin):
            deliver_message(session, admin, self._case, message, payload,
                            dict(correlations) if correlations is not None else None)

    def retry(self, data: Mapping[str, Any] | None = None) -> None:
        from app.cases.service import retry_case

        with self._step() as (session, admin):
            retry_case(session, admin, self._case, dict(data) if data is not None else None)

    # -- reading back --------------------------------------------------------------------------

    def _observe(self, start_data: Mapping[str, Any] | None = None) -> None:
        """Read the case back in a fresh session and check the tables against the stored state."""
        from sqlalchemy import select

        from app.cases.models import CaseEvent, CaseStatus
        from app.cases.models import Incident as IncidentRow
        from app.cases.service import get_case
        from app.org.models import User
        from app.processes.service import load_spec
        from app.scheduler.models import PendingTimer as TimerRow
        from app.tasks.service import list_tasks

        before = self._observed
        with self.database.unit_of_work(write=False) as session:
            admin = session.get(User, self.admin_id)
            case = get_case(session, self._case)
            rows = list_tasks(session, admin, scope="all", case_no=case.case_no)
            spec = load_spec(session, case.runtime_spec_id)
            blob = case.state.blob
            closed = case.status == CaseStatus.closed
            has_incident = case.has_incident
            incident_rows = session.execute(
                select(IncidentRow.id, IncidentRow.message, IncidentRow.task_name, IncidentRow.resolved_at)
                .where(IncidentRow.case_id == case.id).order_by(IncidentRow.id)).all()
            event_rows = session.execute(select(CaseEvent.id, CaseEvent.kind, CaseEvent.data)
                                         .where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)).all()
            timer_rows = [(t.name, t.due_at) for t in session.scalars(
                select(TimerRow).where(TimerRow.case_id == case.id).order_by(TimerRow.due_at, TimerRow.id))]
        step = engine.peek(spec.compiled, blob)
        workflow = engine.inspect_state(spec.compiled, blob)
        incidents = [(i, message, task_name) for i, message, task_name, resolved in incident_rows if resolved is None]
        last_incident_id = incident_rows[-1][0] if incident_rows else 0
        last_event_id = event_rows[-1][0] if event_rows else 0
        events = [(i, data) for i, kind, data in event_rows if kind == "process_event"]

        if start_data is not None:  # what create_case added to the scenario's start data
            start = next(t for t in workflow.tasks if t.name == "Start")
            self._intake = {k: v for k, v in start.data.items() if k not in start_data}

        by_engine_id = {r.engine_task_id: r for r in rows}
        if set(by_engine_id) != {t.id for t in step.ready} or len(by_engine_id) != len(rows):
            raise AssertionError(f"the inbox {[(r.name, r.engine_task_id) for r in rows]} is not what the "
                                 f"engine waits for {[(t.name, t.id) for t in step.ready]}")
        ready = []
        for task in step.ready:
            row = by_engine_id[task.id]
            assert (row.name, row.title, row.lane) == (task.name, task.title, task.lane), (row, task)
            ready.append(Ready(str(row.id), row.name, row.title, row.lane, self._plain(task.data)))
        if closed != step.completed:
            raise AssertionError(f"case status closed={closed}, but the engine says completed={step.completed}")
        if has_incident != bool(incidents):
            raise AssertionError(f"has_incident={has_incident} with open incidents {incidents}")
        if sorted(timer_rows) != sorted((t.name, t.due_at) for t in step.timers):
            raise AssertionError(f"timer rows {timer_rows} are not the engine's timers {step.timers}")
        stuck = [t.name for t in workflow.tasks if t.state == "READY" and not t.manual]
        if stuck and not incidents:
            # nothing would ever run them: no inbox row, no timer row, no incident to retry
            raise AssertionError(f"the step stored automatic tasks READY without running them: {stuck}")

        mark_incident = before.last_incident_id if before else 0
        mark_event = before.last_event_id if before else 0
        recorded = [i for i in incidents if i[0] > mark_incident]
        error = None
        if recorded:
            _id, message, task_name = recorded[-1]
            titles = [t.title for t in workflow.tasks if t.name == task_name]
            error = Incident(message, task_name, titles[0] if titles else None)
        for task in workflow.tasks:
            if task.state == "COMPLETED" and not task.manual and task.id not in self._done:
                self._done.add(task.id)
                self._ran.append(task.name)
        self._observed = _Observed(
            ready=ready,
            variables=self._plain(step.variables),
            completed=closed,
            timers=[PendingTimer(name, due_at) for name, due_at in timer_rows],
            workflow=workflow,
            error=error,
            events=[dict(data) for event_id, data in events if event_id > mark_event],
            events_seen=[dict(data) for _id, data in events],
            last_incident_id=last_incident_id,
            last_event_id=last_event_id,
        )

    def _plain(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Data without the intake fields create_case put into the process (unless changed since)."""
        intake = self._intake
        return {k: v for k, v in data.items() if not (k in intake and intake[k] == v)}

    @property
    def _seen(self) -> _Observed:
        if self._observed is None:
            raise RuntimeError("start() the scenario first")
        return self._observed

    # -- observations --------------------------------------------------------------------------

    def ready(self) -> list[Ready]:
        return list(self._seen.ready)

    def ready_names(self) -> list[str]:
        return [t.name for t in self.ready()]

    def ready_titles(self) -> list[str]:
        return [_squash(t.title) for t in self.ready()]

    def snapshot(self) -> Snapshot:
        view = self._seen.workflow
        return Snapshot(
            tasks=[TaskView(t.name, t.title, t.state, t.lane, t.process, self._plain(t.data),
                            tuple(_untagged(e) for e in t.trace))
                   for t in view.tasks],
            data=self._plain(view.data),
            data_objects=view.data_objects,
            correlations=view.correlations,
            last_task_data=self._plain(view.last_task_data),
            end_reached=view.end_reached,
            waiting=[(w.name, w.event_type, w.event_name) for w in view.waiting],
        )

    def states(self) -> dict[str, list[str]]:
        return self._seen.workflow.states()

    @property
    def variables(self) -> dict[str, Any]:
        return dict(self._seen.variables)

    @property
    def completed(self) -> bool:
        return self._seen.completed

    @property
    def error(self) -> Incident | None:
        return self._seen.error

    @property
    def timers(self) -> list[PendingTimer]:
        return list(self._seen.timers)

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(self._seen.events)

    @property
    def events_seen(self) -> list[dict[str, Any]]:
        return list(self._seen.events_seen)

    @property
    def ran(self) -> list[str]:
        return list(self._ran)


def make_driver(kind: str, *, database: Database | None = None, admin: User | None = None,
                monkeypatch: pytest.MonkeyPatch | None = None) -> Driver:
    """A driver of `kind`; the persisted one needs a database, its admin user and a monkeypatch."""
    if kind == "engine":
        return EngineDriver()
    if kind == "persisted":
        if database is None or admin is None or monkeypatch is None:
            raise ValueError("the persisted driver needs a database, an admin user and a monkeypatch")
        return PersistedDriver(database, admin, monkeypatch)
    raise ValueError(f"unknown driver {kind!r}")
