"""Rows the session writes itself at the flush (`app.db.set_columns`, `append_row`): what the objects
show, what is sent and when, the version check, rollback, and errors as SQLAlchemy's own."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.cases.models import CaseEvent, MediationCase
from app.cases.service import get_case
from app.db import append_row, set_columns
from tests.api.test_cases_flow import deploy_two_step
from tests.conftest import sql_sent


@pytest.fixture
def case_no(api) -> str:
    deploy_two_step(api)
    return api.intake(process_id="two_step").get_json()["case_no"]


def read(database, case_no: str) -> MediationCase:
    with database.unit_of_work(write=False) as session:
        return get_case(session, case_no)


def test_columns_set_show_at_once_and_go_in_with_one_update_at_the_flush(database, case_no):
    before = read(database, case_no)
    with sql_sent(database.engine) as statements, database.unit_of_work() as session:
        case = get_case(session, case_no)
        set_columns(session, case, stage="convene", category="劳动争议")
        set_columns(session, case, stage="reply")  # the same row again: still one statement
        assert (case.stage, case.category) == ("reply", "劳动争议")
        assert not session.dirty  # nothing for the ORM to write
        assert not [s for s in statements if s.startswith("UPDATE")]
        session.flush()
        updates = [s for s in statements if s.startswith("UPDATE")]
        assert len(updates) == 1 and updates[0].startswith("UPDATE mediation_case SET stage = ")
        assert case.lock_version == before.lock_version + 1
    after = read(database, case_no)
    assert (after.stage, after.category, after.lock_version) == ("reply", "劳动争议", before.lock_version + 1)


def test_a_row_changed_meanwhile_is_not_overwritten(database, case_no):
    """The version counter: an UPDATE made on a row another transaction changed since it was read
    fails as the ORM's own would (StaleDataError), and the unit of work writes nothing."""
    with database.unit_of_work(write=False) as session:
        stale = get_case(session, case_no)
    with database.unit_of_work() as session:
        set_columns(session, get_case(session, case_no), stage="convene")
    with pytest.raises(StaleDataError), database.unit_of_work() as session:
        session.add(stale)  # as it was read before the other change
        set_columns(session, stale, stage="reply")
        append_row(session, CaseEvent.__table__, {"case_id": stale.id, "at": stale.updated_at, "kind": "x",
                                                  "actor_id": None, "task_name": None, "message": "",
                                                  "data": {}})
    assert read(database, case_no).stage == "convene"
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(CaseEvent.id).where(CaseEvent.kind == "x")) is None


def test_columns_set_then_rolled_back_are_read_again(database, case_no):
    stage = read(database, case_no).stage
    with database.unit_of_work() as session:
        case = get_case(session, case_no)
        savepoint = session.begin_nested()
        set_columns(session, case, stage="convene")
        savepoint.rollback()
        assert case.stage == stage  # the object no longer shows what was never written
        set_columns(session, case, category="劳动争议")
    after = read(database, case_no)
    assert (after.stage, after.category) == (stage, "劳动争议")
    with pytest.raises(RuntimeError), database.unit_of_work() as session:
        set_columns(session, get_case(session, case_no), stage="convene")
        session.flush()
        raise RuntimeError("the request failed")
    assert read(database, case_no).stage == stage


def test_a_failing_statement_fails_as_sqlalchemy_says_and_writes_nothing(database, case_no):
    """All the rows of a flush go to the driver together (one pipeline on PostgreSQL); one of them
    failing is SQLAlchemy's IntegrityError, and none of them stays."""
    case = read(database, case_no)
    row = {"case_id": case.id, "at": case.updated_at, "kind": "x", "actor_id": None, "task_name": None,
           "message": "", "data": {}}
    with pytest.raises(IntegrityError), database.unit_of_work() as session:
        set_columns(session, get_case(session, case_no), stage="convene")
        append_row(session, CaseEvent.__table__, row)
        append_row(session, CaseEvent.__table__, {**row, "kind": "y", "case_id": case.id + 1000})  # no such case
        session.flush()
    assert read(database, case_no).stage != "convene"
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(CaseEvent.id).where(CaseEvent.kind.in_(["x", "y"]))) is None


def test_an_appended_row_must_give_the_columns_with_python_defaults(database):
    with database.unit_of_work() as session, pytest.raises(ValueError, match="case_event: give at, data, message"):
        append_row(session, CaseEvent.__table__, {"case_id": 1, "kind": "x"})


def _new_task(case: MediationCase, **given):
    from app.tasks.models import HumanTask, TaskStatus

    return HumanTask(case_id=case.id, engine_task_id="e-1", name="extra", title="待定", lane=None, role="mediator",
                     org_unit_id=case.org_unit_id, status=TaskStatus.open, **given)


def test_an_added_row_goes_in_at_the_flush_and_is_persistent_after(database, case_no):
    from sqlalchemy import inspect

    from app import clock
    from app.db import add_row
    from app.tasks.models import HumanTask

    with sql_sent(database.engine) as statements, database.unit_of_work() as session:
        case = get_case(session, case_no)
        task = _new_task(case, created_at=clock.now(), about=None)
        add_row(session, task)
        assert inspect(task).transient and not [s for s in statements if s.startswith("INSERT")]
        task.title = "加办"  # what the object holds when the flush comes is written
        session.flush()
        assert [s for s in statements if s.startswith("INSERT")] == [
            next(s for s in statements if s.startswith("INSERT INTO human_task") and "RETURNING id" in s)]
        assert inspect(task).persistent and session.get(HumanTask, task.id) is task
        sent = len(statements)
        assert (task.title, task.completed_at, task.data, task.department_id) == ("加办", None, None, None)
        assert len(statements) == sent  # every column known: nothing loaded
        assert not inspect(task).modified  # what was written is its committed state: nothing to flush
        session.flush()
        assert len(statements) == sent
        task.title = "再改"  # a change after is the ORM's to write, as for a row it loaded
        session.flush()
        assert statements[-1].startswith("UPDATE human_task SET title")
        task_id = task.id
    with database.unit_of_work(write=False) as session:
        # a column not given is SQL NULL as the ORM leaves it (the JSON null only where None was given)
        assert session.scalar(select(HumanTask.id).where(HumanTask.id == task_id, HumanTask.data.is_(None)))
        assert session.get(HumanTask, task_id).title == "再改"


def test_an_added_row_rolled_back_is_not_written(database, case_no):
    from app import clock
    from app.db import add_row
    from app.tasks.models import HumanTask

    with pytest.raises(RuntimeError), database.unit_of_work() as session:
        add_row(session, _new_task(get_case(session, case_no), created_at=clock.now()))
        raise RuntimeError("the request failed")
    with database.unit_of_work() as session, pytest.raises(ValueError, match="human_task: give created_at"):
        add_row(session, _new_task(get_case(session, case_no)))
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(HumanTask.id).where(HumanTask.name == "extra")) is None


def test_a_step_rolled_back_leaves_no_open_tasks_known(database, case_no, api):
    """The open tasks a step left (what the answer lists without reading them again) are forgotten
    when the step is rolled back, with a savepoint too: the answer reads them again."""
    from app.cases.service import known_open_tasks
    from app.org.models import User
    from app.tasks.service import complete_task

    task_id = api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"][0]["id"]
    with database.unit_of_work() as session:
        mediator = session.scalar(select(User).where(User.username == "mediator"))
        savepoint = session.begin_nested()
        case = complete_task(session, mediator, task_id, {"departments": ["hrss"]})
        assert known_open_tasks(session, case) is not None
        savepoint.rollback()
        assert known_open_tasks(session, case) is None


def test_rows_read_through_the_driver_are_the_sessions_objects(database, org):
    """`select_rows` (here through `load_user`): the objects of a row are the session's, refer to
    each other (a user's place and department: no query when touched), and a second read returns
    what the session holds."""
    from app.org.models import Department, OrgUnit, User
    from app.org.service import load_user

    with database.unit_of_work(write=False) as session:
        ids = {u.username: u.id for u in session.scalars(select(User))}
    with sql_sent(database.engine) as statements, database.unit_of_work(write=False) as session:
        user = load_user(session, ids["hrss"])
        mediator = load_user(session, ids["mediator"])
        assert len([s for s in statements if s.startswith("SELECT")]) == 2
        sent = len(statements)
        assert user.department.code == "hrss" and user.org_unit.path.startswith("/")
        assert mediator.department is None and mediator.roles == ["mediator"]
        assert user.created_at.utcoffset() is not None  # as the ORM reads it (UTCDateTime)
        assert session.get(User, ids["hrss"]) is user
        assert session.get(Department, user.department_id) is user.department
        assert session.get(OrgUnit, user.org_unit_id) is user.org_unit
        assert load_user(session, ids["hrss"]) is user and len(statements) == sent
        assert load_user(session, 10**9) is None


def test_a_case_locked_is_read_as_it_is_now(database, case_no):
    """A lock reads the case with its state and place, and what the session saw before gives way to
    the row as it is now (rows read under a lock refresh the session's objects)."""
    from sqlalchemy import update

    from app.cases.service import lock_case_by_id

    with database.unit_of_work() as session:
        case = get_case(session, case_no)
        # changed behind the session's back, as another writer's commit would be
        session.execute(update(MediationCase.__table__).where(MediationCase.__table__.c.id == case.id)
                        .values(stage="convene"))
        assert case.stage != "convene"
        with sql_sent(database.engine) as statements:
            assert lock_case_by_id(session, case.id) is case
            assert case.stage == "convene" and case.state.blob and case.org_unit.code
        assert len(statements) == 1 and "FROM mediation_case JOIN case_state" in statements[0]


def test_a_row_select_names_whole_tables_in_the_order_of_its_classes():
    from app.cases.models import CaseState
    from app.db import RowSelect

    cases, states = MediationCase.__table__, CaseState.__table__
    RowSelect(select(cases, states).join(states), MediationCase, CaseState)
    for statement in (select(states, cases).join(states), select(cases.c.id, cases.c.case_no),
                      select(cases, states.c.blob).join(states)):
        with pytest.raises(ValueError, match="select"):
            RowSelect(statement, MediationCase, CaseState)



def test_a_statement_sent_at_the_flush_follows_the_rows_given_before_it(database, case_no):
    """`send_at_flush`: run after the rows given before it, in their flush (an INSERT ... SELECT sees
    the row appended just before), and forgotten when rolled back."""
    from sqlalchemy import bindparam, func, insert, literal

    from app.db import Prepared, send_at_flush

    events = CaseEvent.__table__
    copy = Prepared(insert(events).from_select(
        ["case_id", "at", "kind", "actor_id", "task_name", "message", "data"],
        select(events.c.case_id, events.c.at, literal("copied"), events.c.actor_id, events.c.task_name,
               events.c.message, events.c.data).where(events.c.kind == bindparam("kind"))))
    with sql_sent(database.engine) as statements, database.unit_of_work() as session:
        case = get_case(session, case_no)
        append_row(session, events, {"case_id": case.id, "at": case.updated_at, "kind": "x", "actor_id": None,
                                     "task_name": None, "message": "", "data": {}})
        send_at_flush(session, copy, {"kind": "x"})
        assert not [s for s in statements if s.startswith("INSERT")]
        savepoint = session.begin_nested()  # flushes what waits
        send_at_flush(session, copy, {"kind": "x"})
        savepoint.rollback()
    assert [s.split()[2] for s in statements if s.startswith("INSERT")] == ["case_event", "case_event"]
    with database.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).where(CaseEvent.kind == "copied")) == 1
