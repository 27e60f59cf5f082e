"""Intake on a phone, the case page with its diagram on a desktop, and the citizen's tracking page."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from tests.browser.conftest import login

CITIZEN_PHONE = "13912345678"


def phone_context(browser: object, live_server: str) -> object:
    return browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2,  # type: ignore
                               locale="zh-CN", base_url=live_server, is_mobile=True, has_touch=True)


@pytest.fixture
def second_phone(browser: object, live_server: str) -> Iterator[object]:
    """Another phone (another person) beside the `phone` fixture."""
    context = phone_context(browser, live_server)
    yield context.new_page()  # type: ignore[attr-defined]
    context.close()  # type: ignore[attr-defined]


def no_horizontal_scroll(page: object) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # type: ignore


def test_file_follow_and_track_a_case(phone, desktop, second_phone, shot):
    # a grid worker files a matter on the phone, in well under a minute
    started = time.monotonic()
    login(phone, "receiver")
    phone.wait_for_url("**/intake")
    assert phone.locator("h1").inner_text() == "受理登记"
    assert phone.locator("select[name=channel]").input_value() == "grid"
    phone.fill("input[name=title]", "村道旁鱼塘排水淹了邻居菜地")
    phone.select_option("select[name=category]", "labour")  # the demo has open wage cases in this village
    phone.wait_for_selector("#duplicates .warnbox")  # shown while typing (htmx), before anything is saved
    assert "可能是同一件事" in phone.locator("#duplicates").inner_text()
    phone.select_option("select[name=category]", "environment")
    phone.wait_for_selector("#duplicates .warnbox", state="detached")
    phone.fill("textarea[name=description]", "鱼塘放水冲毁邻居两分菜地，双方争执，要求赔偿。")
    phone.fill("input[name=citizen_name]", "赵大有")
    phone.fill("input[name=citizen_phone]", CITIZEN_PHONE)
    phone.fill("input[name=address]", "柳树村5组")
    assert no_horizontal_scroll(phone)
    shot(phone, "intake-phone")
    phone.click("form button.primary[type=submit]")
    if phone.locator("button[name=confirm]").count():  # a possible duplicate: a new matter after all
        phone.click("button[name=confirm]")
    phone.wait_for_url("**/intake/done/*")
    assert time.monotonic() - started < 60
    case_no = phone.locator("#case-no").inner_text().strip()
    assert re.fullmatch(r"QX-\d{4}-\d{6}", case_no)
    assert phone.locator("figure.qr svg").count() == 1
    assert phone.locator("figure.qr svg").bounding_box()["width"] >= 120
    assert no_horizontal_scroll(phone)
    shot(phone, "intake-done-phone")

    # the center's mediator opens the case at the office PC and sees the diagram, colored
    login(desktop, "mediator")
    desktop.wait_for_load_state()
    desktop.goto(f"/cases/{case_no}")
    assert desktop.locator("h1").inner_text() == case_no
    desktop.wait_for_selector("#case-diagram[data-ready=true]", timeout=15000)
    assert desktop.locator("#case-diagram .diagram svg").count() >= 1
    assert desktop.locator("#case-diagram .djs-element.d-active").count() >= 1
    assert desktop.locator("#case-diagram .djs-element.d-finished").count() >= 1
    fill = desktop.locator("#case-diagram .djs-element.d-active .djs-visual > :first-child").first.evaluate(
        "el => getComputedStyle(el).fill")
    assert fill == "rgb(219, 232, 251)"  # active steps are blue
    assert "村道旁鱼塘排水淹了邻居菜地" in desktop.locator("main").inner_text()
    assert "登记受理" in desktop.locator("#h-timeline + ol").inner_text()
    shot(desktop, "case-desktop")

    # the same page on the mediator's phone stays readable
    login(second_phone, "mediator")
    second_phone.wait_for_load_state()
    second_phone.goto(f"/cases/{case_no}")
    second_phone.wait_for_selector("#case-diagram[data-ready=true]", timeout=15000)
    assert no_horizontal_scroll(second_phone)
    shot(second_phone, "case-phone")

    # the citizen follows the matter on their own phone, without an account
    phone.context.clear_cookies()
    phone.goto(f"/track?case_no={case_no}")
    assert phone.locator("input[name=case_no]").input_value() == case_no
    phone.fill("input[name=digits]", CITIZEN_PHONE[-4:])
    phone.click("button[type=submit]")
    phone.wait_for_selector("#track-stage")
    assert "已登记，正在受理" in phone.locator("#track-stage").inner_text()
    text = phone.locator("main").inner_text()
    assert "赵大有" not in text and "鱼塘放水冲毁" not in text and "李红梅" not in text
    assert no_horizontal_scroll(phone)
    shot(phone, "track-phone")


def test_a_closed_case_shows_the_end_it_reached(desktop):
    """A long process fitted into the box is too small to read; a case that is done is shown at a
    readable size around its end event, as an open case is around its current task."""
    login(desktop, "admin")
    desktop.wait_for_load_state()
    desktop.goto("/cases?status=closed")
    desktop.locator("table a[href^='/cases/QX-']").first.click()
    desktop.wait_for_selector("#case-diagram[data-ready=true]", timeout=15000)
    assert desktop.locator("#case-diagram .djs-element.d-active").count() == 0
    scale = desktop.locator("#case-diagram svg .viewport").first.evaluate(
        "v => v.transform.baseVal.consolidate().matrix.a")
    assert scale >= 0.79
    box = desktop.locator("#case-diagram").bounding_box()
    # end events: a finished circle with the thick border
    ends = desktop.locator("#case-diagram .djs-element.d-finished .djs-visual > circle").evaluate_all(
        "cs => cs.filter(c => parseFloat(getComputedStyle(c).strokeWidth) >= 4)"
        ".map(c => { const r = c.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })")
    assert ends
    left, top, right, bottom = box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"]
    assert any(left <= x and x + w <= right and top <= y and y + h <= bottom for x, y, w, h in ends)
