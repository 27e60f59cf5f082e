"""The dashboard, ranking and ledger pages as a leader sees them (server-rendered, same numbers)."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from tests.web.test_login import csrf, login


def test_leader_lands_on_the_dashboard(client, api, month):
    login(client, "leader")
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/dashboard")
    html = client.get("/dashboard").get_data(as_text=True)
    assert "本月三率" in html and "2026-11" in html and "2026-10" in html
    # Monday 2 November: nothing came in today; C, D, E and G are open and overdue
    tiles = {v: int(k) for k, v in re.findall(r'<span class="n">(\d+)</span><span>([^<]+)</span>', html)}
    assert tiles == {"今日受理": 0, "今日到期待办": 0, "超期事项": 4, "在办事项": 4}
    # the supervision tasks the timers opened for the leaders are waiting for them
    assert html.count('class="caseno"') >= 4 and "督办" in html
    # each says what it supervises: E's silent department, G's intake (two on one case would differ)
    assert "司法局逾期未反馈" in html and "受理时限已过" in html
    # the area's rates of October: response 5/7 (A, B, C, D, E on time; F late; G never), solved 3/4
    assert "上月 71.4%" in html and "上月 75.0%" in html and "上月 50.0%" in html


def test_ranking_page_links_every_number_to_its_cases(client, api, month):
    login(client, "leader")
    html = client.get("/reports/ranking?month=2026-10&by=department").get_data(as_text=True)
    assert html.index("住建局") < html.index("司法局") < html.index("人社局")
    assert "/reports/ledger?month=2026-10&amp;by=department&amp;unit=justice&amp;metric=returned" in html
    drill = client.get("/reports/ledger?month=2026-10&by=department&unit=justice&metric=returned")
    text = drill.get_data(as_text=True)
    assert drill.status_code == 200 and month["C"] in text and month["E"] not in text and "共 1 件" in text
    assert re.search(r'class="card drill">[^<]*2026-10 · 司法局 ·', text)  # the card names the unit
    assert client.get("/reports/ranking?month=2026-99").status_code == 422
    page = client.get("/reports/ranking?month=2026-10").get_data(as_text=True)
    r = client.post("/reports/ranking/weights", data={"csrf_token": csrf(page), "month": "2026-10", "by": "department",
                                                      "response": "100", "resolution": "0", "satisfaction": "0",
                                                      "on_time": "0"})
    assert r.status_code == 302
    assert api.get("/reports/weights", "leader").get_json() == {"response": 100, "resolution": 0, "satisfaction": 0,
                                                                "on_time": 0}
    r = client.post("/reports/ranking/weights", data={"csrf_token": csrf(page), "response": "90"})
    assert api.get("/reports/weights", "leader").get_json()["response"] == 100  # refused: the sum is not 100


def test_ledger_page_and_its_downloads(client, api, month):
    login(client, "leader")
    html = client.get("/reports/ledger?month=2026-10").get_data(as_text=True)
    assert all(no in html for no in month.values()) and "共 7 件" in html
    assert client.get("/reports/ledger?from=bad").status_code == 422
    r = client.get("/reports/ledger.xlsx?month=2026-10&overdue=1")
    rows = list(load_workbook(io.BytesIO(r.data)).active.iter_rows(values_only=True))
    assert [row[0] for row in rows[1:]] == [month[k] for k in "GEDC"]
    assert client.get("/reports/ledger.csv?month=2026-10").data.decode().count("\n") == 8


def test_others_do_not_see_rankings_or_the_dashboard(client, api, month):
    login(client, "receiver")
    assert client.get("/reports/ranking").status_code == 403
    assert client.get("/dashboard").status_code == 403
    html = client.get("/reports/ledger?month=2026-10").get_data(as_text=True)
    assert month["A"] in html and month["B"] not in html
