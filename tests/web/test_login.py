"""Logging in and out in the browser UI: session cookie, CSRF, lockout, language."""

from __future__ import annotations

import re

from tests.conftest import TEST_PASSWORD


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, username: str, password: str = TEST_PASSWORD):
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf(page)})


def test_login_page_is_chinese_by_default_and_english_on_request(client, org):
    html = client.get("/login").get_data(as_text=True)
    assert "用户名" in html and 'lang="zh-CN"' in html
    client.get("/lang/en")
    html = client.get("/login").get_data(as_text=True)
    assert "Username" in html and 'lang="en"' in html


def test_login_logout_and_protected_pages(client, org):
    assert client.get("/").status_code == 302
    r = login(client, "mediator")
    assert r.status_code == 302
    page = client.get("/login").get_data(as_text=True)
    r = client.post("/logout", data={"csrf_token": csrf(page)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")


def test_wrong_password_then_lockout(client, org):
    r = login(client, "mediator", "wrong-password")
    assert r.status_code == 401 and "用户名或密码错误" in r.get_data(as_text=True)
    for _ in range(4):
        r = login(client, "mediator", "wrong-password")
    assert "锁定" in r.get_data(as_text=True)
    r = login(client, "mediator")  # the right password does not help while locked
    assert r.status_code == 401 and "锁定" in r.get_data(as_text=True)


def test_post_without_csrf_is_refused(client, org):
    r = client.post("/login", data={"username": "mediator", "password": TEST_PASSWORD})
    assert r.status_code == 400


def test_next_only_follows_local_paths(client, org):
    page = client.get("/login").get_data(as_text=True)
    r = client.post("/login?next=//evil.example/x", data={"username": "mediator", "password": TEST_PASSWORD,
                                                          "csrf_token": csrf(page)})
    assert r.headers["Location"] == "/"


def test_vendor_files_only_from_allowed_folders(client):
    with client.get("/vendor/htmx.org/dist/htmx.min.js") as r:
        assert r.status_code == 200 and r.headers["Cache-Control"].startswith("public")
    assert client.get("/vendor/htmx.org/package.json").status_code == 404
    assert client.get("/vendor/../pyproject.toml").status_code == 404


def test_every_page_names_its_icon_and_the_icon_is_served(client, org):
    """Without one the browser asks for /favicon.ico on every page and logs a 404 in its console."""
    for path in ("/login", "/track"):
        html = client.get(path).get_data(as_text=True)
        icon = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', html)
        assert icon, path
    with client.get(icon.group(1)) as r:
        assert r.status_code == 200 and r.mimetype == "image/svg+xml" and b"<svg" in r.data
