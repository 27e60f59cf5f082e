"""A case's timeline, written as JSON by the database (`app.api.serialize.timeline_json`), says what
the events say, as the app would write them: local times to the second, who did each, the data as
stored, oldest first; and the app's JSON (`app.jsonio`) writes what Flask's own provider wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select

from app.cases.models import CaseEvent
from app.cases.service import get_case
from app.db import append_row
from app.org.models import User
from app.timeutil import local_iso
from tests.api.test_cases_flow import deploy_two_step


def _event(case_id: int, at: datetime, **values) -> dict:
    row = {"case_id": case_id, "at": at, "kind": "note", "actor_id": None, "task_name": None, "message": "",
           "data": {}}
    row.update(values)
    return row


def test_the_timeline_says_what_the_events_say(api, database, org):
    deploy_two_step(api)
    case_no = api.intake(process_id="two_step").get_json()["case_no"]
    mediator = org.users["mediator"].id
    with database.unit_of_work() as session:
        case_id = get_case(session, case_no).id
        table = CaseEvent.__table__
        # 23:59:59.9 local on one day, then its local midnight, then two at the same moment
        # (oldest first, then in the order they were written)
        late = datetime(2031, 3, 1, 15, 59, 59, 900000, tzinfo=UTC)
        midnight = datetime(2031, 3, 1, 16, 0, 0, tzinfo=UTC)
        append_row(session, table, _event(case_id, midnight, kind="b", actor_id=mediator, task_name="reply",
                                          message='引号"与\\反斜杠\n换行',
                                          data={"意见": ["同意", {"金额": 1200.5, "次数": 3}], "空": None,
                                                "真": True}))
        append_row(session, table, _event(case_id, late, kind="a", data={}))
        append_row(session, table, _event(case_id, midnight, kind="c", data={"x": [1, 2]}))
    with database.unit_of_work(write=False) as session:
        names = dict(session.execute(select(User.id, User.username)).all())
        events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                 .order_by(CaseEvent.at, CaseEvent.id)).all()
        expected = [{"at": local_iso(e.at), "kind": e.kind, "task": e.task_name, "message": e.message,
                     "actor": names.get(e.actor_id), "data": e.data} for e in events]

    r = api.get(f"/cases/{case_no}", "mediator")
    assert r.status_code == 200
    timeline = r.get_json()["timeline"]
    assert timeline == expected
    assert [e["kind"] for e in timeline[-3:]] == ["a", "b", "c"]
    assert timeline[-3]["at"] == "2031-03-01T23:59:59+08:00"
    assert timeline[-2] == {"at": "2031-03-02T00:00:00+08:00", "kind": "b", "task": "reply",
                            "message": '引号"与\\反斜杠\n换行', "actor": "mediator",
                            "data": {"意见": ["同意", {"金额": 1200.5, "次数": 3}], "空": None, "真": True}}
    # the answer to a step holds the same timeline
    task = api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"][0]
    done = api.post(f"/tasks/{task['id']}/complete", "mediator", json={"data": {"departments": ["hrss"]}})
    assert done.status_code == 200, done.get_json()
    after = done.get_json()["timeline"]
    assert [e for e in after if e in expected] == expected and len(after) > len(expected)
    assert {"kind": "task_completed", "task": "triage", "actor": "mediator"}.items() <= after[len(expected) - 3].items()


@dataclass
class _Shape:
    name: str
    size: int


def test_the_app_writes_json_as_flask_did(app):
    value = {"when": datetime(2031, 3, 1, 16, 0, tzinfo=UTC), "day": date(2031, 3, 2), "amount": Decimal("12.50"),
             "shape": _Shape("圆", 3), 7: "seven", "text": "柳树村"}
    with app.app_context():
        written = app.json.dumps(value)
        assert json.loads(written) == {"when": "Sat, 01 Mar 2031 16:00:00 GMT", "day": "Sun, 02 Mar 2031 00:00:00 GMT",
                                       "amount": "12.50", "shape": {"name": "圆", "size": 3}, "7": "seven",
                                       "text": "柳树村"}
        assert "柳树村" in written  # UTF-8, no \\u escapes
        assert app.json.dumps({"a": 1}, indent=2) == '{\n  "a": 1\n}'  # the standard library's options
        assert app.json.loads('{"n": 100000000000000000000001}') == {"n": 100000000000000000000001}  # exact
        response = app.json.response({"b": 1, "a": 2})
        assert response.mimetype == "application/json" and response.get_data() == b'{"b":1,"a":2}\n'


def test_bad_json_in_a_request_is_refused_clearly(api):
    r = api.post("/cases", "receiver", data=b'{"title": ', content_type="application/json")
    assert r.status_code == 400
    assert r.get_json()["fields"] == {"body": "invalid JSON"}


def test_a_number_orjson_cannot_write_is_written_by_the_standard_library(app):
    with app.app_context():
        huge = {"id_sum": 2**70, "name": "柳树村"}
        assert json.loads(app.json.dumps(huge)) == huge
        assert json.loads(app.json.response(huge).get_data()) == huge
