"""What a failed request gets back: a page in the UI's language for a person, JSON for the API and the
UI's scripts, GeoReport errors for Open311 — also where no route answered (an unknown address, a
method the address does not take), which came out as Werkzeug's bare English HTML."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

from flask import Flask

from tests.web.test_inbox import client_for


def _page(response) -> str:
    html = response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert "The requested URL" not in html and "<title>404 Not Found</title>" not in html
    return html


def test_an_unknown_case_is_a_chinese_page_with_the_menu(app: Flask, org):
    mediator = client_for(app, "mediator")
    r = mediator.get("/cases/QX-2000-000001")
    assert r.status_code == 404
    html = _page(r)
    assert 'lang="zh-CN"' in html and "页面不存在" in html and "地址有误" in html
    assert 'href="/inbox"' in html and "回到待办" in html  # the menu and the way back, as on any page
    assert "favicon.svg" in html


def test_an_unknown_address_before_logging_in_offers_the_login(client, org):
    r = client.get("/no-such-page")
    assert r.status_code == 404
    html = _page(r)
    assert "页面不存在" in html and "/login?next=/no-such-page" in html
    client.get("/lang/en")
    html = _page(client.get("/no-such-page"))
    assert "Page not found" in html and 'lang="en"' in html


def test_forbidden_and_wrong_method_pages(app: Flask, org):
    mediator = client_for(app, "mediator")
    r = mediator.get("/studio")
    assert r.status_code == 403 and "无权访问" in _page(r)
    admin = client_for(app, "admin")
    r = admin.get("/studio/processes")  # an address that only takes POST
    assert r.status_code == 405 and "请从菜单进入" in _page(r)


def test_a_form_without_its_csrf_token_says_the_page_expired(app: Flask, org):
    mediator = client_for(app, "mediator")
    r = mediator.post("/tasks/1/claim", data={})
    assert r.status_code == 400 and "页面已过期" in _page(r)
    # the UI's scripts post JSON and show the answer's message
    r = mediator.post("/studio/decisions/x/draft", json={"table": {}}, headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.is_json
    assert r.get_json()["error"] == "csrf" and "刷新页面" in r.get_json()["message"]


def test_a_request_too_large_for_the_ui_names_the_limit(app: Flask, org):
    mediator = client_for(app, "mediator")
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    r = mediator.post("/intake", data={"description": "x" * (3 * 1024 * 1024)})
    assert r.status_code == 413
    html = _page(r)
    assert "提交的内容过大" in html and "2 MB" in html


def test_a_form_with_files_names_its_own_larger_limit(app: Flask, org, monkeypatch):
    """A task form's limit is its files' (five of 10 MB), not the app's: its 413 page names that one."""
    from app.web import attachments

    mediator = client_for(app, "mediator")
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    monkeypatch.setattr(attachments, "MAX_UPLOAD_REQUEST", 3 * 1024 * 1024)
    # checked on the declared length before the body is read (a real body this size would be spooled
    # to a file the test client never closes)
    r = mediator.post("/tasks/1", data={"materials": (io.BytesIO(b"%PDF-1.4"), "a.pdf")},
                      environ_overrides={"CONTENT_LENGTH": str(4 * 1024 * 1024)})
    assert r.status_code == 413 and "3 MB" in _page(r) and "2 MB" not in _page(r)


def test_a_failing_page_is_a_500_page_without_details(app: Flask, org, monkeypatch):
    from app.web import dashboard

    def broken(*_args, **_kwargs):
        raise RuntimeError("secret detail of the failure")

    monkeypatch.setattr(dashboard, "build", broken)
    leader = client_for(app, "leader")
    r = leader.get("/dashboard")
    assert r.status_code == 500
    html = _page(r)
    assert "系统出错了" in html and "secret detail" not in html and "Traceback" not in html
    assert 'href="/inbox"' in html  # the person is still recognized: the menu is there


def test_the_api_answers_unknown_addresses_and_methods_in_json(client, org):
    r = client.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.is_json and r.get_json()["error"] == "not_found"
    r = client.delete("/api/v1/cases")
    assert r.status_code == 405 and r.is_json and r.get_json()["error"] == "method_not_allowed"


def test_open311_answers_unknown_addresses_as_georeport_errors(client, org):
    r = client.get("/open311/v2/no-such-thing.json")
    assert r.status_code == 404 and r.is_json and r.get_json()[0]["code"] == 404
    r = client.get("/open311/v2/no-such-thing.xml")
    assert r.status_code == 404
    root = ET.fromstring(r.get_data())
    assert root.tag == "errors" and root.find("error/code").text == "404"
