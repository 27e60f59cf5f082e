"""Database wiring: the declarative Base, the engine, sessions and the one-commit unit of work.

Services never commit; the boundary (a request, a CLI command, a scheduler job) opens one
`unit_of_work()`, which commits once, rolls back on any error, then runs after-commit hooks.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    DateTime,
    Integer,
    MetaData,
    Table,
    any_,
    create_engine,
    event,
    insert,
    inspect,
    literal,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import (
    MANYTOONE,
    DeclarativeBase,
    InstanceState,
    Session,
    sessionmaker,
)
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.base import instance_state
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Select
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Boolean, TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC on every database (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is UTC:  # PostgreSQL (sessions run in UTC, see make_engine)
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSON everywhere, JSONB on PostgreSQL
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSONType, list[Any]: JSONType}


#: seconds a pooled PostgreSQL connection may have been idle and still be used without asking first
PING_AFTER_IDLE = 2.0


def make_engine(url: str) -> Engine:
    """Create the SQLAlchemy engine; SQLite gets WAL, a busy timeout and explicit BEGINs."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)  # instance/ on a fresh checkout
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if url in {"sqlite://", "sqlite:///:memory:"}:
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            # take transaction control away from pysqlite so BEGIN IMMEDIATE is ours to emit
            dbapi_connection.isolation_level = None
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            # on the driver itself: through SQLAlchemy's execution it cost as much as a step's SELECT
            try:
                conn.connection.driver_connection.execute(f"BEGIN {mode}").close()
            except conn.dialect.loaded_dbapi.Error as exc:
                raise DBAPIError.instance(f"BEGIN {mode}", (), exc, conn.dialect.loaded_dbapi.Error) from exc

        return engine
    # Sessions in UTC: times come back as UTC already (no conversion per value, whatever the server's
    # zone).
    engine = create_engine(url, pool_size=10, max_overflow=20, connect_args={"options": "-c timezone=UTC"})

    @event.listens_for(engine, "checkin")
    def _idle_since(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_after_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # SQLAlchemy's pool_pre_ping asks before every use: a round trip per request (~0.4 ms of a
        # 10 ms task completion). A connection back in the pool moments ago was alive then; one idle
        # longer (a server restarted overnight, a firewall that drops quiet connections) is asked,
        # and replaced when it does not answer. A restart in the moment between is noticed by the
        # statement that fails, which discards every connection made before it.
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("the pooled connection did not answer") from exc  # the pool retries

    @event.listens_for(engine, "begin")
    def _custom_plans(conn: Any) -> None:
        # psycopg prepares a statement run five times, and PostgreSQL may then keep one generic plan
        # for every parameter: a search for "纠纷12345" (the trigram index) and one for "12" (a scan)
        # share a statement, and the generic plan made the second 1 s instead of 0.2 s. Readers (pages,
        # searches, reports) plan each statement for its parameters; writers look rows up by key,
        # where a kept plan is right and saves planning (a task completion: 2.9 -> 1.9 ms of server CPU)
        if conn.get_execution_options().get("custom_plans"):
            conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")

    return engine


AfterCommit = Callable[[], None]
_Row = TypeVar("_Row")


class OneStopSession(Session):
    """A session that writes some rows itself, through the driver, at the next flush (an autoflush,
    an explicit flush or the commit), after the ORM's own work:

    - new objects given to `add_row`: an INSERT each, returning the key, the object persistent after
      as if the ORM had inserted it (the ORM's insert of a step's new task was a round trip of its own);
    - rows of append-only tables (the case event log) given to `append_row`: one INSERT per table,
      not one ORM insert per row each returning an id nobody reads;
    - column changes given to `set_columns`: an UPDATE by primary key per row, not the ORM's unit of
      work, which took ~1 ms to build the three UPDATEs (case, state, task) of a task completion;
    - statements given to `send_at_flush` (the notifications of a step: INSERT ... SELECT), last.

    On PostgreSQL they all go in one pipeline: one round trip for the step's writes, where each
    statement was one; when the flush comes from a read (`select_rows`, `select_values`), the read goes
    in the same pipeline after them (a completion's writes and its answer's timeline). Statements are
    announced to `before_cursor_execute` listeners as any other.
    """

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        super().flush(objects)  # first: the rows written here may refer to rows it inserts
        writes = self._own_writes()
        if writes is not None:
            writes.done(self, _send(self.connection(), writes.statements))

    def _own_writes(self) -> _OwnWrites | None:
        """The statements of the rows given since the last flush (taken: sent by the caller), in the
        order they are sent: inserts, updates, appended rows, then statements given to `send_at_flush`."""
        added: list[_RowInsert] = self.info.pop("added", [])
        updated: dict[Any, _RowUpdate] = self.info.pop("updated", {})
        appended: dict[Table, list[dict[str, Any]]] = self.info.pop("appended", {})
        sent: list[tuple[Prepared, dict[str, Any]]] = self.info.pop("sent", [])
        if not added and not updated and not appended and not sent:
            return None
        forget_reads_ahead(self)
        dialect = self.get_bind().dialect
        statements = [row.statement(dialect) for row in added]
        statements.extend(update.statement(dialect) for update in updated.values())
        for table, rows in appended.items():
            statements.extend(_insert_statements(table, rows, dialect))
        statements.extend(statement._statement(dialect, params) for statement, params in sent)
        return _OwnWrites(statements, added, list(updated.values()))


@dataclass
class _OwnWrites:
    """A flush's own statements, and what to do once they are sent."""

    statements: list[_Statement]
    added: list[_RowInsert]
    updated: list[_RowUpdate]

    def done(self, session: Session, results: list[Any]) -> None:
        """The rows are written: the added objects get their keys, the updated their versions."""
        for row, key in zip(self.added, results, strict=False):  # the added rows' statements come first
            row.written(session, key)
        for update in self.updated:
            update.written()


@event.listens_for(OneStopSession, "before_commit")
def _flush_own_rows(session: Session) -> None:
    # a commit flushes only a session with changed objects; rows of its own may still wait
    if _waiting(session):
        session.flush()


@event.listens_for(OneStopSession, "after_flush")
def forget_reads_ahead(session: Session, _context: Any = None) -> None:
    """Drop what `read_ahead` read or was to read: after a write (the ORM's: a flush event; the
    session's own rows; a rollback), or when the caller needs the rows read anew."""
    session.info.pop("read_ahead", None)
    session.info.pop("read_ahead_rows", None)


@event.listens_for(OneStopSession, "after_rollback")
def _drop_own_rows(session: Session) -> None:
    # rolled back with the transaction (or savepoint: begin_nested flushes, so the rows given since
    # belong to the savepoint alone). The objects showed changes never written: read them again
    forget_reads_ahead(session)
    session.info.pop("appended", None)
    session.info.pop("sent", None)
    session.info.pop("added", None)  # still transient: never written
    for update in session.info.pop("updated", {}).values():
        if update.state.session_id == session.hash_key and update.state.key is not None:
            session.expire(update.obj)


def _waiting(session: Session) -> bool:
    """True when rows given to `add_row`, `set_columns`, `append_row` or `send_at_flush` wait for a flush."""
    info = session.info
    return bool(info.get("added") or info.get("updated") or info.get("appended") or info.get("sent"))


def append_row(session: Session, table: Table, row: dict[str, Any]) -> None:
    """Add a row to an append-only table, written with the others of its flush (see OneStopSession).
    Every row of a table must give the same columns, and every column with a default on the Python
    side (no default is applied here). A plain Session writes it at once."""
    if isinstance(session, OneStopSession):
        missing = _defaulted_in_python(table) - row.keys()
        if missing:
            raise ValueError(f"{table.name}: give {', '.join(sorted(missing))}")
        session.info.setdefault("appended", {}).setdefault(table, []).append(row)
    else:
        session.connection().execute(insert(table), row)


def new_row(cls: type[_Row], **values: Any) -> _Row:
    """A new object of `cls` with these attributes (columns, and the many-to-one objects it should hold
    on to) for `add_row`, set as the ORM's loading sets them: the constructor's attribute events
    (history, backrefs, one per attribute) cost a step's new task more than building its INSERT."""
    obj = inspect(cls).class_manager.new_instance()
    obj.__dict__.update(values)
    return obj


def add_row(session: Session, obj: Any) -> None:
    """Add a new object, whose row the session inserts itself at the next flush (see OneStopSession)
    and which is persistent after, its key set. Its columns with a callable default on the Python side
    must be given; nothing the ORM inserts in the same flush may refer to it (the ORM writes first).
    A plain Session just adds it."""
    if not isinstance(session, OneStopSession):
        session.add(obj)
        return
    session.info.setdefault("added", []).append(_RowInsert(obj))


def set_columns(session: Session, obj: Any, **values: Any) -> None:
    """Change columns of a row the session has loaded: the object shows the values at once, and the
    row gets them with a plain UPDATE by primary key at the next flush (see OneStopSession), with its
    version counter checked and moved on when it has one. The ORM then has nothing to write for
    them; a flush in between that reloads the object (`populate_existing` in a `no_autoflush` block)
    would lose them. A new object, or one of a plain Session, just gets the attributes."""
    if not values:
        return
    state = inspect(obj)
    if not isinstance(session, OneStopSession) or state.key is None or state.session_id != session.hash_key:
        for key, value in values.items():
            setattr(obj, key, value)
        return
    updates: dict[Any, _RowUpdate] = session.info.setdefault("updated", {})
    update = updates.get(state.key)
    if update is None:
        update = updates[state.key] = _RowUpdate(state)
    for key, value in values.items():
        column = state.mapper.get_property(key).columns[0]
        set_committed_value(obj, key, value)
        update.values[column] = value


class Prepared:
    """A Core statement built once and compiled once per database, that the session sends through
    the driver (`select_rows`, `send_at_flush`) with the parameters of each use."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._plans: dict[Dialect, tuple[Any, tuple[str, ...] | None, dict[str, Any]]] = {}

    def _plan(self, dialect: Dialect) -> tuple[Any, tuple[str, ...] | None, dict[str, Any]]:
        plan = self._plans.get(dialect)
        if plan is None:
            compiled = self.statement.compile(dialect=dialect)
            positions = tuple(compiled.positiontup or ()) if dialect.paramstyle == "qmark" else None
            binds = {name: process for name, bind in compiled.binds.items()
                     if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
            plan = self._plans[dialect] = (compiled, positions, binds)
        return plan

    def _statement(self, dialect: Dialect, params: dict[str, Any], *, rows: bool = False) -> _Statement:
        compiled, positions, binds = self._plan(dialect)
        values = compiled.construct_params(params)
        for name, process in binds.items():
            values[name] = process(values[name])
        return _Statement(compiled.string, values if positions is None else tuple(values[n] for n in positions),
                          rows=rows)


def send_at_flush(session: Session, statement: Prepared, params: dict[str, Any]) -> None:
    """Run a statement (an INSERT ... SELECT, say) at the next flush, after the rows given to
    `add_row`, `set_columns` and `append_row` before it, in their round trip (see OneStopSession).
    A plain Session runs it at once."""
    if isinstance(session, OneStopSession):
        session.info.setdefault("sent", []).append((statement, params))
    else:
        session.connection().execute(statement.statement, params)


class RowSelect(Prepared):
    """A SELECT of whole rows of some mapped classes, joined in one statement and built once, that
    `select_rows` runs on the driver and turns into objects of the session: for the few rows a step
    reads by key, building a query's cache key, its result and its loading context in the ORM cost
    more than running it (a user, a case with its state, its open tasks: ~1 ms of a 4 ms step).

    The statement selects the tables of `classes`, each whole and in that order (`select(User.__table__,
    OrgUnit.__table__)`); a class on the outer side of a join may be missing from a row (None). An
    object the session holds already is returned as it is, or, with `refresh` (rows read under a lock:
    what the session saw before may be older), with its columns as read, unless it has unwritten
    changes. A many-to-one relationship between two classes of a row is set from the row (a user's
    place and department: the session keeps only objects something refers to); other relationships
    load when touched unless the caller sets them."""

    def __init__(self, statement: Select[Any], *classes: type, refresh: bool = False) -> None:
        super().__init__(statement)
        self.refresh = refresh
        self.entities: list[tuple[Any, slice, tuple[str, ...], tuple[int, ...]]] = []
        selected = list(statement.selected_columns)
        start = 0
        for cls in classes:
            mapper = inspect(cls)
            columns = list(mapper.local_table.columns)
            end = start + len(columns)
            if len(selected) < end or any(a is not b for a, b in zip(selected[start:end], columns, strict=True)):
                raise ValueError(f"select {mapper.local_table.name}'s columns whole, in the order of its classes")
            keys = tuple(mapper.get_property_by_column(column).key for column in columns)
            primary_key = tuple(columns.index(column) for column in mapper.primary_key)
            self.entities.append((mapper, slice(start, end), keys, primary_key))
            start = end
        if start != len(selected):
            raise ValueError("select only the columns of the classes given")
        self._results: dict[Dialect, tuple[Any, ...]] = {}

    @functools.cached_property
    def links(self) -> list[tuple[int, str, int, tuple[tuple[int, int], ...]]]:
        """(the object, its relationship, the object it refers to, their columns that must match) of each
        many-to-one relationship between two classes of the row: worked out at the first read, as
        asking a mapper for its relationships configures every mapper, and a module building its
        queries at import may come before the models that the relationships name."""
        links = []
        for i, (mapper, _part, _keys, _primary_key) in enumerate(self.entities):
            for relationship in mapper.relationships:
                if relationship.direction is not MANYTOONE:
                    continue
                for j, (other, _other_part, _other_keys, _other_key) in enumerate(self.entities):
                    if j != i and other is relationship.mapper:
                        pairs = tuple((list(mapper.local_table.columns).index(local),
                                       list(other.local_table.columns).index(remote))
                                      for local, remote in relationship.local_remote_pairs)
                        links.append((i, relationship.key, j, pairs))
        return links

    def _processors(self, dialect: Dialect) -> tuple[Any, ...]:
        results = self._results.get(dialect)
        if results is None:
            results = self._results[dialect] = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns)
        return results

    def _objects(self, session: Session, dialect: Dialect, rows: list[Any]) -> list[tuple[Any, ...]]:
        results = self._processors(dialect)
        found = []
        for row in rows:
            values = [value if process is None or value is None else process(value)
                      for value, process in zip(row, results, strict=True)]
            objects = tuple(self._object(session, mapper, values[part], keys, primary_key)
                            for mapper, part, keys, primary_key in self.entities)
            for i, key, j, pairs in self.links:
                if objects[i] is None:
                    continue
                local = [values[self.entities[i][1]][a] for a, _b in pairs]
                if objects[j] is not None and local == [values[self.entities[j][1]][b] for _a, b in pairs]:
                    set_committed_value(objects[i], key, objects[j])
                elif all(value is None for value in local):
                    set_committed_value(objects[i], key, None)
            found.append(objects)
        return found

    def _object(self, session: Session, mapper: Any, values: list[Any], keys: tuple[str, ...],
                primary_key: tuple[int, ...]) -> Any:
        identity = tuple(values[i] for i in primary_key)
        if None in identity:
            return None  # the outer side of a join, no row
        obj = session.identity_map.get(mapper.identity_key_from_primary_key(identity))
        if obj is not None:
            if self.refresh and not inspect(obj).modified:
                for key, value in zip(keys, values, strict=True):
                    set_committed_value(obj, key, value)
            return obj
        obj = mapper.class_manager.new_instance()
        obj.__dict__.update(zip(keys, values, strict=True))  # as the ORM's loading fills an instance
        _as_loaded(session, obj, mapper.identity_key_from_primary_key(identity))
        return obj


def _as_loaded(session: Session, obj: Any, key: tuple[Any, ...]) -> None:
    """Make `obj`, whose columns are all in its `__dict__` as its row holds them, an object of the
    session as if a query had loaded it: those values its committed state, no history, in the
    identity map under `key`. It is what the ORM's loading does for a new row (`orm/loading.py`),
    where `make_transient_to_detached` and `Session.add` (a cascade over every relationship, the
    session's events) cost 28 us an object against 4 (a completion makes eight)."""
    state = instance_state(obj)
    if state.session_id or state.key:
        raise ValueError(f"{obj!r} is in a session already")
    state.key = key
    state.identity_token = key[2]
    state._commit_all(state.dict)
    state.session_id = session.hash_key
    session.identity_map._add_unpresent(state, key)


def select_rows(session: Session, *reads: tuple[RowSelect, dict[str, Any]]) -> list[list[tuple[Any, ...]]]:
    """Run each `RowSelect` with its parameters, in order and in one pipeline on PostgreSQL, and
    return each one's rows as tuples of objects (see RowSelect). What the session has to write is
    flushed first, as the ORM's autoflush would. On PostgreSQL a statement of the pipeline sees what
    was committed before it ran (READ COMMITTED): reads after a lock that waited see the writer's
    rows. Reads given to `read_ahead` and answered since are not asked again."""
    answered: dict[Any, Any] = session.info.get("read_ahead_rows") or {}
    if answered and all(_read_key(read) in answered for read in reads):
        dialect = session.get_bind().dialect
        results = [answered.pop(_read_key(read)) for read in reads]
    else:
        dialect, results = _read(session, reads)
    return [query._objects(session, dialect, rows) for (query, _params), rows in zip(reads, results, strict=True)]


def read_ahead(session: Session, *reads: tuple[RowSelect, dict[str, Any]]) -> None:
    """Send these reads with the session's next read, in its round trip on PostgreSQL, for a later
    `select_rows` of the same queries and parameters to take without asking again: a request that
    will lock a case once it knows its user reads both at once. Forgotten at any write of the session
    before they are taken (what they read might have changed) and at a rollback."""
    session.info.setdefault("read_ahead", []).extend(reads)


def _read_key(read: tuple[Prepared, dict[str, Any]]) -> tuple[Prepared, frozenset[tuple[str, Any]]]:
    return read[0], frozenset(read[1].items())


def select_values(session: Session, query: Prepared, params: dict[str, Any]) -> list[Any]:
    """The first column of each row of `query` as the driver reads it (no type's result processing):
    for many rows of one value the database writes ready to use (a case's timeline as JSON text),
    where SQLAlchemy's work per row would cost more than the database's."""
    _dialect, (rows,) = _read(session, [(query, params)])
    return [row[0] for row in rows]


def _read(session: Session, reads: Sequence[tuple[Prepared, dict[str, Any]]]) -> tuple[Dialect, list[Any]]:
    """The rows of each SELECT after what the session has to write, as the ORM's autoflush would have
    it: the ORM's own writes flushed first, the rows given to `add_row` and the like sent with the
    reads, in one pipeline on PostgreSQL (a step's writes and the answer's reads: one round trip),
    and the reads given to `read_ahead` after them."""
    writes = None
    if session.autoflush:
        if isinstance(session, OneStopSession):
            Session.flush(session)
            writes = session._own_writes()
        else:
            session.flush()
    asked = {_read_key(read) for read in reads}
    ahead = [read for read in session.info.pop("read_ahead", ()) if _read_key(read) not in asked]
    connection = session.connection()
    dialect = connection.dialect
    statements = writes.statements if writes is not None else []
    results = _send(connection, [*statements, *(query._statement(dialect, params, rows=True)
                                               for query, params in (*reads, *ahead))])
    if writes is not None:
        writes.done(session, results[:len(statements)])
    results = results[len(statements):]
    if ahead:
        answered = session.info.setdefault("read_ahead_rows", {})
        answered.update((_read_key(read), rows) for read, rows in zip(ahead, results[len(reads):], strict=True))
    return dialect, results[:len(reads)]


class _RowInsert:
    """A new object waiting for the flush to insert its row (with the values it has then)."""

    __slots__ = ("obj", "values", "unset")

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        mapper = inspect(obj).mapper
        for _column, key, how in _insert_plan(mapper):
            if how == "give" and key not in obj.__dict__:
                raise ValueError(f"{mapper.local_table.name}: give {key}")
        self.values: dict[Column[Any], Any] = {}
        #: columns neither given nor defaulted: SQL NULL, as the ORM leaves them (not JSON's null)
        self.unset: set[Column[Any]] = set()

    def statement(self, dialect: Dialect) -> _Statement:
        given = self.obj.__dict__
        mapper = inspect(self.obj).mapper
        for column, key, how in _insert_plan(mapper):
            if key in given:
                self.values[column] = given[key]
            elif how == "null":
                self.values[column] = None
                self.unset.add(column)
            elif how == "default":
                self.values[column] = column.default.arg  # type: ignore[union-attr]
        table = mapper.local_table
        names = tuple(column.name for column in self.values)
        params = tuple(None if column in self.unset else _bind(column, dialect, value)
                       for column, value in self.values.items())
        returning = tuple(column.name for column in table.primary_key if column not in self.values)
        return _Statement(_insert_sql(table, names, 1, dialect, returning), params, returning=bool(returning))

    def written(self, session: Session, key: tuple[Any, ...] | None) -> None:
        mapper = inspect(self.obj).mapper
        missing = [column for column in mapper.local_table.primary_key if column not in self.values]
        for column, value in zip(missing, key or (), strict=True):
            self.values[column] = value
        given = self.obj.__dict__
        for column, value in self.values.items():
            # as a query's loading fills an instance: the values written become its committed state
            # below, with no attribute history or events on the way
            given[mapper.get_property_by_column(column).key] = value
        _as_loaded(session, self.obj, mapper.identity_key_from_primary_key(
            tuple(self.values[column] for column in mapper.primary_key)))


@functools.cache
def _column_defaults(table: Table) -> tuple[tuple[Column[Any], str], ...]:
    """Each column of a table and what an INSERT without it writes: nothing ("key", the database
    numbers it), "null", its "default" (a constant), or nothing possible ("give": a default computed
    in Python, which only SQLAlchemy's own execution runs)."""
    plan = []
    for column in table.columns:
        if column.primary_key and column.autoincrement in (True, "auto"):
            how = "key"
        elif column.default is None:
            how = "null"
        elif column.default.is_scalar:
            how = "default"
        else:
            how = "give"
        plan.append((column, how))
    return tuple(plan)


@functools.cache
def _defaulted_in_python(table: Table) -> frozenset[str]:
    """The columns an appended row must give: those with a default on the Python side."""
    return frozenset(column.name for column, how in _column_defaults(table) if how in ("default", "give"))


@functools.cache
def _insert_plan(mapper: Any) -> tuple[tuple[Column[Any], str, str], ...]:
    """`_column_defaults` of a mapped table, with each column's attribute."""
    return tuple((column, mapper.get_property_by_column(column).key, how)
                 for column, how in _column_defaults(mapper.local_table))


class _RowUpdate:
    """The columns set on one loaded row, waiting for the flush."""

    __slots__ = ("state", "obj", "values", "version")

    def __init__(self, state: InstanceState[Any]) -> None:
        self.state = state
        self.obj = state.obj()  # held until written (the session's references are weak)
        self.values: dict[Column[Any], Any] = {}
        self.version: int | None = None

    def statement(self, dialect: Dialect) -> _Statement:
        mapper = self.state.mapper
        table = mapper.local_table
        names = [column.name for column in self.values]
        params = [_bind(column, dialect, value) for column, value in self.values.items()]
        keys = [column.name for column in mapper.primary_key]
        key_params = list(self.state.identity)
        check = None
        version_column = mapper.version_id_col
        if version_column is not None:
            current = getattr(self.obj, mapper.get_property_by_column(version_column).key)
            self.version = current + 1
            names.append(version_column.name)
            params.append(self.version)
            keys.append(version_column.name)
            key_params.append(current)
            check = f"{table.name} row {self.state.identity} changed meanwhile (version {current})"
        sql = _update_sql(table, tuple(names), tuple(keys), dialect)
        return _Statement(sql, tuple(params + key_params), check)

    def written(self) -> None:
        version_column = self.state.mapper.version_id_col
        if version_column is not None and self.version is not None:
            key = self.state.mapper.get_property_by_column(version_column).key
            set_committed_value(self.obj, key, self.version)


@dataclass(frozen=True)
class _Statement:
    sql: str
    #: positional (a tuple) or named (a dict), as the statement's placeholders are
    params: Any
    #: an UPDATE that must find its row, else this message (a version counter that moved on)
    must_hit: str | None = None
    #: an INSERT that returns its row's key
    returning: bool = False
    #: a SELECT whose rows are wanted
    rows: bool = False


def _placeholder(dialect: Dialect) -> str:
    if dialect.paramstyle == "qmark":
        return "?"
    if dialect.paramstyle in ("format", "pyformat"):
        return "%s"
    raise NotImplementedError(f"paramstyle {dialect.paramstyle}")


@functools.cache
def _update_sql(table: Table, names: tuple[str, ...], keys: tuple[str, ...], dialect: Dialect) -> str:
    quote, mark = dialect.identifier_preparer.quote, _placeholder(dialect)
    sets = ", ".join(f"{quote(name)} = {mark}" for name in names)
    where = " AND ".join(f"{quote(name)} = {mark}" for name in keys)
    return f"UPDATE {quote(table.name)} SET {sets} WHERE {where}"


@functools.cache
def _insert_sql(table: Table, names: tuple[str, ...], rows: int, dialect: Dialect,
                returning: tuple[str, ...] = ()) -> str:
    quote, mark = dialect.identifier_preparer.quote, _placeholder(dialect)
    one = "(" + ", ".join([mark] * len(names)) + ")"
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES " + ", ".join([one] * rows)
    return sql + (f" RETURNING {', '.join(quote(n) for n in returning)}" if returning else "")


#: rows per INSERT statement (SQLite allows 32,766 parameters in one statement)
INSERT_CHUNK = 500


def _insert_statements(table: Table, rows: list[dict[str, Any]], dialect: Dialect) -> list[_Statement]:
    names = tuple(rows[0])
    columns = [table.c[name] for name in names]
    statements = []
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start:start + INSERT_CHUNK]
        params = tuple(_bind(column, dialect, row[name]) for row in chunk
                       for name, column in zip(names, columns, strict=True))
        statements.append(_Statement(_insert_sql(table, names, len(chunk), dialect), params))
    return statements


@functools.cache
def _processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _bind(column: Column[Any], dialect: Dialect, value: Any) -> Any:
    """A value as the driver takes it for the column (what SQLAlchemy's own execution would send)."""
    process = _processor(column, dialect)
    return value if process is None else process(value)


def _send(connection: Connection, statements: list[_Statement]) -> list[Any]:
    """Run the statements on the connection's driver, in one pipeline on PostgreSQL; return, for each
    statement, the row an INSERT with `returning` gave, the rows of a SELECT with `rows`, None for the
    others. The errors come out as SQLAlchemy's would (a lost connection invalidated)."""
    dbapi_connection = connection.connection.dbapi_connection
    announce = connection.dispatch.before_cursor_execute
    cursors: list[Any] = []
    current = statements[0]
    try:
        pipeline = (dbapi_connection.pipeline() if connection.dialect.name == "postgresql" and len(statements) > 1
                    else contextlib.nullcontext())
        with pipeline:
            for current in statements:
                cursor = dbapi_connection.cursor()
                for listener in announce:
                    listener(connection, cursor, current.sql, current.params, None, False)
                cursor.execute(current.sql, current.params)
                cursors.append(cursor)
        results: list[Any] = []
        for cursor, current in zip(cursors, statements, strict=True):
            if current.must_hit is not None and cursor.rowcount != 1:
                raise StaleDataError(current.must_hit)
            if current.returning:
                results.append(tuple(cursor.fetchone()))
            else:
                results.append(cursor.fetchall() if current.rows else None)
        return results
    except connection.dialect.loaded_dbapi.Error as exc:
        lost = connection.dialect.is_disconnect(exc, dbapi_connection, None)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(current.sql, current.params, exc, connection.dialect.loaded_dbapi.Error,
                                  connection_invalidated=lost, dialect=connection.dialect) from exc
    finally:
        for cursor in cursors:
            cursor.close()


class Database:
    """The engine and session factories of one app, plus after-commit hooks."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        writer_bind = (
            self.engine.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else self.engine
        )
        # PostgreSQL readers are READ ONLY transactions, so that ending them with COMMIT (below) cannot
        # write what a reader changed by mistake
        reader_bind = (self.engine if self.is_sqlite
                       else self.engine.execution_options(custom_plans=True, postgresql_readonly=True))
        self._reader = sessionmaker(bind=reader_bind, class_=OneStopSession, expire_on_commit=False, autoflush=True)
        self._writer = sessionmaker(bind=writer_bind, class_=OneStopSession, expire_on_commit=False, autoflush=True)
        self._local = threading.local()

    @contextlib.contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        """Open a session, commit once at the end (or roll back), then run after-commit hooks.

        Writers on SQLite begin with BEGIN IMMEDIATE so that two writers queue instead of
        one of them losing its update; on PostgreSQL row locks do that job.

        A reader's changes are never written: on SQLite it rolls back; on PostgreSQL its transaction
        is READ ONLY and ends with COMMIT, because psycopg forgets a connection's prepared statements at
        every ROLLBACK (and deallocates them on the server): each page view made the next task
        completion on its connection parse and plan its ten statements again, ~1 ms of the database's
        CPU, more than running them.
        """
        session = (self._writer if write else self._reader)()
        hooks: list[AfterCommit] = []
        session.info["after_commit"] = hooks
        try:
            yield session
            if write or not self.is_sqlite:
                session.commit()
            # a reader's objects stay readable after the block (nothing expires at commit)
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        for hook in hooks:
            hook()

    def dispose(self) -> None:
        self.engine.dispose()


def after_commit(session: Session, hook: AfterCommit) -> None:
    """Run `hook` once the session's unit of work has committed (never if it rolls back)."""
    hooks = session.info.get("after_commit")
    if hooks is None:
        # a session opened outside unit_of_work runs none: they wait in its info and go with it (the
        # app writes only in a unit of work; a kept workflow or a cache stamp is never wrong for it)
        hooks = session.info.setdefault("after_commit", [])
    if hook not in hooks:
        hooks.append(hook)


@contextlib.contextmanager
def planner_settings(session: Session, **settings: str) -> Iterator[None]:
    """Run the statements of the block with PostgreSQL planner settings of their own (`jit="off"`),
    set for the transaction and put back as they were after the block. Other databases run the block
    as it is.

    Not in a savepoint rolled back after: psycopg forgets the connection's prepared statements at any
    ROLLBACK, a savepoint's too (see Database.unit_of_work), and every report read would have made
    the next task completions on its connection parse and plan their statements again."""
    for name, value in settings.items():
        if not name.isidentifier() or not value.isidentifier():
            raise ValueError(f"not a plain setting: {name}={value}")
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    names = list(settings)
    reads = ", ".join(f"current_setting(:n{i})" for i in range(len(names)))
    previous = session.execute(text(f"SELECT {reads}"), {f"n{i}": n for i, n in enumerate(names)}).one()
    restore = dict(zip(names, previous, strict=True))
    _set_local(session, settings)
    try:
        yield
    except BaseException:
        # a failed statement aborted the transaction, which ends with its settings; otherwise put
        # them back for the rest of it
        with contextlib.suppress(DBAPIError):
            _set_local(session, restore)
        raise
    _set_local(session, restore)


def _set_local(session: Session, settings: dict[str, str]) -> None:
    """SET LOCAL each setting, in one statement."""
    params = {}
    calls = []
    for i, (name, value) in enumerate(settings.items()):
        calls.append(f"set_config(:n{i}, :v{i}, true)")
        params.update({f"n{i}": name, f"v{i}": value})
    session.execute(text("SELECT " + ", ".join(calls)), params)


def upsert(session: Session, table: Any) -> Any:
    """An INSERT into `table` that can say what to do ON CONFLICT (`on_conflict_do_nothing` /
    `on_conflict_do_update`), in the dialect of the session's database: rows that many writers may
    create at the same moment (a counter, a pin) are made without one of them failing."""
    return upsert_into(session.get_bind().dialect.name, table)


def upsert_into(dialect_name: str, table: Any) -> Any:
    """`upsert` for a database named by its dialect, for a statement built once per database."""
    return postgresql_insert(table) if dialect_name == "postgresql" else sqlite_insert(table)


def id_in(session: Session, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """`column IN ids` for a long list of ids: one array parameter on PostgreSQL (`= ANY(...)`), where
    an IN list of a thousand parameters costs more to build and parse than the query takes to run."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(list(ids), ARRAY(Integer)))
    return column.in_(ids)


class in_small_set(ColumnElement[bool]):  # noqa: N801  (used like a SQL function)
    """`column IN (subquery)` where the subquery finds few rows however large the table is (the
    tasks overdue now, say). PostgreSQL gets `column = ANY(ARRAY(subquery))`: the set is found once
    and the outer rows looked up by it, where `IN` let the planner probe the subquery once per outer
    row, thousands of times within a month."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("subquery", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: Any, subquery: Any) -> None:
        self.column = column
        self.subquery = subquery


@compiles(in_small_set)
def _in_small_set(element: in_small_set, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} IN ({compiler.process(element.subquery, **kw)})"


@compiles(in_small_set, "postgresql")
def _in_small_set_pg(element: in_small_set, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY(ARRAY({compiler.process(element.subquery, **kw)}))"


class json_is_true(ColumnElement[bool]):  # noqa: N801  (used like a SQL function)
    """SQL: the JSON column's `key` holds `true` (the JSON value, not "true" nor 1), else false or
    NULL. SQLite's json_extract turns true into 1, so each database gets its own test."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement), ("key", InternalTraversal.dp_string)]

    def __init__(self, column: Any, key: str) -> None:
        if not key.isidentifier():
            raise ValueError(f"not a plain JSON key: {key!r}")
        self.column = column
        self.key = key


@compiles(json_is_true)
def _json_is_true(element: json_is_true, compiler: Any, **kw: Any) -> str:
    return f"(json_type({compiler.process(element.column, **kw)}, '$.{element.key}') = 'true')"


@compiles(json_is_true, "postgresql")
def _json_is_true_pg(element: json_is_true, compiler: Any, **kw: Any) -> str:
    return f"(({compiler.process(element.column, **kw)} -> '{element.key}') = 'true'::jsonb)"


class json_array_has(ColumnElement[bool]):  # noqa: N801  (used like a SQL function)
    """SQL: the JSON array in the column holds the string `value` (a bound parameter or an
    expression): a user's roles hold a task's role."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("value", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: Any, value: Any) -> None:
        self.column = column
        self.value = value


@compiles(json_array_has)
def _json_array_has(element: json_array_has, compiler: Any, **kw: Any) -> str:
    return (f"EXISTS (SELECT 1 FROM json_each({compiler.process(element.column, **kw)}) "
            f"WHERE json_each.value = {compiler.process(element.value, **kw)})")


@compiles(json_array_has, "postgresql")
def _json_array_has_pg(element: json_array_has, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.column, **kw)} @> jsonb_build_array({compiler.process(element.value, **kw)}))"


def utcnow_column_default() -> datetime:
    from app import clock

    return clock.now()
