"""Open311 GeoReport v2 semantics on top of cases: services are the case categories, service requests are
cases filed through the `open311` channel, and a key only ever sees the requests it filed itself."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.cases import queries
from app.cases.models import CaseStatus, MediationCase
from app.cases.service import Intake, create_case, parse_intake
from app.errors import BadRequest, InvalidInput, NotAuthenticated, NotFound
from app.open311.models import ApiKey
from app.org.models import OrgUnit, User
from app.timeutil import local_iso, parse_iso

KEY_PREFIX = "os311_"
#: how many requests one GET /requests answers at most, and its default window (as the spec suggests)
MAX_RESULTS = 1000
DEFAULT_WINDOW = timedelta(days=90)
URGENCIES = {"normal": ("普通", "normal"), "urgent": ("紧急", "urgent")}


# --- keys -----------------------------------------------------------------------------------------

def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, user: User, name: str) -> tuple[ApiKey, str]:
    """A new key acting as `user`; returns the row and the key text, which is shown once and not stored."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("the key needs a name", fields={"name": "1 to 100 characters"})
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    row = ApiKey(name=name, prefix=key[: len(KEY_PREFIX) + 8], key_hash=_digest(key), user_id=user.id,
                 created_at=clock.now())
    session.add(row)
    session.flush()
    return row, key


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, prefix: str) -> ApiKey:
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None:
        raise NotFound(f"no API key {prefix}")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
    return row


def authenticate_key(session: Session, key: str | None) -> User:
    """The user an API key acts as; NotAuthenticated for a missing, unknown or revoked key or inactive user."""
    if not key:
        raise NotAuthenticated("api_key is required")
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == _digest(key)))
    if row is None or row.revoked_at is not None or not row.user.active:
        raise NotAuthenticated("api_key is not valid")
    row.last_used_at = clock.now()
    return row.user


# --- services -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Service:
    code: str
    name: str
    description: str


def services(session: Session) -> list[Service]:
    """One service per case category of the newest intake form."""
    return [Service(c.code, c.zh, c.en) for c in queries.catalogue(session)]


def service(session: Session, code: str) -> Service:
    for item in services(session):
        if item.code == code:
            return item
    raise NotFound(f"service_code {code} not found")


def service_definition(session: Session, code: str) -> dict[str, Any]:
    """The extra attributes a request of this service may carry (GeoReport's service definition)."""
    service(session, code)
    return {
        "service_code": code,
        "attributes": [
            {"variable": True, "code": "title", "datatype": "string", "required": False, "order": 1,
             "datatype_description": "至多300字；缺省取描述的第一句", "description": "事项标题 Title of the case"},
            {"variable": True, "code": "urgency", "datatype": "singlevaluelist", "required": False, "order": 2,
             "datatype_description": "", "description": "紧急程度 Urgency",
             "values": [{"key": k, "name": f"{zh} {en}"} for k, (zh, en) in URGENCIES.items()]},
        ],
    }


# --- requests -------------------------------------------------------------------------------------

def _title_from(description: str) -> str:
    first = description.strip().splitlines()[0] if description.strip() else ""
    for mark in "。！？!?；;":
        first = first.split(mark)[0]
    return first[:30] or description.strip()[:30]


#: OneStop's intake field names → the GeoReport field a client sent
GEOREPORT_FIELDS = {"citizen.phone": "phone", "citizen.name": "first_name", "location.address": "address_string",
                    "location.org_unit": "address_id", "category": "service_code", "urgency": "attribute[urgency]",
                    "title": "attribute[title]"}


def _in_georeport_terms(exc: InvalidInput) -> InvalidInput:
    """The same error, naming the fields the client sent rather than OneStop's."""
    return InvalidInput(exc.message, fields={GEOREPORT_FIELDS.get(k, k): v for k, v in exc.fields.items()})


def intake_from_request(session: Session, user: User, form: dict[str, str]) -> tuple[Intake, dict[str, Any]]:
    """Map GeoReport POST fields onto OneStop's intake; extra facts (coordinates, media) become case data."""
    errors: dict[str, str] = {}
    code = (form.get("service_code") or "").strip()
    if not code:
        errors["service_code"] = "required"
    elif code not in {s.code for s in services(session)}:
        errors["service_code"] = "unknown service_code; see GET services"
    description = (form.get("description") or "").strip()
    name = ((form.get("last_name") or "").strip() + (form.get("first_name") or "").strip())
    if not name:
        errors["first_name"] = "the citizen's name is required (last_name and/or first_name)"
    place = (form.get("address_id") or "").strip() or user.org_unit.code
    geo: dict[str, float] = {}
    for key in ("lat", "long"):
        raw = (form.get(key) or "").strip()
        if raw:
            try:
                geo[key] = float(raw)
            except ValueError:
                errors[key] = "must be a decimal number"
    if "lat" in geo and not -90 <= geo["lat"] <= 90:
        errors["lat"] = "must be between -90 and 90"
    if "long" in geo and not -180 <= geo["long"] <= 180:
        errors["long"] = "must be between -180 and 180"
    if errors:
        raise InvalidInput("the service request is not valid", fields=errors)
    payload = {
        "title": (form.get("attribute[title]") or "").strip() or _title_from(description),
        "description": description,
        "category": code,
        "urgency": (form.get("attribute[urgency]") or "normal").strip(),
        "channel": "open311",
        "citizen": {"name": name, "phone": (form.get("phone") or "").strip()},
        "location": {"org_unit": place, "address": (form.get("address_string") or "").strip()},
    }
    try:
        intake = parse_intake(payload)
    except InvalidInput as exc:
        if "description" in exc.fields and not (form.get("attribute[title]") or "").strip():
            exc.fields.pop("title", None)  # the title was to come from the description: one error, not two
        raise _in_georeport_terms(exc) from None
    extra = {k: form[k].strip() for k in ("email", "device_id", "account_id", "media_url")
             if (form.get(k) or "").strip()}
    data: dict[str, Any] = {}
    if geo or extra:
        data["open311"] = {**extra, **({"geo": geo} if geo else {})}
    return intake, data


def file_request(session: Session, user: User, form: dict[str, str]) -> MediationCase:
    """POST requests: file a case through the `open311` channel, run to its first task, as the key's user."""
    intake, data = intake_from_request(session, user, form)
    try:
        return create_case(session, user, intake, data=data or None)
    except InvalidInput as exc:
        raise _in_georeport_terms(exc) from None


def _parse_date(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    moment = parse_iso(value)
    if moment is None:
        raise BadRequest(f"{name} is not an ISO 8601 time", fields={name: "e.g. 2026-11-01T00:00:00+08:00"})
    return moment


def find_requests(session: Session, user: User, args: dict[str, str]) -> list[MediationCase]:
    """GET requests: the key's own requests, by ids or by code/status/date window (newest first)."""
    query = select(MediationCase).where(MediationCase.created_by_id == user.id,
                                        MediationCase.channel == "open311")
    ids = [i.strip() for i in (args.get("service_request_id") or "").split(",") if i.strip()]
    if ids:
        query = query.where(MediationCase.case_no.in_(ids[:MAX_RESULTS]))
    else:
        end = _parse_date("end_date", args.get("end_date")) or clock.now()
        start = _parse_date("start_date", args.get("start_date")) or end - DEFAULT_WINDOW
        if start > end:
            raise BadRequest("start_date is after end_date", fields={"start_date": "must be before end_date"})
        query = query.where(MediationCase.created_at >= start, MediationCase.created_at <= end)
        codes = [c.strip() for c in (args.get("service_code") or "").split(",") if c.strip()]
        if codes:
            query = query.where(MediationCase.category.in_(codes))
        statuses = [s.strip() for s in (args.get("status") or "").split(",") if s.strip()]
        bad = [s for s in statuses if s not in ("open", "closed")]
        if bad:
            raise BadRequest("unknown status", fields={"status": "open, closed or both, comma-separated"})
        if statuses:
            query = query.where(MediationCase.status.in_(statuses))
    query = query.order_by(MediationCase.created_at.desc(), MediationCase.id.desc()).limit(MAX_RESULTS)
    return list(session.scalars(query))


def get_request(session: Session, user: User, case_no: str) -> MediationCase:
    case = session.scalar(select(MediationCase).where(MediationCase.case_no == case_no,
                                                      MediationCase.created_by_id == user.id,
                                                      MediationCase.channel == "open311"))
    if case is None:
        raise NotFound(f"service request {case_no} not found")
    return case


def label_names(session: Session) -> dict[str, str]:
    """Service names by code and department names under "dept:<code>", read once per answer."""
    names = {s.code: s.name for s in services(session)}
    names.update({f"dept:{code}": name for code, name in queries.department_names(session).items()})
    return names


def describe(case: MediationCase, status_notes: str, names: dict[str, str]) -> dict[str, Any]:
    """One service request as GeoReport fields (no citizen data beyond what the key filed)."""
    expected = case.deadline_reply or case.deadline_accept
    unit: OrgUnit = case.org_unit
    return {
        "service_request_id": case.case_no,
        "status": "closed" if case.status == CaseStatus.closed else "open",
        "status_notes": status_notes,
        "service_name": names.get(case.category or "", case.category or ""),
        "service_code": case.category or "",
        "description": case.description,
        "agency_responsible": names.get(f"dept:{case.lead_department}") or unit.name,
        "service_notice": "",
        "requested_datetime": local_iso(case.created_at),
        "updated_datetime": local_iso(case.updated_at),
        "expected_datetime": local_iso(expected) if expected else "",
        "address": case.address,
        "address_id": unit.code,
        "zipcode": "",
        "media_url": "",
    }
