"""Domain errors that services raise; the web and API layers map each to one HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a user can cause; `code` is the API's machine-readable error code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, fields: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.extra = extra


class InvalidInput(DomainError):
    status = 422
    code = "invalid"


class BadRequest(DomainError):
    status = 400
    code = "bad_request"


class NotAuthenticated(DomainError):
    status = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
