"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

bp = Blueprint("openapi", __name__)

_ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Malformed request", 401: "Not logged in", 403: "Not allowed", 404: "Not found",
            409: "Conflict (no longer open, claimed, …)", 413: "Too large", 422: "Invalid fields"}
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": _ERROR}}} for c in codes}


def _op(summary: str, ok: int = 200, body: dict[str, Any] | None = None, errors: tuple[int, ...] = (401,),
        params: list[dict[str, Any]] | None = None, response: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {
        str(ok): {"description": "OK", "content": {"application/json": {"schema": response or {"type": "object"}}}},
        **_errors(*errors)}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
    if params:
        op["parameters"] = params
    return op


def _q(name: str, kind: str = "string", desc: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": desc}


def _p(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "OneStop API", "version": "1",
             "description": "One-stop joint mediation: cases, tasks, processes. Times are ISO 8601 with offset."},
    "servers": [{"url": "/api/v1"}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error", "message", "fields"], "properties": {
                "error": {"type": "string"}, "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}}}},
            "Login": {"type": "object", "required": ["username", "password"], "properties": {
                "username": {"type": "string"}, "password": {"type": "string"}}},
            "Intake": {"type": "object", "required": ["title", "description", "channel", "citizen", "location"],
                       "properties": {
                           "title": {"type": "string", "maxLength": 300},
                           "description": {"type": "string"},
                           "category": {"type": "string"},
                           "urgency": {"enum": ["normal", "urgent"]},
                           "channel": {"enum": ["walk_in", "hotline", "grid", "online", "open311"]},
                           "citizen": {"type": "object", "required": ["name", "phone"], "properties": {
                               "name": {"type": "string"}, "phone": {"type": "string"}}},
                           "location": {"type": "object", "required": ["org_unit"], "properties": {
                               "org_unit": {"type": "string"}, "address": {"type": "string"}}},
                           "process_id": {"type": "string"},
                           "data": {"type": "object", "description": "extra top-level process variables"}}},
            "Case": {"type": "object", "properties": {
                "case_no": {"type": "string", "examples": ["QX-2026-000123"]},
                "status": {"enum": ["open", "closed"]}, "stage": {"type": "string"},
                "level": {"type": ["string", "null"]}, "category": {"type": ["string", "null"]},
                "lead_department": {"type": ["string", "null"]},
                "departments": {"type": "array", "items": {"type": "string"}},
                "deadlines": {"type": "object", "properties": {
                    k: {"type": ["string", "null"], "format": "date-time"}
                    for k in ("accept", "convene", "reply", "callback")}},
                "overdue": {"type": "boolean"},
                "process": {"type": "object", "properties": {"id": {"type": "string"}, "version": {"type": "integer"}}},
                "incidents": {"type": "array", "items": {"type": "object"}},
                "timeline": {"type": "array", "items": {"type": "object"}}}},
            "Task": {"type": "object", "properties": {
                "id": {"type": "integer"}, "name": {"type": "string", "description": "BPMN element id"},
                "title": {"type": "string"}, "case_no": {"type": "string"}, "lane": {"type": ["string", "null"]},
                "department": {"type": ["string", "null"]}, "assignee": {"type": ["string", "null"]},
                "due_at": {"type": ["string", "null"], "format": "date-time"}, "form": {}}},
            "User": {"type": "object", "required": ["username", "password", "roles", "org_unit"], "properties": {
                "username": {"type": "string"}, "password": {"type": "string", "minLength": 8},
                "display_name": {"type": "string"},
                "roles": {"type": "array", "items": {"enum": ["receiver", "mediator", "department", "service",
                                                              "leader", "designer", "admin"]}},
                "org_unit": {"type": "string"}, "department": {"type": "string"}}},
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/auth/login": {"post": {**_op("Log in for a bearer token", body=_json("Login"), errors=(400, 401, 422)),
                                 "security": []}},
        "/users": {"post": _op("Create a user (admins)", 201, _json("User"), (400, 401, 403, 409, 422))},
        "/departments": {"get": _op("List departments")},
        "/org-units": {"get": _op("List org units")},
        "/cases": {
            "post": _op("Register a case (intake) and run its process to the first wait state", 201,
                        _json("Intake"), (400, 401, 403, 404, 422)),
            "get": _op("List cases", params=[_q("status"), _q("stage"), _q("org_unit"), _q("department"),
                                             _q("overdue", "boolean"), _q("q"), _q("page", "integer")],
                       errors=(400, 401)),
        },
        "/cases/{case_no}": {"get": {**_op("A case with deadlines and timeline",
                                           response={"$ref": "#/components/schemas/Case"}, errors=(401, 404)),
                                     "parameters": [_p("case_no")]}},
        "/cases/{case_no}/retry": {"post": {**_op("Retry a case's failed step after a fix",
                                                  errors=(401, 403, 404, 409, 422)),
                                            "parameters": [_p("case_no")]}},
        "/tasks": {"get": _op("The inbox", params=[_q("scope", desc="mine | group | all"), _q("case_no"),
                                                   _q("overdue", "boolean")], errors=(400, 401, 403))},
        "/tasks/{id}": {"get": {**_op("A task with its form {schema, ui} and the data it sees", errors=(401, 404)),
                                "parameters": [_p("id")]}},
        "/tasks/{id}/claim": {"post": {**_op("Claim a task", errors=(401, 403, 404, 409)), "parameters": [_p("id")]}},
        "/tasks/{id}/release": {"post": {**_op("Release a claimed task", errors=(401, 403, 404, 409)),
                                         "parameters": [_p("id")]}},
        "/tasks/{id}/complete": {"post": {**_op("Complete a task with form data; returns the case",
                                                body={"application/json": {"schema": {
                                                    "type": "object", "properties": {"data": {"type": "object"}}}}},
                                                errors=(400, 401, 403, 404, 409, 422)),
                                          "parameters": [_p("id")]}},
        "/processes": {
            "get": _op("The newest version of every process"),
            "post": _op("Publish a bundle (multipart, one `files` field per file)", 201,
                        {"multipart/form-data": {"schema": {"type": "object", "properties": {
                            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                            "note": {"type": "string"}}}}}, (400, 401, 403, 413, 422)),
        },
        "/processes/{id}/versions": {"get": {**_op("Versions of a process", errors=(401, 404)),
                                             "parameters": [_p("id")]}},
        "/testing/clock": {"post": {**_op("Move the test clock and fire due timers (ONESTOP_TESTING=1 only)",
                                          body={"application/json": {"schema": {"type": "object", "properties": {
                                              "advance": {"type": "string", "examples": ["P3D"]},
                                              "set": {"type": "string", "format": "date-time"}}}}},
                                          errors=(400, 404, 422)), "security": []}},
    },
}


@bp.get("/api/v1/openapi.json")
def openapi_json() -> object:
    return jsonify(DOCUMENT)
