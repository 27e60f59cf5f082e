"""Open311 GeoReport v2: discovery, services, filing and following requests with an API key, JSON and XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from app.open311 import service
from tests.web.test_case_page import deploy_shipped, do

BASE = "/open311/v2"


@pytest.fixture
def key(api: Any, database: Any, org: Any) -> str:
    """The shipped flow deployed and a key acting as the village receiver."""
    deploy_shipped(api)
    with database.unit_of_work() as s:
        _row, text = service.create_key(s, s.merge(org.users["receiver"]), "柳树村App")
    return text


def file(client: Any, key: str, fmt: str = "json", **fields: str) -> Any:
    body = {"api_key": key, "service_code": "labour", "description": "工地拖欠三个月工资。请尽快处理",
            "last_name": "张", "first_name": "三", "phone": "13800001234", "address_string": "柳树村3组",
            "lat": "30.25", "long": "120.16"}
    body.update(fields)
    return client.post(f"{BASE}/requests.{fmt}", data={k: v for k, v in body.items() if v is not None})


def test_services_list_the_case_categories_in_json_and_xml(key, client):
    r = client.get(f"{BASE}/services.json")
    assert r.status_code == 200
    labour = next(s for s in r.get_json() if s["service_code"] == "labour")
    assert labour["service_name"] == "劳动争议/欠薪" and labour["type"] == "realtime" and labour["metadata"] is True
    x = client.get(f"{BASE}/services.xml")
    assert x.headers["Content-Type"].startswith("text/xml")
    assert x.data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(x.data)
    assert root.tag == "services"
    assert [s.findtext("service_code") for s in root] == [s["service_code"] for s in r.get_json()]
    definition = client.get(f"{BASE}/services/labour.json").get_json()
    assert [a["code"] for a in definition["attributes"]] == ["title", "urgency"]
    assert client.get(f"{BASE}/services/nothing.json").status_code == 404
    assert client.get(f"{BASE}/services.yaml").status_code == 404
    assert client.get(f"{BASE}/services.json?jurisdiction_id=county").status_code == 200
    assert client.get(f"{BASE}/services.json?jurisdiction_id=mars").get_json() == [
        {"code": 404, "description": "jurisdiction_id mars not found"}]
    discovery = client.get(f"{BASE}/discovery.json").get_json()
    assert discovery["endpoints"][0]["url"].endswith("/open311/v2")


def test_file_and_follow_a_request(key, client, api):
    r = file(client, key)
    assert r.status_code == 201, r.get_json()
    [answer] = r.get_json()
    case_no = answer["service_request_id"]
    assert case_no.startswith("QX-") and case_no in answer["service_notice"]

    case = api.get(f"/cases/{case_no}", "admin").get_json()
    assert case["status"] == "open" and case["category"] == "labour"
    detail = api.get(f"/cases/{case_no}", "admin").get_json()
    assert detail["timeline"][0]["kind"] == "case_created"

    [req] = client.get(f"{BASE}/requests/{case_no}.json?api_key={key}").get_json()
    assert req["service_request_id"] == case_no and req["status"] == "open"
    assert req["service_code"] == "labour" and req["service_name"] == "劳动争议/欠薪"
    assert req["address"] == "柳树村3组" and req["address_id"] == "village1"
    assert req["requested_datetime"].endswith("+08:00") and req["status_notes"] == "已登记，正在受理。"
    assert req["expected_datetime"] == case["deadlines"]["accept"]

    listed = client.get(f"{BASE}/requests.json?api_key={key}&status=open").get_json()
    assert [x["service_request_id"] for x in listed] == [case_no]
    assert client.get(f"{BASE}/requests.json?api_key={key}&status=closed").get_json() == []
    xml = ET.fromstring(client.get(f"{BASE}/requests.xml?api_key={key}").data)
    assert xml.tag == "service_requests" and xml.find("request/service_request_id").text == case_no


def test_the_request_title_comes_from_the_description_or_the_attribute(key, client, api):
    first = file(client, key).get_json()[0]["service_request_id"]
    second = file(client, key, **{"attribute[title]": "欠薪", "attribute[urgency]": "urgent"}).get_json()[0]
    one = api.get(f"/cases/{first}", "admin").get_json()
    two = api.get(f"/cases/{second['service_request_id']}", "admin").get_json()
    assert one["title"] == "工地拖欠三个月工资" and two["title"] == "欠薪"


def test_a_key_only_sees_its_own_requests(key, client, database, org, api):
    case_no = file(client, key).get_json()[0]["service_request_id"]
    with database.unit_of_work() as s:
        _row, other = service.create_key(s, s.merge(org.users["mediator"]), "热线")
    assert client.get(f"{BASE}/requests.json?api_key={other}").get_json() == []
    assert client.get(f"{BASE}/requests/{case_no}.json?api_key={other}").status_code == 404
    walk_in = api.intake().get_json()["case_no"]  # filed at the window, not through this key
    assert client.get(f"{BASE}/requests/{walk_in}.json?api_key={key}").status_code == 404


def test_bad_requests_name_each_georeport_field_and_file_nothing(key, client, api):
    r = file(client, key, service_code="nothing", phone="", first_name="", last_name="", lat="north")
    assert r.status_code == 400
    assert sorted(e["description"].split(":")[0] for e in r.get_json()) == ["first_name", "lat", "service_code"]
    r = file(client, key, phone="abc")
    assert r.status_code == 400 and r.get_json() == [{"code": 400, "description": "phone: not a phone number"}]
    r = file(client, key, address_id="town2")  # the village receiver's key may not file for another township
    assert r.status_code == 400 and r.get_json()[0]["description"].startswith("address_id:")
    x = file(client, key, fmt="xml", description="")
    assert x.status_code == 400 and ET.fromstring(x.data).find("error/description").text == "description: required"
    assert api.get("/cases", "admin").get_json()["total"] == 0


def test_missing_wrong_or_revoked_keys_are_refused(key, client, database):
    assert file(client, "").status_code == 403
    assert file(client, "os311_wrong").get_json() == [{"code": 403, "description": "api_key is not valid"}]
    assert client.get(f"{BASE}/requests.json").status_code == 403
    with database.unit_of_work() as s:
        [row] = service.list_keys(s)
        service.revoke_key(s, row.prefix)
    assert file(client, key).status_code == 403


def test_closed_requests_say_so(key, client, api):
    case_no = file(client, key, service_code="neighbour").get_json()[0]["service_request_id"]
    do(api, case_no, "intake", {"category": "neighbour", "on_the_spot": True}, user="receiver")
    do(api, case_no, "settle", {"settled": True, "settle_result": "双方同意移走杂物，当场化解。"}, user="receiver")
    [req] = client.get(f"{BASE}/requests/{case_no}.json?api_key={key}").get_json()
    assert (req["status"], req["status_notes"]) == ("closed", "已当场化解，事项已办结。")
    assert [r["service_request_id"] for r in client.get(f"{BASE}/requests.json?api_key={key}&status=closed")
            .get_json()] == [case_no]


def test_cli_creates_lists_and_revokes_keys(config, org, client, monkeypatch, capsys):
    from app.cli import main

    monkeypatch.setenv("ONESTOP_DATABASE_URL", config.database_url)
    assert main(["apikeys", "create", "--username", "nobody", "--name", "x"]) == 1
    assert "no user nobody" in capsys.readouterr().err
    assert main(["apikeys", "create", "--username", "receiver", "--name", "柳树村App"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("os311_")
    assert client.get(f"{BASE}/requests.json?api_key={key}").status_code == 200
    assert main(["apikeys", "list"]) == 0
    prefix, state, username, name = capsys.readouterr().out.strip().split("\t")
    assert (state, username, name) == ("active", "receiver", "柳树村App") and key.startswith(prefix)
    assert main(["apikeys", "revoke", prefix]) == 0
    assert client.get(f"{BASE}/requests.json?api_key={key}").status_code == 403
    assert main(["apikeys", "revoke", "os311_nothing"]) == 1
