"""Move running cases from one version of a process to another, in bulk or one at a time.

A dry run lists every open case of the source version with whether it can move and why not; a real
run moves each case that can in its own savepoint (one failure never undoes the others), writes a
`migrated` event on the case's timeline and one `migrate` entry in the audit log.

What a moved case runs on: the same artifact set a case starting on the target version now would get
(`pin_runtime_spec`: the target process version plus the newest called processes, decision tables
and forms). Keeping the old decision tables and forms instead is not possible in general (the new
version may call decisions or show forms the old pin does not have), and it would leave the case on
a combination nobody published or reviewed. What a case already decided stays decided: rules that
ran are not run again (their outputs are in the case's data, e.g. deadlines), and a person's task
under way whose form content changed blocks the move (`form`), so nobody's half-filled task changes.

Only designers and admins move cases. Only open cases move; closed ones keep their version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.cases.models import CaseStatus, MediationCase
from app.cases.service import add_event, can_see_case, get_case, lock_case_by_id, script_functions, sync_case
from app.engine import migration as engine_migration
from app.engine.migration import Blocker
from app.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from app.org.models import Role, User
from app.processes.models import ProcessVersion
from app.processes.service import LoadedSpec, list_process_versions, load_spec, pin_runtime_spec
from app.tasks.models import HumanTask, TaskStatus

#: who may move cases between versions
MIGRATOR_ROLES = (Role.designer, Role.admin)


def can_migrate(user: User | None) -> bool:
    """Designers and admins move cases; everyone else may not even run a dry run."""
    return user is not None and (user.is_admin or user.has_role(*MIGRATOR_ROLES))


def require_migrator(user: User) -> None:
    if not can_migrate(user):
        raise Forbidden("only designers and admins move cases between process versions")


# --- what the report says ------------------------------------------------------------------------

_STATE_EN = {"ready": "waiting for a person", "waiting": "waiting", "started": "running", "failed": "failed",
             "completed": "done", "cancelled": "cancelled", "next": "about to start"}
_ASPECT_EN = {"form": "form", "lane": "lane (role)", "script": "script", "timer": "timer", "event": "event",
              "multi_instance": "multi-instance setting", "called_element": "called process",
              "decision": "decision table", "data": "data mapping", "conditions": "branch conditions",
              "gateway": "gateway", "due": "due time", "timers": "attached timers",
              "join": "branches it waits for", "settings": "extension properties", "definition": "definition"}


def reason_text(blocker: Blocker, to_version: int) -> str:
    """One blocker as an English sentence for the API (the web page words it in the reader's language)."""
    step = f"{blocker.name} ({blocker.step})" if blocker.name != blocker.step else blocker.step
    state = _STATE_EN.get(blocker.state, blocker.state)
    if blocker.kind == "removed":
        return f"step {step} is not in version {to_version}, and the case has already reached it ({state})"
    if blocker.kind == "type_changed":
        return (f"step {step} is a different kind of element in version {to_version} ({blocker.detail}), "
                f"and the case has already reached it ({state})")
    if blocker.kind == "changed":
        what = ", ".join(_ASPECT_EN.get(a, a) for a in blocker.aspects)
        return f"step {step} is under way ({state}) and its {what} changed in version {to_version}"
    if blocker.kind == "process_missing":
        return (f"the case is running {blocker.detail} at step {step}, which version {to_version} "
                f"does not call")
    return f"the engine could not move the case: {blocker.detail}"


@dataclass
class CaseMove:
    """One case in a migration report."""

    case_no: str
    title: str
    stage: str
    org_unit: str
    can_move: bool
    blockers: list[Blocker] = field(default_factory=list)
    #: set by a real run: the case now runs on the target version
    moved: bool = False
    #: set by a real run when moving failed unexpectedly (the case was left as it was)
    error: str | None = None
    #: names of the person's tasks that carry on unchanged across the move
    continued: list[str] = field(default_factory=list)
    #: titles of the case's open tasks before the move (where the case stands)
    open_tasks: list[str] = field(default_factory=list)


@dataclass
class MigrationReport:
    process_id: str
    from_version: int | None
    to_version: int
    dry_run: bool
    cases: list[CaseMove] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "total": len(self.cases),
            "can_move": sum(1 for c in self.cases if c.can_move),
            "cannot_move": sum(1 for c in self.cases if not c.can_move),
            "moved": sum(1 for c in self.cases if c.moved),
            "failed": sum(1 for c in self.cases if c.error is not None),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "process": {"id": self.process_id, "from_version": self.from_version, "to_version": self.to_version},
            "dry_run": self.dry_run,
            "counts": self.counts,
            "cases": [{
                "case_no": c.case_no,
                "title": c.title,
                "stage": c.stage,
                "can_move": c.can_move,
                "reasons": [reason_text(b, self.to_version) for b in c.blockers]
                + ([f"moving failed: {c.error}"] if c.error else []),
                "blockers": [{"kind": b.kind, "process": b.process, "step": b.step, "name": b.name,
                              "state": b.state, "aspects": list(b.aspects), "detail": b.detail}
                             for b in c.blockers],
                "moved": c.moved,
                "continued_tasks": c.continued,
            } for c in self.cases],
        }


# --- input ---------------------------------------------------------------------------------------

def _version_field(payload: dict[str, Any], key: str, errors: dict[str, str]) -> int | None:
    value = payload.get(key)
    if value is None:
        errors[key] = "required"
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        errors[key] = "must be a version number (1, 2, ...)"
        return None
    return value


def _dry_run_field(payload: dict[str, Any], errors: dict[str, str]) -> bool:
    value = payload.get("dry_run", True)
    if not isinstance(value, bool):
        errors["dry_run"] = "must be true or false"
        return True
    return value


def parse_process_request(payload: dict[str, Any]) -> tuple[int, int, bool]:
    """`{from_version, to_version, dry_run}` checked field by field (dry_run defaults to true)."""
    errors: dict[str, str] = {}
    source = _version_field(payload, "from_version", errors)
    target = _version_field(payload, "to_version", errors)
    dry_run = _dry_run_field(payload, errors)
    if source is not None and target is not None and source == target:
        errors["to_version"] = "must differ from from_version"
    if errors or source is None or target is None:
        raise InvalidInput("the migration request is not valid", fields=errors)
    return source, target, dry_run


def parse_case_request(payload: dict[str, Any]) -> tuple[int, bool]:
    """`{to_version, dry_run}` checked field by field (dry_run defaults to true)."""
    errors: dict[str, str] = {}
    target = _version_field(payload, "to_version", errors)
    dry_run = _dry_run_field(payload, errors)
    if errors or target is None:
        raise InvalidInput("the migration request is not valid", fields=errors)
    return target, dry_run


# --- the move ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Target:
    version: ProcessVersion
    runtime_spec_id: int
    spec: LoadedSpec


def _version(versions: list[ProcessVersion], number: int, key: str) -> ProcessVersion:
    for pv in versions:
        if pv.version == number:
            return pv
    known = ", ".join(str(v.version) for v in sorted(versions, key=lambda v: v.version))
    raise InvalidInput(f"process {versions[0].process_id} has no version {number}",
                       fields={key: f"no such version (versions: {known})"})


def _target(session: Session, versions: list[ProcessVersion], number: int) -> _Target:
    pv = _version(versions, number, "to_version")
    if not pv.executable:
        raise InvalidInput(f"version {number} is not executable", fields={"to_version": "not executable"})
    runtime_spec_id = pin_runtime_spec(session, pv)
    return _Target(pv, runtime_spec_id, load_spec(session, runtime_spec_id))


def _changed_forms(old: LoadedSpec, new: LoadedSpec) -> set[str]:
    return {name for name, form in old.forms.items() if new.forms.get(name) != form}


def _move(session: Session, actor: User, case: MediationCase, target: _Target, *, dry_run: bool) -> CaseMove:
    """Check one case against the target and, unless a dry run, move it."""
    result = CaseMove(case_no=case.case_no, title=case.title, stage=case.stage, org_unit=case.org_unit.name,
                      can_move=False, open_tasks=list(session.scalars(
                          select(HumanTask.title).where(HumanTask.case_id == case.id,
                                                        HumanTask.status == TaskStatus.open)
                          .order_by(HumanTask.id))))
    old = load_spec(session, case.runtime_spec_id)
    outcome = engine_migration.migrate(old.compiled, target.spec.compiled, case.state.blob,
                                       changed_forms=_changed_forms(old, target.spec),
                                       functions=script_functions(session, case.org_unit))
    result.blockers = list(outcome.blockers)
    result.can_move = outcome.ok
    if not outcome.ok or outcome.step is None:
        return result
    titles = {r.id: r.title for r in outcome.step.ready}
    result.continued = [r.name for r in outcome.step.ready if r.id in outcome.continued]
    if dry_run:
        return result
    source = {"version": case.process_version, "runtime_spec": case.runtime_spec_id}
    case.process_version = target.version.version
    case.runtime_spec_id = target.runtime_spec_id
    add_event(session, case, "migrated", actor=actor,
              message=f"v{source['version']} → v{target.version.version}",
              data={"process": case.process_id, "from_version": source["version"],
                    "to_version": target.version.version, "from_runtime_spec": source["runtime_spec"],
                    "to_runtime_spec": target.runtime_spec_id, "continued_tasks": result.continued})
    sync_case(session, case, target.spec, outcome.step, actor=actor,
              action={"op": "migrate", "to_version": target.version.version})
    # the tasks that carry on keep their rows (ids, assignees, claims); only a changed label is new
    for engine_id in outcome.continued:
        session.execute(update(HumanTask).where(HumanTask.case_id == case.id, HumanTask.engine_task_id == engine_id,
                                                HumanTask.status == TaskStatus.open)
                        .values(title=titles[engine_id]))
    session.flush()
    result.moved = True
    return result


def _move_in_savepoint(session: Session, actor: User, case_id: int, process_id: str, from_version: int,
                       target: _Target) -> CaseMove:
    """Lock and move one case in its own savepoint: if anything fails, only this case stays as it was."""
    try:
        with session.begin_nested():
            case = lock_case_by_id(session, case_id)
            if (case.status != CaseStatus.open or case.process_id != process_id
                    or case.process_version != from_version):
                return CaseMove(case_no=case.case_no, title=case.title, stage=case.stage,
                                org_unit=case.org_unit.name, can_move=False,
                                error="the case changed meanwhile (closed or already moved)")
            return _move(session, actor, case, target, dry_run=False)
    except Exception as exc:  # noqa: BLE001 - one case's failure is reported, the others go on
        case_no = session.scalar(select(MediationCase.case_no).where(MediationCase.id == case_id)) or str(case_id)
        message = exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        return CaseMove(case_no=case_no, title="", stage="", org_unit="", can_move=True, error=message[:500])


def _audit(session: Session, actor: User, report: MigrationReport, subject_kind: str, subject_id: str) -> None:
    counts = report.counts
    audit.record(
        session, actor, "migrate", subject_kind, subject_id,
        summary=(f"{report.process_id} v{report.from_version} → v{report.to_version}: {counts['moved']} moved, "
                 f"{counts['cannot_move']} cannot move, {counts['failed']} failed"),
        detail={"process": report.process_id, "from_version": report.from_version,
                "to_version": report.to_version,
                "moved": [c.case_no for c in report.cases if c.moved],
                "cannot_move": {c.case_no: [reason_text(b, report.to_version) for b in c.blockers]
                                for c in report.cases if not c.can_move},
                "failed": {c.case_no: c.error for c in report.cases if c.error is not None}},
    )


def open_case_ids(session: Session, process_id: str, version: int) -> list[int]:
    return list(session.scalars(select(MediationCase.id).where(
        MediationCase.process_id == process_id, MediationCase.process_version == version,
        MediationCase.status == CaseStatus.open).order_by(MediationCase.case_no)))


def migrate_process(session: Session, actor: User, process_id: str, from_version: int, to_version: int, *,
                    dry_run: bool = True) -> MigrationReport:
    """Check (dry run) or move every open case of `process_id` version `from_version` to `to_version`."""
    require_migrator(actor)
    versions = list_process_versions(session, process_id)
    _version(versions, from_version, "from_version")
    if from_version == to_version:
        raise InvalidInput("the versions are the same", fields={"to_version": "must differ from from_version"})
    target = _target(session, versions, to_version)
    report = MigrationReport(process_id, from_version, to_version, dry_run)
    for case_id in open_case_ids(session, process_id, from_version):
        if dry_run:
            report.cases.append(_move(session, actor, session.get(MediationCase, case_id), target, dry_run=True))
        else:
            report.cases.append(_move_in_savepoint(session, actor, case_id, process_id, from_version, target))
    if not dry_run:
        _audit(session, actor, report, "process", process_id)
    return report


def migrate_case(session: Session, actor: User, case_no: str, to_version: int, *, dry_run: bool = True
                 ) -> MigrationReport:
    """Check (dry run) or move one open case to `to_version` of its process."""
    require_migrator(actor)
    case = get_case(session, case_no)
    if not can_see_case(session, actor, case):
        raise NotFound(f"no case {case_no}")
    if case.status != CaseStatus.open:
        raise Conflict(f"case {case_no} is closed; closed cases keep their version")
    if case.process_version == to_version:
        raise InvalidInput(f"case {case_no} already runs on version {to_version}",
                           fields={"to_version": "the case already runs on this version"})
    versions = list_process_versions(session, case.process_id)
    target = _target(session, versions, to_version)
    report = MigrationReport(case.process_id, case.process_version, to_version, dry_run)
    if dry_run:
        report.cases.append(_move(session, actor, case, target, dry_run=True))
    else:
        report.cases.append(_move_in_savepoint(session, actor, case.id, case.process_id, case.process_version,
                                               target))
        _audit(session, actor, report, "case", case_no)
    return report


def process_versions(session: Session, process_id: str) -> list[tuple[ProcessVersion, int]]:
    """Every version of a process, newest first, with how many open cases run on it."""
    versions = list_process_versions(session, process_id)
    counts = dict(session.execute(
        select(MediationCase.process_version, func.count()).where(
            MediationCase.process_id == process_id, MediationCase.status == CaseStatus.open)
        .group_by(MediationCase.process_version)).all())
    return [(pv, int(counts.get(pv.version, 0))) for pv in versions]
