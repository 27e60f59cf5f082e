"""Evaluate one DMN decision table exactly as a case's business rule task does.

The studio's "try it" box and the decision API must give the answers the running cases will get, so this
does not re-implement DMN: it builds a one-task BPMN process around the decision, compiles it with the
same parser as a case (`app.engine.specs.compile_spec`), gives it the same script environment
(`app.engine.scripting.make_script_engine`: safe builtins, `datetime`, and the county's working-day
functions passed in as `functions`) and asks SpiffWorkflow's own `DMNEngine` for the result. On top of
that it tells *which* rules matched and, when something fails, which rule and cell failed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from app.engine.scripting import make_script_engine
from app.engine.specs import BPMN_NS, SPIFF_NS, compile_spec, parse_xml

Functions = Mapping[str, Callable[..., Any]]

_PROCESS_ID = "onestop_decision_probe"
_TASK_ID = "decide"


@dataclass(frozen=True)
class CellError:
    """A cell (or an input expression) that raised while the table was evaluated."""

    message: str
    #: 0-based rule index; None for an input expression
    rule: int | None
    #: "input" | "output"
    kind: str
    #: 0-based column index
    column: int


@dataclass(frozen=True)
class Evaluation:
    """What a business rule task calling the table would merge into the case's data, and why."""

    #: the outputs, by output name (COLLECT: a list per output); empty when no rule matched
    outputs: dict[str, Any]
    #: the rules (0-based) whose outputs were used: the first match for UNIQUE, every match for COLLECT
    matched: tuple[int, ...]
    #: every rule whose input cells match, in order (for UNIQUE the later ones are overruled by the first)
    matching: tuple[int, ...] = ()
    error: CellError | None = None


@dataclass
class _Column:
    expression: str | None
    label: str


@dataclass
class DecisionProbe:
    """A compiled decision table ready to evaluate many inputs (the lint reuses one probe)."""

    decision_id: str
    hit_policy: str
    task: Any
    engine: Any
    inputs: list[_Column] = field(default_factory=list)

    @property
    def rules(self) -> list[Any]:
        return list(self.engine.decision_table.rules)

    def _reset(self, data: Mapping[str, Any]) -> None:
        self.task.data = copy.deepcopy(dict(data))

    def cell_matches(self, rule: int, column: int, data: Mapping[str, Any], input_expression: str | None = None
                     ) -> bool:
        """Evaluate one input cell as SpiffWorkflow does; raises what the engine would raise.

        `input_expression` replaces the column's expression (the lint passes a variable holding a
        sample value of the column, so that it can probe a cell with any value).
        """
        self._reset(data)
        entry = self.engine.decision_table.rules[rule].inputEntries[column]
        expression = input_expression if input_expression is not None else entry.input.expression
        return all(lhs is None or self.engine.evaluate(expression, lhs, self.task) for lhs in entry.lhs)

    def output_value(self, rule: int, column: int, data: Mapping[str, Any]) -> Any:
        self._reset(data)
        entry = self.engine.decision_table.rules[rule].outputEntries[column]
        return self.task.workflow.script_engine.evaluate(self.task, entry.text) if entry.text else ""

    def evaluate(self, data: Mapping[str, Any]) -> Evaluation:
        """Evaluate the table on the data a business rule task would see."""
        table = self.engine.decision_table
        for index, column in enumerate(self.inputs):  # a broken input expression fails every rule alike
            if column.expression:
                try:
                    self._reset(data)
                    self.task.workflow.script_engine.evaluate(self.task, column.expression)
                except Exception as exc:  # noqa: BLE001 - shown to the person, never raised
                    return Evaluation({}, (), (), CellError(_message(exc), None, "input", index))
        matching: list[int] = []
        for index, rule in enumerate(table.rules):
            decided = bool(matching) and self.hit_policy == "UNIQUE"
            try:
                ok = all(self.cell_matches(index, col, data) for col in range(len(rule.inputEntries)))
            except Exception as exc:  # noqa: BLE001
                if decided:  # the engine stops at the first match and never evaluates this rule
                    continue
                return Evaluation({}, (), tuple(matching), CellError(_message(exc), index, "input",
                                                                     _failing_input(self, index, data)))
            if ok:
                matching.append(index)
        used = tuple(matching[:1]) if self.hit_policy == "UNIQUE" else tuple(matching)
        for index in used:
            for col in range(len(table.rules[index].outputEntries)):
                try:
                    self.output_value(index, col, data)
                except Exception as exc:  # noqa: BLE001
                    return Evaluation({}, used, tuple(matching), CellError(_message(exc), index, "output", col))
        self._reset(data)
        outputs = dict(self.engine.result(self.task))  # SpiffWorkflow's own answer, merged as the task would
        return Evaluation(_plain(outputs), used, tuple(matching))


def _failing_input(probe: DecisionProbe, rule: int, data: Mapping[str, Any]) -> int:
    for col in range(len(probe.engine.decision_table.rules[rule].inputEntries)):
        try:
            probe.cell_matches(rule, col, data)
        except Exception:  # noqa: BLE001
            return col
    return 0


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _message(exc: BaseException) -> str:
    """The root cause of an evaluation failure in one line, e.g. "NameError: name 'x' is not defined"."""
    cause = exc.__cause__ or exc.__context__
    while cause is not None and (cause.__cause__ or cause.__context__) is not None and not isinstance(
            cause, NameError | TypeError | ValueError | SyntaxError | KeyError | ZeroDivisionError):
        cause = cause.__cause__ or cause.__context__
    text = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
    notes = [str(n) for n in getattr(exc, "notes", None) or [] if "Did you mean" in str(n)]
    return "; ".join([text, *notes])


def _probe_bpmn(decision_id: str) -> str:
    return (
        f'<bpmn:definitions xmlns:bpmn="{BPMN_NS}" xmlns:spiffworkflow="{SPIFF_NS}" id="probe_definitions" '
        'targetNamespace="urn:onestop:decision-probe">'
        f'<bpmn:process id="{_PROCESS_ID}" isExecutable="true">'
        '<bpmn:startEvent id="probe_start"><bpmn:outgoing>probe_f1</bpmn:outgoing></bpmn:startEvent>'
        f'<bpmn:businessRuleTask id="{_TASK_ID}" name="decide"><bpmn:extensionElements>'
        f'<spiffworkflow:calledDecisionId>{decision_id}</spiffworkflow:calledDecisionId>'
        '</bpmn:extensionElements><bpmn:incoming>probe_f1</bpmn:incoming><bpmn:outgoing>probe_f2</bpmn:outgoing>'
        '</bpmn:businessRuleTask>'
        '<bpmn:endEvent id="probe_end"><bpmn:incoming>probe_f2</bpmn:incoming></bpmn:endEvent>'
        f'<bpmn:sequenceFlow id="probe_f1" sourceRef="probe_start" targetRef="{_TASK_ID}"/>'
        f'<bpmn:sequenceFlow id="probe_f2" sourceRef="{_TASK_ID}" targetRef="probe_end"/>'
        '</bpmn:process></bpmn:definitions>'
    )


def decision_ids(dmn_xml: str) -> list[str]:
    """The ids of the decisions a DMN file defines, in order."""
    root = parse_xml(dmn_xml)
    return [d.get("id") for d in root.xpath("//*[local-name()='decision']") if d.get("id")]


def make_probe(dmn_xml: str, decision_id: str | None = None, functions: Functions | None = None) -> DecisionProbe:
    """Compile a DMN file's decision for evaluation; raises ValueError when SpiffWorkflow cannot load it."""
    ids = decision_ids(dmn_xml)
    if not ids:
        raise ValueError("the file defines no decision")
    decision_id = decision_id or ids[0]
    if decision_id not in ids:
        raise ValueError(f"the file does not define decision {decision_id}")
    if quoteattr(decision_id) != f'"{decision_id}"' or "<" in decision_id:
        raise ValueError("unsupported decision id")
    try:
        compiled = compile_spec(_PROCESS_ID, {"probe.bpmn": _probe_bpmn(decision_id)},
                                {"decision.dmn": dmn_xml})
    except Exception as exc:  # noqa: BLE001 - SpiffWorkflow raises many kinds on odd tables
        raise ValueError(_message(exc) if exc.__context__ else str(exc)) from exc
    workflow = BpmnWorkflow(compiled.spec, compiled.subprocess_specs, script_engine=make_script_engine(functions))
    task = next((t for t in workflow.get_tasks(state=TaskState.ANY_MASK) if t.task_spec.name == _TASK_ID), None)
    if task is None:  # the task tree grows as it runs: finish the start event without running the rule
        for ready in workflow.get_tasks(state=TaskState.READY):
            ready.run()
        task = next(t for t in workflow.get_tasks(state=TaskState.ANY_MASK) if t.task_spec.name == _TASK_ID)
    engine = task.task_spec.dmnEngine
    table = engine.decision_table
    inputs = [_Column(i.expression, i.label or i.expression or "") for i in table.inputs]
    return DecisionProbe(decision_id, (table.hit_policy or "UNIQUE").upper(), task, engine, inputs)


def evaluate_decision(dmn_xml: str, data: Mapping[str, Any], *, decision_id: str | None = None,
                      functions: Functions | None = None) -> Evaluation:
    """Evaluate a decision table of a DMN file on `data` (the variables the business rule task sees)."""
    return make_probe(dmn_xml, decision_id, functions).evaluate(data)
