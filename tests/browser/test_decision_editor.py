"""The decision table editor in a real browser: the demo leader changes one deadline cell, tries it, publishes,
and the next urgent case gets the new accept deadline while the case filed before keeps its own."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import login

PASSWORD = "onestop-demo"


def _api(page: Any, method: str, path: str, user: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    r = page.request.post("/api/v1/auth/login", data={"username": user, "password": PASSWORD})
    assert r.status == 200, r.text()
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    r = page.request.fetch(f"/api/v1{path}", method=method, headers=headers, data=body)
    assert r.status in (200, 201), r.text()
    return r.json()


def urgent_case(page: Any) -> tuple[str, timedelta]:
    """File an urgent matter as the village grid worker; give its number and accept deadline - filing time."""
    filed = _api(page, "POST", "/cases", "receiver", {
        "title": "工地塔吊下讨薪，情绪激动", "description": "十余名工人讨要三个月工资，聚集在工地门口。",
        "channel": "grid", "category": "labour", "urgency": "urgent",
        "citizen": {"name": "钱大勇", "phone": "13700001111"}, "location": {"org_unit": "liushu"}})
    case = _api(page, "GET", f"/cases/{filed['case_no']}", "mediator")
    created = next(e["at"] for e in case["timeline"] if e["kind"] == "case_created")
    return case["case_no"], datetime.fromisoformat(case["deadlines"]["accept"]) - datetime.fromisoformat(created)


def test_leader_changes_a_deadline_tries_it_and_publishes(desktop, shot):
    page = desktop
    before_no, before = urgent_case(page)
    assert timedelta(hours=2) - timedelta(seconds=5) <= before <= timedelta(hours=2)

    login(page, "leader")
    page.wait_for_load_state()
    page.goto("/studio/decisions")
    page.click("a[href='/studio/decisions/deadline_rules']")
    expect(page.locator("h1")).to_have_text("期限规则")
    version = int(page.locator("#dt-state").evaluate("el => JSON.parse(el.textContent).version"))
    expect(page.locator("#dt-lint-summary")).to_contain_text("没有发现问题")

    # the urgent row's accept limit: 2 hours -> 4 hours
    cell = page.locator('#dt-table tr[data-rule="0"] td[data-kind="output"][data-column="1"] input')
    expect(cell).to_have_value("2")
    cell.fill("4")

    # try it before publishing: the unpublished table answers, and the matched row lights up
    page.select_option("#dt-try select[name=deadline_class]", '"urgent"')
    page.click("#dt-try-button")
    expect(page.locator('#dt-outputs dd[data-output="dl_accept"]')).to_have_text("4")
    expect(page.locator('#dt-outputs dd[data-output="dl_unit"]')).to_have_text("hours")
    expect(page.locator("#dt-try-result .dt-hit")).to_have_text("命中规则 1")
    expect(page.locator('#dt-table tr[data-rule="0"]')).to_have_class("matched")
    expect(page.locator('#dt-table tr[data-rule="2"]')).to_have_class("dt-default also-matching")

    # a typo is shown on its cell as the leader types, and fixed again
    case_cell = page.locator('#dt-table tr[data-rule="1"] td[data-kind="input"][data-column="0"]')
    case_cell.locator("input").fill("complex")
    expect(case_cell.locator(".dt-issue.error")).to_contain_text('complex 缺少引号')
    expect(page.locator("#dt-lint-summary .dt-count")).to_have_text("错误 1")
    case_cell.locator("input").fill('"complex"')
    expect(case_cell.locator(".dt-issue")).to_have_count(0)
    expect(page.locator("#dt-lint-summary")).to_contain_text("没有发现问题")
    shot(page, "decision-editor")

    page.fill("#dt-note", "紧急事项受理时限由 2 小时改为 4 小时")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#dt-publish")
    expect(page.locator("#dt-status.ok")).to_contain_text(f"已发布为第 {version + 1} 版")
    page.wait_for_load_state()
    expect(page.locator(".dt-head .pill").first).to_have_text(f"第 {version + 1} 版", timeout=10000)

    # the next urgent case is due 4 hours after filing; the one filed before keeps its 2 hours
    _no, after = urgent_case(page)
    assert timedelta(hours=4) - timedelta(seconds=5) <= after <= timedelta(hours=4)
    old = _api(page, "GET", f"/cases/{before_no}", "mediator")
    created = next(e["at"] for e in old["timeline"] if e["kind"] == "case_created")
    assert datetime.fromisoformat(old["deadlines"]["accept"]) - datetime.fromisoformat(created) == before

    body = _api(page, "GET", "/decisions/deadline_rules", "mediator")
    assert (body["version"], body["published_by"], body["table"]["rules"][0]["outputs"][1]) == (
        version + 1, "leader", "4")


def test_a_mediator_reads_and_tries_on_a_phone(phone):
    login(phone, "mediator")
    phone.wait_for_load_state()
    phone.goto("/studio/decisions/classification")
    expect(phone.locator("h1")).to_have_text("事项分类")
    expect(phone.locator(".dt-head")).to_contain_text("只读")
    assert phone.locator("#dt-publish").count() == 0
    assert phone.locator("#dt-table input").count() == 0
    phone.select_option("#dt-try select[name=category]", '"medical"')
    phone.select_option("#dt-try select[name=urgency]", '"normal"')
    phone.click("#dt-try-button")
    expect(phone.locator('#dt-outputs dd[data-output="lead_department"]')).to_have_text("health")
    expect(phone.locator('#dt-outputs dd[data-output="services"]')).to_have_text('["legal_aid","psych"]')
    # the page itself does not scroll sideways on a 360 px phone; the wide table scrolls in its box
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
