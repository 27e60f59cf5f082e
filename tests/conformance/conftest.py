"""Fixtures of the conformance suite: the corpus, a frozen clock, and the drivers.

Every scenario runs once per driver and backend: `engine`, `persisted-sqlite` and
`persisted-postgresql`. The persisted driver uses the shared `org` fixture on the `database`
fixture, which this folder overrides to keep some 150 database scenarios fast: one `Database` per
backend for the whole session, emptied before each test. A new engine per test (the shared
fixture builds an app each time) starts with an empty compiled-statement cache, which costs the
service layer several times more than the scenario itself.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from app import clock
from app.db import Base, Database
from tests.conformance.drivers import BACKENDS, DRIVERS, Driver, engine_dir, make_driver
from tests.conftest import PG_ADMIN_URL, PG_AVAILABLE

DRIVER_PARAMS = [
    pytest.param((kind, backend), id=kind if backend is None else f"{kind}-{backend}")
    for kind in DRIVERS for backend in BACKENDS[kind]
]


@pytest.fixture(scope="session")
def corpus() -> str:
    """The corpus engine folder; the suite is skipped (failed under CI=true) when it is missing."""
    folder = engine_dir()
    if not folder.is_dir():
        message = f"conformance corpus not found at {folder} (set ONESTOP_CONFORMANCE_DIR)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return str(folder)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[datetime]:
    """Stop OneStop's clock so that only `clock.advance` moves it.

    The corpus timers are 2 ms to 1 s long. With the clock running on in real time a slow step
    could let a timer fire before the scenario moves time on purpose (boundary.bpmn must finish a
    path "within 30 ms"); frozen, every due time is exact and nothing depends on the machine's speed.
    """
    base = datetime.now(UTC)
    monkeypatch.setattr(clock, "now", lambda: base + clock.offset())
    yield base


@pytest.fixture(params=DRIVER_PARAMS)
def driver(request: pytest.FixtureRequest, corpus: str, monkeypatch: pytest.MonkeyPatch) -> Driver:
    """A fresh driver of each kind (and database); a test loads one scenario into it."""
    kind, backend = request.param
    if backend is None:
        return make_driver(kind)
    database = request.getfixturevalue("database")
    org = request.getfixturevalue("org")
    return make_driver(kind, database=database, admin=org.users["admin"], monkeypatch=monkeypatch)


def _backend(request: pytest.FixtureRequest) -> str:
    callspec = getattr(request.node, "callspec", None)
    params = callspec.params.get("driver") if callspec is not None else None
    if not params or params[1] is None:
        raise RuntimeError("in tests/conformance a database comes with a persisted `driver`")
    return str(params[1])


class _Databases:
    """One Database per backend, created on first use and dropped at the end of the session."""

    def __init__(self, tmp: pytest.TempPathFactory) -> None:
        self._tmp = tmp
        self._open: dict[str, Database] = {}
        self._pg_name: str | None = None

    def get(self, backend: str) -> Database:
        if backend not in self._open:
            import app.models  # noqa: F401  (registers every table)

            database = Database(self._create(backend))
            Base.metadata.create_all(database.engine)
            self._open[backend] = database
        return self._open[backend]

    def _create(self, backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{self._tmp.mktemp('conformance') / 'onestop.db'}"
        self._pg_name = f"onestop_conformance_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self._pg_name}"'))
        admin.dispose()
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{self._pg_name}"

    def close(self) -> None:
        for database in self._open.values():
            database.dispose()
        if self._pg_name is not None:
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture(scope="session")
def _databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Databases]:
    databases = _Databases(tmp_path_factory)
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture
def database(request: pytest.FixtureRequest) -> Database:
    """A Database with every table and no rows, on the backend of the test's persisted driver
    (overrides the shared fixture: same contract, but the engine is kept between tests)."""
    from app.processes.service import SPEC_CACHE

    backend = _backend(request)
    if backend == "postgresql" and not PG_AVAILABLE:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is required under CI=true but does not answer on 127.0.0.1:5432")
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    database = request.getfixturevalue("_databases").get(backend)
    with database.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    SPEC_CACHE.clear()  # runtime spec ids start again from 1 on SQLite
    return database
