"""Readable differences between two versions of a BPMN diagram, a form (or its UI hints) or a DMN file.

Governance staff review a publish by what it changes for the people working the cases, not by XML: which
steps were added or removed and which changed their name, form, script, condition, timer, lane or called
process; which form fields appeared or changed their title, type, "required" mark or options; which decision
rule rows and columns changed. Each function returns `Change`s that the history page words in the UI language
(`attr` codes such as "form" or "timer" are labelled there), plus a unified text diff as a fallback.

Pure functions over texts: no database, no Flask.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from app.engine.specs import BPMN_NS, DUE_PROPERTY, FORM_PROPERTY, SPIFF_NS, UI_FORM_PROPERTY, parse_xml

ADDED, REMOVED, CHANGED = "added", "removed", "changed"

#: BPMN elements that are part of their owner (reported as the owner's attributes, not on their own)
_BPMN_PARTS = frozenset({
    "definitions", "laneSet", "conditionExpression", "extensionElements", "documentation", "script",
    "ioSpecification", "dataInput", "dataOutput", "inputSet", "outputSet", "inputDataItem", "outputDataItem",
    "loopDataInputRef", "loopDataOutputRef", "completionCondition", "loopCardinality", "timeDate",
    "timeDuration", "timeCycle", "incoming", "outgoing", "flowNodeRef", "text", "textAnnotation",
    "association",
})
#: attributes of BPMN elements and the codes the history page labels them with
_BPMN_ATTRS = {
    "calledElement": "called_element", "sourceRef": "source", "targetRef": "target", "default": "default",
    "attachedToRef": "attached_to", "cancelActivity": "cancel_activity", "isExecutable": "executable",
    "processRef": "process", "escalationCode": "code", "errorCode": "code", "messageRef": "message",
    "scriptFormat": "script_format", "implementation": "implementation", "isInterrupting": "interrupting",
    "gatewayDirection": "direction",
}
_SPIFF_PROPS = {FORM_PROPERTY: "form", UI_FORM_PROPERTY: "ui_form", DUE_PROPERTY: "due"}
_SPIFF_TEXTS = {"preScript": "pre_script", "postScript": "post_script", "calledDecisionId": "called_decision"}
#: where a lane or process boundary is not an element's own property
_CONTAINERS = frozenset({"process", "subProcess", "transaction", "adHocSubProcess"})


@dataclass(frozen=True)
class Detail:
    """One attribute that differs: its code (labelled by the web layer), the old and the new value.

    For list-like attributes (a field's options) `added`/`removed` name the items that came and went.
    """

    attr: str
    old: str = ""
    new: str = ""
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    """One thing added, removed or changed.

    `what` says what it is: "element" (BPMN), "field", "form" (the form as a whole), "hint" (UI hints),
    "decision", "input", "output" or "rule" (DMN). `key` is its id (a field's dotted path), `type` its
    kind (a BPMN element type, a field type), `name` its readable name (a rule's row number), `group` the
    process or decision it belongs to. For added and removed things, `details` hold their attributes.
    """

    op: str
    what: str
    key: str
    type: str = ""
    name: str = ""
    group: str = ""
    details: tuple[Detail, ...] = ()
    #: for a rule row: its input cells (column, value), so a reader knows which row it is
    context: tuple[tuple[str, str], ...] = ()


@dataclass
class FileDiff:
    """The difference between two versions of one file."""

    kind: str
    changes: list[Change] = field(default_factory=list)
    #: a unified diff of the texts, for whatever the readable diff does not cover
    text: str = ""
    #: why the readable diff could not be made (a version that does not parse); the text diff still works
    error: str = ""
    #: the texts differ but none of the things listed did (see the text diff)
    cosmetic: bool = False
    #: ... and only the diagram layout or the formatting changed
    layout_only: bool = False
    #: there was no previous version to compare with
    first: bool = False

    def counts(self) -> dict[str, int]:
        """How many things were added, removed and changed."""
        result = {ADDED: 0, REMOVED: 0, CHANGED: 0}
        for change in self.changes:
            result[change.op] += 1
        return result

    def only(self, group: str) -> FileDiff:
        """The same diff limited to one process or decision (and what belongs to none, e.g. a collaboration)."""
        return FileDiff(kind=self.kind, changes=[c for c in self.changes if c.group in (group, "")],
                        text=self.text, error=self.error, cosmetic=self.cosmetic, layout_only=self.layout_only,
                        first=self.first)


# --- the text fallback ----------------------------------------------------------------------------

def text_diff(old: str, new: str, *, old_label: str = "old", new_label: str = "new", context: int = 3) -> str:
    """A unified diff of two texts ("" when they are equal)."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), fromfile=old_label, tofile=new_label,
                                 lineterm="", n=context)
    return "\n".join(lines)


def _norm(text: str | None) -> str:
    """Text content compared without surrounding blank space and with one kind of line end."""
    if text is None:
        return ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def _compare(old: Mapping[str, str], new: Mapping[str, str], order: Iterable[str]) -> tuple[Detail, ...]:
    keys = list(dict.fromkeys([*order, *new, *old]))
    return tuple(Detail(k, old.get(k, ""), new.get(k, "")) for k in keys if old.get(k, "") != new.get(k, ""))


def _present(attrs: Mapping[str, str], order: Iterable[str], *, new: bool) -> tuple[Detail, ...]:
    keys = list(dict.fromkeys([*order, *attrs]))
    return tuple(Detail(k, "" if new else attrs[k], attrs[k] if new else "") for k in keys if attrs.get(k))


def _diff_items(old: Mapping[str, tuple[str, str, str, dict[str, str]]],
                new: Mapping[str, tuple[str, str, str, dict[str, str]]], what: str,
                order: Iterable[str] = ()) -> list[Change]:
    """Added (new order), removed (old order), then changed (new order) of keyed items (type, name, group, attrs)."""
    order = list(order)
    changes = []
    for key, (kind, name, group, attrs) in new.items():
        if key not in old:
            changes.append(Change(ADDED, what, key, kind, name, group, _present(attrs, order, new=True)))
    for key, (kind, name, group, attrs) in old.items():
        if key not in new:
            changes.append(Change(REMOVED, what, key, kind, name, group, _present(attrs, order, new=False)))
    for key, (kind, name, group, attrs) in new.items():
        if key in old:
            old_kind, old_name, _old_group, old_attrs = old[key]
            before = {"type": old_kind, "name": old_name, **old_attrs}
            after = {"type": kind, "name": name, **attrs}
            details = _compare(before, after, ["type", "name", *order])
            if details:
                changes.append(Change(CHANGED, what, key, kind, name or old_name, group, details))
    return changes


# --- BPMN -----------------------------------------------------------------------------------------

def _local(node: Any) -> str:
    return etree.QName(node).localname


def _bpmn_children(node: Any, local: str) -> list[Any]:
    return [c for c in node if isinstance(c.tag, str) and c.tag == f"{{{BPMN_NS}}}{local}"]


def _lanes(root: Any) -> dict[str, str]:
    """Which lane (its name, else its id) each flow node is in; the innermost lane wins."""
    found: dict[str, str] = {}
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        label = (lane.get("name") or lane.get("id") or "").strip()
        for ref in _bpmn_children(lane, "flowNodeRef"):
            if ref.text and ref.text.strip():
                found[ref.text.strip()] = label
    return found


def _loop(node: Any) -> str:
    """A multi-instance marker in one line: parallel/sequential, its collection, item, output and condition."""
    parts = ["sequential" if node.get("isSequential", "false").lower() == "true" else "parallel"]
    for local, word in (("loopCardinality", "cardinality"), ("loopDataInputRef", "collection"),
                        ("inputDataItem", "item"), ("loopDataOutputRef", "output"),
                        ("outputDataItem", "output item"), ("completionCondition", "until")):
        for child in _bpmn_children(node, local):
            value = _norm(child.text) or child.get("name") or child.get("id") or ""
            if value:
                parts.append(f"{word}={value}")
    return "; ".join(parts)


def _event_definitions(node: Any) -> tuple[str, str]:
    """(timer, other event definitions) of an event, e.g. ('timeDate: workdays_after(...)', 'escalation: esc')."""
    timers, others = [], []
    for child in node:
        if not isinstance(child.tag, str) or not _local(child).endswith("EventDefinition"):
            continue
        local = _local(child)
        if local == "timerEventDefinition":
            for part in child:
                if isinstance(part.tag, str) and _local(part) in ("timeDate", "timeDuration", "timeCycle"):
                    timers.append(f"{_local(part)}: {_norm(part.text)}")
            continue
        kind = local[: -len("EventDefinition")]
        ref = next((child.get(a) for a in ("escalationRef", "errorRef", "messageRef", "signalRef") if child.get(a)),
                   "")
        others.append(f"{kind}: {ref}" if ref else kind)
    return "\n".join(timers), ", ".join(others)


def _bpmn_attrs(node: Any, lanes: Mapping[str, str]) -> dict[str, str]:
    """What the runtime reads from one element, as attribute code → text."""
    attrs: dict[str, str] = {}
    ident = node.get("id")
    if ident in lanes:
        attrs["lane"] = lanes[ident]
    for name, value in node.attrib.items():
        if name in ("id", "name") or name.startswith("{"):
            continue
        attrs[_BPMN_ATTRS.get(name, name)] = value
    for child in node:
        if not isinstance(child.tag, str):
            continue
        local = _local(child)
        if child.tag == f"{{{BPMN_NS}}}script":
            attrs["script"] = _norm(child.text)
        elif child.tag == f"{{{BPMN_NS}}}conditionExpression":
            attrs["condition"] = _norm(child.text)
        elif child.tag == f"{{{BPMN_NS}}}documentation":
            attrs["documentation"] = _norm(child.text)
        elif local.endswith("LoopCharacteristics"):
            attrs["multi_instance"] = _loop(child) if local == "multiInstanceLoopCharacteristics" else "loop"
        elif child.tag == f"{{{BPMN_NS}}}extensionElements":
            for ext in child.iter():
                if not isinstance(ext.tag, str) or not ext.tag.startswith(f"{{{SPIFF_NS}}}"):
                    continue
                ext_local = _local(ext)
                if ext_local == "property" and ext.get("name"):
                    attrs[_SPIFF_PROPS.get(ext.get("name"), f"property:{ext.get('name')}")] = ext.get("value", "")
                elif ext_local in _SPIFF_TEXTS:
                    attrs[_SPIFF_TEXTS[ext_local]] = _norm(ext.text)
    timer, events = _event_definitions(node)
    if timer:
        attrs["timer"] = timer
    if events:
        attrs["event"] = events
    return attrs


def _bpmn_elements(text: str) -> dict[str, tuple[str, str, str, dict[str, str]]]:
    """Every element of a BPMN file by id: (type, name, the process it is in, attributes)."""
    root = parse_xml(text)
    lanes = _lanes(root)
    found: dict[str, tuple[str, str, str, dict[str, str]]] = {}
    for node in root.iter(f"{{{BPMN_NS}}}*"):
        local = _local(node)
        ident = node.get("id")
        if not ident or local in _BPMN_PARTS or local.endswith(("EventDefinition", "LoopCharacteristics")):
            continue
        group = ""
        for ancestor in node.iterancestors(f"{{{BPMN_NS}}}process"):
            group = ancestor.get("id") or ""
        if local == "process":
            group = ident
        found[ident] = (local, (node.get("name") or "").strip(), group, _bpmn_attrs(node, lanes))
    return found


#: the order attributes are listed in
BPMN_ORDER = ("lane", "form", "ui_form", "due", "script", "pre_script", "post_script", "condition", "timer",
              "event", "called_element", "called_decision", "multi_instance", "source", "target", "default",
              "attached_to", "cancel_activity", "documentation")


def diff_bpmn(old: str, new: str) -> list[Change]:
    """Elements added, removed or changed between two BPMN texts (raises ValueError on unreadable XML)."""
    try:
        before, after = _bpmn_elements(old), _bpmn_elements(new)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    return _diff_items(before, after, "element", BPMN_ORDER)


# --- forms and their UI hints ---------------------------------------------------------------------

def _type_text(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = "|".join(str(k) for k in kind)
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else ""
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        inner = _type_text(schema["items"])
        return f"array<{inner}>" if inner else "array"
    return str(kind)


def _options(schema: Mapping[str, Any]) -> list[str]:
    """The choices of a field (`enum`, or `oneOf`/`anyOf` of consts with titles), as "value" or "value (title)"."""
    items: list[str] = []
    if isinstance(schema.get("enum"), list):
        items = [_scalar(v) for v in schema["enum"]]
    for key in ("oneOf", "anyOf"):
        branches = schema.get(key)
        if isinstance(branches, list):
            for branch in branches:
                if isinstance(branch, Mapping) and "const" in branch:
                    title = branch.get("title")
                    items.append(f"{_scalar(branch['const'])} ({title})" if title else _scalar(branch["const"]))
    if not items and schema.get("type") == "array" and isinstance(schema.get("items"), Mapping):
        return _options(schema["items"])
    return items


def _scalar(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


_FIELD_KEYS = frozenset({"title", "type", "enum", "oneOf", "anyOf", "properties", "items", "required",
                         "description", "default", "format", "$comment"})


def _field_attrs(schema: Mapping[str, Any], required: bool) -> dict[str, str]:
    attrs = {"title": str(schema.get("title") or ""), "type": _type_text(schema),
             "required": "true" if required else "false"}
    options = _options(schema)
    if options:
        attrs["options"] = "\n".join(options)
    for key in ("format", "description"):
        if schema.get(key):
            attrs[key] = str(schema[key])
    if "default" in schema:
        attrs["default"] = _scalar(schema["default"])
    rules = {k: v for k, v in schema.items() if k not in _FIELD_KEYS}
    items = schema.get("items")
    if isinstance(items, Mapping):
        rules.update({f"items.{k}": v for k, v in items.items() if k not in _FIELD_KEYS})
    if rules:
        attrs["rules"] = json.dumps(rules, ensure_ascii=False, sort_keys=True)
    return attrs


def _fields(schema: Any, prefix: str = "", found: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every field of a schema by dotted path (rows of a list are `parties[].name`): (type, title, "", attrs)."""
    found = {} if found is None else found
    if not isinstance(schema, Mapping):
        return found
    properties = schema.get("properties")
    required = set(schema.get("required") or []) if isinstance(schema.get("required"), list) else set()
    if not isinstance(properties, Mapping):
        return found
    for key, sub in properties.items():
        if not isinstance(sub, Mapping):
            sub = {}
        path = f"{prefix}{key}"
        attrs = _field_attrs(sub, key in required)
        found[path] = (attrs.pop("type"), attrs.pop("title"), "", attrs)
        _fields(sub, f"{path}.", found)
        if isinstance(sub.get("items"), Mapping):
            _fields(sub["items"], f"{path}[].", found)
    return found


FORM_ORDER = ("title", "type", "required", "options", "format", "default", "description", "rules")


def _load_json(text: str, which: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the {which} version is not valid JSON: line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg}") from None


def _with_option_lists(change: Change) -> Change:
    """Spell out which options came and went."""
    details = []
    for d in change.details:
        if d.attr == "options":
            old, new = d.old.split("\n") if d.old else [], d.new.split("\n") if d.new else []
            d = Detail(d.attr, d.old, d.new, added=tuple(o for o in new if o not in old),
                       removed=tuple(o for o in old if o not in new))
        details.append(d)
    return Change(change.op, change.what, change.key, change.type, change.name, change.group, tuple(details))


def diff_form(old: str, new: str) -> list[Change]:
    """Fields added, removed or changed between two JSON Schema form texts (ValueError on invalid JSON)."""
    before, after = _load_json(old, "previous"), _load_json(new, "new")
    changes: list[Change] = []
    top_before = before if isinstance(before, Mapping) else {}
    top_after = after if isinstance(after, Mapping) else {}
    whole = _compare({k: str(top_before.get(k) or "") for k in ("title", "description")},
                     {k: str(top_after.get(k) or "") for k in ("title", "description")}, ("title", "description"))
    if whole:
        changes.append(Change(CHANGED, "form", "", "object", str(top_after.get("title") or ""), "", whole))
    field_changes = _diff_items(_fields(before), _fields(after), "field", FORM_ORDER)
    # a change of type shows as the field's type; the form's own "type" key never differs per field
    changes.extend(_with_option_lists(c) for c in field_changes)
    return changes


def diff_ui(old: str, new: str) -> list[Change]:
    """UI hints added, removed or changed: the field order, the submit text and each field's hints."""
    before, after = _load_json(old, "previous"), _load_json(new, "new")
    before = before if isinstance(before, Mapping) else {}
    after = after if isinstance(after, Mapping) else {}

    def items(hints: Mapping[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in hints.items():
            if isinstance(value, Mapping) and not key.startswith("ui:"):
                attrs = {k: _scalar(v) for k, v in value.items()}
                found[key] = ("field", "", "", attrs)
            elif key == "ui:order" and isinstance(value, list):
                found[key] = ("order", "", "", {"value": ", ".join(str(v) for v in value)})
            else:
                found[key] = ("option", "", "", {"value": _scalar(value)})
        return found

    return _diff_items(items(before), items(after), "hint", ("ui:title", "ui:widget", "ui:options", "value"))


# --- DMN ------------------------------------------------------------------------------------------

def _dmn_child(node: Any, local: str) -> list[Any]:
    return [c for c in node if isinstance(c.tag, str) and _local(c) == local]


def _dmn_text(node: Any) -> str:
    texts = _dmn_child(node, "text")
    return _norm(texts[0].text) if texts else ""


def _column_name(column: Any, index: int, kind: str) -> str:
    if kind == "input":
        expr = _dmn_child(column, "inputExpression")
        return (column.get("label") or (_dmn_text(expr[0]) if expr else "") or f"#{index + 1}").strip()
    return (column.get("label") or column.get("name") or f"#{index + 1}").strip()


def _dmn_items(text: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(decisions, input columns, output columns, rules) of a DMN file, each by id."""
    root = parse_xml(text)
    decisions: dict[str, Any] = {}
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    rules: dict[str, Any] = {}
    for decision in root.iter():
        if not isinstance(decision.tag, str) or _local(decision) != "decision":
            continue
        did = decision.get("id") or ""
        name = (decision.get("name") or "").strip()
        tables = _dmn_child(decision, "decisionTable")
        attrs = {}
        description = _dmn_child(decision, "description")
        if description:
            attrs["description"] = _norm(description[0].text)
        decisions[did] = ("decision", name, did, attrs)
        if not tables:
            continue
        table = tables[0]
        attrs["hit_policy"] = table.get("hitPolicy", "UNIQUE")
        columns: list[tuple[str, str]] = []  # (column name, "input"/"output") in cell order
        for kind, store in (("input", inputs), ("output", outputs)):
            for index, column in enumerate(_dmn_child(table, kind)):
                cid = column.get("id") or f"{did}:{kind}{index + 1}"
                cname = _column_name(column, index, kind)
                columns.append((cname, kind))
                col_attrs = {"label": (column.get("label") or "").strip()}
                if kind == "input":
                    expr = _dmn_child(column, "inputExpression")
                    col_attrs["expression"] = _dmn_text(expr[0]) if expr else ""
                    col_attrs["type_ref"] = expr[0].get("typeRef", "") if expr else ""
                else:
                    col_attrs["output_name"] = (column.get("name") or "").strip()
                    col_attrs["type_ref"] = column.get("typeRef", "")
                store[cid] = (kind, cname, did, col_attrs)
        input_names = [c for c, k in columns if k == "input"]
        output_names = [c for c, k in columns if k == "output"]
        for index, rule in enumerate(_dmn_child(table, "rule")):
            rid = rule.get("id") or f"{did}:rule{index + 1}"
            cells: dict[str, str] = {}
            for names, local in ((input_names, "inputEntry"), (output_names, "outputEntry")):
                for position, entry in enumerate(_dmn_child(rule, local)):
                    label = names[position] if position < len(names) else f"#{position + 1}"
                    cells[label] = _dmn_text(entry) or "-"
            description = _dmn_child(rule, "description")
            if description and _norm(description[0].text):
                cells["description"] = _norm(description[0].text)
            rules[rid] = ("rule", str(index + 1), did, cells)
    return decisions, inputs, outputs, rules


def diff_dmn(old: str, new: str) -> list[Change]:
    """Decisions, input and output columns and rule rows added, removed or changed between two DMN texts."""
    try:
        before, after = _dmn_items(old), _dmn_items(new)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    changes = _diff_items(before[0], after[0], "decision", ("hit_policy", "description"))
    changes += _diff_items(before[1], after[1], "input", ("label", "expression", "type_ref"))
    changes += _diff_items(before[2], after[2], "output", ("label", "output_name", "type_ref"))
    rule_changes = []
    inputs = {name for _kind, name, _group, _attrs in [*before[1].values(), *after[1].values()]}
    for change in _diff_items(before[3], after[3], "rule"):
        # a rule that only moved up or down (its row number) is not a change of what it decides
        details = tuple(d for d in change.details if d.attr != "name")
        if change.op == CHANGED and not details:
            continue
        row = (after[3] if change.op != REMOVED else before[3])[change.key][3]
        context = tuple((k, v) for k, v in row.items() if k in inputs) if change.op == CHANGED else ()
        rule_changes.append(Change(change.op, change.what, change.key, "rule", change.name, change.group, details,
                                   context))
    return changes + rule_changes


# --- one entry point ------------------------------------------------------------------------------

def file_kind(filename: str) -> str:
    """bpmn, dmn, ui (a form's layout hints) or form, by the file name."""
    lower = filename.lower()
    if lower.endswith((".bpmn", ".bpmn20.xml")):
        return "bpmn"
    if lower.endswith(".dmn"):
        return "dmn"
    if lower.endswith((".ui.json", "-uischema.json")):
        return "ui"
    return "form"


def _canonical(kind: str, text: str) -> str:
    """The text without what the runtime ignores: the diagram layout for BPMN/DMN, formatting for JSON."""
    try:
        if kind in ("form", "ui"):
            return json.dumps(json.loads(text), sort_keys=True)
        root = parse_xml(text)
        for di in root.xpath("//*[local-name()='BPMNDiagram' or local-name()='DMNDI']"):
            di.getparent().remove(di)
        return etree.tostring(root, method="c14n").decode()
    except (ValueError, etree.XMLSyntaxError):
        return text


def diff_files(filename: str, old: str | None, new: str, *, old_label: str = "", new_label: str = "") -> FileDiff:
    """Compare two versions of a file; `old=None` means `new` is the first version."""
    kind = file_kind(filename)
    if old is None:
        return FileDiff(kind=kind, first=True)
    result = FileDiff(kind=kind, text=text_diff(old, new, old_label=old_label or f"a/{filename}",
                                                  new_label=new_label or f"b/{filename}"))
    readers = {"bpmn": diff_bpmn, "dmn": diff_dmn, "form": diff_form, "ui": diff_ui}
    try:
        result.changes = readers[kind](old, new)
    except ValueError as exc:
        result.error = str(exc)
        return result
    if not result.changes and old != new:
        result.cosmetic = True
        result.layout_only = _canonical(kind, old) == _canonical(kind, new)
    return result
