"""Shared fixtures: a fresh database per test on SQLite and (where it answers) PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from app import clock
from app.db import Base, Database

PG_ADMIN_URL = os.environ.get("ONESTOP_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


PG_AVAILABLE = _pg_available()


@contextlib.contextmanager
def sql_sent(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements `engine` sends while the block runs, in order (whitespace folded to single
    spaces), as the block runs: what a test of how many statements a step costs reads."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        sent.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Real argon2, with the smallest cost, so the suite does not spend its time hashing."""
    from argon2 import PasswordHasher

    from app.org import service

    saved = service._hasher
    service._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    service._hasher = saved


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not PG_AVAILABLE:
        terminalreporter.write_line(
            "!!! PostgreSQL did not answer on 127.0.0.1:5432: every PostgreSQL test was SKIPPED !!!",
            red=True, bold=True)


def pytest_report_header(config: pytest.Config) -> str:
    if PG_AVAILABLE:
        return "PostgreSQL: available, the database tests run on SQLite and PostgreSQL"
    if os.environ.get("CI") == "true":
        return "PostgreSQL: NOT AVAILABLE under CI=true -- the PostgreSQL tests will FAIL"
    return "PostgreSQL: NOT AVAILABLE -- every PostgreSQL test is SKIPPED (start it on 127.0.0.1:5432)"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """A PostgreSQL database with every table, copied for each test (CREATE DATABASE … TEMPLATE)."""
    if not PG_AVAILABLE:
        yield None
        return
    import app.models  # noqa: F401

    name = f"onestop_tmpl_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    Base.metadata.create_all(engine)
    engine.dispose()
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a database with every table and no rows, once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        import app.models  # noqa: F401

        engine = create_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    if not PG_AVAILABLE:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is required under CI=true but does not answer on 127.0.0.1:5432")
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    template = request.getfixturevalue("pg_template")
    name = f"onestop_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A Database with every table created (no Flask app)."""
    import app.models  # noqa: F401  (registers every table)

    database = Database(db_url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture(autouse=True)
def _real_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


# --- the Flask app and API helpers -------------------------------------------------------------

from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402

from app.config import Config  # noqa: E402

TEST_PASSWORD = "test-password-1"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def config(db_url: str) -> Config:
    # report numbers computed on every view: a test reads them right after changing the cases (the
    # default keeps numbers that were slow to compute, which a loaded machine could make them)
    return Config(database_url=db_url, testing=True, secret_key="test-secret", auto_deploy=False,
                  scheduler_in_process=False, report_max_age=0.0)


@pytest.fixture
def app(config: Config) -> Iterator[Flask]:
    """The app on a fresh database with every table, no scheduler thread, nothing deployed."""
    import app.models  # noqa: F401
    from app import create_app
    from app.processes.service import SPEC_CACHE

    flask_app = create_app(config)
    db = flask_app.extensions["onestop.db"]
    SPEC_CACHE.clear()
    try:
        yield flask_app
    finally:
        db.dispose()


@pytest.fixture
def database(app: Flask) -> Database:
    return app.extensions["onestop.db"]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class Org:
    """The little world most tests need: one county, a township, a village, departments, users."""

    units: dict[str, Any] = field(default_factory=dict)
    departments: dict[str, Any] = field(default_factory=dict)
    users: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def org(database: Database) -> Org:
    from app.org.service import create_department, create_org_unit, create_user

    world = Org()
    with database.unit_of_work() as s:
        county = create_org_unit(s, code="county", name="青溪县", level="county")
        town = create_org_unit(s, code="town1", name="河口镇", level="township", parent=county)
        town2 = create_org_unit(s, code="town2", name="山前镇", level="township", parent=county)
        village = create_org_unit(s, code="village1", name="柳树村", level="village", parent=town)
        world.units = {"county": county, "town1": town, "town2": town2, "village1": village}
        for code, name in (("hrss", "人社局"), ("justice", "司法局"), ("housing", "住建局")):
            world.departments[code] = create_department(s, code=code, name=name, org_unit=county)
        specs = {
            "admin": (["admin"], county, None),
            "receiver": (["receiver"], village, None),
            "mediator": (["mediator"], county, None),
            "mediator_town": (["mediator"], town, None),
            "leader": (["leader"], county, None),
            "designer": (["designer"], county, None),
            "hrss": (["department"], county, world.departments["hrss"]),
            "justice": (["department"], county, world.departments["justice"]),
            "housing": (["department"], county, world.departments["housing"]),
        }
        for username, (roles, unit, dept) in specs.items():
            world.users[username] = create_user(s, username=username, password=TEST_PASSWORD, roles=roles,
                                                org_unit=unit, department=dept)
    return world


class Api:
    """A thin JSON client that logs in as named users."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self._tokens: dict[str, str] = {}

    def token(self, username: str) -> str:
        if username not in self._tokens:
            r = self.client.post("/api/v1/auth/login", json={"username": username, "password": TEST_PASSWORD})
            assert r.status_code == 200, r.get_json()
            self._tokens[username] = r.get_json()["token"]
        return self._tokens[username]

    def call(self, method: str, path: str, user: str | None = None, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if user:
            headers["Authorization"] = f"Bearer {self.token(user)}"
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    def get(self, path: str, user: str | None = None, **kw: Any) -> Any:
        return self.call("GET", path, user, **kw)

    def post(self, path: str, user: str | None = None, **kw: Any) -> Any:
        return self.call("POST", path, user, **kw)

    def deploy(self, files: dict[str, bytes | str], user: str = "designer") -> Any:
        import io

        data = {"files": [(io.BytesIO(c.encode() if isinstance(c, str) else c), n) for n, c in files.items()]}
        return self.post("/processes", user, data=data, content_type="multipart/form-data")

    def intake(self, user: str = "receiver", **overrides: Any) -> Any:
        body = {"title": "拖欠工资", "description": "工地拖欠三个月工资", "channel": "walk_in",
                "citizen": {"name": "张三", "phone": "13800001234"},
                "location": {"org_unit": "village1", "address": "柳树村3组"}}
        body.update(overrides)
        return self.post("/cases", user, json=body)


@pytest.fixture
def api(client: FlaskClient, org: Org) -> Api:
    return Api(client)
