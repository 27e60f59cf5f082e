"""The leader's hot spots and process monitor in a real browser: charts and diagram overlays with numbers."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import login


def _api_json(page: Any, path: str) -> Any:
    api = page.request
    token = api.post("/api/v1/auth/login", data={"username": "leader", "password": "onestop-demo"}).json()["token"]
    r = api.get(path, headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200, r.text()
    return r.json()


def test_leader_reads_hot_spots(desktop, shot):
    expected = _api_json(desktop, "/api/v1/reports/hotspots")
    login(desktop, "leader")
    desktop.goto("/reports")
    desktop.click("ul.reportcards a:has-text('热点')")
    expect(desktop.locator("h1")).to_have_text("热点")
    expect(desktop.locator("#chart-trend")).to_have_attribute("data-ready", "true")
    expect(desktop.locator("#chart-places")).to_have_attribute("data-ready", "true")
    # the chart drew something (pixels on the canvas) and the table under it has the API's numbers
    assert desktop.evaluate("document.getElementById('chart-trend').width") > 300
    assert expected["total"] > 0, "the demo seed files cases in the last weeks"
    expect(desktop.locator("#table-trend tfoot td.num strong")).to_have_text(str(expected["total"]))
    rows = desktop.locator("#table-trend tbody tr")
    expect(rows).to_have_count(len(expected["categories"]))
    first = expected["categories"][0]
    totals = rows.first.locator("td.num strong")
    expect(totals).to_have_text(str(first["total"]))
    if first["rising"]:
        expect(rows.first.locator(".pill.rising")).to_be_visible()
    expect(desktop.locator("#table-places tbody tr")).to_have_count(len(expected["places"]))
    shot(desktop, "hotspots")


def test_hot_spots_fit_a_phone(phone):
    login(phone, "leader")
    phone.goto("/reports/hotspots?weeks=4")
    expect(phone.locator("#chart-trend")).to_have_attribute("data-ready", "true")
    # the wide tables scroll inside their box; the page itself does not get wider than the phone
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360


def test_leader_watches_the_process_monitor(desktop, shot):
    expected = _api_json(desktop, "/api/v1/processes/mediation/monitor")
    waiting = {k: v for k, v in expected["steps"].items() if v["cases"]}
    assert waiting, "the demo has open cases"
    login(desktop, "leader")
    desktop.goto("/reports")
    desktop.click("ul.reportcards a:has-text('流程监控')")
    expect(desktop.locator("h1")).to_have_text("流程监控")
    expect(desktop.locator("#monitor-diagram")).to_have_attribute("data-ready", "true")
    badges = desktop.locator(".djs-overlay .m-badge")
    # badges on the top-level plane: steps of the root process that have cases (inner steps of
    # collapsed boxes are drawn on their own planes)
    assert badges.count() >= 1
    shown = {b.get_attribute("data-step"): b.inner_text() for b in badges.all() if b.is_visible()}
    assert shown
    for step, text in shown.items():
        assert re.match(rf"^{waiting[step]['cases']}\b", text.strip()), (step, text)
    shot(desktop, "monitor")

    # click the step with the most cases: its cases are listed, with links to the case page
    step = max(shown, key=lambda s: waiting[s]["cases"])
    desktop.locator(f".djs-overlay .m-badge[data-step='{step}']").click()
    items = desktop.locator("#step-cases ul.stepcases > li")
    expect(items).to_have_count(waiting[step]["tasks"])
    link = desktop.locator("#step-cases a.caseno").first
    href = link.get_attribute("href")
    assert href and href.startswith("/cases/QX-")
    link.click()
    expect(desktop.locator("h1 .caseno")).to_have_text(href.rsplit("/", 1)[-1])


def test_department_staff_may_not_open_reports(desktop):
    login(desktop, "dept_hrss")
    for path in ("/reports", "/reports/hotspots", "/reports/monitor"):
        response = desktop.goto(path)
        assert response is not None and response.status == 403, path


def test_monitor_fits_a_phone(phone):
    login(phone, "leader")
    phone.goto("/reports/monitor")
    expect(phone.locator("#monitor-diagram")).to_have_attribute("data-ready", "true")
    # the diagram pans inside its box and the wide table scrolls inside its own: the page stays 360 px wide
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    phone.locator("#steps-table a").first.click()
    expect(phone.locator("#step-cases ul.stepcases > li").first).to_be_visible()
