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
            "Attachment": {"type": "object", "properties": {
                "id": {"type": "integer"}, "filename": {"type": "string"}, "content_type": {"type": "string"},
                "size": {"type": "integer"}, "sha256": {"type": "string"}, "field": {"type": ["string", "null"]},
                "task_id": {"type": ["integer", "null"]}, "uploaded_by": {"type": ["string", "null"]},
                "created_at": {"type": "string", "format": "date-time"}, "url": {"type": "string"}}},
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
                "open_tasks": {"type": "array", "description": "what the case waits for now, soonest due first "
                               "(the answer to a completion names the next task)", "items": {
                                   "type": "object", "properties": {
                                       "id": {"type": "integer"}, "name": {"type": "string"},
                                       "title": {"type": "string"}, "lane": {"type": ["string", "null"]},
                                       "role": {"type": "string"}, "department": {"type": ["string", "null"]},
                                       "assignee": {"type": ["string", "null"]},
                                       "due_at": {"type": ["string", "null"], "format": "date-time"},
                                       "overdue": {"type": "boolean"}, "about": {"type": ["object", "null"]},
                                       "form": {"type": ["string", "null"]}}}},
                "incidents": {"type": "array", "items": {"type": "object"}},
                "timeline": {"type": "array", "items": {"type": "object"}}}},
            "Task": {"type": "object", "properties": {
                "id": {"type": "integer"}, "name": {"type": "string", "description": "BPMN element id"},
                "title": {"type": "string"}, "case_no": {"type": "string"}, "lane": {"type": ["string", "null"]},
                "department": {"type": ["string", "null"]}, "assignee": {"type": ["string", "null"]},
                "due_at": {"type": ["string", "null"], "format": "date-time"}, "form": {},
                "about": {"type": ["object", "null"], "description": "what the task is about beyond its title "
                          "(a supervision: deadline, department, department_name)"}}},
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
        "/cases/{case_no}/attachments": {
            "get": _op("The case's files (without their bytes)", errors=(401, 404),
                       response={"type": "object", "properties": {
                           "items": {"type": "array", "items": {"$ref": "#/components/schemas/Attachment"}}}}),
            "post": _op("Add files to an open case: multipart, one to five parts named file, 10 MB each "
                        "(images, PDF, office documents; the type is read from the bytes). All are kept or none. "
                        "A task's file field (format data-url) then takes a file's id as text",
                        ok=201, errors=(401, 404, 409, 413, 422),
                        body={"multipart/form-data": {"schema": {"type": "object", "properties": {"file": {
                            "type": "array", "items": {"type": "string", "format": "binary"}}}}}},
                        response={"type": "object", "properties": {
                            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Attachment"}}}}),
            "parameters": [_p("case_no")]},
        "/attachments/{id}": {"get": {"summary": "A file's bytes under its name (images and PDF inline)",
                                      "responses": {"200": {"description": "The file"}, **_errors(401, 404)},
                                      "parameters": [_p("id")]}},
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


# --- decision tables (app/api/decisions.py) ----------------------------------------------------------

_CELL = {"type": "string", "description": 'a Python expression; input cells: "" or "-" = any value, '
                                          '"text", 7, > 3, ? in ["a", "b"]'}
DOCUMENT["components"]["schemas"].update({
    "DecisionTable": {"type": "object", "required": ["hit_policy", "inputs", "outputs", "rules"], "properties": {
        "hit_policy": {"enum": ["UNIQUE", "COLLECT"], "description": "UNIQUE = the first matching rule"},
        "inputs": {"type": "array", "items": {"type": "object", "required": ["expression"], "properties": {
            "id": {"type": "string", "description": "kept when given; new columns get one"},
            "label": {"type": "string"}, "expression": {"type": "string", "examples": ["deadline_class"]},
            "type": {"type": "string", "examples": ["string", "number", "boolean"]}}}},
        "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "id": {"type": "string"}, "label": {"type": "string"},
            "name": {"type": "string", "description": "the variable the output sets", "examples": ["dl_reply"]},
            "type": {"type": "string"}}}},
        "rules": {"type": "array", "items": {"type": "object", "required": ["inputs", "outputs"], "properties": {
            "id": {"type": "string", "description": "kept when given; new rules get one"},
            "inputs": {"type": "array", "items": _CELL}, "outputs": {"type": "array", "items": _CELL},
            "description": {"type": "string"}}}}}},
    "Decision": {"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"},
        "version": {"type": "integer"}, "file": {"type": "string", "examples": ["deadline_rules.dmn"]},
        "published_at": {"type": "string", "format": "date-time"},
        "published_by": {"type": ["string", "null"], "description": "username"}, "note": {"type": "string"},
        "can_publish": {"type": "boolean", "description": "whether the caller may publish this table"},
        "table": {"$ref": "#/components/schemas/DecisionTable"},
        "xml": {"type": "string", "description": "the DMN file of this version"}}},
    "RuleRef": {"type": "object", "properties": {
        "index": {"type": "integer", "description": "0-based"}, "number": {"type": "integer"},
        "id": {"type": "string"}, "description": {"type": "string"}}},
    "Evaluation": {"type": "object", "properties": {
        "outputs": {"type": "object", "description": "by output name; COLLECT gives a list per output"},
        "matched": {"type": "array", "items": {"$ref": "#/components/schemas/RuleRef"},
                    "description": "the rules whose outputs were used"},
        "matching": {"type": "array", "items": {"$ref": "#/components/schemas/RuleRef"},
                     "description": "every rule whose inputs match (UNIQUE uses the first)"},
        "no_match": {"type": "boolean"},
        "version": {"type": ["integer", "null"], "description": "null when an unpublished table was evaluated"}}},
    "LintIssue": {"type": "object", "properties": {
        "level": {"enum": ["error", "warning", "info"]},
        "code": {"enum": ["validation", "no_match", "unknown_value", "shadowed", "overlap", "runtime"]},
        "message": {"type": "string"}, "message_zh": {"type": "string"},
        "field": {"type": "string", "examples": ["table.rules[0].inputs[0]"]},
        "rule": {"type": ["integer", "null"]}, "kind": {"enum": ["input", "output", None]},
        "column": {"type": ["integer", "null"]}, "line": {"type": ["integer", "null"]}}},
})
_TRY_BODY = {"application/json": {"schema": {"type": "object", "properties": {
    "inputs": {"type": "object", "description": "the variables the business rule task sees",
               "examples": [{"deadline_class": "urgent"}]},
    "table": {"$ref": "#/components/schemas/DecisionTable", "description": "evaluate this unpublished table"}}}}}
DOCUMENT["paths"].update({
    "/decisions": {"get": _op("The newest version of every decision table")},
    "/decisions/{id}": {
        "parameters": [_p("id")],
        "get": _op("A decision table (newest version) with its DMN file", errors=(401, 404),
                   response={"$ref": "#/components/schemas/Decision"}),
        "put": _op("Publish a changed table as the next version (leaders, designers, admins); it is written "
                   "into the DMN file (ids and diagram kept) and validated like every publish. 422 `fields` "
                   "name the rule and cell, e.g. table.rules[0].inputs[0]; 409 when `version` is not the newest",
                   201, {"application/json": {"schema": {"type": "object", "required": ["table"], "properties": {
                       "table": {"$ref": "#/components/schemas/DecisionTable"}, "note": {"type": "string"},
                       "version": {"type": "integer", "description": "the version the edit started from"}}}}},
                   (400, 401, 403, 404, 409, 422), response={"type": "object", "properties": {
                       "id": {"type": "string"}, "version": {"type": "integer"}, "deployment": {"type": "integer"}}}),
    },
    "/decisions/{id}/evaluate": {"parameters": [_p("id")], "post": _op(
        "Evaluate the table (published, or the `table` given) with the engine that runs cases; 422 `fields` "
        "name a missing input (inputs.<name>) or the failing cell", body=_TRY_BODY, errors=(400, 401, 404, 422),
        response={"$ref": "#/components/schemas/Evaluation"})},
    "/decisions/{id}/lint": {"parameters": [_p("id")], "post": _op(
        "Problems of the table (published, or the `table` given), each placed on its rule and cell",
        body={"application/json": {"schema": {"type": "object", "properties": {
            "table": {"$ref": "#/components/schemas/DecisionTable"}}}}}, errors=(400, 401, 404, 422),
        response={"type": "object", "properties": {"issues": {
            "type": "array", "items": {"$ref": "#/components/schemas/LintIssue"}}}})},
})


# --- moving running cases between process versions (app/api/migration.py) --------------------------

DOCUMENT["components"]["schemas"].update({
    "MigrationReport": {"type": "object", "required": ["process", "dry_run", "counts", "cases"], "properties": {
        "process": {"type": "object", "properties": {
            "id": {"type": "string"}, "from_version": {"type": "integer"}, "to_version": {"type": "integer"}}},
        "dry_run": {"type": "boolean"},
        "counts": {"type": "object", "properties": {k: {"type": "integer"} for k in (
            "total", "can_move", "cannot_move", "moved", "failed")}},
        "cases": {"type": "array", "items": {"type": "object", "properties": {
            "case_no": {"type": "string"}, "title": {"type": "string"}, "stage": {"type": "string"},
            "can_move": {"type": "boolean"},
            "reasons": {"type": "array", "items": {"type": "string"},
                        "description": "why the case cannot move (or why moving failed), one sentence each"},
            "blockers": {"type": "array", "items": {"type": "object", "properties": {
                "kind": {"enum": ["removed", "type_changed", "changed", "process_missing", "engine"]},
                "process": {"type": "string", "description": "the (called) process the step belongs to"},
                "step": {"type": "string", "description": "BPMN element id"}, "name": {"type": "string"},
                "state": {"enum": ["ready", "waiting", "started", "failed", "completed", "cancelled", "next"]},
                "aspects": {"type": "array", "items": {"enum": [
                    "form", "lane", "script", "timer", "event", "multi_instance", "called_element", "decision",
                    "data", "conditions", "gateway", "due", "timers", "join", "settings", "definition"]}},
                "detail": {"type": "string"}}}},
            "moved": {"type": "boolean"},
            "continued_tasks": {"type": "array", "items": {"type": "string"},
                                "description": "open tasks that carry on (same id, assignee and due time)"}}}}}},
})
_MIGRATE_DOC = (
    "Designers and admins. A step the case has reached must still exist with the same kind of element; a step "
    "under way (waiting for a person, a timer or a message, or running a called process) must not have changed "
    "its form, lane, scripts, timers, multi-instance setting, called element or data mapping. Labels, "
    "documentation and steps not yet reached may change freely. A moved case runs on the target version with "
    "the newest called processes, decision tables and forms (what a case started now would pin); rules that "
    "already ran are not run again. Each case moves in its own savepoint; every move adds a `migrated` event "
    "to the case's timeline, and a real run writes one `migrate` entry to the audit log. `dry_run` defaults "
    "to true.")
DOCUMENT["paths"].update({
    "/processes/{id}/migrate": {"parameters": [_p("id")], "post": {**_op(
        "Check (dry run) or move every open case of one version to another",
        body={"application/json": {"schema": {"type": "object", "required": ["from_version", "to_version"],
                                              "properties": {"from_version": {"type": "integer", "minimum": 1},
                                                             "to_version": {"type": "integer", "minimum": 1},
                                                             "dry_run": {"type": "boolean", "default": True}}}}},
        errors=(400, 401, 403, 404, 422), response={"$ref": "#/components/schemas/MigrationReport"}),
        "description": _MIGRATE_DOC}},
    "/cases/{case_no}/migrate": {"parameters": [_p("case_no")], "post": {**_op(
        "Check (dry run) or move one open case to another version of its process; 409 when the case is closed",
        body={"application/json": {"schema": {"type": "object", "required": ["to_version"], "properties": {
            "to_version": {"type": "integer", "minimum": 1}, "dry_run": {"type": "boolean", "default": True}}}}},
        errors=(400, 401, 403, 404, 409, 422), response={"$ref": "#/components/schemas/MigrationReport"}),
        "description": _MIGRATE_DOC}},
})


@bp.get("/api/v1/openapi.json")
def openapi_json() -> object:
    return jsonify(DOCUMENT)


# --- reports (app/api/reports.py; definitions in docs/reports.md) --------------------------------------

_LEDGER_FILTERS = [
    _q("month", desc="YYYY-MM: cases received in that month"), _q("from", desc="YYYY-MM-DD, received on or after"),
    _q("to", desc="YYYY-MM-DD, received on or before"), _q("org_unit", desc="a place and everything below it"),
    _q("category"), _q("department", desc="lead department or dispatched to it"), _q("stage"),
    _q("status", desc="open | closed"), _q("overdue", "boolean", "open with an open task past its due time"),
    _q("q", desc="case number, title or citizen's name"),
]
_RATE = {"type": ["number", "null"], "description": "percent, one decimal; null without data"}
DOCUMENT["components"]["schemas"].update({
    "RankingRow": {"type": "object", "properties": {
        "code": {"type": "string"}, "name": {"type": "string"},
        "rank": {"type": ["integer", "null"], "description": "1 = the worst; null without a score"},
        **{k: {"type": "integer"} for k in ("dispatched", "closed_on_time", "closed_late", "still_open", "overdue",
                                             "returned", "extensions")},
        **{k: _RATE for k in ("response_rate", "resolution_rate", "satisfaction_rate", "on_time_rate", "score",
                              "previous_score", "score_change")},
        "previous_rank": {"type": ["integer", "null"]}}},
    "Ranking": {"type": "object", "properties": {
        "month": {"type": "string"}, "by": {"enum": ["department", "township"]},
        "complete": {"type": "boolean", "description": "the month is over (its numbers no longer change)"},
        "weights": {"$ref": "#/components/schemas/ReportWeights"},
        "rows": {"type": "array", "items": {"$ref": "#/components/schemas/RankingRow"},
                 "description": "worst first (逆排名)"}}},
    "ReportWeights": {"type": "object", "description": "percent, whole numbers adding up to 100", "properties": {
        k: {"type": "integer", "minimum": 0, "maximum": 100} for k in ("response", "resolution", "satisfaction",
                                                                       "on_time")}},
    "LedgerRow": {"type": "object", "properties": {
        "case_no": {"type": "string"}, "title": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "closed_at": {"type": ["string", "null"], "format": "date-time"},
        "township": {"type": "string"}, "place": {"type": "string"}, "category": {"type": ["string", "null"]},
        "channel": {"type": "string"}, "urgency": {"type": "string"},
        "lead_department": {"type": ["string", "null"]}, "lead_department_name": {"type": ["string", "null"]},
        "co_departments": {"type": "array", "items": {"type": "string"}}, "stage": {"type": "string"},
        "status": {"type": "string"}, "responsible": {"type": "string"},
        "deadlines": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
        "overdue": {"type": "boolean"}, "overdue_days": {"type": "integer"},
        "result": {"enum": ["solved", "unsolved", "settled", None]},
        "satisfaction": {"enum": ["satisfied", "unsatisfied", None]}}},
})
_LEDGER_PAGE = {"type": "object", "properties": {
    "items": {"type": "array", "items": {"$ref": "#/components/schemas/LedgerRow"}},
    "total": {"type": "integer"}, "page": {"type": "integer"}, "page_size": {"type": "integer"}}}
_ACCESS = " Leaders and admins: every row; department staff: their own department's row; others 403."
DOCUMENT["paths"].update({
    "/reports/ranking": {"get": _op(
        "The monthly assessment, worst first." + _ACCESS, errors=(401, 403, 422),
        params=[_q("month", desc="YYYY-MM (default: this month)"), _q("by", desc="department | township")],
        response={"$ref": "#/components/schemas/Ranking"})},
    "/reports/ranking/cases": {"get": _op(
        "The cases behind one number of the ranking (a count, or for a rate the cases that lower it)",
        errors=(401, 403, 422), response=_LEDGER_PAGE,
        params=[_q("month"), _q("by"), _q("unit", desc="department or township code"),
                _q("metric", desc="a column, e.g. overdue or response_rate")])},
    "/reports/weights": {
        "get": _op("The score's weights", errors=(401, 403), response={"$ref": "#/components/schemas/ReportWeights"}),
        "put": _op("Change the score's weights (leaders, admins)", body=_json("ReportWeights"), errors=(401, 403, 422),
                   response={"$ref": "#/components/schemas/ReportWeights"})},
    "/reports/ledger": {"get": _op("The ledger (台账): the cases the user may see, newest first",
                                   errors=(400, 401, 422), response=_LEDGER_PAGE,
                                   params=[*_LEDGER_FILTERS, _q("page", "integer"), _q("page_size", "integer")])},
    "/reports/ledger.xlsx": {"get": {**_op("The ledger as XLSX (Chinese headers, header row frozen)",
                                           errors=(401, 422), params=_LEDGER_FILTERS),
                                     "responses": {"200": {"description": "the workbook", "content": {
                                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}},
                                         **_errors(401, 422)}}},
    "/reports/ledger.csv": {"get": {**_op("The ledger as CSV (UTF-8 with BOM), streamed", errors=(401, 422),
                                          params=_LEDGER_FILTERS),
                                    "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}},
                                                  **_errors(401, 422)}}},
})


# --- hot spots and the process monitor (app/api/monitor.py; rules in app/reports/*.py) -------------------

_COUNTS = {"type": "array", "items": {"type": "integer"}, "description": "one count per week, oldest first"}
_CASE_REF = {"type": "object", "properties": {
    "case_no": {"type": "string"}, "title": {"type": "string"}, "category": {"type": ["string", "null"]},
    "place": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}}}
_SECONDS = {"type": ["integer", "null"], "description": "seconds; null when there is nothing to measure"}
DOCUMENT["components"]["schemas"].update({
    "Hotspots": {"type": "object", "properties": {
        "filters": {"type": "object", "properties": {"weeks": {"type": "integer"}, "place": {"type": "string"},
                                                     "category": {"type": ["string", "null"]}}},
        "since": {"type": "string", "format": "date-time"}, "until": {"type": "string", "format": "date-time"},
        "weeks": {"type": "array", "items": {"type": "string", "format": "date"}, "description": "each week's Monday"},
        "total": {"type": "integer"}, "week_totals": _COUNTS,
        "rising_rule": {"type": "object", "description": "rising: >= min_cases in the last recent_weeks weeks and a "
                                                         "weekly average >= factor x the weeks before (or none before)",
                        "properties": {"recent_weeks": {"type": "integer"}, "factor": {"type": "number"},
                                       "min_cases": {"type": "integer"}}},
        "categories": {"type": "array", "items": {"type": "object", "properties": {
            "category": {"type": ["string", "null"]}, "counts": _COUNTS, "total": {"type": "integer"},
            "recent_weekly": {"type": "number"}, "before_weekly": {"type": "number"}, "rising": {"type": "boolean"}}}},
        "places": {"type": "array", "description": "the place's own level, then each unit one level down",
                   "items": {"type": "object", "properties": {
                       "place": {"type": "string"}, "name": {"type": "string"}, "own_level": {"type": "boolean"},
                       "counts": _COUNTS, "total": {"type": "integer"},
                       "by_category": {"type": "object", "additionalProperties": {"type": "integer"}}}}},
        "repeat_petitioners": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "phone": {"type": "string", "description": "masked, e.g. 138****1234"},
            "count": {"type": "integer"}, "places": {"type": "array", "items": {"type": "string"}},
            "categories": {"type": "array", "items": {"type": ["string", "null"]}},
            "cases": {"type": "array", "items": _CASE_REF}}}},
        "repeat_places": {"type": "array", "items": {"type": "object", "properties": {
            "place": {"type": "string"}, "category": {"type": ["string", "null"]}, "count": {"type": "integer"},
            "cases": {"type": "array", "items": _CASE_REF}}}}}},
    "ProcessMonitor": {"type": "object", "properties": {
        "process": {"type": "object", "properties": {"id": {"type": "string"}, "version": {"type": "integer"},
                                                     "name": {"type": "string"}}},
        "versions": {"type": "array", "items": {"type": "integer"}},
        "cases": {"type": "integer", "description": "open cases with a task counted on this diagram"},
        "window_days": {"type": "integer"}, "since": {"type": "string", "format": "date-time"},
        "now": {"type": "string", "format": "date-time"},
        "steps": {"type": "object", "description": "by BPMN element id; a call activity and a subprocess count "
                                                   "everything inside them",
                  "additionalProperties": {"type": "object", "properties": {
                      "name": {"type": "string"}, "kind": {"type": "string"}, "called": {"type": ["string", "null"]},
                      "cases": {"type": "integer", "description": "open cases waiting there"},
                      "tasks": {"type": "integer", "description": "open tasks there"},
                      "overdue": {"type": "integer", "description": "open cases with a task there past its due time"},
                      "incidents": {"type": "integer"},
                      "done": {"type": "object", "description": "tasks finished there within window_days",
                               "properties": {"count": {"type": "integer"}, "median_seconds": _SECONDS,
                                              "p90_seconds": _SECONDS}},
                      "waiting": {"type": "object", "description": "how long the open tasks there have waited",
                                  "properties": {"median_seconds": _SECONDS, "p90_seconds": _SECONDS}}}}},
        "incidents": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "integer"}, "case_no": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
            "task": {"type": ["string", "null"]}, "message": {"type": "string"},
            "steps": {"type": "array", "items": {"type": "string"}}}}},
        "called": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "version": {"type": "integer"}, "name": {"type": "string"},
            "cases": {"type": "integer"}}}}}},
})
DOCUMENT["paths"].update({
    "/reports/hotspots": {"get": _op(
        "Hot spots: cases by category x place x week, rising categories, repeat petitioners and places "
        "(leaders and admins, within their area)", errors=(401, 403, 422),
        params=[_q("weeks", "integer", "1-104, default 12 (the current week included)"),
                _q("place", desc="org unit code within the user's area (default: the user's own unit)"),
                _q("category")], response={"$ref": "#/components/schemas/Hotspots"})},
    "/processes/{id}/monitor": {"get": {**_op(
        "Live monitor of a process version: cases waiting, overdue, median and P90 time per step, incidents "
        "(leaders, designers, admins, within their area)", errors=(400, 401, 403, 404),
        params=[_q("version", "integer", "default: the newest"),
                _q("days", "integer", "window for finished tasks, 1-3660, default 90")],
        response={"$ref": "#/components/schemas/ProcessMonitor"}), "parameters": [_p("id")]}},
    "/processes/{id}/monitor/steps/{element}": {"get": {**_op(
        "The open cases waiting at one step (overdue first)", errors=(400, 401, 403, 404),
        params=[_q("version", "integer")]), "parameters": [_p("id"), _p("element")]}},
})


# --- version history: diffs, roll back, export, audit log (app/api/history.py) ---------------------------

DOCUMENT["components"]["schemas"].update({
    "Version": {"type": "object", "properties": {
        "kind": {"enum": ["process", "decision", "form"]}, "id": {"type": "string"}, "version": {"type": "integer"},
        "name": {"type": "string"}, "file": {"type": "string"}, "deployment": {"type": "integer"},
        "published_at": {"type": "string", "format": "date-time"}, "published_by": {"type": ["string", "null"]},
        "note": {"type": "string"}, "source": {"type": "string", "description": "studio | api | cli | rollback | seed"},
        "sha256": {"type": "string"}}},
    "VersionDiff": {"type": "object", "properties": {
        "kind": {"type": "string"}, "id": {"type": "string"}, "version": {"type": "integer"},
        "against": {"type": ["integer", "null"], "description": "the version compared with (null: the first one)"},
        "first": {"type": "boolean"}, "cosmetic": {"type": "boolean",
                                                 "description": "the texts differ but nothing listed did"},
        "layout_only": {"type": "boolean", "description": "only the diagram layout or the formatting changed"},
        "error": {"type": ["string", "null"], "description": "why no readable diff (a version does not parse)"},
        "counts": {"type": "object", "properties": {k: {"type": "integer"} for k in ("added", "removed", "changed")}},
        "text": {"type": "string", "description": "unified diff of the two texts"},
        "changes": {"type": "array", "items": {"type": "object", "properties": {
            "op": {"enum": ["added", "removed", "changed"]},
            "what": {"enum": ["element", "field", "form", "hint", "decision", "input", "output", "rule"]},
            "key": {"type": "string", "description": "element id, field path (parties[].name), rule id, ..."},
            "type": {"type": "string", "description": "BPMN element type, field type, ..."},
            "name": {"type": "string", "description": "readable name; a rule's row number"},
            "group": {"type": "string", "description": "the process or decision it belongs to"},
            "context": {"type": "array", "description": "a changed rule's input cells [column, value]",
                        "items": {"type": "array", "items": {"type": "string"}}},
            "details": {"type": "array", "items": {"type": "object", "properties": {
                "attr": {"type": "string", "description": "name, form, script, condition, timer, lane, "
                                                          "called_element, title, type, required, options, ..."},
                "old": {"type": "string"}, "new": {"type": "string"},
                "added": {"type": "array", "items": {"type": "string"}},
                "removed": {"type": "array", "items": {"type": "string"}}}}}}}}}},
})
_ZIP = {"description": "zip of processes/*.bpmn|dmn and forms/*.json plus EXPORT.txt",
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}
_ROLLBACK_DOC = ("Publish the old version's file again as a new version, validated like any publish, and write a "
                 "`rollback` audit entry. Designers and admins (leaders too for decisions); 409 when the old "
                 "version's text is already the newest.")
for _prefix, _kind in (("processes", "process"), ("decisions", "decision"), ("forms", "form")):
    _ident = [_p("id"), {"name": "version", "in": "path", "required": True, "schema": {"type": "integer"}}]
    DOCUMENT["paths"].update({
        f"/{_prefix}/{{id}}/versions/{{version}}/diff": {"parameters": _ident, "get": _op(
            f"Readable diff of a {_kind} version against the one before it (designers, leaders, admins)",
            errors=(400, 401, 403, 404), params=[_q("against", "integer", "compare with this version instead")],
            response={"$ref": "#/components/schemas/VersionDiff"})},
        f"/{_prefix}/{{id}}/versions/{{version}}/export.zip": {"parameters": _ident, "get": {
            "summary": f"The files of the deployment that published this {_kind} version",
            "responses": {"200": _ZIP, **_errors(401, 403, 404)}}},
        f"/{_prefix}/{{id}}/versions/{{version}}/rollback": {"parameters": _ident, "post": {**_op(
            f"Roll back: publish this {_kind} version again as the newest", 201,
            body={"application/json": {"schema": {"type": "object", "properties": {"note": {"type": "string"}}}}},
            errors=(400, 401, 403, 404, 409, 422)), "description": _ROLLBACK_DOC}},
    })
DOCUMENT["paths"].update({
    "/decisions/{id}/versions": {"parameters": [_p("id")], "get": _op(
        "Versions of a decision table, newest first", errors=(401, 403, 404),
        response={"type": "object", "properties": {"items": {"type": "array", "items": {
            "$ref": "#/components/schemas/Version"}}}})},
    "/forms/{id}/versions": {"parameters": [_p("id")], "get": _op(
        "Versions of a form file (id = file name, e.g. intake.json or intake.ui.json), newest first",
        errors=(401, 403, 404), response={"type": "object", "properties": {"items": {"type": "array", "items": {
            "$ref": "#/components/schemas/Version"}}}})},
    "/export/latest.zip": {"get": {"summary": "The newest version of every process, decision and form as one "
                                              "bundle (unzip, then `onestop deploy processes forms`)",
                                   "responses": {"200": _ZIP, **_errors(401, 403)}}},
    "/audit": {"get": _op(
        "The audit log, newest first (designers, leaders, admins)", errors=(400, 401, 403),
        params=[_q("action", desc="publish, rollback, decision_change, migrate, ..."),
                _q("subject_kind", desc="process | decision | form | deployment | case"), _q("subject_id"),
                _q("limit", "integer", "1-1000, default 200")],
        response={"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object",
                  "properties": {"id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
                                 "actor": {"type": ["string", "null"]}, "action": {"type": "string"},
                                 "subject_kind": {"type": "string"}, "subject_id": {"type": "string"},
                                 "summary": {"type": "string"}, "detail": {"type": "object"}}}}}})},
})
