"""The small SQL helpers of app.db that each database answers in its own words."""

from __future__ import annotations

from sqlalchemy import literal, literal_column, select

from app.db import JSONType, in_small_set, json_is_true
from app.org.models import OrgUnit
from tests.conftest import sql_sent


def test_json_is_true_means_the_json_value_true(db):
    """`true` only: not the string "true", not 1 (SQLite's json_extract makes true and 1 alike)."""
    docs = [{"solved": True}, {"solved": "true"}, {"solved": 1}, {"solved": False}, {}, [True], None]
    with db.unit_of_work(write=False) as session:
        found = [bool(session.scalar(select(json_is_true(literal(doc, JSONType), "solved")))) for doc in docs]
    assert found == [True, False, False, False, False, False, False]


def test_in_small_set_is_in(db):
    with db.unit_of_work() as session:
        session.add_all([OrgUnit(id=i, code=f"u{i}", name=f"u{i}", level=level, path=f"/{i}/")
                         for i, level in ((1, "county"), (2, "township"), (3, "village"), (4, "township"))])
    townships = select(OrgUnit.id).where(OrgUnit.level == "township")
    with db.unit_of_work(write=False) as session:
        kept = session.scalars(select(OrgUnit.id).where(in_small_set(OrgUnit.id, townships)).order_by(OrgUnit.id))
        left = session.scalars(select(OrgUnit.id).where(~in_small_set(OrgUnit.id, townships)).order_by(OrgUnit.id))
        assert (list(kept), list(left)) == ([2, 4], [1, 3])


def test_planner_settings_end_with_their_block(db):
    """PostgreSQL runs the block's statements with the settings, and the transaction goes on as it
    was after (an error in the block included); elsewhere the block runs as it is."""
    import pytest

    from app.db import planner_settings

    with db.unit_of_work(write=False) as session:
        postgres = session.get_bind().dialect.name == "postgresql"

        def nestloop() -> str | None:
            return session.scalar(select(literal_column("current_setting('enable_nestloop')"))) if postgres else None

        with sql_sent(db.engine) as sent, planner_settings(session, enable_nestloop="off", jit="off"):
            inside = nestloop()
            assert session.scalar(select(literal(1))) == 1
        assert (inside, nestloop()) == (("off", "on") if postgres else (None, None))
        # no savepoint rolled back: psycopg would forget the connection's prepared statements
        assert not [sql for sql in sent if sql.upper().startswith(("SAVEPOINT", "ROLLBACK"))]
        with pytest.raises(ZeroDivisionError), planner_settings(session, enable_nestloop="off"):
            1 / 0  # noqa: B018
        assert nestloop() == ("on" if postgres else None)
        assert session.scalar(select(literal(2))) == 2
        with pytest.raises(ValueError, match="not a plain setting"), planner_settings(session, jit="off; DROP"):
            pass


def test_readers_plan_each_statement_for_its_parameters_and_writers_keep_plans(db):
    """On PostgreSQL a plan kept for one search must not serve the next (a 2-character search took
    1 s on a plan made for a longer one), while a writer's lookups by key keep their plans."""
    import pytest
    from sqlalchemy import text

    if db.is_sqlite:
        pytest.skip("SQLite keeps no plans between statements")
    with db.unit_of_work(write=False) as session:
        assert session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
    with db.unit_of_work() as session:
        assert session.scalar(text("SHOW plan_cache_mode")) == "auto"
    with db.unit_of_work(write=False) as session:  # the setting ended with its transaction
        assert session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
        session.commit()
        assert session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"


def test_appended_rows_go_in_together_when_the_session_flushes(db):
    """`append_row`: the rows of a table wait for the flush and go in with one statement, in the order
    given; a query of the same transaction sees them, and a commit writes them even when nothing else
    changed."""
    from sqlalchemy import func

    from app.db import append_row
    from tests.conftest import sql_sent

    table = OrgUnit.__table__
    with sql_sent(db.engine) as statements:
        with db.unit_of_work() as session:
            for i in range(1, 4):
                append_row(session, table, {"id": i, "code": f"u{i}", "name": f"u{i}", "level": "village",
                                            "path": f"/{i}/"})
            assert [s for s in statements if s.startswith("INSERT")] == []  # nothing written yet
            assert session.scalar(select(func.count()).select_from(OrgUnit)) == 3  # the query's autoflush
            append_row(session, table, {"id": 4, "code": "u4", "name": "u4", "level": "village", "path": "/4/"})
        # the last row: written by the commit of a session with no changed object
        assert len([s for s in statements if s.startswith("INSERT")]) == 2
    with db.unit_of_work(write=False) as session:
        assert list(session.scalars(select(OrgUnit.code).order_by(OrgUnit.id))) == ["u1", "u2", "u3", "u4"]


def test_appended_rows_roll_back_with_their_transaction_or_savepoint(db):
    import pytest

    from app.db import append_row

    def row(i: int) -> dict[str, object]:
        return {"id": i, "code": f"u{i}", "name": f"u{i}", "level": "village", "path": f"/{i}/"}

    table = OrgUnit.__table__
    with pytest.raises(RuntimeError), db.unit_of_work() as session:
        append_row(session, table, row(1))
        raise RuntimeError("the request failed")
    with db.unit_of_work() as session:
        append_row(session, table, row(2))
        savepoint = session.begin_nested()  # writes row 2 first
        append_row(session, table, row(3))
        savepoint.rollback()
        append_row(session, table, row(4))
    with db.unit_of_work(write=False) as session:
        assert list(session.scalars(select(OrgUnit.code).order_by(OrgUnit.id))) == ["u2", "u4"]


def test_a_pooled_connection_is_asked_only_after_being_idle(db, monkeypatch):
    """PostgreSQL: a connection used moments ago goes back to work without a ping (a round trip per
    request); one idle longer than PING_AFTER_IDLE is asked first, and replaced when its server
    process is gone."""
    import pytest
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    import app.db

    if db.is_sqlite:
        pytest.skip("SQLite has no server to lose")
    pings: list[object] = []
    real_ping = db.engine.dialect.do_ping
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda conn: pings.append(conn) or real_ping(conn))
    with db.engine.connect() as conn:
        pid = conn.scalar(text("SELECT pg_backend_pid()"))
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT pg_backend_pid()")) == pid
    assert pings == []
    other = create_engine(db.url, poolclass=NullPool)
    with other.connect() as conn:  # the pooled connection's server process goes away
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()
    monkeypatch.setattr(app.db, "PING_AFTER_IDLE", 0.0)
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT 1")) == 1
        assert conn.scalar(text("SELECT pg_backend_pid()")) != pid
    assert pings


def test_a_reader_keeps_the_connections_prepared_statements_and_writes_nothing(db):
    """On PostgreSQL a reader ends with COMMIT, not ROLLBACK, which makes psycopg forget (and deallocate)
    every statement it prepared on the connection: a page view between two task completions made the
    second parse and plan its statements again. Its transaction is READ ONLY: what it changes by
    mistake is refused, and nothing of it is written. On SQLite a reader rolls back, as before."""
    import pytest
    from sqlalchemy import func, text
    from sqlalchemy.exc import DBAPIError

    from app.org.models import OrgUnit

    def count_units() -> int:
        with db.unit_of_work(write=False) as session:
            return session.scalar(select(func.count(OrgUnit.id)))

    with db.unit_of_work() as session:
        session.add(OrgUnit(id=1, code="u1", name="u1", level="county", path="/1/"))
    # a statement run often enough is prepared (psycopg prepares at the fifth run on a connection)
    for _ in range(6):
        with db.unit_of_work() as session:
            session.scalar(select(OrgUnit.name).where(OrgUnit.id == 1))
        assert count_units() == 1  # a reader between the writers
    if not db.is_sqlite:
        with db.unit_of_work() as session:
            prepared = session.scalars(text("SELECT statement FROM pg_prepared_statements")).all()
            assert any("FROM org_unit" in sql and "org_unit.name" in sql for sql in prepared), prepared
        with pytest.raises(DBAPIError, match="read-only transaction"), db.unit_of_work(write=False) as session:
            session.get(OrgUnit, 1).name = "changed by a reader"
    else:
        with db.unit_of_work(write=False) as session:
            session.get(OrgUnit, 1).name = "changed by a reader"
    with db.unit_of_work(write=False) as session:
        assert session.get(OrgUnit, 1).name == "u1"
