"""Reading BPMN and DMN files: what a bundle defines and references, and compiled runtime specs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent, ThrowingEvent
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from app.engine.timers import use_clock

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}

#: the spiff-arena extension properties that name a user task's forms
FORM_PROPERTY = "formJsonSchemaFilename"
UI_FORM_PROPERTY = "formUiSchemaFilename"
#: OneStop's property: an expression over the task's data giving the task's due time
DUE_PROPERTY = "dueAt"


def make_parser(*, validate: bool = False) -> SpiffBpmnParser:
    """A SpiffWorkflow parser for OneStop's dialect (spiff extensions), with XSD checks if asked."""
    return SpiffBpmnParser(validator=VALIDATOR if validate else None)


def parse_xml(text: str | bytes) -> etree._Element:
    """Parse XML safely (no entities, no network) and keep line numbers."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=False)
    return etree.fromstring(data, parser=parser)


@dataclass(frozen=True)
class ProcessInfo:
    """What one BPMN <process> defines and needs."""

    id: str
    name: str
    filename: str
    executable: bool
    calls: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()
    lanes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DecisionInfo:
    id: str
    name: str
    filename: str


@dataclass
class BundleInfo:
    processes: list[ProcessInfo] = field(default_factory=list)
    decisions: list[DecisionInfo] = field(default_factory=list)


def _spiff_properties(node: etree._Element) -> dict[str, str]:
    props = {}
    path = "./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property"
    for prop in node.xpath(path, namespaces=NS):
        if prop.get("name") is not None:
            props[prop.get("name")] = prop.get("value", "")
    return props


def _decision_ref(node: etree._Element) -> str | None:
    found = node.xpath("./bpmn:extensionElements/spiffworkflow:calledDecisionId/text()", namespaces=NS)
    return str(found[0]).strip() if found else None


def describe_process(process: etree._Element, filename: str) -> ProcessInfo:
    """Summarize one <bpmn:process> element."""
    calls = sorted({c.get("calledElement") for c in process.xpath(".//bpmn:callActivity", namespaces=NS)
                    if c.get("calledElement")})
    decisions = sorted({d for d in (_decision_ref(n) for n in process.xpath(".//bpmn:businessRuleTask",
                                                                             namespaces=NS)) if d})
    forms: set[str] = set()
    for task in process.xpath(".//bpmn:userTask", namespaces=NS):
        props = _spiff_properties(task)
        for key in (FORM_PROPERTY, UI_FORM_PROPERTY):
            if props.get(key):
                forms.add(props[key])
    lanes = sorted({lane.get("name") or lane.get("id")
                    for lane in process.xpath(".//bpmn:lane", namespaces=NS)})
    return ProcessInfo(
        id=process.get("id"),
        name=process.get("name") or process.get("id"),
        filename=filename,
        executable=process.get("isExecutable", "true").lower() != "false",
        calls=tuple(calls),
        decisions=tuple(decisions),
        forms=tuple(sorted(forms)),
        lanes=tuple(lanes),
    )


def describe_bundle(bpmn: Mapping[str, str], dmn: Mapping[str, str]) -> BundleInfo:
    """List the processes and decisions a set of files defines (the files must be well-formed)."""
    info = BundleInfo()
    for filename, text in bpmn.items():
        root = parse_xml(text)
        for process in root.xpath(".//bpmn:process", namespaces=NS):
            info.processes.append(describe_process(process, filename))
    for filename, text in dmn.items():
        root = parse_xml(text)
        for decision in root.xpath("//*[local-name()='decision']"):
            info.decisions.append(DecisionInfo(decision.get("id"), decision.get("name") or decision.get("id"),
                                               filename))
    return info


@dataclass(frozen=True)
class CompiledSpec:
    """A parsed, ready-to-run process with its called processes and decisions. Cache and share it:
    it is never mutated while running."""

    process_id: str
    spec: Any
    subprocess_specs: dict[str, Any]


def _use_clock_everywhere(*specs: Any) -> None:
    for wf_spec in specs:
        for task_spec in wf_spec.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            if definition is not None and isinstance(task_spec, CatchingEvent | ThrowingEvent):
                use_clock(definition)


def compile_spec(process_id: str, bpmn: Mapping[str, str], dmn: Mapping[str, str]) -> CompiledSpec:
    """Parse the files and build the runnable spec of `process_id` (a process or collaboration)."""
    parser = make_parser()
    for filename, text in bpmn.items():
        parser.add_bpmn_xml(parse_xml(text), filename=filename)
    for filename, text in dmn.items():
        parser.add_dmn_xml(parse_xml(text), filename=filename)
    if process_id in parser.collaborations:
        spec, subprocess_specs = parser.get_collaboration(process_id)
    else:
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    _use_clock_everywhere(spec, *subprocess_specs.values())
    return CompiledSpec(process_id=process_id, spec=spec, subprocess_specs=subprocess_specs)
