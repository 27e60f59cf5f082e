"""Page benchmark: every page of the workspace answers in under 100 ms server time with 10,000 cases.

    .venv/bin/python bench/pages.py [--db sqlite|postgresql|both] [--cases 10000] [--engine-cases 136]
                                    [--samples 12] [--check]

For each database kind, on a fresh database (SQLite in a temporary directory; on PostgreSQL a database
`onestop_bench_pages_<random>`, dropped afterwards):

1. `seed_demo` builds the demo county (townships, villages, departments, the demo users) and creates
   `--engine-cases` cases through the service layer, each walked by `app.walker` to a different stage
   (the demo's scenarios, in turn): real engine state, open tasks in every inbox, timers, events,
   notifications, supervision of the overdue ones.
2. Those cases are cloned in bulk with new numbers (rows of the case, its state blob, tasks, events,
   timers and notifications) up to `--cases`: most clones are of closed cases moved back over the
   past year; the open ones stay recent, so the inboxes hold a few thousand open tasks.
3. The Flask app is driven through its test client as the people who use it (a village receiver, the
   county mediator, a department liaison, the leader, the admin, a citizen without login); each page
   is requested once to warm up, then `--samples` times. The time is the server's: from the request
   entering the WSGI app to the response body being complete (no network). The SQL statements of
   the last sample are counted too.

The table goes to stdout (p50/p95/max per page, PASS/FAIL against 100 ms at p95), progress to stderr,
and everything to `bench/out/pages-<UTC time>.json` and `bench/out/pages-latest.json`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import random
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PG_ADMIN_URL, percentile, pg_available, quiet_logging  # noqa: E402
from sqlalchemy import create_engine, event, func, select, text  # noqa: E402

from app import clock  # noqa: E402
from app.config import Config  # noqa: E402
from app.db import Base, Database  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
TARGET_MS = 100.0
log = logging.getLogger("bench.pages")


def progress(message: str) -> None:
    print(f"[pages] {message}", file=sys.stderr, flush=True)


# --- a fresh database --------------------------------------------------------------------------------

@contextlib.contextmanager
def fresh_database(kind: str, keep: Path | None = None) -> Iterator[str]:
    """The URL of a new database with every table; dropped (or deleted) afterwards, unless a SQLite
    file to `keep` is named (to measure it again with `--reuse`)."""
    import app.models  # noqa: F401  (registers every table)

    if kind == "sqlite" and keep is not None:
        keep.unlink(missing_ok=True)
        url = f"sqlite:///{keep.resolve()}"
        engine = create_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="onestop_bench_pages_") as tmp:
            url = f"sqlite:///{Path(tmp) / 'pages.db'}"
            engine = create_engine(url)
            Base.metadata.create_all(engine)
            engine.dispose()
            yield url
        return
    name = f"onestop_bench_pages_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        engine = create_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- 10,000 cases ------------------------------------------------------------------------------------

#: the tables that hang off a case and are cloned with it, in insert order
CASE_TABLES = ("case_state", "human_task", "case_event", "pending_timer", "notification")


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def clone_cases(db: Database, total: int, *, seed: int = 7, prefix: str = "QX") -> dict[str, int]:
    """Copy the engine-made cases (with their state, tasks, events, timers, notifications) until the
    database holds `total` cases; return the row counts written per table.

    Clones of closed cases are moved back in time by up to a year (every time of the case, its
    tasks, events and notifications shifted together); clones of open cases by up to two days, so
    the inboxes fill with a realistic mix of tasks due soon and overdue ones. One clone in five is
    of an open case.
    """
    tables = Base.metadata.tables
    cases_t = tables["mediation_case"]
    rng = random.Random(seed)
    written = {name: 0 for name in ("mediation_case", *CASE_TABLES)}
    with db.engine.begin() as conn:
        sources = [dict(r._mapping) for r in conn.execute(select(cases_t).order_by(cases_t.c.id))]
        if not sources or len(sources) >= total:
            return written
        src_ids = [c["id"] for c in sources]
        children: dict[str, dict[int, list[dict[str, Any]]]] = {}
        for name in CASE_TABLES:
            table = tables[name]
            rows: dict[int, list[dict[str, Any]]] = {}
            for r in conn.execute(select(table).where(table.c.case_id.in_(src_ids))):
                rows.setdefault(r.case_id, []).append(dict(r._mapping))
            children[name] = rows
        next_id = {name: (conn.scalar(select(func.max(tables[name].c.id))) or 0) + 1
                   for name in ("mediation_case", "human_task", "case_event", "pending_timer", "notification")}
        year = clock.now().astimezone().year
        counter = tables["case_counter"]
        seq = conn.scalar(select(counter.c.last_seq).where(counter.c.year == year)) or len(sources)
        open_sources = [c for c in sources if c["status"] == "open"]
        closed_sources = [c for c in sources if c["status"] != "open"] or open_sources
        pending: dict[str, list[dict[str, Any]]] = {name: [] for name in ("mediation_case", *CASE_TABLES)}

        def flush(force: bool = False) -> None:
            if not force and len(pending["case_event"]) < 5000:
                return
            for name in ("mediation_case", *CASE_TABLES):
                if pending[name]:
                    conn.execute(tables[name].insert(), pending[name])
                    written[name] += len(pending[name])
                    pending[name] = []

        for k in range(total - len(sources)):
            src = rng.choice(open_sources) if k % 5 == 0 else rng.choice(closed_sources)
            is_open = src["status"] == "open"
            shift = timedelta(minutes=rng.randint(0, 2 * 24 * 60) if is_open else rng.randint(0, 365 * 24 * 60))

            def moved(value: Any, shift: timedelta = shift) -> Any:
                return _aware(value) - shift if isinstance(value, datetime) else value

            seq += 1
            case_id = next_id["mediation_case"]
            next_id["mediation_case"] += 1
            case = {key: moved(value) for key, value in src.items()}
            case.update(id=case_id, case_no=f"{prefix}-{year}-{seq:06d}",
                        citizen_phone=f"139{rng.randrange(10**8):08d}")
            pending["mediation_case"].append(case)
            task_ids: dict[int, int] = {}
            for name in CASE_TABLES:
                for row in children[name].get(src["id"], ()):
                    copy_row = {key: moved(value) for key, value in row.items()}
                    copy_row["case_id"] = case_id
                    if name != "case_state":
                        copy_row["id"] = next_id[name]
                        next_id[name] += 1
                    if name == "human_task":
                        task_ids[row["id"]] = copy_row["id"]
                    if name == "notification":
                        copy_row["task_id"] = task_ids.get(row["task_id"]) if row["task_id"] else None
                        if not is_open:
                            copy_row["read_at"] = copy_row["read_at"] or copy_row["created_at"]
                    pending[name].append(copy_row)
            flush()
        flush(force=True)
        conn.execute(counter.update().where(counter.c.year == year).values(last_seq=seq))
        if conn.dialect.name == "postgresql":
            for name in next_id:
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                  f"(SELECT max(id) FROM {name}))"))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    return written


# --- measuring ---------------------------------------------------------------------------------------

@dataclass
class Result:
    """One page's samples (milliseconds) and the SQL statements its last request ran."""

    page: str
    user: str
    path: str
    samples: list[float] = field(default_factory=list)
    status: int = 0
    queries: int = 0

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p95(self) -> float:
        return percentile(self.samples, 95)

    @property
    def max(self) -> float:
        return max(self.samples) if self.samples else float("nan")

    @property
    def passed(self) -> bool:
        return self.p95 < TARGET_MS and self.status < 400


class QueryCounter:
    """Counts the SQL statements an engine runs (to find N+1 queries behind a slow page)."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if not match:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1)


class Session_:
    """A logged-in (or anonymous) browser: the Flask test client with its cookies."""

    def __init__(self, flask_app: Any, username: str | None, password: str) -> None:
        self.client = flask_app.test_client()
        self.username = username or "citizen"
        if username:
            page = self.client.get("/login").get_data(as_text=True)
            r = self.client.post("/login", data={"username": username, "password": password,
                                                 "csrf_token": csrf(page)})
            if r.status_code != 302:
                raise RuntimeError(f"login of {username} failed: {r.status_code}")

    def token(self, path: str) -> str:
        return csrf(self.client.get(path).get_data(as_text=True))


def measure(who: Session_, counter: QueryCounter, page: str, path: str, *, samples: int,
            method: str = "GET", data: Callable[[], dict[str, Any]] | None = None,
            expect: tuple[int, ...] = (200,)) -> Result:
    """Request a page once to warm up, then `samples` times; time each on the server side."""
    result = Result(page=page, user=who.username, path=path)
    for i in range(samples + 1):
        body = data() if data else None
        counter.count = 0
        t0 = time.perf_counter()
        response = who.client.open(path, method=method, data=body)
        response.get_data()  # the whole body rendered
        elapsed = (time.perf_counter() - t0) * 1000
        response.close()
        if response.status_code not in expect:
            raise RuntimeError(f"{page} as {who.username}: {method} {path} answered {response.status_code}")
        if i:
            result.samples.append(elapsed)
        result.status, result.queries = response.status_code, counter.count
    return result


def _pick(db: Database) -> dict[str, Any]:
    """Numbers and ids the pages are measured on: a task of each kind, cases of each stage, a search word."""
    from app.cases.models import MediationCase
    from app.tasks.models import HumanTask, TaskStatus

    picks: dict[str, Any] = {}
    with db.unit_of_work(write=False) as s:
        for name in ("intake", "local_mediation", "triage", "department_opinion", "redispatch", "meeting",
                     "draft_reply", "approve_reply", "approve_extension", "callback", "supervise", "service_task"):
            task = s.scalars(select(HumanTask).where(HumanTask.name == name, HumanTask.status == TaskStatus.open)
                             .order_by(HumanTask.id.desc()).limit(1)).first()
            if task is not None:
                picks[f"task:{name}"] = (task.id, task.case.case_no)
        hrss = s.scalars(select(HumanTask).join(HumanTask.department).where(
            HumanTask.name == "department_opinion", HumanTask.status == TaskStatus.open,
            text("department.code = 'hrss'")).order_by(HumanTask.id.desc()).limit(1)).first()
        if hrss is not None:
            picks["task:hrss"] = (hrss.id, hrss.case.case_no)
        closed = s.scalars(select(MediationCase).where(MediationCase.status == "closed")
                           .order_by(MediationCase.id.desc()).limit(1)).first()
        busy = s.scalars(select(MediationCase).where(MediationCase.stage == "callback")
                         .order_by(MediationCase.id.desc()).limit(1)).first()
        village = s.scalars(select(MediationCase).join(MediationCase.org_unit).where(
            MediationCase.status == "open", text("org_unit.code = 'liushu'")).order_by(MediationCase.id.desc())
            .limit(1)).first()
        picks["village_case"] = village.case_no if village else None
        picks["closed_case"] = (closed.case_no, closed.citizen_phone[-4:]) if closed else None
        picks["callback_case"] = (busy.case_no, busy.citizen_phone[-4:]) if busy else None
    return picks


def run_pages(url: str, *, samples: int) -> list[Result]:
    """Measure every page of the workspace as the people who use it."""
    from app import create_app
    from app.seed import DEMO_PASSWORD

    config = Config(database_url=url, secret_key="bench-pages", auto_deploy=False, scheduler_in_process=False)
    flask_app = create_app(config)
    db: Database = flask_app.extensions["onestop.db"]
    counter = QueryCounter(db.engine)
    picks = _pick(db)
    results: list[Result] = []

    def add(who: Session_, page: str, path: str, **kw: Any) -> None:
        result = measure(who, counter, page, path, samples=samples, **kw)
        results.append(result)
        progress(f"{page:<34} {who.username:<14} p95 {result.p95:7.1f} ms  {result.queries:3d} queries")

    citizen = Session_(flask_app, None, DEMO_PASSWORD)
    add(citizen, "login page", "/login")
    add(citizen, "tracking page", "/track")
    for key in ("callback_case", "closed_case"):
        if picks.get(key):
            case_no, digits = picks[key]
            token = citizen.token("/track")
            add(citizen, f"tracking lookup ({key.split('_')[0]})", "/track", method="POST",
                data=lambda case_no=case_no, digits=digits, token=token: {
                    "case_no": case_no, "digits": digits, "csrf_token": token})

    people = {name: Session_(flask_app, name, DEMO_PASSWORD)
              for name in ("receiver", "mediator", "dept_hrss", "leader", "admin")}
    receiver, mediator, dept, leader, admin = (people[n] for n in ("receiver", "mediator", "dept_hrss", "leader",
                                                                    "admin"))
    for who in people.values():
        add(who, "inbox", "/inbox")
        add(who, "bell badge", "/notifications/badge")
        add(who, "notifications", "/notifications")
        add(who, "case list", "/cases")
    for tab in ("mine", "group"):
        add(mediator, f"inbox tab {tab}", f"/inbox?tab={tab}")
    add(leader, "inbox tab all", "/inbox?tab=all")
    add(admin, "inbox tab all", "/inbox?tab=all")
    add(mediator, "inbox filter stage+overdue", "/inbox?tab=group&stage=convene&overdue=1")
    add(mediator, "inbox filter category+place", "/inbox?tab=group&category=labour&place=hekou")
    add(mediator, "inbox search title", "/inbox?tab=group&q=" + "拖欠")
    add(mediator, "inbox search citizen", "/inbox?tab=group&q=" + "张")
    if picks.get("task:triage"):
        add(mediator, "inbox search case no", f"/inbox?tab=group&q={picks['task:triage'][1]}")
    add(receiver, "inbox tab group", "/inbox?tab=group")
    add(dept, "inbox tab group", "/inbox?tab=group")

    task_users = {"intake": admin, "local_mediation": admin, "triage": mediator, "department_opinion": admin,
                  "redispatch": mediator, "meeting": mediator, "draft_reply": mediator, "approve_reply": leader,
                  "approve_extension": leader, "callback": mediator, "supervise": leader, "service_task": admin,
                  "hrss": dept}
    for name, who in task_users.items():
        if picks.get(f"task:{name}"):
            task_id, _case_no = picks[f"task:{name}"]
            add(who, f"task page ({name})", f"/tasks/{task_id}")

    add(receiver, "intake page", "/intake")
    add(mediator, "intake page", "/intake")
    add(receiver, "duplicates check", "/intake/duplicates?org_unit=liushu&category=labour&citizen_phone=13800001234")
    add(mediator, "duplicates check", "/intake/duplicates?org_unit=hekou&category=land&citizen_phone=")
    numbers = iter(range(10**6))

    def intake_body(who: Session_, token: str) -> dict[str, Any]:
        n = next(numbers)
        return {"title": f"性能测试：邻里纠纷{n}", "description": "楼上漏水，渗到楼下，协商未果。",
                "category": "neighbour", "urgency": "normal", "channel": "grid", "citizen_name": "赵大有",
                "citizen_phone": f"137{n:08d}", "org_unit": "liushu", "address": "柳树村5组",
                "confirm": "1", "csrf_token": token}

    token = receiver.token("/intake")
    add(receiver, "intake POST (new case)", "/intake", method="POST",
        data=lambda: intake_body(receiver, token), expect=(302,))

    for who in (mediator, admin):
        add(who, "case list page 50", "/cases?page=50")
    add(mediator, "case list filters", "/cases?status=open&stage=convene&org_unit=hekou")
    add(mediator, "case list overdue", "/cases?overdue=1")
    add(mediator, "case list search", "/cases?q=" + "拖欠")
    add(leader, "case list overdue", "/cases?overdue=1")
    add(dept, "case list page 2", "/cases?page=2")
    for key, who in (("task:callback", mediator), ("task:department_opinion", admin), ("task:hrss", dept)):
        if picks.get(key):
            case_no = picks[key][1]
            add(who, f"case page ({key.split(':')[1]})", f"/cases/{case_no}")
            add(who, "case diagram state", f"/cases/{case_no}/diagram-state.json")
    if picks.get("village_case"):
        add(receiver, "case page (village)", f"/cases/{picks['village_case']}")
    if picks.get("closed_case"):
        add(admin, "case page (closed)", f"/cases/{picks['closed_case'][0]}")
    flask_app.extensions["onestop.db"].dispose()
    return results


# --- one database ------------------------------------------------------------------------------------

def bench_one(kind: str, *, cases: int, engine_cases: int, samples: int, keep: Path | None = None,
              reuse: Path | None = None) -> dict[str, Any]:
    """Seed, clone and measure on a fresh database of `kind` (or measure a kept SQLite file again)."""
    from app.processes.service import SPEC_CACHE
    from app.seed import seed_demo

    clock.reset()
    SPEC_CACHE.clear()
    if reuse is not None:
        results = run_pages(f"sqlite:///{reuse.resolve()}", samples=samples)
        return {"kind": kind, "reused": str(reuse), "pages": [
            {**asdict(r), "p50": round(r.p50, 2), "p95": round(r.p95, 2), "max": round(r.max, 2),
             "passed": r.passed} for r in results]}
    with fresh_database(kind, keep) as url:
        config = Config(database_url=url, auto_deploy=False, scheduler_in_process=False)
        progress(f"{kind}: seeding {engine_cases} cases through the engine")
        t0 = time.perf_counter()
        seed_demo(config, cases=engine_cases)
        seeded = time.perf_counter() - t0
        progress(f"{kind}: {seeded:.1f} s; cloning to {cases}")
        db = Database(url)
        try:
            t0 = time.perf_counter()
            written = clone_cases(db, cases, prefix=config.case_prefix)
            cloned = time.perf_counter() - t0
            with db.unit_of_work(write=False) as s:
                counts = {name: s.scalar(select(func.count()).select_from(Base.metadata.tables[name]))
                          for name in ("mediation_case", "human_task", "case_event", "notification")}
                counts["open_tasks"] = s.scalar(text("SELECT count(*) FROM human_task WHERE status = 'open'"))
                counts["open_cases"] = s.scalar(text("SELECT count(*) FROM mediation_case WHERE status = 'open'"))
        finally:
            db.dispose()
        progress(f"{kind}: cloned in {cloned:.1f} s: {counts}")
        results = run_pages(url, samples=samples)
        SPEC_CACHE.clear()
    return {"kind": kind, "seed_seconds": round(seeded, 1), "clone_seconds": round(cloned, 1),
            "rows_written": written, "rows": counts,
            "pages": [{**asdict(r), "p50": round(r.p50, 2), "p95": round(r.p95, 2), "max": round(r.max, 2),
                       "passed": r.passed} for r in results]}


def table(runs: list[dict[str, Any]]) -> str:
    """The results side by side: one row per page and user, p50/p95/max and queries per database."""
    kinds = [run["kind"] for run in runs]
    keyed: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for run in runs:
        for page in run["pages"]:
            keyed.setdefault((page["page"], page["user"]), {})[run["kind"]] = page
    head = f"{'page':<34} {'user':<10}" + "".join(f" | {k[:10]:>10} p50   p95   max  sql     " for k in kinds)
    lines = [head, "-" * len(head)]
    for (page, user), per_kind in keyed.items():
        line = f"{page:<34} {user:<10}"
        for kind in kinds:
            r = per_kind.get(kind)
            if r is None:
                line += " | " + " " * 43
                continue
            verdict = "PASS" if r["passed"] else "FAIL"
            line += f" | {r['p50']:6.1f} {r['p95']:6.1f} {r['max']:6.1f} {r['queries']:4d} {verdict}"
        lines.append(line)
    failed = sum(not p["passed"] for run in runs for p in run["pages"])
    total = sum(len(run["pages"]) for run in runs)
    lines.append(f"{total - failed}/{total} pages under {TARGET_MS:.0f} ms at p95 (ms; sql = statements per request)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--cases", type=int, default=10_000, help="cases in the database (default 10000)")
    parser.add_argument("--engine-cases", type=int, default=136,
                        help="of those, cases created and walked through the engine (default 136)")
    parser.add_argument("--samples", type=int, default=12, help="timed requests per page (default 12)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a page misses the target")
    parser.add_argument("--keep", type=Path, help="SQLite only: build the database in this file and keep it")
    parser.add_argument("--reuse", type=Path, help="SQLite only: measure a database kept with --keep again")
    args = parser.parse_args(argv)
    quiet_logging()
    logging.getLogger("app").setLevel(logging.WARNING)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if "postgresql" in kinds and not pg_available():
        if args.db == "postgresql":
            print("PostgreSQL does not answer at " + PG_ADMIN_URL, file=sys.stderr)
            return 2
        progress("PostgreSQL does not answer: SQLite only")
        kinds = ["sqlite"]
    load_before = os.getloadavg()
    if (args.keep or args.reuse) and kinds != ["sqlite"]:
        parser.error("--keep and --reuse need --db sqlite")
    runs = [bench_one(kind, cases=args.cases, engine_cases=args.engine_cases, samples=args.samples, keep=args.keep,
                      reuse=args.reuse) for kind in kinds]
    load_after = os.getloadavg()
    print(f"pages with {args.cases} cases ({args.engine_cases} through the engine), {args.samples} samples each; "
          f"load {load_before[0]:.2f} -> {load_after[0]:.2f}")
    print(table(runs))
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    document = {"at": stamp, "args": vars(args), "target_ms": TARGET_MS, "machine": platform.platform(),
                "cpus": os.cpu_count(), "load_before": load_before, "load_after": load_after, "runs": runs}
    for name in (f"pages-{stamp}.json", "pages-latest.json"):
        (OUT / name).write_text(json.dumps(document, ensure_ascii=False, indent=1, default=str))
    failed = any(not p["passed"] for run in runs for p in run["pages"])
    return 1 if failed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
