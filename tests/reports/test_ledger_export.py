"""The ledger's exports row by row, on rows built to be awkward: text that CSV and COPY must quote or
escape, people without names, departments OneStop does not know, holders named twice, callbacks
without data. On PostgreSQL the exports are one COPY formatted by the database; on SQLite Python
formats them. Both must give exactly the rows written out here (and, on PostgreSQL, the same rows
as the Python path)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert, select

from app import clock
from app.cases.models import MediationCase
from app.org.models import Department, OrgUnit, User
from app.processes.service import deploy_bundle, latest_process_version, pin_runtime_spec, read_bundle_dir
from app.reports import ledger
from app.tasks.models import HumanTask
from tests.reports.rows import case_row, task_row

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
AWKWARD = '含,逗号 "引号"\n换行\t制表\\反斜杠'


def _world(session):
    county = OrgUnit(code="county", name="青溪县", level="county", path="/")
    session.add(county)
    session.flush()
    county.path = f"/{county.id}/"
    town = OrgUnit(code="town", name="河口镇", level="township", parent_id=county.id, path="")
    session.add(town)
    session.flush()
    town.path = f"{county.path}{town.id}/"
    village = OrgUnit(code="village", name="河口村", level="village", parent_id=town.id, path="")
    session.add(village)
    session.flush()
    village.path = f"{town.path}{village.id}/"
    hrss = Department(code="hrss", name="人社局", org_unit_id=county.id)
    justice = Department(code="justice", name="司法局", org_unit_id=county.id)
    session.add_all([hrss, justice])
    session.flush()
    users = {}
    for username, display in (("leader", "李领导"), ("wang", "王五"), ("nameless", ""), ("zhao", "赵六"),
                              ("at", "@王")):
        users[username] = User(username=username, password_hash="x" * 20, display_name=display,
                               roles=["leader"] if username == "leader" else ["mediator"], org_unit_id=county.id)
    session.add_all(users.values())
    deploy_bundle(session, {**read_bundle_dir(ROOT / "processes"), **read_bundle_dir(ROOT / "forms")}, note="test")
    spec = pin_runtime_spec(session, latest_process_version(session, "mediation"))
    session.flush()
    return {"county": county, "village": village, "hrss": hrss, "justice": justice, "spec": spec, **users}


def _case(w, case_id: int, created: datetime, **fields):
    return case_row(case_id, created, **{"spec_id": w["spec"], "org_unit_id": w["county"].id, **fields})


def _task(w, case_id: int, n: int, **fields):
    return task_row(case_id, n, org_unit_id=w["county"].id, created=NOW - timedelta(days=20), **fields)


@pytest.fixture
def rows(db):
    """Five cases (newest first A to E) and the export rows they must give."""
    clock.set_to(NOW)
    day = timedelta(days=1)
    with db.unit_of_work() as s:
        w = _world(s)
        a_at = datetime(2026, 11, 10, 1, 30, tzinfo=UTC)
        b_at = datetime(2026, 11, 8, 16, 5, tzinfo=UTC)  # 00:05 on the 9th in Shanghai
        c_at = datetime(2026, 11, 5, 3, 0, tzinfo=UTC)
        d_at = datetime(2026, 11, 3, 3, 0, tzinfo=UTC)
        cases = [
            # A: open, four holders in order of due time (one named twice), one past due
            _case(w, 1, a_at, title=AWKWARD, channel="hotline", lead_department="hrss",
                  departments=["hrss", "zz_unknown", "justice"]),
            # B: closed; a callback without data; finished by two people, 赵六 last
            _case(w, 2, b_at, category=None, status="closed", stage="closed", closed_at=b_at + 6 * day,
                  org_unit_id=w["village"].id, level="village"),
            # C: closed with no tasks at all
            _case(w, 3, c_at, category="not_in_the_form", status="closed", stage="closed", channel="grid",
                  closed_at=c_at + day, lead_department="gone", departments=["gone"]),
            # D: open at the callback: solved, but "satisfied" is a string, not true
            _case(w, 4, d_at, stage="callback", deadline_callback=d_at + 20 * day),
            # E: text that a spreadsheet would take for a formula
            _case(w, 5, d_at - day, title="=HYPERLINK(\"http://x\")", stage="mediate"),
        ]
        tasks = [
            _task(w, 1, 1, role="department", department=w["justice"].id, due=NOW + 2 * day),
            _task(w, 1, 2, assignee=w["nameless"].id, department=w["hrss"].id, role="department", due=NOW + day),
            _task(w, 1, 3, role="mediator", due=NOW - timedelta(hours=30)),  # 30 h late: 2 days begun
            _task(w, 1, 4, assignee=w["wang"].id, due=None),
            _task(w, 1, 5, role="department", department=w["justice"].id, due=NOW + 3 * day),
            _task(w, 1, 6, status="cancelled", due=NOW - 40 * day),  # cancelled: never late
            _task(w, 1, 7, status="completed", due=a_at + day, done=a_at + timedelta(hours=2), by=w["wang"].id),
            _task(w, 2, 1, status="completed", due=b_at + day, done=b_at + timedelta(hours=3), by=w["wang"].id),
            _task(w, 2, 2, status="completed", due=b_at + 2 * day, done=b_at + 5 * day, by=w["zhao"].id,
                  form="callback.json", data=None),  # 3 days late
            _task(w, 4, 1, status="completed", due=d_at + day, done=d_at + timedelta(hours=1), by=w["zhao"].id,
                  form="callback.json", data={"solved": True, "satisfied": "true"}),
            _task(w, 4, 2, role="leader", due=NOW + day),
            _task(w, 5, 1, assignee=w["at"].id, due=NOW + day),
        ]
        s.execute(insert(MediationCase), cases)
        s.execute(insert(HumanTask), tasks)
    return [
        ["QX-2026-000001", AWKWARD, "2026-11-10 09:30", "", "", "青溪县", "劳动争议/欠薪", "热线电话", "人社局",
         "zz_unknown、司法局", "部门办理", "办理中", "调解员、人社局、司法局、王五", "2026-11-11 09:30",
         "2026-11-13 09:30", "2026-11-19 09:30", "", "是", 2, "", ""],
        ["QX-2026-000002", "事项2", "2026-11-09 00:05", "2026-11-15 00:05", "河口镇", "河口村", "", "来访（窗口）",
         "", "", "办结", "已办结", "赵六", "2026-11-10 00:05", "2026-11-12 00:05", "2026-11-18 00:05", "", "否", 3,
         "未解决", "不满意"],
        ["QX-2026-000003", "事项3", "2026-11-05 11:00", "2026-11-06 11:00", "", "青溪县", "not_in_the_form",
         "网格员上报", "gone", "", "办结", "已办结", "", "2026-11-06 11:00", "2026-11-08 11:00", "2026-11-14 11:00",
         "", "否", 0, "已化解", ""],
        ["QX-2026-000004", "事项4", "2026-11-03 11:00", "", "", "青溪县", "劳动争议/欠薪", "来访（窗口）", "", "",
         "回访", "办理中", "领导", "2026-11-04 11:00", "2026-11-06 11:00", "2026-11-12 11:00", "2026-11-23 11:00",
         "否", 0, "已解决", "不满意"],
        ["QX-2026-000005", '=HYPERLINK("http://x")', "2026-11-02 11:00", "", "", "青溪县", "劳动争议/欠薪",
         "来访（窗口）", "", "", "联合调解", "办理中", "@王", "2026-11-03 11:00", "2026-11-05 11:00",
         "2026-11-11 11:00", "", "否", 0, "", ""],
    ]


def _leader(session):
    return session.scalar(select(User).where(User.username == "leader"))


def test_every_export_gives_the_rows_written_out(db, rows):
    with db.unit_of_work(write=False) as s:
        leader, everything = _leader(s), ledger.Filters()
        assert list(ledger.export_values(s, leader, everything)) == rows
        if s.get_bind().dialect.name == "postgresql":  # the Python path (SQLite's) agrees with the COPY
            assert [list(v) for v in ledger._python_values(s, leader, everything, ledger.Names(s))] == rows
        data = b"".join(ledger.csv_chunks(s, leader, everything)).decode("utf-8")
        assert data.startswith("\ufeff事项编号,标题,登记时间,")
        parsed = list(csv.reader(io.StringIO(data[1:], newline="")))
        # in the CSV only, what a spreadsheet would run as a formula is marked as text
        assert parsed[-1][1] == "'=HYPERLINK(\"http://x\")" and parsed[-1][12] == "'@王"
        parsed[-1][1], parsed[-1][12] = rows[-1][1], rows[-1][12]
        assert parsed[1:] == [[str(v) for v in row] for row in rows]
        book = load_workbook(io.BytesIO(b"".join(ledger.xlsx_chunks(s, leader, everything))))
        sheet = [list(r) for r in book.active.iter_rows(min_row=2, values_only=True)]
        assert sheet == [[v if v != "" else None for v in row] for row in rows]
        # the filters apply to the exports as to the page
        october = ledger.Filters(start=datetime(2026, 11, 4).date(), end=datetime(2026, 11, 9).date())
        assert [r[0] for r in ledger.export_values(s, leader, october)] == ["QX-2026-000002", "QX-2026-000003"]


def test_a_download_given_up_half_way_leaves_the_session_usable(db, rows):
    with db.unit_of_work() as s:
        w_spec = s.scalar(select(MediationCase.runtime_spec_id))
        unit = s.scalar(select(OrgUnit.id).where(OrgUnit.code == "county"))
        s.execute(insert(MediationCase), [
            {"id": 100 + i, "case_no": f"QX-2025-{i:06d}", "title": "长标题" * 40, "channel": "hotline",
             "citizen_name": "张三", "citizen_phone": "1", "org_unit_id": unit, "process_id": "mediation",
             "process_version": 1, "runtime_spec_id": w_spec, "created_at": NOW - timedelta(days=400 + i)}
            for i in range(600)])
    with db.unit_of_work(write=False) as s:
        chunks = ledger.csv_chunks(s, _leader(s), ledger.Filters())
        received = next(chunks) + next(chunks)  # the header, then the first rows
        chunks.close()
        assert received.count(b"\n") < 600
        assert s.scalar(select(MediationCase.case_no).where(MediationCase.id == 1)) == "QX-2026-000001"
