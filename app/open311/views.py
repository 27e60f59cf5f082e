"""The GeoReport v2 endpoints, in JSON and XML (`.json` / `.xml` on every resource, as the spec asks).

Errors follow the spec: a list of `{code, description}` with 400 (bad or missing fields, one entry per
field), 403 (missing or invalid api_key) or 404 (unknown service, request or jurisdiction).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from app.cases.models import CaseStatus, MediationCase
from app.cases.queries import variables
from app.errors import DomainError, InvalidInput, NotAuthenticated, NotFound
from app.open311 import service
from app.org.models import OrgUnit, User

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
#: the element name of one item inside each XML list
XML_ITEMS = {"services": "service", "service_requests": "request", "attributes": "attribute", "values": "value",
             "endpoints": "endpoint", "formats": "format", "errors": "error"}


def _xml(tag: str, value: Any) -> ET.Element:
    element = ET.Element(tag)
    if isinstance(value, dict):
        for key, item in value.items():
            element.append(_xml(key, item))
    elif isinstance(value, list):
        for item in value:
            element.append(_xml(XML_ITEMS.get(tag, "item"), item))
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)
    return element


def render(fmt: str, root: str, body: Any, status: int = 200) -> Response:
    """The same answer as JSON or as XML with a UTF-8 declaration; `root` names the XML root element."""
    if fmt == "xml":
        text = ET.tostring(_xml(root, body), encoding="unicode")
        return Response('<?xml version="1.0" encoding="UTF-8"?>\n' + text, status=status, mimetype="text/xml",
                        content_type=FORMATS["xml"])
    response = jsonify(body)
    response.status_code = status
    return response


def errors(fmt: str, exc: DomainError) -> Response:
    status = {NotAuthenticated: 403, NotFound: 404, InvalidInput: 400}.get(type(exc), exc.status)
    items = [{"code": status, "description": f"{field}: {message}"} for field, message in exc.fields.items()]
    return render(fmt, "errors", items or [{"code": status, "description": exc.message}], status)


def http_error(exc: HTTPException) -> Response:
    """An HTTP error of a GeoReport address no route answered (an unknown path, a wrong method), in the
    format its suffix asks for."""
    fmt = "xml" if request.path.endswith(".xml") else "json"
    status = exc.code or 500
    return render(fmt, "errors", [{"code": status, "description": exc.description or exc.name}], status)


@contextmanager
def _session(*, write: bool = False) -> Iterator[Session]:
    with current_app.extensions["onestop.db"].unit_of_work(write=write) as session:
        yield session


def _check_jurisdiction(session: Session) -> None:
    """A given jurisdiction_id must be one of our counties (one server may serve several)."""
    wanted = (request.values.get("jurisdiction_id") or "").strip()
    if wanted and session.scalar(select(OrgUnit.id).where(OrgUnit.code == wanted, OrgUnit.level == "county")) is None:
        raise NotFound(f"jurisdiction_id {wanted} not found")


def endpoint(view: Callable[..., tuple[str, Any] | tuple[str, Any, int]]) -> Callable[..., Response]:
    """Check the format suffix, turn domain errors into GeoReport errors."""

    def wrapper(fmt: str, **kwargs: Any) -> Response:
        if fmt not in FORMATS:
            return render("json", "errors", [{"code": 404, "description": "use .json or .xml"}], 404)
        try:
            root, body, *status = view(**kwargs)
        except DomainError as exc:
            return errors(fmt, exc)
        return render(fmt, root, body, *status)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def _key_user(session: Session) -> User:
    return service.authenticate_key(session, request.values.get("api_key") or request.headers.get("X-Api-Key"))


@bp.get("/discovery.<fmt>")
@endpoint
def discovery() -> tuple[str, Any]:
    """Service discovery: where this GeoReport v2 endpoint is and what it speaks."""
    base = url_for("open311.discovery", fmt="json", _external=True).rsplit("/", 1)[0]
    return "discovery", {
        "changeset": "2026-11-23T00:00:00+08:00",
        "contact": "县社会治理中心 County social-governance center",
        "key_service": "向县社会治理中心管理员申请 API key (onestop apikeys create)",
        "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2", "url": base,
                       "changeset": "2026-11-23T00:00:00+08:00", "type": "production",
                       "formats": ["application/json", "text/xml"]}],
    }


@bp.get("/services.<fmt>")
@endpoint
def services() -> tuple[str, Any]:
    """The case categories as GeoReport services (public, no key)."""
    with _session() as session:
        _check_jurisdiction(session)
        return "services", [
            {"service_code": s.code, "service_name": s.name, "description": s.description, "metadata": True,
             "type": "realtime", "keywords": "", "group": "矛盾纠纷"} for s in service.services(session)]


@bp.get("/services/<code>.<fmt>")
@endpoint
def service_definition(code: str) -> tuple[str, Any]:
    with _session() as session:
        _check_jurisdiction(session)
        return "service_definition", service.service_definition(session, code)


def _notes(session: Session, case: MediationCase) -> str:
    from app.web.track import citizen_stage

    outcome = variables(session, case).get("outcome") if case.status == CaseStatus.closed else None
    return citizen_stage(case, outcome)


@bp.post("/requests.<fmt>")
@endpoint
def create_request() -> tuple[str, Any, int]:
    """File a case (channel open311) as the key's user; answers its number at once (realtime)."""
    form = {k: v for k, v in (request.get_json(silent=True) or request.form).items() if isinstance(v, str)}
    with _session(write=True) as session:
        _check_jurisdiction(session)
        user = _key_user(session)
        case = service.file_request(session, user, form)
        notice = f"已登记，事项编号 {case.case_no}；按规定 1 个工作日内受理。"
        return "service_requests", [{"service_request_id": case.case_no, "service_notice": notice,
                                     "account_id": form.get("account_id", "")}], 201


@bp.get("/requests.<fmt>")
@endpoint
def list_requests() -> tuple[str, Any]:
    """The key's own requests (by ids, or filtered by service_code, status and a date window)."""
    with _session(write=True) as session:
        _check_jurisdiction(session)
        user = _key_user(session)
        names = service.label_names(session)
        cases = service.find_requests(session, user, dict(request.args))
        return "service_requests", [service.describe(c, _notes(session, c), names) for c in cases]


@bp.get("/requests/<case_no>.<fmt>")
@endpoint
def get_request(case_no: str) -> tuple[str, Any]:
    with _session(write=True) as session:
        _check_jurisdiction(session)
        user = _key_user(session)
        case = service.get_request(session, user, case_no)
        return "service_requests", [service.describe(case, _notes(session, case), service.label_names(session))]
