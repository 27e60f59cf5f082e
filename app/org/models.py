"""Org units (county, township, village), departments and the people who use OneStop."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, utcnow_column_default


class OrgLevel(enum.StrEnum):
    county = "county"
    township = "township"
    village = "village"


class Role(enum.StrEnum):
    """Role codes; the first five are also lane names in BPMN diagrams."""

    receiver = "receiver"
    mediator = "mediator"
    department = "department"
    service = "service"
    leader = "leader"
    designer = "designer"
    admin = "admin"


#: roles a BPMN lane may name
LANE_ROLES = frozenset({Role.receiver, Role.mediator, Role.department, Role.service, Role.leader})


def path_ids(path: str | None) -> list[int]:
    """The ids an org unit's materialized path names, from the top down to the unit itself
    ("/1/4/9/" -> [1, 4, 9])."""
    return [int(part) for part in (path or "").strip("/").split("/") if part]


class OrgUnit(Base):
    __tablename__ = "org_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[OrgLevel] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    #: materialized path of ancestor ids, "/1/4/9/", for "this unit and everything below it"
    path: Mapped[str] = mapped_column(String(400), index=True, default="/")

    parent: Mapped[OrgUnit | None] = relationship(remote_side=[id])

    @property
    def lineage_ids(self) -> list[int]:
        """The ids of the units this one lies in, from the top, and its own last."""
        return path_ids(self.path)

    def is_within(self, other: OrgUnit) -> bool:
        """True when this unit is `other` or lies below it."""
        return self.path.startswith(other.path)


class Department(Base):
    __tablename__ = "department"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: kind: "department", "committee" (professional mediation committee) or "service"
    kind: Mapped[str] = mapped_column(String(32), default="department")
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)

    org_unit: Mapped[OrgUnit] = relationship()


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    #: mobile number for SMS notifications (optional)
    phone: Mapped[str | None] = mapped_column(String(32))
    roles: Mapped[list[Any]] = mapped_column(default=list)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow_column_default)
    #: failed logins in a row, and until when the account is locked after too many
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    #: preferred UI language ("zh" or "en")
    locale: Mapped[str] = mapped_column(String(8), default="zh")

    org_unit: Mapped[OrgUnit] = relationship(lazy="joined")
    department: Mapped[Department | None] = relationship(lazy="joined")

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    @property
    def is_admin(self) -> bool:
        return Role.admin in self.roles
