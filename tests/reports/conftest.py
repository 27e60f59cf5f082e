"""A known month of cases, built through the API with the test clock, for the report tests.

October 2026 (after the National Day holidays), in the `org` world of tests/conftest.py plus a county
receiver. What happens to each case is written next to it; tests/reports/test_ranking.py and
test_ledger.py assert the numbers that follow from docs/reports.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.scenarios.conftest import Scenario, shipped_bundle

START = "2026-10-12T09:00:00+08:00"  # a Monday
FRIDAY = "2026-10-16T10:00:00+08:00"
TUESDAY = "2026-10-20T09:30:00+08:00"
AFTER = "2026-11-02T10:00:00+08:00"  # the report is read after October is over


def county_case(sc: Scenario, title: str, departments: list[str]) -> str:
    """A labour case filed at the county window, triaged to joint mediation with `departments`."""
    case_no = sc.intake("receiver_county", title=title, description=title + "，请求协调", category="labour",
                        location={"org_unit": "county", "address": "县城"})
    sc.do("receiver_county", case_no, "intake", {"category": "labour"})
    sc.do("mediator", case_no, "triage", {"route": "joint", "departments": departments, "services": []})
    return case_no


def finish_reply(sc: Scenario, case_no: str, *, solved: bool, satisfied: bool) -> None:
    sc.do("mediator", case_no, "meeting", {"agreement_reached": True, "meeting_minutes": "达成一致"})
    sc.do("mediator", case_no, "draft_reply", {"reply_text": "已协调处理", "resolved": True})
    sc.do("leader", case_no, "approve_reply", {"reply_approved": True})
    sc.do("mediator", case_no, "callback", {"solved": solved, "satisfied": satisfied})


@pytest.fixture
def month(api: Any, database: Any) -> Iterator[dict[str, str]]:
    """Seven cases in October 2026; the clock ends at 2026-11-02 10:00. Returns {letter: case_no}."""
    password = type(api).token.__globals__["TEST_PASSWORD"]
    r = api.post("/users", "admin", json={"username": "receiver_county", "password": password,
                                          "roles": ["receiver"], "org_unit": "county"})
    assert r.status_code == 201, r.get_json()
    r = api.deploy(shipped_bundle())
    assert r.status_code == 201, r.get_json()
    sc = Scenario(api)
    sc.start_clock_at(START)
    cases: dict[str, str] = {}
    # A: village1 (河口镇), settled on the spot the same day
    cases["A"] = sc.intake("receiver", title="邻居占道堆放杂物", description="村道堆放建材", category="neighbour")
    sc.do("receiver", cases["A"], "intake", {"category": "neighbour", "on_the_spot": True})
    sc.do("receiver", cases["A"], "settle", {"settled": True, "settle_result": "当场清理"})
    # B: county, hrss answers on time, the citizen is satisfied
    cases["B"] = county_case(sc, "工地欠薪甲", ["hrss"])
    sc.do("hrss", cases["B"], "department_opinion", {"action": "opinion", "text": "责令支付"}, "hrss")
    finish_reply(sc, cases["B"], solved=True, satisfied=True)
    # C: county, hrss answers; justice returns the dispatch, re-dispatched to housing, which answers late
    cases["C"] = county_case(sc, "工地欠薪乙", ["hrss", "justice"])
    sc.do("hrss", cases["C"], "department_opinion", {"action": "opinion", "text": "已立案"}, "hrss")
    sc.do("justice", cases["C"], "department_opinion", {"action": "return", "text": "不属本局职责"}, "justice")
    sc.do("mediator", cases["C"], "redispatch", {"new_department": "housing"})
    # D: county, hrss asks for 3 more working days (approved) and answers within them
    cases["D"] = county_case(sc, "工地欠薪丙", ["hrss"])
    sc.do("hrss", cases["D"], "department_opinion", {"action": "extension", "text": "需核实", "extension_days": 3},
          "hrss")
    sc.do("leader", cases["D"], "approve_extension", {"extension_approved": True})
    # E: county, justice never answers
    cases["E"] = county_case(sc, "工地欠薪丁", ["justice"])
    # F: town2 (山前镇), filed by the admin; accepted and settled three days late
    cases["F"] = sc.intake("admin", title="商铺噪音扰民", description="夜间噪音", category="neighbour",
                           location={"org_unit": "town2", "address": "山前镇街道"})

    sc.set_clock(FRIDAY)
    sc.do("housing", cases["C"], "department_opinion", {"action": "opinion", "text": "督促垫付"}, "housing")
    finish_reply(sc, cases["C"], solved=False, satisfied=False)  # reopens: back to triage
    sc.do("hrss", cases["D"], "department_opinion", {"action": "opinion", "text": "已核实"}, "hrss")
    sc.do("admin", cases["F"], "intake", {"category": "neighbour", "on_the_spot": True})
    sc.do("admin", cases["F"], "settle", {"settled": True, "settle_result": "商户承诺整改"})

    # G: village1 (河口镇), filed and never accepted
    sc.set_clock(TUESDAY)
    cases["G"] = sc.intake("receiver", title="宅基地边界", description="院墙位置争执", category="neighbour")
    sc.set_clock(AFTER)
    yield cases
