"""Write and read the audit log. Callers pass their session so the entry commits with the action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.audit.models import AuditEntry
from app.org.models import User


def record(session: Session, actor: User | None, action: str, subject_kind: str, subject_id: str, *,
           summary: str = "", detail: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry in the caller's transaction (an action rolled back leaves no entry)."""
    entry = AuditEntry(at=clock.now(), actor_id=actor.id if actor is not None else None, action=action,
                       subject_kind=subject_kind, subject_id=str(subject_id), summary=summary,
                       detail=detail or {})
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    subject_kind: str = ""
    subject_id: str = ""
    limit: int = 200


def list_entries(session: Session, filters: AuditFilters | None = None) -> list[tuple[AuditEntry, User | None]]:
    """Newest first, with the acting user (None for the system)."""
    filters = filters or AuditFilters()
    query = select(AuditEntry, User).outerjoin(User, User.id == AuditEntry.actor_id)
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.subject_kind:
        query = query.where(AuditEntry.subject_kind == filters.subject_kind)
    if filters.subject_id:
        query = query.where(AuditEntry.subject_id == filters.subject_id)
    query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(max(1, min(filters.limit, 1000)))
    return [(entry, user) for entry, user in session.execute(query).all()]
