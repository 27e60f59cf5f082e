"""Deployments: immutable, versioned BPMN processes, DMN decisions and forms."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, utcnow_column_default


class ArtifactKind(enum.StrEnum):
    bpmn = "bpmn"
    dmn = "dmn"
    form = "form"


class Deployment(Base):
    """One publish: a bundle of files that became new versions together."""

    __tablename__ = "deployment"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow_column_default)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(32), default="api")


class Artifact(Base):
    """The text of one deployed file; never changed after it is written."""

    __tablename__ = "artifact"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"), index=True)
    kind: Mapped[ArtifactKind] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))


class ProcessVersion(Base):
    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("process_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(255), default="")
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"), index=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifact.id"))
    #: process ids this process calls and decision ids it evaluates (resolved at case start)
    calls: Mapped[list[Any]] = mapped_column(default=list)
    decisions: Mapped[list[Any]] = mapped_column(default=list)
    forms: Mapped[list[Any]] = mapped_column(default=list)
    executable: Mapped[bool] = mapped_column(default=True)

    deployment: Mapped[Deployment] = relationship()
    artifact: Mapped[Artifact] = relationship()


class DecisionVersion(Base):
    __tablename__ = "decision_version"
    __table_args__ = (UniqueConstraint("decision_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(255), default="")
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"), index=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifact.id"))

    deployment: Mapped[Deployment] = relationship()
    artifact: Mapped[Artifact] = relationship()


class FormVersion(Base):
    __tablename__ = "form_version"
    __table_args__ = (UniqueConstraint("filename", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int]
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"), index=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifact.id"))

    deployment: Mapped[Deployment] = relationship()
    artifact: Mapped[Artifact] = relationship()


class RuntimeSpec(Base):
    """The exact set of files a case runs on: its process version plus the called processes,
    decisions and forms that were newest when it started. Cases pin one; specs are cached by id."""

    __tablename__ = "runtime_spec"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"), index=True)
    #: sha256 over the sorted artifact ids, so equal pins share one row
    key: Mapped[str] = mapped_column(String(64), unique=True)
    artifact_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow_column_default)

    process_version: Mapped[ProcessVersion] = relationship()
