"""A step on a case with 500 completed user tasks vs the same step on a fresh case (no O(n²)).

The long case runs `bench_long`, one user task repeated by a BPMN standard loop. In SpiffWorkflow
3.2.0 alone the gateway loop of `bench_loop` cannot get there: it walks the task tree with
`TaskIterator(max_depth=1000)`, every round of a gateway loop adds three levels, and after 333
rounds the next user task lies below depth 1000, where `get_tasks` and `is_completed` no longer
see it: the workflow reports itself completed. `gateway_loop_rounds` measures that limit of raw
SpiffWorkflow; `engine_loop_rounds` runs the same loop through OneStop's engine, which prunes the
finished history after every step (`app.engine.runtime._prune_history`) and so keeps the tree shallow.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from common import FORM_DATA, Result, World, complete_in_own_unit, open_task_id, progress, summary
from runtime_steps import engine_inputs, new_cases, raw_spec, raw_step, raw_workflow
from SpiffWorkflow.util.task import TaskState

from app import engine
from app.cases.models import CaseState

LONG = "bench_long"


def state_bytes(world: World, case_id: int) -> tuple[int, int]:
    """The case's stored state: compressed bytes and JSON bytes."""
    with world.db.unit_of_work(write=False) as s:
        blob = s.get(CaseState, case_id).blob
    return len(blob), len(zlib.decompress(blob))


def engine_step_ms(compiled: Any, state: bytes, functions: Any, repeat: int) -> list[float]:
    """Restore + step + dump on the same stored state, `repeat` times (engine only); ms each."""
    task_id = engine.peek(compiled, state).ready[0].id
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        engine.complete_task(compiled, state, task_id, FORM_DATA, functions)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def gateway_loop_rounds(limit: int = 1000) -> int:
    """Rounds of the `bench_loop` gateway loop SpiffWorkflow completes before the loop task vanishes."""
    workflow = raw_workflow(raw_spec())
    for rounds in range(limit):
        if not workflow.get_tasks(state=TaskState.READY, manual=True):
            return rounds
        raw_step(workflow)
    return limit


def engine_loop_rounds(world: World, limit: int = 1000) -> int:
    """Rounds of the same gateway loop through OneStop's engine (restore + step + dump each round),
    which prunes finished history: up to `limit`, or the round at which the task was lost."""
    (case_id,) = new_cases(world, 1)
    compiled, state, functions = engine_inputs(world, case_id)
    step = engine.peek(compiled, state)
    for rounds in range(limit):
        if step.error is not None or len(step.ready) != 1:
            return rounds
        step = engine.complete_task(compiled, step.state, step.ready[0].id, FORM_DATA, functions)
    return limit


def run(world: World, *, completed: int = 500, samples: int = 30) -> list[Result]:
    """Grow one case to `completed` user tasks, then time further steps against first steps of fresh cases."""
    progress(f"{world.kind}: long case ({completed} completed tasks, {samples} samples)")
    long_id, *fresh_ids = new_cases(world, samples + 1, LONG)
    for i in range(completed):
        complete_in_own_unit(world.db, world.mediator_id, open_task_id(world.db, long_id), FORM_DATA)
        if (i + 1) % 100 == 0:
            progress(f"{world.kind}:   long case at {i + 1} completed tasks")
    long_size = state_bytes(world, long_id)
    fresh_size = state_bytes(world, fresh_ids[0])

    # the same in SpiffWorkflow alone and in the engine alone, to see where the growth comes from
    spec = raw_spec(LONG)
    raw_long = raw_workflow(spec)
    for _ in range(completed):
        raw_step(raw_long)
    compiled, long_state, functions = engine_inputs(world, long_id)
    _, fresh_state, _ = engine_inputs(world, fresh_ids[0])
    eng_long = engine_step_ms(compiled, long_state, functions, samples)
    eng_fresh = engine_step_ms(compiled, fresh_state, functions, samples)
    raw_fresh_ms: list[float] = []
    raw_long_ms: list[float] = []
    fresh_ms: list[float] = []
    long_ms: list[float] = []
    for case_id in fresh_ids:  # interleaved, so load on the machine hits both alike
        raw_fresh_ms.append(raw_step(raw_workflow(spec)))
        raw_long_ms.append(raw_step(raw_long))
        fresh_ms.append(complete_in_own_unit(world.db, world.mediator_id, open_task_id(world.db, case_id),
                                             FORM_DATA))
        long_ms.append(complete_in_own_unit(world.db, world.mediator_id, open_task_id(world.db, long_id),
                                            FORM_DATA))
    f, g = summary(fresh_ms), summary(long_ms)
    ratio = g["median"] / f["median"]
    ef, eg = summary(eng_fresh), summary(eng_long)
    rf, rg = summary(raw_fresh_ms), summary(raw_long_ms)
    rounds = gateway_loop_rounds()
    engine_rounds = engine_loop_rounds(world)
    return [
        Result("fresh_step", "persisted step, fresh case, median (p95)", f["median"], "ms", detail=f),
        Result("long_step", f"persisted step, case with {completed} done, median (p95)", g["median"], "ms",
               detail=g),
        Result("long_ratio", f"{completed}-task case / fresh case step (medians)", ratio, "x", "≤ 1.5×",
               ratio <= 1.5),
        Result("long_engine_ratio", "  same, engine only (restore+step+dump)", eg["median"] / ef["median"], "x",
               detail={"fresh": ef, "long": eg}),
        Result("long_raw_ratio", "  same, raw in-memory SpiffWorkflow", rg["median"] / rf["median"], "x",
               detail={"fresh": rf, "long": rg}),
        Result("fresh_state", "state of a fresh case (zlib; JSON)", fresh_size[0], "B",
               detail={"compressed": fresh_size[0], "json": fresh_size[1]}),
        Result("long_state", f"state of a case with {completed} done (zlib; JSON)", long_size[0], "B",
               detail={"compressed": long_size[0], "json": long_size[1]}),
        Result("gateway_rounds", "gateway-loop rounds before SpiffWorkflow loses the task", rounds, "",
               detail={"reason": "TaskIterator max_depth=1000; 3 tree levels per round"}),
        Result("engine_rounds", "gateway-loop rounds through the engine (of 1000 tried)", engine_rounds, "",
               "1000", engine_rounds >= 1000, detail={"reason": "finished history is pruned every step"}),
    ]
