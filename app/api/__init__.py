"""The JSON API under /api/v1: one blueprint, bearer-token auth, one error format.

Errors are `{"error": code, "message": text, "fields": {name: message}}` with 400/401/403/404/409/422.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, current_app, g, jsonify, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from app.db import Database, read_ahead
from app.errors import BadRequest, DomainError, Forbidden, NotAuthenticated
from app.org.models import User
from app.org.service import load_user

bp = Blueprint("api", __name__, url_prefix="/api/v1")

F = TypeVar("F", bound=Callable[..., Any])


def error_response(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> Any:
    response = jsonify({"error": code, "message": message, "fields": fields or {}})
    response.status_code = status
    return response


def _too_large() -> str:
    """The body limit of this request (the app's, or the one a view that takes files set), in words."""
    return f"the request is larger than {(request.max_content_length or 0) // (1024 * 1024)} MB"


@bp.before_request
def _refuse_large_bodies() -> Any:
    """Refuse an oversized body from its Content-Length, before any of it is read."""
    limit = request.max_content_length
    if request.content_length is not None and limit and request.content_length > limit:
        return error_response(413, "too_large", _too_large())
    return None


@bp.before_request
def _adopt_test_clock() -> None:
    """Testing only: every worker follows the test clock another worker may have moved."""
    if current_app.config["ONESTOP"].testing:
        from app.scheduler.service import adopt_clock

        adopt_clock(database())


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Any:
    return error_response(exc.status, exc.code, exc.message, exc.fields)


def error_code(status: int) -> str:
    """The `error` code of an answer with this HTTP status."""
    return {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
            409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid"}.get(status, "error")


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Any:
    """An HTTP error as the API's JSON (also for /api/ addresses no route answers)."""
    status = exc.code or 500
    return error_response(status, error_code(status), _too_large() if status == 413 else exc.description or exc.name)


def database() -> Database:
    return current_app.extensions["onestop.db"]


@contextmanager
def unit_of_work(*, write: bool = True) -> Iterator[Session]:
    """The request's one transaction, with the authenticated user re-attached to it."""
    with database().unit_of_work(write=write) as session:
        g.session = session
        try:
            yield session
        finally:
            g.pop("session", None)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="onestop-api-token")


def issue_token(user: User) -> str:
    return _serializer().dumps({"uid": user.id, "pw": user.password_hash[-12:]})


def _user_from_token(session: Session) -> User:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise NotAuthenticated("log in first: send Authorization: Bearer <token>")
    token = header[len("Bearer "):].strip()
    try:
        payload = _serializer().loads(token, max_age=current_app.config["ONESTOP"].token_max_age)
    except SignatureExpired:
        raise NotAuthenticated("the token has expired; log in again") from None
    except BadSignature:
        raise NotAuthenticated("the token is not valid") from None
    uid = payload.get("uid") if isinstance(payload, dict) else None
    user = load_user(session, uid) if isinstance(uid, int) else None
    # a changed password invalidates earlier tokens
    if user is None or not user.active or user.password_hash[-12:] != payload.get("pw"):
        raise NotAuthenticated("the token is not valid")
    return user


def current_user(session: Session) -> User:
    """The user the request's bearer token names (401 otherwise)."""
    return _user_from_token(session)


def require_roles(user: User, *roles: str) -> None:
    if not user.is_admin and not user.has_role(*roles):
        raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")


def json_body() -> dict[str, Any]:
    """The request's JSON object body, or 400 with a clear message."""
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest("the body must be JSON (Content-Type: application/json)", fields={"body": "invalid JSON"})
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", fields={"body": "expected an object"})
    return data


def with_user(write: bool = True, ahead: Callable[..., list[Any]] | None = None) -> Callable[[F], F]:
    """Run the view inside one unit of work with the authenticated user as its first argument.

    `ahead`: called with the view's URL arguments, the reads the view will make first, read with the
    user in one round trip (`app.db.read_ahead`); the user is checked before the view sees them."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with unit_of_work(write=write) as session:
                if ahead is not None:
                    read_ahead(session, *ahead(**kwargs))
                user = current_user(session)
                return view(session, user, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def _register() -> None:
    from app.api import (  # noqa: F401
        attachments,  # noqa: F401  (a case's files: add, list, download)
        auth,
        calendar,
        cases,
        decisions,  # noqa: F401  (decision tables: read, try, lint, publish)
        history,  # noqa: F401  (version diffs, roll back, export zips, the audit log)
        migration,  # noqa: F401  (moving running cases between process versions)
        monitor,  # noqa: F401  (hot spots and the process monitor)
        notifications,
        org,
        processes,
        reports,  # noqa: F401
        tasks,
        testing,
    )


_register()
