"""The case list and the case page: scope, filters, timeline, deadlines, departments' answers, diagram."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app import clock
from tests.web.test_login import csrf, login

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = ROOT / "tests" / "api" / "bundles"
XSS = "<script>alert(1)</script>"


# --- helpers shared with test_intake.py and test_track.py ---------------------------------------

def deploy_shipped(api: Any) -> None:
    """Publish the shipped processes/ and forms/ (the 127+N flow)."""
    files = {p.name: p.read_bytes() for folder in ("processes", "forms") for p in sorted((ROOT / folder).iterdir())
             if p.is_file() and p.name.endswith((".bpmn", ".dmn", ".json"))}
    r = api.deploy(files)
    assert r.status_code == 201, r.get_json()


def file_case(api: Any, user: str = "receiver", **overrides: Any) -> str:
    r = api.intake(user, **overrides)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["case_no"]


def do(api: Any, case_no: str, name: str, data: dict[str, Any], user: str = "admin",
       department: str | None = None) -> None:
    """Complete the open task `name` (of `department`) of a case as `user`."""
    tasks = api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"]
    [task] = [t for t in tasks if t["name"] == name and (department is None or t["department"] == department)]
    r = api.post(f"/tasks/{task['id']}/complete", user, json={"data": data})
    assert r.status_code == 200, r.get_json()
    assert not r.get_json()["incidents"], r.get_json()["incidents"]


def county_case(api: Any, **overrides: Any) -> str:
    """A labour case filed at the county window, taken to triage."""
    body = {"title": "工地拖欠工资", "category": "labour", "location": {"org_unit": "county", "address": "县城东区"}}
    body.update(overrides)
    case_no = file_case(api, "mediator", **body)
    do(api, case_no, "intake", {"category": body["category"]})
    return case_no


def to_callback(api: Any, case_no: str, reply: str = "工资已于 9 月 15 日前垫付到位。") -> None:
    """Triage → two departments' opinions → meeting → reply (approved) → the callback stage."""
    do(api, case_no, "triage", {"route": "joint", "departments": ["hrss", "justice"], "services": []})
    do(api, case_no, "department_opinion", {"action": "opinion", "text": "已责令限期支付"}, "hrss", "hrss")
    do(api, case_no, "department_opinion", {"action": "opinion", "text": "建议当面调解"}, "justice", "justice")
    do(api, case_no, "meeting", {"agreement_reached": True, "meeting_minutes": "总包单位垫付工资"})
    do(api, case_no, "draft_reply", {"reply_text": reply, "resolved": True})
    do(api, case_no, "approve_reply", {"reply_approved": True})


def page(client: Any, url: str) -> tuple[int, str]:
    r = client.get(url)
    return r.status_code, r.get_data(as_text=True)


@pytest.fixture
def shipped(api: Any) -> Any:
    deploy_shipped(api)
    return api


# --- the list ------------------------------------------------------------------------------------

def test_case_list_scope_and_filters(shipped, client, monkeypatch):
    api = shipped
    village = file_case(api, "receiver", title="柳树村邻里占道", category="neighbour")
    county = county_case(api, title=XSS)
    town = file_case(api, "mediator_town", title="河口镇物业纠纷", category="property",
                     location={"org_unit": "town1"})

    login(client, "receiver")
    status, html = page(client, "/cases")
    assert status == 200 and village in html and county not in html and town not in html
    assert f'href="/cases/{village}"' in html

    login(client, "mediator_town")
    html = page(client, "/cases")[1]
    assert village in html and town in html and county not in html
    html = page(client, "/cases?org_unit=village1")[1]
    assert village in html and town not in html

    login(client, "hrss")  # a department sees only what was dispatched to it
    assert county not in page(client, "/cases")[1]
    do(api, county, "triage", {"route": "joint", "departments": ["hrss"], "services": []})
    html = page(client, "/cases")[1]
    assert county in html and village not in html

    login(client, "mediator")
    html = page(client, "/cases")[1]
    assert all(n in html for n in (village, county, town))
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html = page(client, "/cases?q=物业")[1]
    assert town in html and village not in html
    html = page(client, "/cases?stage=convene")[1]
    assert county in html and town not in html
    assert village not in page(client, "/cases?status=closed")[1]
    assert "共 0 件" in page(client, "/cases?overdue=1")[1]
    clock.advance(timedelta(days=6))  # the village cases' 1-day accept deadline has passed
    html = page(client, "/cases?overdue=1")[1]
    assert village in html and town in html and county in html and "超期" in html

    from app.cases import queries

    monkeypatch.setattr(queries, "PAGE_SIZE", 2)
    html = page(client, "/cases")[1]
    assert "第 1 / 2 页" in html and 'rel="next"' in html
    html = page(client, "/cases?page=2")[1]
    assert village in html and 'rel="prev"' in html


# --- the case page -------------------------------------------------------------------------------

def test_case_page_shows_timeline_deadlines_answers_and_escapes(shipped, client):
    api = shipped
    case_no = county_case(api, title=XSS, description="十二名农民工三个月工资未付",
                          location={"org_unit": "county", "address": "县城东区3号"})
    to_callback(api, case_no)

    login(client, "mediator")
    status, html = page(client, f"/cases/{case_no}")
    assert status == 200
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # summary, parties, place
    assert "回访" in html and "劳动争议/欠薪" in html and "来访（窗口）" in html and "县级" in html
    assert "张三" in html and "13800001234" in html and "县城东区3号" in html and "十二名农民工" in html
    assert "人社局" in html  # lead department / dispatched
    # deadlines: the callback deadline runs, the reply deadline is met
    assert "回访时限" in html and "回复时限" in html and "本阶段已完成" in html
    # the timeline, with readable labels, actors and form answers
    for words in ("登记受理", "生成待办", "办理完成", "拟写回复", "回复内容", "工资已于 9 月 15 日前垫付到位。",
                  "诉求已解决", "是"):
        assert words in html, words
    # the departments' answers
    answers = html.split('id="h-answers"')[1].split("</section>")[0]
    assert "人社局" in answers and "已责令限期支付" in answers and "司法局" in answers and "建议当面调解" in answers
    assert "受理并反馈意见" in answers
    # the open task and the diagram container
    tasks = html.split('id="h-tasks"')[1].split("</section>")[0]
    assert "回访" in tasks
    assert 'id="case-diagram"' in html and "bpmn-navigated-viewer.production.min.js" in html

    # overdue in red once the callback deadline has passed
    clock.advance(timedelta(days=10))
    html = page(client, f"/cases/{case_no}")[1]
    deadlines = html.split('id="h-deadlines"')[1].split("</section>")[0]
    assert 'class="overdue"' in deadlines and "已超期" in deadlines

    client.get("/lang/en")
    html = page(client, f"/cases/{case_no}")[1]
    assert "Timeline" in html and "Labour and wage arrears" in html and "Draft the reply" in html
    # a label and its value, an aside in brackets: English punctuation, not the Chinese full-width one
    deadlines = html.split('id="h-deadlines"')[1].split("</section>")[0]
    assert "：" not in deadlines and "（" not in deadlines and re.search(r"deadline: 20\d\d-", deadlines)
    assert re.search(r"\(\d+d( \d+h)? overdue\)", deadlines)


def test_diagram_endpoints(shipped, client):
    api = shipped
    case_no = county_case(api)
    login(client, "mediator")
    r = client.get(f"/cases/{case_no}/diagram.bpmn")
    assert r.status_code == 200 and r.mimetype == "application/xml"
    xml = r.get_data(as_text=True)
    assert 'id="mediation"' in xml and "bpmndi:BPMNDiagram" in xml
    state = client.get(f"/cases/{case_no}/diagram-state.json").get_json()
    assert set(state) >= {"finished", "active", "overdue"}
    assert {"triage", "triage_box"} <= set(state["active"])
    assert {"start", "intake", "intake_box"} <= set(state["finished"])
    assert state["overdue"] == []
    assert not set(state["finished"]) & set(state["active"])
    assert all(re.fullmatch(r"[A-Za-z_][\w.-]*", i) for group in state.values() for i in group)

    do(api, case_no, "triage", {"route": "joint", "departments": ["hrss"], "services": []})
    clock.advance(timedelta(days=10))  # the department's opinion is late
    state = client.get(f"/cases/{case_no}/diagram-state.json").get_json()
    assert "dispatch_departments" in state["overdue"]  # the call activity around the late task
    assert "triage_box" in state["finished"] and "dispatch_departments" not in state["active"]

    login(client, "receiver")  # a village does not see a county case
    assert client.get(f"/cases/{case_no}/diagram.bpmn").status_code == 404
    assert client.get(f"/cases/{case_no}/diagram-state.json").status_code == 404


def test_case_page_is_404_out_of_scope(shipped, client):
    api = shipped
    county = county_case(api)
    village = file_case(api, "receiver")
    login(client, "receiver")
    assert client.get(f"/cases/{county}").status_code == 404
    assert client.get("/cases/QX-2000-000001").status_code == 404
    assert client.get(f"/cases/{village}").status_code == 200
    login(client, "mediator_town")
    assert client.get(f"/cases/{county}").status_code == 404
    assert client.get(f"/cases/{village}").status_code == 200
    login(client, "hrss")
    assert client.get(f"/cases/{county}").status_code == 404
    do(api, county, "triage", {"route": "joint", "departments": ["hrss"], "services": []})
    status, html = page(client, f"/cases/{county}")
    assert status == 200 and "部门办理" in html
    assert client.get(f"/cases/{village}").status_code == 404


def test_incident_shows_and_mediator_can_retry(api, client):
    assert api.deploy({"fragile.bpmn": (BUNDLES / "fragile.bpmn").read_text()}).status_code == 201
    case_no = file_case(api, process_id="fragile", data={"divisor": 0})
    [prepare] = api.get(f"/tasks?scope=all&case_no={case_no}", "admin").get_json()["items"]
    r = api.post(f"/tasks/{prepare['id']}/complete", "mediator", json={"data": {"note": "材料齐全"}})
    assert r.get_json()["has_incident"] is True

    login(client, "receiver")
    html = page(client, f"/cases/{case_no}")[1]
    assert "运行异常" in html and "division by zero" in html
    assert "/retry" not in html  # receivers do not retry

    login(client, "mediator")
    html = page(client, f"/cases/{case_no}")[1]
    assert f'action="/cases/{case_no}/retry"' in html
    assert "compute" in client.get(f"/cases/{case_no}/diagram-state.json").get_json()["failed"]
    r = client.post(f"/cases/{case_no}/retry", data={"csrf_token": csrf(html)})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/cases/{case_no}")
    html = page(client, f"/cases/{case_no}")[1]
    assert "重试后仍有异常" in html  # the divisor is still 0
    timeline = html.split('id="h-timeline"')[1]
    assert timeline.count("k-retry") == 1 and timeline.count("k-incident") == 2

    login(client, "receiver")
    html = page(client, f"/cases/{case_no}")[1]
    assert client.post(f"/cases/{case_no}/retry", data={"csrf_token": csrf(html)}).status_code == 403


def test_attachments_are_listed_with_a_download_link(api, client, database):
    service = pytest.importorskip("app.attachments.service")
    from sqlalchemy import select

    from app.cases.service import get_case
    from app.org.models import User

    assert api.deploy({"fragile.bpmn": (BUNDLES / "fragile.bpmn").read_text()}).status_code == 201
    case_no = file_case(api, process_id="fragile", data={"divisor": 1})
    with database.unit_of_work() as s:
        receiver = s.scalar(select(User).where(User.username == "receiver"))
        found = service.add_attachment(s, receiver, get_case(s, case_no), filename="现场照片.pdf",
                                       data=b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
        attachment_id = found.id
    login(client, "mediator")
    html = page(client, f"/cases/{case_no}")[1]
    files = html.split('id="h-files"')[1].split("</section>")[0]
    assert f'href="/attachments/{attachment_id}"' in files and "现场照片.pdf" in files


def test_files_added_on_the_case_page_show_in_its_files_and_timeline(shipped, app, database):
    """Materials that come later go onto the case's page, all or none, and its timeline says who added what;
    a closed case takes no more."""
    import io

    from sqlalchemy import func, select
    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import encode_multipart

    from app.attachments.models import Attachment
    from app.cases.models import CaseStatus, MediationCase
    from tests.web.test_inbox import client_for

    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
    case_no = file_case(shipped)
    receiver = client_for(app, "receiver")

    def add(client: Any, *files: tuple[bytes, str]) -> Any:
        token = csrf(client.get(f"/cases/{case_no}").get_data(as_text=True))
        parts = MultiDict([("csrf_token", token),
                           *[("file", FileStorage(io.BytesIO(c), filename=n)) for c, n in files]])
        boundary, body = encode_multipart(parts)
        return client.post(f"/cases/{case_no}/attachments", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}", follow_redirects=True)

    html = page(receiver, f"/cases/{case_no}")[1]
    files = html.split('id="h-files"')[1].split("</section>")[0]
    assert "还没有附件" in files and 'name="file"' in files and 'data-max-bytes="10485760"' in files

    r = add(receiver, (pdf, "补充材料.pdf"), (b"MZ\x90\0", "工具.exe"))
    assert "没有添加：不支持文件“工具.exe”的类型" in r.get_data(as_text=True)
    with database.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Attachment)) == 0

    r = add(receiver, (pdf, "补充材料.pdf"), (pdf, "身份证明.pdf"))
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "已添加 2 个文件：补充材料.pdf、身份证明.pdf" in html
    files = html.split('id="h-files"')[1].split("</section>")[0]
    assert "补充材料.pdf" in files and "身份证明.pdf" in files
    timeline = html.split('id="h-timeline"')[1].split("</section>")[0]
    assert "添加材料" in timeline and "补充材料.pdf、身份证明.pdf" in timeline

    assert client_for(app, "hrss").post(f"/cases/{case_no}/attachments").status_code in (400, 404)
    with database.unit_of_work() as s:
        s.scalar(select(MediationCase).where(MediationCase.case_no == case_no)).status = CaseStatus.closed
    html = page(receiver, f"/cases/{case_no}")[1]
    assert 'name="file"' not in html.split('id="h-files"')[1].split("</section>")[0]
    assert "事项已办结，不能再添加材料" in add(receiver, (pdf, "晚到的.pdf")).get_data(as_text=True)


def test_the_reporter_is_listed_once_with_the_roles_intake_gave_them(shipped, client):
    """The citizen who brought the matter and the applicant the intake recorded are one person: one
    line, both roles; the other parties follow."""
    api = shipped
    case_no = file_case(api, "mediator", location={"org_unit": "county"})
    do(api, case_no, "intake", {"category": "labour", "parties": [
        {"name": "张三", "role": "applicant", "phone": "13800001234"}, {"name": "某建筑公司", "role": "respondent"}]})
    login(client, "mediator")
    html = page(client, f"/cases/{case_no}")[1]
    parties = html.split('id="h-parties"')[1].split("<h2")[0]
    assert parties.count("张三") == 1
    assert "反映人、申请人" in " ".join(parties.split()) and "某建筑公司" in parties and "被申请人" in parties
