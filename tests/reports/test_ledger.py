"""The ledger of the known month: JSON, filters, scope, and the XLSX and CSV exports matching it."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

END = "T23:59:59+08:00"


def ledger(api, query="month=2026-10", user="leader"):
    r = api.get(f"/reports/ledger?{query}", user)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_every_column_of_the_ledger(api, month):
    body = ledger(api)
    assert (body["total"], body["page"], body["page_size"]) == (7, 1, 50)
    items = {i["case_no"]: i for i in body["items"]}
    assert [i["case_no"] for i in body["items"]] == [month[k] for k in "GFEDCBA"]  # newest first

    def minute(iso):
        """Real time runs on between the steps of the fixture: compare intake and closing to the minute."""
        return iso[:16] + iso[19:] if iso else iso

    def row(letter, **fields):
        item = dict(items[month[letter]])
        for key in ("created_at", "closed_at"):
            item[key], fields[key] = minute(item[key]), minute(fields[key])
        return item == fields | {"case_no": month[letter]} or item

    base = {"channel": "walk_in", "urgency": "normal"}
    county = base | {"township": "", "place": "青溪县", "category": "labour", "lead_department": "hrss",
                     "lead_department_name": "人社局", "created_at": "2026-10-12T09:00:00+08:00"}
    county_deadlines = {"accept": "2026-10-13" + END, "convene": "2026-10-14" + END, "reply": "2026-10-21" + END,
                        "callback": None}
    assert row("A", **base, title="邻居占道堆放杂物", created_at="2026-10-12T09:00:00+08:00",
               closed_at="2026-10-12T09:00:00+08:00", township="河口镇", place="柳树村", category="neighbour",
               lead_department=None, lead_department_name=None, co_departments=[], stage="closed", status="closed",
               responsible="receiver", overdue=False, overdue_days=0, result="settled", satisfaction=None,
               deadlines={"accept": "2026-10-13" + END, "convene": None, "reply": None, "callback": None}) is True
    assert row("B", **county, title="工地欠薪甲", closed_at="2026-10-12T09:00:00+08:00", co_departments=[],
               stage="closed", status="closed", responsible="mediator", overdue=False, overdue_days=0,
               result="solved", satisfaction="satisfied",
               deadlines=county_deadlines | {"callback": "2026-10-13" + END}) is True
    # C reopened after the unsatisfied callback: new convene and reply deadlines, the proposal again
    assert row("C", **county, title="工地欠薪乙", closed_at=None, co_departments=["cmte_labour", "justice"],
               stage="triage", status="open", responsible="调解员、领导", overdue=True, overdue_days=13,
               result=None, satisfaction="unsatisfied",
               deadlines=county_deadlines | {"convene": "2026-10-20" + END, "reply": "2026-10-27" + END}) is True
    assert row("D", **county, title="工地欠薪丙", closed_at=None, co_departments=[], stage="mediate", status="open",
               responsible="调解员、领导", overdue=True, overdue_days=12, result=None, satisfaction=None,
               deadlines=county_deadlines) is True
    assert row("E", **county, title="工地欠薪丁", closed_at=None, co_departments=["justice"], stage="convene",
               status="open", responsible="人社局、司法局、领导", overdue=True, overdue_days=19, result=None,
               satisfaction=None, deadlines=county_deadlines) is True
    assert row("F", **base, title="商铺噪音扰民", created_at="2026-10-12T09:00:00+08:00",
               closed_at="2026-10-16T10:00:00+08:00", township="山前镇", place="山前镇", category="neighbour",
               lead_department=None, lead_department_name=None, co_departments=[], stage="closed", status="closed",
               responsible="admin", overdue=False, overdue_days=3, result="settled", satisfaction=None,
               deadlines={"accept": "2026-10-13" + END, "convene": None, "reply": None, "callback": None}) is True
    assert row("G", **base, title="宅基地边界", created_at="2026-10-20T09:30:00+08:00", closed_at=None,
               township="河口镇", place="柳树村", category="neighbour", lead_department=None,
               lead_department_name=None, co_departments=[], stage="accept", status="open",
               responsible="受理员、领导", overdue=True, overdue_days=12, result=None, satisfaction=None,
               deadlines={"accept": "2026-10-21" + END, "convene": None, "reply": None, "callback": None}) is True


def test_filters(api, month):
    def numbers(query, user="leader"):
        return [i["case_no"] for i in ledger(api, query, user)["items"]]

    a, b, c, d, e, f, g = (month[k] for k in "ABCDEFG")
    assert numbers("month=2026-10&overdue=1") == [g, e, d, c]
    assert numbers("month=2026-10&overdue=0&status=closed") == [f, b, a]
    assert numbers("month=2026-10&department=justice") == [e, c]
    assert numbers("month=2026-10&category=neighbour") == [g, f, a]
    assert numbers("month=2026-10&org_unit=town1") == [g, a]
    assert numbers("month=2026-10&stage=triage") == [c]
    assert numbers("from=2026-10-20&to=2026-10-31") == [g]
    assert numbers("from=2026-10-01&to=2026-10-19&q=欠薪") == [e, d, c, b]
    assert numbers("month=2026-10&q=qx-") == [g, f, e, d, c, b, a]  # Latin letters in either case
    assert numbers("month=2026-10&q=%25") == numbers("month=2026-10&q=_") == []  # no wildcards
    assert numbers("month=2026-09") == []
    assert ledger(api, "month=2026-10&page=2&page_size=3")["items"][0]["case_no"] == d
    # scope: a department sees what was dispatched to it, a village receiver its village
    assert numbers("month=2026-10", "hrss") == [e, d, c, b]
    assert numbers("month=2026-10", "receiver") == [g, a]
    bad = api.get("/reports/ledger?from=2026-13-01&to=2026-10-01&department=nope&overdue=maybe", "leader")
    assert bad.status_code == 422
    assert set(bad.get_json()["fields"]) == {"from", "department", "overdue"}
    bad = api.get("/reports/ledger?from=2026-10-20&to=2026-10-01&stage=nowhere", "leader")
    assert bad.status_code == 422 and set(bad.get_json()["fields"]) == {"to", "stage"}
    assert api.get("/reports/ledger?page_size=0", "leader").status_code == 400
    assert api.get("/reports/ledger").status_code == 401


def test_xlsx_opens_and_matches_the_api(api, month):
    items = ledger(api)["items"]
    r = api.get("/reports/ledger.xlsx?month=2026-10", "leader")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert r.headers["Content-Disposition"].startswith('attachment; filename="ledger-20261102-1000')
    book = load_workbook(io.BytesIO(r.data))
    sheet = book.active
    assert sheet.title == "台账"
    assert sheet.freeze_panes == "B2"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("事项编号", "标题", "登记时间", "办结时间", "乡镇", "地点", "类别", "来源渠道", "牵头部门",
                       "协办部门", "阶段", "状态", "责任人", "受理时限", "召集时限", "回复时限", "回访时限",
                       "当前超期", "超期天数", "办理结果", "满意度")
    assert sheet.column_dimensions["A"].width == 18 and sheet.column_dimensions["B"].width == 32
    assert len(rows) == 1 + len(items) == 8

    def text(iso):
        return iso[:16].replace("T", " ") if iso else None

    for item, values in zip(items, rows[1:], strict=True):
        assert values[0] == item["case_no"] and values[1] == item["title"]
        assert values[2] == text(item["created_at"]) and values[3] == text(item["closed_at"])
        assert (values[4] or "", values[5]) == (item["township"], item["place"])
        assert values[12] == item["responsible"]
        assert [values[13], values[14], values[15], values[16]] == \
            [text(item["deadlines"][k]) for k in ("accept", "convene", "reply", "callback")]
        assert values[17] == ("是" if item["overdue"] else "否") and values[18] == item["overdue_days"]
    by_no = {v[0]: v for v in rows[1:]}
    # cmte_labour is not a department of this world: its code stands for it
    assert by_no[month["C"]][6:13] == ("劳动争议/欠薪", "来访（窗口）", "人社局", "cmte_labour、司法局", "分流研判",
                                       "办理中", "调解员、领导")
    assert by_no[month["C"]][19:] == (None, "不满意")
    assert by_no[month["B"]][19:] == ("已解决", "满意")
    assert by_no[month["A"]][19:] == ("已化解", None)


def test_csv_streams_the_same_rows(api, month):
    items = ledger(api, "month=2026-10&overdue=1")["items"]
    r = api.get("/reports/ledger.csv?month=2026-10&overdue=1", "leader")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
    text = r.data.decode("utf-8")
    assert text.startswith("\ufeff事项编号,标题,")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert [row[0] for row in rows[1:]] == [i["case_no"] for i in items]
    assert [int(row[18]) for row in rows[1:]] == [i["overdue_days"] for i in items] == [12, 19, 12, 13]
    bad = api.get("/reports/ledger.csv?from=yesterday", "leader")
    assert bad.status_code == 422 and bad.get_json()["fields"] == {"from": "use YYYY-MM-DD"}
    assert api.get("/reports/ledger.xlsx").status_code == 401


def test_an_xlsx_larger_than_a_sheet_is_refused_before_anything_is_sent(api, month, monkeypatch):
    from app.reports import xlsx

    monkeypatch.setattr(xlsx, "MAX_ROWS", 5)  # a header and 4 rows; October has 7 cases
    r = api.get("/reports/ledger.xlsx?month=2026-10", "leader")
    assert r.status_code == 422
    assert "download CSV" in r.get_json()["fields"]["from"]
    assert api.get("/reports/ledger.xlsx?month=2026-10&category=labour", "leader").status_code == 200


def test_exports_keep_to_the_users_scope_and_take_filters_literally(api, month):
    """Both export paths (COPY on PostgreSQL) list what the user's ledger lists, no more; a search
    text with quotes, backslashes and SQL in it is a search text."""
    def exported(query, user):
        r = api.get(f"/reports/ledger.csv?{query}", user)
        assert r.status_code == 200
        rows = list(csv.reader(io.StringIO(r.data.decode("utf-8").lstrip("\ufeff"))))
        book = load_workbook(io.BytesIO(api.get(f"/reports/ledger.xlsx?{query}", user).data))
        in_xlsx = [row[0] for row in book.active.iter_rows(min_row=2, values_only=True)]
        assert in_xlsx == [row[0] for row in rows[1:]]
        return in_xlsx

    for user in ("hrss", "receiver", "leader"):
        assert exported("month=2026-10", user) == [i["case_no"] for i in ledger(api, "month=2026-10", user)["items"]]
    hostile = "%27%3B%20DROP%20TABLE%20mediation_case%3B%20--%5C%25"  # '; DROP TABLE mediation_case; --\%
    assert exported(f"month=2026-10&q={hostile}", "leader") == []
    assert len(exported("month=2026-10", "leader")) == 7  # nothing happened to the cases
