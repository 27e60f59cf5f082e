"""The floor under the persisted step: what it would cost if OneStop's own code cost nothing.

A persisted task completion is the engine's work (restore the stored state, step, dump it) plus the
database's (the step's statements and its COMMIT) plus OneStop's own Python around them (sessions,
objects, permission checks, building the statements). This measures the first two alone, on the
same machine in the same run as the raw in-memory SpiffWorkflow step, so that the persisted/raw
target can be read against what no code of OneStop's could go below:

- raw: SpiffWorkflow alone in memory, as `runtime_steps.py` measures it;
- engine: `app.engine.complete_task` on the stored state bytes (restore + step + dump);
- database: the very statements a persisted step sent (captured from real steps of the cases, SQL
  and parameters as the driver got them, grouped in the round trips the step made) sent again
  through the bare driver connection, with its BEGIN and COMMIT, nothing of SQLAlchemy or OneStop
  in between;
- persisted: the step through the service layer, as `runtime_steps.py` measures it.

The floor is engine + database; floor/raw is the least persisted/raw could be on this machine.

    .venv/bin/python bench/floor.py                  # both databases
    .venv/bin/python bench/floor.py --db postgresql --steps 400

Replaying a step's statements writes its rows again (another copy of its events, its new task row,
its notifications) on cases kept for the replay; the case's version-checked UPDATE finds no row
after the first replay (the same index lookup, nothing written).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

from common import (
    FORM_DATA,
    cheap_password_hashing,
    complete_in_own_unit,
    fresh_database,
    make_world,
    open_task_id,
    pg_available,
    quiet_logging,
)
from runtime_steps import EngineChain, engine_inputs, new_cases, raw_spec, raw_step, raw_workflow

import app.db

CASES = 10


@contextlib.contextmanager
def captured() -> Iterator[list[list[Any]]]:
    """The round trips of the steps run in the block: each a list of the statements `app.db._send`
    sent together (SQL, parameters, and what the step read back)."""
    groups: list[list[Any]] = []
    send = app.db._send

    def recording(connection: Any, statements: list[Any]) -> list[Any]:
        groups.append(list(statements))
        return send(connection, statements)

    app.db._send = recording
    try:
        yield groups
    finally:
        app.db._send = send


def replay(dbapi_connection: Any, groups: list[list[Any]], kind: str) -> float:
    """Send the captured round trips again on the bare driver connection in one transaction, as the
    step did (one pipeline per round trip on PostgreSQL), and commit; return ms."""
    t0 = time.perf_counter()
    if kind == "sqlite":
        cursor = dbapi_connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        for group in groups:
            for statement in group:
                cursor.execute(statement.sql, statement.params)
                if statement.rows or statement.returning:
                    cursor.fetchall()
        cursor.execute("COMMIT")
        cursor.close()
    else:
        for group in groups:
            cursors = []
            with dbapi_connection.pipeline() if len(group) > 1 else contextlib.nullcontext():
                for statement in group:
                    cursor = dbapi_connection.cursor()
                    cursor.execute(statement.sql, statement.params)
                    cursors.append((cursor, statement))
            for cursor, statement in cursors:
                if statement.rows or statement.returning:
                    cursor.fetchall()
                cursor.close()
        dbapi_connection.commit()
    return (time.perf_counter() - t0) * 1000


def sample(kind: str, steps: int) -> dict[str, float]:
    """Medians (ms) of raw, engine, database-replay and persisted steps, interleaved."""
    with fresh_database(kind) as db:
        world = make_world(kind, db)
        ids = new_cases(world, CASES)
        replayed = new_cases(world, CASES)  # a replay writes another open task row: not for persisted steps
        spec = raw_spec()
        chains = [EngineChain(*engine_inputs(world, case_id)) for case_id in ids]
        for i in range(3 * CASES):  # warm every cache
            complete_in_own_unit(db, world.mediator_id, open_task_id(db, ids[i % CASES]), FORM_DATA)
            chains[i % CASES].advance()
        recorded = []
        for case_id in replayed:  # each case's step as it was sent
            for _ in range(3):  # its cases warmed as the others
                complete_in_own_unit(db, world.mediator_id, open_task_id(db, case_id), FORM_DATA)
            with captured() as groups:
                complete_in_own_unit(db, world.mediator_id, open_task_id(db, case_id), FORM_DATA)
            recorded.append(groups)
        raw: list[float] = []
        engine: list[float] = []
        database: list[float] = []
        persisted: list[float] = []
        workflow = raw_workflow(spec)
        bare = db.engine.raw_connection()
        try:
            for i in range(steps):
                if i % 25 == 0:  # a raw workflow grows with its history: keep it as short as the cases
                    workflow = raw_workflow(spec)
                raw.append(raw_step(workflow))
                engine.append(chains[i % CASES].advance())
                database.append(replay(bare.driver_connection, recorded[i % CASES], kind))
                task_id = open_task_id(db, ids[i % CASES])
                persisted.append(complete_in_own_unit(db, world.mediator_id, task_id, FORM_DATA))
        finally:
            bare.close()
    return {name: statistics.median(values) for name, values in
            (("raw", raw), ("engine", engine), ("database", database), ("persisted", persisted))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    quiet_logging()
    cheap_password_hashing()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if "postgresql" in kinds and not pg_available():
        if args.db == "postgresql":
            raise SystemExit("PostgreSQL does not answer")
        print("PostgreSQL does not answer: SQLite only", file=sys.stderr)
        kinds.remove("postgresql")
    for kind in kinds:
        got = sample(kind, args.steps)
        floor = got["engine"] + got["database"]
        raw = got["raw"]
        print(f"{kind:10s} raw {raw:.3f} ms  engine {got['engine']:.3f} ms ({got['engine'] / raw:.2f}x)  "
              f"database {got['database']:.3f} ms ({got['database'] / raw:.2f}x)  "
              f"floor {floor:.3f} ms ({floor / raw:.2f}x)  "
              f"persisted {got['persisted']:.3f} ms ({got['persisted'] / raw:.2f}x)")


if __name__ == "__main__":
    main()
