"""Lint one DMN decision table for the editor, each problem placed on its rule and cell.

Two sources:

* the publish validation (`app.engine.validation.validate_bundle` on the file alone): unreadable XML,
  hit policies SpiffWorkflow does not run, tables without a default rule, unquoted strings, cells that
  are not Python, ... -- these are errors: a publish refuses them;
* what only evaluating the table shows, done with the engine that runs cases (`app.engine.decisions`):
  known input values no rule matches (the categories of the intake form, the deadline classes the
  classification gives, ...), cell values that are not among the known values (a typo never matches),
  rules that can never apply because earlier rules catch all their inputs, rules that overlap under
  hit policy UNIQUE (the first one wins), and cells that fail on a known value.

The analysis of overlaps tries every combination of "interesting" values of the columns: the known
values, the values the cells name, numbers next to the limits the cells name, and one value no cell
names. It is exact for cells that are literals, `? in [...]` lists and comparisons with numbers, and it
leaves rules with other cells out rather than guess.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from app.engine.decisions import Functions, make_probe
from app.engine.specs import parse_xml
from app.engine.validation import validate_bundle

#: the value that stands for "anything no cell names" in the overlap analysis
OTHER = "\u0000其他值"
MAX_COMBINATIONS = 4000
MAX_REPORTED = 5


@dataclass(frozen=True)
class LintIssue:
    """One problem, placed on a cell (rule + kind + column), a rule, a column, or the whole table."""

    #: "error" (a publish refuses it), "warning" (publishes, but probably wrong) or "info"
    level: str
    #: validation | no_match | unknown_value | shadowed | overlap | runtime
    code: str
    message: str
    message_zh: str
    rule: int | None = None
    #: "input" | "output" | None
    kind: str | None = None
    column: int | None = None
    line: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"level": self.level, "code": self.code, "message": self.message, "message_zh": self.message_zh,
                "rule": self.rule, "kind": self.kind, "column": self.column, "line": self.line}


def _locate(root: Any, decision_id: str, element_id: str | None, line: int | None
            ) -> tuple[int | None, str | None, int | None]:
    """Turn an element id (or a line) into (rule, kind, column) of the decision's table."""
    ns = etree.QName(root).namespace
    node = None
    if element_id:
        found = root.xpath("//*[@id=$id]", id=element_id)
        node = found[0] if found else None
    if node is None and line:
        for candidate in root.iter(etree.Element):
            if candidate.sourceline == line:
                node = candidate
                break
    if node is None:
        return None, None, None
    table = root.xpath("//*[local-name()='decision'][@id=$id]/*[local-name()='decisionTable']", id=decision_id)
    if not table:
        return None, None, None
    table = table[0]
    rules = table.findall(f"{{{ns}}}rule")
    inputs = table.findall(f"{{{ns}}}input")
    outputs = table.findall(f"{{{ns}}}output")
    chain = [node, *node.iterancestors()]
    for item in chain:
        if item in rules:
            rule = rules.index(item)
            for cell in chain:
                if cell.getparent() is item and isinstance(cell.tag, str):
                    name = etree.QName(cell).localname
                    if name == "inputEntry":
                        return rule, "input", item.findall(f"{{{ns}}}inputEntry").index(cell)
                    if name == "outputEntry":
                        return rule, "output", item.findall(f"{{{ns}}}outputEntry").index(cell)
            return rule, None, None
        if item in inputs:
            return None, "input", inputs.index(item)
        if item in outputs:
            return None, "output", outputs.index(item)
    return None, None, None


def lint_dmn(filename: str, xml: str, decision_id: str, *, known_values: Mapping[str, Sequence[Any]] | None = None,
             functions: Functions | None = None) -> list[LintIssue]:
    """Every problem of one decision table, errors first; `known_values` maps variable names to their values."""
    issues: list[LintIssue] = []
    problems = validate_bundle({filename: xml.encode("utf-8")})
    try:
        root = parse_xml(xml)
    except etree.XMLSyntaxError:
        root = None
    for problem in problems:
        rule, kind, column = (None, None, None) if root is None else _locate(root, decision_id, problem.element,
                                                                               problem.line)
        issues.append(LintIssue("error", "validation", problem.message, problem.message_zh or problem.message,
                                rule, kind, column, problem.line))
    if root is None:
        return issues
    try:
        probe = make_probe(xml, decision_id, functions)
    except Exception:  # noqa: BLE001 - the validation above says why it cannot load
        return issues
    flagged = {(i.rule, i.kind, i.column) for i in issues}
    for issue in _analyse(probe, known_values or {}):
        place = (issue.rule, issue.kind, issue.column)
        if issue.code == "runtime":
            if place in flagged:
                continue  # the validation (or an earlier value) already explains this cell
            flagged.add(place)
        issues.append(issue)
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(issues, key=lambda i: (order[i.level], i.rule if i.rule is not None else -1))


# --- cells ---------------------------------------------------------------------------------------------

_QMARK = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")


def _constant(node: ast.AST) -> tuple[bool, Any]:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
    return True, value


def _cell_literals(cell: str | None) -> tuple[bool, list[Any]]:
    """(whether the cell is simple, the literal values it names). Simple: its match set is decided by
    equality with, membership in or numeric comparison with constants."""
    if cell is None or cell == "" or cell == "-":
        return True, []
    text = cell.strip()
    if _QMARK.search(text):
        expr = _QMARK.sub("dmninputexpr", text)
    else:
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            expr = f"dmninputexpr {text}"
        else:
            ok, value = _constant(tree.body)
            if ok and not isinstance(value, list | tuple | dict | set):
                return True, [value]
            return False, []
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return False, []
    body = tree.body
    if not isinstance(body, ast.Compare):
        return False, []
    values: list[Any] = []
    for part in [body.left, *body.comparators]:
        if isinstance(part, ast.Name) and part.id == "dmninputexpr":
            continue
        ok, value = _constant(part)
        if not ok:
            return False, []
        values.extend(value if isinstance(value, list | tuple | set | frozenset) else [value])
    return True, values


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _candidates(column_type: str, literals: list[Any], known: Sequence[Any]) -> list[Any]:
    values: list[Any] = []

    def add(value: Any) -> None:
        if not any(type(value) is type(v) and value == v for v in values):
            values.append(value)

    for value in known:
        add(value)
    for value in literals:
        add(value)
    numbers = sorted({v for v in literals if _number(v)})
    for low, high in itertools.pairwise(numbers):
        add((low + high) / 2)
    for value in numbers:
        add(value - 1)
        add(value + 1)
    if column_type in ("number", "integer", "long", "double"):
        if not any(_number(v) for v in values):
            add(0)
        return [v for v in values if _number(v)] or [0]
    if column_type == "boolean":
        return [True, False]
    if not numbers:
        add(OTHER)
    return values


def _show(value: Any) -> str:
    if value == OTHER:
        return "(other)"
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _show_zh(value: Any) -> str:
    return "（其他值）" if value == OTHER else _show(value)


def _analyse(probe: Any, known_values: Mapping[str, Sequence[Any]]) -> list[LintIssue]:
    issues: list[LintIssue] = []
    rules = probe.rules
    table = probe.engine.decision_table
    columns = table.inputs
    names = [(c.expression or "").strip() for c in columns]
    labels = [c.label or c.expression or f"#{i + 1}" for i, c in enumerate(columns)]
    known = [list(known_values.get(name, ())) if name.isidentifier() else [] for name in names]
    simple: list[bool] = []
    literals: list[list[Any]] = [[] for _ in columns]
    for rule in rules:
        rule_simple = True
        for col, entry in enumerate(rule.inputEntries):
            is_simple, values = _cell_literals(entry.lhs[0] if entry.lhs else None)
            rule_simple = rule_simple and is_simple
            literals[col].extend(values)
        simple.append(rule_simple)

    # typos: a literal that is not among the known values of its column never matches at run time
    for index, rule in enumerate(rules):
        for col, entry in enumerate(rule.inputEntries):
            if not known[col]:
                continue
            is_simple, values = _cell_literals(entry.lhs[0] if entry.lhs else None)
            for value in values if is_simple else []:
                if isinstance(value, str) and value not in known[col]:
                    shown = ", ".join(str(v) for v in known[col][:15])
                    issues.append(LintIssue(
                        "warning", "unknown_value",
                        f'rule {index + 1}, input \'{labels[col]}\': "{value}" is not a known value of {names[col]} '
                        f"({shown}); a case never has it, so this cell never matches",
                        f"规则 {index + 1}，输入“{labels[col]}”：\"{value}\" 不是 {names[col]} 的已知取值"
                        f"（{shown}），事项中不会出现这个值，此单元格永远不会匹配", index, "input", col))

    # one variable per column holding the sample value, so any cell can be probed with any value
    holders = [f"_onestop_lint_in{col}" for col in range(len(columns))]

    def cell(rule: int, col: int, value: Any) -> bool | None:
        try:
            return bool(probe.cell_matches(rule, col, {holders[col]: value}, input_expression=holders[col]))
        except Exception:  # noqa: BLE001
            return None

    # known values (all columns known): which combinations does no rule match, which fail?
    if columns and all(known):
        combos = list(itertools.islice(itertools.product(*known), MAX_COMBINATIONS))
        unmatched: list[tuple[Any, ...]] = []
        for combo in combos:
            hit = False
            for index in range(len(rules)):
                results = [cell(index, col, combo[col]) for col in range(len(columns))]
                if any(r is None for r in results):
                    col = results.index(None)
                    issues.append(LintIssue(
                        "error", "runtime",
                        f"rule {index + 1}, input '{labels[col]}': the cell fails when {names[col]} is "
                        f"{_show(combo[col])}; the case would stop with an incident",
                        f"规则 {index + 1}，输入“{labels[col]}”：当 {names[col]} 为 {_show_zh(combo[col])} 时"
                        "此单元格出错，事项会因此中断", index, "input", col))
                    hit = True
                    break
                if all(results):
                    hit = True
                    break
            if not hit:
                unmatched.append(combo)
        if unmatched:
            shown = "; ".join(", ".join(f"{n}={_show(v)}" for n, v in zip(names, combo, strict=True))
                              for combo in unmatched[:MAX_REPORTED])
            more = f" and {len(unmatched) - MAX_REPORTED} more" if len(unmatched) > MAX_REPORTED else ""
            more_zh = f"等 {len(unmatched)} 种" if len(unmatched) > MAX_REPORTED else ""
            issues.append(LintIssue(
                "error", "no_match",
                f"no rule matches {shown}{more}: the outputs would stay undefined; add rules or a default rule",
                f"没有规则匹配 {shown}{more_zh}：输出将没有值；请补充规则或默认规则"))

    # overlaps and rules that never apply, over the interesting values of every column
    types = [(c.typeRef or "").lower() for c in columns]
    domains = [_candidates(types[col], literals[col], known[col]) for col in range(len(columns))]
    total = 1
    for domain in domains:
        total *= max(1, len(domain))
    if not columns or total > MAX_COMBINATIONS:
        return issues
    analysed = [i for i in range(len(rules)) if simple[i]]
    matrix: dict[tuple[int, int, int], bool | None] = {}
    for index in analysed:
        for col in range(len(columns)):
            for n, value in enumerate(domains[col]):
                matrix[(index, col, n)] = cell(index, col, value)
    combos = list(itertools.product(*[range(len(d)) for d in domains]))
    matches: dict[int, set[tuple[int, ...]]] = {}
    for index in analysed:
        found = set()
        for combo in combos:
            results = [matrix[(index, col, n)] for col, n in enumerate(combo)]
            if all(r is True for r in results):
                found.add(combo)
        matches[index] = found
    defaults = {i for i, rule in enumerate(rules)
                if all(not entry.lhs or entry.lhs[0] is None or entry.lhs[0] == "" for entry in rule.inputEntries)}
    unique = probe.hit_policy == "UNIQUE"

    def example(combo: tuple[int, ...]) -> tuple[str, str]:
        pairs = [(names[col], domains[col][n]) for col, n in enumerate(combo)]
        return (", ".join(f"{name}={_show(v)}" for name, v in pairs),
                "，".join(f"{name}={_show_zh(v)}" for name, v in pairs))

    def preferred(combos_found: set[tuple[int, ...]]) -> tuple[int, ...]:
        return min(combos_found, key=lambda c: (sum(domains[col][n] == OTHER for col, n in enumerate(c)), c))

    if not unique:
        return issues
    for index in analysed:
        if index in defaults or not matches[index]:
            continue
        earlier = [i for i in analysed if i < index]
        covered = set().union(*(matches[i] for i in earlier)) if earlier else set()
        if earlier and all(i in analysed for i in range(index)) and matches[index] <= covered:
            owners = sorted({next(i for i in earlier if combo in matches[i]) for combo in matches[index]})
            which = ", ".join(str(i + 1) for i in owners)
            issues.append(LintIssue(
                "warning", "shadowed",
                f"rule {index + 1} never applies: every input it matches is matched first by rule {which}",
                f"规则 {index + 1} 永远不会生效：它匹配的输入都会先被规则 {which} 匹配", index))
            continue
        for other in earlier:
            if other in defaults:
                continue
            both = matches[index] & matches[other]
            if both:
                en, zh = example(preferred(both))
                issues.append(LintIssue(
                    "info", "overlap",
                    f"rules {other + 1} and {index + 1} both match {en}; under hit policy UNIQUE the first "
                    f"(rule {other + 1}) applies",
                    f"规则 {other + 1} 和规则 {index + 1} 都匹配 {zh}；命中策略 UNIQUE 取第一条（规则 {other + 1}）",
                    index))
                break
    return issues
