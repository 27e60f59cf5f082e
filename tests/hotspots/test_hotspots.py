"""Hot spots: weekly counts by category and place, the rising rule, repeat petitioners and places.

Eleven cases are filed through the API at known moments; the report is read on Wednesday
2026-11-18, so the default 12 weeks run from Monday 2026-08-31 to Sunday 2026-11-22.
"""

from __future__ import annotations

import json
import re

from tests.web.test_login import login

NOW = "2026-11-18T10:00:00+08:00"
#: (when, org unit, category, citizen name, phone)
CASES = [
    ("2026-09-01T10:00:00+08:00", "county", "labour", "张三", "13800001234"),     # 1: week 1
    ("2026-10-27T10:00:00+08:00", "village1", "labour", "张三", "138-0000-1234"),  # 2: same phone
    ("2026-11-10T10:00:00+08:00", "village1", "labour", "李四", "13900000001"),    # 3
    ("2026-11-16T09:00:00+08:00", "town2", "labour", "王五", "13700000001"),       # 4
    ("2026-11-17T10:00:00+08:00", "village1", "labour", "赵六", "13600000001"),    # 5
    ("2026-09-08T10:00:00+08:00", "village1", "neighbour", "赵六", "13600000002"),  # 6: same name, same place
    ("2026-09-15T10:00:00+08:00", "town1", "neighbour", "孙七", "13500000001"),    # 7
    ("2026-09-22T10:00:00+08:00", "village1", "neighbour", "周八", "13500000002"),  # 8
    ("2026-11-11T10:00:00+08:00", "town2", "neighbour", "吴九", "13500000003"),    # 9
    ("2026-08-30T10:00:00+08:00", "village1", "labour", "张三", "13800001234"),    # 10: before the period
    ("2026-11-18T09:00:00+08:00", "county", None, "郑十", "13500000004"),          # 11: no category
]


def file_cases(flow) -> list[str]:
    numbers = []
    for when, unit, category, name, phone in CASES:
        flow.at(when)
        numbers.append(flow.intake(category=category, citizen={"name": name, "phone": phone},
                                   location={"org_unit": unit}))
    flow.at(NOW)
    return numbers


def get(flow, query: str = "", user: str = "leader"):
    r = flow.api.get(f"/reports/hotspots{query}", user)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_weeks_categories_places_and_the_rising_rule(flow):
    file_cases(flow)
    body = get(flow)
    assert body["filters"] == {"weeks": 12, "place": "county", "category": None}
    assert body["since"] == "2026-08-31T00:00:00+08:00" and body["until"] == "2026-11-23T00:00:00+08:00"
    assert body["weeks"][0] == "2026-08-31" and body["weeks"][-1] == "2026-11-16" and len(body["weeks"]) == 12
    assert body["total"] == 10
    assert body["week_totals"] == [1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 2, 3]
    assert body["rising_rule"] == {"recent_weeks": 4, "factor": 1.5, "min_cases": 3}
    rows = [(c["category"], c["counts"], c["total"], c["recent_weekly"], c["before_weekly"], c["rising"])
            for c in body["categories"]]
    assert rows == [
        # 4 cases in the last 4 weeks (1.0 a week) against 1 in the 8 before (0.125 a week): rising
        ("labour", [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2], 5, 1.0, 0.12, True),
        ("neighbour", [0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0], 4, 0.25, 0.38, False),
        (None, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 1, 0.25, 0.0, False),
    ]
    places = [(p["place"], p["own_level"], p["total"], p["by_category"], p["counts"][-4:]) for p in body["places"]]
    assert places == [
        ("county", True, 2, {"labour": 1, "": 1}, [0, 0, 0, 1]),
        ("town1", False, 6, {"labour": 3, "neighbour": 3}, [1, 0, 1, 1]),
        ("town2", False, 2, {"labour": 1, "neighbour": 1}, [0, 0, 1, 1]),
    ]


def test_repeat_petitioners_and_places(flow):
    numbers = file_cases(flow)
    body = get(flow)
    people = [(p["name"], p["phone"], p["count"], p["places"], p["categories"], [c["case_no"] for c in p["cases"]])
              for p in body["repeat_petitioners"]]
    assert people == [
        # the same name at the same village, with two numbers
        ("赵六", "136****0001", 2, ["柳树村"], ["labour", "neighbour"], [numbers[5], numbers[4]]),
        # the same number written two ways; the third case lies before the period
        ("张三", "138****1234", 2, ["柳树村", "青溪县"], ["labour"], [numbers[0], numbers[1]]),
    ]
    spots = [(r["place"], r["category"], r["count"], [c["case_no"] for c in r["cases"]]) for r in body["repeat_places"]]
    assert spots == [("柳树村", "labour", 3, [numbers[1], numbers[2], numbers[4]]),
                     ("柳树村", "neighbour", 2, [numbers[5], numbers[7]])]


def test_filters_and_scope(flow):
    file_cases(flow)
    labour = get(flow, "?category=labour")
    assert labour["total"] == 5 and [c["category"] for c in labour["categories"]] == ["labour"]
    village = get(flow, "?place=village1")
    assert village["total"] == 5 and [p["place"] for p in village["places"]] == ["village1"]
    assert village["week_totals"] == [0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 1]
    short = get(flow, "?weeks=4")
    assert short["weeks"] == ["2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16"] and short["total"] == 6
    assert short["rising_rule"]["recent_weeks"] == 1
    # with 4 weeks only the last one is "recent": 2 labour cases are too few to call it rising
    assert [(c["category"], c["counts"], c["rising"]) for c in short["categories"]] == [
        ("labour", [1, 0, 1, 2], False), ("neighbour", [0, 0, 1, 0], False), (None, [0, 0, 0, 1], False)]

    # a township leader sees the township and its villages only
    town = get(flow, user="leader_town")
    assert town["filters"]["place"] == "town1" and town["total"] == 6
    assert [(p["place"], p["total"]) for p in town["places"]] == [("town1", 1), ("village1", 5)]
    r = flow.api.get("/reports/hotspots?place=town2", "leader_town")
    assert r.status_code == 422 and r.get_json()["fields"] == {"place": "not within your org unit"}
    assert get(flow, user="admin")["total"] == 10


def test_bad_input_and_who_may_see(flow):
    for query, field in (("?weeks=0", "weeks"), ("?weeks=105", "weeks"), ("?weeks=abc", "weeks"),
                         ("?place=nowhere", "place"), ("?category=" + "x" * 65, "category")):
        r = flow.api.get(f"/reports/hotspots{query}", "leader")
        assert r.status_code == 422, query
        body = r.get_json()
        assert body["error"] == "invalid" and list(body["fields"]) == [field], query
    for user in ("hrss", "mediator", "receiver", "designer"):
        r = flow.api.get("/reports/hotspots", user)
        assert r.status_code == 403 and r.get_json()["error"] == "forbidden", user
    assert flow.api.get("/reports/hotspots").status_code == 401


def test_hotspots_page(flow, client):
    numbers = file_cases(flow)
    login(client, "leader")
    html = client.get("/reports/hotspots").get_data(as_text=True)
    assert "/vendor/chart.js/dist/chart.umd.js" in html and 'id="chart-trend"' in html
    data = json.loads(re.search(r'<script type="application/json" id="hotspots-data">(.*?)</script>', html,
                                re.S).group(1))
    assert data["trend"]["labels"][-1] == "11-16"
    first = data["trend"]["datasets"][0]
    assert (first["data"], first["rising"]) == ([1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2], True)
    assert data["petitioners"]["data"] == [2, 2] and data["repeatPlaces"]["data"] == [3, 2]
    foot = re.search(r"<tfoot>(.*?)</tfoot>", html, re.S).group(1)
    assert re.findall(r'<td class="num">(\d+)</td>', foot) == ["1", "1", "1", "1", "0", "0", "0", "0", "1", "0", "2",
                                                              "3"]
    assert "<strong>10</strong>" in foot
    town1 = re.search(r'<table class="grid" id="table-place-weeks">.*?<th scope="row">河口镇</th>(.*?)</tr>', html,
                      re.S).group(1)
    assert re.findall(r'<td class="num[^"]*">(\d+)</td>', town1) == ["0", "1", "1", "1", "0", "0", "0", "0", "1", "0",
                                                                    "1", "1"]
    assert html.count('class="pill rising"') == 2  # the note above the chart and the table row
    assert f'href="/cases/{numbers[2]}"' in html and "136****0001" in html and "13600000001" not in html
    r = client.get("/reports/hotspots?weeks=abc")
    assert r.status_code == 422 and "请输入 1 到 104 之间的整数周数" in r.get_data(as_text=True)
    login(client, "designer")
    assert client.get("/reports/hotspots").status_code == 403
