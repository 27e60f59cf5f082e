"""The intake page: defaults, errors next to the fields, duplicates before saving, the number and QR code."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.test_case_page import XSS, deploy_shipped, file_case, page
from tests.web.test_login import csrf, login


@pytest.fixture
def shipped(api: Any) -> Any:
    deploy_shipped(api)
    return api


def form(html: str, **values: str) -> dict[str, str]:
    data = {"csrf_token": csrf(html), "title": "拖欠工资", "description": "工地拖欠三个月工资", "category": "labour",
            "urgency": "normal", "channel": "grid", "citizen_name": "王五", "citizen_phone": "139-1234-5678",
            "org_unit": "village1", "address": "柳树村3组"}
    data.update(values)
    return data


def selected(html: str, name: str) -> str:
    block = html.split(f'name="{name}"', 1)[1].split("</select>", 1)[0]
    return re.search(r'<option value="([^"]*)" selected', block).group(1)


def test_intake_defaults_and_roles(shipped, client, app):
    login(client, "receiver")
    status, html = page(client, "/intake")
    assert status == 200 and "受理登记" in html
    assert selected(html, "channel") == "grid"  # a village receiver is a grid worker
    assert selected(html, "org_unit") == "village1"
    assert "县级" not in html.split('name="org_unit"')[1].split("</select>")[0]  # only places within the village
    for label in ("劳动争议/欠薪", "土地山林", "婚姻家庭", "邻里纠纷", "物业管理", "医疗纠纷", "交通事故", "征地拆迁",
                  "消费纠纷", "环境污染", "其他"):
        assert label in html, label
    assert 'hx-get="/intake/duplicates"' in html

    login(client, "mediator")
    html = page(client, "/intake")[1]
    assert selected(html, "channel") == "walk_in" and selected(html, "org_unit") == "county"
    assert "柳树村" in html and "河口镇" in html

    login(client, "hrss")
    assert client.get("/intake").status_code == 403
    assert app.test_client().get("/intake").status_code == 302  # not logged in


def test_errors_are_shown_next_to_the_fields_and_values_kept(shipped, client):
    login(client, "receiver")
    html = page(client, "/intake")[1]
    r = client.post("/intake", data=form(html, title="  ", citizen_phone="abc", category="", org_unit="county",
                                         description="村口<b>施工</b>噪音"))
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="err-title">必填' in html
    assert 'id="err-citizen_phone">请填写正确的电话号码' in html
    assert 'id="err-category">请选择事项类别' in html
    assert 'id="err-org_unit">请选择您可登记的地点' in html
    assert "村口&lt;b&gt;施工&lt;/b&gt;噪音</textarea>" in html  # kept, escaped
    assert 'value="abc"' in html and 'value="王五"' in html
    assert 'aria-invalid="true" aria-describedby="err-title"' in html
    r = client.post("/intake", data=form(html, title="x" * 301))
    assert r.status_code == 422 and "最多 300 个字" in r.get_data(as_text=True)


def test_success_shows_the_number_big_with_a_qr_code(shipped, client):
    login(client, "receiver")
    html = page(client, "/intake")[1]
    r = client.post("/intake", data=form(html, title=XSS))
    assert r.status_code == 302
    done = r.headers["Location"]
    status, html = page(client, done)
    assert status == 200 and "登记成功" in html
    case_no = re.search(r'id="case-no">([^<]+)<', html).group(1)
    assert re.fullmatch(r"QX-\d{4}-\d{6}", case_no)
    assert "<svg" in html and 'class="segno"' in html
    assert f"http://localhost/track?case_no={case_no}" in html
    assert f'href="/cases/{case_no}"' in html and 'href="/intake"' in html
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    r = shipped.get(f"/cases/{case_no}", "admin").get_json()
    assert (r["channel"], r["category"], r["citizen"], r["location"]) == \
        ("grid", "labour", {"name": "王五", "phone": "139-1234-5678"}, {"org_unit": "village1", "address": "柳树村3组"})
    login(client, "mediator_town")  # the done page is a case page: the same scope
    assert client.get(done).status_code == 200
    login(client, "hrss")
    assert client.get(done).status_code == 404


def test_possible_duplicates_before_saving(shipped, client):
    api = shipped
    first = file_case(api, "receiver", title="工地欠薪", category="labour")
    other = file_case(api, "receiver", title="邻里纠纷", category="neighbour",
                      citizen={"name": "李四", "phone": "13911112222"})
    login(client, "receiver")

    # as the fields change (htmx): same place and category, or the same phone
    html = page(client, "/intake/duplicates?org_unit=village1&category=labour&citizen_phone=")[1]
    assert first in html and other not in html and "可能是同一件事" in html
    html = page(client, "/intake/duplicates?org_unit=village1&category=family&citizen_phone=139 1111 2222")[1]
    assert other in html and first not in html
    assert page(client, "/intake/duplicates?org_unit=village1&category=family")[1].strip() == ""

    # on submit: shown, nothing saved, the person chooses
    html = page(client, "/intake")[1]
    r = client.post("/intake", data=form(html))
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert first in html and "仍然登记" in html and f'name="link" value="{first}"' in html
    assert 'value="王五"' in html  # the form is kept
    assert len(api.get("/cases", "admin").get_json()["items"]) == 2

    r = client.post("/intake", data=form(html, link=first))  # the same matter: recorded on the first case
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/cases/{first}")
    html = page(client, f"/cases/{first}")[1]
    assert "已记入已有事项" in html and "群众再次反映" in html
    assert len(api.get("/cases", "admin").get_json()["items"]) == 2

    r = client.post("/intake", data=form(html, confirm="1"))  # a new matter after all
    assert r.status_code == 302 and "/intake/done/" in r.headers["Location"]
    assert len(api.get("/cases", "admin").get_json()["items"]) == 3


def test_duplicates_are_limited_to_the_users_scope(shipped, client):
    api: Any = shipped
    town_case = file_case(api, "mediator_town", title="河口镇欠薪", location={"org_unit": "town1"},
                          citizen={"name": "王五", "phone": "13912345678"})
    login(client, "receiver")  # the village does not see the township's case, even with the same phone
    assert town_case not in page(client, "/intake/duplicates?citizen_phone=13912345678")[1]
    login(client, "mediator_town")
    assert town_case in page(client, "/intake/duplicates?citizen_phone=13912345678")[1]
