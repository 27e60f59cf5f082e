"""Raw in-memory SpiffWorkflow step vs the same step through the service layer with persistence.

The process is `bench_loop` (one user task repeated while `count < limit`). For each of `cases`
cases and each of `steps` steps, three measurements are interleaved, so a busy machine slows all
three alike:

- raw: SpiffWorkflow alone, in memory: `task.run()` + `do_engine_steps()` for the ready user task;
- engine: `app.engine.complete_task` on the stored state bytes (restore, step, dump), no database;
- persisted: `app.tasks.service.complete_task` in its own `unit_of_work` (load the user and lock the
  case in one round trip, as the API does; load state, engine step, save, sync tasks/timers/events,
  commit). The case's previous step was this process's, so the step goes on with the workflow that
  step kept (`app.engine.keep`), as a case's next step in the same server process does;
- persisted, restored: the same on cases of their own with nothing kept, so that every step restores
  its workflow from the stored state (a step in another worker process than the case's last one,
  or `ONESTOP_ENGINE_CACHE=0`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from common import BUNDLE, FORM_DATA, Result, World, complete_in_own_unit, intake, open_task_id, progress, summary
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from app import engine
from app.cases.models import MediationCase
from app.cases.service import create_case, script_functions
from app.processes.service import load_spec

LOOP = "bench_loop"
#: the loop runs "forever": the benchmarks stop it, not the gateway
LIMIT = 10**6


def raw_spec(process_id: str = LOOP) -> Any:
    """A bench process parsed by SpiffWorkflow's own parser, as a plain SpiffWorkflow user would."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(BUNDLE / f"{process_id}.bpmn"))
    return parser.get_spec(process_id)


def raw_workflow(spec: Any) -> Any:
    """A new in-memory workflow run to its first user task."""
    workflow = BpmnWorkflow(spec)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update({"limit": LIMIT})
    workflow.do_engine_steps()
    return workflow


def raw_step(workflow: Any) -> float:
    """Complete the ready user task and run on to the next one, in memory; return ms."""
    task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
    t0 = time.perf_counter()
    task.data.update(FORM_DATA)
    task.run()
    workflow.do_engine_steps()
    return (time.perf_counter() - t0) * 1000


class EngineChain:
    """A case's stored state stepped through `app.engine` alone (restore + step + dump), no database."""

    def __init__(self, compiled: Any, state: bytes, functions: Any) -> None:
        self.compiled = compiled
        self.functions = functions
        self.step = engine.peek(compiled, state)

    def advance(self) -> float:
        """One step; return ms."""
        task_id = self.step.ready[0].id
        t0 = time.perf_counter()
        self.step = engine.complete_task(self.compiled, self.step.state, task_id, FORM_DATA, self.functions)
        return (time.perf_counter() - t0) * 1000


@contextlib.contextmanager
def nothing_kept() -> Iterator[None]:
    """Steps in the block keep no workflow (those kept before stay kept)."""
    capacity = engine.runtime.KEPT.capacity
    engine.runtime.KEPT.capacity = 0
    try:
        yield
    finally:
        engine.runtime.KEPT.capacity = capacity


def new_cases(world: World, count: int, process_id: str = LOOP) -> list[int]:
    """Create `count` cases through the service layer (one transaction); return their ids."""
    with world.db.unit_of_work() as s:
        return [create_case(s, None, intake(world.place), process_id=process_id, data={"limit": LIMIT}).id
                for _ in range(count)]


def engine_inputs(world: World, case_id: int) -> tuple[Any, bytes, Any]:
    """The compiled spec, stored state and script functions the service layer would use for a case."""
    with world.db.unit_of_work(write=False) as s:
        case = s.get(MediationCase, case_id)
        spec = load_spec(s, case.runtime_spec_id)
        return spec.compiled, case.state.blob, script_functions(s, case.org_unit)


def run(world: World, *, cases: int, steps: int, warmup: int = 10) -> list[Result]:
    """Measure raw, engine-only and persisted steps side by side; return the results."""
    progress(f"{world.kind}: raw vs persisted step ({cases} cases x {steps} steps)")
    spec = raw_spec()
    ids = new_cases(world, cases + 1)
    with nothing_kept():  # their creation keeps nothing either: every step of theirs restores
        cold_ids = new_cases(world, cases)
    # warm every cache (spec cache, SQLAlchemy statement cache, calendar) before measuring
    warm_id = ids.pop()
    warm_raw = raw_workflow(spec)
    warm_chain = EngineChain(*engine_inputs(world, warm_id))
    for _ in range(warmup):
        raw_step(warm_raw)
        warm_chain.advance()
        complete_in_own_unit(world.db, world.mediator_id, open_task_id(world.db, warm_id), FORM_DATA)

    raw: list[float] = []
    eng: list[float] = []
    persisted: list[float] = []
    restored: list[float] = []
    for case_id, cold_id in zip(ids, cold_ids, strict=True):
        workflow = raw_workflow(spec)
        chain = EngineChain(*engine_inputs(world, case_id))
        for _ in range(steps):
            raw.append(raw_step(workflow))
            eng.append(chain.advance())
            task_id = open_task_id(world.db, case_id)
            persisted.append(complete_in_own_unit(world.db, world.mediator_id, task_id, FORM_DATA))
            task_id = open_task_id(world.db, cold_id)
            with nothing_kept():
                restored.append(complete_in_own_unit(world.db, world.mediator_id, task_id, FORM_DATA))
    r, e, p, c = summary(raw), summary(eng), summary(persisted), summary(restored)
    ratio = p["median"] / r["median"]
    return [
        Result("raw_step", "raw in-memory SpiffWorkflow step, median (p95)", r["median"], "ms", detail=r),
        Result("engine_step", "engine only: restore + step + dump, median (p95)", e["median"], "ms", detail=e),
        Result("persisted_step", "persisted step via service layer, median (p95)", p["median"], "ms", detail=p),
        Result("persisted_ratio", "persisted / raw step (medians)", ratio, "x", "≤ 3×", ratio <= 3.0),
        Result("persisted_ratio_engine", "persisted / engine-only step (medians)", p["median"] / e["median"], "x"),
        Result("restored_step", "persisted step, workflow restored from the stored state, median (p95)",
               c["median"], "ms", detail=c),
        Result("restored_ratio", "persisted, restored / raw step (medians)", c["median"] / r["median"], "x"),
    ]
