"""The mediator's inbox and a task form in a real browser: on a 360 px phone and a 1366 px office screen."""

from __future__ import annotations

import itertools
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import login

_numbers = itertools.count(1)


def fresh_local_task(page: Any) -> tuple[str, str]:
    """A new matter filed in 柳树村 and accepted there, waiting for local mediation: (case_no, title)."""
    title = f"浏览器测试：邻居漏水纠纷 {next(_numbers)}"
    api = page.request
    token = api.post("/api/v1/auth/login", data={"username": "receiver", "password": "onestop-demo"}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    r = api.post("/api/v1/cases", headers=headers, data={
        "title": title, "description": "楼上卫生间漏水，渗到楼下，双方协商未果。", "channel": "grid",
        "citizen": {"name": "周桂兰", "phone": "13800002468"},
        "location": {"org_unit": "liushu", "address": "柳树村5组"}})
    assert r.status == 201, r.text()
    case_no = r.json()["case_no"]
    tasks = api.get(f"/api/v1/tasks?scope=group&case_no={case_no}", headers=headers).json()["items"]
    r = api.post(f"/api/v1/tasks/{tasks[0]['id']}/complete", headers=headers,
                 data={"data": {"category": "neighbour", "on_the_spot": False}})
    assert r.status == 200, r.text()
    return case_no, title


def test_mediator_works_a_task_on_the_phone(phone, shot):
    case_no, title = fresh_local_task(phone)
    login(phone, "mediator")
    phone.goto("/inbox")
    expect(phone.locator("h1")).to_have_text("待办")
    expect(phone.locator("table.inbox tbody tr").first).to_be_visible()
    # rows stack into cards: nothing wider than the phone
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    shot(phone, "inbox-phone")

    phone.fill("input[name=q]", case_no)
    phone.click("form.ib-search button:has-text('搜索')")
    expect(phone.locator("table.inbox tbody tr")).to_have_count(1)
    phone.click(f"table.inbox a:has-text('{title}')")
    expect(phone.locator("h1")).to_have_text("本级调处")
    expect(phone.locator(".tp-side")).to_contain_text("周桂兰")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    shot(phone, "task-phone")

    # leave the decision empty and let the server check it (the browser's own check is switched off)
    phone.fill("textarea[name=local_result]", "已电话联系双方，约定周五到现场调解。")
    phone.evaluate("""() => {
        const form = document.getElementById('task-form');
        form.noValidate = true;
        form.querySelectorAll('input[name=local_decision]').forEach(i => { i.checked = false; });
    }""")
    phone.click("#task-form .form-actions button.primary")
    expect(phone.locator("#f-local_decision .field-error")).to_have_text("必填")
    expect(phone.locator("textarea[name=local_result]")).to_have_value("已电话联系双方，约定周五到现场调解。")
    expect(phone.locator("#task-form [role=alert]").first).to_contain_text("请按提示修改")
    shot(phone, "task-error-phone")

    phone.check("input[name=local_decision][value=resolved]")
    phone.click("#task-form .form-actions button.primary")
    phone.wait_for_url(lambda url: "/tasks/" not in url)
    expect(phone.locator(".flash").first).to_contain_text(f"已提交“本级调处”（{case_no}）")


def test_inbox_on_the_office_screen_claims_with_htmx(desktop, shot):
    case_no, title = fresh_local_task(desktop)
    login(desktop, "mediator")
    desktop.goto("/inbox")
    expect(desktop.locator("table.inbox thead")).to_be_visible()
    expect(desktop.locator("table.inbox")).to_contain_text(title)
    shot(desktop, "inbox-desktop")

    row = desktop.locator("table.inbox tbody tr", has_text=title)
    mine = desktop.locator(".ib-tabs a", has_text="我的").locator(".count")
    before = int(mine.inner_text())
    row.locator("button:has-text('认领')").click()
    expect(desktop.locator("#inbox .flash")).to_contain_text("已认领")
    expect(mine).to_have_text(str(before + 1))
    assert desktop.url.endswith("/inbox")  # swapped in place, no page load
    row.locator("button:has-text('退回')").click()
    expect(desktop.locator("#inbox .flash")).to_contain_text("已退回待认领")
    expect(mine).to_have_text(str(before))
    # the reassign form opens inside the row
    row.locator("a:has-text('转派')").click()
    expect(row.locator("select[name=assignee]")).to_be_visible()
    expect(row.locator("select[name=assignee] option", has_text="刘海波")).to_have_count(1)
    assert case_no


def test_a_file_over_the_limit_is_refused_before_it_is_uploaded(desktop):
    """Picking a file over the limit shows why at once, and the form does not go: on a village's line an
    upload of that size would take minutes to end in the server's same refusal."""
    case_no, title = fresh_local_task(desktop)
    login(desktop, "mediator")
    desktop.goto(f"/inbox?q={case_no}")
    desktop.click(f"table.inbox a:has-text('{title}')")
    expect(desktop.locator("h1")).to_have_text("本级调处")
    task_url = desktop.url
    limit = int(desktop.get_attribute("input[name=documents]", "data-max-bytes"))
    desktop.set_input_files("input[name=documents]", files=[
        {"name": "调解现场.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n" + b"0" * 100},
        {"name": "现场录像.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n" + b"0" * limit}])
    message = desktop.eval_on_selector("input[name=documents]", "el => el.validationMessage")
    assert message == "文件“现场录像.pdf”超过 10 MB。"
    posted: list[str] = []
    desktop.on("request", lambda request: posted.append(request.url) if request.method == "POST" else None)
    desktop.fill("textarea[name=local_result]", "已到现场查看。")
    desktop.click("#task-form .form-actions button.primary")
    desktop.wait_for_timeout(300)
    assert posted == [] and desktop.url == task_url
    # a file within the limit clears the refusal and goes with the form
    desktop.set_input_files("input[name=documents]", files=[
        {"name": "调解现场.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n" + b"0" * 100}])
    assert desktop.eval_on_selector("input[name=documents]", "el => el.validationMessage") == ""
    desktop.click("#task-form .form-actions button.primary")
    desktop.wait_for_url(lambda url: "/tasks/" not in url)
    expect(desktop.locator(".flash").first).to_contain_text(f"已提交“本级调处”（{case_no}）")
    desktop.goto(f"/cases/{case_no}")
    expect(desktop.locator("main")).to_contain_text("调解现场.pdf")


def test_the_triage_form_shows_the_fields_of_the_route_chosen(desktop):
    """Handing a matter down asks for the level, a joint mediation for the departments: the form shows the
    fields of the route picked, and a hidden one is not sent."""
    login(desktop, "mediator")
    token = desktop.request.post("/api/v1/auth/login",
                                 data={"username": "mediator", "password": "onestop-demo"}).json()["token"]
    tasks = desktop.request.get("/api/v1/tasks?scope=group",
                                headers={"Authorization": f"Bearer {token}"}).json()["items"]
    triage = next(t for t in tasks if t["name"] == "triage")
    desktop.goto(f"/tasks/{triage['id']}")
    level = desktop.locator("#f-hand_down_level")
    lead = desktop.locator("#f-lead_department")
    desktop.check("input[name=route][value=joint]")
    expect(level).to_be_hidden()
    expect(lead).to_be_visible()
    desktop.check("input[name=route][value=hand_down]")
    expect(level).to_be_visible()
    expect(lead).to_be_hidden()
    assert desktop.eval_on_selector("#f-lead_department", "el => el.closest('fieldset[disabled]') !== null")
    sent = desktop.evaluate("() => [...new FormData(document.getElementById('task-form')).keys()]")
    assert "hand_down_level" in sent and "lead_department" not in sent and "departments" not in sent
    desktop.check("input[name=route][value=joint]")
    expect(level).to_be_hidden()
    expect(lead).to_be_visible()
