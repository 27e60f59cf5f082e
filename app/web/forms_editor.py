"""The form editor (表单设计): a form's JSON Schema and its UI hints, with a live preview.

The page edits two files, e.g. `intake.json` (the schema) and `intake.ui.json` (its hints), as two JSON
text areas plus a friendly list of the top-level fields (key, title, type, required, options; add, remove,
reorder) that rewrites the schema on the server. The preview is rendered by `app.web.formrender`, the same
code that renders task pages, and every edit is checked like a publish checks forms
(`app.engine.validation.validate_bundle`): invalid JSON with line and column, not a valid JSON Schema with
the line of the offending keyword — shown under the text area it belongs to.

Save keeps drafts (`app.studio.drafts`), publish validates and publishes both files as one bundle with a
note, discard throws the drafts away. Designers and admins edit; leaders read. Without JavaScript every
button still works (the whole page is posted and rendered again).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.engine.validation import validate_bundle
from app.errors import DomainError, NotFound
from app.forms.schema import ROLE_KEYWORD, USER_FORMAT, branches, choice_of
from app.org.models import Department
from app.org.service import people_for
from app.processes.service import BundleInvalid, list_latest_processes
from app.studio import drafts
from app.web import bp, login_required, page_session
from app.web.attachments import upload_limits
from app.web.cases import role_labels
from app.web.formrender import Field, Form, build_form, localized, person_choices

#: who may open the editor (designers and admins edit, leaders read)
READERS = ("designer", "leader", "admin")
UI_SUFFIXES = (".ui.json", "-uischema.json")
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
FILENAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,120}\.json$")
#: the field types the friendly list offers (anything else is edited in the JSON)
SIMPLE_TYPES = ("string", "textarea", "integer", "number", "boolean", "date", "multi", "person")
MAX_NOTE = 2000
MAX_ROWS = 200
NEW_SCHEMA = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "", "type": "object",
              "required": [], "properties": {}}


def _english() -> bool:
    return str(get_locale() or "zh").startswith("en")


def schema_name_for(filename: str) -> str:
    """The schema file a UI hints file belongs to: intake.ui.json → intake.json."""
    for suffix in UI_SUFFIXES:
        if filename.endswith(suffix):
            return filename[: -len(suffix)] + ".json"
    return filename


def ui_name_for(session: Session, filename: str) -> str:
    """The UI hints file of a schema: `<stem>.ui.json` (or `<stem>-uischema.json` where that one exists)."""
    stem = filename[: -len(".json")]
    candidates = [f"{stem}.ui.json", f"{stem}-uischema.json"]
    for name in candidates:
        if drafts.get_draft(session, name) is not None or drafts.published_artifact(session, name) is not None:
            return name
    return candidates[0]


def type_labels() -> dict[str, str]:
    return {"string": _("文字"), "textarea": _("长文字"), "integer": _("整数"), "number": _("数字"),
            "boolean": _("是/否"), "date": _("日期"), "multi": _("多选"), "person": _("人员"),
            "complex": _("复杂（在 JSON 中编辑）")}


# --- the friendly field list ----------------------------------------------------------------------

@dataclass
class FieldRow:
    """One top-level field as the list shows it."""

    key: str
    orig: str = ""
    title: str = ""
    type: str = "string"
    required: bool = False
    options: str = ""
    #: shown only while another field holds a value: "<its key as loaded>=<the value as JSON>", "" for
    #: always, COMPLEX_WHEN for a condition written in the JSON that the list does not edit
    when: str = ""
    error: str | None = None

    @property
    def complex(self) -> bool:
        return self.type == "complex"


#: a field's condition that only the JSON edits (else branches, several values, several conditions)
COMPLEX_WHEN = "json"


def _when_of(found: list[Any], listed: list[Any] | None) -> tuple[str, bool]:
    """A row's `when` and whether its branch requires it, from the schema's branches of the field and
    those of them in conditions the list writes (a field with any other condition is the JSON's)."""
    if found == listed and len(found) == 1 and not found[0].negate and len(found[0].values) == 1:
        return f"{found[0].field}={json.dumps(found[0].values[0], ensure_ascii=False)}", found[0].required
    return COMPLEX_WHEN, False


def when_choices(rows: list[FieldRow]) -> list[tuple[str, str, str]]:
    """(value, the field's key as loaded, label) of each condition the list offers: a value of a field with
    choices (its options, or yes and no)."""
    found = []
    for row in rows:
        name = row.orig or row.key
        label = localized(row.title) or row.key
        if row.type == "boolean":
            values: list[tuple[Any, str]] = [(True, _("是")), (False, _("否"))]
        elif row.type in ("string", "integer", "number") and row.options.strip():
            try:
                values = [_parse_option(line.strip(), row.type) for line in row.options.splitlines() if line.strip()]
            except ValueError:
                continue
            values = [(v, localized(t) if t else str(v)) for v, t in values]
        else:
            continue
        for value, text in values:
            found.append((f"{name}={json.dumps(value, ensure_ascii=False)}", name, f"{label} = {text}"))
    return found


def _choice_lines(schema: dict[str, Any]) -> str:
    target = schema.get("items") if schema.get("type") == "array" and isinstance(schema.get("items"), dict) \
        else schema
    lines = []
    for key in ("oneOf", "anyOf"):
        branches = target.get(key)
        if isinstance(branches, list) and branches and all(isinstance(b, dict) and "const" in b for b in branches):
            for b in branches:
                value = b["const"] if isinstance(b["const"], str) else json.dumps(b["const"], ensure_ascii=False)
                lines.append(f"{value} = {b['title']}" if b.get("title") else value)
            return "\n".join(lines)
    if isinstance(target.get("enum"), list):
        return "\n".join(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in target["enum"])
    return ""


def row_type(prop: Any, hints: Any) -> str:
    """Which of SIMPLE_TYPES a property is, or "complex"."""
    if not isinstance(prop, dict):
        return "complex"
    if any(k in prop for k in ("$ref", "allOf", "properties")):
        return "complex"
    kind = prop.get("type")
    widget = hints.get("ui:widget") if isinstance(hints, dict) else None
    if kind == "string":
        if prop.get("format") == "date":
            return "date"
        if prop.get("format") == USER_FORMAT:
            role = prop.get(ROLE_KEYWORD)
            return "person" if role is None or role in role_labels() else "complex"
        if prop.get("format") not in (None, ""):
            return "complex"
        return "textarea" if widget == "textarea" else "string"
    if kind in ("integer", "number", "boolean"):
        return kind
    if kind == "array":
        items = prop.get("items")
        if isinstance(items, dict) and items.get("type") == "string" and _choice_lines(prop) \
                and not any(k in items for k in ("properties", "$ref")):
            return "multi"
    return "complex"


def rows_from_schema(schema: Any, ui: Any) -> list[FieldRow]:
    """The list rows of a parsed schema (its top-level properties, in order)."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return []
    ui = ui if isinstance(ui, dict) else {}
    required = set(schema.get("required") or []) if isinstance(schema.get("required"), list) else set()
    conditional = branches(schema)
    listed = [node for node in [_top_condition(schema), *(schema.get("allOf") or [])] if _listed(node)]
    editable = branches({"properties": schema["properties"], "required": schema.get("required") or [],
                         "allOf": listed})
    rows = []
    for key, prop in schema["properties"].items():
        kind = row_type(prop, ui.get(key))
        title = str(prop.get("title") or "") if isinstance(prop, dict) else ""
        when, needed = _when_of(conditional[key], editable.get(key)) if key in conditional else ("", False)
        if kind == "person":  # the role whose people it offers, in the row's options
            options = str(prop.get(ROLE_KEYWORD) or "")
        else:
            options = _choice_lines(prop) if isinstance(prop, dict) and kind != "complex" else ""
        rows.append(FieldRow(key=key, orig=key, title=title, type=kind, required=key in required or needed,
                             options=options, when=when))
    # the JSON's: other conditions, and one on a field the list offers no choices of; a condition names
    # its fields together, so they are all the JSON's or all the list's
    offered = {value for value, _owner, _label in when_choices(rows)}
    json_fields = {row.key for row in rows if row.when not in ("", *offered)}
    while grown := {name for node in listed if _named(node) & json_fields for name in _named(node)} - json_fields:
        json_fields |= grown
    for row in rows:
        if row.key in json_fields:
            row.when, row.required = COMPLEX_WHEN, row.key in required
    return rows


def rows_from_post(values: Any) -> list[FieldRow]:
    """The list rows as posted (`rows` = count, then `f<i>_key`, `f<i>_orig`, ...)."""
    try:
        count = min(int(values.get("rows") or 0), MAX_ROWS)
    except ValueError:
        count = 0
    rows = []
    for i in range(count):
        kind = values.get(f"f{i}_type") or "string"
        rows.append(FieldRow(key=(values.get(f"f{i}_key") or "").strip(), orig=values.get(f"f{i}_orig") or "",
                             title=(values.get(f"f{i}_title") or "").strip(),
                             type=kind if kind in (*SIMPLE_TYPES, "complex") else "string",
                             required=values.get(f"f{i}_required") == "1",
                             options=(values.get(f"f{i}_options") or "").strip(),
                             when=(values.get(f"f{i}_when") or "").strip()))
    return rows


def apply_op(rows: list[FieldRow], op: str) -> list[FieldRow]:
    """Add a field, or remove / move up / move down the i-th one (`add`, `remove:2`, `up:2`, `down:2`)."""
    rows = list(rows)
    verb, _sep, arg = op.partition(":")
    if verb == "add" and len(rows) < MAX_ROWS:
        taken = {r.key for r in rows}
        n = len(rows) + 1
        while f"field_{n}" in taken:
            n += 1
        rows.append(FieldRow(key=f"field_{n}", title=_("新字段")))
        return rows
    if not arg.isdigit() or int(arg) >= len(rows):
        return rows
    i = int(arg)
    if verb == "remove":
        rows.pop(i)
    elif verb == "up" and i > 0:
        rows[i - 1], rows[i] = rows[i], rows[i - 1]
    elif verb == "down" and i + 1 < len(rows):
        rows[i], rows[i + 1] = rows[i + 1], rows[i]
    return rows


def _parse_option(line: str, kind: str) -> tuple[Any, str | None]:
    value, sep, title = line.partition(" = ")
    value = value.strip()
    parsed: Any = value
    if kind == "integer":
        parsed = int(value)
    elif kind == "number":
        parsed = float(value) if not re.fullmatch(r"-?\d+", value) else int(value)
    return parsed, (title.strip() or None) if sep else None


def _set_options(target: dict[str, Any], lines: list[str], kind: str) -> None:
    for key in ("enum", "oneOf", "anyOf"):
        if key != "enum" and not (isinstance(target.get(key), list)
                                  and all(isinstance(b, dict) and "const" in b for b in target[key])):
            continue
        target.pop(key, None)
    if not lines:
        return
    parsed = [_parse_option(line, kind) for line in lines]
    if any(title for _value, title in parsed):
        target["oneOf"] = [{"const": v, "title": t} if t else {"const": v} for v, t in parsed]
    else:
        target["enum"] = [v for v, _title in parsed]


def _apply_type(prop: dict[str, Any], row: FieldRow, hints: dict[str, Any]) -> None:
    """Make a property of the row's type with its options (keeping every other keyword it had)."""
    lines = [line.strip() for line in row.options.splitlines() if line.strip()]
    if row.type != "multi":
        if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
            for key in ("enum", "oneOf"):
                if key in prop["items"] and key not in prop:
                    prop[key] = prop["items"][key]
        for key in ("items", "uniqueItems", "minItems", "maxItems"):
            prop.pop(key, None)
    if row.type != "person":
        prop.pop(ROLE_KEYWORD, None)
    if row.type in ("string", "textarea", "date", "person"):
        prop["type"] = "string"
        if row.type == "date":
            prop["format"] = "date"
        elif row.type == "person":
            prop["format"] = USER_FORMAT
            if row.options:
                prop[ROLE_KEYWORD] = row.options
            else:
                prop.pop(ROLE_KEYWORD, None)
        elif prop.get("format") in ("date", USER_FORMAT):
            prop.pop("format")
    elif row.type in ("integer", "number", "boolean"):
        prop["type"] = row.type
        for key in ("format", "maxLength", "minLength", "pattern"):
            prop.pop(key, None)
    elif row.type == "multi":
        items = prop.get("items") if prop.get("type") == "array" and isinstance(prop.get("items"), dict) else {}
        items = {**items, "type": "string"}
        for key in ("enum", "oneOf"):
            if key in prop and key not in items:
                items[key] = prop.pop(key)
            prop.pop(key, None)
        prop.pop("format", None)
        prop.update({"type": "array", "items": items, "uniqueItems": True})
    if row.type == "textarea":
        hints["ui:widget"] = "textarea"
    elif hints.get("ui:widget") == "textarea":
        hints.pop("ui:widget")
    if row.type in ("boolean", "person"):
        _set_options(prop, [], row.type)
    elif row.type == "multi":
        _set_options(prop["items"], lines, "string")
    else:
        _set_options(prop, lines, row.type)


def _carry_over(schema: dict[str, Any], ui: dict[str, Any] | None, rows: list[FieldRow]) -> None:
    """A row whose type just changed to or from 人员 drops its options: the column held the other
    type's (a role, or choices), which the browser posts along with the new type."""
    old_props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    hints = ui if isinstance(ui, dict) else {}
    for row in rows:
        was = row_type(old_props[row.orig], hints.get(row.orig)) if row.orig in old_props else None
        if (row.type == "person") != (was == "person") and was is not None:
            row.options = ""


def apply_rows(schema: dict[str, Any], ui: dict[str, Any] | None, rows: list[FieldRow]
               ) -> tuple[dict[str, Any], dict[str, Any] | None, bool]:
    """Rewrite the schema's top-level fields (and the hints' field keys and order) from the list.

    Returns the new schema, the new hints and whether it worked; on a bad row (empty, invalid or repeated
    key, an option that is not a number in a number field, a condition on a value no other field offers)
    the row carries the error and nothing changes.
    """
    ok = True
    seen: set[str] = set()
    _carry_over(schema, ui, rows)
    choices = {value: owner for value, owner, _label in when_choices(rows)}
    # per row, the conditions it may take: the values of the other fields' choices
    offered = {row.orig or row.key: {v for v, owner in choices.items() if owner != (row.orig or row.key)}
               for row in rows}
    for row in rows:
        row.error = None
        if not row.key:
            row.error = _("请填写字段名")
        elif not KEY.match(row.key):
            row.error = _("字段名只能用英文字母、数字和下划线，且不能以数字开头")
        elif row.key in seen:
            row.error = _("字段名“%(key)s”重复了", key=row.key)
        seen.add(row.key)
        if row.error is None and row.type in ("integer", "number"):
            for line in (ln.strip() for ln in row.options.splitlines()):
                try:
                    if line:
                        _parse_option(line, row.type)
                except ValueError:
                    row.error = _("选项“%(value)s”不是数字", value=line.partition(" = ")[0].strip())
                    break
        if row.error is None and row.type == "person" and row.options not in ("", *role_labels()):
            row.error = _("没有“%(role)s”这个角色", role=row.options)
        if row.error is None and row.when not in ("", COMPLEX_WHEN) and row.when not in offered[row.orig or row.key]:
            # a value its field no longer offers, or no choice of another field at all
            row.error = _("显示条件不再有效，请重新选择")
        ok = ok and row.error is None
    if not ok:
        return schema, ui, False
    schema = copy.deepcopy(schema)
    hints = copy.deepcopy(ui) if isinstance(ui, dict) else {}
    old_props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    old_hints = {k: v for k, v in hints.items() if not k.startswith("ui:")}
    new_props: dict[str, Any] = {}
    new_hints: dict[str, Any] = {k: v for k, v in hints.items() if k.startswith("ui:")}
    for row in rows:
        prop = copy.deepcopy(old_props.get(row.orig)) if row.orig in old_props else {"type": "string"}
        if not isinstance(prop, dict):
            prop = {}
        field_hints = copy.deepcopy(old_hints.get(row.orig)) if isinstance(old_hints.get(row.orig), dict) else {}
        if row.title:
            prop["title"] = row.title
        else:
            prop.pop("title", None)
        if not row.complex:
            _apply_type(prop, row, field_hints)
        new_props[row.key] = prop
        if field_hints:
            new_hints[row.key] = field_hints
    schema["properties"] = new_props
    schema.setdefault("type", "object")
    keys = {(row.orig or row.key): row.key for row in rows}
    conditions = _write_conditions(schema, rows, keys)
    required = [row.key for row in rows if row.required and row.key not in conditions]
    if required or "required" in schema:
        schema["required"] = required
    order = hints.get("ui:order")
    if isinstance(order, list):
        new_hints["ui:order"] = [r.key for r in rows] + (["*"] if "*" in order else [])
    # keep the hints' own keys (ui:...) first, then fields in list order, as people write them by hand
    if ui is None and not new_hints:
        return schema, None, True
    return schema, new_hints, True


def _listed(node: Any) -> bool:
    """An if/then the field list writes (and so rewrites): a field's value, then fields and nothing else."""
    if not isinstance(node, dict) or set(node) - {"if", "then"} or choice_of(node.get("if")) is None:
        return False
    then = node.get("then")
    return (isinstance(then, dict) and not set(then) - {"required", "properties"}
            and all(v == {} for v in (then.get("properties") or {}).values()))


def _named(node: dict[str, Any]) -> set[str]:
    """The fields an if/then of the list's shape shows on its condition."""
    then = node["then"]
    return {*(then.get("required") or []), *(then.get("properties") or {})}


def _top_condition(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema's own if/then/else, as one node like those of its `allOf`."""
    return {k: schema[k] for k in ("if", "then", "else") if k in schema}


def _write_conditions(schema: dict[str, Any], rows: list[FieldRow], keys: dict[str, str]) -> set[str]:
    """Rewrite the list's if/then conditions (in `allOf`) from the rows' `when`; keep the others (and those
    naming a field whose condition is the JSON's). Returns
    the keys of the fields now shown on a condition (required by it, if at all, not by the form)."""
    json_fields = {row.orig or row.key for row in rows if row.when == COMPLEX_WHEN}

    def rewritten(node: Any) -> bool:
        return _listed(node) and not _named(node) & json_fields

    kept = [node for node in (schema.get("allOf") or []) if not rewritten(node)]
    if "if" in schema and rewritten(_top_condition(schema)):
        schema.pop("if")
        schema.pop("then", None)
    groups: dict[tuple[str, str], dict[str, list[str]]] = {}
    conditioned = set()
    for row in rows:
        if not row.when or row.when == COMPLEX_WHEN:
            continue
        name, _sep, value = row.when.partition("=")  # a choice of another row (checked by apply_rows)
        group = groups.setdefault((keys[name], value), {"required": [], "properties": []})
        group["required" if row.required else "properties"].append(row.key)
        conditioned.add(row.key)
    for (name, value), group in groups.items():
        then: dict[str, Any] = {}
        if group["required"]:
            then["required"] = group["required"]
        if group["properties"]:
            then["properties"] = {key: {} for key in group["properties"]}
        kept.append({"if": {"properties": {name: {"const": json.loads(value)}}, "required": [name]}, "then": then})
    if kept:
        schema["allOf"] = kept
    else:
        schema.pop("allOf", None)
    return conditioned


# --- checking and previewing ----------------------------------------------------------------------

@dataclass
class Problem:
    line: int | None
    message: str


@dataclass
class Workspace:
    """Everything the editor shows: the two texts, their problems, the field list and the preview."""

    filename: str
    ui_name: str
    schema_text: str
    ui_text: str
    rows: list[FieldRow] = field(default_factory=list)
    schema_problems: list[Problem] = field(default_factory=list)
    ui_problems: list[Problem] = field(default_factory=list)
    rows_message: str | None = None
    form: Form | None = None
    preview_error: str | None = None
    #: the schema text is a JSON object (so the field list can show it)
    parsed: bool = False

    @property
    def ok(self) -> bool:
        return not self.schema_problems and not self.ui_problems

    @property
    def when_options(self) -> list[tuple[str, str, str]]:
        return when_choices(self.rows)


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


def _no_row_buttons(fields: list[Field]) -> None:
    for f in fields:
        f.can_add = f.can_remove = False
        _no_row_buttons(f.children)
        for row in f.rows:
            _no_row_buttons(row)


def check(filename: str, ui_name: str, schema_text: str, ui_text: str) -> tuple[list[Problem], list[Problem]]:
    """Problems of the schema and of the hints, worded as a publish words them (line and message)."""
    files = {filename: schema_text.encode("utf-8")}
    if ui_text.strip():
        files[ui_name] = ui_text.encode("utf-8")
    found = validate_bundle(files)
    english = _english()
    by_file: dict[str, list[Problem]] = {filename: [], ui_name: []}
    for p in found:
        by_file.setdefault(p.file, []).append(Problem(p.line, p.message if english or not p.message_zh
                                                      else p.message_zh))
    if ui_text.strip() and not by_file[ui_name]:
        try:
            if not isinstance(json.loads(ui_text), dict):
                by_file[ui_name].append(Problem(1, _("界面提示必须是 JSON 对象（{...}）")))
        except ValueError:
            pass
    return by_file[filename], by_file[ui_name]


def workspace(s: Session, filename: str, ui_name: str, schema_text: str, ui_text: str, *,
              posted_rows: list[FieldRow] | None = None, op: str = "") -> Workspace:
    """Check the texts, apply the field list's edits (when posted) and render the preview."""
    ws = Workspace(filename=filename, ui_name=ui_name, schema_text=schema_text, ui_text=ui_text)
    schema: Any = None
    ui: Any = None
    try:
        schema = json.loads(schema_text)
    except ValueError:
        schema = None
    try:
        ui = json.loads(ui_text) if ui_text.strip() else None
    except ValueError:
        ui = False  # invalid: keep the text as it is
    if posted_rows is not None:
        rows = apply_op(posted_rows, op) if op else posted_rows
        if not isinstance(schema, dict) or ui is False or (ui is not None and not isinstance(ui, dict)):
            ws.rows = rows
            ws.rows_message = _("请先改正下面 JSON 中的错误，字段列表才能修改表单。")
        else:
            new_schema, new_ui, applied = apply_rows(schema, ui, rows)
            if applied:
                schema, ui = new_schema, new_ui
                ws.schema_text = dump(schema)
                if ui is not None:
                    ws.ui_text = dump(ui)
                ws.rows = rows_from_schema(schema, ui)
            else:
                ws.rows = rows
                ws.rows_message = _("字段列表有错误，表单没有改动。")
    ws.schema_problems, ws.ui_problems = check(filename, ui_name, ws.schema_text, ws.ui_text)
    ws.parsed = isinstance(schema, dict)
    if posted_rows is None or not ws.rows:
        ws.rows = ws.rows or rows_from_schema(schema, ui)
    if isinstance(schema, dict) and not ws.schema_problems:
        try:
            departments = [(d.code, d.name) for d in s.scalars(select(Department).order_by(Department.id))]
            # a person field lists the people of the designer's place and above, as a case there would
            ws.form = build_form(schema, ui if isinstance(ui, dict) else {}, departments=departments,
                                 people=lambda role: person_choices(people_for(s, g.user.org_unit, role)))
            _no_row_buttons(ws.form.fields)
        except Exception:  # noqa: BLE001 - a schema the renderer cannot handle is shown as such, never a 500
            current_app.logger.exception("form preview of %s failed", filename)
            ws.form = None
            ws.preview_error = _("这个表单无法预览，请检查字段定义。")
    elif ws.schema_problems:
        ws.preview_error = _("改正表单 JSON 的错误后显示预览。")
    return ws


# --- the page -------------------------------------------------------------------------------------

def usage(s: Session, filename: str, ui_name: str) -> tuple[list[str], list[str]]:
    """The processes (newest versions) whose user tasks use the form, and those of them that do not name
    its UI hints file (so the hints would not apply there)."""
    users, without_hints = [], []
    for pv in list_latest_processes(s):
        if filename in (pv.forms or []):
            users.append(pv.process_id)
            if ui_name not in (pv.forms or []):
                without_hints.append(pv.process_id)
    return users, without_hints


def _require_reader() -> None:
    if g.user is None or not g.user.has_role(*READERS):
        abort(403)


def _check_filename(filename: str) -> str:
    """Only schema file names (a .ui.json opens its schema's editor)."""
    if not FILENAME.match(filename) or ".." in filename:
        abort(404)
    return filename


def _texts(s: Session, filename: str, ui_name: str, editable: bool) -> tuple[str, str, dict[str, Any]]:
    """The texts the editor opens with, and what state they are in (draft or published, by whom)."""
    state: dict[str, Any] = {"draft": None, "ui_draft": None, "version": None, "new": False, "stale": False}
    try:
        schema_text, _is_draft = drafts.current_text(s, filename)
    except NotFound:
        if not editable:
            abort(404)
        schema_text = dump({**NEW_SCHEMA, "title": filename[: -len(".json")]})
        state["new"] = True
    try:
        ui_text, _ui_draft = drafts.current_text(s, ui_name)
    except NotFound:
        ui_text = ""
    draft = drafts.get_draft(s, filename)
    ui_draft = drafts.get_draft(s, ui_name)
    state["draft"], state["ui_draft"] = draft, ui_draft
    state["stale"] = any(d is not None and drafts.stale(s, d) for d in (draft, ui_draft))
    published = drafts.published_artifact(s, filename)
    if published is not None:
        from app.studio.history import latest_version

        state["version"] = latest_version(s, "form", filename)
    return schema_text, ui_text, state


def _page(s: Session, ws: Workspace, state: dict[str, Any], *, editable: bool, note: str = "",
          publish_errors: list[tuple[str, Problem]] | None = None, note_error: str | None = None,
          status: int = 200) -> Any:
    from app.web.studio import studio_link

    history = None
    if state.get("version"):
        history = url_for("web.studio_history", kind="form", ident=ws.filename) \
            if "web.studio_history" in current_app.view_functions else None
    draft = state.get("draft") or state.get("ui_draft")
    draft_by = None
    if draft is not None and draft.updated_by_id:
        from app.org.models import User

        author = s.get(User, draft.updated_by_id)
        draft_by = author.display_name if author else None
    used_by, without_hints = usage(s, ws.filename, ws.ui_name)
    body = render_template(
        "web/form_editor.html", ws=ws, state=state, used_by=used_by, without_hints=without_hints,
        editable=editable, note=note, types=type_labels(), roles=role_labels(),
        publish_errors=publish_errors or [], note_error=note_error, history=history, draft=draft,
        draft_by=draft_by, studio=studio_link("web.studio"), simple_types=SIMPLE_TYPES,
        **upload_limits())
    return body, status


@bp.route("/studio/forms/<filename>", methods=["GET", "POST"])
@login_required
def studio_form(filename: str) -> Any:
    """Show the editor; on POST save, publish or discard (or, without JavaScript, preview and list edits)."""
    _check_filename(filename)
    if filename.endswith(UI_SUFFIXES):
        return redirect(url_for("web.studio_form", filename=schema_name_for(filename)))
    if request.method == "GET":
        with page_session() as s:
            _require_reader()
            editable = drafts.can_edit(g.user, filename)
            ui_name = ui_name_for(s, filename)
            schema_text, ui_text, state = _texts(s, filename, ui_name, editable)
            return _page(s, workspace(s, filename, ui_name, schema_text, ui_text), state, editable=editable)
    return _post(filename)


def _post(filename: str) -> Any:
    action = request.form.get("action") or ""
    op = request.form.get("op") or ""
    schema_text = request.form.get("schema", "")
    ui_text = request.form.get("ui", "")
    note = (request.form.get("note") or "").strip()
    with page_session() as s:
        _require_reader()
        editable = drafts.can_edit(g.user, filename)
        ui_name = ui_name_for(s, filename)
        if action in ("save", "publish", "discard") and not editable:
            abort(403)
        _old_schema, _old_ui, state = _texts(s, filename, ui_name, editable)
        if not editable or action not in ("save", "publish", "discard"):
            posted = rows_from_post(request.form) if request.form.get("source") == "fields" or op else None
            ws = workspace(s, filename, ui_name, schema_text, ui_text, posted_rows=posted, op=op)
            return _page(s, ws, state, editable=editable, note=note)
    if action == "discard":
        return _discard(filename, ui_name)
    if action == "publish" and not note:
        with page_session() as s:
            ws = workspace(s, filename, ui_name, schema_text, ui_text)
            return _page(s, ws, state, editable=True, note=note, note_error=_("请填写发布说明：改了什么、为什么。"),
                         status=422)
    if len(note) > MAX_NOTE:
        with page_session() as s:
            ws = workspace(s, filename, ui_name, schema_text, ui_text)
            return _page(s, ws, state, editable=True, note=note,
                         note_error=_("说明最多 %(n)s 个字。", n=MAX_NOTE), status=422)
    try:
        with page_session(write=True) as s:
            changed = _save(s, filename, ui_name, schema_text, ui_text)
    except DomainError as exc:
        with page_session() as s:
            ws = workspace(s, filename, ui_name, schema_text, ui_text)
            message = "; ".join(exc.fields.values()) or exc.message
            return _page(s, ws, state, editable=True, note=note, status=exc.status,
                         publish_errors=[(filename, Problem(None, message))])
    if action == "save":
        flash(_("草稿已保存，尚未发布。") if changed else _("没有改动，与已发布的版本相同。"))
        return redirect(url_for("web.studio_form", filename=filename))
    return _publish(filename, ui_name, schema_text, ui_text, note)


def _save(s: Session, filename: str, ui_name: str, schema_text: str, ui_text: str) -> list[str]:
    """Keep each text as a draft where it differs from the published file; drop drafts equal to it."""
    changed = []
    for name, text in ((filename, schema_text), (ui_name, ui_text)):
        text = text.replace("\r\n", "\n")
        published = drafts.published_artifact(s, name)
        draft = drafts.get_draft(s, name)
        if name == ui_name and not text.strip() and published is None:
            if draft is not None:
                drafts.discard_draft(s, g.user, name)
            continue
        if published is not None and published.content == text:
            if draft is not None:
                drafts.discard_draft(s, g.user, name)
            continue
        drafts.save_draft(s, g.user, name, text)
        changed.append(name)
    return changed


def _publish(filename: str, ui_name: str, schema_text: str, ui_text: str, note: str) -> Any:
    try:
        with page_session(write=True) as s:
            names = [n for n in (filename, ui_name) if drafts.get_draft(s, n) is not None]
            if not names:
                flash(_("没有改动，无需发布。"))
                return redirect(url_for("web.studio_form", filename=filename))
            result = drafts.publish(s, g.user, names, note=note)
            versions = ", ".join(f"{fv.filename} v{fv.version}" for fv in result.forms)
    except BundleInvalid as exc:
        with page_session() as s:
            _schema, _ui, state = _texts(s, filename, ui_name, True)
            ws = workspace(s, filename, ui_name, schema_text, ui_text)
            english = _english()
            errors = [(p.file, Problem(p.line, p.message if english or not p.message_zh else p.message_zh))
                      for p in exc.problems]
            return _page(s, ws, state, editable=True, note=note, publish_errors=errors, status=422)
    flash(_("已发布：%(versions)s。新的任务按新表单填写。", versions=versions))
    return redirect(url_for("web.studio_form", filename=filename))


def _discard(filename: str, ui_name: str) -> Any:
    with page_session(write=True) as s:
        found = False
        for name in (filename, ui_name):
            if drafts.get_draft(s, name) is not None:
                drafts.discard_draft(s, g.user, name)
                found = True
    flash(_("已放弃草稿，恢复为已发布的版本。") if found else _("没有草稿可放弃。"))
    return redirect(url_for("web.studio_form", filename=filename))


@bp.post("/studio/forms/<filename>/preview")
@login_required
def studio_form_preview(filename: str) -> Any:
    """htmx: check the posted texts and render the preview; with `source=fields` apply the field list first."""
    _check_filename(filename)
    with page_session() as s:
        _require_reader()
        editable = drafts.can_edit(g.user, filename)
        ui_name = ui_name_for(s, filename)
        source = request.form.get("source") or "text"
        op = request.form.get("op") or ""
        posted = rows_from_post(request.form) if editable and (source == "fields" or op) else None
        ws = workspace(s, filename, ui_name, request.form.get("schema", ""), request.form.get("ui", ""),
                       posted_rows=posted, op=op)
        if posted is None:
            template = "web/form_editor_preview.html"
        elif request.form.get("light") == "1" and not op:
            template = "web/form_editor_light.html"
        else:
            template = "web/form_editor_workspace.html"
        return render_template(template, ws=ws, editable=editable, types=type_labels(), roles=role_labels(),
                               simple_types=SIMPLE_TYPES, oob=True, **upload_limits())
