"""SpiffWorkflow's own serializer, as OneStop used it before its faster task converter: the yardstick
`app.engine.runtime` must match, dictionary for dictionary, on every state the conformance corpus
and the engine tests go through."""

from __future__ import annotations

import json
import zlib
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.event_definition import TimerConditionalEventDefinitionConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.serializer.workflow import VERSION, BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from app.engine import runtime
from app.engine.specs import CompiledSpec
from app.engine.timers import ClockedCycle, ClockedDuration, ClockedTimeDate


class _StockState(BpmnWorkflowConverter):
    """The workflow without its spec, every task through the library's TaskConverter."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None) -> Any:
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _stock_registry() -> Any:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _StockState
    registry = BpmnWorkflowSerializer.configure(config)
    for cls in (ClockedTimeDate, ClockedDuration, ClockedCycle):
        TimerConditionalEventDefinitionConverter(cls, registry)
    return registry


STOCK = _stock_registry()
_ENCODER = runtime._ENCODER


def stock_dict(workflow: Any) -> Any:
    """The workflow as the library's serializer writes it, read back from its JSON."""
    STOCK._encoder_mode = True
    try:
        return json.loads(json.dumps(STOCK.convert(workflow), cls=_ENCODER))
    finally:
        STOCK._encoder_mode = False


def ours_dict(workflow: Any) -> Any:
    runtime._REGISTRY._encoder_mode = True
    try:
        return json.loads(json.dumps(runtime._REGISTRY.convert(workflow), cls=_ENCODER))
    finally:
        runtime._REGISTRY._encoder_mode = False


def stock_load(compiled: CompiledSpec, state: bytes) -> Any:
    dct = json.loads(zlib.decompress(state))
    dct.pop(runtime.PRUNED_KEY, None)
    version = dct.pop("serializer_version", VERSION)
    if version in MIGRATIONS:
        MIGRATIONS[version](dct)
    return STOCK.restore(dct, spec=compiled.spec, subprocess_specs=compiled.subprocess_specs)


def check_state(compiled: CompiledSpec, state: bytes) -> None:
    """A stored state reads back the same through OneStop's converter and the library's, and each
    writes what the other writes: the same dictionaries (internal data included), every task's data
    and state the same."""
    ours = runtime.load_state(compiled, state)
    stock = stock_load(compiled, state)
    written = stock_dict(stock)
    assert ours_dict(stock) == written, "OneStop writes a workflow otherwise than SpiffWorkflow"
    assert stock_dict(ours) == written, "OneStop reads a state otherwise than SpiffWorkflow"
    assert ours_dict(ours) == written
    for task_id, task in stock.tasks.items():
        mine = ours.tasks[task_id]
        assert (mine.data, mine.state) == (task.data, task.state)
        assert type(mine.data) is dict
    assert set(ours.subprocesses) == set(stock.subprocesses)
    for key, sub in stock.subprocesses.items():
        for task_id, task in sub.tasks.items():
            mine = ours.subprocesses[key].tasks[task_id]
            assert (mine.data, mine.state) == (task.data, task.state)
    assert ([(t.id, t.task_spec.name) for t in ours.event_manager.tasks.values()]
            == [(t.id, t.task_spec.name) for t in stock.event_manager.tasks.values()])
