"""Org units, departments and users: creation, passwords, lookups and data scope."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import String, bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from app.db import RowSelect, json_array_has, select_rows
from app.errors import Conflict, InvalidInput, NotFound
from app.org.models import Department, OrgLevel, OrgUnit, Role, User

_hasher = PasswordHasher()
#: a hash to verify against when the user does not exist, so timing does not reveal usernames
_DUMMY_HASH = _hasher.hash("onestop-no-such-user")

_PARENT_LEVEL = {OrgLevel.township: OrgLevel.county, OrgLevel.village: OrgLevel.township}


def hash_password(password: str) -> str:
    """Hash a password with argon2."""
    return _hasher.hash(password)


def create_org_unit(session: Session, *, code: str, name: str, level: str, parent: OrgUnit | None = None) -> OrgUnit:
    """Add a county, township or village; a township hangs under a county, a village under a township."""
    try:
        lvl = OrgLevel(level)
    except ValueError:
        raise InvalidInput("unknown level", fields={"level": "must be county, township or village"}) from None
    expected = _PARENT_LEVEL.get(lvl)
    if expected is not None and (parent is None or parent.level != expected):
        raise InvalidInput(f"a {lvl} belongs under a {expected}", fields={"parent": f"must be a {expected}"})
    if lvl == OrgLevel.county and parent is not None:
        raise InvalidInput("a county has no parent", fields={"parent": "must be empty for a county"})
    if session.scalar(select(OrgUnit.id).where(OrgUnit.code == code)) is not None:
        raise Conflict(f"org unit {code} exists", fields={"code": "already taken"})
    unit = OrgUnit(code=code, name=name, level=lvl, parent=parent)
    session.add(unit)
    session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    session.flush()
    return unit


def create_department(session: Session, *, code: str, name: str, org_unit: OrgUnit,
                      kind: str = "department") -> Department:
    """Add a department (or mediation committee, or service) of an org unit."""
    if session.scalar(select(Department.id).where(Department.code == code)) is not None:
        raise Conflict(f"department {code} exists", fields={"code": "already taken"})
    dept = Department(code=code, name=name, org_unit=org_unit, kind=kind)
    session.add(dept)
    session.flush()
    return dept


#: built once: every case created looks its place up
_ORG_UNIT_BY_CODE = RowSelect(select(OrgUnit.__table__).where(OrgUnit.code == bindparam("code")), OrgUnit)


def org_unit_read(code: str) -> tuple[RowSelect, dict[str, Any]]:
    """The read of `get_org_unit(code)`, for a request to send it ahead (`app.db.read_ahead`)."""
    return _ORG_UNIT_BY_CODE, {"code": code}


def get_org_unit(session: Session, code: str) -> OrgUnit:
    """Find an org unit by code or raise NotFound."""
    found = select_rows(session, org_unit_read(code))[0]
    if not found:
        raise NotFound(f"no org unit {code}")
    return found[0][0]


def get_department(session: Session, code: str) -> Department:
    """Find a department by code or raise NotFound."""
    dept = session.scalar(select(Department).where(Department.code == code))
    if dept is None:
        raise NotFound(f"no department {code}")
    return dept


def county_of(unit: OrgUnit) -> OrgUnit:
    """The county an org unit belongs to (itself for a county)."""
    current = unit
    while current.parent is not None and current.level != OrgLevel.county:
        current = current.parent
    return current


def create_user(session: Session, *, username: str, password: str, roles: Iterable[str], org_unit: OrgUnit,
                department: Department | None = None, display_name: str = "") -> User:
    """Add a user with roles within an org unit (and optionally a department)."""
    errors: dict[str, str] = {}
    username = (username or "").strip()
    if not username or len(username) > 64:
        errors["username"] = "required, at most 64 characters"
    if not password or len(password) < 8:
        errors["password"] = "at least 8 characters"
    role_list = list(dict.fromkeys(roles))
    unknown = [r for r in role_list if r not in Role.__members__]
    if not role_list or unknown:
        errors["roles"] = f"unknown roles: {', '.join(unknown)}" if unknown else "at least one role"
    if Role.department in role_list and department is None:
        errors["department"] = "department staff need a department"
    if errors:
        raise InvalidInput("the user is not valid", fields=errors)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username} exists", fields={"username": "already taken"})
    user = User(username=username, password_hash=hash_password(password), roles=role_list, org_unit=org_unit,
                department=department, display_name=display_name or username)
    session.add(user)
    session.flush()
    return user


_USERS, _UNITS, _DEPARTMENTS = User.__table__, OrgUnit.__table__, Department.__table__
#: a user with their place and department, as every request starts (built once)
_USER = RowSelect(select(_USERS, _UNITS, _DEPARTMENTS).join(_UNITS, _UNITS.c.id == _USERS.c.org_unit_id)
                  .outerjoin(_DEPARTMENTS, _DEPARTMENTS.c.id == _USERS.c.department_id)
                  .where(_USERS.c.id == bindparam("user_id")), User, OrgUnit, Department)


def load_user(session: Session, user_id: int) -> User | None:
    """The user with this id, with their place and department (None if there is none): the one the
    session holds, else read in one query."""
    held = session.identity_map.get(identity_key(User, user_id))
    if held is not None:
        return held
    found = select_rows(session, (_USER, {"user_id": user_id}))[0]
    return found[0][0] if found else None


def authenticate(session: Session, username: str, password: str) -> User | None:
    """Return the active user whose password matches, else None."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password or "")
        return None
    try:
        _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return None
    return user


#: roles that see every case of their org unit's subtree; department and service staff see only
#: the cases dispatched to their department
AREA_ROLES = (Role.receiver, Role.mediator, Role.leader, Role.designer, Role.admin)


def sees_area(user: User) -> bool:
    """True when the user sees cases by place (not only those dispatched to their department)."""
    return user.has_role(*AREA_ROLES)


def people_for(session: Session, unit: OrgUnit, role: str | None = None,
               usernames: Iterable[str] | None = None) -> list[User]:
    """The active users a form may name for a case of `unit` (a person field, `format: username`):
    those of `unit` or a unit above it, with `role` when one is given, by name; `usernames`: only
    those (to check what a form sent)."""
    query = select(User).where(User.active.is_(True), User.org_unit_id.in_(unit.lineage_ids))
    if role is not None:
        query = query.where(json_array_has(User.roles, bindparam("role", role, type_=String)))
    if usernames is not None:
        query = query.where(User.username.in_(list(usernames)))
    return list(session.scalars(query.order_by(User.display_name, User.username)))


def can_see_org_unit(user: User, unit: OrgUnit) -> bool:
    """A village sees its own cases, a township its villages', the county all below it."""
    return unit.path.startswith(user.org_unit.path)
