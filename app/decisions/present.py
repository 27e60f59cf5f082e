"""The JSON shapes of decisions, evaluations and lint problems, shared by the API and the table editor."""

from __future__ import annotations

from typing import Any

from app.decisions.service import Decision, issue_path
from app.decisions.table import Table
from app.engine.decisions import CellError, Evaluation
from app.engine.dmnlint import LintIssue
from app.errors import InvalidInput
from app.processes.models import DecisionVersion
from app.timeutil import local_iso


def summary_json(dv: DecisionVersion, authors: dict[int, str]) -> dict[str, Any]:
    return {"id": dv.decision_id, "name": dv.name, "version": dv.version, "file": dv.artifact.filename,
            "published_at": local_iso(dv.deployment.created_at),
            "published_by": authors.get(dv.deployment.created_by_id or 0), "note": dv.deployment.note}


def decision_json(decision: Decision, *, can_publish: bool) -> dict[str, Any]:
    return {
        "id": decision.id, "name": decision.name, "description": decision.description,
        "version": decision.version, "file": decision.filename,
        "published_at": local_iso(decision.published_at),
        "published_by": decision.published_by.username if decision.published_by else None,
        "note": decision.note, "can_publish": can_publish,
        "table": decision.table.to_json(), "xml": decision.xml,
    }


def issue_json(issue: LintIssue) -> dict[str, Any]:
    return {**issue.as_json(), "field": issue_path(issue)}


def _rule_ref(table: Table, index: int) -> dict[str, Any]:
    rule = table.rules[index]
    return {"index": index, "number": index + 1, "id": rule.id, "description": rule.description}


def error_field(table: Table, error: CellError) -> tuple[str, str]:
    """(field, message) of a failed evaluation: a missing input variable, or the failing cell."""
    if error.rule is None and error.kind == "input":
        expression = table.inputs[error.column].expression.strip()
        if expression.isidentifier() and "NameError" in error.message:
            return f"inputs.{expression}", f"no value given: the table reads {expression}"
    return issue_path(error), error.message


def evaluation_json(table: Table, evaluation: Evaluation) -> dict[str, Any]:
    """{outputs, matched, matching}; raises InvalidInput (422) naming the cell when the table fails."""
    if evaluation.error is not None:
        field, message = error_field(table, evaluation.error)
        raise InvalidInput(f"the table fails on these inputs: {evaluation.error.message}", fields={field: message})
    return {
        "outputs": evaluation.outputs,
        "matched": [_rule_ref(table, i) for i in evaluation.matched],
        "matching": [_rule_ref(table, i) for i in evaluation.matching],
        "no_match": not evaluation.matched,
    }
