"""The studio pages: who may open them, saving drafts, publishing (with every problem's file and line),
discarding, and starting a new process."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.audit.service import list_entries
from app.processes.models import ProcessVersion
from app.processes.service import latest_process_version
from app.studio import drafts
from app.studio.models import Draft
from tests.web.test_login import login

BUNDLES = Path(__file__).resolve().parents[1] / "api" / "bundles"
TWO_STEP = (BUNDLES / "two_step.bpmn").read_text()


@pytest.fixture
def deployed(api: Any) -> None:
    r = api.deploy({n: (BUNDLES / n).read_text() for n in ("two_step.bpmn", "triage.json", "opinion.json")})
    assert r.status_code == 201, r.get_json()


def client_for(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def csrf_header(client: FlaskClient) -> dict[str, str]:
    html = client.get("/studio").get_data(as_text=True)
    return {"X-CSRFToken": re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)}


def post_json(client: FlaskClient, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json=body, headers=csrf_header(client))


def modeler_data(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="modeler-data">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


def line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def test_a_mediator_may_not_open_the_studio(app, org, deployed):
    client = client_for(app, "mediator")
    assert client.get("/studio").status_code == 403
    assert client.get("/studio/processes/two_step").status_code == 403
    token = {"X-CSRFToken": re.search(r'name="csrf-token" content="([^"]+)"',
                                      client.get("/inbox").get_data(as_text=True)).group(1)}
    r = client.post("/studio/processes/two_step/draft", json={"xml": TWO_STEP}, headers=token)
    assert r.status_code == 403
    r = client.post("/studio/processes", data={"process_id": "x_new", "name": "新流程"}, headers=token)
    assert r.status_code == 403


def test_not_logged_in_goes_to_the_login_page(client, org):
    r = client.get("/studio")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_a_leader_sees_the_studio_and_the_modeler_read_only(app, org, deployed):
    client = client_for(app, "leader")
    html = client.get("/studio").get_data(as_text=True)
    assert "两步测试" in html and "v1" in html
    assert "新建流程" not in html  # leaders do not create processes
    assert "triage.json" in html and "opinion.json" in html
    # a form is listed by its title, its file beneath
    assert re.search(r'<a href="/studio/forms/triage.json">分流</a>\s*<div class="muted small">triage.json</div>', html)
    assert 'href="/studio/processes/two_step">查看</a>' in html
    # the other studio pages are linked once they exist
    if "web.studio_history" in app.view_functions:
        assert 'href="/studio/history/process/two_step"' in html
        assert 'href="/studio/history/form/triage.json"' in html
    if "web.studio_form" in app.view_functions:
        assert 'href="/studio/forms/triage.json"' in html
    page = client.get("/studio/processes/two_step")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "bpmn-navigated-viewer.development.js" in html and "bpmn-modeler.development.js" not in html
    assert 'id="modeler-save"' not in html and 'id="modeler-publish"' not in html
    data = modeler_data(html)
    assert data["editable"] is False and data["xml"] == TWO_STEP
    r = post_json(client, "/studio/processes/two_step/draft", {"xml": TWO_STEP.replace("分流", "改")})
    assert r.status_code == 403 and r.get_json()["error"] == "forbidden"
    r = post_json(client, "/studio/processes/two_step/publish", {"note": "x"})
    assert r.status_code == 403


def test_the_modeler_offers_what_is_deployed(app, org, deployed):
    client = client_for(app, "designer")
    html = client.get("/studio/processes/two_step").get_data(as_text=True)
    assert "bpmn-modeler.development.js" in html and 'id="modeler-save"' in html
    data = modeler_data(html)
    assert data["editable"] is True and data["filename"] == "two_step.bpmn"
    assert data["catalog"]["forms"] == ["opinion.json", "triage.json"]
    assert data["catalog"]["processes"] == [{"id": "two_step", "name": "两步测试", "version": 1}]
    assert [r["code"] for r in data["catalog"]["roles"]] == ["receiver", "mediator", "department", "service", "leader"]
    assert client.get("/studio/processes/nothing_here").status_code == 404


def test_save_draft_then_publish_a_new_version(app, database, org, deployed):
    client = client_for(app, "designer")
    changed = TWO_STEP.replace('name="分流"', 'name="分流研判"')
    r = post_json(client, "/studio/processes/two_step/draft", {"xml": changed})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["filename"] == "two_step.bpmn"
    assert re.fullmatch(r"草稿已保存 \d\d:\d\d", body["message"])
    with database.unit_of_work(write=False) as s:
        assert drafts.current_text(s, "two_step.bpmn") == (changed, True)
        assert latest_process_version(s, "two_step").version == 1
    html = client.get("/studio").get_data(as_text=True)
    assert "有草稿" in html
    assert modeler_data(client.get("/studio/processes/two_step").get_data(as_text=True))["xml"] == changed

    r = post_json(client, "/studio/processes/two_step/publish", {"note": "改名"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["versions"] == [{"kind": "process", "id": "two_step", "version": 2}]
    assert r.get_json()["message"] == "已发布：two_step v2"
    with database.unit_of_work(write=False) as s:
        assert latest_process_version(s, "two_step").version == 2
        assert latest_process_version(s, "two_step").artifact.content == changed
        assert drafts.list_drafts(s) == []
        entry, user = list_entries(s)[0]  # newest first; the API's deploy of v1 is the other one
        assert (entry.action, user.username, entry.summary, entry.detail["note"]) == (
            "publish", "designer", "two_step v2", "改名")
    # nothing left to publish
    r = post_json(client, "/studio/processes/two_step/publish", {"note": ""})
    assert r.status_code == 422 and "two_step.bpmn" in r.get_json()["fields"]


def test_publishing_a_broken_draft_shows_every_problem_with_file_and_line(app, database, org, deployed):
    client = client_for(app, "designer")
    broken = (TWO_STEP.replace('<bpmn:lane id="Lane_department" name="department">',
                               '<bpmn:lane id="Lane_department" name="nobody">')
              .replace('stage = "triage"', 'stage = = "triage"'))
    assert post_json(client, "/studio/processes/two_step/draft", {"xml": broken}).status_code == 200
    r = post_json(client, "/studio/processes/two_step/publish", {"note": "坏的"})
    assert r.status_code == 422
    body = r.get_json()
    assert body["message"] == f"发布包有 {len(body['problems'])} 个问题，未发布任何内容。"
    located = {(p["file"], p["line"], p["element"]) for p in body["problems"]}
    assert ("two_step.bpmn", line_of(broken, 'name="nobody"'), "Lane_department") in located
    assert ("two_step.bpmn", line_of(broken, "stage = = "), "set_stage") in located
    lane = next(p for p in body["problems"] if p["element"] == "Lane_department")
    assert "nobody" in lane["message"] and "泳道" in lane["message"]  # in the page's language
    with database.unit_of_work(write=False) as s:
        assert s.scalars(select(ProcessVersion.version).where(ProcessVersion.process_id == "two_step")).all() == [1]
        assert drafts.current_text(s, "two_step.bpmn") == (broken, True)  # the draft stays
        assert [e.summary for e, _u in list_entries(s)] == ["two_step v1, opinion.json v1, triage.json v1"]


def test_unreadable_xml_is_reported_with_its_line(app, database, org, deployed):
    client = client_for(app, "designer")
    assert post_json(client, "/studio/processes/two_step/draft", {"xml": "<a>\n<b>\n</a>"}).status_code == 200
    r = post_json(client, "/studio/processes/two_step/publish", {})
    assert r.status_code == 422
    [problem] = r.get_json()["problems"]
    assert (problem["file"], problem["line"]) == ("two_step.bpmn", 3)


def test_bad_input_changes_nothing(app, database, org, deployed):
    client = client_for(app, "designer")
    r = post_json(client, "/studio/processes/two_step/draft", {"xml": "   "})
    assert r.status_code == 422 and r.get_json()["fields"] == {"xml": "没有收到流程图内容。"}
    r = post_json(client, "/studio/processes/two_step/draft", {"xml": 5})
    assert r.status_code == 422
    assert post_json(client, "/studio/processes/two_step/draft", {"xml": TWO_STEP}).status_code == 200
    r = post_json(client, "/studio/processes/two_step/publish", {"note": "x" * 501})
    assert r.status_code == 422 and "note" in r.get_json()["fields"]
    r = post_json(client, "/studio/processes/two_step/publish", {"also": "triage.json"})
    assert r.status_code == 422 and "also" in r.get_json()["fields"]
    r = client.post("/studio/processes/two_step/draft", json={"xml": TWO_STEP})  # no CSRF token
    assert r.status_code == 400
    with database.unit_of_work(write=False) as s:
        assert latest_process_version(s, "two_step").version == 1


def test_discard_draft(app, database, org, deployed):
    client = client_for(app, "designer")
    r = post_json(client, "/studio/processes/two_step/discard", {})
    assert r.status_code == 404  # no draft yet
    assert post_json(client, "/studio/processes/two_step/draft", {"xml": TWO_STEP + "\n"}).status_code == 200
    r = post_json(client, "/studio/processes/two_step/discard", {})
    assert r.status_code == 200
    assert r.get_json() == {"message": "草稿已放弃。", "redirect": "/studio/processes/two_step"}
    with database.unit_of_work(write=False) as s:
        assert s.scalars(select(Draft)).all() == []
        assert drafts.current_text(s, "two_step.bpmn") == (TWO_STEP, False)


def test_new_process_starts_as_a_draft_that_publishes(app, database, org):
    client = client_for(app, "designer")
    token = csrf_header(client)
    r = client.post("/studio/processes", data={"process_id": "1bad id", "name": ""}, headers=token)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "编号须以字母开头" in html and "请填写流程名称。" in html
    r = client.post("/studio/processes", data={"process_id": "land_dispute", "name": "土地纠纷"}, headers=token)
    assert r.status_code == 302 and r.headers["Location"].endswith("/studio/processes/land_dispute")
    html = client.get("/studio/processes/land_dispute").get_data(as_text=True)
    data = modeler_data(html)
    assert data["filename"] == "land_dispute.bpmn" and 'id="land_dispute"' in data["xml"]
    assert "土地纠纷" in client.get("/studio").get_data(as_text=True)
    r = client.post("/studio/processes", data={"process_id": "land_dispute", "name": "又一个"}, headers=token)
    assert r.status_code == 422 and "已有同名流程或文件" in r.get_data(as_text=True)
    r = post_json(client, "/studio/processes/land_dispute/publish", {"note": "新流程"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["versions"] == [{"kind": "process", "id": "land_dispute", "version": 1}]
    with database.unit_of_work(write=False) as s:
        assert latest_process_version(s, "land_dispute").name == "土地纠纷"


def test_english_problem_messages(app, org, deployed):
    client = client_for(app, "designer")
    client.get("/lang/en")
    broken = TWO_STEP.replace('name="department">', 'name="nobody">')
    assert post_json(client, "/studio/processes/two_step/draft", {"xml": broken}).status_code == 200
    r = post_json(client, "/studio/processes/two_step/publish", {})
    body = r.get_json()
    assert body["message"] == "The bundle has 1 problem(s); nothing was published."
    assert body["problems"][0]["message"].startswith("lane 'nobody' names no known role")
