"""Save, read, discard and publish drafts; who may publish what.

Publishing hands the drafts to `deploy_bundle`, so the studio and `onestop deploy` validate alike and a
bundle with any problem publishes nothing (the drafts stay). Every publish is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.errors import Forbidden, InvalidInput, NotFound
from app.org.models import User
from app.processes.models import Artifact, ArtifactKind
from app.processes.service import MAX_FILE_BYTES, DeployResult, artifact_kind, deploy_bundle, record_publish
from app.studio.models import Draft

#: who may publish each kind of file: designers everything, leaders decision tables too
PUBLISHERS: dict[ArtifactKind, frozenset[str]] = {
    ArtifactKind.bpmn: frozenset({"designer", "admin"}),
    ArtifactKind.form: frozenset({"designer", "admin"}),
    ArtifactKind.dmn: frozenset({"designer", "leader", "admin"}),
}


def can_edit(user: User, filename: str) -> bool:
    """Whether the user may save drafts of and publish this file (everyone else gets read-only views)."""
    kind = artifact_kind(filename)
    return kind is not None and bool(PUBLISHERS[kind] & set(user.roles or ()))


def _require_edit(user: User, filename: str) -> ArtifactKind:
    kind = artifact_kind(filename)
    if kind is None:
        raise InvalidInput("unknown file type", fields={"filename": "use .bpmn, .dmn or .json"})
    if not can_edit(user, filename):
        raise Forbidden(f"you may not change {filename}")
    return kind


def published_artifact(session: Session, filename: str) -> Artifact | None:
    """The newest published text of a file name (a process, decision or form file), or None."""
    query = (select(Artifact).where(Artifact.filename == filename)
             .order_by(Artifact.deployment_id.desc(), Artifact.id.desc()).limit(1))
    return session.scalar(query)


def get_draft(session: Session, filename: str) -> Draft | None:
    return session.scalar(select(Draft).where(Draft.filename == filename))


def list_drafts(session: Session) -> list[Draft]:
    return list(session.scalars(select(Draft).order_by(Draft.filename)))


def current_text(session: Session, filename: str) -> tuple[str, bool]:
    """What the editor opens: (the draft's text, True) if there is one, else (the newest published, False)."""
    draft = get_draft(session, filename)
    if draft is not None:
        return draft.content, True
    art = published_artifact(session, filename)
    if art is None:
        raise NotFound(f"no file named {filename}")
    return art.content, False


def save_draft(session: Session, actor: User, filename: str, content: str) -> Draft:
    """Keep an edit without publishing it; checks only that the text is storable, not that it is valid."""
    kind = _require_edit(actor, filename)
    if "/" in filename or "\\" in filename or filename.startswith("."):
        raise InvalidInput("bad file name", fields={"filename": "a plain file name such as mediation.bpmn"})
    if len(content.encode("utf-8")) > MAX_FILE_BYTES:
        raise InvalidInput("file too large", fields={"content": f"at most {MAX_FILE_BYTES // (1024 * 1024)} MB"})
    draft = get_draft(session, filename)
    if draft is None:
        art = published_artifact(session, filename)
        draft = Draft(filename=filename, kind=kind.value, base_sha256=art.sha256 if art is not None else "")
        session.add(draft)
    draft.content = content
    draft.updated_by_id = actor.id
    draft.updated_at = clock.now()
    session.flush()
    return draft


def discard_draft(session: Session, actor: User, filename: str) -> None:
    _require_edit(actor, filename)
    draft = get_draft(session, filename)
    if draft is None:
        raise NotFound(f"no draft of {filename}")
    session.delete(draft)
    session.flush()


def stale(session: Session, draft: Draft) -> bool:
    """True when someone published the file after this draft was started (the publish would overwrite it)."""
    art = published_artifact(session, draft.filename)
    return art is not None and art.sha256 != draft.base_sha256


def publish(session: Session, actor: User, filenames: Iterable[str], *, note: str = "",
            action: str = "publish") -> DeployResult:
    """Publish the named drafts as one bundle; nothing is published (and the drafts stay) if any file fails."""
    names = sorted(set(filenames))
    if not names:
        raise InvalidInput("nothing to publish", fields={"files": "choose at least one draft"})
    drafts = {d.filename: d for d in session.scalars(select(Draft).where(Draft.filename.in_(names)))}
    missing = [n for n in names if n not in drafts]
    if missing:
        raise InvalidInput("no draft of some files", fields={n: "no draft to publish" for n in missing})
    for name in names:
        _require_edit(actor, name)
    result = deploy_bundle(session, {n: d.content.encode("utf-8") for n, d in drafts.items()},
                           actor=actor, note=note, source="studio")
    for draft in drafts.values():
        session.delete(draft)
    record_publish(session, actor, result, action=action, note=note)
    return result
