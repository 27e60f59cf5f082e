"""The decision table as JSON, read from and written back into its DMN file.

Writing changes only the `decisionTable` of one decision: its hit policy, columns and rules. Everything
else in the file stays as it was (the decision's id, name and description, the DMNDI diagram, other
decisions, extension elements), and so do the ids of columns, rules and cells that still exist, so a
diff between two versions shows the rule rows that really changed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from lxml import etree

from app.engine.specs import parse_xml
from app.errors import InvalidInput

HIT_POLICIES = ("UNIQUE", "COLLECT")
TYPES = ("", "string", "number", "boolean", "date", "integer", "long", "double")
MAX_RULES = 500
MAX_COLUMNS = 30
MAX_CELL = 4000
_ID = re.compile(r"^[A-Za-z_][\w.-]{0,200}$")


@dataclass
class InputColumn:
    id: str
    label: str
    expression: str
    type: str = ""


@dataclass
class OutputColumn:
    id: str
    label: str
    name: str
    type: str = ""


@dataclass
class Rule:
    id: str
    inputs: list[str]
    outputs: list[str]
    description: str = ""


@dataclass
class Table:
    hit_policy: str = "UNIQUE"
    inputs: list[InputColumn] = field(default_factory=list)
    outputs: list[OutputColumn] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DecisionHeader:
    id: str
    name: str
    description: str


def _ns(root: Any) -> str:
    return etree.QName(root).namespace or ""


def _find_decision(root: Any, decision_id: str) -> Any:
    ns = _ns(root)
    for decision in root.iter(f"{{{ns}}}decision"):
        if decision.get("id") == decision_id:
            return decision
    raise KeyError(decision_id)


def _text(node: Any, ns: str) -> str:
    child = node.find(f"{{{ns}}}text") if node is not None else None
    return "" if child is None or child.text is None else child.text


def read_table(xml: str, decision_id: str) -> tuple[DecisionHeader, Table]:
    """Read one decision's table from a DMN file (KeyError when the file has no such decision)."""
    root = parse_xml(xml)
    ns = _ns(root)
    decision = _find_decision(root, decision_id)
    description = decision.find(f"{{{ns}}}description")
    header = DecisionHeader(decision_id, decision.get("name") or decision_id,
                            (description.text or "").strip() if description is not None else "")
    node = decision.find(f"{{{ns}}}decisionTable")
    if node is None:
        return header, Table()
    table = Table(hit_policy=(node.get("hitPolicy") or "UNIQUE").upper())
    for column in node.findall(f"{{{ns}}}input"):
        expression = column.find(f"{{{ns}}}inputExpression")
        table.inputs.append(InputColumn(
            id=column.get("id") or "", label=column.get("label") or "", expression=_text(expression, ns),
            type=(expression.get("typeRef") or "") if expression is not None else ""))
    for column in node.findall(f"{{{ns}}}output"):
        table.outputs.append(OutputColumn(id=column.get("id") or "", label=column.get("label") or "",
                                          name=column.get("name") or "", type=column.get("typeRef") or ""))
    for rule in node.findall(f"{{{ns}}}rule"):
        description = rule.find(f"{{{ns}}}description")
        table.rules.append(Rule(
            id=rule.get("id") or "",
            inputs=[_text(e, ns) for e in rule.findall(f"{{{ns}}}inputEntry")],
            outputs=[_text(e, ns) for e in rule.findall(f"{{{ns}}}outputEntry")],
            description=(description.text or "") if description is not None else ""))
    return header, table


# --- JSON in -----------------------------------------------------------------------------------------


def _string(value: Any, path: str, errors: dict[str, str], *, limit: int = MAX_CELL) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        errors[path] = "must be a text"
        return ""
    text = str(value)
    if len(text) > limit:
        errors[path] = f"at most {limit} characters"
    if "\x00" in text:
        errors[path] = "must not contain NUL characters"
    return text


def _optional_id(value: Any, path: str, errors: dict[str, str]) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not _ID.match(value):
        errors[path] = "an id starts with a letter or _ and holds letters, digits, _, - and ."
        return ""
    return value


def table_from_json(data: Any) -> Table:
    """Check a table sent by a client and build it; InvalidInput names every bad field (table.rules[0]...)."""
    errors: dict[str, str] = {}
    if not isinstance(data, dict):
        raise InvalidInput("the table must be an object", fields={"table": "expected an object with hit_policy, "
                                                                            "inputs, outputs and rules"})
    policy = data.get("hit_policy", "UNIQUE")
    if not isinstance(policy, str) or policy.upper() not in HIT_POLICIES:
        errors["table.hit_policy"] = "must be UNIQUE (the first matching rule) or COLLECT (every matching rule)"
        policy = "UNIQUE"
    table = Table(hit_policy=policy.upper())
    for key, limit in (("inputs", MAX_COLUMNS), ("outputs", MAX_COLUMNS), ("rules", MAX_RULES)):
        items = data.get(key)
        if not isinstance(items, list):
            errors[f"table.{key}"] = "must be a list"
        elif len(items) > limit:
            errors[f"table.{key}"] = f"at most {limit}"
    if any(key in errors for key in ("table.inputs", "table.outputs", "table.rules")):
        raise InvalidInput("the table is not valid; nothing was published", fields=errors)
    seen: dict[str, str] = {}

    def unique(ident: str, path: str) -> None:
        if ident and ident in seen:
            errors[path] = f"id {ident} is used twice (also at {seen[ident]})"
        elif ident:
            seen[ident] = path

    for index, item in enumerate(data["inputs"]):
        path = f"table.inputs[{index}]"
        if not isinstance(item, dict):
            errors[path] = "must be an object {id, label, expression, type}"
            continue
        column = InputColumn(id=_optional_id(item.get("id"), f"{path}.id", errors),
                             label=_string(item.get("label"), f"{path}.label", errors, limit=300),
                             expression=_string(item.get("expression"), f"{path}.expression", errors).strip(),
                             type=_string(item.get("type"), f"{path}.type", errors, limit=20))
        if not column.expression:
            errors[f"{path}.expression"] = "an input needs an expression, e.g. the variable name category"
        if column.type not in TYPES:
            errors[f"{path}.type"] = f"one of: {', '.join(t for t in TYPES if t)}"
        unique(column.id, f"{path}.id")
        table.inputs.append(column)
    names: dict[str, int] = {}
    for index, item in enumerate(data["outputs"]):
        path = f"table.outputs[{index}]"
        if not isinstance(item, dict):
            errors[path] = "must be an object {id, label, name, type}"
            continue
        column = OutputColumn(id=_optional_id(item.get("id"), f"{path}.id", errors),
                              label=_string(item.get("label"), f"{path}.label", errors, limit=300),
                              name=_string(item.get("name"), f"{path}.name", errors, limit=200).strip(),
                              type=_string(item.get("type"), f"{path}.type", errors, limit=20))
        if not column.name.isidentifier():
            errors[f"{path}.name"] = ("an output needs the name of the variable it sets, e.g. dl_reply "
                                      "(letters, digits and _)")
        elif column.name in names:
            errors[f"{path}.name"] = f"output {column.name} is already set by output {names[column.name] + 1}"
        else:
            names[column.name] = index
        if column.type not in TYPES:
            errors[f"{path}.type"] = f"one of: {', '.join(t for t in TYPES if t)}"
        unique(column.id, f"{path}.id")
        table.outputs.append(column)
    if not table.outputs and "table.outputs" not in errors:
        errors["table.outputs"] = "a table needs at least one output"
    for index, item in enumerate(data["rules"]):
        path = f"table.rules[{index}]"
        if not isinstance(item, dict):
            errors[path] = "must be an object {id, inputs, outputs, description}"
            continue
        rule = Rule(id=_optional_id(item.get("id"), f"{path}.id", errors), inputs=[], outputs=[],
                    description=_string(item.get("description"), f"{path}.description", errors, limit=2000))
        unique(rule.id, f"{path}.id")
        for key, width in (("inputs", len(table.inputs)), ("outputs", len(table.outputs))):
            cells = item.get(key)
            if not isinstance(cells, list) or len(cells) != width:
                errors[f"{path}.{key}"] = f"rule {index + 1} needs exactly {width} {key[:-1]} cells"
                continue
            getattr(rule, key).extend(_string(c, f"{path}.{key}[{n}]", errors) for n, c in enumerate(cells))
        table.rules.append(rule)
    if not table.rules and "table.rules" not in errors:
        errors["table.rules"] = "a table needs at least one rule (the last one the default, all inputs empty)"
    if errors:
        raise InvalidInput("the table is not valid; nothing was published", fields=errors)
    return table


# --- XML out -----------------------------------------------------------------------------------------


class _Ids:
    """Hand out ids that are new to the file."""

    def __init__(self, root: Any) -> None:
        self.used = {str(v) for v in root.xpath("//@id")}

    def keep(self, ident: str) -> str | None:
        return ident if ident and ident in self.used else None

    def new(self, base: str) -> str:
        candidate, n = base, 1
        while candidate in self.used:
            n += 1
            candidate = f"{base}_{n}"
        self.used.add(candidate)
        return candidate

    def numbered(self, prefix: str) -> str:
        """The first free id of prefix1, prefix2, ... (new rules become r4, r5 after r1..r3)."""
        n = 1
        while f"{prefix}{n}" in self.used:
            n += 1
        self.used.add(f"{prefix}{n}")
        return f"{prefix}{n}"


def _set_text(parent: Any, ns: str, value: str) -> None:
    node = parent.find(f"{{{ns}}}text")
    if node is None:
        node = etree.SubElement(parent, f"{{{ns}}}text")
    node.text = value  # "" keeps <text></text>, as the shipped files write an empty cell


def write_table(xml: str, decision_id: str, table: Table) -> str:
    """Put `table` into the decision `decision_id` of a DMN file; return the whole file's new text."""
    root = parse_xml(xml)
    ns = _ns(root)
    decision = _find_decision(root, decision_id)
    node = decision.find(f"{{{ns}}}decisionTable")
    ids = _Ids(root)
    if node is None:
        node = etree.SubElement(decision, f"{{{ns}}}decisionTable", id=ids.new(f"{decision_id}_table"))
    if table.hit_policy == "UNIQUE" and node.get("hitPolicy") is None:
        pass  # UNIQUE is the default; leave a file that relied on it as it was
    else:
        node.set("hitPolicy", table.hit_policy)

    old_inputs = {c.get("id"): c for c in node.findall(f"{{{ns}}}input") if c.get("id")}
    old_outputs = {c.get("id"): c for c in node.findall(f"{{{ns}}}output") if c.get("id")}
    old_rules = {r.get("id"): r for r in node.findall(f"{{{ns}}}rule") if r.get("id")}
    old_input_order = [c.get("id") for c in node.findall(f"{{{ns}}}input")]
    old_output_order = [c.get("id") for c in node.findall(f"{{{ns}}}output")]
    keep_tail = [c for c in node if isinstance(c.tag, str) and etree.QName(c).localname not in
                 ("input", "output", "rule")]  # e.g. annotation columns of DMN 1.3
    for child in list(node):
        if (not isinstance(child.tag, str) or etree.QName(child).localname in ("input", "output", "rule")
                or child in keep_tail):
            node.remove(child)

    for column in table.inputs:
        element = old_inputs.get(column.id) if column.id in old_inputs else None
        if element is None:
            element = etree.Element(f"{{{ns}}}input", id=ids.new(column.id) if column.id
                                    else ids.numbered(f"{decision_id}_in"))
        if column.label:
            element.set("label", column.label)
        elif "label" in element.attrib:
            del element.attrib["label"]
        expression = element.find(f"{{{ns}}}inputExpression")
        if expression is None:
            expression = etree.SubElement(element, f"{{{ns}}}inputExpression",
                                          id=ids.new(f"{element.get('id')}_expr"))
        if column.type:
            expression.set("typeRef", column.type)
        elif "typeRef" in expression.attrib:
            del expression.attrib["typeRef"]
        _set_text(expression, ns, column.expression)
        node.append(element)
    for column in table.outputs:
        element = old_outputs.get(column.id) if column.id in old_outputs else None
        if element is None:
            element = etree.Element(f"{{{ns}}}output", id=ids.new(column.id) if column.id
                                    else ids.numbered(f"{decision_id}_out"))
        for attribute, value in (("label", column.label), ("name", column.name), ("typeRef", column.type)):
            if value:
                element.set(attribute, value)
            elif attribute in element.attrib:
                del element.attrib[attribute]
        node.append(element)

    used_rules: set[str] = set()
    for rule in table.rules:
        element = old_rules.get(rule.id) if rule.id and rule.id not in used_rules else None
        if element is None:
            element = etree.Element(f"{{{ns}}}rule",
                                    id=ids.new(rule.id) if rule.id else ids.numbered(f"{decision_id}_r"))
        used_rules.add(element.get("id"))
        rule_id = element.get("id")
        old_in = element.findall(f"{{{ns}}}inputEntry")
        old_out = element.findall(f"{{{ns}}}outputEntry")
        extras = [c for c in element if isinstance(c.tag, str) and etree.QName(c).localname not in
                  ("description", "inputEntry", "outputEntry")]
        for child in list(element):
            element.remove(child)
        if rule.description.strip():
            description = etree.SubElement(element, f"{{{ns}}}description")
            description.text = rule.description
        for extra in extras:
            if etree.QName(extra).localname == "extensionElements":
                element.append(extra)
        for n, (column, text) in enumerate(zip(table.inputs, rule.inputs, strict=True)):
            entry = _reused_entry(old_in, old_input_order, column.id)
            if entry is None:
                entry = etree.Element(f"{{{ns}}}inputEntry", id=ids.new(f"{rule_id}_i{n}"))
            _set_text(entry, ns, text)
            element.append(entry)
        for n, (column, text) in enumerate(zip(table.outputs, rule.outputs, strict=True)):
            entry = _reused_entry(old_out, old_output_order, column.id)
            if entry is None:
                entry = etree.Element(f"{{{ns}}}outputEntry", id=ids.new(f"{rule_id}_o{n}"))
            _set_text(entry, ns, text)
            element.append(entry)
        for extra in extras:
            if etree.QName(extra).localname != "extensionElements":
                element.append(extra)  # annotationEntry comes last
        node.append(element)
    for extra in keep_tail:
        node.append(extra)
    level = len(list(node.iterancestors()))
    etree.indent(node, space="  ", level=level)
    text = etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")
    return text + "\n" if xml.endswith("\n") else text


def _reused_entry(old_entries: list[Any], old_order: list[str | None], column_id: str) -> Any:
    """The cell a rule already had for this column (by the column's old position), or None."""
    if not column_id or column_id not in old_order:
        return None
    index = old_order.index(column_id)
    return old_entries[index] if index < len(old_entries) else None
