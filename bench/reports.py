"""Report queries on a large database: the ledger page, its exports and the monthly ranking.

Seeds N cases (default 100,000; the target is 1,000,000) by bulk insert, not through the engine, with
realistic spreads: 2 townships × 3 villages plus the county, 11 categories (labour and neighbour
disputes most common), 1–3 departments per county case, three years of intake dates, 85% closed, a
share answered late, returned or extended, callbacks with 88% satisfied. Then measures on each
database:

- the ledger page (50 rows and the total) with filters on case fields: p50/p95 over varied filters;
- the exports: CSV and XLSX rows per second over one month's ledger (and all of it for CSV);
- the monthly ranking by department and by township.

    .venv/bin/python bench/reports.py [--db sqlite|postgresql|both] [--cases N] [--keep]

With --keep the seeded database is kept (`onestop_bench_reports_<N>`, a PostgreSQL database or a
SQLite file in the temp dir) and a later run with --keep measures it again without seeding; drop it
by hand when done.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from app import clock  # noqa: E402
from app.cases.models import MediationCase  # noqa: E402
from app.db import Base  # noqa: E402
from app.org.models import Department, OrgUnit, User  # noqa: E402
from app.processes.service import deploy_bundle, latest_process_version, pin_runtime_spec, read_bundle_dir  # noqa: E402,E501
from app.reports import ledger, metrics  # noqa: E402
from app.reports.ranking import WARM_MONTHS, warm_up  # noqa: E402
from app.tasks.models import HumanTask  # noqa: E402
from bench.common import fresh_database, kept_database, pg_available, quiet_logging  # noqa: E402

CATEGORIES = (("labour", 22), ("neighbour", 20), ("family", 12), ("land", 10), ("property", 9), ("consumer", 8),
              ("traffic", 6), ("medical", 4), ("demolition", 3), ("environment", 3), ("other", 3))
DEPARTMENTS = ("hrss", "justice", "housing", "natres", "agri", "health", "police", "civil", "market", "env",
               "petition", "cmte_labour", "cmte_family", "cmte_property")
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
#: the "export everything" measurement stops after this many rows
EXPORT_ALL_LIMIT = 100_000


def seed(db, n: int, rng: random.Random) -> float:
    """Insert the world and n cases with their tasks; return the seconds it took."""
    started = time.perf_counter()
    with db.unit_of_work() as s:
        county = OrgUnit(code="qingxi", name="青溪县", level="county", path="/")
        s.add(county)
        s.flush()
        county.path = f"/{county.id}/"
        units = [county]
        for t in range(2):
            town = OrgUnit(code=f"town{t}", name=f"镇{t}", level="township", parent_id=county.id, path="")
            s.add(town)
            s.flush()
            town.path = f"{county.path}{town.id}/"
            units.append(town)
            for v in range(3):
                village = OrgUnit(code=f"v{t}{v}", name=f"村{t}{v}", level="village", parent_id=town.id, path="")
                s.add(village)
                s.flush()
                village.path = f"{town.path}{village.id}/"
                units.append(village)
        depts = []
        for code in DEPARTMENTS:
            d = Department(code=code, name=code, org_unit_id=county.id)
            s.add(d)
            depts.append(d)
        leader = User(username="leader", password_hash="x" * 20, roles=["leader"], org_unit_id=county.id)
        s.add(leader)
        s.flush()
        ids = {"units": [u.id for u in units], "depts": [d.id for d in depts], "county": county.id}
        # the cases need a runtime spec to point at (the reports never read it): the shipped flow's
        deploy_bundle(s, {**read_bundle_dir(ROOT / "processes"), **read_bundle_dir(ROOT / "forms")}, note="bench")
        spec_id = pin_runtime_spec(s, latest_process_version(s, "mediation"))
    cats = [c for c, w in CATEGORIES for _ in range(w)]
    span = 3 * 365 * 86400
    batch_cases, batch_tasks = [], []
    case_id = 0
    task_id = 0

    def flush() -> None:
        nonlocal task_id
        # the tasks of a few weeks' cases in the order they were created, interleaved as in a live system
        batch_tasks.sort(key=lambda t: t["created_at"])
        for t in batch_tasks:
            task_id += 1
            t["id"], t["engine_task_id"] = task_id, str(task_id)
        write(db, MediationCase.__table__, batch_cases)
        write(db, HumanTask.__table__, batch_tasks)
        batch_cases.clear()
        batch_tasks.clear()

    # intake times over three years, the last month about twice as busy as an average one; written in
    # the order they happened, as a live system writes them (a month's cases lie together on disk)
    intakes = sorted(NOW - timedelta(seconds=rng.randrange(span) if rng.random() < 0.97 else rng.randrange(span // 36))
                     for _ in range(n))
    for created in intakes:
        case_id += 1
        unit = rng.choice(ids["units"])
        county_level = unit == ids["county"] or rng.random() < 0.3
        closed = rng.random() < 0.85 or created < NOW - timedelta(days=60)
        lead = rng.choice(DEPARTMENTS) if county_level else None
        nd = rng.choice((1, 1, 2, 3)) if county_level else 0
        chosen = rng.sample(range(len(DEPARTMENTS)), nd)
        duration = timedelta(hours=rng.choice((2, 20, 50, 120, 200, 400)))
        closed_at = created + duration if closed else None
        if closed_at is not None and closed_at > NOW:
            closed_at, closed = None, False
        batch_cases.append({
            "id": case_id, "case_no": f"QX-{created.year}-{case_id:07d}", "title": f"纠纷{case_id}", "description": "",
            "category": rng.choice(cats), "urgency": "normal", "channel": rng.choice(("walk_in", "hotline", "grid")),
            "citizen_name": "张三", "citizen_phone": "13800000000", "org_unit_id": unit, "address": "",
            "status": "closed" if closed else "open",
            "stage": "closed" if closed else rng.choice(("accept", "triage", "convene", "mediate", "callback")),
            "level": "county" if county_level else "village",
            "lead_department": lead, "departments": [DEPARTMENTS[i] for i in chosen],
            "deadline_accept": created + timedelta(days=1), "deadline_convene": created + timedelta(days=3),
            "deadline_reply": created + timedelta(days=9), "deadline_callback": None, "process_id": "mediation",
            "process_version": 1, "runtime_spec_id": spec_id, "has_incident": False, "created_at": created,
            "closed_at": closed_at, "updated_at": closed_at or created, "lock_version": 1})
        end = closed_at or NOW

        def task(name, role, dept, start, due, done, data=None, form=None, case_id=case_id, unit=unit,
                 closed=closed, end=end):
            # closing a case cancels what is still open on it (as the engine does)
            status = "completed" if done is not None else ("cancelled" if closed else "open")
            done = done if done is not None or not closed else end
            batch_tasks.append({
                "id": None, "case_id": case_id, "engine_task_id": None, "name": name, "title": name,
                "lane": role, "role": role, "department_id": dept, "org_unit_id": unit, "assignee_id": None,
                "form": form, "ui_form": None, "due_at": due, "status": status, "created_at": start,
                "completed_at": done, "completed_by_id": None, "data": data, "overdue_notified_at": None})

        late = rng.random() < 0.15
        first_done = created + timedelta(hours=30 if late else 3)
        task("intake", "receiver", None, created, created + timedelta(days=1),
             first_done if first_done < end or closed else None, {"category": "x"})
        for i in chosen:
            start = created + timedelta(hours=4)
            if start >= end and not closed:
                continue
            action = "return" if rng.random() < 0.06 else ("extension" if rng.random() < 0.08 else "opinion")
            answered = start + timedelta(hours=rng.choice((5, 20, 60, 90)))
            done = answered if answered <= end else None
            task("department_opinion", "department", ids["depts"][i], start, start + timedelta(days=2), done,
                 {"action": action, "text": "意见"} if done else None, "department_opinion.json")
            if action == "extension" and done is not None:
                again_done = answered + timedelta(hours=40)
                task("department_opinion", "department", ids["depts"][i], answered, answered + timedelta(days=5),
                     again_done if again_done <= end else None, {"action": "opinion", "text": "意见"}, None)
        if closed and county_level:
            task("callback", "mediator", None, end - timedelta(hours=1), end + timedelta(days=1), end,
                 {"solved": rng.random() < 0.9, "satisfied": rng.random() < 0.88}, "callback.json")
        if len(batch_cases) >= 20000:
            flush()
    flush()
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.exec_driver_sql("SELECT setval('mediation_case_id_seq', (SELECT max(id) FROM mediation_case))")
            conn.exec_driver_sql("SELECT setval('human_task_id_seq', (SELECT max(id) FROM human_task))")
        # a steady-state table as autovacuum leaves it (visibility map set: counts from the index alone)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def write(db, table, rows: list[dict]) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    if db.engine.dialect.name != "postgresql":
        with db.engine.begin() as conn:
            conn.execute(insert(table), rows)
        return
    from psycopg.types.json import Jsonb

    columns = list(rows[0])
    json_columns = {c.name for c in table.columns if c.type.__class__.__name__ in ("JSON", "JSONB", "Variant")
                    or "JSON" in repr(c.type)}
    raw = db.engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cur, \
                cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([Jsonb(row[c]) if c in json_columns and row[c] is not None else row[c]
                                for c in columns])
        raw.driver_connection.commit()
    finally:
        raw.close()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def measure(kind: str, n: int, keep: bool = False) -> dict[str, str]:
    rng = random.Random(7)
    results: dict[str, str] = {}
    with (kept_database(kind, f"onestop_bench_reports_{n}") if keep else fresh_database(kind)) as db:
        clock.reset()
        clock._offset = NOW - datetime.now(UTC)
        with db.unit_of_work(write=False) as s:
            seeded = s.scalar(select(func.count()).select_from(MediationCase)) == n
        if seeded:
            results["seed"] = f"{n:,} cases kept from an earlier run"
        else:
            with db.engine.begin() as conn:  # an earlier run stopped while seeding: start again
                for table in reversed(Base.metadata.sorted_tables):
                    conn.execute(table.delete())
            seconds = seed(db, n, rng)
            results["seed"] = f"{n:,} cases in {seconds:.0f} s"
        with db.unit_of_work(write=False) as s:
            user = s.scalar(select(User).where(User.username == "leader"))
            filter_sets = [
                {"month": "2026-10"}, {"month": "2026-10", "category": "labour"},
                {"month": "2026-09", "org_unit": "town1"}, {"month": "2026-08", "department": "hrss"},
                {"month": "2026-10", "status": "open"}, {"month": "2026-07", "stage": "closed", "category": "family"},
                {"from": "2026-10-01", "to": "2026-10-07"}, {"month": "2026-10", "overdue": "1"},
                {"from": "2026-01-01", "to": "2026-11-20", "category": "medical"},
            ]
            timings = []
            for _round in range(5):
                for args in filter_sets:
                    f = ledger.parse_filters(s, user, args)
                    t0 = time.perf_counter()
                    ledger.page(s, user, f, 1, 50)
                    timings.append((time.perf_counter() - t0) * 1000)
            results[f"ledger page p50 / p95 ({len(filter_sets)} filter sets × 5)"] = \
                f"{statistics.median(timings):.1f} / {pct(timings, 95):.1f} ms"
            sql = []
            for args in filter_sets:
                f = ledger.parse_filters(s, user, args)
                stmt = ledger.query(s, user, f)
                t0 = time.perf_counter()
                s.scalar(select(func.count()).select_from(stmt.subquery()))
                s.execute(stmt.order_by(MediationCase.created_at.desc(), MediationCase.id.desc()).limit(50)).all()
                sql.append((time.perf_counter() - t0) * 1000)
            results["ledger SQL only (count + page ids) p50 / max"] = \
                f"{statistics.median(sql):.1f} / {max(sql):.1f} ms"
            # over every case: a title (trigram index on PostgreSQL), a case number, two characters (a scan)
            for label, needle in (("title", "纠纷12345"), ("case number", "QX-2025-03000"), ("2 characters", "12")):
                search = ledger.parse_filters(s, user, {"q": needle})
                timings = []
                for _round in range(3):
                    t0 = time.perf_counter()
                    ledger.page(s, user, search, 1, 50)
                    timings.append((time.perf_counter() - t0) * 1000)
                results[f"ledger text search, no period: {label} (median of 3)"] = \
                    f"{statistics.median(timings):.0f} ms"
            f = ledger.parse_filters(s, user, {"month": "2026-10"})
            names = ledger.Names(s)
            t0 = time.perf_counter()
            rows = sum(chunk.count(b"\n") for chunk in ledger.csv_chunks(s, user, f, names)) - 1
            dt = time.perf_counter() - t0
            results["CSV export, one month"] = f"{rows:,} rows, {rows / dt:,.0f} rows/s"
            t0 = time.perf_counter()
            size = sum(len(chunk) for chunk in ledger.xlsx_chunks(s, user, f, names))
            dt = time.perf_counter() - t0
            count = rows
            results["XLSX export, one month"] = f"{count:,} rows, {count / dt:,.0f} rows/s ({size / 1e6:.1f} MB)"
            f_all = ledger.parse_filters(s, user, {"from": "2000-01-01"})
            t0 = time.perf_counter()
            rows = -1  # the header
            chunks = ledger.csv_chunks(s, user, f_all, names)
            for chunk in chunks:  # a download given up after EXPORT_ALL_LIMIT rows
                rows += chunk.count(b"\n")
                if rows >= EXPORT_ALL_LIMIT:
                    chunks.close()
                    break
            dt = time.perf_counter() - t0
            results["CSV export, all cases (newest 100,000 or so)"] = f"{rows:,} rows, {rows / dt:,.0f} rows/s"
            search = ledger.parse_filters(s, user, {"q": "纠纷12345", "month": "2026-10"})
            t0 = time.perf_counter()
            ledger.page(s, user, search, 1, 50)
            results["ledger text search (q, one month)"] = f"{(time.perf_counter() - t0) * 1000:.0f} ms"
            weights = dict(metrics.DEFAULT_WEIGHTS)
            metrics.LIVE_MAX_AGE = None  # the default: slow numbers kept by their cost, refreshed behind
            for by in ("department", "township"):
                clock._offset = NOW - datetime.now(UTC)
                first_call = 0.0
                for label, month in (("October (over), first call", "2026-10"), ("October again (kept)", "2026-10"),
                                     ("March 2025 (over), first call", "2025-03"),
                                     ("this month, first call (October kept)", "2026-11"),
                                     ("this month again (kept 60 × its cost)", "2026-11"),
                                     ("this month once kept too long (served; computed again behind)", "2026-11")):
                    if label.startswith("this month once kept too long"):
                        # three times the keeping time later: still within ten times
                        clock._offset += timedelta(seconds=3 * metrics.KEEP_FACTOR * first_call)
                    t0 = time.perf_counter()
                    result = metrics.ranking(s, metrics.parse_month(month), by, weights)
                    dt = time.perf_counter() - t0
                    if label.startswith("this month, first call"):
                        first_call = dt
                    results[f"ranking by {by}: {label}"] = f"{dt * 1000:,.0f} ms, {len(result.rows)} rows"
                t0 = time.perf_counter()
                while metrics._REFRESHING and time.perf_counter() - t0 < 120:
                    time.sleep(0.05)
                results[f"ranking by {by}: the background computation took"] = \
                    f"{(time.perf_counter() - t0) * 1000:,.0f} ms (waited for)"
        # what a leader meets after `onestop serve` has started: the warm-up, then views of the year
        clock._offset = NOW - datetime.now(UTC)
        metrics._KEPT.clear()
        t0 = time.perf_counter()
        warm_up(db).join()
        results["start-up warm-up (12 months × 2 groupings, dashboard rates)"] = f"{time.perf_counter() - t0:.1f} s"
        views = []
        with db.unit_of_work(write=False) as s:
            month = metrics.parse_month(None)
            for _ in range(WARM_MONTHS):
                for by in metrics.BY:
                    t0 = time.perf_counter()
                    metrics.ranking(s, month, by, dict(metrics.DEFAULT_WEIGHTS))
                    views.append((time.perf_counter() - t0) * 1000)
                month = metrics.previous(month)
        results[f"ranking page views after it, p50 / p95 ({len(views)} views)"] = \
            f"{pct(views, 50):.1f} / {pct(views, 95):.1f} ms"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the seeded database and reuse it next time")
    args = parser.parse_args()
    quiet_logging()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if "postgresql" in kinds and not pg_available():
        print("PostgreSQL does not answer on 127.0.0.1:5432: skipped")
        kinds.remove("postgresql")
    table: dict[str, dict[str, str]] = {kind: measure(kind, args.cases, args.keep) for kind in kinds}
    keys = list(next(iter(table.values())).keys()) if table else []
    print(f"| what ({args.cases:,} cases) | " + " | ".join(kinds) + " |")
    print("| --- | " + " | ".join("---" for _ in kinds) + " |")
    for key in keys:
        print(f"| {key} | " + " | ".join(table[k][key] for k in kinds) + " |")


if __name__ == "__main__":
    main()
