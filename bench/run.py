"""Run the runtime benchmarks on SQLite and/or PostgreSQL and print one table side by side.

    .venv/bin/python bench/run.py [--db sqlite|postgresql|both] [--quick] [--check] [--only http,steps]

Each database gets a fresh database. The table goes to stdout, progress to stderr, and the whole
run (table, samples' summaries, machine) to bench/out/results-<time>.json and bench/out/latest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import socket
import sqlite3
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import common
import http_api
import long_case
import runtime_steps
import storage
import timers
from common import Result, World, progress

OUT = Path(__file__).resolve().parent / "out"
DATABASES = ("sqlite", "postgresql")


def settings(quick: bool) -> dict[str, dict[str, Any]]:
    """How much each benchmark does, full or quick."""
    if quick:
        return {"storage": {"cases": 100}, "steps": {"cases": 5, "steps": 10},
                "long": {"completed": 500, "samples": 15},
                "timers": {"timers": 1000, "lead": 3.0, "span": 10.0, "grace": 30.0},
                "http": {"samples": 50, "seconds": 5.0}}
    return {"storage": {"cases": 500}, "steps": {"cases": 20, "steps": 25},
            "long": {"completed": 500, "samples": 30},
            "timers": {"timers": 10_000, "lead": 5.0, "span": 40.0, "grace": 30.0},
            "http": {"samples": 200, "seconds": 20.0}}


#: the parts of a run, in the order they run (`--only` picks some); storage first, while the tables are empty
RUNNERS = {"storage": storage.run, "steps": runtime_steps.run, "long": long_case.run, "timers": timers.run,
           "http": http_api.run}
PARTS = tuple(RUNNERS)


def run_database(kind: str, plan: dict[str, dict[str, Any]], parts: tuple[str, ...] = PARTS
                 ) -> tuple[list[Result], dict[str, Any]]:
    """The benchmarks (`parts` of them) on one fresh database."""
    info: dict[str, Any] = {}
    out: list[Result] = []
    started = time.perf_counter()
    with common.fresh_database(kind) as db:
        with db.engine.connect() as conn:
            info["server"] = (sqlite3.sqlite_version if db.is_sqlite
                              else conn.exec_driver_sql("SHOW server_version").scalar())
        world: World = common.make_world(kind, db)
        for part in parts:
            out += RUNNERS[part](world, **plan[part])
    info["seconds"] = round(time.perf_counter() - started, 1)
    return out, info


def _cell(result: Result | None) -> str:
    if result is None:
        return "—"
    shown = result.shown()
    p95 = result.detail.get("p95")
    if result.unit == "ms" and isinstance(p95, float):
        shown += f" ({p95:.2f})"
    if result.unit == "B" and "json" in result.detail:
        shown += f"; {result.detail['json'] / 1024:.0f} KB"
    return shown


def _verdict(results: list[Result | None]) -> str:
    checked = [r for r in results if r is not None and r.ok is not None]
    if not checked:
        return "info"
    failed = [k for k, r in zip(DATABASES, results, strict=True) if r is not None and r.ok is False]
    if not failed:
        return "pass"
    return "FAIL" if len(failed) == len(checked) else "FAIL (" + ", ".join(failed) + ")"


def table(by_db: dict[str, dict[str, Result]], order: list[str]) -> str:
    """The results as a Markdown table: what, SQLite, PostgreSQL, target, pass/fail."""
    head = ["what", "SQLite", "PostgreSQL", "target", "result"]
    rows = []
    for key in order:
        cells = [by_db.get(kind, {}).get(key) for kind in DATABASES]
        first = next(r for r in cells if r is not None)
        target = next((r.target for r in cells if r is not None and r.target), "")
        rows.append([first.what, _cell(cells[0]), _cell(cells[1]), target or "—", _verdict(cells)])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def machine() -> dict[str, Any]:
    """What the numbers were measured on, including how busy the machine was."""
    model = ""
    with contextlib.suppress(OSError, StopIteration):
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    from importlib.metadata import version

    return {"host": socket.gethostname(), "cpus": os.cpu_count(), "cpu": model, "platform": platform.platform(),
            "python": platform.python_version(), "spiffworkflow": version("SpiffWorkflow"),
            "sqlalchemy": version("SQLAlchemy"), "load_average": os.getloadavg()}


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=[*DATABASES, "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="fewer samples and 1,000 timers (about a minute)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"some of the parts, comma-separated (default: all of {','.join(PARTS)})")
    args = parser.parse_args(argv)
    parts = tuple(p for p in PARTS if p in args.only.split(","))
    unknown = set(args.only.split(",")) - set(PARTS)
    if unknown or not parts:
        parser.error(f"--only: unknown part(s) {', '.join(sorted(unknown)) or '(none given)'}; "
                     f"choose from {', '.join(PARTS)}")
    common.quiet_logging()
    common.cheap_password_hashing()
    kinds = list(DATABASES) if args.db == "both" else [args.db]
    skipped: dict[str, str] = {}
    if "postgresql" in kinds and not common.pg_available():
        if args.db == "postgresql":
            print(f"PostgreSQL does not answer at {common.PG_ADMIN_URL}", file=sys.stderr)
            return 2
        kinds.remove("postgresql")
        skipped["postgresql"] = "not available"
        progress("PostgreSQL does not answer: running on SQLite only")

    plan = settings(args.quick)
    when = datetime.now(UTC)
    before = machine()
    by_db: dict[str, dict[str, Result]] = {}
    infos: dict[str, Any] = {}
    order: list[str] = []
    for kind in kinds:
        results, infos[kind] = run_database(kind, plan, parts)
        by_db[kind] = {r.key: r for r in results}
        order += [r.key for r in results if r.key not in order]
    load_after = os.getloadavg()

    text = table(by_db, order)
    header = (f"{when.astimezone().strftime('%Y-%m-%d %H:%M %Z')} · {before['cpus']} cores ({before['cpu']}) · "
              f"{'quick' if args.quick else 'full'} run · load average before/after "
              f"{before['load_average'][0]:.2f}/{load_after[0]:.2f}")
    servers = ", ".join(f"{k} {v['server']} ({v['seconds']} s)" for k, v in infos.items())
    print()
    print(header)
    print(f"databases: {servers}; timings: median (p95) per step")
    print(text)
    for kind in kinds if "http" in parts else ():
        detail = by_db[kind]["http_rate"].detail
        per = detail["cpu_ms_per_completion"]
        print(f"{kind} HTTP throughput: CPU per completion {per}, ms; "
              f"cores busy {detail['cpu_busy']:.0%}; errors {detail['errors']}")
    for kind in kinds if "timers" in parts else ():
        detail = by_db[kind]["timer_p50"].detail
        print(f"{kind} scheduler: {detail['scheduler_runs']} runs (the longest {detail['longest_run_s']} s), "
              f"cases created in {detail['creation_s']} s; warnings: {detail['log_warnings'] or 'none'}")

    OUT.mkdir(exist_ok=True)
    payload = _json_safe({
        "when": when.isoformat(), "quick": args.quick, "parts": parts, "machine": before,
        "load_average_after": load_after,
        "databases": infos, "skipped": skipped, "plan": plan, "table": text,
        "results": {kind: [asdict(r) for r in by_db[kind].values()] for kind in kinds},
    })
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    for name in (f"results-{stamp}.json", "latest.json"):
        (OUT / name).write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n")
    progress(f"written to {OUT / f'results-{stamp}.json'}")
    failed = any(r.ok is False for results in by_db.values() for r in results.values())
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
