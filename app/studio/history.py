"""Version history of processes, decisions and forms: listing, diffs, roll back and export for git.

A "subject" is what the studio versions: a process (by process id), a decision (by decision id) or a form
(by file name, e.g. `intake.json` or its hints `intake.ui.json`). Every version came from one deployment,
which says who published it, when and why (its note).

Rolling back publishes an old version's file again as a new version, through the same validation as any
publish, and writes an audit entry "rollback". Exports are zip files of deployed texts laid out like the
repository (`processes/`, `forms/`), so they can be committed to git and published with `onestop deploy`.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.org.models import User
from app.processes.models import Artifact, ArtifactKind, DecisionVersion, Deployment, FormVersion, ProcessVersion
from app.processes.service import DeployResult, deploy_bundle
from app.studio import drafts
from app.studio.diff import FileDiff, diff_files
from app.timeutil import local_iso

KINDS = ("process", "decision", "form")
#: who may read the studio's history, diffs and the audit log
READERS = frozenset({"designer", "leader", "admin"})
#: the longest note a publish or roll back keeps
MAX_NOTE = 2000


@dataclass(frozen=True)
class VersionInfo:
    """One version of a process, decision or form, with the deployment it came from."""

    kind: str
    subject_id: str
    version: int
    name: str
    deployment_id: int
    published_at: datetime
    author: User | None
    note: str
    source: str
    artifact: Artifact

    @property
    def filename(self) -> str:
        return self.artifact.filename


def can_read(user: User) -> bool:
    """Designers, leaders and admins see the studio's history and audit log."""
    return bool(READERS & set(user.roles or ()))


def require_reader(user: User) -> None:
    if not can_read(user):
        raise Forbidden("only designers, leaders and administrators see version history")


def _model(kind: str) -> tuple[type, object]:
    if kind == "process":
        return ProcessVersion, ProcessVersion.process_id
    if kind == "decision":
        return DecisionVersion, DecisionVersion.decision_id
    if kind == "form":
        return FormVersion, FormVersion.filename
    raise NotFound(f"unknown kind {kind!r}", fields={"kind": "process, decision or form"})


def _info(session: Session, kind: str, row: ProcessVersion | DecisionVersion | FormVersion) -> VersionInfo:
    deployment: Deployment = row.deployment
    author = session.get(User, deployment.created_by_id) if deployment.created_by_id else None
    subject = row.process_id if kind == "process" else row.decision_id if kind == "decision" else row.filename
    name = getattr(row, "name", "") or subject
    return VersionInfo(kind=kind, subject_id=subject, version=row.version, name=name,
                       deployment_id=deployment.id, published_at=deployment.created_at, author=author,
                       note=deployment.note or "", source=deployment.source or "", artifact=row.artifact)


def list_versions(session: Session, kind: str, subject_id: str) -> list[VersionInfo]:
    """Every version of a subject, newest first (404 when there is none)."""
    model, key = _model(kind)
    rows = list(session.scalars(select(model).where(key == subject_id).order_by(model.version.desc())))
    if not rows:
        raise NotFound(f"no {kind} {subject_id}")
    return [_info(session, kind, row) for row in rows]


def get_version(session: Session, kind: str, subject_id: str, version: int) -> VersionInfo:
    model, key = _model(kind)
    row = session.scalar(select(model).where(key == subject_id, model.version == version))
    if row is None:
        raise NotFound(f"no version {version} of {kind} {subject_id}")
    return _info(session, kind, row)


def latest_version(session: Session, kind: str, subject_id: str) -> int:
    model, key = _model(kind)
    newest = session.scalar(select(func.max(model.version)).where(key == subject_id))
    if newest is None:
        raise NotFound(f"no {kind} {subject_id}")
    return int(newest)


def version_diff(session: Session, kind: str, subject_id: str, version: int,
                 against: int | None = None) -> FileDiff:
    """The readable diff of a version against the one before it (or `against`); limited to the subject
    itself when its file defines several processes or decisions."""
    current = get_version(session, kind, subject_id, version)
    base_number = against if against is not None else version - 1
    base = get_version(session, kind, subject_id, base_number) if base_number >= 1 else None
    result = diff_files(current.filename, base.artifact.content if base else None, current.artifact.content,
                        old_label=f"{subject_id} v{base_number}", new_label=f"{subject_id} v{version}")
    return result.only(subject_id) if kind in ("process", "decision") else result


def rollback(session: Session, actor: User, kind: str, subject_id: str, version: int, *,
             note: str = "") -> DeployResult:
    """Publish an old version's file again as a new version (validated like any publish) and audit it.

    Designers (and admins) roll back processes and forms, leaders too for decisions: the same people who
    may publish the file. Rolling back to what is already the newest text is refused (409).
    """
    old = get_version(session, kind, subject_id, version)
    filename = old.filename
    if not drafts.can_edit(actor, filename):
        raise Forbidden(f"you may not publish {filename}")
    newest = latest_version(session, kind, subject_id)
    current = get_version(session, kind, subject_id, newest)
    if current.artifact.sha256 == old.artifact.sha256 and current.filename == filename:
        raise Conflict(f"version {version} is the same as the newest version {newest}; nothing to roll back",
                       fields={"version": f"same as version {newest}"})
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput("the note is too long", fields={"note": f"at most {MAX_NOTE} characters"})
    full_note = note or f"roll back {kind} {subject_id} to version {version}"
    result = deploy_bundle(session, {filename: old.artifact.content.encode("utf-8")}, actor=actor,
                           note=full_note, source="rollback")
    created = (
        [("process", pv.process_id, pv.version) for pv in result.processes]
        + [("decision", dv.decision_id, dv.version) for dv in result.decisions]
        + [("form", fv.filename, fv.version) for fv in result.forms]
    )
    new_version = next((v for k, i, v in created if k == kind and i == subject_id), None)
    audit.record(session, actor, "rollback", kind, subject_id,
                 summary=f"{subject_id} v{new_version} = v{version}",
                 detail={"note": full_note, "from_version": version, "replaced_version": newest,
                         "new_version": new_version, "deployment": result.deployment.id, "file": filename,
                         "versions": [{"kind": k, "id": i, "version": v} for k, i, v in created]})
    return result


# --- export ---------------------------------------------------------------------------------------

def bundle_path(artifact: Artifact) -> str:
    """Where a deployed file lives in the repository: BPMN and DMN in processes/, forms in forms/."""
    folder = "forms" if artifact.kind == ArtifactKind.form else "processes"
    return f"{folder}/{artifact.filename}"


def _zip(artifacts: list[Artifact], readme: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for art in sorted(artifacts, key=bundle_path):
            info = zipfile.ZipInfo(bundle_path(art), date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, art.content.encode("utf-8"))
        info = zipfile.ZipInfo("EXPORT.txt", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        archive.writestr(info, readme.encode("utf-8"))
    return buffer.getvalue()


def _who(session: Session, deployment: Deployment) -> str:
    user = session.get(User, deployment.created_by_id) if deployment.created_by_id else None
    return user.username if user else deployment.source or "system"


def export_version(session: Session, kind: str, subject_id: str, version: int) -> tuple[str, bytes]:
    """A zip of the files of the deployment that published this version, and a file name for it."""
    info = get_version(session, kind, subject_id, version)
    deployment = session.get(Deployment, info.deployment_id)
    artifacts = list(session.scalars(select(Artifact).where(Artifact.deployment_id == info.deployment_id)))
    readme = "\n".join([
        f"OneStop export: {kind} {subject_id} version {version}",
        f"deployment {deployment.id}, published {local_iso(deployment.created_at)} by {_who(session, deployment)}",
        f"note: {deployment.note or '-'}",
        "",
        "Publish these files again with:  onestop deploy processes forms",
        "",
        *[f"{bundle_path(a)}  sha256 {a.sha256}" for a in sorted(artifacts, key=bundle_path)],
        "",
    ])
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in subject_id)
    return f"{kind}-{safe}-v{version}.zip", _zip(artifacts, readme)


def newest_artifacts(session: Session) -> list[tuple[str, str, int, Artifact]]:
    """The newest version of every process, decision and form: (kind, id, version, its file), one file per name."""
    found: list[tuple[str, str, int, Artifact]] = []
    for kind in KINDS:
        model, key = _model(kind)
        newest = select(key.label("k"), func.max(model.version).label("v")).group_by(key).subquery()
        rows = session.scalars(select(model).join(newest, (key == newest.c.k) & (model.version == newest.c.v))
                               .order_by(key))
        for row in rows:
            subject = row.process_id if kind == "process" else row.decision_id if kind == "decision" else row.filename
            found.append((kind, subject, row.version, row.artifact))
    return found


def export_latest(session: Session) -> tuple[str, bytes]:
    """A zip of the newest text of every deployed file: a bundle `onestop deploy processes forms` accepts.

    When two subjects' newest versions sit in different texts of one file name, the newer text wins.
    """
    by_name: dict[str, Artifact] = {}
    lines = []
    for kind, subject, version, art in newest_artifacts(session):
        lines.append(f"{kind} {subject} v{version}  ({bundle_path(art)}, deployment {art.deployment_id})")
        if art.filename not in by_name or by_name[art.filename].id < art.id:
            by_name[art.filename] = art
    readme = "\n".join(["OneStop export: the newest version of every process, decision and form", "",
                        "Publish them with:  onestop deploy processes forms", "", *lines, ""])
    return "onestop-latest.zip", _zip(list(by_name.values()), readme)
