"""Read, try, lint and publish decision tables.

A decision table lives in a DMN file that was published as part of a bundle. Publishing a changed table
writes it back into the newest text of that file (`app.decisions.table.write_table`) and deploys the file
alone as a new version (`deploy_bundle` runs the same publish validation as every other publish); cases
started afterwards pin the new version, running cases keep the rules they started with.

Trying a table evaluates it with the engine that runs cases (`app.engine.decisions`) and the acting
user's county calendar, so working-day functions in cells answer as they will at run time.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.decisions.table import DecisionHeader, Table, read_table, table_from_json, write_table
from app.engine.decisions import CellError, Evaluation, make_probe
from app.engine.dmnlint import LintIssue, lint_dmn
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.org.models import User
from app.processes.models import Artifact, DecisionVersion, FormVersion, ProcessVersion
from app.processes.service import DeployResult, deploy_bundle, record_publish
from app.studio import drafts

#: the audit action of a decision table published from the table editor or the API
AUDIT_ACTION = "decision_change"


@dataclass(frozen=True)
class Decision:
    """The newest published version of a decision, with its table."""

    id: str
    name: str
    description: str
    version: int
    filename: str
    published_at: datetime
    published_by: User | None
    note: str
    xml: str
    table: Table


def _newest(session: Session) -> Any:
    return (select(DecisionVersion.decision_id, func.max(DecisionVersion.version).label("v"))
            .group_by(DecisionVersion.decision_id).subquery())


def list_decisions(session: Session) -> list[DecisionVersion]:
    """The newest version of every decision, by id."""
    newest = _newest(session)
    return list(session.scalars(
        select(DecisionVersion).join(newest, (DecisionVersion.decision_id == newest.c.decision_id)
                                     & (DecisionVersion.version == newest.c.v))
        .order_by(DecisionVersion.decision_id)))


def latest_version(session: Session, decision_id: str) -> DecisionVersion:
    dv = session.scalar(select(DecisionVersion).where(DecisionVersion.decision_id == decision_id)
                        .order_by(DecisionVersion.version.desc()).limit(1))
    if dv is None:
        raise NotFound(f"no decision {decision_id}")
    return dv


def _load(session: Session, dv: DecisionVersion) -> Decision:
    xml = dv.artifact.content
    header, table = _read(xml, dv.decision_id)
    author = session.get(User, dv.deployment.created_by_id) if dv.deployment.created_by_id else None
    return Decision(id=dv.decision_id, name=header.name, description=header.description, version=dv.version,
                    filename=dv.artifact.filename, published_at=dv.deployment.created_at, published_by=author,
                    note=dv.deployment.note, xml=xml, table=table)


def _read(xml: str, decision_id: str) -> tuple[DecisionHeader, Table]:
    try:
        return read_table(xml, decision_id)
    except KeyError:
        raise NotFound(f"the file does not define decision {decision_id}") from None


def get_decision(session: Session, decision_id: str) -> Decision:
    """The newest published version of a decision (NotFound if it was never published)."""
    return _load(session, latest_version(session, decision_id))


def can_publish(user: User, decision: Decision) -> bool:
    """Leaders, designers and admins publish decision tables; everyone else reads and tries them."""
    return drafts.can_edit(user, decision.filename)


# --- what the inputs can be ----------------------------------------------------------------------------


@dataclass
class KnownValues:
    """Values a variable takes in the published process: form choices, script and rule literals."""

    values: dict[str, list[Any]] = field(default_factory=dict)
    titles: dict[str, dict[str, str]] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, value: Any, source: str, title: str | None = None) -> None:
        if not isinstance(value, str | int | float | bool) or value == "":
            return
        items = self.values.setdefault(name, [])
        if value not in items:
            items.append(value)
        if title and str(value) not in self.titles.setdefault(name, {}):
            self.titles[name][str(value)] = title
        if source not in self.sources.setdefault(name, []):
            self.sources[name].append(source)


def _newest_artifacts(session: Session, model: Any, key: Any) -> list[Artifact]:
    newest = select(key.label("k"), func.max(model.version).label("v")).group_by(key).subquery()
    return list(session.scalars(
        select(Artifact).join(model, model.artifact_id == Artifact.id)
        .join(newest, (key == newest.c.k) & (model.version == newest.c.v)).order_by(Artifact.filename)))


def _form_choices(known: KnownValues, schema: Any, source: str) -> None:
    """Collect the choices of every property of a form (nested objects and arrays too)."""
    if not isinstance(schema, dict):
        return
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        for option in prop.get("oneOf") or prop.get("anyOf") or []:
            if isinstance(option, dict) and "const" in option:
                known.add(name, option["const"], source, option.get("title"))
        for value in prop.get("enum") or []:
            known.add(name, value, source)
        if prop.get("type") == "boolean":
            known.add(name, True, source)
            known.add(name, False, source)
        _form_choices(known, prop, source)
        _form_choices(known, prop.get("items"), source)


def _script_literals(known: KnownValues, script: str, source: str) -> None:
    """`x = "a"` and `x = "a" if c else "b"` in a BPMN script: x takes "a" (and "b")."""
    try:
        tree = ast.parse(script)
    except (SyntaxError, ValueError):
        return

    def results(value: ast.AST) -> list[Any]:
        if isinstance(value, ast.IfExp):
            return results(value.body) + results(value.orelse)
        return [value.value] if isinstance(value, ast.Constant) and isinstance(value.value, str) else []

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            for value in results(node.value):
                known.add(node.targets[0].id, value, source)


def known_values(session: Session, *, skip_decision: str | None = None) -> KnownValues:
    """What each process variable can hold, read from the newest published forms, scripts and tables."""
    from app.engine.specs import parse_xml

    known = KnownValues()
    for art in _newest_artifacts(session, FormVersion, FormVersion.filename):
        if art.filename.endswith(".ui.json"):
            continue
        try:
            _form_choices(known, json.loads(art.content), art.filename)
        except ValueError:
            continue
    for art in _newest_artifacts(session, ProcessVersion, ProcessVersion.process_id):
        try:
            root = parse_xml(art.content)
        except Exception:  # noqa: BLE001 - a published file is readable; never fail a page for it
            continue
        for node in root.xpath("//*[local-name()='script']"):
            _script_literals(known, node.text or "", art.filename)
    for dv in list_decisions(session):
        if dv.decision_id == skip_decision:
            continue
        try:
            _header, table = read_table(dv.artifact.content, dv.decision_id)
        except Exception:  # noqa: BLE001
            continue
        for rule in table.rules:
            for column, text in zip(table.outputs, rule.outputs, strict=False):
                try:
                    value = ast.literal_eval(text.strip()) if text.strip() else None
                except (ValueError, SyntaxError):
                    continue
                known.add(column.name, value, dv.artifact.filename)
    return known


# --- trying and linting --------------------------------------------------------------------------------


def _functions(session: Session, user: User) -> dict[str, Any]:
    from app.cases.service import script_functions

    return script_functions(session, user.org_unit)


def _xml_for(decision: Decision, table: Table | None) -> str:
    return decision.xml if table is None else write_table(decision.xml, decision.id, table)


def lint(session: Session, user: User, decision: Decision, table: Table | None = None) -> list[LintIssue]:
    """Every problem of the table (the published one, or `table`), placed on its rule and cell."""
    known = known_values(session, skip_decision=decision.id)
    return lint_dmn(decision.filename, _xml_for(decision, table), decision.id, known_values=known.values,
                    functions=_functions(session, user))


def evaluate(session: Session, user: User, decision: Decision, inputs: Any, table: Table | None = None
             ) -> Evaluation:
    """Evaluate the published table (or an unpublished `table`) on `inputs`, the variables the rule task sees."""
    if not isinstance(inputs, dict):
        raise InvalidInput("inputs must be an object", fields={"inputs": "expected an object of variables"})
    bad = [k for k in inputs if not isinstance(k, str) or not k.isidentifier()]
    if bad:
        raise InvalidInput("bad variable names", fields={f"inputs.{k}": "not a variable name" for k in bad})
    xml = _xml_for(decision, table)
    try:
        probe = make_probe(xml, decision.id, _functions(session, user))
    except ValueError:
        issues = [i for i in lint_dmn(decision.filename, xml, decision.id) if i.level == "error"]
        raise InvalidInput("the table cannot be evaluated", fields=issue_fields(issues)) from None
    return probe.evaluate(inputs)


def issue_path(issue: LintIssue | CellError) -> str:
    """The field of the request body an issue is about, e.g. table.rules[0].inputs[1]."""
    rule, kind, column = issue.rule, issue.kind, issue.column
    if rule is not None and kind is not None and column is not None:
        return f"table.rules[{rule}].{kind}s[{column}]"
    if rule is not None:
        return f"table.rules[{rule}]"
    if kind is not None and column is not None:
        return f"table.{kind}s[{column}]"
    return "table"


def issue_fields(issues: list[LintIssue]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for issue in issues:
        path = issue_path(issue)
        fields[path] = f"{fields[path]}; {issue.message}" if path in fields else issue.message
    return fields


# --- publishing ----------------------------------------------------------------------------------------


def prepare(session: Session, actor: User, decision: Decision, data: Any, *, base_version: Any = None
            ) -> tuple[Table, str]:
    """Check a table sent for publishing; return it with the file's new text, or raise with field messages."""
    if not can_publish(actor, decision):
        raise Forbidden("only leaders, designers and admins publish decision tables")
    if base_version is not None:
        if isinstance(base_version, bool) or not isinstance(base_version, int):
            raise InvalidInput("version must be a number", fields={"version": "the version the edit started from"})
        if base_version != decision.version:
            raise Conflict(f"{decision.id} was published as version {decision.version} after version "
                           f"{base_version} you edited; reload it and apply your change again",
                           fields={"version": f"the newest version is {decision.version}"})
    table = table_from_json(data)
    xml = write_table(decision.xml, decision.id, table)
    if xml == decision.xml:
        raise InvalidInput("nothing changed", fields={"table": f"the table is the same as version {decision.version}"})
    errors = [i for i in lint(session, actor, decision, table) if i.level == "error"]
    if errors:
        raise InvalidInput(f"{len(errors)} problem(s) in the table; nothing was published", fields=issue_fields(errors))
    return table, xml


def publish_table(session: Session, actor: User, decision_id: str, data: Any, *, note: str = "",
                  base_version: Any = None) -> DeployResult:
    """Publish a changed table as the decision's next version (audited as a decision change)."""
    decision = get_decision(session, decision_id)
    _table, xml = prepare(session, actor, decision, data, base_version=base_version)
    result = deploy_bundle(session, {decision.filename: xml.encode("utf-8")}, actor=actor, note=note,
                           source="decisions")
    record_publish(session, actor, result, action=AUDIT_ACTION, note=note)
    return result


def save_table_draft(session: Session, actor: User, decision_id: str, data: Any) -> None:
    """Keep an edited table as the draft of its DMN file (nothing is validated or published)."""
    decision = get_decision(session, decision_id)
    if not can_publish(actor, decision):
        raise Forbidden("only leaders, designers and admins change decision tables")
    table = table_from_json(data)
    drafts.save_draft(session, actor, decision.filename, write_table(decision.xml, decision.id, table))


def draft_table(session: Session, decision: Decision) -> tuple[Table, bool] | None:
    """The table of the file's draft, if there is one, and whether it was started before the newest publish."""
    draft = drafts.get_draft(session, decision.filename)
    if draft is None:
        return None
    try:
        _header, table = read_table(draft.content, decision.id)
    except Exception:  # noqa: BLE001 - a draft saved by another editor may not hold this decision
        return None
    return table, drafts.stale(session, draft)


def publish_draft(session: Session, actor: User, decision_id: str, data: Any, *, note: str = "",
                  base_version: Any = None) -> DeployResult:
    """Publish from the editor: check the table, save it as the file's draft and publish that draft."""
    decision = get_decision(session, decision_id)
    _table, xml = prepare(session, actor, decision, data, base_version=base_version)
    drafts.save_draft(session, actor, decision.filename, xml)
    return drafts.publish(session, actor, [decision.filename], note=note, action=AUDIT_ACTION)


def discard_table_draft(session: Session, actor: User, decision_id: str) -> None:
    decision = get_decision(session, decision_id)
    drafts.discard_draft(session, actor, decision.filename)

