"""The leader's dashboard, the monthly ranking and the ledger in a real browser, on the demo data."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import login


def test_leader_dashboard_ranking_and_ledger(desktop, shot):
    page = desktop
    login(page, "leader")
    page.wait_for_url("**/dashboard")
    expect(page.locator("h1")).to_have_text("看板")
    expect(page.locator(".tile")).to_have_count(4)
    assert int(page.locator(".tile .n").nth(3).inner_text()) > 0  # the demo's open cases
    expect(page.locator(".rate")).to_have_count(3)
    shot(page, "dashboard-desktop")

    page.click("text=查看月度考核排名")
    expect(page.locator("h1")).to_contain_text("月度考核排名")
    rows = page.locator("table.ranking tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 1
    shot(page, "ranking-desktop")
    page.click("nav.tabs >> text=按乡镇")
    expect(page.locator("table.ranking tbody tr")).to_have_count(2)  # 河口镇 and 山前镇

    page.goto("/reports/ledger")
    expect(page.locator("h1")).to_have_text("台账")
    expect(page.locator("table.ledger tbody tr").first).to_be_visible()
    with page.expect_download() as download:
        page.click("text=导出 Excel")
    assert download.value.suggested_filename.endswith(".xlsx")
    shot(page, "ledger-desktop")


def test_dashboard_on_a_phone(phone, shot):
    login(phone, "leader")
    phone.wait_for_url("**/dashboard")
    expect(phone.locator(".tile").first).to_be_visible()
    # nothing wider than the phone
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    shot(phone, "dashboard-phone")
