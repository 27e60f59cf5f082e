"""Bytes in the database per finished simple case, indexes included.

`bench_simple` sets deadlines by script, then a mediator accepts and a department replies. The
cases are created and finished through the service layer, one request-sized unit of work per step.
Measured as the growth of all tables (PostgreSQL: `pg_total_relation_size`; SQLite: `dbstat`)
divided by the number of cases, as written, and again after VACUUM (FULL on PostgreSQL).
"""

from __future__ import annotations

from common import (
    FORM_DATA,
    Result,
    World,
    complete_in_own_unit,
    database_bytes,
    intake,
    open_task_id,
    progress,
    vacuum,
)

from app.cases.models import CaseStatus, MediationCase
from app.cases.service import create_case

SIMPLE = "bench_simple"
TARGET_BYTES = 8 * 1024


def run(world: World, *, cases: int) -> list[Result]:
    """Finish `cases` simple cases and report the database growth per case."""
    progress(f"{world.kind}: storage per finished simple case ({cases} cases)")
    db = world.db
    vacuum(db, full=True)
    before = database_bytes(db)
    for i in range(cases):
        with db.unit_of_work() as s:
            case_id = create_case(s, None, intake(world.place, title=f"拖欠工资 {i}"), process_id=SIMPLE).id
        complete_in_own_unit(db, world.mediator_id, open_task_id(db, case_id), FORM_DATA)
        complete_in_own_unit(db, world.department_id, open_task_id(db, case_id),
                             {"reply": "已协调用人单位于月底前结清工资"})
        with db.unit_of_work(write=False) as s:
            if s.get(MediationCase, case_id).status != CaseStatus.closed:
                raise RuntimeError(f"simple case {case_id} did not finish")
    written = database_bytes(db)
    vacuum(db, full=True)
    compacted = database_bytes(db)
    per_case = (written - before) / cases
    return [
        Result("storage", "storage per finished simple case, as written", per_case, "B", "≤ 8 KB",
               per_case <= TARGET_BYTES, detail={"before": before, "after": written, "cases": cases}),
        Result("storage_vacuumed", "  same, after VACUUM", (compacted - before) / cases, "B",
               detail={"after_vacuum": compacted}),
    ]
