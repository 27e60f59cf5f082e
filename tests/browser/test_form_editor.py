"""The form editor in a real browser: a designer adds a field, watches the preview follow, publishes, and reads
the new version's diff in the history; the editor also fits a 360 px phone."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import login


def test_designer_edits_a_form_sees_the_preview_and_publishes(desktop, shot):
    page = desktop
    login(page, "designer")
    page.goto("/studio/forms/callback.json")
    expect(page.locator("h1")).to_contain_text("表单设计")
    preview = page.locator("#fe-preview")
    expect(preview).to_contain_text("问题已解决")
    expect(preview).not_to_contain_text("回访方式")

    # add a field in the friendly list; the server rewrites the schema and the preview comes along
    page.click("button:has-text('添加字段')")
    key = page.locator("#f3_key")
    expect(key).to_have_value("field_4")
    expect(preview).to_contain_text("新字段")
    key.fill("callback_channel")
    page.fill("#f3_title", "回访方式 Channel")
    page.fill("#f3_options", "phone = 电话\nvisit = 上门")
    page.locator("#f3_options").press("Tab")  # the change event sends the list
    expect(preview.locator("legend")).to_contain_text(["回访方式"])
    expect(preview.locator("label.opt")).to_contain_text(["电话", "上门"])
    expect(page.locator("#fe-schema")).to_have_value(re.compile(r'"callback_channel": \{'))

    # a typo in the JSON shows where it is, right under the box, and the preview waits for the fix
    schema = page.locator("#fe-schema")
    schema.click()
    schema.press("Control+End")
    schema.type(",")
    errors = page.locator("#fe-schema-errors")
    expect(errors).to_contain_text("JSON 格式错误")
    expect(preview).to_contain_text("改正表单 JSON 的错误后显示预览")
    errors.locator(".fe-goto").first.click()  # jumps to the line
    schema.press("Control+End")
    schema.press("Backspace")
    expect(errors).to_be_empty()
    expect(preview).to_contain_text("回访方式")
    shot(page, "form-editor-desktop")

    page.fill("input[name=note]", "回访增加“回访方式”")
    page.click("button[value=publish]")
    expect(page.locator(".flash")).to_contain_text("已发布：callback.json v2, callback.ui.json v2")
    expect(page.locator(".fe-state")).to_contain_text("已发布第 2 版")
    expect(page.locator("#fe-preview")).to_contain_text("回访方式")

    # the history names the new field and who published it, with the note
    page.click("a:has-text('版本历史')")
    expect(page.locator("h1")).to_contain_text("callback.json")
    expect(page.locator("#v2")).to_contain_text("吴思远")
    expect(page.locator("#v2")).to_contain_text("回访增加“回访方式”")
    added = page.locator("ul.changes.added")
    expect(added).to_contain_text("回访方式 Channel")
    expect(added).to_contain_text("callback_channel")
    shot(page, "history-desktop")


def test_form_editor_on_a_phone_is_read_only_for_a_leader(phone, shot):
    login(phone, "leader")
    phone.goto("/studio/forms/intake.json")
    expect(phone.locator(".fe-state")).to_contain_text("只读")
    expect(phone.locator("#fe-schema")).to_have_attribute("readonly", "")
    expect(phone.locator("button[value=publish]")).to_have_count(0)
    expect(phone.locator("#fe-preview")).to_contain_text("事项类别")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    shot(phone, "form-editor-phone")
