"""What every benchmark needs: a fresh database, a small world of users, the bench bundle, statistics."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/run.py` puts bench/ first on the path, not the project
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text  # noqa: E402

from app import clock  # noqa: E402
from app.db import Base, Database  # noqa: E402

BUNDLE = Path(__file__).resolve().parent / "bundle"
PG_ADMIN_URL = os.environ.get("ONESTOP_BENCH_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PASSWORD = "bench-password-1"
#: what a person types into a task form in these benchmarks
FORM_DATA: dict[str, Any] = {"note": "已办理", "result": "ok"}


def quiet_logging() -> None:
    """Keep SpiffWorkflow and APScheduler from drowning the results."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("spiff", "SpiffWorkflow", "apscheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)


def cheap_password_hashing() -> None:
    """Real argon2 with the smallest cost, as the test suite does: users are set up, not measured."""
    from argon2 import PasswordHasher

    from app.org import service

    service._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


# --- databases --------------------------------------------------------------------------------------


def pg_available() -> bool:
    """True when PostgreSQL answers on the admin URL."""
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


@contextlib.contextmanager
def kept_database(kind: str, name: str) -> Iterator[Database]:
    """A database that outlives the run (to measure again without seeding again): the SQLite file
    `<tmp>/<name>.db`, or the PostgreSQL database `<name>`; created with every table when missing."""
    import app.models  # noqa: F401  (registers every table)

    if kind == "sqlite":
        url = f"sqlite:///{Path(tempfile.gettempdir()) / f'{name}.db'}"
    elif kind == "postgresql":
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}) is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    else:
        raise ValueError(f"unknown database kind {kind}")
    db = Database(url)
    try:
        Base.metadata.create_all(db.engine)
        yield db
    finally:
        db.dispose()


@contextlib.contextmanager
def fresh_database(kind: str) -> Iterator[Database]:
    """A new, empty database with every table: SQLite in a temp dir, or `onestop_bench_<random>`."""
    import app.models  # noqa: F401  (registers every table)

    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="onestop_bench_") as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            db = Database(url)
            Base.metadata.create_all(db.engine)
            try:
                yield db
            finally:
                db.dispose()
        return
    if kind != "postgresql":
        raise ValueError(f"unknown database kind {kind}")
    name = f"onestop_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        Base.metadata.create_all(db.engine)
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def database_bytes(db: Database) -> int:
    """Bytes the database's tables take, indexes and TOAST included."""
    with db.engine.connect() as conn:
        if db.is_sqlite:
            return int(conn.execute(text("SELECT sum(pgsize) FROM dbstat")).scalar() or 0)
        return int(conn.execute(text(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'"
        )).scalar() or 0)


def vacuum(db: Database, *, full: bool) -> None:
    """VACUUM the database (FULL on PostgreSQL when asked; SQLite's VACUUM always rebuilds)."""
    if db.is_sqlite:  # the engine always emits BEGIN; VACUUM needs the bare driver connection
        raw = db.engine.raw_connection()
        try:
            raw.driver_connection.execute("VACUUM")
        finally:
            raw.close()
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM FULL ANALYZE" if full else "VACUUM ANALYZE")


# --- the world the benchmarks run in ----------------------------------------------------------------


@dataclass
class World:
    """Org units, the users who work the tasks, and the deployed bench processes of one database."""

    kind: str
    db: Database
    place: str
    mediator_id: int
    department_id: int
    processes: dict[str, int] = field(default_factory=dict)


def make_world(kind: str, db: Database) -> World:
    """Create a county, township and village, a mediator and a department user, and deploy the bundle."""
    from app.org.service import create_department, create_org_unit, create_user
    from app.processes.service import SPEC_CACHE, deploy_bundle, read_bundle_dir

    clock.reset()
    SPEC_CACHE.clear()
    with db.unit_of_work() as s:
        county = create_org_unit(s, code="county", name="青溪县", level="county")
        town = create_org_unit(s, code="town1", name="河口镇", level="township", parent=county)
        create_org_unit(s, code="village1", name="柳树村", level="village", parent=town)
        justice = create_department(s, code="justice", name="司法局", org_unit=county)
        mediator = create_user(s, username="mediator", password=PASSWORD, roles=["mediator"], org_unit=county)
        dept = create_user(s, username="justice", password=PASSWORD, roles=["department"], org_unit=county,
                           department=justice)
        result = deploy_bundle(s, read_bundle_dir(BUNDLE), note="bench", source="bench")
        processes = {p.process_id: p.version for p in result.processes}
        ids = (mediator.id, dept.id)
    return World(kind=kind, db=db, place="village1", mediator_id=ids[0], department_id=ids[1],
                 processes=processes)


def intake(place: str, title: str = "拖欠工资") -> Any:
    """A realistic small intake."""
    from app.cases.service import Intake

    return Intake(title=title, description="工地拖欠三个月工资，多次讨要未果", channel="walk_in",
                  citizen_name="张三", citizen_phone="13800001234", org_unit=place, address="柳树村3组")


def open_task_id(db: Database, case_id: int) -> int:
    """The id of the case's one open human task."""
    from app.tasks.models import HumanTask, TaskStatus

    with db.unit_of_work(write=False) as s:
        found = list(s.scalars(select(HumanTask.id).where(HumanTask.case_id == case_id,
                                                          HumanTask.status == TaskStatus.open)))
    if len(found) != 1:
        raise RuntimeError(f"case {case_id} has {len(found)} open tasks, expected 1")
    return found[0]


def complete_in_own_unit(db: Database, user_id: int, task_id: int, data: dict[str, Any]) -> float:
    """Complete a task through the service layer in its own unit of work, as a request would (the task's
    case locked and its open tasks read with the user, `POST /tasks/{id}/complete`'s `read_ahead`);
    return ms."""
    from app.db import read_ahead
    from app.org.service import load_user
    from app.tasks.service import complete_task, task_locking_reads

    t0 = time.perf_counter()
    with db.unit_of_work() as s:
        read_ahead(s, *task_locking_reads(task_id))
        complete_task(s, load_user(s, user_id), task_id, data)
    return (time.perf_counter() - t0) * 1000


# --- statistics and results -------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(samples: Sequence[float]) -> dict[str, float]:
    """n, median, p95, p99 and max of samples."""
    return {"n": len(samples), "median": percentile(samples, 50), "p95": percentile(samples, 95),
            "p99": percentile(samples, 99), "max": max(samples) if samples else math.nan}


@dataclass
class Result:
    """One measured line of the results table, for one database (or for none: `db` = "memory")."""

    key: str
    what: str
    value: float
    unit: str
    target: str = ""
    #: True/False against the target, None for information only
    ok: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def shown(self) -> str:
        """The value as printed in the table."""
        if math.isnan(self.value):
            return "n/a"
        if self.detail.get("lower_bound"):
            return "≥ " + Result(self.key, self.what, self.value, self.unit).shown()
        if self.unit == "ms":
            return f"{self.value:.2f} ms"
        if self.unit == "x":
            return f"{self.value:.2f}×"
        if self.unit == "s":
            return f"{self.value:.3f} s"
        if self.unit == "B":
            return f"{self.value / 1024:.1f} KB" if self.value >= 1024 else f"{self.value:.0f} B"
        if self.unit == "/s":
            return f"{self.value:.0f}/s"
        return f"{self.value:g}{(' ' + self.unit) if self.unit else ''}"


def progress(message: str) -> None:
    """A progress line on stderr (the table goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
