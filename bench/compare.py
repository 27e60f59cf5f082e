"""Before/after: the persisted step of another commit and of this tree, measured in turns.

This machine's speed wanders by up to 1.7x within minutes, so two benchmark runs minutes apart
cannot tell a 15% change from the weather. Here each round runs a fresh sampler process on each
tree, one after the other, for a few seconds each; the rounds alternate which goes first.

    .venv/bin/python bench/compare.py 4b25055                 # that commit vs the working tree
    .venv/bin/python bench/compare.py HEAD~3 --db postgresql --rounds 5 --steps 400
    .venv/bin/python bench/compare.py HEAD --part create     # a case created, not a task completed
    .venv/bin/python bench/compare.py HEAD --part rate --db postgresql --rounds 3   # HTTP throughput

A sampler (this file with `--sample`) imports the app and the bench helpers of the tree it runs in
(`bench/common.py`, `bench/runtime_steps.py`), makes a fresh database, creates 10 `bench_loop` cases,
warms up, then times `steps` persisted task completions (each in its own unit of work, as the
step benchmark does) interleaved with raw in-memory SpiffWorkflow steps, and prints one JSON line.
With `--part rate` it runs the HTTP throughput part instead (`onestop serve --workers 3` of that tree,
4 clients for `--seconds`), and reports completions per second and the CPU each took: a 20 s window
of one run said little, this machine's throughput wandering by ±15% between runs minutes apart.
The other commit is checked out in a temporary git worktree, removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
CASES = 10


def sample(kind: str, steps: int, part: str = "step", seconds: float = 15.0) -> dict[str, float]:
    """Run in a tree (cwd): persisted and raw step medians, ms (`part` "create": a case created
    through the service layer in its own unit of work, instead of the persisted step; "rate": HTTP
    completions per second and CPU ms per completion)."""
    tree = Path.cwd()
    sys.path[:0] = [str(tree / "bench"), str(tree)]
    if part == "rate":
        return sample_rate(kind, seconds)
    from common import (
        FORM_DATA,
        cheap_password_hashing,
        complete_in_own_unit,
        fresh_database,
        intake,
        make_world,
        open_task_id,
        quiet_logging,
    )
    from runtime_steps import LIMIT, LOOP, new_cases, raw_spec, raw_step, raw_workflow

    from app.cases.service import create_case

    try:
        from app.org.service import load_user
    except ImportError:  # a tree from before it: its requests got the user from the session
        from app.org.models import User

        def load_user(s: Any, user_id: int) -> Any:
            return s.get(User, user_id)

    def create_in_own_unit(db: object, user_id: int, place: str) -> float:
        t0 = time.perf_counter()
        with db.unit_of_work() as s:  # type: ignore[attr-defined]
            create_case(s, load_user(s, user_id), intake(place), process_id=LOOP, data={"limit": LIMIT})
        return (time.perf_counter() - t0) * 1000

    quiet_logging()
    cheap_password_hashing()
    with fresh_database(kind) as db:
        world = make_world(kind, db)
        ids = new_cases(world, CASES)
        spec = raw_spec()
        for i in range(3 * CASES):  # warm every cache
            complete_in_own_unit(db, world.mediator_id, open_task_id(db, ids[i % CASES]), FORM_DATA)
        raw: list[float] = []
        persisted: list[float] = []
        workflow = raw_workflow(spec)
        for i in range(steps):
            if i % 25 == 0:  # a raw workflow grows with its history: keep it as short as the cases
                workflow = raw_workflow(spec)
            raw.append(raw_step(workflow))
            if part == "create":
                persisted.append(create_in_own_unit(db, world.mediator_id, world.place))
            else:
                task_id = open_task_id(db, ids[i % CASES])
                persisted.append(complete_in_own_unit(db, world.mediator_id, task_id, FORM_DATA))
    return {"raw": statistics.median(raw), "persisted": statistics.median(persisted)}


def sample_rate(kind: str, seconds: float) -> dict[str, float]:
    """The HTTP throughput part of this tree on a fresh database: completions/s and CPU ms each."""
    import http_api
    from common import cheap_password_hashing, fresh_database, make_world, quiet_logging

    quiet_logging()
    cheap_password_hashing()
    with fresh_database(kind) as db:
        world = make_world(kind, db)
        port = http_api._free_port()
        proc = http_api._serve(world, port, 3)
        try:
            done, elapsed, errors, cpu = http_api._throughput(world, port, 4, seconds)
        finally:
            http_api._stop(proc)
    if errors or not done:
        raise SystemExit(f"{errors} failed requests, {done} completions")
    return {"rate": done / elapsed, **{name: used * 1000 / done for name, used in cpu.items()}}


def run_sampler(tree: Path, kind: str, steps: int, part: str, seconds: float) -> dict[str, float]:
    out = subprocess.run([sys.executable, str(HERE), "--sample", kind, "--steps", str(steps), "--part", part,
                          "--seconds", str(seconds)], cwd=tree, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"the sampler failed in {tree}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _shown(got: dict[str, float], part: str) -> str:
    if part == "rate":
        return (f"{got['rate']:.0f}/s  CPU per completion: server {got['server']:.2f} ms, "
                f"database {got['database']:.2f} ms, clients {got['clients']:.2f} ms")
    return f"raw {got['raw']:.2f} ms  persisted {got['persisted']:.2f} ms  ratio {got['persisted'] / got['raw']:.2f}x"


def _summary(kind: str, part: str, rounds: int, before: list[dict[str, float]], after: list[dict[str, float]]) -> str:
    def median(results: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in results)

    if part == "rate":
        b, a = median(before, "rate"), median(after, "rate")
        return (f"{kind}: completions/s {b:.0f} -> {a:.0f} ({(a / b - 1) * 100:+.0f}%), server CPU per completion "
                f"{median(before, 'server'):.2f} -> {median(after, 'server'):.2f} ms (medians of {rounds} rounds)")
    b, a = median(before, "persisted"), median(after, "persisted")
    ratio_before = statistics.median(r["persisted"] / r["raw"] for r in before)
    ratio_after = statistics.median(r["persisted"] / r["raw"] for r in after)
    what = "created case" if part == "create" else "persisted step"
    return (f"{kind}: {what} {b:.2f} -> {a:.2f} ms ({(a / b - 1) * 100:+.0f}%), "
            f"persisted/raw {ratio_before:.2f}x -> {ratio_after:.2f}x (medians of {rounds} rounds)")


def compare(rev: str, kinds: list[str], rounds: int, steps: int, part: str, seconds: float = 15.0) -> None:
    with tempfile.TemporaryDirectory(prefix="onestop-compare-") as tmp:
        other = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(other), rev], check=True)
        try:
            for kind in kinds:
                results: dict[str, list[dict[str, float]]] = {rev: [], "this tree": []}
                for n in range(rounds):
                    order = [(rev, other), ("this tree", ROOT)]
                    for name, tree in order if n % 2 == 0 else reversed(order):
                        got = run_sampler(tree, kind, steps, part, seconds)
                        results[name].append(got)
                        print(f"{time.strftime('%H:%M:%S')} {kind:10s} round {n + 1} {name:12s} {_shown(got, part)}",
                              flush=True)
                print(_summary(kind, part, rounds, results[rev], results["this tree"]))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)], check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", nargs="?", help="the commit to compare this tree with")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--part", choices=["step", "create", "rate"], default="step",
                        help="what is timed: a task completion (default), a case created, or HTTP throughput")
    parser.add_argument("--seconds", type=float, default=15.0, help="the throughput window of --part rate")
    parser.add_argument("--sample", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sample:
        print(json.dumps(sample(args.sample, args.steps, args.part, args.seconds)))
        return 0
    if not args.rev:
        parser.error("give the commit to compare with")
    compare(args.rev, ["sqlite", "postgresql"] if args.db == "both" else [args.db], args.rounds, args.steps,
            args.part, args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
