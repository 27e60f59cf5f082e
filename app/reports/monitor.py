"""The live process monitor: where the cases of a process version wait, how long each step takes,
which steps are overdue, and the incidents to retry.

Everything comes from SQL rows, never from engine blobs: open and finished `human_task` rows (the
`task_created`/`task_completed` events of the log, with their times) and open `incident` rows. A
task belongs to the process (in the case's pinned runtime spec) whose BPMN defines its element id.

How a task is counted on a diagram:
- at its own element, and at every collapsed or expanded subprocess around it;
- on the diagram of a calling process, at the call activity that leads to it (transitively), so the
  mediation monitor shows cases "in" 部门办理 at `dispatch_departments`. When a process is called
  from several places (the supervision process is called beside every stage), the call site is the
  one whose subprocess also holds another task of the same case that was open when this one was
  created (the task being supervised); when that is not decidable the task is counted on the
  called process's own monitor only.

Numbers:
- `cases`: distinct open cases with an open task at the step; `tasks`: open tasks there;
- `overdue`: distinct open cases with an open task there past its due time;
- `done`: tasks completed there within the window (default the last 90 days), with the median and the
  90th percentile of their time from creation to completion;
- `waiting`: median and 90th percentile of how long the open tasks there have waited so far.
Median is the usual middle value (the mean of the two middle values for an even count); the 90th
percentile is the nearest-rank value: the smallest duration at least 90 % of the values do not exceed.
"""

from __future__ import annotations

import math
import statistics
import threading
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app import clock
from app.cases.models import CaseStatus, Incident, MediationCase
from app.cases.queries import scoped
from app.errors import BadRequest, NotFound
from app.org.models import OrgUnit, User
from app.processes.models import Artifact, ProcessVersion, RuntimeSpec
from app.tasks.models import HumanTask, TaskStatus

BPMN_NS = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
#: how far back finished tasks count for the step durations, by default
DEFAULT_WINDOW_DAYS = 90
MAX_WINDOW_DAYS = 3660
#: element kinds listed as steps (others appear only when something is counted at them)
STEP_KINDS = ("userTask", "manualTask", "task", "receiveTask", "callActivity", "subProcess", "transaction",
              "adHocSubProcess")
BOX_KINDS = ("subProcess", "transaction", "adHocSubProcess")
#: how deep call activities may nest before we stop following them
MAX_CALL_DEPTH = 8


# --- process models (parsed once per artifact) -------------------------------------------------

@dataclass(frozen=True)
class Node:
    """One flow element of a process: its kind, name, the subprocess around it, what it calls."""

    id: str
    kind: str
    name: str
    container: str | None
    called: str | None
    order: int


@dataclass(frozen=True)
class ProcessModel:
    process_id: str
    nodes: dict[str, Node]

    def containers(self, element_id: str) -> list[str]:
        """The subprocesses around an element, innermost first."""
        found: list[str] = []
        node = self.nodes.get(element_id)
        while node is not None and node.container and node.container not in found:
            found.append(node.container)
            node = self.nodes.get(node.container)
        return found

    def call_sites(self, called: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.called == called]


_MODELS: dict[tuple[str, str], ProcessModel] = {}
_MODELS_LOCK = threading.Lock()


def parse_model(xml: str, process_id: str) -> ProcessModel:
    """The flow elements of process `process_id` in a BPMN file (empty if the file does not parse)."""
    nodes: dict[str, Node] = {}
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return ProcessModel(process_id, nodes)

    def walk(element: ET.Element, container: str | None) -> None:
        for child in element:
            if not child.tag.startswith(BPMN_NS):
                continue
            tag = child.tag.removeprefix(BPMN_NS)
            element_id = child.get("id")
            if element_id and tag not in ("sequenceFlow", "laneSet", "lane", "documentation", "extensionElements",
                                          "incoming", "outgoing", "multiInstanceLoopCharacteristics",
                                          "standardLoopCharacteristics", "ioSpecification", "dataObject",
                                          "dataObjectReference", "dataStoreReference", "textAnnotation",
                                          "association") and not tag.endswith("EventDefinition"):
                called = child.get("calledElement") if tag == "callActivity" else None
                nodes[element_id] = Node(element_id, tag, child.get("name") or element_id, container, called,
                                         len(nodes))
            if tag in BOX_KINDS:
                walk(child, element_id)

    for process in root.iter(f"{BPMN_NS}process"):
        if process.get("id") == process_id:
            walk(process, None)
    return ProcessModel(process_id, nodes)


def process_model(session: Session, artifact_id: int, process_id: str) -> ProcessModel:
    """The parsed process `process_id` of an artifact, cached by the artifact's content hash."""
    sha = session.scalar(select(Artifact.sha256).where(Artifact.id == artifact_id))
    if sha is None:
        return ProcessModel(process_id, {})
    key = (sha, process_id)
    with _MODELS_LOCK:
        cached = _MODELS.get(key)
    if cached is not None:
        return cached
    content = session.scalar(select(Artifact.content).where(Artifact.id == artifact_id)) or ""
    model = parse_model(content, process_id)
    with _MODELS_LOCK:
        _MODELS[key] = model
    return model


@dataclass
class SpecContext:
    """The processes of one runtime spec: which process owns an element, and who calls whom."""

    root: str
    models: dict[str, ProcessModel]
    #: process ids in call order from the root (breadth first), for resolving duplicate element ids
    order: list[str]
    _owner: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for process_id in reversed(self.order):
            for element_id in self.models[process_id].nodes:
                self._owner[element_id] = process_id

    def owner(self, element_id: str) -> str | None:
        return self._owner.get(element_id)

    def call_sites(self, called: str) -> list[tuple[str, Node]]:
        return [(pid, node) for pid in self.order for node in self.models[pid].call_sites(called)]


def _spec_context(session: Session, spec: RuntimeSpec, versions: dict[int, ProcessVersion]) -> SpecContext:
    root_pv = versions[spec.process_version_id]
    defined = [pv for pv in versions.values() if pv.artifact_id in set(spec.artifact_ids or [])]
    models = {root_pv.process_id: process_model(session, root_pv.artifact_id, root_pv.process_id)}
    for pv in sorted(defined, key=lambda p: (p.process_id, -p.version)):
        if pv.process_id not in models:
            models[pv.process_id] = process_model(session, pv.artifact_id, pv.process_id)
    order = [root_pv.process_id]
    queue = [root_pv.process_id]
    while queue:
        current = queue.pop(0)
        for node in models[current].nodes.values():
            if node.called and node.called in models and node.called not in order:
                order.append(node.called)
                queue.append(node.called)
    order += sorted(p for p in models if p not in order)
    return SpecContext(root=root_pv.process_id, models=models, order=order)


# --- where a task sits -------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskRow:
    id: int
    case_id: int
    name: str
    title: str
    status: str
    created_at: datetime
    completed_at: datetime | None
    due_at: datetime | None
    department: str | None


def _open_at(row: TaskRow, moment: datetime) -> bool:
    return row.created_at <= moment and (row.completed_at is None or row.completed_at >= moment)


def _path(ctx: SpecContext, process_id: str, element_id: str, siblings: list[TaskRow], moment: datetime,
          exclude: int | None, depth: int = 0) -> list[tuple[str, str]] | None:
    """[(process, element)] from the root process down to the element: call activities, then the element."""
    if process_id == ctx.root:
        return [(process_id, element_id)]
    if depth > MAX_CALL_DEPTH:
        return None
    sites = ctx.call_sites(process_id)
    if len(sites) > 1:
        def beside(site: tuple[str, Node]) -> bool:
            caller, node = site
            for other in siblings:
                if other.id == exclude or not _open_at(other, moment) or ctx.owner(other.name) != caller:
                    continue
                other_node = ctx.models[caller].nodes.get(other.name)
                if other_node is not None and other_node.container == node.container and other.name != node.id:
                    return True
            return False

        sites = [s for s in sites if beside(s)]
    if len(sites) != 1:
        return None
    caller, node = sites[0]
    upper = _path(ctx, caller, node.id, siblings, moment, exclude, depth + 1)
    return upper + [(process_id, element_id)] if upper is not None else None


def positions(ctx: SpecContext, process_id: str, element_id: str, siblings: list[TaskRow], moment: datetime,
              exclude: int | None = None) -> list[str]:
    """The elements of process `process_id`'s diagram where something at `element_id` counts: the
    element (or the call activity leading to it) and every subprocess around that; [] if not under it."""
    owner = ctx.owner(element_id)
    if owner is None or process_id not in ctx.models:
        return []
    model = ctx.models[process_id]
    if owner == process_id:
        return [element_id, *model.containers(element_id)]
    path = _path(ctx, owner, element_id, siblings, moment, exclude)
    if path is None:
        return []
    for pid, eid in path:
        if pid == process_id:
            return [eid, *model.containers(eid)]
    return []


# --- the monitor -------------------------------------------------------------------------------

@dataclass
class StepStats:
    cases: int = 0
    tasks: int = 0
    overdue: int = 0
    done: int = 0
    done_median: int | None = None
    done_p90: int | None = None
    waiting_median: int | None = None
    waiting_p90: int | None = None
    incidents: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"cases": self.cases, "tasks": self.tasks, "overdue": self.overdue, "incidents": self.incidents,
                "done": {"count": self.done, "median_seconds": self.done_median, "p90_seconds": self.done_p90},
                "waiting": {"median_seconds": self.waiting_median, "p90_seconds": self.waiting_p90}}


@dataclass(frozen=True)
class Step:
    id: str
    kind: str
    name: str
    #: the names of the subprocesses around it, outermost first
    within: tuple[str, ...]
    called: str | None
    stats: StepStats


@dataclass(frozen=True)
class WaitingCase:
    case_no: str
    title: str
    place: str
    task: str
    department: str | None
    since: datetime
    due_at: datetime | None
    overdue: bool


@dataclass(frozen=True)
class IncidentRow:
    id: int
    case_no: str
    title: str
    at: datetime
    task_name: str | None
    message: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class CalledProcess:
    process_id: str
    version: int
    name: str
    #: distinct open cases waiting anywhere inside it (through this version's call activities)
    cases: int


@dataclass
class Monitor:
    process: ProcessVersion
    versions: list[int]
    steps: list[Step]
    incidents: list[IncidentRow]
    called: list[CalledProcess]
    #: open cases (in scope) of specs that include this version, with at least one task counted here
    cases: int
    window_days: int
    since: datetime
    now: datetime

    def as_json(self) -> dict[str, Any]:
        from app.timeutil import local_iso

        return {
            "process": {"id": self.process.process_id, "version": self.process.version, "name": self.process.name},
            "versions": self.versions, "cases": self.cases, "window_days": self.window_days,
            "since": local_iso(self.since), "now": local_iso(self.now),
            "steps": {s.id: {"name": s.name, "kind": s.kind, "called": s.called, **s.stats.as_json()}
                      for s in self.steps},
            "incidents": [{"id": i.id, "case_no": i.case_no, "at": local_iso(i.at), "task": i.task_name,
                           "message": i.message, "steps": list(i.steps)} for i in self.incidents],
            "called": [{"id": c.process_id, "version": c.version, "name": c.name, "cases": c.cases}
                       for c in self.called],
        }


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value that at least `fraction` of the values do not exceed."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _seconds(value: float) -> int:
    return int(round(value))


def parse_window(value: Any) -> int:
    """The `days` parameter: whole days 1…3660 (default 90)."""
    if value in (None, ""):
        return DEFAULT_WINDOW_DAYS
    try:
        days = int(str(value))
    except ValueError:
        raise BadRequest("days must be a whole number", fields={"days": "a whole number of days, e.g. 90"}) from None
    if not 1 <= days <= MAX_WINDOW_DAYS:
        raise BadRequest("days out of range", fields={"days": f"between 1 and {MAX_WINDOW_DAYS}"})
    return days


def pick_version(session: Session, process_id: str, version: Any) -> ProcessVersion:
    """The requested version of a process (the newest when none is given); NotFound / BadRequest otherwise."""
    query = select(ProcessVersion).where(ProcessVersion.process_id == process_id)
    if version in (None, ""):
        pv = session.scalar(query.order_by(ProcessVersion.version.desc()).limit(1))
    else:
        try:
            number = int(str(version))
        except ValueError:
            raise BadRequest("version must be a whole number", fields={"version": "e.g. 1"}) from None
        pv = session.scalar(query.where(ProcessVersion.version == number))
    if pv is None:
        raise NotFound(f"no process {process_id}" if version in (None, "") else
                       f"no version {version} of process {process_id}", fields={"version": "unknown"})
    return pv


@dataclass
class _Collected:
    ctx_by_spec: dict[int, SpecContext]
    cases: dict[int, tuple[str, str, str, int]]
    rows_by_case: dict[int, list[TaskRow]]


def _collect(session: Session, user: User, pv: ProcessVersion, since: datetime) -> _Collected:
    """The runtime specs that include this version, and the task rows of the visible cases on them
    that have an open task or one finished since `since`."""
    versions = {p.id: p for p in session.scalars(select(ProcessVersion))}
    specs = [s for s in session.scalars(select(RuntimeSpec))
             if s.process_version_id == pv.id or pv.artifact_id in set(s.artifact_ids or [])]
    ctx_by_spec = {s.id: _spec_context(session, s, versions) for s in specs}
    if not specs:
        return _Collected(ctx_by_spec, {}, {})
    active = or_(HumanTask.status == TaskStatus.open, HumanTask.completed_at >= since)
    case_query = (select(MediationCase.id, MediationCase.case_no, MediationCase.title, OrgUnit.name,
                         MediationCase.runtime_spec_id)
                  .join(OrgUnit, OrgUnit.id == MediationCase.org_unit_id)
                  .where(MediationCase.runtime_spec_id.in_(list(ctx_by_spec)),
                         MediationCase.id.in_(select(HumanTask.case_id).where(active))))
    cases = {row[0]: (row[1], row[2], row[3], row[4]) for row in session.execute(scoped(case_query, user))}
    rows_by_case: dict[int, list[TaskRow]] = defaultdict(list)
    if cases:
        from app.org.models import Department

        task_query = (select(HumanTask.id, HumanTask.case_id, HumanTask.name, HumanTask.title, HumanTask.status,
                             HumanTask.created_at, HumanTask.completed_at, HumanTask.due_at, Department.name)
                      .outerjoin(Department, Department.id == HumanTask.department_id)
                      .where(HumanTask.case_id.in_(list(cases)))
                      .order_by(HumanTask.case_id, HumanTask.created_at, HumanTask.id))
        for r in session.execute(task_query):
            rows_by_case[r[1]].append(TaskRow(r[0], r[1], r[2], r[3] or r[2], str(r[4]), r[5], r[6], r[7], r[8]))
    return _Collected(ctx_by_spec, cases, dict(rows_by_case))


def build_monitor(session: Session, user: User, process_id: str, version: Any = None,
                  days: Any = None) -> Monitor:
    """The monitor of one process version for what the user may see."""
    window = parse_window(days)
    pv = pick_version(session, process_id, version)
    now = clock.now()
    since = now - timedelta(days=window)
    model = process_model(session, pv.artifact_id, pv.process_id)
    collected = _collect(session, user, pv, since)
    case_sets: dict[str, set[int]] = defaultdict(set)
    overdue_sets: dict[str, set[int]] = defaultdict(set)
    tasks: dict[str, int] = defaultdict(int)
    waits: dict[str, list[float]] = defaultdict(list)
    durations: dict[str, list[float]] = defaultdict(list)
    incident_sets: dict[str, set[int]] = defaultdict(set)
    counted_cases: set[int] = set()
    called_sets: dict[str, set[int]] = defaultdict(set)
    for case_id, rows in collected.rows_by_case.items():
        ctx = collected.ctx_by_spec[collected.cases[case_id][3]]
        for row in rows:
            is_open = row.status == TaskStatus.open
            is_done = row.status == TaskStatus.completed and row.completed_at is not None \
                and row.completed_at >= since
            if not (is_open or is_done):
                continue
            where = positions(ctx, pv.process_id, row.name, rows, row.created_at, exclude=row.id)
            if not where:
                continue
            if is_open:
                counted_cases.add(case_id)
                late = row.due_at is not None and row.due_at < now
                for element in where:
                    case_sets[element].add(case_id)
                    tasks[element] += 1
                    waits[element].append((now - row.created_at).total_seconds())
                    if late:
                        overdue_sets[element].add(case_id)
                owner = ctx.owner(row.name)
                if owner and owner != pv.process_id:
                    called_sets[owner].add(case_id)
            else:
                seconds = (row.completed_at - row.created_at).total_seconds()  # type: ignore[operator]
                for element in where:
                    durations[element].append(seconds)
    incidents = _incidents(session, user, pv, collected, incident_sets)
    # also the cases of this version with an incident and no open task
    counted_cases |= {i for ids in incident_sets.values() for i in ids}
    steps: list[Step] = []
    counted = set(case_sets) | set(durations) | set(incident_sets)
    for node in sorted(model.nodes.values(), key=lambda n: n.order):
        if node.kind not in STEP_KINDS and node.id not in counted:
            continue
        stats = StepStats(cases=len(case_sets[node.id]), tasks=tasks[node.id], overdue=len(overdue_sets[node.id]),
                          done=len(durations[node.id]), incidents=len(incident_sets[node.id]))
        if durations[node.id]:
            stats.done_median = _seconds(statistics.median(durations[node.id]))
            stats.done_p90 = _seconds(percentile(durations[node.id], 0.9))
        if waits[node.id]:
            stats.waiting_median = _seconds(statistics.median(waits[node.id]))
            stats.waiting_p90 = _seconds(percentile(waits[node.id], 0.9))
        within = tuple(model.nodes[c].name for c in reversed(model.containers(node.id)) if c in model.nodes)
        steps.append(Step(node.id, node.kind, node.name, within, node.called, stats))
    versions = list(session.scalars(select(ProcessVersion.version).where(ProcessVersion.process_id == pv.process_id)
                                    .order_by(ProcessVersion.version.desc())))
    return Monitor(process=pv, versions=versions, steps=steps, incidents=incidents,
                   called=_called(session, pv, collected, called_sets), cases=len(counted_cases),
                   window_days=window, since=since, now=now)


def _incidents(session: Session, user: User, pv: ProcessVersion, collected: _Collected,
               incident_sets: dict[str, set[int]]) -> list[IncidentRow]:
    """Open incidents of the visible cases on specs that include this version, placed on the diagram."""
    if not collected.ctx_by_spec:
        return []
    query = (select(Incident, MediationCase.case_no, MediationCase.title, MediationCase.runtime_spec_id)
             .join(MediationCase, MediationCase.id == Incident.case_id)
             .join(OrgUnit, OrgUnit.id == MediationCase.org_unit_id)
             .where(Incident.resolved_at.is_(None), MediationCase.status == CaseStatus.open,
                    MediationCase.runtime_spec_id.in_(list(collected.ctx_by_spec)))
             .order_by(Incident.at.desc(), Incident.id.desc()))
    found: list[IncidentRow] = []
    for incident, case_no, title, spec_id in session.execute(scoped(query, user)):
        ctx = collected.ctx_by_spec[spec_id]
        steps: list[str] = []
        if incident.task_name:
            steps = positions(ctx, pv.process_id, incident.task_name,
                              collected.rows_by_case.get(incident.case_id, []), incident.at)
            owner = ctx.owner(incident.task_name)
            if not steps and owner != pv.process_id and not _under(ctx, pv.process_id, owner):
                continue  # fails in a part of the flow this process does not reach
        for element in steps:
            incident_sets[element].add(incident.case_id)
        found.append(IncidentRow(incident.id, case_no, title, incident.at, incident.task_name, incident.message,
                                 tuple(steps)))
    return found


def _under(ctx: SpecContext, process_id: str, other: str | None) -> bool:
    """True when `other` is `process_id` or is called (transitively) from it."""
    if other is None or process_id not in ctx.models:
        return process_id == ctx.root
    seen: set[str] = set()
    queue = [process_id]
    while queue:
        current = queue.pop()
        if current == other:
            return True
        seen.add(current)
        queue += [n.called for n in ctx.models[current].nodes.values()
                  if n.called and n.called in ctx.models and n.called not in seen]
    return False


def _called(session: Session, pv: ProcessVersion, collected: _Collected,
            called_sets: dict[str, set[int]]) -> list[CalledProcess]:
    """The processes this version calls (transitively), at the versions its cases are pinned to
    (the newest when no case has started yet), with how many open cases wait inside each."""
    pinned: dict[str, int] = {}
    own_specs = [s for s in session.scalars(select(RuntimeSpec).where(RuntimeSpec.process_version_id == pv.id)
                                            .order_by(RuntimeSpec.id.desc()))]
    for spec in own_specs:
        for row in session.execute(select(ProcessVersion.process_id, ProcessVersion.version)
                                   .where(ProcessVersion.artifact_id.in_(spec.artifact_ids or []))):
            if row[0] != pv.process_id:
                pinned.setdefault(row[0], row[1])
    wanted: list[str] = []
    queue = list(pv.calls or [])
    while queue:
        called = queue.pop(0)
        if called in wanted or called == pv.process_id:
            continue
        wanted.append(called)
        latest = session.scalar(select(ProcessVersion).where(ProcessVersion.process_id == called)
                                .order_by(ProcessVersion.version.desc()).limit(1))
        if latest is not None:
            pinned.setdefault(called, latest.version)
            queue += list(latest.calls or [])
    result = []
    for called in wanted:
        if called not in pinned:
            continue
        name = session.scalar(select(ProcessVersion.name).where(ProcessVersion.process_id == called,
                                                                ProcessVersion.version == pinned[called])) or called
        result.append(CalledProcess(called, pinned[called], name, len(called_sets.get(called, set()))))
    return result


def waiting_cases(session: Session, user: User, process_id: str, version: Any, element_id: str) -> list[WaitingCase]:
    """The open cases waiting at one step of a process version (overdue first, then longest waiting)."""
    pv = pick_version(session, process_id, version)
    model = process_model(session, pv.artifact_id, pv.process_id)
    if element_id not in model.nodes:
        raise NotFound(f"no step {element_id} in {process_id} v{pv.version}", fields={"step": "unknown"})
    now = clock.now()
    collected = _collect(session, user, pv, now)
    found: dict[tuple[int, int], WaitingCase] = {}
    for case_id, rows in collected.rows_by_case.items():
        ctx = collected.ctx_by_spec[collected.cases[case_id][3]]
        case_no, title, place, _spec = collected.cases[case_id]
        for row in rows:
            if row.status != TaskStatus.open:
                continue
            if element_id in positions(ctx, pv.process_id, row.name, rows, row.created_at, exclude=row.id):
                found[(case_id, row.id)] = WaitingCase(case_no, title, place, row.title, row.department,
                                                       row.created_at, row.due_at,
                                                       row.due_at is not None and row.due_at < now)
    return sorted(found.values(), key=lambda w: (not w.overdue, w.since, w.case_no))


def monitored_processes(session: Session) -> list[ProcessVersion]:
    """The newest version of every process, the mediation flow first."""
    from app.processes.service import list_latest_processes

    return sorted(list_latest_processes(session), key=lambda p: (p.process_id != "mediation", p.process_id))


def process_xml(session: Session, pv: ProcessVersion) -> str:
    return session.scalar(select(Artifact.content).where(Artifact.id == pv.artifact_id)) or ""


def step_names(steps: Iterable[Step]) -> dict[str, str]:
    return {s.id: s.name for s in steps}
