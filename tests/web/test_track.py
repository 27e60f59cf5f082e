"""The citizen's tracking page: number + last 4 phone digits, nothing else leaks, attempts limited."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.web import track
from tests.web.test_case_page import XSS, county_case, deploy_shipped, do, file_case, to_callback


@pytest.fixture
def shipped(api: Any) -> Any:
    deploy_shipped(api)
    return api


def look_up(client: Any, case_no: str, digits: str) -> Any:
    from tests.web.test_login import csrf

    html = client.get(f"/track?case_no={case_no}").get_data(as_text=True)
    return client.post("/track", data={"case_no": case_no, "digits": digits, "csrf_token": csrf(html)})


def test_right_digits_show_progress_without_staff_or_party_data(shipped, client):
    api = shipped
    case_no = county_case(api, title=XSS, description="十二名农民工工资未付（内部描述）",
                          citizen={"name": "张三", "phone": "138-0000-1234"})
    html = client.get(f"/track?case_no={case_no}").get_data(as_text=True)
    assert f'value="{case_no}"' in html and "手机号后四位" in html  # the QR code's link fills the number

    r = look_up(client, case_no, "1234")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and case_no in html
    assert "已报县社会治理中心，正在研究处理方式。" in html
    assert "召集研究期限" in html and "答复期限" in html
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'id="track-reply"' not in html and 'id="track-callback"' not in html
    to_callback(api, case_no, reply="工资已由总包单位垫付，请 9 月 15 日前到工地领取。")

    html = look_up(client, case_no, "1234").get_data(as_text=True)
    assert "已答复，工作人员将回访您。" in html
    assert "工资已由总包单位垫付，请 9 月 15 日前到工地领取。" in html
    assert "您反映的问题解决了吗？" in html and "您对办理结果满意吗？" in html
    # nothing else of the case: no description, no citizen name or phone, no staff, no departments' answers
    for secret in ("十二名农民工", "张三", "138-0000", "mediator", "人社局", "已责令限期支付", "总包单位垫付工资",
                   "admin", "hrss"):
        assert secret not in html, secret

    do(api, case_no, "callback", {"solved": True, "satisfied": True, "callback_note": "已收到"})
    html = look_up(client, case_no, "1234").get_data(as_text=True)
    assert "事项已办结。" in html and "工资已由总包单位垫付" in html and "您反映的问题解决了吗？" not in html
    assert "已收到" not in html


def test_settled_on_the_spot_shows_the_settlement_reply(shipped, client):
    api = shipped
    case_no = file_case(api, "receiver", category="neighbour")
    do(api, case_no, "intake", {"category": "neighbour", "on_the_spot": True}, user="receiver")
    do(api, case_no, "settle", {"settled": True, "settle_result": "双方同意移走杂物，当场化解。"}, user="receiver")
    html = look_up(client, case_no, "1234").get_data(as_text=True)
    assert "已当场化解，事项已办结。" in html and "双方同意移走杂物，当场化解。" in html


def test_wrong_number_or_digits_get_the_same_answer(shipped, client):
    api = shipped
    case_no = file_case(api, "receiver")
    other = file_case(api, "receiver", citizen={"name": "李四", "phone": "13900005678"})
    answers = []
    for number, digits in ((case_no, "9999"), ("QX-2000-000999", "1234"), (other, "1234"), (case_no, "12"),
                           (case_no, "")):
        r = look_up(client, number, digits)
        assert r.status_code == 200
        html = r.get_data(as_text=True)
        assert "没有查到该事项，请核对编号和手机号后四位。" in html
        # the CSRF token is signed with a timestamp: it may differ from one second to the next
        page = re.sub(r'name="csrf_token" value="[^"]*"', "", html.split("<main")[1])
        answers.append(page.replace(number, "N"))
    assert len(set(answers)) == 1  # nothing tells an existing number from a missing one
    assert "正在受理" in look_up(client, case_no.lower(), "1234").get_data(as_text=True)


def test_failed_attempts_are_limited_per_ip(shipped, client, app):
    case_no = file_case(shipped, "receiver")
    for _ in range(track.MAX_FAILURES):
        assert look_up(client, case_no, "0000").status_code == 200
    r = look_up(client, case_no, "1234")  # even the right digits wait now
    assert r.status_code == 429 and "查询次数过多" in r.get_data(as_text=True)
    other = app.test_client()  # another IP is not affected
    other.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert "正在受理" in look_up(other, case_no, "1234").get_data(as_text=True)

    limiter = track.AttemptLimiter(limit=2, window=0.0)  # failures age out of the window
    limiter.fail("a")
    limiter.fail("a")
    assert not limiter.blocked("a")


def test_tracking_needs_csrf_and_no_login(shipped, client):
    case_no = file_case(shipped, "receiver")
    assert client.get("/track").status_code == 200
    assert client.post("/track", data={"case_no": case_no, "digits": "1234"}).status_code == 400
