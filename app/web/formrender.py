"""Task forms on the server: JSON Schema + UI hints → fields to render, and submitted strings → typed data.

`build_form()` turns a schema, its UI hints (the react-jsonschema-form vocabulary: `ui:order`,
`ui:widget`, `ui:options`, `ui:placeholder`, `ui:help`, ...), the current values and the errors into a
tree of `Field`s that `_form_fields.html` renders without any JavaScript. `read_form()` reads a
submitted form back into data of the schema's types (conversion errors keyed by field path), and
`friendly_errors()` words schema errors in the UI language, keyed like `validate_form_data`.

A top-level field that belongs to one choice of another (`app.forms.schema.branches`: named in a
schema `if`/`then`) is rendered in a fieldset that is hidden and disabled while the choice is not
made; app.js shows it when the choice changes (without JavaScript, a submission with the choice made
comes back with the field shown), and `read_form()` drops what it held when its choice was not made.

A string field of `format: username` names a person (with `x-role`, one of that role): a drop-down of
the people `build_form(people=)` lists, a username in the data.

HTML names are the fields' dotted paths (`parties.0.name`), the same paths the validation errors use,
so every message lands next to its field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from jsonschema import Draft202012Validator
from werkzeug.datastructures import FileStorage, MultiDict

from app.bilingual import split_title
from app.forms.schema import (
    USER_FORMAT,
    branches,
    person_role,
    resolve,
    takes_files,
    unchosen,
    user_references,
)
from app.timeutil import LOCAL_TZ

#: choices up to this many are radio buttons; more are a drop-down list
RADIO_LIMIT = 5
#: strings allowed longer than this get a multi-line box
LONG_TEXT = 200
#: the most rows a repeatable list shows or reads
MAX_ROWS = 100
#: what the form sends besides the fields: "add:<path>" or "remove:<path>.<i>" (rows), or nothing
ACTION = "_action"

_DEPARTMENT_KEY = re.compile(r"(^|[_.])(departments?|depts?)$", re.IGNORECASE)
_DEPARTMENT_TITLE = re.compile(r"(部门|单位)", re.IGNORECASE)
_PHONE_KEY = re.compile(r"(phone|mobile|tel)$|电话|手机", re.IGNORECASE)
#: widgets whose emptiness decides whether a repeated row was left blank
_TEXTUAL = frozenset({"text", "textarea", "number", "date", "datetime", "time", "email", "url", "tel", "lines",
                      "file", "json"})

Upload = Callable[[str, FileStorage], int]
#: the people a person field (`format: username`) offers, for its role (None: any): (username, label)
People = Callable[[str | None], Sequence[tuple[str, str]]]


@dataclass
class Option:
    value: str
    label: str
    selected: bool = False


@dataclass
class Field:
    """One thing to render: an input, a group of inputs, or a list of rows."""

    name: str
    label: str
    widget: str
    required: bool = False
    description: str = ""
    help: str = ""
    value: Any = ""
    error: str | None = None
    options: list[Option] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    children: list[Field] = field(default_factory=list)
    rows: list[list[Field]] = field(default_factory=list)
    can_add: bool = False
    can_remove: bool = False
    multiple: bool = False
    files: list[Any] = field(default_factory=list)
    #: a field of one choice (schema `if`/`then`): when to show it, for app.js, and whether it is hidden now
    show_when: list[dict[str, Any]] = field(default_factory=list)
    hidden: bool = False

    @property
    def id(self) -> str:
        return "f-" + re.sub(r"[^0-9A-Za-z_-]", "-", self.name)


@dataclass
class Form:
    title: str
    description: str
    fields: list[Field]
    submit_text: str
    #: messages that belong to no one field (shown above the form)
    errors: list[str] = field(default_factory=list)
    multipart: bool = False


# --- text in two languages ---------------------------------------------------------------------

def person_choices(users: Sequence[Any]) -> list[tuple[str, str]]:
    """(username, "name（place）") of each user, for a person field's drop-down (`build_form(people=)`)."""
    return [(u.username, f"{u.display_name or u.username}{_('（')}{u.org_unit.name}{_('）')}") for u in users]


def localized(text: Any) -> str:
    """The part of a bilingual title or description in the UI's language."""
    if not isinstance(text, str):
        return "" if text is None else str(text)
    chinese, english = split_title(text)
    return english if str(get_locale() or "zh").startswith("en") else chinese


# --- schema helpers ----------------------------------------------------------------------------

def _type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None:
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        consts = [o.get("const") for o in _choices(schema)] if _choices(schema) else schema.get("enum")
        if consts:
            first = consts[0]
            return "boolean" if isinstance(first, bool) else "integer" if isinstance(first, int) \
                else "number" if isinstance(first, float) else "string"
    return kind if isinstance(kind, str) else None


def _choices(schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    for key in ("oneOf", "anyOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches and all(
                isinstance(b, Mapping) and ("const" in b or (isinstance(b.get("enum"), list) and len(b["enum"]) == 1))
                for b in branches):
            return [{"const": b["const"] if "const" in b else b["enum"][0], "title": b.get("title")} for b in branches]
    return []


def encode(value: Any) -> str:
    """The HTML value of a choice: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def is_department_field(key: str, schema: Mapping[str, Any]) -> bool:
    """True when a field names departments: its key (`departments`, `lead_department`) or title (部门)."""
    title = split_title(str(schema.get("title") or ""))[0]
    return bool(_DEPARTMENT_KEY.search(key) or (title and _DEPARTMENT_TITLE.search(title)))


def _options(key: str, schema: Mapping[str, Any], ui: Mapping[str, Any],
             departments: Sequence[tuple[str, str]]) -> list[Option]:
    choices = _choices(schema)
    if choices:
        return [Option(encode(c["const"]), localized(c.get("title")) or encode(c["const"])) for c in choices]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        names = ui.get("ui:enumNames") or schema.get("enumNames") or []
        return [Option(encode(v), localized(names[i]) if i < len(names) else encode(v)) for i, v in enumerate(enum)]
    if "const" in schema:
        return [Option(encode(schema["const"]), localized(schema.get("title")) or encode(schema["const"]))]
    if _type(schema) == "string" and departments and is_department_field(key, schema):
        return [Option(code, name) for code, name in departments]
    return []


def _decode(raw: str, options: Sequence[Option], schema: Mapping[str, Any]) -> Any:
    for option in options:
        if option.value == raw:
            choices = _choices(schema)
            consts = [c["const"] for c in choices] if choices else schema.get("enum") or \
                ([schema["const"]] if "const" in schema else None)
            if consts:
                for const in consts:
                    if encode(const) == raw:
                        return const
            return raw
    return raw


def widget_of(key: str, schema: Mapping[str, Any], ui: Mapping[str, Any], *, required: bool = False,
              departments: Sequence[tuple[str, str]] = (), root: Mapping[str, Any] | None = None) -> str:
    """Which input a property gets (see the module docstring for the vocabulary)."""
    hint = ui.get("ui:widget")
    kind = _type(schema)
    if hint == "hidden":
        return "hidden"
    items = resolve(schema.get("items"), root) if kind == "array" else {}
    if takes_files(schema, root or schema) is not None:
        return "file"
    if kind == "boolean":
        if hint in ("radio", "select"):
            return "yesno"
        if hint == "checkbox":
            return "checkbox"
        return "yesno" if required else "checkbox"
    if kind == "array":
        item_kind = _type(items)
        if _options(key, items, {}, departments):
            return "multiselect" if hint == "select" else "checkboxes"
        if item_kind == "object" and all(
                _type(resolve(p, root)) in ("string", "integer", "number", "boolean")
                for p in (items.get("properties") or {}).values()):
            return "rows"
        if item_kind in ("string", "integer", "number"):
            return "lines"
        return "json"
    if kind == "object":
        return "group" if isinstance(schema.get("properties"), Mapping) else "json"
    if kind == "string" and schema.get("format") == USER_FORMAT:
        return "select"  # the people who may be named, listed when the form is built
    options = _options(key, schema, ui, departments)
    if options:
        if hint in ("radio", "select"):
            return "radios" if hint == "radio" else "select"
        return "radios" if len(options) <= RADIO_LIMIT else "select"
    if kind in ("integer", "number"):
        return "number"
    if kind == "string":
        fmt = schema.get("format")
        if fmt in ("date", "time", "email"):
            return fmt
        if fmt == "date-time":
            return "datetime"
        if fmt in ("uri", "url"):
            return "url"
        max_length = schema.get("maxLength")
        if hint == "textarea" or (isinstance(max_length, int) and max_length > LONG_TEXT):
            return "textarea"
        if _PHONE_KEY.search(key):
            return "tel"
        return "text"
    return "json"


def ordered_keys(properties: Mapping[str, Any], ui: Mapping[str, Any]) -> list[str]:
    """The properties in `ui:order` order ("*" stands for the rest, which otherwise come last)."""
    order = [k for k in ui.get("ui:order") or [] if k == "*" or k in properties]
    rest = [k for k in properties if k not in order]
    if "*" in order:
        i = order.index("*")
        return [*order[:i], *rest, *order[i + 1:]]
    return [*order, *rest]


# --- showing values ----------------------------------------------------------------------------

def _local_datetime(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return "" if value is None else str(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(LOCAL_TZ)
    return moment.strftime("%Y-%m-%dT%H:%M")


def _shown(widget: str, value: Any) -> Any:
    if value is None:
        return [] if widget in ("checkboxes", "multiselect") else ""
    if widget in ("checkboxes", "multiselect"):
        return [encode(v) for v in value] if isinstance(value, list) else [encode(value)]
    if widget in ("select", "radios", "hidden"):
        return encode(value)
    if widget == "yesno":
        return "true" if value is True else "false" if value is False else ""
    if widget == "checkbox":
        return value is True
    if widget == "datetime":
        return _local_datetime(value)
    if widget == "lines":
        return "\n".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if widget == "json":
        return json.dumps(value, ensure_ascii=False, indent=1) if not isinstance(value, str) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- building the fields -----------------------------------------------------------------------

class _Builder:
    def __init__(self, root: Mapping[str, Any], errors: Mapping[str, str], raw: Mapping[str, str],
                 departments: Sequence[tuple[str, str]], use_defaults: bool,
                 file_lookup: Callable[[list[int]], list[Any]] | None, people: People | None) -> None:
        self.root = root
        self.errors = dict(errors)
        self.raw = raw
        self.departments = departments
        self.people = people
        self.use_defaults = use_defaults
        self.file_lookup = file_lookup
        self.used: set[str] = set()
        self.multipart = False
        #: the top-level fields' values as shown (for the conditions of fields of one choice)
        self.current: dict[str, Any] = {}

    def error(self, name: str, *, deep: bool = False) -> str | None:
        if name in self.errors:
            self.used.add(name)
            return self.errors[name]
        if deep:
            for key, message in self.errors.items():
                if key.startswith(name + "."):
                    self.used.add(key)
                    return message
        return None

    def object_fields(self, schema: Mapping[str, Any], ui: Mapping[str, Any], values: Mapping[str, Any],
                      prefix: str) -> list[Field]:
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        fields = []
        for key in ordered_keys(properties, ui):
            sub_ui = ui.get(key) if isinstance(ui.get(key), Mapping) else {}
            fields.append(self.field(key, resolve(properties[key], self.root), sub_ui, values,
                                     f"{prefix}{key}", key in required))
        return fields

    def field(self, key: str, schema: dict[str, Any], ui: Mapping[str, Any], values: Mapping[str, Any],
              name: str, required: bool) -> Field:
        widget = widget_of(key, schema, ui, required=required, departments=self.departments, root=self.root)
        if key in values:
            value = values[key]
        elif self.use_defaults and "default" in schema:
            value = schema["default"]
        else:
            value = None
        if name == key and value is not None:
            self.current[key] = value
        options_ui = ui.get("ui:options") if isinstance(ui.get("ui:options"), Mapping) else {}
        result = Field(name=name, widget=widget, required=required,
                       label=localized(ui.get("ui:title") or schema.get("title")) or key,
                       description=localized(ui.get("ui:description") or schema.get("description")),
                       help=localized(ui.get("ui:help")))
        attrs = result.attrs
        if ui.get("ui:placeholder"):
            attrs["placeholder"] = localized(ui["ui:placeholder"])
        if ui.get("ui:autofocus"):
            attrs["autofocus"] = True
        if schema.get("readOnly") or ui.get("ui:readonly"):
            attrs["readonly"] = True
        if widget == "group":
            result.children = self.object_fields(schema, ui, value if isinstance(value, Mapping) else {},
                                                 name + ".")
            result.error = self.error(name)
            return result
        if widget == "rows":
            self.rows(result, schema, ui, value)
            return result
        deep = widget in ("checkboxes", "multiselect", "lines", "file", "json")
        result.error = self.error(name, deep=deep)
        if widget in ("checkboxes", "multiselect"):
            items = resolve(schema.get("items"), self.root)
            result.options = _options(key, items, ui.get("items") or {}, self.departments)
            result.multiple = True
        elif widget == "select" and schema.get("format") == USER_FORMAT:
            result.options = self.person_options(schema, value)
        elif widget in ("select", "radios"):
            result.options = _options(key, schema, ui, self.departments)
        elif widget == "yesno":
            result.options = [Option("true", _("是")), Option("false", _("否"))]
        shown = self.raw.get(name, _shown(widget, value)) if widget not in ("checkboxes", "multiselect") \
            else _shown(widget, value)
        result.value = shown
        for option in result.options:
            option.selected = option.value in shown if result.multiple else option.value == shown
        if widget == "file":
            self.multipart = True
            result.multiple = _type(schema) == "array"
            ids = value if isinstance(value, list) else [value] if value not in (None, "") else []
            numbers = [int(v) for v in ids if isinstance(v, int) or (isinstance(v, str) and v.isdigit())]
            result.files = self.file_lookup(numbers) if self.file_lookup and numbers else []
            attrs["accept"] = options_ui.get("accept") or ""
        if widget == "textarea":
            attrs["rows"] = options_ui.get("rows") or 4
        if widget in ("text", "textarea", "tel", "email", "url") and isinstance(schema.get("maxLength"), int):
            attrs["maxlength"] = schema["maxLength"]
        if widget == "number":
            for word, attr in (("minimum", "min"), ("maximum", "max")):
                if isinstance(schema.get(word), int | float):
                    attrs[attr] = schema[word]
            attrs["step"] = schema.get("multipleOf") or (1 if _type(schema) == "integer" else "any")
            attrs["inputmode"] = "numeric" if _type(schema) == "integer" else "decimal"
        if widget == "lines" and isinstance(schema.get("maxItems"), int):
            result.help = result.help or _("每行一项，最多 %(n)s 项", n=schema["maxItems"])
        elif widget == "lines":
            result.help = result.help or _("每行一项")
        return result

    def person_options(self, schema: Mapping[str, Any], value: Any) -> list[Option]:
        """The people a person field may name; a value that is none of them stays listed as it is, so
        that the server's word on it lands next to it."""
        people = self.people(person_role(schema)) if self.people else ()
        options = [Option(username, label) for username, label in people]
        if isinstance(value, str) and value and all(o.value != value for o in options):
            options.append(Option(value, value))
        return options

    def rows(self, result: Field, schema: Mapping[str, Any], ui: Mapping[str, Any], value: Any) -> None:
        items = resolve(schema.get("items"), self.root)
        item_ui = ui.get("items") if isinstance(ui.get("items"), Mapping) else {}
        rows = [r if isinstance(r, Mapping) else {} for r in value] if isinstance(value, list) else []
        low = schema.get("minItems") if isinstance(schema.get("minItems"), int) else 0
        high = min(schema.get("maxItems") if isinstance(schema.get("maxItems"), int) else MAX_ROWS, MAX_ROWS)
        has_text = any(widget_of(k, resolve(p, self.root), {}, departments=self.departments) in _TEXTUAL
                       for k, p in (items.get("properties") or {}).items())
        wanted = max(low, 1 if has_text and high > 0 else 0)
        while len(rows) < wanted:
            rows.append({})
        saved = self.use_defaults
        for i, row in enumerate(rows[:high]):
            self.use_defaults = saved or row == {}
            result.rows.append(self.object_fields(items, item_ui, row, f"{result.name}.{i}."))
        self.use_defaults = saved
        result.can_add = len(result.rows) < high
        result.can_remove = len(result.rows) > low
        result.error = self.error(result.name)


def build_form(schema: Mapping[str, Any], ui: Mapping[str, Any] | None, values: Mapping[str, Any] | None = None,
               errors: Mapping[str, str] | None = None, *, raw: Mapping[str, str] | None = None,
               departments: Sequence[tuple[str, str]] = (), use_defaults: bool = True,
               file_lookup: Callable[[list[int]], list[Any]] | None = None, people: People | None = None) -> Form:
    """The fields of a form to render, with values (defaults where none) and errors next to their fields.
    `people`: who a person field offers (none without it)."""
    ui = ui or {}
    root = resolve(schema)
    builder = _Builder(root, errors or {}, raw or {}, departments, use_defaults, file_lookup, people)
    if _type(root) == "object" or "properties" in root:
        fields = builder.object_fields(root, ui, values or {}, "")
    else:
        fields = []
    conditional = branches(schema)
    for f in fields:
        found = conditional.get(f.name)
        if found:
            f.show_when = [{"field": b.field, "values": [encode(v) for v in b.values], "negate": b.negate}
                           for b in found]
            f.hidden = not any(b.holds(builder.current) for b in found)
            # marked and checked by the browser while shown; hidden, its disabled fieldset is not checked
            f.required = f.required or any(b.required for b in found)
    leftover = [message for key, message in (errors or {}).items() if key not in builder.used]
    submit = (ui.get("ui:submitButtonOptions") or {}).get("submitText") if isinstance(
        ui.get("ui:submitButtonOptions"), Mapping) else None
    return Form(title=localized(root.get("title")), description=localized(root.get("description")),
                fields=fields, submit_text=localized(submit) if submit else _("提交"), errors=leftover,
                multipart=builder.multipart)


def initial_values(schema: Mapping[str, Any], *sources: Mapping[str, Any] | None) -> dict[str, Any]:
    """The form's starting values: for each property, the first source that has a value for it."""
    properties = resolve(schema).get("properties") or {}
    values: dict[str, Any] = {}
    for key in properties:
        for source in sources:
            if source and source.get(key) is not None:
                values[key] = source[key]
                break
    return values


# --- reading a submitted form ------------------------------------------------------------------

@dataclass
class Submission:
    """A form read back: the data, conversion errors, and what was typed where conversion failed."""

    data: dict[str, Any]
    errors: dict[str, str]
    raw: dict[str, str]


class _Absent:
    pass


ABSENT = _Absent()


class _Reader:
    def __init__(self, root: Mapping[str, Any], form: MultiDict[str, str], files: MultiDict[str, FileStorage],
                 upload: Upload | None, departments: Sequence[tuple[str, str]], keep_blank: bool) -> None:
        self.root = root
        self.form = form
        self.files = files
        self.upload = upload
        self.departments = departments
        self.keep_blank = keep_blank
        self.errors: dict[str, str] = {}
        self.raw: dict[str, str] = {}

    def object(self, schema: Mapping[str, Any], ui: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        data: dict[str, Any] = {}
        required = set(schema.get("required") or [])
        for key, sub in (schema.get("properties") or {}).items():
            sub_ui = ui.get(key) if isinstance(ui.get(key), Mapping) else {}
            value = self.value(key, resolve(sub, self.root), sub_ui, f"{prefix}{key}", key in required)
            if value is not ABSENT:
                data[key] = value
        return data

    def text(self, name: str) -> str | None:
        raw = self.form.get(name)
        if raw is None:
            return None
        raw = raw.replace("\r\n", "\n").strip()
        return raw or None

    def fail(self, name: str, raw: str, message: str) -> _Absent:
        self.errors[name] = message
        self.raw[name] = raw
        return ABSENT

    def scalar(self, name: str, raw: str, schema: Mapping[str, Any], widget: str) -> Any:
        kind = _type(schema)
        if widget == "datetime":
            try:
                moment = datetime.fromisoformat(raw)
            except ValueError:
                return self.fail(name, raw, _("请按“年-月-日 时:分”填写时间"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=LOCAL_TZ)
            return moment.isoformat(timespec="seconds")
        if widget == "date":
            try:
                return date.fromisoformat(raw).isoformat()
            except ValueError:
                return self.fail(name, raw, _("请按“年-月-日”填写日期"))
        if widget == "time":
            try:
                return time.fromisoformat(raw).isoformat(timespec="minutes")
            except ValueError:
                return self.fail(name, raw, _("请按“时:分”填写时间"))
        if kind == "integer":
            try:
                return int(raw)
            except ValueError:
                return self.fail(name, raw, _("请填写整数"))
        if kind == "number":
            try:
                number = float(raw)
            except ValueError:
                return self.fail(name, raw, _("请填写数字"))
            return int(number) if number.is_integer() and "." not in raw else number
        if kind == "boolean":
            return raw in ("true", "on", "1", "yes")
        return raw

    def value(self, key: str, schema: dict[str, Any], ui: Mapping[str, Any], name: str, required: bool) -> Any:
        widget = widget_of(key, schema, ui, required=required, departments=self.departments, root=self.root)
        if widget == "group":
            data = self.object(schema, ui, name + ".")
            return data if data or required else ABSENT
        if widget == "rows":
            return self.rows(schema, ui, name, required)
        if widget == "checkbox":
            return self.form.get(name) in ("true", "on", "1", "yes")
        if widget == "yesno":
            raw = self.form.get(name)
            return True if raw == "true" else False if raw == "false" else ABSENT
        if widget in ("checkboxes", "multiselect"):
            items = resolve(schema.get("items"), self.root)
            options = _options(key, items, {}, self.departments)
            picked = [_decode(v, options, items) for v in self.form.getlist(name) if v != ""]
            return list(dict.fromkeys(picked)) if picked or required else ABSENT
        if widget == "file":
            return self.file(schema, name)
        raw = self.text(name)
        if raw is None:
            return ABSENT
        if widget in ("select", "radios"):
            return _decode(raw, _options(key, schema, ui, self.departments), schema)
        if widget == "lines":
            items = resolve(schema.get("items"), self.root)
            values = []
            for i, line in enumerate(line.strip() for line in raw.split("\n")):
                if line:
                    item = self.scalar(f"{name}.{i}", line, items, "text")
                    if item is ABSENT:
                        self.errors.setdefault(name, self.errors.pop(f"{name}.{i}"))
                        self.raw[name] = raw
                        return ABSENT
                    values.append(item)
            return values if values or required else ABSENT
        if widget == "json":
            try:
                return json.loads(raw)
            except ValueError:
                return self.fail(name, raw, _("格式不对"))
        return self.scalar(name, raw, schema, widget)

    def rows(self, schema: Mapping[str, Any], ui: Mapping[str, Any], name: str, required: bool) -> Any:
        items = resolve(schema.get("items"), self.root)
        item_ui = ui.get("items") if isinstance(ui.get("items"), Mapping) else {}
        try:
            count = min(int(self.form.get(f"{name}.__rows", "0")), MAX_ROWS)
        except ValueError:
            count = 0
        textual = [k for k, p in (items.get("properties") or {}).items()
                   if widget_of(k, resolve(p, self.root), {}, departments=self.departments) in _TEXTUAL]
        rows: list[dict[str, Any]] = []
        for i in range(count):
            prefix = f"{name}.{i}."
            if textual and not self.keep_blank and all(self.text(prefix + k) is None for k in textual) and \
                    not any(self.files.getlist(prefix + k) for k in textual):
                continue
            before = dict(self.errors)
            row = self.object(items, item_ui, f"{name}.{len(rows)}.") if len(rows) == i else \
                self._shifted_row(items, item_ui, prefix, f"{name}.{len(rows)}.", before)
            rows.append(row)
        return rows if rows or required else ABSENT

    def _shifted_row(self, items: Mapping[str, Any], item_ui: Mapping[str, Any], source: str, target: str,
                     before: dict[str, str]) -> dict[str, Any]:
        """Read row `source` when blank rows before it were dropped; key its errors by its new place."""
        row = self.object(items, item_ui, source)
        for key in [k for k in self.errors if k not in before and k.startswith(source)]:
            self.errors[target + key[len(source):]] = self.errors.pop(key)
        for key in [k for k in self.raw if k.startswith(source)]:
            self.raw[target + key[len(source):]] = self.raw.pop(key)
        return row

    def file(self, schema: Mapping[str, Any], name: str) -> Any:
        many = _type(schema) == "array"
        as_int = _type(resolve(schema.get("items"), self.root) if many else schema) == "integer"
        ids = [int(v) for v in self.form.getlist(f"{name}.__keep") if v.isdigit()]
        for upload in self.files.getlist(name):
            if not upload or not upload.filename:
                continue
            if self.upload is None:
                continue
            try:
                new_id = self.upload(name, upload)
            except FileRejected as exc:
                self.errors[name] = exc.message
                continue
            ids = [*ids, new_id] if many else [new_id]
        if not many:
            ids = ids[-1:]
        values: list[Any] = [i if as_int else str(i) for i in ids]
        if not values:
            return [] if many and name in self.errors else ABSENT
        return values if many else values[0]


class FileRejected(Exception):
    """An upload the attachments service refused; `message` is shown at the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def read_form(schema: Mapping[str, Any], ui: Mapping[str, Any] | None, form: MultiDict[str, str],
              files: MultiDict[str, FileStorage] | None = None, *, upload: Upload | None = None,
              departments: Sequence[tuple[str, str]] = (), keep_blank: bool = False) -> Submission:
    """Read a submitted form into the schema's types; blank repeated rows are dropped unless `keep_blank`."""
    root = resolve(schema)
    reader = _Reader(root, form, files or MultiDict(), upload, departments, keep_blank)
    data = reader.object(root, ui or {}, "")
    for name in unchosen(schema, data):  # hidden by the page, or sent by a browser without JavaScript
        data.pop(name, None)
        for kept in (reader.errors, reader.raw):
            for key in [k for k in kept if k == name or k.startswith(name + ".")]:
                del kept[key]
    return Submission(data=data, errors=reader.errors, raw=reader.raw)


def apply_action(data: dict[str, Any], action: str) -> dict[str, Any]:
    """Add a blank row (`add:parties`) or remove one (`remove:parties.1`) in read data."""
    verb, _sep, path = action.partition(":")
    parts = path.split(".")
    if verb == "remove" and parts and parts[-1].isdigit():
        index, parts = int(parts[-1]), parts[:-1]
    elif verb == "add":
        index = -1
    else:
        return data
    node: Any = data
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) and part.isdigit() and int(part) < len(node) else \
            node.setdefault(part, {}) if isinstance(node, dict) else None
        if node is None:
            return data
    if not isinstance(node, dict) or not parts or not parts[-1]:
        return data
    rows = node.get(parts[-1])
    rows = list(rows) if isinstance(rows, list) else []
    if verb == "add":
        rows.append({})
    elif 0 <= index < len(rows):
        rows.pop(index)
    node[parts[-1]] = rows
    return data


# --- errors in words -----------------------------------------------------------------------------

def _message(error: Any) -> str:
    kind, arg = error.validator, error.validator_value
    if kind == "required":
        return _("必填")
    if kind == "minLength":
        return _("必填") if arg == 1 else _("至少 %(n)s 个字", n=arg)
    if kind == "maxLength":
        return _("最多 %(n)s 个字", n=arg)
    if kind in ("minimum", "exclusiveMinimum"):
        return _("不能小于 %(n)s", n=arg)
    if kind in ("maximum", "exclusiveMaximum"):
        return _("不能大于 %(n)s", n=arg)
    if kind == "minItems":
        return _("请至少选择一项") if arg == 1 else _("至少 %(n)s 项", n=arg)
    if kind == "maxItems":
        return _("最多 %(n)s 项", n=arg)
    if kind == "uniqueItems":
        return _("有重复的项")
    if kind in ("enum", "const", "oneOf", "anyOf"):
        return _("请从选项中选择")
    if kind == "type":
        expected = arg[0] if isinstance(arg, list) else arg
        return {"integer": _("请填写整数"), "number": _("请填写数字"), "boolean": _("请选择是或否"),
                "string": _("请填写文字")}.get(expected, _("格式不对"))
    if kind in ("format", "pattern"):
        return _("格式不对")
    return _("填写有误")


def friendly_errors(schema: Mapping[str, Any], data: Any, fallback: Mapping[str, str] | None = None
                    ) -> dict[str, str]:
    """Schema errors of `data` in the UI language, keyed by field path like `validate_form_data`."""
    errors: dict[str, str] = {}
    if isinstance(data, dict):
        for error in Draft202012Validator(schema).iter_errors(data):
            path = ".".join(str(p) for p in error.absolute_path)
            if error.validator == "required":
                missing = error.message.split("'")[1] if "'" in error.message else ""
                path = f"{path}.{missing}" if path and missing else (missing or path)
            errors.setdefault(path or "data", _message(error))
    people = {path for path, _value, _role in user_references(schema, data)}  # the server names no one else
    for key, message in (fallback or {}).items():
        if message == "required":
            message = _("必填")
        elif key in people:
            message = _("请从名单中选择")
        errors.setdefault(key, message)
    return errors
