"""The monthly assessment of a known month (tests/reports/conftest.py), column by column."""

from __future__ import annotations

import pytest

COLUMNS = ("code", "rank", "dispatched", "closed_on_time", "closed_late", "still_open", "overdue", "returned",
           "extensions", "response_rate", "resolution_rate", "satisfaction_rate", "on_time_rate", "score",
           "previous_rank", "previous_score", "score_change")


def rows(api, user="leader", **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    r = api.get(f"/reports/ranking?{query}", user)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def table(body):
    return [tuple(row[c] for c in COLUMNS) for row in body["rows"]]


def test_department_ranking_of_october_worst_first(api, month):
    body = rows(api, month="2026-10", by="department")
    assert (body["month"], body["by"], body["complete"]) == ("2026-10", "department", True)
    assert body["weights"] == {"response": 30, "resolution": 35, "satisfaction": 35, "on_time": 0}
    assert [r["name"] for r in body["rows"]] == ["住建局", "司法局", "人社局"]
    assert table(body) == [
        # housing: C re-dispatched from justice, answered two days late; the citizen was not satisfied
        ("housing", 1, 1, 0, 1, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, None, None, None),
        # justice: returned C on time; never answered E (open and overdue at the end of October)
        ("justice", 2, 2, 0, 0, 1, 1, 1, 0, 50.0, None, None, 0.0, 50.0, None, None, None),
        # hrss (lead of B, C, D, E): on time on B, C, D (D after an approved extension), silent on E;
        # callbacks: B solved and satisfied, C neither
        ("hrss", 3, 4, 3, 0, 1, 1, 0, 1, 75.0, 50.0, 50.0, 75.0, 57.5, None, None, None),
    ]


def test_township_ranking_of_october(api, month):
    body = rows(api, month="2026-10", by="township")
    assert table(body) == [
        # town2: F accepted and settled three days late; closed without a callback (resolved)
        ("town2", 1, 1, 0, 1, 0, 0, 0, 0, 0.0, 100.0, None, 0.0, 53.8, None, None, None),
        # town1: A settled on the spot in time; G never accepted (overdue)
        ("town1", 2, 2, 1, 0, 1, 1, 0, 0, 50.0, 100.0, None, 50.0, 76.9, None, None, None),
    ]
    assert [r["name"] for r in body["rows"]] == ["山前镇", "河口镇"]


def test_november_carries_the_open_work_and_last_month(api, month):
    body = rows(api, month="2026-11", by="department")
    assert body["complete"] is False
    assert table(body) == [
        ("hrss", None, 0, 0, 0, 1, 1, 0, 0, None, None, None, 0.0, None, 3, 57.5, None),
        ("justice", None, 0, 0, 0, 1, 1, 0, 0, None, None, None, 0.0, None, 2, 50.0, None),
    ]
    body = rows(api, month="2026-11", by="township")
    assert table(body) == [
        ("town1", None, 0, 0, 0, 1, 1, 0, 0, None, None, None, 0.0, None, 2, 76.9, None),
        ("town2", None, 0, 0, 0, 0, 0, 0, 0, None, None, None, None, None, 1, 53.8, None),
    ]


def test_weights_are_a_setting_leaders_change(api, month):
    assert api.get("/reports/weights", "leader").get_json()["response"] == 30
    bad = api.call("PUT", "/reports/weights", "leader", json={"response": 50, "resolution": 35, "satisfaction": 35})
    assert bad.status_code == 422 and "weights" in bad.get_json()["fields"]
    bad = api.call("PUT", "/reports/weights", "leader", json={"response": -1, "speed": 5})
    assert bad.status_code == 422 and set(bad.get_json()["fields"]) == {"response", "speed"}
    assert api.call("PUT", "/reports/weights", "hrss", json={"response": 100}).status_code == 403
    assert api.get("/reports/weights", "leader").get_json()["response"] == 30  # nothing changed
    r = api.call("PUT", "/reports/weights", "leader",
                 json={"response": 25, "resolution": 25, "satisfaction": 25, "on_time": 25})
    assert r.status_code == 200, r.get_json()
    body = rows(api, month="2026-10", by="department")
    # hrss: (75 + 50 + 50 + 75) / 4; justice: (50 + 0) / 2; housing 0
    assert [(r["code"], r["score"], r["rank"]) for r in body["rows"]] == \
        [("housing", 0.0, 1), ("justice", 25.0, 2), ("hrss", 62.5, 3)]


def test_drill_down_lists_the_cases_behind_a_number(api, month):
    def cases(**params):
        query = "&".join(f"{k}={v}" for k, v in {"month": "2026-10", **params}.items())
        r = api.get(f"/reports/ranking/cases?{query}", "leader")
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        assert body["total"] == len(body["items"])
        return [i["case_no"] for i in body["items"]]

    a, b, c, d, e, f, g = (month[k] for k in "ABCDEFG")
    assert cases(by="department", unit="hrss", metric="dispatched") == [e, d, c, b]
    assert cases(by="department", unit="hrss", metric="extensions") == [d]
    assert cases(by="department", unit="hrss", metric="response_rate") == [e]
    assert cases(by="department", unit="hrss", metric="satisfaction_rate") == [c]
    assert cases(by="department", unit="justice", metric="returned") == [c]
    assert cases(by="department", unit="justice", metric="overdue") == [e]
    assert cases(by="department", unit="housing", metric="closed_late") == [c]
    assert cases(by="township", unit="town1", metric="still_open") == [g]
    assert cases(by="township", unit="town1", metric="closed_on_time") == [a]
    assert cases(by="township", unit="town2", metric="on_time_rate") == [f]
    r = api.get("/reports/ranking/cases?month=2026-10&by=department&unit=hrss&metric=nonsense", "leader")
    assert r.status_code == 422 and "metric" in r.get_json()["fields"]
    r = api.get("/reports/ranking/cases?month=2026-10&by=department&unit=nobody&metric=dispatched", "leader")
    assert r.status_code == 422 and "unit" in r.get_json()["fields"]


def test_who_may_read_rankings(api, month):
    own = rows(api, "hrss", month="2026-10", by="department")
    assert table(own) == [("hrss", 3, 4, 3, 0, 1, 1, 0, 1, 75.0, 50.0, 50.0, 75.0, 57.5, None, None, None)]
    assert api.get("/reports/ranking?month=2026-10&by=township", "hrss").status_code == 403
    r = api.get("/reports/ranking/cases?month=2026-10&by=department&unit=justice&metric=dispatched", "hrss")
    assert r.status_code == 422 and r.get_json()["fields"] == {"unit": "your own department only"}
    assert api.get("/reports/ranking?month=2026-10", "receiver").status_code == 403
    assert api.get("/reports/ranking?month=2026-10", "designer").status_code == 403
    assert api.get("/reports/ranking?month=2026-10").status_code == 401
    assert rows(api, "admin", month="2026-10", by="department")["rows"][0]["code"] == "housing"


def test_bad_ranking_requests_change_nothing(api, month):
    for query, field in (("month=2026-13", "month"), ("month=october", "month"), ("month=2027-01", "month"),
                         ("month=2026-10&by=village", "by")):
        r = api.get(f"/reports/ranking?{query}", "leader")
        assert r.status_code == 422, query
        assert field in r.get_json()["fields"], r.get_json()


def test_a_kept_month_is_served_until_it_is_older_than_the_setting(api, month, monkeypatch):
    """ONESTOP_REPORT_MAX_AGE: the current month's numbers are computed once and served, with the
    moment they are as of, until they are older than the setting; the drill-down lists the same."""
    from app.reports import metrics
    from tests.reports.conftest import county_case
    from tests.scenarios.conftest import Scenario

    monkeypatch.setattr(metrics, "LIVE_MAX_AGE", 120.0)
    first = rows(api, month="2026-11", by="department")
    hrss = {r["code"]: r for r in first["rows"]}["hrss"]
    assert (hrss["dispatched"], hrss["still_open"]) == (0, 1)
    sc = Scenario(api)
    county_case(sc, "工地欠薪丁", ["hrss"])  # a November dispatch to hrss
    kept = rows(api, month="2026-11", by="department")
    assert kept["as_of"] == first["as_of"] and kept["rows"] == first["rows"]
    drill = api.get("/reports/ranking/cases?month=2026-11&by=department&unit=hrss&metric=dispatched", "leader")
    assert drill.status_code == 200 and drill.get_json()["items"] == []
    sc.clock(advance="PT3M")
    fresh = rows(api, month="2026-11", by="department")
    assert fresh["as_of"] > first["as_of"]
    hrss = {r["code"]: r for r in fresh["rows"]}["hrss"]
    assert (hrss["dispatched"], hrss["still_open"]) == (1, 2)
    monkeypatch.setattr(metrics, "LIVE_MAX_AGE", 0.0)  # 0: every view computes
    county_case(sc, "工地欠薪戊", ["hrss"])
    hrss = {r["code"]: r for r in rows(api, month="2026-11", by="department")["rows"]}["hrss"]
    assert (hrss["dispatched"], hrss["still_open"]) == (2, 3)


def test_numbers_kept_while_a_month_ran_are_not_its_final_word(monkeypatch):
    """A month kept on its last evening is computed again once it is over (as of its end)."""
    from datetime import datetime

    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from app.reports import metrics
    from app.timeutil import LOCAL_TZ

    monkeypatch.setattr(metrics, "LIVE_MAX_AGE", 3600.0)
    monkeypatch.setattr(metrics, "_KEPT", type(metrics._KEPT)())
    session = Session(create_engine("sqlite://"))
    computed: list[str] = []

    def compute(label):
        return lambda _session, _period: computed.append(label) or label

    running = metrics.month_period(2026, 11, datetime(2026, 11, 30, 23, 50, tzinfo=LOCAL_TZ))
    over = metrics.month_period(2026, 11, datetime(2026, 12, 1, 0, 5, tzinfo=LOCAL_TZ))
    assert metrics._kept(session, running, ("x",), compute("running")) == ("running", running.as_of)
    assert metrics._kept(session, over, ("x",), compute("final")) == ("final", over.end)
    assert metrics._kept(session, over, ("x",), compute("again")) == ("final", over.end)
    assert computed == ["running", "final"]


def test_slow_numbers_are_kept_by_their_cost_and_computed_again_in_the_background(monkeypatch):
    """ONESTOP_REPORT_MAX_AGE unset: numbers that took 1 s are kept 60 s, then served once more while
    a thread computes them again, and computed on the spot when far older; cheap ones never kept."""
    import threading
    import time
    from collections import OrderedDict
    from datetime import datetime, timedelta

    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from app import clock
    from app.reports import metrics
    from app.timeutil import LOCAL_TZ

    class Work:
        """perf_counter for the numbers' computations: each takes `seconds`."""
        seconds = 1.0
        now = 0.0

        def perf_counter(self):
            self.now += self.seconds
            return self.now

    work = Work()
    monkeypatch.setattr(metrics, "time", work)
    monkeypatch.setattr(metrics, "LIVE_MAX_AGE", None)
    monkeypatch.setattr(metrics, "_KEPT", OrderedDict())
    monkeypatch.setattr(metrics, "_REFRESHING", set())
    session = Session(create_engine("sqlite://"))
    results = iter("ABCDE")
    computed_in: list[str] = []

    def compute(_session, _period):
        computed_in.append(threading.current_thread().name)
        return next(results)

    def kept():
        return metrics._kept(session, metrics.parse_month("2026-11"), ("x",), compute)

    clock.set_to(datetime(2026, 11, 10, 10, 0, tzinfo=LOCAL_TZ))
    first, first_as_of = kept()
    assert first == "A"
    clock.advance(timedelta(seconds=30))
    assert kept() == ("A", first_as_of)  # kept: younger than 60 × 1 s
    clock.advance(timedelta(seconds=100))
    assert kept() == ("A", first_as_of)  # served once more, while a thread computes them again
    deadline = time.monotonic() + 10
    while metrics._REFRESHING and time.monotonic() < deadline:
        time.sleep(0.01)
    value, as_of = kept()
    assert value == "B" and as_of > first_as_of + timedelta(seconds=120)
    assert computed_in[1].startswith("report-refresh-2026-11")
    clock.advance(timedelta(seconds=1000))  # beyond 10 × the keeping time: computed on the spot
    assert kept()[0] == "C" and computed_in[2] == threading.current_thread().name
    work.seconds = 0.1  # cheap: computed on every view
    monkeypatch.setattr(metrics, "_KEPT", OrderedDict())
    assert (kept()[0], kept()[0]) == ("D", "E")


def test_the_numbers_leaders_open_first_are_worked_out_after_start(api, month, database, monkeypatch):
    """`onestop serve` works out this month's and last month's rankings and the county's dashboard
    rates in a thread: kept (as slow numbers are), the leader's first views compute nothing."""
    from collections import OrderedDict

    from sqlalchemy import select

    from app.org.models import OrgUnit
    from app.reports import metrics
    from app.reports.ranking import warm_up

    live = {by: table(rows(api, by=by)) for by in metrics.BY}
    monkeypatch.setattr(metrics, "LIVE_MAX_AGE", None)
    monkeypatch.setattr(metrics, "SLOW", 0.0)  # every computation counts as slow here: all are kept
    monkeypatch.setattr(metrics, "KEEP_FACTOR", 10**9)
    monkeypatch.setattr(metrics, "_KEPT", OrderedDict())
    warm_up(database).join(timeout=60)

    def nothing_computed(*_args, **_kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(metrics.tally, "count", nothing_computed)
    assert {by: table(rows(api, by=by)) for by in metrics.BY} == live
    with database.unit_of_work(write=False) as session:
        county = session.scalar(select(OrgUnit).where(OrgUnit.parent_id.is_(None)))
        period = metrics.parse_month(None)
        for when in (period, metrics.previous(period)):
            metrics.month_area_row(session, when, county)
        with pytest.raises(AssertionError, match="computed again"):  # a month not worked out computes
            metrics.month_area_row(session, metrics.parse_month("2026-09"), county)
