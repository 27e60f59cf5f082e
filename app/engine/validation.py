"""Validate a bundle of BPMN, DMN and form files before anything in it is published.

`validate_bundle` reports every problem it finds, each with the file name and (when known) the line,
so governance staff can fix a whole bundle in one go. It checks:

1. XML well-formedness (no DOCTYPE or entities) and the BPMN 2.0 / DMN XML schemas;
2. that SpiffWorkflow can build every executable process and decision table;
3. that call activities and business rule tasks name processes and decisions that exist;
4. that user tasks name forms that exist, and that form files are valid JSON Schema;
5. timer expressions (the classic mistake: an unquoted ``PT2S``);
6. the Python syntax of scripts, pre/post scripts and conditions;
7. DMN tables: a default rule, a supported hit policy and cells that SpiffWorkflow can evaluate;
8. that lanes are named after known roles;
9. that no process or decision id is defined twice;

and, to explain in plain words what SpiffWorkflow would only hint at, that flow elements have ids and
sequence flows and boundary events point at elements that exist.
"""

from __future__ import annotations

import ast
import bisect
import contextlib
import json
import keyword
import re
import threading
import warnings
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from app.engine.specs import BPMN_NS, FORM_PROPERTY, NS, SPIFF_NS, UI_FORM_PROPERTY, make_parser, parse_xml
from app.engine.timers import ClockedCycle
from app.forms.schema import ROLE_KEYWORD

DEFAULT_ROLES = ("receiver", "mediator", "department", "service", "leader")

#: the DMN namespace new decision tables should use (DMN 1.3)
DMN13_NS = "https://www.omg.org/spec/DMN/20191111/MODEL/"

BPMN_SUFFIXES = (".bpmn", ".bpmn20.xml")
UI_SUFFIXES = (".ui.json", "-uischema.json")

_SHORT_NS = {BPMN_NS: "bpmn:", SPIFF_NS: "spiffworkflow:", **{ns: "dmn:" for ns in DMN_SCHEMAS}}
_NOT_PUBLISHED = "which is neither in this bundle nor already published"
_NOT_PUBLISHED_ZH = "既不在本发布包中，也尚未发布"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a bundle, located by file and line."""

    file: str
    line: int | None
    message: str
    message_zh: str = ""
    element: str | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class _Problems:
    """Collect problems once each."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self._seen: set[tuple[str, int | None, str]] = set()
        self._explained: set[tuple[str, str]] = set()

    def add(self, file: str, line: int | None, message: str, message_zh: str,
            element: str | None = None) -> None:
        key = (file, line, message)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(Problem(file, line, message, message_zh, element))

    def explain(self, file: str, element: str | None) -> None:
        """Note that a reported problem explains what SpiffWorkflow would say about `element`."""
        if element:
            self._explained.add((file, element))

    def covers(self, file: str, element: str | None) -> bool:
        """Tell whether a problem about `element` of `file` was reported already."""
        if not element:
            return False
        return (file, element) in self._explained or any(p.file == file and p.element == element
                                                         for p in self.items)

    def ordered(self, files: Iterable[str]) -> list[Problem]:
        """Sort by file (in bundle order), then by line."""
        order = {name: index for index, name in enumerate(files)}
        return sorted(self.items, key=lambda p: (order.get(p.file, len(order)), p.line or 0))


@dataclass
class _Doc:
    """One BPMN or DMN file of the bundle."""

    name: str
    kind: str
    data: bytes
    root: Any = None  # the parsed root element, once the file is known to be well-formed and safe
    schema_ok: bool = False
    loadable: bool = True  # False: SpiffWorkflow would crash on it, for reasons already reported
    duplicates: set[int] = field(default_factory=set)  # lines of ids already defined earlier in the bundle

    def line_of(self, element_id: str | None) -> int | None:
        """Find the line of the element with this id."""
        if self.root is None or not element_id:
            return None
        found = self.root.xpath("//*[@id=$id]", id=element_id)
        return found[0].sourceline if found else None

    def id_at(self, line: int | None) -> str | None:
        """Find the id of the first element that starts on `line`."""
        if self.root is None or line is None:
            return None
        for node in self.root.iter(etree.Element):
            if node.sourceline == line and node.get("id"):
                return node.get("id")
        return None


def file_kind(filename: str) -> str | None:
    """Tell a bundle file's kind by its name: bpmn, dmn, form, ui (form layout hints) or None."""
    lower = filename.lower()
    if lower.endswith(BPMN_SUFFIXES):
        return "bpmn"
    if lower.endswith(".dmn"):
        return "dmn"
    if lower.endswith(UI_SUFFIXES):
        return "ui"
    if lower.endswith(".json"):
        return "form"
    return None


def validate_bundle(files: Mapping[str, bytes], *, known_processes: Collection[str] = (),
                    known_decisions: Collection[str] = (), known_forms: Collection[str] = (),
                    roles: Collection[str] = DEFAULT_ROLES) -> list[Problem]:
    """Check a bundle of BPMN, DMN and form files; return every problem found (none: it may be published).

    `known_*` name what was published before, which the bundle may use without holding it.
    """
    out = _Problems()
    docs: list[_Doc] = []
    form_names: set[str] = set()
    role_names = _role_names(roles)
    for name, data in files.items():
        kind = file_kind(name)
        if kind is None:
            out.add(name, None, "unknown file type: use .bpmn, .bpmn20.xml, .dmn or .json",
                    "未知的文件类型：请使用 .bpmn、.bpmn20.xml、.dmn 或 .json")
        elif kind in ("form", "ui"):
            form_names.add(name)
            _check_form_file(name, data, kind, out, role_names)
        else:
            doc = _Doc(name, kind, data)
            _read_xml(doc, out)
            docs.append(doc)
    for doc in docs:
        if doc.root is not None:
            _check_schema(doc, out)

    processes, decisions = _check_definitions(docs, out)
    processes |= set(known_processes)
    decisions |= set(known_decisions)
    forms = form_names | set(known_forms)
    for doc in docs:
        if doc.root is None:
            continue
        if doc.kind == "bpmn":
            _check_references(doc, processes, decisions, forms, out)
            _check_timers(doc, out)
            _check_scripts(doc, out)
            _check_lanes(doc, role_names, out)
            _check_flows(doc, out)
        else:
            _check_dmn(doc, out)
    _check_with_spiffworkflow(docs, out)
    return out.ordered(files)


def _role_names(roles: Collection[Any]) -> list[str]:
    """Turn roles (strings or enum members) into their names, keeping the order given."""
    names: list[str] = []
    for role in roles:
        name = str(getattr(role, "value", role))
        if name not in names:
            names.append(name)
    return names


def _label(node: Any) -> str:
    """Name an element for a message: its name, else its id."""
    return node.get("name") or node.get("id") or etree.QName(node).localname


def _short_ns(message: str) -> str:
    """Shorten {namespace}tag to prefix:tag in a schema message."""
    return re.sub(r"\{([^}]*)\}", lambda m: _SHORT_NS.get(m.group(1), m.group(0)), message)


# --- 1. XML syntax, DOCTYPE and schemas --------------------------------------------------------------


def _read_xml(doc: _Doc, out: _Problems) -> None:
    """Parse a file safely (no entities, no network); report syntax errors and DOCTYPE declarations."""
    doctype = re.search(rb"<!DOCTYPE", doc.data)
    try:
        root = parse_xml(doc.data)
    except etree.XMLSyntaxError as exc:
        if doctype is None:
            # lxml's error log also holds entries of earlier parses; the exception's own
            # line and message are this parse's
            line = exc.lineno
            message = re.sub(r", line \d+, column \d+$", "", str(exc.msg))
            out.add(doc.name, line or None, f"not well-formed XML: {message}", f"XML 格式错误：{message}")
            return
        root = None
    if root is None or root.getroottree().docinfo.doctype:
        line = doc.data.count(b"\n", 0, doctype.start()) + 1 if doctype else 1
        out.add(doc.name, line,
                "DOCTYPE declarations and entities are not allowed; remove the <!DOCTYPE ...>",
                "不允许使用 DOCTYPE 声明和实体；请删除 <!DOCTYPE ...>")
        return
    doc.root = root


_SCHEMA_LOCK = threading.Lock()  # an XMLSchema keeps the errors of its last run: one run at a time
_DMN_VALIDATORS: dict[str, BpmnValidator] = {}


def _check_schema(doc: _Doc, out: _Problems) -> None:
    """Check a file against the BPMN 2.0 (with spiff extensions) or DMN XML schema; report every error."""
    tree = parse_xml(doc.data)  # a copy: the validator renames some tags before checking
    namespace = etree.QName(tree).namespace
    if doc.kind == "dmn" and namespace not in DMN_SCHEMAS:
        out.add(doc.name, tree.sourceline,
                f"not a DMN file SpiffWorkflow reads (namespace {namespace!r}); use DMN 1.3: {DMN13_NS}",
                f"不是 SpiffWorkflow 可读取的 DMN 文件（命名空间 {namespace!r}）；"
                f"请使用 DMN 1.3：{DMN13_NS}")
        return
    what, what_zh = ("the BPMN 2.0 schema", "BPMN 2.0 XML 架构") if doc.kind == "bpmn" else (
        "the DMN schema", "DMN XML 架构")
    with _SCHEMA_LOCK:
        if doc.kind == "bpmn":
            validator = VALIDATOR
        else:
            validator = _DMN_VALIDATORS.get(namespace) or BpmnValidator(DMN_SCHEMAS[namespace])
            _DMN_VALIDATORS[namespace] = validator
        validator.preprocess(tree)
        valid = validator.validator.validate(tree)
        errors = [(e.line, e.message) for e in validator.validator.error_log]
    if valid:
        doc.schema_ok = True
        return
    for line, message in errors:
        text = _short_ns(message)
        out.add(doc.name, line or None, f"does not match {what}: {text}", f"不符合{what_zh}：{text}",
                doc.id_at(line))


# --- 9. definitions and duplicates -------------------------------------------------------------------

_PROCESS_RE = re.compile(rb"""<(?:[\w.-]+:)?process\b[^>]*?\bid\s*=\s*["']([^"']+)["']""")
_DECISION_RE = re.compile(rb"""<(?:[\w.-]+:)?decision\b[^>]*?\bid\s*=\s*["']([^"']+)["']""")


def _defined(doc: _Doc) -> list[tuple[str, int | None]]:
    """List the process (BPMN) or decision (DMN) ids a file defines, with their lines."""
    if doc.root is None:  # unreadable: scan, so that references to it are not reported as missing too
        pattern = _PROCESS_RE if doc.kind == "bpmn" else _DECISION_RE
        return [(m.group(1).decode("utf-8", "replace"), None) for m in pattern.finditer(doc.data)]
    if doc.kind == "bpmn":
        nodes = doc.root.xpath(".//bpmn:process", namespaces=NS)
    else:
        nodes = doc.root.xpath("//*[local-name()='decision']")
    return [(node.get("id") or "", node.sourceline) for node in nodes]


def _check_definitions(docs: list[_Doc], out: _Problems) -> tuple[set[str], set[str]]:
    """Report process and decision ids defined twice; return the process ids and decision ids defined."""
    first: dict[tuple[str, str], tuple[str, int | None]] = {}
    for doc in docs:
        what, what_zh = ("process", "流程") if doc.kind == "bpmn" else ("decision", "决策")
        for node_id, line in _defined(doc):
            if not node_id:
                out.add(doc.name, line, f"a {what} has no id", f"有一个{what_zh}没有 id")
                continue
            key = (doc.kind, node_id)
            if key not in first:
                first[key] = (doc.name, line)
                continue
            where, where_line = first[key]
            at = f"{where}, line {where_line}" if where_line else where
            at_zh = f"{where} 第 {where_line} 行" if where_line else where
            out.add(doc.name, line,
                    f"{what} id '{node_id}' is defined twice in the bundle (also in {at})",
                    f"{what_zh} id“{node_id}”在发布包中定义了两次（另见 {at_zh}）", node_id)
            if line is not None:
                doc.duplicates.add(line)
    processes = {node_id for kind, node_id in first if kind == "bpmn"}
    decisions = {node_id for kind, node_id in first if kind == "dmn"}
    return processes, decisions


# --- 3 and 4. references to processes, decisions and forms; form files -------------------------------


def _check_references(doc: _Doc, processes: set[str], decisions: set[str], forms: set[str],
                      out: _Problems) -> None:
    """Report call activities, business rule tasks and user tasks that name something missing."""
    for node in doc.root.xpath(".//bpmn:callActivity", namespaces=NS):
        label, called = _label(node), node.get("calledElement")
        if not called:
            out.add(doc.name, node.sourceline,
                    f"call activity '{label}' has no calledElement; set the id of the process to call",
                    f"调用活动“{label}”没有 calledElement；请填写要调用的流程 id", node.get("id"))
        elif called not in processes:
            out.add(doc.name, node.sourceline,
                    f"call activity '{label}' calls process '{called}', {_NOT_PUBLISHED}",
                    f"调用活动“{label}”调用的流程“{called}”{_NOT_PUBLISHED_ZH}", node.get("id"))
    for node in doc.root.xpath(".//bpmn:businessRuleTask", namespaces=NS):
        label = _label(node)
        refs = node.xpath("./bpmn:extensionElements/spiffworkflow:calledDecisionId", namespaces=NS)
        text = refs[0].text if refs else None
        line = refs[0].sourceline if refs else node.sourceline
        if not text or not text.strip():
            out.add(doc.name, line,
                    f"business rule task '{label}' names no decision (spiffworkflow:calledDecisionId)",
                    f"业务规则任务“{label}”没有指定决策（spiffworkflow:calledDecisionId）", node.get("id"))
        elif text != text.strip():
            out.add(doc.name, line,
                    f"business rule task '{label}': remove the spaces around decision id '{text.strip()}'",
                    f"业务规则任务“{label}”：请去掉决策 id“{text.strip()}”两侧的空格", node.get("id"))
        elif text not in decisions:
            out.add(doc.name, line,
                    f"business rule task '{label}' uses decision '{text}', {_NOT_PUBLISHED}",
                    f"业务规则任务“{label}”使用的决策“{text}”{_NOT_PUBLISHED_ZH}", node.get("id"))
    props = "./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"
    for node in doc.root.xpath(".//bpmn:userTask", namespaces=NS):
        for prop in node.xpath(props, namespaces=NS):
            value = prop.get("value")
            if prop.get("name") in (FORM_PROPERTY, UI_FORM_PROPERTY) and value and value not in forms:
                out.add(doc.name, prop.sourceline,
                        f"user task '{_label(node)}' uses form '{value}', {_NOT_PUBLISHED}",
                        f"用户任务“{_label(node)}”使用的表单“{value}”{_NOT_PUBLISHED_ZH}", node.get("id"))


def _check_form_file(name: str, data: bytes, kind: str, out: _Problems, roles: list[str]) -> None:
    """Check that a form file is JSON and, unless it only holds layout hints, a valid JSON Schema whose
    person fields (`x-role`) offer a known role."""
    if data.startswith(b"\xef\xbb\xbf"):
        out.add(name, 1, "the file starts with a byte-order mark (BOM); save it as UTF-8 without BOM",
                "文件以字节顺序标记（BOM）开头；请保存为不带 BOM 的 UTF-8")
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        out.add(name, data.count(b"\n", 0, exc.start) + 1, f"not UTF-8 text (byte {exc.start})",
                f"不是 UTF-8 文本（第 {exc.start} 字节）")
        return
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        out.add(name, exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})",
                f"JSON 格式错误：{exc.msg}（第 {exc.colno} 列）")
        return
    except RecursionError:
        out.add(name, None, "not valid JSON: nested too deeply", "JSON 嵌套层数过多")
        return
    if kind == "ui":
        return
    if not isinstance(schema, dict):
        out.add(name, 1, "a form must be a JSON Schema object ({...})",
                "表单必须是 JSON Schema 对象（{...}）")
        return
    lines = _json_lines(text)
    meta_cls = validator_for(Draft202012Validator.META_SCHEMA, default=Draft202012Validator)
    meta = meta_cls(Draft202012Validator.META_SCHEMA, format_checker=meta_cls.FORMAT_CHECKER)
    for error in meta.iter_errors(schema):  # what check_schema does, but every error, not the first
        path = tuple(error.absolute_path)
        pointer = "/" + "/".join(str(part) for part in path)
        detail = error.message if len(error.message) <= 200 else error.message[:197] + "..."
        out.add(name, _json_line(lines, path),
                f"not a valid JSON Schema (Draft 2020-12) at {pointer}: {detail}",
                f"不是有效的 JSON Schema（Draft 2020-12），位置 {pointer}：{detail}")
    choices = ", ".join(roles)
    for path, role in _role_keywords(schema, ()):
        if role not in roles:
            pointer = "/" + "/".join(str(part) for part in path)
            out.add(name, _json_line(lines, path),
                    f"{ROLE_KEYWORD} at {pointer} names no known role ({role!r}); use one of {choices}",
                    f"{pointer} 的 {ROLE_KEYWORD} 不是已知角色（{role!r}）；请使用以下之一：{choices}")


def _role_keywords(node: Any, path: tuple[Any, ...]) -> Iterable[tuple[tuple[Any, ...], Any]]:
    """(path, value) of each `x-role` keyword in a schema (the role a person field offers)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == ROLE_KEYWORD and path[-1:] != ("properties",):  # not a field of that name
                yield (*path, key), value
            else:
                yield from _role_keywords(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _role_keywords(value, (*path, i))


def _json_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Map each JSON path of a valid JSON text to the line where it starts (the key's line for members)."""
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    decoder = json.JSONDecoder()
    space = re.compile(r"[ \t\n\r]*")
    lines: dict[tuple[Any, ...], int] = {}

    def line_at(pos: int) -> int:
        return bisect.bisect_left(newlines, pos) + 1

    def skip(pos: int) -> int:
        return space.match(text, pos).end()

    def walk(pos: int, path: tuple[Any, ...]) -> int:
        pos = skip(pos)
        lines.setdefault(path, line_at(pos))
        opener = text[pos]
        if opener not in "{[":
            return decoder.raw_decode(text, pos)[1]
        closer = "}" if opener == "{" else "]"
        pos = skip(pos + 1)
        index = 0
        while text[pos] != closer:
            if opener == "{":
                key_pos = pos
                key, pos = decoder.raw_decode(text, pos)
                lines[path + (key,)] = line_at(key_pos)
                pos = walk(skip(pos) + 1, path + (key,))  # + 1: past the ':'
            else:
                pos = walk(pos, path + (index,))
                index += 1
            pos = skip(pos)
            if text[pos] == ",":
                pos = skip(pos + 1)
        return pos + 1

    with contextlib.suppress(IndexError, ValueError, RecursionError):  # best effort: keep what was mapped
        walk(0, ())
    return lines


def _json_line(lines: Mapping[tuple[Any, ...], int], path: tuple[Any, ...]) -> int | None:
    """Find the line of `path`, or of its nearest mapped parent."""
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path)


# --- 5. timers ---------------------------------------------------------------------------------------

_ISO_DURATION = r"P(?=\d|T\d)(?:\d+(?:[.,]\d+)?[YMWD])*(?:T(?:\d+(?:[.,]\d+)?[HMS])+)?"
_ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
_ISO_PART = rf"(?:{_ISO_DURATION}|{_ISO_DATE})"
#: an ISO 8601 duration, date or repeating interval written without quotes
_UNQUOTED_ISO = re.compile(rf"{_ISO_PART}|R\d*/{_ISO_PART}(?:/{_ISO_PART})?", re.IGNORECASE)

_TIMER_EXAMPLES = {
    "timeDuration": ('an ISO 8601 duration such as "PT2H" or "P3D"',
                     'ISO 8601 时长，例如 "PT2H" 或 "P3D"'),
    "timeDate": ('an ISO 8601 date and time such as "2026-01-01T09:00:00+08:00"',
                 'ISO 8601 日期时间，例如 "2026-01-01T09:00:00+08:00"'),
    "timeCycle": ('an ISO 8601 repeating interval such as "R3/PT1H"',
                  'ISO 8601 重复间隔，例如 "R3/PT1H"'),
}


def _timer_text_ok(kind: str, value: str) -> bool:
    """Tell whether the runtime (app.engine.timers) accepts this text for a timer of this kind."""
    try:
        if kind == "timeDuration":
            return bool(TimerEventDefinition.parse_iso_duration(value))
        if kind == "timeDate":
            return isinstance(TimerEventDefinition.parse_time_or_duration(value), datetime)
        ClockedCycle._first_value(value)
        return True
    except Exception:  # noqa: BLE001 - whatever fails here fails when the timer starts
        return False


def _check_timers(doc: _Doc, out: _Problems) -> None:
    """Report timer expressions that would fail when the timer starts."""
    for definition in doc.root.xpath(".//bpmn:timerEventDefinition", namespaces=NS):
        event = definition.getparent()
        label, event_id = _label(event), event.get("id")
        for node in definition.iterchildren(*(f"{{{BPMN_NS}}}{kind}" for kind in _TIMER_EXAMPLES)):
            kind = etree.QName(node).localname
            example, example_zh = _TIMER_EXAMPLES[kind]
            text = (node.text or "").strip()
            if not text:
                out.add(doc.name, node.sourceline, f"timer '{label}' has an empty {kind}; write {example}",
                        f"定时器“{label}”的 {kind} 为空；请填写{example_zh}", event_id)
            elif _UNQUOTED_ISO.fullmatch(text):
                out.add(doc.name, node.sourceline,
                        f"timer '{label}': {kind} {text} is not quoted; timer texts are Python expressions, "
                        f'so write it with quotes: "{text}"',
                        f"定时器“{label}”：{kind} {text} 缺少引号；定时器文本是 Python 表达式，"
                        f'请写成 "{text}"', event_id)
            elif (error := _python_error(node.text or "", "eval")) is not None:
                line = node.sourceline + (error.lineno or 1) - 1
                out.add(doc.name, line,
                        f"timer '{label}': {kind} is not a valid Python expression: {error.msg}",
                        f"定时器“{label}”：{kind} 不是有效的 Python 表达式：{error.msg}", event_id)
            else:
                _check_timer_value(doc, node, kind, f"timer '{label}'", f"定时器“{label}”", event_id, out)


def _check_timer_value(doc: _Doc, node: Any, kind: str, what: str, what_zh: str, element: str | None,
                       out: _Problems) -> None:
    """Check a timer expression that is a literal; expressions reading data are only known at run time."""
    tree = _expression_tree((node.text or "").strip())
    if not isinstance(tree, ast.Constant):
        return
    example, example_zh = _TIMER_EXAMPLES[kind]
    if not isinstance(tree.value, str):
        out.add(doc.name, node.sourceline, f"{what}: {kind} must give a text, {example}",
                f"{what_zh}：{kind} 必须是文本，{example_zh}", element)
    elif not _timer_text_ok(kind, tree.value):
        out.add(doc.name, node.sourceline, f'{what}: "{tree.value}" is not a valid {kind}; write {example}',
                f'{what_zh}："{tree.value}" 不是有效的 {kind}；请填写{example_zh}', element)


# --- 6. scripts and conditions -----------------------------------------------------------------------


def _python_error(text: str, mode: str) -> SyntaxError | None:
    """Compile Python code as SpiffWorkflow will run it (exec or eval); return the syntax error, if any."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. invalid escapes: they run, so they are no reason to refuse
        try:
            compile(text, "<bpmn>", mode, dont_inherit=True)
        except SyntaxError as exc:
            return exc
        except ValueError as exc:  # null bytes
            return SyntaxError(str(exc))
    return None


def _expression_tree(text: str) -> ast.expr | None:
    """Parse a Python expression; return its body, or None when it does not parse."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.parse(text, mode="eval").body
        except (SyntaxError, ValueError):
            return None


#: expressions SpiffWorkflow evaluates, besides scripts: (xpath, what, what in Chinese)
_EXPRESSIONS = (
    (".//bpmn:sequenceFlow/bpmn:conditionExpression", "condition of flow", "连线条件"),
    (".//bpmn:conditionalEventDefinition/bpmn:condition", "condition of event", "条件事件的条件"),
    (".//bpmn:standardLoopCharacteristics/bpmn:loopCondition", "loop condition of", "循环条件"),
    (".//bpmn:multiInstanceLoopCharacteristics/bpmn:loopCardinality", "loop cardinality of", "多实例数量"),
    (".//bpmn:multiInstanceLoopCharacteristics/bpmn:completionCondition", "completion condition of",
     "多实例完成条件"),
)
_NOT_OWNERS = ("extensionElements", "multiInstanceLoopCharacteristics", "standardLoopCharacteristics",
               "conditionalEventDefinition")


def _owner(node: Any) -> Any:
    """Find the element with an id that an expression or extension belongs to."""
    parent = node.getparent()
    while parent is not None and (parent.get("id") is None or etree.QName(parent).localname in _NOT_OWNERS):
        parent = parent.getparent()
    return parent if parent is not None else node


def _check_scripts(doc: _Doc, out: _Problems) -> None:
    """Report scripts, pre/post scripts and conditions that are not valid Python."""
    for task in doc.root.xpath(".//bpmn:scriptTask", namespaces=NS):
        label = _label(task)
        scripts = task.xpath("./bpmn:script", namespaces=NS)
        if not scripts or not (scripts[-1].text or "").strip():
            out.add(doc.name, task.sourceline, f"script task '{label}' has no script",
                    f"脚本任务“{label}”没有脚本", task.get("id"))
        else:
            _report_syntax(doc, scripts[-1], "exec", f"script task '{label}'", f"脚本任务“{label}”",
                           task.get("id"), out)
    for which, which_zh in (("preScript", "前置脚本"), ("postScript", "后置脚本")):
        for node in doc.root.xpath(f".//spiffworkflow:{which}", namespaces=NS):
            owner = _owner(node)
            label = _label(owner)
            _report_syntax(doc, node, "exec", f"{which} of '{label}'", f"“{label}”的{which_zh}",
                           owner.get("id"), out)
    for path, what, what_zh in _EXPRESSIONS:
        for node in doc.root.xpath(path, namespaces=NS):
            owner = _owner(node)
            _report_syntax(doc, node, "eval", f"{what} '{_label(owner)}'", f"“{_label(owner)}”的{what_zh}",
                           owner.get("id"), out)


def _report_syntax(doc: _Doc, node: Any, mode: str, what: str, what_zh: str, element: str | None,
                   out: _Problems) -> None:
    """Report a Python syntax error in the text of `node`, at its line in the file (empty text is fine)."""
    if not (node.text or "").strip():
        return
    error = _python_error(node.text, mode)
    if error is None:
        return
    inner = error.lineno or 1
    kind, kind_zh = ("script", "脚本") if mode == "exec" else ("expression", "表达式")
    out.add(doc.name, node.sourceline + inner - 1,
            f"{what}: Python syntax error in {kind} line {inner}: {error.msg}",
            f"{what_zh}：{kind_zh}第 {inner} 行有 Python 语法错误：{error.msg}", element)


# --- 8. lanes ----------------------------------------------------------------------------------------


def _check_lanes(doc: _Doc, roles: list[str], out: _Problems) -> None:
    """Report lanes (the innermost ones, which tasks belong to) not named after a known role."""
    choices = ", ".join(roles)
    for lane in doc.root.xpath(".//bpmn:lane", namespaces=NS):
        if lane.xpath("./bpmn:childLaneSet/bpmn:lane", namespaces=NS):
            continue
        name, lane_id = lane.get("name"), lane.get("id")
        if not name:
            out.add(doc.name, lane.sourceline,
                    f"lane '{lane_id}' has no name; name it after a role: {choices}",
                    f"泳道“{lane_id}”没有名称；请用角色命名：{choices}", lane_id)
        elif name not in roles:
            out.add(doc.name, lane.sourceline, f"lane '{name}' names no known role; use one of {choices}",
                    f"泳道“{name}”不是已知角色；请使用以下之一：{choices}", lane_id)


#: the BPMN elements SpiffWorkflow builds a task (or a connection) from
_FLOW_TAGS = (
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
    "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway",
    "sequenceFlow",
)


def _check_flows(doc: _Doc, out: _Problems) -> None:
    """Report flow elements without id, and flows or boundary events pointing at nothing."""
    for process in doc.root.xpath(".//bpmn:process", namespaces=NS):
        ids = {str(i) for i in process.xpath(".//@id")}
        for node in process.iter(*(f"{{{BPMN_NS}}}{tag}" for tag in _FLOW_TAGS)):
            tag = etree.QName(node).localname
            if not node.get("id"):
                out.add(doc.name, node.sourceline, f"a bpmn:{tag} ('{_label(node)}') has no id",
                        f"有一个 bpmn:{tag}（“{_label(node)}”）没有 id")
            refs = ("sourceRef", "targetRef") if tag == "sequenceFlow" else ("attachedToRef",)
            for attribute in refs:
                ref = node.get(attribute)
                if ref and ref not in ids:
                    out.add(doc.name, node.sourceline,
                            f"{tag} '{_label(node)}': {attribute} '{ref}' is not an element of this process",
                            f"{tag}“{_label(node)}”：{attribute}“{ref}”不是本流程中的元素", node.get("id"))
                    out.explain(doc.name, node.get("sourceRef"))


# --- 7. DMN decision tables --------------------------------------------------------------------------
#
# SpiffWorkflow's DMN cells are Python. An input cell is "any value" only when it is exactly empty or
# "-". A cell with a "?" outside quotes is evaluated with the input in place of the "?". Otherwise, a
# cell that parses as Python is compared with "(input) == (cell)", and one that does not (like "> 3")
# is appended to the input expression as it is: "input> 3". Output cells are evaluated as they are.

_CELL_HINT = ('cells are Python, e.g. "labour", > 3, 1 <= ? <= 5 or ? in ["a", "b"]',
              '单元格是 Python 表达式，例如 "labour"、> 3、1 <= ? <= 5 或 ? in ["a", "b"]')
_WORDS = re.compile(r"[^\W\d]\w*(?:[\s-]+\w+)*")
#: text with a letter and nothing that makes an expression: probably meant as a quoted text
_TEXTLIKE = re.compile(r"[^\[\]{}()<>=!+*%&|^~?'\"]*[^\W\d][^\[\]{}()<>=!+*%&|^~?'\"]*")


def _is_any(text: str | None) -> bool:
    """Tell whether SpiffWorkflow treats an input cell as 'any value'."""
    return text is None or text == "" or text == "-"


def _cell_text(entry: Any, ns: str) -> tuple[str | None, int]:
    """Give a cell's text and line."""
    node = entry.find(f"{{{ns}}}text")
    return (node.text, node.sourceline) if node is not None else (None, entry.sourceline)


def _input_names(expressions: Iterable[str]) -> set[str]:
    """Collect the variable names the input expressions of a table read."""
    names: set[str] = set()
    for expression in expressions:
        tree = _expression_tree(expression.strip())
        if tree is not None:
            names.update(node.id for node in ast.walk(tree) if isinstance(node, ast.Name))
    return names


def _unquoted_text(cell: str, allowed: set[str]) -> bool:
    """Tell whether a cell is words without quotes, which Python would read as variables."""
    text = cell.strip()
    if not _WORDS.fullmatch(text):
        return False
    names = [w for w in re.split(r"[\s-]+", text)
             if w.isidentifier() and not keyword.iskeyword(w) and w not in ("True", "False", "None")]
    return any(name not in allowed for name in names)


def _quote_it(cell: str) -> tuple[str, str]:
    """Say to put a cell's words in quotes."""
    word = cell.strip()
    return (f'{word} is not quoted, so Python reads it as a variable; write it with quotes: "{word}"',
            f'{word} 缺少引号，Python 会把它当作变量；请写成 "{word}"')


def _syntax_problem(cell: str, error: SyntaxError) -> tuple[str, str]:
    """Explain a cell that is not Python: suggest quotes for text, else show valid examples."""
    if _TEXTLIKE.fullmatch(cell.strip()):
        return (f'not a valid Python expression: {error.msg}; if it is a text, write it with quotes: '
                f'"{cell.strip()}"',
                f'不是有效的 Python 表达式：{error.msg}；如果是文本，请写成 "{cell.strip()}"')
    return (f"not a valid Python expression: {error.msg}; {_CELL_HINT[0]}",
            f"不是有效的 Python 表达式：{error.msg}；{_CELL_HINT[1]}")


def _outside_quotes(text: str, char: str) -> list[int]:
    """Find the positions of `char` outside string quotes."""
    found: list[int] = []
    quote = None
    for index, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == char:
            found.append(index)
    return found


def _input_cell_problem(cell: str, expression: str, allowed: set[str]) -> tuple[str, str] | None:
    """Check an input cell the way SpiffWorkflow's DMN engine evaluates it; return (en, zh) or None."""
    if not cell.strip() or cell.strip() == "-":
        return (f"cell {cell!r} has spaces, so it is compared as a value; leave it empty or write - exactly",
                f"单元格 {cell!r} 含有空格，会被当作值比较；请留空或只写 -")
    if _unquoted_text(cell, allowed):
        return _quote_it(cell)
    marks = _outside_quotes(cell, "?")
    if marks:
        expr = cell
        for index in reversed(marks):
            expr = expr[:index] + "dmninputexpr" + expr[index + 1:]
        error = _python_error(expr, "eval")
        return None if error is None else _syntax_problem(cell, error)
    if _python_error(cell, "exec") is None:  # SpiffWorkflow's test: then it compares with ==
        tree = _expression_tree(cell.strip())
        if isinstance(tree, ast.Tuple) and not cell.strip().startswith("("):
            items = cell.strip()
            return (f"{items} is compared with the input as one tuple and never matches one value; "
                    f"write ? in [{items}]",
                    f"{items} 会作为一个元组与输入比较，永远不会匹配单个值；请写成 ? in [{items}]")
        expr = f"({expression}) == ({cell})"
    elif re.search(r"\w$", expression) and re.match(r"\w", cell):
        glued = f"{expression.strip()}{cell}"
        return (f"SpiffWorkflow appends this cell to the input expression without a space ({glued}); "
                f"write ? {cell.strip()} instead",
                f"SpiffWorkflow 会把此单元格直接接在输入表达式后面（{glued}）；请改写为 ? {cell.strip()}")
    else:
        expr = expression + cell
    error = _python_error(expr, "eval")
    return None if error is None else _syntax_problem(cell, error)


def _output_cell_problem(cell: str, allowed: set[str]) -> tuple[str, str] | None:
    """Check an output cell (a Python expression); return (en, zh) or None."""
    if _unquoted_text(cell, allowed):
        return _quote_it(cell)
    error = _python_error(cell, "eval")
    return None if error is None else _syntax_problem(cell, error)


def _check_dmn(doc: _Doc, out: _Problems) -> None:
    """Report DMN decisions and tables that SpiffWorkflow cannot run, or runs differently than drawn."""
    ns = etree.QName(doc.root).namespace
    if ns not in DMN_SCHEMAS:
        return  # reported by the schema check
    decisions = doc.root.findall(f"{{{ns}}}decision")
    if not decisions:
        out.add(doc.name, doc.root.sourceline, "the file defines no decision", "文件中没有定义任何决策")
        return
    if len(decisions) > 1:
        ids = ", ".join(d.get("id") or "?" for d in decisions)
        out.add(doc.name, decisions[1].sourceline,
                f"the file defines {len(decisions)} decisions ({ids}); SpiffWorkflow reads only the first: "
                "put each decision in its own file",
                f"文件定义了 {len(decisions)} 个决策（{ids}）；SpiffWorkflow 只读取第一个："
                "请每个决策单独一个文件", decisions[1].get("id"))
    for decision in decisions:
        table = decision.find(f"{{{ns}}}decisionTable")
        if table is None:
            out.add(doc.name, decision.sourceline,
                    f"decision '{_label(decision)}' has no decision table; SpiffWorkflow runs only tables",
                    f"决策“{_label(decision)}”没有决策表；SpiffWorkflow 只支持决策表", decision.get("id"))
        else:
            _check_table(doc, decision, table, ns, out)


def _check_table(doc: _Doc, decision: Any, table: Any, ns: str, out: _Problems) -> None:
    """Check one decision table: hit policy, columns, default rule and every cell."""
    name, decision_id = f"'{_label(decision)}'", decision.get("id")
    _check_table_markup(doc, name, decision, table, out)
    policy = (table.get("hitPolicy") or "UNIQUE").upper()
    if policy not in ("UNIQUE", "COLLECT"):
        out.add(doc.name, table.sourceline,
                f"decision table {name}: hit policy {policy} is not supported; SpiffWorkflow runs only "
                f"UNIQUE (first matching rule) and COLLECT, and would silently treat {policy} as first match",
                f"决策表 {name}：不支持命中策略 {policy}；SpiffWorkflow 只支持 UNIQUE（第一条匹配规则）"
                f"和 COLLECT，会把 {policy} 当作第一条匹配处理", decision_id)
    if table.get("aggregation"):
        aggregation = table.get("aggregation")
        out.add(doc.name, table.sourceline,
                f"decision table {name}: aggregation {aggregation} is ignored by SpiffWorkflow "
                "(COLLECT always gives lists); remove it",
                f"决策表 {name}：SpiffWorkflow 会忽略聚合 {aggregation}（COLLECT 总是返回列表）；请删除",
                decision_id)
    inputs = table.findall(f"{{{ns}}}input")
    outputs = table.findall(f"{{{ns}}}output")
    expressions = [_check_input_column(doc, name, column, ns, out) for column in inputs]
    for column in outputs:
        if not (column.get("name") or column.get("label")):
            out.add(doc.name, column.sourceline, f"decision table {name}: an output column has no name",
                    f"决策表 {name}：有输出列没有名称", column.get("id"))
    allowed = _input_names(expressions)
    rules = table.findall(f"{{{ns}}}rule")
    default_rows: list[int] = []
    for row, rule in enumerate(rules, start=1):
        entries = rule.findall(f"{{{ns}}}inputEntry")
        results = rule.findall(f"{{{ns}}}outputEntry")
        if len(entries) != len(inputs) or len(results) != len(outputs):
            doc.loadable = False
            out.add(doc.name, rule.sourceline,
                    f"decision table {name}: rule {row} has {len(entries)} input and {len(results)} output "
                    f"cells, but the table has {len(inputs)} inputs and {len(outputs)} outputs",
                    f"决策表 {name}：规则 {row} 有 {len(entries)} 个输入单元格和 "
                    f"{len(results)} 个输出单元格，但表有 {len(inputs)} 个输入和 {len(outputs)} 个输出",
                    rule.get("id"))
            continue
        cells = [_cell_text(entry, ns) for entry in entries]
        if all(_is_any(text) for text, _ in cells):
            default_rows.append(row)
        for (text, line), entry, column, expression in zip(cells, entries, inputs, expressions, strict=True):
            if _is_any(text) or not expression.strip():
                continue
            found = _input_cell_problem(text, expression, allowed)
            if found:
                label = column.get("label") or expression.strip()
                out.add(doc.name, line, f"decision table {name}, rule {row}, input '{label}': {found[0]}",
                        f"决策表 {name}，规则 {row}，输入“{label}”：{found[1]}", entry.get("id"))
        for entry, column in zip(results, outputs, strict=True):
            text, line = _cell_text(entry, ns)
            found = _output_cell_problem(text, allowed) if text else None
            if found:
                label = column.get("name") or column.get("label")
                out.add(doc.name, line, f"decision table {name}, rule {row}, output '{label}': {found[0]}",
                        f"决策表 {name}，规则 {row}，输出“{label}”：{found[1]}", entry.get("id"))
    if not default_rows:
        out.add(doc.name, table.sourceline,
                f"decision table {name} has no default rule; add a last rule whose input cells are all "
                "empty or -",
                f"决策表 {name} 没有默认规则；请在最后添加一条输入单元格全部为空或 - 的规则", decision_id)
    elif policy == "UNIQUE" and default_rows[0] != len(rules):
        rule = rules[default_rows[0] - 1]
        out.add(doc.name, rule.sourceline,
                f"decision table {name}: rule {default_rows[0]} matches everything, so the rules after it "
                "never apply; move it to the end",
                f"决策表 {name}：规则 {default_rows[0]} 匹配所有输入，其后的规则永远不会生效；请把它移到最后",
                rule.get("id"))


def _check_table_markup(doc: _Doc, name: str, decision: Any, table: Any, out: _Problems) -> None:
    """Report what makes SpiffWorkflow's DMN reader crash: comments in a table and parts without id."""
    for node in table.iter():
        if not isinstance(node.tag, str):
            doc.loadable = False
            out.add(doc.name, node.sourceline,
                    f"decision table {name}: SpiffWorkflow cannot read XML comments or processing "
                    "instructions inside a decision table; remove it",
                    f"决策表 {name}：SpiffWorkflow 无法读取决策表中的 XML 注释或处理指令；请删除")
    needs_id = ("decision", "decisionTable", "input", "output", "rule", "inputEntry", "outputEntry")
    for node in [decision, *table.iter(*(f"{{{etree.QName(table).namespace}}}{tag}" for tag in needs_id))]:
        if not node.get("id"):
            doc.loadable = False
            tag = etree.QName(node).localname
            out.add(doc.name, node.sourceline, f"decision table {name}: a {tag} has no id",
                    f"决策表 {name}：有一个 {tag} 没有 id")


def _check_input_column(doc: _Doc, name: str, column: Any, ns: str, out: _Problems) -> str:
    """Check an input column's expression; return its text ("" when missing)."""
    node = column.find(f"{{{ns}}}inputExpression/{{{ns}}}text")
    text = node.text if node is not None else None
    label = column.get("label") or column.get("id")
    if not text or not text.strip():
        out.add(doc.name, column.sourceline, f"decision table {name}: input '{label}' has no expression",
                f"决策表 {name}：输入“{label}”没有输入表达式", column.get("id"))
        return ""
    error = _python_error(text, "eval")
    if error is not None:
        out.add(doc.name, node.sourceline,
                f"decision table {name}: input expression {text.strip()!r} is not a valid Python "
                f"expression: {error.msg}",
                f"决策表 {name}：输入表达式 {text.strip()!r} 不是有效的 Python 表达式：{error.msg}",
                column.get("id"))
    return text


# --- 2. the SpiffWorkflow parse ----------------------------------------------------------------------


def _stub_process(process_id: str) -> Any:
    """Build a minimal BPMN document defining `process_id` (published earlier, or reported missing)."""
    root = etree.Element(f"{{{BPMN_NS}}}definitions", nsmap={"bpmn": BPMN_NS}, id="stub",
                         targetNamespace="urn:onestop:stub")
    process = etree.SubElement(root, f"{{{BPMN_NS}}}process", id=process_id, isExecutable="true")
    etree.SubElement(process, f"{{{BPMN_NS}}}startEvent", id="stub_start")
    return root


def _stub_decision(decision_id: str) -> Any:
    """Build a minimal DMN document defining `decision_id`."""
    root = etree.Element(f"{{{DMN13_NS}}}definitions", nsmap={None: DMN13_NS}, id="stub", name="stub",
                         namespace="urn:onestop:stub")
    decision = etree.SubElement(root, f"{{{DMN13_NS}}}decision", id=decision_id, name=decision_id)
    etree.SubElement(decision, f"{{{DMN13_NS}}}decisionTable", id="stub_table")
    return root


def _add_stubs(parser: SpiffBpmnParser) -> None:
    """Stand in for called processes and decisions the parser lacks (checked on their own)."""
    for decision_id in sorted(d for d in parser.get_dmn_dependencies() if d and d not in parser.dmn_parsers):
        parser.add_dmn_xml(_stub_decision(decision_id), filename=None)
    for process_id in sorted(p for p in parser.get_process_dependencies()
                             if p and p not in parser.process_parsers):
        parser.add_bpmn_xml(_stub_process(process_id), filename=None)


def _dmn_loadable(doc: _Doc) -> bool:
    """Tell whether SpiffWorkflow can load a DMN file without crashing (the checks above say why not)."""
    ns = etree.QName(doc.root).namespace
    decisions = doc.root.findall(f"{{{ns}}}decision")
    return (doc.loadable and ns in DMN_SCHEMAS and len(decisions) == 1 and not doc.duplicates
            and decisions[0].find(f"{{{ns}}}decisionTable") is not None)


def _load(parser: SpiffBpmnParser, doc: _Doc, by_name: Mapping[str, _Doc], out: _Problems) -> None:
    """Add a fresh copy of a file to a SpiffWorkflow parser, leaving out processes defined earlier."""
    copy = parse_xml(doc.data)
    for process in copy.xpath(".//bpmn:process", namespaces=NS):
        if process.sourceline in doc.duplicates:
            process.getparent().remove(process)
    try:
        if doc.kind == "bpmn":
            parser.add_bpmn_xml(copy, filename=doc.name)
        else:
            parser.add_dmn_xml(copy, filename=doc.name)
    except Exception as exc:  # noqa: BLE001 - SpiffWorkflow raises all kinds of errors on odd files
        _report_spiff(exc, doc, by_name, out)


def _needed_files(doc: _Doc, process_files: Mapping[str, _Doc]) -> list[_Doc]:
    """List a BPMN file and the bundle files it calls, directly or not (what a case is pinned to)."""
    needed = [doc]
    for current in needed:
        for called in current.root.xpath(".//bpmn:callActivity/@calledElement", namespaces=NS):
            target = process_files.get(str(called))
            if target is not None and target not in needed:
                needed.append(target)
    return needed


def _check_with_spiffworkflow(docs: list[_Doc], out: _Problems) -> None:
    """Build every executable process and decision table with SpiffWorkflow; report what it rejects.

    Each BPMN file is parsed with the files it calls and the decisions they use, as a case running it
    is, so unrelated files of the bundle cannot clash.
    """
    by_name = {doc.name: doc for doc in docs}
    bpmn = [doc for doc in docs if doc.kind == "bpmn" and doc.root is not None]
    dmn = [doc for doc in docs if doc.kind == "dmn" and doc.root is not None and _dmn_loadable(doc)]
    process_files: dict[str, _Doc] = {}
    for doc in bpmn:
        for process in doc.root.xpath(".//bpmn:process", namespaces=NS):
            if process.sourceline not in doc.duplicates:
                process_files.setdefault(process.get("id") or "", doc)
    decision_files = {decision_id: doc for doc in dmn for decision_id, _ in _defined(doc)}

    tables = make_parser()
    for doc in dmn:
        _load(tables, doc, by_name, out)
    for dmn_parser in list(tables.dmn_parsers.values()):
        try:
            dmn_parser.parse()
        except Exception as exc:  # noqa: BLE001
            _report_spiff(exc, by_name[dmn_parser.filename], by_name, out)

    for doc in bpmn:
        parser = make_parser()
        for needed in _needed_files(doc, process_files):
            _load(parser, needed, by_name, out)
        for decision_id in sorted(d for d in parser.get_dmn_dependencies() if d in decision_files):
            _load(parser, decision_files[decision_id], by_name, out)
        _add_stubs(parser)
        own = [pid for pid, pp in parser.process_parsers.items()
               if pp.filename == doc.name and pp.process_executable]
        for process_id in own:
            try:
                parser.get_spec(process_id)
                parser.get_subprocess_specs(process_id)
            except Exception as exc:  # noqa: BLE001
                _report_spiff(exc, doc, by_name, out)


def _spiff_message(exc: Exception) -> str:
    """Give an exception's message with SpiffWorkflow's notes, without its trailing '. '."""
    message = str(exc.args[0]) if exc.args else type(exc).__name__
    notes = [str(note) for note in getattr(exc, "notes", None) or []]
    return ". ".join([message.rstrip(". "), *notes]) if notes else message


def _report_spiff(exc: Exception, doc: _Doc, by_name: Mapping[str, _Doc], out: _Problems) -> None:
    """Turn an error raised while SpiffWorkflow parsed `doc` into a Problem."""
    if isinstance(exc, ValidationException):
        target = by_name.get(exc.file_name) or doc
        element = exc.id or None
        line = exc.line_number if isinstance(exc.line_number, int) and exc.line_number else None
        if out.covers(target.name, element):
            return  # a check above already explains this element
        message = _spiff_message(exc)
        out.add(target.name, line or target.line_of(element), f"SpiffWorkflow rejects this: {message}",
                f"SpiffWorkflow 无法加载：{message}", element)
    elif doc.schema_ok:  # after schema errors, a crash only repeats them
        message = f"{type(exc).__name__}: {exc}"
        out.add(doc.name, None, f"SpiffWorkflow cannot load this file: {message}",
                f"SpiffWorkflow 无法加载此文件：{message}")
