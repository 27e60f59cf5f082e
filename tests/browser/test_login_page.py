"""The login page in a real browser, on a phone and on a desktop."""

from __future__ import annotations

from tests.browser.conftest import login


def test_login_wrong_then_right(phone, shot):
    phone.goto("/login")
    assert phone.locator("h1").inner_text() == "登录"
    shot(phone, "login-phone")
    login(phone, "mediator", "not-the-password")
    assert "用户名或密码错误" in phone.locator("[role=alert]").inner_text()
    login(phone, "mediator")
    assert "/login" not in phone.url


def test_english_switch(desktop):
    desktop.goto("/login")
    desktop.click("text=English")
    assert desktop.locator("h1").inner_text() == "Log in"
