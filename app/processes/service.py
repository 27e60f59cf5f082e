"""Publishing bundles of BPMN, DMN and forms as immutable versions, and pinning cases to them."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from app import engine
from app.audit import service as audit
from app.db import RowSelect, after_commit, select_rows, upsert
from app.errors import InvalidInput, NotFound
from app.org.models import LANE_ROLES, User
from app.processes.models import (
    Artifact,
    ArtifactKind,
    DecisionVersion,
    Deployment,
    FormVersion,
    ProcessVersion,
    RuntimeSpec,
)

#: the largest file a bundle may hold
MAX_FILE_BYTES = 2 * 1024 * 1024
BPMN_SUFFIXES = (".bpmn", ".bpmn20.xml")


def artifact_kind(filename: str) -> ArtifactKind | None:
    """Tell a file's kind by its name."""
    lower = filename.lower()
    if lower.endswith(BPMN_SUFFIXES):
        return ArtifactKind.bpmn
    if lower.endswith(".dmn"):
        return ArtifactKind.dmn
    if lower.endswith(".json"):
        return ArtifactKind.form
    return None


class BundleInvalid(InvalidInput):
    """The bundle failed validation; nothing was published."""

    def __init__(self, problems: list[Any]) -> None:
        by_file: dict[str, list[str]] = {}
        for p in problems:
            by_file.setdefault(p.file, []).append(str(p))
        super().__init__(
            f"{len(problems)} problem(s) in the bundle; nothing was published",
            fields={name: "; ".join(msgs) for name, msgs in by_file.items()},
        )
        self.problems = problems


@dataclass
class DeployResult:
    deployment: Deployment
    processes: list[ProcessVersion] = field(default_factory=list)
    decisions: list[DecisionVersion] = field(default_factory=list)
    forms: list[FormVersion] = field(default_factory=list)

    @property
    def primary(self) -> ProcessVersion | None:
        """The bundle's main process: an executable one that no other process of the bundle calls."""
        called = {c for p in self.processes for c in p.calls}
        for candidates in ([p for p in self.processes if p.executable and p.process_id not in called],
                           [p for p in self.processes if p.executable], self.processes):
            if candidates:
                return candidates[0]
        return None


def _next_version(session: Session, column: Any, key_column: Any, key: str) -> int:
    current = session.scalar(select(func.max(column)).where(key_column == key))
    return (current or 0) + 1


def read_bundle_dir(path: Path) -> dict[str, bytes]:
    """Read every BPMN, DMN and form file under a directory (or a single file) into a bundle."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    files: dict[str, bytes] = {}
    for item in sorted(path.rglob("*")):
        if item.is_file() and artifact_kind(item.name) is not None:
            if item.name in files:
                raise InvalidInput(f"two files named {item.name}", fields={item.name: "file name used twice"})
            files[item.name] = item.read_bytes()
    return files


def deploy_bundle(session: Session, files: Mapping[str, bytes], *, actor: User | None = None, note: str = "",
                  source: str = "api", validate: bool = True) -> DeployResult:
    """Validate a bundle and publish each process, decision and form in it as a new version.

    `validate=False` skips OneStop's publish rules (`validate_bundle`: lanes named after roles,
    decision tables with a default rule, ...) for callers that run foreign BPMN on purpose, such as
    the conformance tests; the files must still be readable BPMN, DMN or forms.
    """
    if not files:
        raise InvalidInput("the bundle is empty", fields={"files": "add at least one BPMN, DMN or form file"})
    problems: dict[str, str] = {}
    texts: dict[str, str] = {}
    for name, content in files.items():
        if artifact_kind(name) is None:
            problems[name] = "unknown file type: use .bpmn, .dmn or .json"
        elif len(content) > MAX_FILE_BYTES:
            problems[name] = f"file larger than {MAX_FILE_BYTES // (1024 * 1024)} MB"
        else:
            try:
                texts[name] = content.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems[name] = f"not UTF-8 text (byte {exc.start})"
    if problems:
        raise InvalidInput("the bundle has unreadable files; nothing was published", fields=problems)

    if validate:
        from app.engine.validation import validate_bundle

        found = validate_bundle(
            files,
            known_processes=set(session.scalars(select(ProcessVersion.process_id).distinct())),
            known_decisions=set(session.scalars(select(DecisionVersion.decision_id).distinct())),
            known_forms=set(session.scalars(select(FormVersion.filename).distinct())),
            roles=sorted(LANE_ROLES),
        )
        if found:
            raise BundleInvalid(found)

    bpmn = {n: t for n, t in texts.items() if artifact_kind(n) == ArtifactKind.bpmn}
    dmn = {n: t for n, t in texts.items() if artifact_kind(n) == ArtifactKind.dmn}
    info = engine.describe_bundle(bpmn, dmn)

    deployment = Deployment(created_by_id=actor.id if actor else None, note=note, source=source)
    session.add(deployment)
    session.flush()
    result = DeployResult(deployment=deployment)
    artifacts: dict[str, Artifact] = {}
    for name, text in texts.items():
        art = Artifact(deployment_id=deployment.id, kind=artifact_kind(name), filename=name, content=text,
                       sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())
        session.add(art)
        artifacts[name] = art
    session.flush()
    for proc in info.processes:
        pv = ProcessVersion(
            process_id=proc.id, name=proc.name, deployment_id=deployment.id,
            artifact_id=artifacts[proc.filename].id,
            version=_next_version(session, ProcessVersion.version, ProcessVersion.process_id, proc.id),
            calls=list(proc.calls), decisions=list(proc.decisions), forms=list(proc.forms),
            executable=proc.executable,
        )
        session.add(pv)
        session.flush()
        result.processes.append(pv)
    for dec in info.decisions:
        dv = DecisionVersion(
            decision_id=dec.id, name=dec.name, deployment_id=deployment.id, artifact_id=artifacts[dec.filename].id,
            version=_next_version(session, DecisionVersion.version, DecisionVersion.decision_id, dec.id),
        )
        session.add(dv)
        session.flush()
        result.decisions.append(dv)
    for name, art in artifacts.items():
        if art.kind == ArtifactKind.form:
            fv = FormVersion(filename=name, deployment_id=deployment.id, artifact_id=art.id,
                             version=_next_version(session, FormVersion.version, FormVersion.filename, name))
            session.add(fv)
            session.flush()
            result.forms.append(fv)
    return result


def latest_process_version(session: Session, process_id: str) -> ProcessVersion:
    """The newest version of a process, which new cases start on."""
    return process_to_start(session, process_id)[0]


#: built once: every case created reads them
_NEWEST_VERSION = RowSelect(select(ProcessVersion.__table__).where(ProcessVersion.process_id == bindparam("process_id"))
                            .order_by(ProcessVersion.version.desc()).limit(1), ProcessVersion)
_NEWEST_DEPLOYMENT = RowSelect(select(Deployment.__table__).order_by(Deployment.id.desc()).limit(1), Deployment)


def process_to_start_reads(process_id: str) -> list[tuple[RowSelect, dict[str, Any]]]:
    """The reads of `process_to_start(process_id)`, for a request to send them ahead (`app.db.read_ahead`)."""
    return [(_NEWEST_VERSION, {"process_id": process_id}), (_NEWEST_DEPLOYMENT, {})]


def process_to_start(session: Session, process_id: str) -> tuple[ProcessVersion, int]:
    """The newest version of a process and the id of the newest deployment, in one round trip: what a
    case start needs to find its version and its pinned files (`pin_runtime_spec(newest_deployment=)`)."""
    versions, deployments = select_rows(session, *process_to_start_reads(process_id))
    if not versions:
        raise NotFound(f"no process {process_id}", fields={"process_id": "unknown process"})
    return versions[0][0], deployments[0][0].id if deployments else 0


def get_process_version(session: Session, process_id: str, version: int) -> ProcessVersion:
    pv = session.scalar(select(ProcessVersion).where(ProcessVersion.process_id == process_id,
                                                     ProcessVersion.version == version))
    if pv is None:
        raise NotFound(f"no version {version} of process {process_id}")
    return pv


def list_process_versions(session: Session, process_id: str) -> list[ProcessVersion]:
    versions = list(session.scalars(select(ProcessVersion).where(ProcessVersion.process_id == process_id)
                                    .order_by(ProcessVersion.version.desc())))
    if not versions:
        raise NotFound(f"no process {process_id}")
    return versions


def list_latest_processes(session: Session) -> list[ProcessVersion]:
    """The newest version of every process."""
    newest = (select(ProcessVersion.process_id, func.max(ProcessVersion.version).label("v"))
              .group_by(ProcessVersion.process_id).subquery())
    return list(session.scalars(
        select(ProcessVersion).join(newest, (ProcessVersion.process_id == newest.c.process_id)
                                    & (ProcessVersion.version == newest.c.v))
        .order_by(ProcessVersion.process_id)
    ))


def _newest(session: Session, model: Any, name: Any, names: set[str]) -> dict[str, Any]:
    """The newest version of each named decision or form, in one query (a case start needs dozens)."""
    if not names:
        return {}
    newest = (select(name.label("name"), func.max(model.version).label("version"))
              .where(name.in_(sorted(names))).group_by(name).subquery())
    rows = session.scalars(select(model).join(newest, (name == newest.c.name) & (model.version == newest.c.version)))
    return {getattr(row, name.key): row for row in rows}


def pin_runtime_spec(session: Session, pv: ProcessVersion, *, newest_deployment: int | None = None) -> int:
    """Pin the files a case starting now runs on: the process version, and the newest called
    processes, decisions and forms it needs (transitively); return the id of their runtime spec.

    Which files those are changes only with a new deployment, so the answer is remembered per newest
    deployment id (`newest_deployment`, when the caller read it with the version: `process_to_start`):
    a case start then asks nothing here. It is remembered once its transaction has committed (a runtime
    spec row is never changed nor deleted after), so a remembered id is always of a row that exists.
    """
    if newest_deployment is None:
        newest_deployment = session.scalar(select(func.max(Deployment.id))) or 0
    pin = (str(session.get_bind().url), pv.id, newest_deployment)
    known = SPEC_CACHE.pins.get(pin)
    if known is not None:
        return known
    spec_id = _pin(session, pv).id

    def remember() -> None:
        if len(SPEC_CACHE.pins) > 1024:
            SPEC_CACHE.pins.clear()
        SPEC_CACHE.pins[pin] = spec_id

    after_commit(session, remember)
    return spec_id


def _pin(session: Session, pv: ProcessVersion) -> RuntimeSpec:
    artifact_ids: set[int] = {pv.artifact_id}
    defined_here: set[str] = set(
        session.scalars(select(ProcessVersion.process_id).where(ProcessVersion.artifact_id == pv.artifact_id))
    )
    pending_calls = list(pv.calls)
    decisions = set(pv.decisions)
    forms = set(pv.forms)
    seen_calls: set[str] = set()
    while pending_calls:
        called = pending_calls.pop()
        if called in seen_calls:
            continue
        seen_calls.add(called)
        if called in defined_here:
            same_file = session.scalar(select(ProcessVersion).where(ProcessVersion.artifact_id == pv.artifact_id,
                                                                    ProcessVersion.process_id == called))
            target = same_file
        else:
            target = latest_process_version(session, called)
            artifact_ids.add(target.artifact_id)
            defined_here.update(session.scalars(
                select(ProcessVersion.process_id).where(ProcessVersion.artifact_id == target.artifact_id)))
        if target is not None:
            pending_calls.extend(target.calls)
            decisions.update(target.decisions)
            forms.update(target.forms)
    newest_decisions = _newest(session, DecisionVersion, DecisionVersion.decision_id, decisions)
    for decision_id in sorted(decisions):
        if decision_id not in newest_decisions:
            raise NotFound(f"decision {decision_id} is not deployed")
        artifact_ids.add(newest_decisions[decision_id].artifact_id)
    newest_forms = _newest(session, FormVersion, FormVersion.filename, forms)
    for filename in sorted(forms):
        if filename not in newest_forms:
            raise NotFound(f"form {filename} is not deployed")
        artifact_ids.add(newest_forms[filename].artifact_id)
    ordered = sorted(artifact_ids)
    key = hashlib.sha256(f"{pv.id}:{','.join(map(str, ordered))}".encode()).hexdigest()
    spec = session.scalar(select(RuntimeSpec).where(RuntimeSpec.key == key))
    if spec is None:
        # the first cases after a deployment start in several workers at once: one of them makes
        # the row, the others wait for it and use it
        session.execute(upsert(session, RuntimeSpec).values(process_version_id=pv.id, key=key, artifact_ids=ordered)
                        .on_conflict_do_nothing(index_elements=[RuntimeSpec.key]))
        spec = session.scalars(select(RuntimeSpec).where(RuntimeSpec.key == key)).one()
    return spec


@dataclass(frozen=True)
class LoadedSpec:
    """A runtime spec ready to run: the compiled engine spec and the forms it pins."""

    id: int
    process_id: str
    compiled: engine.CompiledSpec
    forms: dict[str, dict[str, Any]]


class _SpecCache:
    """Compiled specs by (database, runtime spec id); they are immutable, so entries never go stale."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[tuple[str, int], LoadedSpec] = OrderedDict()
        #: (database, process version id, newest deployment id) -> runtime spec id (of a committed row)
        self.pins: dict[tuple[str, int, int], int] = {}
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> LoadedSpec | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple[str, int], item: LoadedSpec) -> None:
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.pins.clear()


SPEC_CACHE = _SpecCache()


def load_spec(session: Session, runtime_spec_id: int) -> LoadedSpec:
    """The compiled spec of a runtime spec, parsed once per process and cached."""
    key = (str(session.get_bind().url), runtime_spec_id)
    cached = SPEC_CACHE.get(key)
    if cached is not None:
        return cached
    rs = session.get(RuntimeSpec, runtime_spec_id)
    if rs is None:
        raise NotFound(f"no runtime spec {runtime_spec_id}")
    artifacts = list(session.scalars(select(Artifact).where(Artifact.id.in_(rs.artifact_ids))))
    bpmn = {f"{a.id}/{a.filename}": a.content for a in artifacts if a.kind == ArtifactKind.bpmn}
    dmn = {f"{a.id}/{a.filename}": a.content for a in artifacts if a.kind == ArtifactKind.dmn}
    forms = {a.filename: json.loads(a.content) for a in artifacts if a.kind == ArtifactKind.form}
    compiled = engine.compile_spec(rs.process_version.process_id, bpmn, dmn)
    loaded = LoadedSpec(id=rs.id, process_id=rs.process_version.process_id, compiled=compiled, forms=forms)
    SPEC_CACHE.put(key, loaded)
    return loaded


def has_any_process(session: Session) -> bool:
    return session.scalar(select(ProcessVersion.id).limit(1)) is not None


def record_publish(session: Session, actor: User | None, result: DeployResult, *, action: str = "publish",
                   note: str = "") -> None:
    """Audit one deployment: which versions of which processes, decisions and forms it created."""
    versions = (
        sorted(("process", pv.process_id, pv.version) for pv in result.processes)
        + sorted(("decision", dv.decision_id, dv.version) for dv in result.decisions)
        + sorted(("form", fv.filename, fv.version) for fv in result.forms)
    )
    summary = ", ".join(f"{ident} v{version}" for _kind, ident, version in versions)
    audit.record(session, actor, action, "deployment", str(result.deployment.id), summary=summary,
                 detail={"note": note, "versions": [{"kind": k, "id": i, "version": v} for k, i, v in versions]})


def deploy_shipped(session: Session, folders: Iterable[Path], *, note: str, source: str) -> DeployResult | None:
    """Publish the shipped processes/ and forms/ when nothing is deployed yet (first start, demo seed),
    audited as the system's publish like any other; None when something was deployed already."""
    if has_any_process(session):
        return None
    files: dict[str, bytes] = {}
    for folder in folders:
        if folder.exists():
            files.update(read_bundle_dir(folder))
    if not files:
        return None
    result = deploy_bundle(session, files, note=note, source=source)
    record_publish(session, None, result, note=note)
    return result
